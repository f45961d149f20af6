package model

import (
	"bufio"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// parityTol is the largest |go − python| accepted per row. XGBoost computes in
// float32, so the Go code has to follow it node for node to stay inside.
const parityTol = 1e-6

// readRows reads a parity CSV: header = feature names, empty cell = missing.
func readRows(t testing.TB, path string) ([]string, [][]float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) < 2 {
		t.Fatalf("%s: no rows", path)
	}
	var rows [][]float64
	for _, r := range recs[1:] {
		row := make([]float64, len(r))
		for i, c := range r {
			if c == "" {
				row[i] = math.NaN()
				continue
			}
			if row[i], err = strconv.ParseFloat(c, 64); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		rows = append(rows, row)
	}
	return recs[0], rows
}

func readExpected(t testing.TB, path string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var vals []float64
		for _, s := range strings.Fields(sc.Text()) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			vals = append(vals, v)
		}
		out = append(out, vals)
	}
	return out
}

// parityCases lists the model files of testdata/parity (written by gen_parity.py).
func parityCases(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, ext := range []string{"*.json", "*.ubj"} {
		m, err := filepath.Glob(filepath.Join("testdata", "parity", ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found %d parity models in testdata/parity; run gen_parity.py", len(files))
	}
	return files
}

// align maps the CSV's columns to the model's feature order.
func align(t testing.TB, m Model, header []string, rows [][]float64) [][]float64 {
	t.Helper()
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[h] = i
	}
	out := make([][]float64, len(rows))
	for r, row := range rows {
		x := make([]float64, len(m.Features()))
		for i, f := range m.Features() {
			c, ok := col[f]
			if !ok {
				t.Fatalf("rows lack feature %q", f)
			}
			x[i] = row[c]
		}
		out[r] = x
	}
	return out
}

func TestParity(t *testing.T) {
	for _, file := range parityCases(t) {
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		t.Run(name, func(t *testing.T) {
			m, err := Load(file, "")
			if err != nil {
				t.Fatal(err)
			}
			stem := strings.TrimSuffix(file, filepath.Ext(file))
			header, rows := readRows(t, stem+".rows.csv")
			want := readExpected(t, stem+".expected.txt")
			if len(want) != len(rows) || len(rows) == 0 {
				t.Fatalf("%d rows, %d expected lines", len(rows), len(want))
			}
			xs := align(t, m, header, rows)
			for r, x := range xs {
				var got []float64
				if mm, ok := m.(Multi); ok && m.Info().Classes > 1 {
					got = mm.ScoreAll(nil, x)
					if s := m.Score(x); s != got[m.Info().ScoreClass] {
						t.Errorf("row %d: Score %v != ScoreAll[%d] %v", r, s, m.Info().ScoreClass, got[m.Info().ScoreClass])
					}
				} else {
					got = []float64{m.Score(x)}
				}
				if len(got) != len(want[r]) {
					t.Fatalf("row %d: %d outputs, want %d", r, len(got), len(want[r]))
				}
				for k := range got {
					if d := math.Abs(got[k] - want[r][k]); !(d <= parityTol) {
						t.Errorf("row %d output %d: go %.17g python %.17g (diff %.3g)", r, k, got[k], want[r][k], d)
					}
				}
			}
		})
	}
}
