package stream_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/scorestream/scorestream/model"
)

// TestDriftCountsCommittedOnly: every other transaction commit is answered
// TRANSACTION_ABORTABLE, so records are scored twice or more, yet the drift
// counters count each committed prediction exactly once.
func TestDriftCountsCommittedOnly(t *testing.T) {
	const n = 2000
	h := newHarness(t, 3)
	ch := h.shared.Models.Champion
	ch.Profile = &model.Profile{
		Score:    &model.Dist{Edges: []float64{0.5}, Proportions: []float64{0.5, 0.5}},
		Features: []model.FeatureDist{{Name: "amount", Dist: model.Dist{Edges: []float64{50}, Proportions: []float64{0.5, 0.5}}}},
	}
	h.produce(n, 0.02)
	forced := h.failCommits(kerr.TransactionAbortable.Code, func(n int32) bool { return n%2 == 0 })
	commits := make(chan int, 1024)
	a := h.start("a", commits)
	waitScored(t, commits, n, a.loop)
	a.close(t)
	h.env.Cluster.DropControl()
	if forced.Load() == 0 || a.loop.Stats.Aborted.Load() == 0 {
		t.Fatalf("no aborted transaction (forced %d)", forced.Load())
	}
	m := h.shared.Metrics
	preds := float64(a.loop.Stats.Predictions.Load())
	if consumed := testutil.ToFloat64(m.Consumed.WithLabelValues("payments")); !(consumed > n) {
		t.Fatalf("consumed %v records: the aborts redid no work", consumed)
	}
	d := m.Drift
	lv := []string{ch.Name, ch.Version, "champion"}
	records := testutil.ToFloat64(d.Records.WithLabelValues(lv...))
	score := testutil.ToFloat64(d.ScoreBins.WithLabelValues(append(lv, "0")...)) + testutil.ToFloat64(d.ScoreBins.WithLabelValues(append(lv, "1")...))
	amount := testutil.ToFloat64(d.FeatureBins.WithLabelValues(append(lv, "amount", "0")...)) +
		testutil.ToFloat64(d.FeatureBins.WithLabelValues(append(lv, "amount", "1")...)) +
		testutil.ToFloat64(d.FeatureMissing.WithLabelValues(append(lv, "amount")...))
	if preds == 0 || records != preds || score != preds || amount != preds {
		t.Fatalf("committed predictions %v; drift counted records %v, score bins %v, amount bins+missing %v", preds, records, score, amount)
	}
	if v := testutil.ToFloat64(d.ReferenceMissing.WithLabelValues(lv...)); v != 0 {
		t.Errorf("reference missing = %v with a profile", v)
	}
}
