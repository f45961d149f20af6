package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/state"
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
	adm := kadm.NewClient(admin)
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list %s end offsets: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list %s start offsets: %w", topic, err)
	}
	var spans []*kread.Span
	for _, p := range ps {
		end, ok := ends.Lookup(topic, p)
		if !ok || end.Err != nil {
			return fmt.Errorf("%s partition %d: no end offset: %v", topic, p, end.Err)
		}
		begin, _ := starts.Lookup(topic, p)
		if end.Offset > begin.Offset {
			spans = append(spans, &kread.Span{Topic: topic, Partition: p, Next: begin.Offset, End: end.Offset})
		}
	}
	if len(spans) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return fmt.Errorf("%s reader: %w", topic, err)
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
		return ferr
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	return nil
}

// Restore reads the changelog partitions ps up to their last stable offset
// (read_committed) and returns their state and the number of records applied.
// A record whose value does not decode leaves its entity empty (it reads as
// new): Restore calls corrupt with it and goes on, or fails when corrupt is nil.
func Restore(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, cfg state.Config, corrupt func(*kgo.Record, error)) (map[int32]*state.Partition, int, error) {
	return restore(ctx, conn, admin, topic, ps, cfg, corrupt, func() {})
}

// restore is Restore calling progress every 1024 records read.
func restore(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, cfg state.Config, corrupt func(*kgo.Record, error), progress func()) (map[int32]*state.Partition, int, error) {
	out, err := newPartitions(ps, cfg)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	err = ReadCommitted(ctx, conn, admin, topic, ps, func(r *kgo.Record) error {
		n++
		if n%1024 == 0 {
			progress()
		}
		err := out[r.Partition].Restore(string(r.Key), r.Value)
		if err != nil && corrupt != nil && errors.Is(err, state.ErrCorrupt) {
			corrupt(r, err)
			return nil
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("changelog (is it co-partitioned with the input?): %w", err)
	}
	return out, n, nil
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
