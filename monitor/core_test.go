package monitor

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scorestream/scorestream/config"
)

var testThresholds = map[string][]config.Threshold{
	RoleChampion:   {{Decision: "review", MinScore: 0.5}, {Decision: "block", MinScore: 0.9}},
	RoleChallenger: {{Decision: "block", MinScore: 0.8}},
}

func newTestCore(t *testing.T, cfg CoreConfig) (*Core, *prometheus.Registry) {
	t.Helper()
	if cfg.Thresholds == nil {
		cfg.Thresholds = testThresholds
	}
	reg := prometheus.NewRegistry()
	c, err := NewCore(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// value returns the value of the series name{labels} ("k=v,k=v") in reg: a
// counter's or gauge's value, a histogram's count; -1 when absent.
func value(t *testing.T, reg prometheus.Gatherer, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for kv := range strings.SplitSeq(labels, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			want[k] = v
		}
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := 0
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok {
					if v != lp.GetValue() {
						continue metric
					}
					got++
				}
			}
			if got != len(want) {
				continue
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

const hour = int64(time.Hour / time.Millisecond)

func pred(id string, score float64, role string, at int64) Prediction {
	return Prediction{EventID: id, Score: score, ModelName: "fraud", ModelVersion: "1", Role: role, EventTime: at}
}

func TestJoinEitherOrder(t *testing.T) {
	c, reg := newTestCore(t, CoreConfig{Horizon: 10 * time.Hour})
	t0 := int64(1767225600000)
	c.Prediction(pred("a", 0.95, RoleChampion, t0))                      // label comes later
	c.Label(Label{EventID: "b", Positive: false, Time: t0 + hour})       // prediction comes later
	c.Prediction(pred("b", 0.6, RoleChampion, t0))                       // joins the held label
	c.Label(Label{EventID: "a", Positive: true, Time: t0 + 2*hour})      // joins the held prediction
	c.Prediction(pred("a", 0.85, RoleChallenger, t0))                    // shadow after the label: joins too
	c.Label(Label{EventID: "a", Positive: false, Time: t0 + 3*hour})     // duplicate
	c.Label(Label{EventID: "ghost", Positive: true, Time: t0 + 3*hour})  // never predicted
	c.Prediction(pred("never-labelled", 0.1, RoleChampion, t0+hour))     // never labelled
	c.Prediction(pred("late", 0.2, RoleChampion, t0+20*hour))            // moves the prediction watermark on
	c.Label(Label{EventID: "late", Positive: false, Time: t0 + 20*hour}) // moves the label watermark on

	champ := "model=fraud,version=1,role=champion"
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"scorestream_monitor_predictions_total", champ, 4},
		{"scorestream_monitor_labelled_total", champ, 3},
		{"scorestream_monitor_positives_total", champ, 1},
		{"scorestream_monitor_labelled_total", "role=challenger", 1},
		{"scorestream_monitor_true_positives_total", champ + ",decision=block", 1},
		{"scorestream_monitor_false_positives_total", champ + ",decision=review", 1}, // b at 0.6
		{"scorestream_monitor_true_positives_total", "role=challenger,decision=block", 1},
		{"scorestream_monitor_flagged_total", champ + ",decision=review", 2},
		{"scorestream_monitor_flagged_expected_positives_total", champ + ",decision=review", 0.95 + 0.6},
		{"scorestream_monitor_labels_total", "outcome=joined", 3},
		{"scorestream_monitor_labels_total", "outcome=duplicate", 1},
		{"scorestream_monitor_labels_total", "outcome=unknown", 1},
		{"scorestream_monitor_unlabelled_total", champ, 1},
		{"scorestream_monitor_label_delay_seconds", "", 3},
		{"scorestream_monitor_labelled_score", champ + ",class=1", 1},
		{"scorestream_monitor_labelled_score", champ + ",class=0", 2},
		{"scorestream_monitor_join_entries", "side=joined", 1}, // "late": labelled, kept for a shadow prediction
		{"scorestream_monitor_join_entries", "side=unknown", 0},
		{"scorestream_monitor_join_entries", "side=prediction", 0},
	} {
		if got := value(t, reg, tc.name, tc.labels); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s{%s} = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestJoinMaxEntriesEvictsEarly(t *testing.T) {
	c, reg := newTestCore(t, CoreConfig{Horizon: 100 * time.Hour, MaxEntries: 3})
	for i := range 5 {
		c.Prediction(pred(string(rune('a'+i)), 0.5, RoleChampion, int64(i)))
	}
	c.Label(Label{EventID: "a", Positive: true, Time: 10}) // a was evicted: held as a label
	if got := value(t, reg, "scorestream_monitor_join_early_evictions_total", "side=prediction"); got != 3 {
		t.Errorf("prediction evictions %v, want 3", got)
	}
	if got := value(t, reg, "scorestream_monitor_labelled_total", ""); got != 0 {
		t.Errorf("labelled %v, want 0: the prediction was evicted", got)
	}
	if got := value(t, reg, "scorestream_monitor_join_entries", "side=prediction"); got != 2 {
		t.Errorf("predictions held %v, want 2", got)
	}
	if got := value(t, reg, "scorestream_monitor_join_entries", "side=unknown"); got != 1 {
		t.Errorf("unknown labels held %v, want 1", got)
	}
}

func TestWindowSlides(t *testing.T) {
	w := newWindow(24*time.Hour, 4)
	pos, neg := make([]float64, 4), make([]float64, 4)
	w.add(0, 0, 3, true)
	w.add(hour, hour, 0, false)
	w.sum(hour, pos, neg)
	if pos[3] != 1 || neg[0] != 1 {
		t.Fatalf("pos %v neg %v", pos, neg)
	}
	w.add(24*hour, 24*hour, 1, false) // the slot of t=0 leaves the window
	w.sum(24*hour, pos, neg)
	if pos[3] != 0 || neg[0] != 1 || neg[1] != 1 {
		t.Fatalf("after a day: pos %v neg %v", pos, neg)
	}
	w.add(0, 24*hour, 2, true) // too old to count
	w.sum(24*hour, pos, neg)
	if pos[2] != 0 {
		t.Fatalf("a label older than the window was counted: %v", pos)
	}
}

func TestAUCGauges(t *testing.T) {
	c, reg := newTestCore(t, CoreConfig{Bins: 10, Windows: []time.Duration{time.Hour, 24 * time.Hour}})
	scores := []struct {
		s   float64
		pos bool
	}{{0.05, false}, {0.15, false}, {0.55, true}, {0.55, false}, {0.95, true}}
	for i, sc := range scores {
		id := string(rune('a' + i))
		c.Prediction(pred(id, sc.s, RoleChampion, 0))
		c.Label(Label{EventID: id, Positive: sc.pos, Time: 1000})
	}
	c.Refresh()
	// Positives in bins 5 and 9, negatives in 0, 1 and 5: of the 6 pairs the
	// positive of bin 9 wins 3, the one of bin 5 wins 2 and ties 1.
	want := (3 + 2.5) / 6
	if got := value(t, reg, "scorestream_monitor_roc_auc", "window=1h"); math.Abs(got-want) > 1e-12 {
		t.Errorf("roc auc %v, want %v", got, want)
	}
	if got := value(t, reg, "scorestream_monitor_window_labels", "window=24h,class=1"); got != 2 {
		t.Errorf("window labels %v, want 2", got)
	}
}

// TestEstimatedPrecision shows, on generated data, how close the estimate
// before labels (the mean score above the threshold) is to the precision realised
// once the labels are in, for a calibrated model (labels drawn with probability
// = score) and for one that is not (labels drawn with probability score²).
func TestEstimatedPrecision(t *testing.T) {
	for _, tc := range []struct {
		name       string
		truth      func(s float64) float64
		calibrated bool
	}{
		{"calibrated", func(s float64) float64 { return s }, true},
		{"overconfident", func(s float64) float64 { return s * s }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, reg := newTestCore(t, CoreConfig{})
			r := rand.New(rand.NewPCG(7, 11))
			const n = 200000
			for i := range n {
				// skewed like a fraud model's: mostly low, a tail of high scores
				s := math.Pow(r.Float64(), 6)
				id := "e" + strconv.Itoa(i)
				at := int64(i)
				c.Prediction(pred(id, s, RoleChampion, at))
				c.Label(Label{EventID: id, Positive: r.Float64() < tc.truth(s), Time: at})
			}
			for _, d := range []string{"review", "block"} {
				lv := "role=champion,decision=" + d
				est := value(t, reg, "scorestream_monitor_flagged_expected_positives_total", lv) / value(t, reg, "scorestream_monitor_flagged_total", lv)
				tp, fp := value(t, reg, "scorestream_monitor_true_positives_total", lv), value(t, reg, "scorestream_monitor_false_positives_total", lv)
				real := tp / (tp + fp)
				t.Logf("%s at %s: estimated precision %.4f, realised %.4f (%d flagged of %d), gap %.4f", tc.name, d, est, real, int(tp+fp), n, est-real)
				// The binomial standard error of the realised precision is at most
				// sqrt(0.25/flagged): 0.0086 for the block threshold's ~3,400.
				if gap, tol := math.Abs(est-real), 4*math.Sqrt(0.25/(tp+fp)); tc.calibrated != (gap < tol) {
					t.Errorf("gap %.4f, tolerance %.4f: calibrated=%v", gap, tol, tc.calibrated)
				}
			}
			rate := value(t, reg, "scorestream_monitor_expected_positives_total", "role=champion") / n
			realRate := value(t, reg, "scorestream_monitor_positives_total", "role=champion") / n
			t.Logf("%s: expected fraud rate %.4f, realised %.4f", tc.name, rate, realRate)
		})
	}
}
