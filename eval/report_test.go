package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/config"
)

var testThresholds = []config.Threshold{{Decision: "review", MinScore: 0.5}, {Decision: "block", MinScore: 0.9}}

func decideWith(th []config.Threshold, s float64) string {
	d := "allow"
	for _, t := range th {
		if s >= t.MinScore {
			d = t.Decision
		}
	}
	return d
}

// synthetic adds n rows scored by a champion and a stronger challenger, with
// ties (scores rounded to 3 decimals), 4% positives, a third unlabeled, three
// segments and one event a minute.
func synthetic(n int, opts Options) *Accumulator {
	models := []Model{
		{Name: "champion", Version: "v7", Hash: "sha256:1111aaaa2222bbbb", Thresholds: testThresholds},
		{Name: "challenger", Version: "v8", Hash: "sha256:3333cccc4444dddd", Thresholds: testThresholds},
	}
	acc := New(models, opts)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range n {
		fraud := rng.Float64() < 0.04
		label := int8(0)
		sig := 0.0
		switch {
		case fraud:
			label, sig = 1, 1
		case i%3 == 0:
			label = -1
		}
		c := math.Round(1000/(1+math.Exp(-(rng.NormFloat64()+2*sig-2.2)))) / 1000
		h := math.Round(1000/(1+math.Exp(-(rng.NormFloat64()+3*sig-2.7)))) / 1000
		acc.Add(Row{EventTime: 1793491200000 + int64(i)*60_000, Segment: []string{"web", "pos", "moto"}[i%3],
			Label: label, Scores: []float64{c, h}, Decisions: []string{decideWith(testThresholds, c), decideWith(testThresholds, h)}})
	}
	return acc
}

func mustReport(t *testing.T, acc *Accumulator) *Report {
	t.Helper()
	r, err := acc.Report(Provenance{From: "2026-11-01T00:00:00Z", To: "2026-11-08T00:00:00Z"})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return r
}

func mustJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	b, err := r.JSON()
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	if bytes.Contains(b, []byte("NaN")) || bytes.Contains(b, []byte("Inf\"")) && !bytes.Contains(b, []byte("Infinity")) {
		t.Fatalf("report.json has a non-number: %s", b)
	}
	return b
}

func TestOneClassOnlyIsNullNotNaN(t *testing.T) {
	acc := New([]Model{{Name: "a"}, {Name: "b"}}, Options{})
	for i := range 50 {
		acc.Add(Row{EventTime: int64(i), Label: 0, Scores: []float64{float64(i) / 50, 1 - float64(i)/50}, Decisions: []string{"allow", "allow"}})
	}
	r := mustReport(t, acc)
	m := r.Models[0].Metrics
	if m.ROCAUC != nil || m.PRAUC != nil {
		t.Errorf("one class: roc_auc %v pr_auc %v, want undefined", m.ROCAUC, m.PRAUC)
	}
	if m.LogLoss == nil || m.Brier == nil || m.Note == "" {
		t.Errorf("one class: log loss %v brier %v note %q, want defined values and a note", m.LogLoss, m.Brier, m.Note)
	}
	var doc map[string]any
	if err := json.Unmarshal(mustJSON(t, r), &doc); err != nil {
		t.Fatal(err)
	}
	got := doc["models"].([]any)[0].(map[string]any)["metrics"].(map[string]any)
	if v, ok := got["roc_auc"]; !ok || v != nil {
		t.Errorf("report.json roc_auc = %v (present %v), want null", v, ok)
	}
	if c := r.Comparisons[0]; c.DeltaAUC != nil || !strings.Contains(c.Verdict, "one class") {
		t.Errorf("comparison with one class: delta %v verdict %q", c.DeltaAUC, c.Verdict)
	}
}

func TestNoLabelsStillReports(t *testing.T) {
	acc := New([]Model{{Name: "a", Thresholds: testThresholds}, {Name: "b", Thresholds: testThresholds}}, Options{})
	for i := range 100 {
		s := float64(i) / 100
		acc.Add(Row{EventTime: int64(i) * 1000, Label: -1, Scores: []float64{s, 1 - s},
			Decisions: []string{decideWith(testThresholds, s), decideWith(testThresholds, 1-s)}})
	}
	r := mustReport(t, acc)
	if r.Labelled != 0 || r.Unlabeled != 100 {
		t.Fatalf("labelled %d unlabeled %d", r.Labelled, r.Unlabeled)
	}
	var unl int64
	for _, c := range r.Models[0].Histogram.Unlabeled {
		unl += c
	}
	if unl != 100 {
		t.Errorf("histogram holds %d unlabeled scores, want 100", unl)
	}
	// a: 0..0.49 allow, 0.5..0.89 review, 0.9.. block; b mirrored.
	want := 0
	for i := range 100 {
		s := float64(i) / 100
		if decideWith(testThresholds, s) != decideWith(testThresholds, 1-s) {
			want++
		}
	}
	if f := r.Comparisons[0].Flips; f.Total != int64(want) || f.Compared != 100 {
		t.Errorf("flips %d of %d, want %d of 100", f.Total, f.Compared, want)
	}
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatalf("write: %v", err)
	}
	mustJSON(t, r)
}

func TestNaNScoresExcludedAndCounted(t *testing.T) {
	acc := New([]Model{{Name: "a"}, {Name: "b"}}, Options{Bootstrap: 20})
	for i := range 40 {
		b := float64(i%10) / 10
		if i%4 == 0 {
			b = math.NaN()
		}
		acc.Add(Row{EventTime: int64(i), Label: int8(i % 2), Scores: []float64{float64(i%10) / 10, b}})
	}
	r := mustReport(t, acc)
	if got := r.Models[1]; got.NaNScores != 10 || got.Scored != 30 || got.Metrics.N != 30 {
		t.Errorf("model b: nan %d scored %d n %d, want 10, 30, 30", got.NaNScores, got.Scored, got.Metrics.N)
	}
	if c := r.Comparisons[0]; c.Paired != 30 || c.Flips.Compared != 30 {
		t.Errorf("paired %d compared %d, want 30", c.Paired, c.Flips.Compared)
	}
}

// The threshold table, the cost table and the AUC against brute force.
func TestThresholdsAndCostAgainstBruteForce(t *testing.T) {
	acc := synthetic(3000, Options{CostFP: 1, CostFN: 25, Unlabeled: "negative"})
	r := mustReport(t, acc)
	for m, mr := range r.Models {
		s, y := acc.scores[m], acc.labels
		label := func(i int) int8 { return max(y[i], 0) } // unlabeled = negative
		for _, tr := range mr.Thresholds {
			var tp, fp, fn, tn int64
			for i, v := range s {
				switch alert, pos := v >= float64(tr.MinScore), label(i) == 1; {
				case alert && pos:
					tp++
				case alert:
					fp++
				case pos:
					fn++
				default:
					tn++
				}
			}
			if tr.TP != tp || tr.FP != fp || tr.FN != fn || tr.TN != tn || *tr.Cost != float64(fp)+25*float64(fn) {
				t.Errorf("%s >= %v: got tp %d fp %d fn %d tn %d cost %v, brute force %d %d %d %d", mr.Model.Name, tr.MinScore, tr.TP, tr.FP, tr.FN, tr.TN, *tr.Cost, tp, fp, fn, tn)
			}
		}
		best := math.Inf(1)
		for _, th := range append(append([]float64(nil), s...), math.Inf(1)) {
			var cost float64
			for i, v := range s {
				if v >= th && label(i) == 0 {
					cost++
				} else if v < th && label(i) == 1 {
					cost += 25
				}
			}
			best = min(best, cost)
		}
		if got := *mr.Cost.Optimal.Cost; got != best {
			t.Errorf("%s: optimal cost %v, brute force %v", mr.Model.Name, got, best)
		}
		var pairs, wins float64
		for i := range s {
			for j := range s {
				if label(i) == 1 && label(j) == 0 {
					pairs++
					switch {
					case s[i] > s[j]:
						wins++
					case s[i] == s[j]:
						wins += 0.5
					}
				}
			}
		}
		if got := *mr.Metrics.ROCAUC; math.Abs(got-wins/pairs) > 1e-12 {
			t.Errorf("%s: AUC %v, Mann-Whitney %v", mr.Model.Name, got, wins/pairs)
		}
	}
}

func TestBootstrapIsSeededAndPaired(t *testing.T) {
	build := func(seed int64) Comparison {
		return mustReport(t, synthetic(2000, Options{Bootstrap: 200, Seed: seed})).Comparisons[0]
	}
	a := build(5)
	prev := runtime.GOMAXPROCS(1)
	b := build(5)
	runtime.GOMAXPROCS(prev)
	if *a.CILow != *b.CILow || *a.CIHigh != *b.CIHigh {
		t.Errorf("same seed, other worker count: CI [%v, %v] vs [%v, %v]", *a.CILow, *a.CIHigh, *b.CILow, *b.CIHigh)
	}
	if c := build(6); *c.CILow == *a.CILow && *c.CIHigh == *a.CIHigh {
		t.Errorf("another seed gave the very same CI [%v, %v]", *a.CILow, *a.CIHigh)
	}
	if !(*a.CILow < *a.DeltaAUC && *a.DeltaAUC < *a.CIHigh) || *a.CILow <= 0 {
		t.Errorf("CI [%v, %v] around ΔAUC %v: want it to hold the estimate and exclude 0 (challenger is planted stronger)", *a.CILow, *a.CIHigh, *a.DeltaAUC)
	}
	if !strings.Contains(a.Verdict, "is better than") {
		t.Errorf("verdict %q", a.Verdict)
	}

	// A model against itself: ΔAUC 0 in every resample (paired).
	acc := synthetic(500, Options{Bootstrap: 50})
	acc.scores[1] = acc.scores[0]
	acc.decs[1] = acc.decs[0]
	self := mustReport(t, acc).Comparisons[0]
	if *self.DeltaAUC != 0 || *self.CILow != 0 || *self.CIHigh != 0 || !strings.Contains(self.Verdict, "no significant difference") || self.Flips.Total != 0 {
		t.Errorf("self comparison: Δ %v CI [%v, %v] flips %d verdict %q", *self.DeltaAUC, *self.CILow, *self.CIHigh, self.Flips.Total, self.Verdict)
	}
}

// DeLong's interval is the verdict's without a bootstrap, and the two methods
// agree on the width of the interval.
func TestDeLongAndBootstrapAgree(t *testing.T) {
	boot := mustReport(t, synthetic(6000, Options{Bootstrap: 400})).Comparisons[0]
	dl := mustReport(t, synthetic(6000, Options{Bootstrap: -1})).Comparisons[0]
	if !strings.HasPrefix(dl.Method, "DeLong") || *dl.CILow != *dl.DeLongCILow || *dl.CIHigh != *dl.DeLongCIHigh {
		t.Errorf("bootstrap off: method %q, CI [%v, %v], DeLong [%v, %v]", dl.Method, *dl.CILow, *dl.CIHigh, *dl.DeLongCILow, *dl.DeLongCIHigh)
	}
	wb, wd := *boot.CIHigh-*boot.CILow, *boot.DeLongCIHigh-*boot.DeLongCILow
	if r := wb / wd; r < 0.75 || r > 1.33 {
		t.Errorf("bootstrap CI width %v, DeLong %v: ratio %v, want about 1", wb, wd, r)
	}
	if *boot.DeLongP >= 0.05 || !strings.Contains(dl.Verdict, "is better than") {
		t.Errorf("planted stronger challenger: DeLong p %v, verdict %q", *boot.DeLongP, dl.Verdict)
	}
}

func TestWeightedAUCWithUnitWeightsIsROCAUC(t *testing.T) {
	acc := synthetic(1000, Options{Unlabeled: "negative"})
	s := acc.scores[0]
	y := make([]int8, len(s))
	w := make([]int32, len(s))
	for i := range y {
		y[i], w[i] = max(acc.labels[i], 0), 1
	}
	got, ok := weightedAUC(newRanking(s, y), w)
	want, _ := newCurve(s, y, order(s)).rocAUC()
	if !ok || math.Abs(got-want) > 1e-12 {
		t.Errorf("weighted AUC %v, curve AUC %v", got, want)
	}
	// Doubling every weight of one row is that row twice.
	w[7], w[8] = 2, 0
	s2, y2 := append(append([]float64(nil), s...), s[7]), append(append([]int8(nil), y...), y[7])
	s2[8], y2[8] = s2[len(s2)-1], y2[len(y2)-1] // row 8 dropped: replaced by a copy of row 7
	got, _ = weightedAUC(newRanking(s, y), w)
	want, _ = newCurve(s2[:len(s)], y2[:len(s)], order(s2[:len(s)])).rocAUC()
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("weights 2 and 0: AUC %v, by copying the row %v", got, want)
	}
}

func TestReportErrors(t *testing.T) {
	if _, err := New([]Model{{Name: "a"}}, Options{}).Report(Provenance{}); !errors.Is(err, ErrNoRows) {
		t.Errorf("no rows: %v, want ErrNoRows", err)
	}
	acc := New([]Model{{Name: "a"}, {Name: "b"}}, Options{})
	acc.Add(Row{Scores: []float64{0.5}})
	if _, err := acc.Report(Provenance{}); err == nil || !strings.Contains(err.Error(), "one score per model") {
		t.Errorf("short row: %v", err)
	}
	acc = New([]Model{{Name: "a"}}, Options{Unlabeled: "positive"})
	acc.Add(Row{Scores: []float64{0.5}})
	if _, err := acc.Report(Provenance{}); err == nil || !strings.Contains(err.Error(), "unlabeled") {
		t.Errorf("bad unlabeled option: %v", err)
	}
}

func TestWriteFilesLeavesNoTempFiles(t *testing.T) {
	r := mustReport(t, synthetic(300, Options{Bootstrap: 20}))
	dir := filepath.Join(t.TempDir(), "out")
	if err := r.WriteFiles(dir); err != nil {
		t.Fatalf("write: %v", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "report.html,report.json" {
		t.Errorf("dir holds %v, want report.html and report.json only", names)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Models []ModelReport `json:"models"`
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Models) != 2 || back.Models[0].Model.Name != "champion" && back.Models[0].Metrics.ROCAUC == nil {
		t.Errorf("report.json does not read back: %v", err)
	}
	// A file where the directory should be: an error, nothing written.
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFiles(file); err == nil {
		t.Error("WriteFiles into a regular file: no error")
	}
}

func TestHTMLHasEveryPlot(t *testing.T) {
	r := mustReport(t, synthetic(3000, Options{Bootstrap: 50, CostFP: 1, CostFN: 20}))
	h, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	page := string(h)
	// ROC, PR, reliability, 2 histograms, scatter, segments, 2 over time.
	if got := strings.Count(page, `<svg class="plot"`); got != 9 {
		t.Errorf("%d plots, want 9", got)
	}
	for _, s := range []string{"<script", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), s) {
			t.Errorf("page contains %q: it must be self-contained", s)
		}
	}
	for _, s := range []string{"NaN", "Inf"} {
		if strings.Contains(page, s) {
			t.Errorf("page contains %q", s)
		}
	}
	if v, _, _ := strings.Cut(r.Verdicts[0], ":"); !strings.Contains(page, `class="verdict better">`+template.HTMLEscapeString(v)) {
		t.Errorf("verdict %q not on the page", r.Verdicts[0])
	}
}
