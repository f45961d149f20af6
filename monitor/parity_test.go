package monitor

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestAUCParity checks ROCAUC, PRAUC and PrecisionRecall against scikit-learn
// on the same bins (testdata/auc_golden.json, written by testdata/gen_auc.py
// with the project's pinned venv).
func TestAUCParity(t *testing.T) {
	b, err := os.ReadFile("testdata/auc_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Name      string
			Pos, Neg  []float64
			ROCAUC    float64    `json:"roc_auc"`
			PRAUC     float64    `json:"pr_auc"`
			Precision []*float64 `json:"precision"`
			Recall    []float64  `json:"recall"`
		}
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) < 10 {
		t.Fatalf("%d cases, want the full golden", len(golden.Cases))
	}
	const tol = 1e-9
	near := func(got, want float64) bool { return math.Abs(got-want) <= tol }
	for _, c := range golden.Cases {
		if got := ROCAUC(c.Pos, c.Neg); !near(got, c.ROCAUC) {
			t.Errorf("%s: ROC AUC %.15g, scikit-learn %.15g", c.Name, got, c.ROCAUC)
		}
		if got := PRAUC(c.Pos, c.Neg); !near(got, c.PRAUC) {
			t.Errorf("%s: PR AUC %.15g, scikit-learn %.15g", c.Name, got, c.PRAUC)
		}
		for k := range c.Pos {
			p, r := PrecisionRecall(c.Pos, c.Neg, k)
			switch want := c.Precision[k]; {
			case want == nil && !math.IsNaN(p):
				t.Errorf("%s bin %d: precision %v, want NaN (nothing flagged)", c.Name, k, p)
			case want != nil && !near(p, *want):
				t.Errorf("%s bin %d: precision %.15g, scikit-learn %.15g", c.Name, k, p, *want)
			}
			if !near(r, c.Recall[k]) {
				t.Errorf("%s bin %d: recall %.15g, scikit-learn %.15g", c.Name, k, r, c.Recall[k])
			}
		}
	}
}
