package model

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseLightGBM feeds arbitrary bytes to ParseLightGBM, seeded with the golden
// models and the hand-written ones of the tests. A file either fails to parse or
// yields a model whose Score terminates without panicking on any row.
//
//	go test ./model/ -run '^$' -fuzz FuzzParseLightGBM -fuzztime 30s
func FuzzParseLightGBM(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "lightgbm", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		if filepath.Ext(p[:len(p)-len(".txt")]) == ".expected" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(lgbOneSplit("1.5", 8, "")))
	f.Add([]byte(lgbOneSplit("-1.0000000180025095e-35", 4, "")))
	f.Add([]byte(lgbOneSplit("0", 1, "cat_boundaries=0 2\ncat_threshold=10 2")))
	f.Add([]byte(lgbSyntheticModel(2, 7, 3, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseLightGBM(data)
		if err != nil {
			if m != nil {
				t.Fatalf("model and error %v", err)
			}
			return
		}
		info := m.Info()
		if info.Format != "lightgbm" || info.Trees < 1 || info.Classes < 1 {
			t.Fatalf("odd Info %+v", info)
		}
		n := len(m.Features())
		rows := [][]float64{make([]float64, n), make([]float64, n), make([]float64, n)}
		for j := range n {
			rows[0][j] = math.NaN()
			// Values taken from the input itself reach thresholds and categories.
			if len(data) >= 8 {
				off := (j * 8) % (len(data) - 7)
				rows[1][j] = math.Float64frombits(binary.LittleEndian.Uint64(data[off:]))
			}
			rows[2][j] = float64(j%40) - 3
		}
		var all []float64
		for _, x := range rows {
			s := m.Score(x)
			if s2 := m.Score(x); s2 != s && !(math.IsNaN(s) && math.IsNaN(s2)) {
				t.Fatalf("Score not deterministic: %v then %v", s, s2)
			}
			if mm, ok := m.(Multi); ok {
				all = mm.ScoreAll(all[:0], x)
				if len(all) != info.Classes {
					t.Fatalf("ScoreAll gave %d values for %d classes", len(all), info.Classes)
				}
			}
		}
	})
}
