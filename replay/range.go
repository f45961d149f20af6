package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream/kread"
)

// ErrRange marks a range that cannot be replayed as asked (bounds out of order,
// nothing in it, unknown partitions): a usage error, not a runtime failure.
var ErrRange = errors.New("replay range")

// Offsets are offsets per topic and partition.
type Offsets map[string]map[int32]int64

// ParseOffsets parses "topic:partition=offset,..." (e.g.
// "payments:0=100,payments:1=200").
func ParseOffsets(s string) (Offsets, error) {
	out := Offsets{}
	for _, item := range config.SplitList(s) {
		tp, off, ok := strings.Cut(item, "=")
		i := strings.LastIndexByte(tp, ':')
		if !ok || i <= 0 {
			return nil, fmt.Errorf("%q: want topic:partition=offset", item)
		}
		p, err := strconv.ParseInt(tp[i+1:], 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("%q: partition %q is not a partition number", item, tp[i+1:])
		}
		o, err := strconv.ParseInt(off, 10, 64)
		if err != nil || o < 0 {
			return nil, fmt.Errorf("%q: offset %q is not an offset", item, off)
		}
		t := tp[:i]
		if out[t] == nil {
			out[t] = map[int32]int64{}
		}
		out[t][int32(p)] = o
	}
	if len(out) == 0 {
		return nil, errors.New("no offsets given")
	}
	return out, nil
}

// Bounds say where a replay starts and ends. At most one start (From, FromOffsets,
// FromGroup) and one end (To, ToOffsets) are set; without a start the replay
// begins at each partition's log start, without an end it stops at the last
// stable offset when the replay begins.
type Bounds struct {
	From, To               time.Time // Kafka record timestamps (ListOffsetsAfterMilli)
	FromOffsets, ToOffsets Offsets
	FromGroup              string // the group's committed offsets, read now
	// Warmup is how far before the start (in record time) state is warmed;
	// WarmupAll warms from the log start. Both zero: no warm-up.
	Warmup    time.Duration
	WarmupAll bool
}

// Span is one partition's replay: offsets [WarmFrom, From) warm state, [From, To)
// are scored.
type Span struct {
	Topic              string
	Partition          int32
	WarmFrom, From, To int64
}

// Resolve turns bounds into offset spans for every partition of topics, using
// only Describe/Read requests (metadata, list offsets, the group's committed
// offsets, fetches). Partitions whose range is empty are left out; an empty
// replay as a whole is an ErrRange.
func Resolve(ctx context.Context, conn []kgo.Opt, adm *kadm.Client, topics []string, b Bounds) ([]Span, error) {
	if !b.From.IsZero() && !b.To.IsZero() && !b.To.After(b.From) {
		return nil, fmt.Errorf("%w: --to %s is not after --from %s", ErrRange, b.To.Format(time.RFC3339), b.From.Format(time.RFC3339))
	}
	starts, err := list(ctx, "log start", topics, adm.ListStartOffsets)
	if err != nil {
		return nil, err
	}
	stable, err := list(ctx, "last stable", topics, adm.ListCommittedOffsets)
	if err != nil {
		return nil, err
	}
	for t, o := range b.FromOffsets {
		if err := known(t, o, stable, "--from-offsets"); err != nil {
			return nil, err
		}
	}
	for t, o := range b.ToOffsets {
		if err := known(t, o, stable, "--to-offsets"); err != nil {
			return nil, err
		}
	}
	from := copyOffsets(starts)
	switch {
	case !b.From.IsZero():
		if from, err = list(ctx, "--from", topics, after(adm, b.From)); err != nil {
			return nil, err
		}
	case b.FromOffsets != nil:
		merge(from, b.FromOffsets)
	case b.FromGroup != "":
		fo, err := adm.FetchOffsets(ctx, b.FromGroup)
		if err != nil {
			return nil, fmt.Errorf("--from-group %s: fetch committed offsets: %w", b.FromGroup, err)
		}
		if err := fo.Error(); err != nil {
			return nil, fmt.Errorf("--from-group %s: %w", b.FromGroup, err)
		}
		n := 0
		fo.Each(func(o kadm.OffsetResponse) {
			if _, ok := from[o.Topic][o.Partition]; ok && o.At >= 0 {
				from[o.Topic][o.Partition] = o.At
				n++
			}
		})
		if n == 0 {
			return nil, fmt.Errorf("%w: --from-group %s has no committed offsets on %v", ErrRange, b.FromGroup, topics)
		}
	}
	to := copyOffsets(stable)
	switch {
	case !b.To.IsZero():
		if to, err = list(ctx, "--to", topics, after(adm, b.To)); err != nil {
			return nil, err
		}
	case b.ToOffsets != nil:
		merge(to, b.ToOffsets)
	}

	var spans []Span
	for _, t := range topics {
		for _, p := range sortedPartitions(stable[t]) {
			s := Span{Topic: t, Partition: p, From: max(from[t][p], starts[t][p]), To: min(to[t][p], stable[t][p])}
			if s.From > s.To {
				return nil, fmt.Errorf("%w: %s/%d: start offset %d is after end offset %d", ErrRange, t, p, s.From, s.To)
			}
			s.WarmFrom = s.From
			spans = append(spans, s)
		}
	}
	if err := warm(ctx, conn, adm, spans, starts, b); err != nil {
		return nil, err
	}
	kept := spans[:0]
	total := int64(0)
	for _, s := range spans {
		total += s.To - s.From
		if s.To > s.WarmFrom {
			kept = append(kept, s)
		}
	}
	if total == 0 {
		return nil, fmt.Errorf("%w: no records in the range on %v", ErrRange, topics)
	}
	return kept, nil
}

// warm sets each span's WarmFrom: the log start (WarmupAll), or the first offset
// whose timestamp is at least Warmup before the start's timestamp.
func warm(ctx context.Context, conn []kgo.Opt, adm *kadm.Client, spans []Span, starts Offsets, b Bounds) error {
	switch {
	case b.WarmupAll:
		for i := range spans {
			spans[i].WarmFrom = starts[spans[i].Topic][spans[i].Partition]
		}
		return nil
	case b.Warmup <= 0:
		return nil
	}
	var at map[int]int64 // span index → start timestamp
	if b.From.IsZero() {
		var err error
		if at, err = firstTimestamps(ctx, conn, spans); err != nil {
			return err
		}
	}
	for i := range spans {
		s := &spans[i]
		ts := b.From.UnixMilli()
		if b.From.IsZero() {
			t, ok := at[i]
			if !ok {
				continue // nothing to score here: nothing to warm for
			}
			ts = t
		}
		lo, err := list(ctx, "warm-up start", []string{s.Topic}, after(adm, time.UnixMilli(ts).Add(-b.Warmup)))
		if err != nil {
			return err
		}
		s.WarmFrom = min(s.From, max(lo[s.Topic][s.Partition], starts[s.Topic][s.Partition]))
	}
	return nil
}

// firstTimestamps reads the first committed record of each non-empty span and
// returns its timestamp by span index.
func firstTimestamps(ctx context.Context, conn []kgo.Opt, spans []Span) (map[int]int64, error) {
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		return nil, fmt.Errorf("reader: %w", err)
	}
	defer cl.Close()
	out := map[int]int64{}
	for i, s := range spans {
		if s.From >= s.To {
			continue
		}
		rctx, stop := context.WithCancel(ctx)
		ks := []*kread.Span{{Topic: s.Topic, Partition: s.Partition, Next: s.From, End: s.To}}
		err := kread.New(cl, kread.DefaultLimits).Read(rctx, ks, func(_ *kread.Span, r *kgo.Record) {
			if _, ok := out[i]; !ok {
				out[i] = r.Timestamp.UnixMilli()
				stop()
			}
		}, func(int64) {})
		stop()
		if _, ok := out[i]; !ok && err != nil {
			return nil, fmt.Errorf("%s/%d: first record at %d: %w", s.Topic, s.Partition, s.From, err)
		}
	}
	return out, nil
}

func after(adm *kadm.Client, t time.Time) func(context.Context, ...string) (kadm.ListedOffsets, error) {
	return func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topics...)
	}
}

func list(ctx context.Context, what string, topics []string, fn func(context.Context, ...string) (kadm.ListedOffsets, error)) (Offsets, error) {
	lo, err := fn(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list %s offsets of %v: %w", what, topics, err)
	}
	out := Offsets{}
	var errs []error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("list %s offsets: %w", what, errors.Join(errs...))
	}
	for _, t := range topics {
		if len(out[t]) == 0 {
			return nil, fmt.Errorf("%w: topic %q does not exist", ErrRange, t)
		}
	}
	return out, nil
}

func known(topic string, o map[int32]int64, stable Offsets, flag string) error {
	if stable[topic] == nil {
		return fmt.Errorf("%w: %s: topic %q is not an input topic", ErrRange, flag, topic)
	}
	for p := range o {
		if _, ok := stable[topic][p]; !ok {
			return fmt.Errorf("%w: %s: %s has no partition %d", ErrRange, flag, topic, p)
		}
	}
	return nil
}

func copyOffsets(o Offsets) Offsets {
	out := Offsets{}
	merge(out, o)
	return out
}

func merge(dst, src Offsets) {
	for t, ps := range src {
		if dst[t] == nil {
			dst[t] = map[int32]int64{}
		}
		for p, o := range ps {
			dst[t][p] = o
		}
	}
}

func sortedPartitions(m map[int32]int64) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}
