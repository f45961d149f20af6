package stream

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// GroupLag reports the consumer group's progress as the brokers see it: the
// committed offset and the lag (last stable offset − committed offset) of every
// input partition, in scorestream_group_committed_offset and
// scorestream_group_lag_records. Unlike scorestream_stream_lag_records, which a
// loop sets from the records it fetches, these move even when nothing is
// fetched: a group whose members wait on something (a hanging transaction's
// pending offsets after a broker failure, a partition nobody owns) shows a lag
// that grows while the committed offset stands still.
//
// A partition whose committed offset has not moved for StallAfter while its
// end moved on is logged once as stalled, with what to check. (A lag that
// stands still is not a stall: the group commits the offset after the last
// record it got, so transaction markers and aborted records at the end of a
// transactional input stay as lag while nothing is wrong.)
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
	end       int64     // the end when committed last changed
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
	// The last stable offset: records of open upstream transactions are not
	// yet anybody's work.
	ends, err := g.Admin.ListCommittedOffsets(ctx, g.Topics...)
	if err != nil {
		return err
	}
	starts, err := g.Admin.ListStartOffsets(ctx, g.Topics...)
	if err != nil {
		return err
	}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			return
		}
		var c int64
		o, ok := committed.Lookup(e.Topic, e.Partition)
		switch {
		case ok && o.Err != nil:
			return // unknown this round; not a 0 that alerts would read as movement
		case ok && o.At >= 0:
			c = o.At
		default: // nothing committed: behind from the log start
			if s, ok := starts.Lookup(e.Topic, e.Partition); ok && s.Err == nil {
				c = s.Offset
			}
		}
		lag := max(0, e.Offset-c)
		p := strconv.Itoa(int(e.Partition))
		g.Metrics.GroupCommitted.WithLabelValues(e.Topic, p).Set(float64(c))
		g.Metrics.GroupLag.WithLabelValues(e.Topic, p).Set(float64(lag))

		k := tp{e.Topic, e.Partition}
		s, seen := g.seen[k]
		if !seen || s.committed != c || lag == 0 {
			g.seen[k] = progress{committed: c, end: e.Offset, since: now}
			return
		}
		if !s.warned && e.Offset > s.end && now.Sub(s.since) >= g.StallAfter {
			s.warned = true
			g.seen[k] = s
			g.Log.Warn("input partition stalled: the group's committed offset has not moved while records arrive; "+
				"after a broker failure, look for hanging transactions (scorestream txn hanging -c CONFIG, "+
				"then scorestream txn abort); see deploy/README.md#scorestreamstalled",
				"group", g.Group, "topic", e.Topic, "partition", e.Partition, "committed", c, "lag", lag,
				"arrived_since", e.Offset-s.end, "stalled_for", now.Sub(s.since).Round(time.Second))
		}
	})
	return nil
}
