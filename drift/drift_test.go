package drift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scorestream/scorestream/model"
)

func fixtureProfile() *model.Profile {
	return &model.Profile{
		Score: &model.Dist{Edges: []float64{0.1, 0.5}, Proportions: []float64{0.7, 0.2, 0.1}},
		Features: []model.FeatureDist{
			{Name: "a", Dist: model.Dist{Edges: []float64{1, 2, 3}, Proportions: []float64{0.25, 0.25, 0.25, 0.25}, Missing: 0.02}},
			{Name: "b", Dist: model.Dist{Values: []float64{0, 1, 2}, Proportions: []float64{0.5, 0.3, 0.2}}},
			{Name: "not_in_spec", Dist: model.Dist{Proportions: []float64{1}}},
		},
	}
}

func TestObserver(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	o := NewObserver(m, "fraud", "2", "champion", fixtureProfile(), []string{"x", "b", "a"})
	nan := math.NaN()
	for _, r := range []struct {
		score float64
		vec   []float64
	}{
		{0.05, []float64{9, 0, 1}},   // score bin 0, a bin 0 (edge), b 0
		{0.5, []float64{9, 2, 2.5}},  // score bin 1 (edge), a bin 2, b 2
		{0.9, []float64{9, 7, nan}},  // score bin 2, a missing, b unseen
		{nan, []float64{9, 0, 1}},    // a NaN score is not counted at all
		{0.95, []float64{9, nan, 4}}, // b missing, a bin 3
	} {
		o.Observe(r.score, r.vec)
	}
	if got := testutil.ToFloat64(m.Records.WithLabelValues("fraud", "2", "champion")); got != 0 {
		t.Fatalf("records before Flush = %v, want 0", got)
	}
	o.Flush()
	o.Flush() // a second flush adds nothing
	want := map[string]float64{
		"records": 4, "score0": 1, "score1": 1, "score2": 2,
		"a0": 1, "a1": 0, "a2": 1, "a3": 1, "a_missing": 1, "a_unseen": 0,
		"b0": 1, "b1": 0, "b2": 1, "b_missing": 1, "b_unseen": 1,
	}
	got := map[string]float64{
		"records": testutil.ToFloat64(m.Records.WithLabelValues("fraud", "2", "champion")),
		"score0":  testutil.ToFloat64(m.ScoreBins.WithLabelValues("fraud", "2", "champion", "0")),
		"score1":  testutil.ToFloat64(m.ScoreBins.WithLabelValues("fraud", "2", "champion", "1")),
		"score2":  testutil.ToFloat64(m.ScoreBins.WithLabelValues("fraud", "2", "champion", "2")),
	}
	for _, f := range []string{"a", "b"} {
		for _, b := range []string{"0", "1", "2", "3"} {
			if f == "b" && b == "3" {
				continue
			}
			got[f+b] = testutil.ToFloat64(m.FeatureBins.WithLabelValues("fraud", "2", "champion", f, b))
		}
		got[f+"_missing"] = testutil.ToFloat64(m.FeatureMissing.WithLabelValues("fraud", "2", "champion", f))
		got[f+"_unseen"] = testutil.ToFloat64(m.FeatureUnseen.WithLabelValues("fraud", "2", "champion", f))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if v := testutil.ToFloat64(m.ReferenceMissing.WithLabelValues("fraud", "2", "champion")); v != 0 {
		t.Errorf("reference missing = %v, want 0", v)
	}
	// Read sums what the registry holds; Compare puts the most drifted first.
	c, err := Read(reg, fixtureProfile(), "fraud", "2", "champion")
	if err != nil {
		t.Fatal(err)
	}
	if c.Records != 4 || c.Score[2] != 2 || c.Features["b"].Unseen != 1 || c.Features["a"].Bins[3] != 1 {
		t.Errorf("Read = %+v", c)
	}
	if d := c.Sub(c); d.Records != 0 || sum(d.Score) != 0 || sum(d.Features["a"].Bins) != 0 {
		t.Errorf("c.Sub(c) = %+v", d)
	}
}

func TestNoReference(t *testing.T) {
	m := NewMetrics(prometheus.NewPedanticRegistry())
	o := NewObserver(m, "fraud", "3", "challenger", nil, nil)
	if o != nil {
		t.Fatal("observer without a profile")
	}
	o.Observe(0.5, nil) // a nil observer counts nothing and does not panic
	o.Flush()
	if v := testutil.ToFloat64(m.ReferenceMissing.WithLabelValues("fraud", "3", "challenger")); v != 1 {
		t.Errorf("reference missing = %v, want 1", v)
	}
}

func TestPSIAndKS(t *testing.T) {
	ref := []float64{0.5, 0.3, 0.2}
	// Counts in the reference proportions: no drift.
	if psi, ks := PSI(ref, []float64{50, 30, 20}), KS(ref, []float64{50, 30, 20}); math.Abs(psi) > 1e-12 || math.Abs(ks) > 1e-12 {
		t.Errorf("matching counts: PSI %v KS %v, want 0", psi, ks)
	}
	// Worked by hand: live shares 0.2, 0.3, 0.5.
	want := (0.2-0.5)*math.Log(0.2/0.5) + 0 + (0.5-0.2)*math.Log(0.5/0.2)
	if got := PSI(ref, []float64{2, 3, 5}); math.Abs(got-want) > 1e-12 {
		t.Errorf("PSI = %v, want %v", got, want)
	}
	if got := KS(ref, []float64{2, 3, 5}); math.Abs(got-0.3) > 1e-12 {
		t.Errorf("KS = %v, want 0.3", got)
	}
	// An empty live bin is floored, not infinite.
	if got := PSI(ref, []float64{0, 5, 5}); math.IsInf(got, 0) || got < 1 {
		t.Errorf("PSI with an empty bin = %v, want large and finite", got)
	}
	if PSI(ref, []float64{0, 0, 0}) != 0 || KS(ref, []float64{0, 0, 0}) != 0 {
		t.Error("no counts must give 0")
	}
}

func TestBuild(t *testing.T) {
	defs := []model.FeatureDef{{Name: "x"}, {Name: "c", Type: model.FeatureCategorical}, {Name: "gone"}}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows [][]float64
	var scores []float64
	for i := range 1000 {
		x := rng.Float64() * 100
		if i%10 == 0 {
			x = math.NaN()
		}
		rows = append(rows, []float64{x, float64(i % 3), math.NaN()})
		scores = append(scores, rng.Float64())
	}
	p, err := Build(defs, rows, scores, 10)
	if err != nil {
		t.Fatal(err)
	}
	man := &model.Manifest{Name: "m", Version: "1", Model: "m.json", Features: defs, Profile: p}
	if err := man.Validate(); err != nil {
		t.Fatalf("built profile does not validate: %v", err)
	}
	if len(p.Score.Edges) != 9 || math.Abs(p.Score.Proportions[0]-0.1) > 0.001 {
		t.Errorf("score dist %+v", p.Score)
	}
	x, c, gone := p.Feature("x"), p.Feature("c"), p.Feature("gone")
	if math.Abs(x.Missing-0.1) > 1e-12 || len(x.Edges) != 9 {
		t.Errorf("x %+v", x)
	}
	if len(c.Values) != 3 || c.Values[2] != 2 || math.Abs(c.Proportions[0]-334.0/1000) > 1e-12 {
		t.Errorf("c %+v", c)
	}
	if gone.Missing != 1 || len(gone.Proportions) != 1 {
		t.Errorf("all-missing %+v", gone)
	}
	// Ties merge edges (as numpy.unique of the quantiles): a constant input has
	// one edge, at its value, and everything in the bin it closes.
	q, _ := Build([]model.FeatureDef{{Name: "k"}}, [][]float64{{3}, {3}, {3}}, []float64{1, 1, 1}, 10)
	if k := q.Feature("k"); len(k.Edges) != 1 || k.Edges[0] != 3 || k.Proportions[0] != 1 || k.Proportions[1] != 0 {
		t.Errorf("constant input %+v", k)
	}
	if _, err := Build(defs, rows, scores, 0); err == nil {
		t.Error("bins 0 accepted")
	}
}

// BenchmarkObserve is the per-record cost of drift counting on the hot path:
// one committed record of the demo's size (12 inputs, 10 bins each).
//
//	go test -run '^$' -bench Observe -benchmem ./drift/
func BenchmarkObserve(b *testing.B) {
	const nfeat = 12
	defs := make([]model.FeatureDef, nfeat)
	names := make([]string, nfeat)
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float64, 1000)
	scores := make([]float64, len(rows))
	for j := range defs {
		names[j] = string(rune('a' + j))
		defs[j] = model.FeatureDef{Name: names[j]}
	}
	for i := range rows {
		rows[i] = make([]float64, nfeat)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64()
		}
		scores[i] = rng.Float64()
	}
	p, err := Build(defs, rows, scores, 10)
	if err != nil {
		b.Fatal(err)
	}
	o := NewObserver(NewMetrics(prometheus.NewRegistry()), "m", "1", "champion", p, names)
	for _, txn := range []int{1, 100} {
		b.Run(fmt.Sprintf("records_per_flush=%d", txn), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				k := i % len(rows)
				o.Observe(scores[k], rows[k])
				if i%txn == 0 {
					o.Flush()
				}
			}
		})
	}
}

// TestCardinalityFraudExample checks the series count deploy/README.md states
// for the fraud example's profile: score bins + feature bins + missing and
// unseen per feature + records, per model version and role.
func TestCardinalityFraudExample(t *testing.T) {
	man, err := model.LoadManifest("../examples/fraud/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	o := NewObserver(m, man.Name, man.Version, "champion", man.Profile, man.FeatureNames())
	o.Observe(0.5, make([]float64, len(man.Features)))
	o.Flush()
	n, err := testutil.GatherAndCount(reg, MetricScoreBins, MetricFeatureBins, MetricFeatureMissing, MetricFeatureUnseen, MetricRecords)
	if err != nil {
		t.Fatal(err)
	}
	if n != 172 {
		t.Errorf("%d drift series for the fraud example, deploy/README.md says 172", n)
	}
}
