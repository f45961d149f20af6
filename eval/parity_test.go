package eval

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// The golden eval/testdata/parity.json is written by gen_parity.py with
// scikit-learn; scripts/test.sh regenerates it with the pinned live library and
// runs this test again against the regenerated file.

type parityDoc struct {
	Sklearn  string          `json:"sklearn"`
	Datasets []parityDataset `json:"datasets"`
}

type parityDataset struct {
	Name    string `json:"name"`
	Options struct {
		Unlabeled string `json:"unlabeled"`
	} `json:"options"`
	Rows []struct {
		Label   int8       `json:"label"`
		Scores  []*float64 `json:"scores"`
		Segment string     `json:"segment"`
		Time    int64      `json:"time"`
	} `json:"rows"`
	Want struct {
		Models   []parityMetrics            `json:"models"`
		Segments map[string][]parityMetrics `json:"segments"`
		Compare  []struct {
			Paired       int64    `json:"paired"`
			DeltaAUC     *float64 `json:"delta_auc"`
			DeLongCILow  *float64 `json:"delong_ci_low"`
			DeLongCIHigh *float64 `json:"delong_ci_high"`
		} `json:"compare"`
	} `json:"want"`
}

type parityMetrics struct {
	N                int64     `json:"n"`
	Positives        int64     `json:"positives"`
	BaseRate         *float64  `json:"base_rate"`
	ROCAUC           *float64  `json:"roc_auc"`
	PRAUC            *float64  `json:"pr_auc"`
	LogLoss          *float64  `json:"log_loss"`
	Brier            *float64  `json:"brier"`
	ECE              *float64  `json:"ece"`
	CalibrationTrue  []float64 `json:"calibration_true"`
	CalibrationPred  []float64 `json:"calibration_pred"`
	CalibrationCount []int64   `json:"calibration_count"`
}

const parityTol = 1e-9

func loadParity(t *testing.T) parityDoc {
	t.Helper()
	b, err := os.ReadFile("testdata/parity.json")
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	var doc parityDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	if len(doc.Datasets) == 0 {
		t.Fatal("golden has no datasets")
	}
	return doc
}

func (d parityDataset) report(t *testing.T) *Report {
	t.Helper()
	models := make([]Model, len(d.Want.Models))
	for i := range models {
		models[i] = Model{Name: string(rune('a' + i))}
	}
	acc := New(models, Options{Unlabeled: d.Options.Unlabeled, Bootstrap: 50})
	for _, r := range d.Rows {
		row := Row{Label: r.Label, Segment: r.Segment, EventTime: r.Time, Scores: make([]float64, len(r.Scores))}
		for m, s := range r.Scores {
			row.Scores[m] = math.NaN()
			if s != nil {
				row.Scores[m] = *s
			}
		}
		acc.Add(row)
	}
	rep, err := acc.Report(Provenance{})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return rep
}

func TestParityWithScikitLearn(t *testing.T) {
	doc := loadParity(t)
	t.Logf("golden from scikit-learn %s", doc.Sklearn)
	for _, d := range doc.Datasets {
		t.Run(d.Name, func(t *testing.T) {
			rep := d.report(t)
			// Compare through JSON, as a reader of report.json sees it.
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var got Report
			if err := json.Unmarshal(b, &struct {
				Models      *[]ModelReport   `json:"models"`
				Segments    *[]SegmentReport `json:"segments"`
				Comparisons *[]Comparison    `json:"comparisons"`
			}{&got.Models, &got.Segments, &got.Comparisons}); err != nil {
				t.Fatalf("unmarshal report.json: %v", err)
			}
			for m, want := range d.Want.Models {
				mr := got.Models[m]
				compareMetrics(t, "model "+mr.Model.Name, mr.Metrics, want)
				compareCalibration(t, "model "+mr.Model.Name, mr.Calibration, want)
			}
			if len(got.Comparisons) != len(d.Want.Compare) {
				t.Fatalf("%d comparisons, golden %d", len(got.Comparisons), len(d.Want.Compare))
			}
			for i, want := range d.Want.Compare {
				c := got.Comparisons[i]
				if c.Paired != want.Paired {
					t.Errorf("%s vs %s: %d paired rows, golden %d", c.Challenger, c.Champion, c.Paired, want.Paired)
				}
				for _, v := range []struct {
					name      string
					got, want *float64
				}{{"ΔAUC", c.DeltaAUC, want.DeltaAUC}, {"DeLong CI low", c.DeLongCILow, want.DeLongCILow}, {"DeLong CI high", c.DeLongCIHigh, want.DeLongCIHigh}} {
					checkClose(t, c.Challenger+" vs "+c.Champion+": "+v.name, v.got, v.want)
				}
			}
			if len(d.Want.Segments) > 1 {
				seen := 0
				for _, sr := range got.Segments {
					want, ok := d.Want.Segments[sr.Segment]
					if !ok {
						t.Errorf("segment %q not in the golden", sr.Segment)
						continue
					}
					seen++
					for m := range want {
						compareMetrics(t, "segment "+sr.Segment+" model "+got.Models[m].Model.Name, sr.Models[m], want[m])
					}
				}
				if seen != len(d.Want.Segments) {
					t.Errorf("report has %d of the golden's %d segments", seen, len(d.Want.Segments))
				}
			}
		})
	}
}

func compareMetrics(t *testing.T, what string, got Metrics, want parityMetrics) {
	t.Helper()
	if got.N != want.N || got.Positives != want.Positives {
		t.Errorf("%s: n=%d positives=%d, sklearn's rows n=%d positives=%d", what, got.N, got.Positives, want.N, want.Positives)
	}
	for _, c := range []struct {
		name      string
		got, want *float64
	}{
		{"base rate", got.BaseRate, want.BaseRate},
		{"roc_auc_score", got.ROCAUC, want.ROCAUC},
		{"average_precision_score", got.PRAUC, want.PRAUC},
		{"log_loss", got.LogLoss, want.LogLoss},
		{"brier_score_loss", got.Brier, want.Brier},
		{"ece (from calibration_curve)", got.ECE, want.ECE},
	} {
		checkClose(t, what+": "+c.name, c.got, c.want)
	}
}

func checkClose(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s = %v, golden: undefined", what, *got)
	case want != nil && got == nil:
		t.Errorf("%s undefined, golden: %v", what, *want)
	case want != nil && math.Abs(*got-*want) > parityTol:
		t.Errorf("%s = %.17g, golden %.17g (diff %.3g)", what, *got, *want, *got-*want)
	}
}

func compareCalibration(t *testing.T, what string, got []CalBin, want parityMetrics) {
	t.Helper()
	var nonEmpty []CalBin
	for _, b := range got {
		if b.Count > 0 {
			nonEmpty = append(nonEmpty, b)
		}
	}
	if len(nonEmpty) != len(want.CalibrationTrue) {
		t.Errorf("%s: %d non-empty calibration bins, calibration_curve %d", what, len(nonEmpty), len(want.CalibrationTrue))
		return
	}
	for i, b := range nonEmpty {
		if b.Count != want.CalibrationCount[i] ||
			math.Abs(*b.FractionPositive-want.CalibrationTrue[i]) > parityTol ||
			math.Abs(*b.MeanPredicted-want.CalibrationPred[i]) > parityTol {
			t.Errorf("%s: calibration bin [%v, %v]: count %d prob_true %v prob_pred %v; sklearn count %d prob_true %v prob_pred %v",
				what, b.Lo, b.Hi, b.Count, *b.FractionPositive, *b.MeanPredicted,
				want.CalibrationCount[i], want.CalibrationTrue[i], want.CalibrationPred[i])
		}
	}
}
