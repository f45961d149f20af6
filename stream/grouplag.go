package stream

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// GroupLag reports the consumer group's progress as the brokers see it: the
// committed offset and the lag (end offset − committed offset) of every input
// partition, in scorestream_group_committed_offset and
// scorestream_group_lag_records. Unlike scorestream_stream_lag_records, which a
// loop sets from the records it fetches, these move even when nothing is
// fetched: a group whose members wait on something (a hanging transaction's
// pending offsets after a broker failure, a partition nobody owns) shows a lag
// that grows while the committed offset stands still.
//
// A partition whose committed offset has not moved for StallAfter while more
// than one record is behind it (one: the marker a transactional producer of
// the input leaves after its last record) is logged once as stalled, with what
// to check.
type GroupLag struct {
	Admin      *kadm.Client
	Group      string
	Topics     []string
	Metrics    *Metrics
	Log        *slog.Logger
	Every      time.Duration // default 15s
	StallAfter time.Duration // default 5m

	seen map[tp]progress
}

type tp struct {
	topic     string
	partition int32
}

type progress struct {
	committed int64
	since     time.Time // when committed last changed
	warned    bool
}

// Run refreshes the metrics every Every until ctx is done.
func (g *GroupLag) Run(ctx context.Context) {
	if g.Every <= 0 {
		g.Every = 15 * time.Second
	}
	t := time.NewTicker(g.Every)
	defer t.Stop()
	for {
		if err := g.Once(ctx, time.Now()); err != nil && ctx.Err() == nil {
			g.Log.Debug("group lag: brokers did not answer; next try in "+g.Every.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once refreshes the metrics at time now.
func (g *GroupLag) Once(ctx context.Context, now time.Time) error {
	if g.StallAfter <= 0 {
		g.StallAfter = 5 * time.Minute
	}
	if g.seen == nil {
		g.seen = map[tp]progress{}
	}
	// Not kadm.RequireStable: the last stable commits are what is wanted here,
	// and a stable fetch is what a hanging transaction blocks.
	committed, err := g.Admin.FetchOffsets(ctx, g.Group)
	if err != nil {
		return err
	}
	ends, err := g.Admin.ListEndOffsets(ctx, g.Topics...)
	if err != nil {
		return err
	}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			return
		}
		c := int64(0) // nothing committed: the whole partition is behind
		if o, ok := committed.Lookup(e.Topic, e.Partition); ok && o.Err == nil && o.At >= 0 {
			c = o.At
		}
		lag := max(0, e.Offset-c)
		p := strconv.Itoa(int(e.Partition))
		g.Metrics.GroupCommitted.WithLabelValues(e.Topic, p).Set(float64(c))
		g.Metrics.GroupLag.WithLabelValues(e.Topic, p).Set(float64(lag))

		k := tp{e.Topic, e.Partition}
		s, ok := g.seen[k]
		if !ok || s.committed != c || lag <= 1 {
			g.seen[k] = progress{committed: c, since: now}
			return
		}
		if !s.warned && now.Sub(s.since) >= g.StallAfter {
			s.warned = true
			g.seen[k] = s
			g.Log.Warn("input partition stalled: the group's committed offset has not moved while records wait; "+
				"after a broker failure, look for hanging transactions (kafka-transactions.sh find-hanging --broker-id ID "+
				"--max-transaction-timeout 1, then abort each); see deploy/README.md#scorestreamstalled",
				"group", g.Group, "topic", e.Topic, "partition", e.Partition, "committed", c, "lag", lag,
				"stalled_for", now.Sub(s.since).Round(time.Second))
		}
	})
	return nil
}
