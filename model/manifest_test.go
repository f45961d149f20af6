package model

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManifestBad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "manifest", "*.bad.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("bad manifests: %d files, %v", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, err = LoadManifest(f)
			if err == nil {
				t.Fatal("no error")
			}
			if w := strings.TrimSpace(string(want)); !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q\nwant it to contain %q", err, w)
			}
			if !strings.Contains(err.Error(), f) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestManifestGood(t *testing.T) {
	m, err := LoadManifest(filepath.Join("testdata", "manifest", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "m" || m.Version != "1" || len(m.Features) != 2 || m.Features[1].Type != FeatureCategorical {
		t.Errorf("decoded %+v", m)
	}
	if got, want := m.ModelPath(), filepath.Join("testdata", "manifest", "model.json"); got != want {
		t.Errorf("ModelPath = %q, want %q", got, want)
	}
	if r := m.Reference; r == nil || !math.IsInf(r.Buckets[1], 1) || r.Shares[1] != 0.75 {
		t.Errorf("reference %+v", m.Reference)
	}
	if v, ok := m.Golden[0].Features["b"]; !ok || v != nil {
		t.Errorf("golden null: %v %v, want a present nil", v, ok)
	}
}

// The fraud example's golden rows are xgboost's own predictions (expected.txt),
// so the model must reproduce them and a changed score must not.
func TestManifestFraudExample(t *testing.T) {
	dir := filepath.Join("..", "examples", "fraud")
	man, err := LoadManifest(filepath.Join(dir, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := man.ModelPath(), filepath.Join(dir, "model.json"); got != want {
		t.Fatalf("ModelPath = %q, want %q", got, want)
	}
	m, err := Load(man.ModelPath(), man.Format)
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Golden) < 5 {
		t.Fatalf("%d golden rows", len(man.Golden))
	}
	if err := man.CheckModel(m); err != nil {
		t.Fatalf("CheckModel: %v", err)
	}

	cases := []struct {
		name   string
		change func(*Manifest)
		want   string
	}{
		{"score off", func(m *Manifest) { m.Golden[1].Score += 2e-6 }, "golden rows: 1 of 5 do not reproduce: golden[1]: score"},
		{"feature value off", func(m *Manifest) { *m.Golden[0].Features["count_1h"] = 1 }, "golden[0]: score"},
		{"row lacks a feature", func(m *Manifest) { delete(m.Golden[2].Features, "hour") }, `golden[2].features: no value for "hour"`},
		{"feature undeclared", func(m *Manifest) { m.Features = m.Features[1:] }, "does not declare: amount"},
		{"format", func(m *Manifest) { m.Format = FormatLightGBM }, `format: manifest says "lightgbm", the model file is "xgboost"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			man, err := LoadManifest(filepath.Join(dir, "manifest.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			c.change(man)
			err = man.CheckModel(m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckModel = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// A logistic model rejects a missing input, so a golden row with null fails
// through Checker rather than scoring NaN.
func TestManifestGoldenChecker(t *testing.T) {
	doc := `{"format":"logistic","features":["a"],"intercept":0,"coefficients":{"a":1}}`
	m, err := Parse([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	man, err := ParseManifest([]byte("name: l\nversion: '1'\nmodel: l.json\nfeatures: [{name: a}]\n" +
		"golden:\n  - features: {a: 0}\n    score: 0.5\n  - features: {a: null}\n    score: 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = man.CheckGolden(m)
	if err == nil || !strings.Contains(err.Error(), "golden[1]:") || strings.Contains(err.Error(), "golden[0]") {
		t.Fatalf("CheckGolden = %v, want golden[1] (missing a) only", err)
	}
}

// go test ./model -run '^$' -fuzz FuzzParseManifest -fuzztime 30s
func FuzzParseManifest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "manifest", "*.yaml"))
	files = append(files, filepath.Join("..", "examples", "fraud", "manifest.yaml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	doc := []byte(`{"format":"logistic","features":["a"],"intercept":0,"coefficients":{"a":1}}`)
	m, err := Parse(doc, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		man, err := ParseManifest(data)
		if err != nil {
			return
		}
		_ = man.CheckModel(m) // must not panic
		if p := man.Profile; p != nil {
			// A profile that loads bins every value into one of its bins (or
			// unseen, -1, for a categorical one): the drift counters index by it.
			dists := []*Dist{p.Score}
			for i := range p.Features {
				dists = append(dists, &p.Features[i].Dist)
			}
			for _, d := range dists {
				for _, x := range []float64{math.Inf(-1), -1, 0, 0.5, 1, 1e9, math.Inf(1)} {
					if b := d.Bin(x); b < -1 || b >= d.Bins() || (b == -1 && !d.Categorical()) {
						t.Fatalf("Bin(%v) = %d of %d bins (edges %v, values %v)", x, b, d.Bins(), d.Edges, d.Values)
					}
				}
			}
		}
	})
}

func TestManifestProfile(t *testing.T) {
	m, err := LoadManifest(filepath.Join("testdata", "manifest", "profile.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Profile
	if p == nil || p.Score == nil || len(p.Features) != 2 {
		t.Fatalf("profile %+v", p)
	}
	a, b := p.Feature("a"), p.Feature("b")
	if a == nil || b == nil || p.Feature("zz") != nil {
		t.Fatalf("Feature lookups: %v %v", a, b)
	}
	if a.Categorical() || !b.Categorical() || a.Missing != 0.02 {
		t.Errorf("a %+v, b %+v", a, b)
	}
	// Bins are (lo, hi]: a value equal to an edge falls in the bin it closes.
	for _, c := range []struct {
		d    *Dist
		x    float64
		want int
	}{
		{&a.Dist, 0.5, 0}, {&a.Dist, 1, 0}, {&a.Dist, 1.0001, 1}, {&a.Dist, 3, 2}, {&a.Dist, 3.5, 3}, {&a.Dist, math.Inf(-1), 0}, {&a.Dist, math.Inf(1), 3},
		{&b.Dist, 0, 0}, {&b.Dist, 2, 2}, {&b.Dist, 7, -1}, {&b.Dist, 0.5, -1},
		{p.Score, 0.1, 0}, {p.Score, 0.3, 1}, {p.Score, 0.99, 2},
	} {
		if got := c.d.Bin(c.x); got != c.want {
			t.Errorf("Bin(%v) = %d, want %d (edges %v values %v)", c.x, got, c.want, c.d.Edges, c.d.Values)
		}
	}
	// A manifest without a profile still loads.
	ok, err := LoadManifest(filepath.Join("testdata", "manifest", "ok.yaml"))
	if err != nil || ok.Profile != nil {
		t.Fatalf("ok.yaml: %v, profile %v", err, ok.Profile)
	}
}
