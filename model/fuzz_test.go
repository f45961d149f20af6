package model

import (
	"math"
	"path/filepath"
	"testing"
)

// FuzzParse feeds mutated model files to Parse: it must return an error or a model
// that scores without panicking, never panic itself.
//
//	go test ./model -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s -fuzzminimizetime 1s
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, pat := range []string{"testdata/parity/*.json", "testdata/parity/*.ubj", "testdata/lightgbm/*.txt"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m...)
	}
	for _, s := range seeds {
		f.Add(readFile(f, s))
	}
	f.Add([]byte(`{"format":"logistic","features":["a"],"intercept":0,"coefficients":{"a":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "")
		if err != nil {
			return
		}
		n := len(m.Features())
		for _, v := range []float64{0, math.NaN(), -1e30, 1e30, 3} {
			x := make([]float64, n)
			for i := range x {
				x[i] = v
			}
			m.Score(x)
			if mm, ok := m.(Multi); ok {
				mm.ScoreAll(nil, x)
			}
		}
	})
}
