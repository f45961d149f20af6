package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/state/checkpoint"
	"github.com/scorestream/scorestream/stream/kread"
	"github.com/scorestream/scorestream/stream/process"
)

// ReadCommitted reads partitions ps of topic from their log start to their last
// stable offset (read_committed), calling fn with every data record in offset
// order per partition. admin is any client connected to the cluster; conn are
// connection options for the reading client (a client of its own, so that the
// reads do not queue behind a consumer's long-polling fetches). The reads stop
// exactly at the last stable offset even when the offsets before it are
// transaction markers or aborted records.
func ReadCommitted(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, fn func(*kgo.Record) error) error {
	_, err := readCommittedFrom(ctx, conn, admin, topic, ps, func(_ int32, logStart, _ int64) int64 { return logStart }, fn)
	return err
}

// readCommittedFrom is ReadCommitted from the offset from picks for each
// partition, given its log start and last stable offset (at or below the log
// start: from the log start). It returns every partition's last stable offset,
// where its read ended.
func readCommittedFrom(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32,
	from func(p int32, logStart, end int64) int64, fn func(*kgo.Record) error) (map[int32]int64, error) {
	adm := kadm.NewClient(admin)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list %s end offsets: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list %s start offsets: %w", topic, err)
	}
	var spans []*kread.Span
	out := make(map[int32]int64, len(ps))
	for _, p := range ps {
		end, ok := ends.Lookup(topic, p)
		if !ok || end.Err != nil {
			return nil, fmt.Errorf("%s partition %d: no end offset: %v", topic, p, end.Err)
		}
		begin, _ := starts.Lookup(topic, p)
		out[p] = end.Offset
		next := max(begin.Offset, from(p, begin.Offset, end.Offset))
		if end.Offset > next {
			spans = append(spans, &kread.Span{Topic: topic, Partition: p, Next: next, End: end.Offset})
		}
	}
	if len(spans) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, fmt.Errorf("%s reader: %w", topic, err)
	}
	defer cl.Close()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var ferr error
	err = kread.New(cl, kread.DefaultLimits).Read(rctx, spans, func(_ *kread.Span, r *kgo.Record) {
		if ferr == nil {
			if ferr = fn(r); ferr != nil {
				stop() // fn failed: read no further
			}
		}
	}, func(int64) {})
	if ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", topic, err)
	}
	return out, nil
}

// Restore reads the changelog partitions ps up to their last stable offset
// (read_committed) and returns their state and the number of records applied.
// A record whose value does not decode leaves its entity empty (it reads as
// new): Restore calls corrupt with it and goes on, or fails when corrupt is nil.
func Restore(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, cfg state.Config, corrupt func(*kgo.Record, error)) (map[int32]*state.Partition, int, error) {
	rs, err := restore(ctx, conn, admin, topic, ps, cfg, corrupt, nil, func() {})
	if err != nil {
		return nil, 0, err
	}
	out := make(map[int32]*state.Partition, len(rs))
	n := 0
	for p, r := range rs {
		out[p] = r.State
		n += r.Records
	}
	return out, n, nil
}

// Restored is one partition's state after a restore.
type Restored struct {
	State   *state.Partition
	Offset  int64 // the changelog offset the state reflects: its last stable offset when read
	Records int   // changelog records applied (from the checkpoint's offset, or all)
	// From is the checkpoint the restore started from, nil for a full restore;
	// Refused says why a checkpoint found was not used.
	From    *checkpoint.Checkpoint
	Refused string
}

// restore is Restore starting each partition from the checkpoint pick returns
// (nil, "": none; nil, reason: one refused), given the partition's log start and
// last stable offset, and calling progress every 1024 records read.
func restore(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, cfg state.Config,
	corrupt func(*kgo.Record, error), pick func(p int32, logStart, end int64) (*checkpoint.Checkpoint, string),
	progress func()) (map[int32]*Restored, error) {
	out := make(map[int32]*Restored, len(ps))
	for _, p := range ps {
		out[p] = &Restored{}
	}
	from := func(p int32, logStart, end int64) int64 {
		r := out[p]
		if pick != nil {
			if r.From, r.Refused = pick(p, logStart, end); r.From != nil {
				r.State = r.From.State
				return r.From.Offset
			}
		}
		r.State, _ = state.NewPartition(cfg) // cfg is checked below
		return logStart
	}
	if _, err := state.NewPartition(cfg); err != nil {
		return nil, err
	}
	read := 0
	ends, err := readCommittedFrom(ctx, conn, admin, topic, ps, from, func(r *kgo.Record) error {
		if read++; read%1024 == 0 {
			progress()
		}
		rs := out[r.Partition]
		rs.Records++
		err := rs.State.Restore(string(r.Key), r.Value)
		if err != nil && corrupt != nil && errors.Is(err, state.ErrCorrupt) {
			corrupt(r, err)
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("changelog (is it co-partitioned with the input?): %w", err)
	}
	for p, end := range ends {
		out[p].Offset = end
	}
	return out, nil
}

// Replay computes, in one fault-free pass over the committed input records in
// offset order per partition, the state the changelog should hold after every
// one of them was processed once. It is the reference the exactly-once tests
// compare a Restore with.
func Replay(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, proc *process.Processor, cfg state.Config) (map[int32]*state.Partition, error) {
	out, err := newPartitions(ps, cfg)
	if err != nil {
		return nil, err
	}
	err = ReadCommitted(ctx, conn, admin, topic, ps, func(r *kgo.Record) error {
		st := out[r.Partition]
		if _, err := proc.Process(ctx, r, st); err != nil {
			return err
		}
		st.Commit()
		return nil
	})
	return out, err
}

// DiffState compares two states (want: a Replay, got: a Restore) entry by entry
// in LRU order, expired entries included — which entities are held, in what
// order, with what state — and the watermarks. It returns how many entities want
// holds and a description of each difference.
func DiffState(want, got map[int32]*state.Partition) (entities int, diffs []string) {
	for p, w := range want {
		g := got[p]
		if g == nil {
			g, _ = state.NewPartition(state.Config{MaxEntities: 1})
		}
		wl, gl := entries(w), entries(g)
		if len(wl) != len(gl) {
			diffs = append(diffs, fmt.Sprintf("partition %d: %d entities restored, %d in a fault-free pass", p, len(gl), len(wl)))
		}
		for i := range min(len(wl), len(gl)) {
			switch {
			case wl[i].key != gl[i].key:
				diffs = append(diffs, fmt.Sprintf("partition %d LRU position %d: entity %q restored, %q in a fault-free pass", p, i, gl[i].key, wl[i].key))
			case wl[i].val != gl[i].val:
				diffs = append(diffs, fmt.Sprintf("partition %d entity %q: restored state differs from a fault-free pass", p, wl[i].key))
			}
		}
		if w.Watermark() != g.Watermark() {
			diffs = append(diffs, fmt.Sprintf("partition %d: watermark %d restored, %d in a fault-free pass", p, g.Watermark(), w.Watermark()))
		}
		entities += len(wl)
	}
	return entities, diffs
}

type entry struct{ key, val string }

// entries lists st's LRU, least recent first, each entity encoded.
func entries(st *state.Partition) []entry {
	var out []entry
	st.Range(func(k string, e *state.Entity) bool {
		out = append(out, entry{k, string(e.AppendBinary(nil))})
		return true
	})
	return out
}

func newPartitions(ps []int32, cfg state.Config) (map[int32]*state.Partition, error) {
	out := make(map[int32]*state.Partition, len(ps))
	for _, p := range ps {
		st, err := state.NewPartition(cfg)
		if err != nil {
			return nil, err
		}
		out[p] = st
	}
	return out, nil
}
