package drift

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/model"
)

// TestBuildMatchesPython: the fraud example's profile was written by
// examples/profile.py (numpy) from holdout.csv and expected.txt; Build on the
// same rows must give the same edges, values and proportions.
func TestBuildMatchesPython(t *testing.T) {
	dir := filepath.Join("..", "examples", "fraud")
	man, err := model.LoadManifest(filepath.Join(dir, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if man.Profile == nil {
		t.Fatal("the fraud manifest has no profile")
	}
	f, err := os.Open(filepath.Join(dir, "holdout.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header, recs := recs[0], recs[1:]
	rows := make([][]float64, len(recs))
	for i, r := range recs {
		rows[i] = make([]float64, len(r))
		for j, v := range r {
			rows[i][j] = math.NaN()
			if v != "" {
				if rows[i][j], err = strconv.ParseFloat(v, 64); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var scores []float64
	for _, s := range strings.Fields(string(b)) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		scores = append(scores, v)
	}
	defs := make([]model.FeatureDef, len(header))
	for j, h := range header {
		for _, d := range man.Features {
			if d.Name == h {
				defs[j] = d
			}
		}
	}
	got, err := Build(defs, rows, scores, model.DefaultProfileBins)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string, a, b []float64) {
		if len(a) != len(b) {
			t.Errorf("%s: go %v, python %v", what, a, b)
			return
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-12*max(1, math.Abs(b[i])) {
				t.Errorf("%s[%d]: go %v, python %v", what, i, a[i], b[i])
			}
		}
	}
	cmp := func(name string, g, w *model.Dist) {
		same(name+".edges", g.Edges, w.Edges)
		same(name+".values", g.Values, w.Values)
		same(name+".proportions", g.Proportions, w.Proportions)
		same(name+".missing", []float64{g.Missing}, []float64{w.Missing})
	}
	cmp("score", got.Score, man.Profile.Score)
	if len(got.Features) != len(man.Profile.Features) {
		t.Fatalf("%d features, python %d", len(got.Features), len(man.Profile.Features))
	}
	for i := range got.Features {
		cmp(got.Features[i].Name, &got.Features[i].Dist, &man.Profile.Features[i].Dist)
	}
}

// TestPSIKSMatchNumpy compares PSI and KS with numpy's on the same bins
// (drift/testdata/parity.py wrote the goldens), to 1e-9.
func TestPSIKSMatchNumpy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "parity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Floor float64 `json:"floor"`
		Cases []struct {
			Ref     []float64 `json:"ref"`
			Counts  []float64 `json:"counts"`
			PSI, KS float64
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g.Floor != PSIFloor || len(g.Cases) < 20 {
		t.Fatalf("goldens: floor %v (want %v), %d cases", g.Floor, PSIFloor, len(g.Cases))
	}
	for i, c := range g.Cases {
		if got := PSI(c.Ref, c.Counts); math.Abs(got-c.PSI) > 1e-9 {
			t.Errorf("case %d: PSI %.17g, numpy %.17g", i, got, c.PSI)
		}
		if got := KS(c.Ref, c.Counts); math.Abs(got-c.KS) > 1e-9 {
			t.Errorf("case %d: KS %.17g, numpy %.17g", i, got, c.KS)
		}
	}
}
