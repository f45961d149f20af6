package drift

import (
	"fmt"
	"math"
	"slices"

	"github.com/scorestream/scorestream/model"
)

// Build computes a reference profile from reference rows: rows[i][j] is input j
// (defs[j]) of row i, NaN when missing; scores[i] is the model's score of row i.
// Numeric inputs and the score get bins quantile bins (inner edges at the
// k/bins quantiles, numpy's default linear interpolation, repeated edges
// merged); categorical ones (model.FeatureCategorical) their values' shares. It
// is the Go twin of examples/profile.py, which users run on their training data;
// the demo uses it on its generator's stream.
func Build(defs []model.FeatureDef, rows [][]float64, scores []float64, bins int) (*model.Profile, error) {
	if bins < 1 {
		return nil, fmt.Errorf("drift: bins: must be >= 1, got %d", bins)
	}
	if len(rows) != len(scores) || len(rows) == 0 {
		return nil, fmt.Errorf("drift: %d rows and %d scores (want as many, at least one)", len(rows), len(scores))
	}
	p := &model.Profile{Count: len(rows)}
	score := numeric(scores, bins)
	p.Score = &score
	col := make([]float64, len(rows))
	for j, d := range defs {
		for i, r := range rows {
			col[i] = r[j]
		}
		var dist model.Dist
		if d.Type == model.FeatureCategorical {
			dist = categorical(col)
		} else {
			dist = numeric(col, bins)
		}
		p.Features = append(p.Features, model.FeatureDist{Name: d.Name, Dist: dist})
	}
	return p, nil
}

func present(xs []float64) (vals []float64, missing float64) {
	vals = make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			vals = append(vals, x)
		}
	}
	return vals, float64(len(xs)-len(vals)) / float64(len(xs))
}

func numeric(xs []float64, bins int) model.Dist {
	vals, missing := present(xs)
	d := model.Dist{Missing: missing}
	if len(vals) == 0 {
		return model.Dist{Proportions: []float64{1}, Missing: missing}
	}
	slices.Sort(vals)
	for k := 1; k < bins; k++ {
		e := quantile(vals, float64(k)/float64(bins))
		if n := len(d.Edges); n == 0 || e > d.Edges[n-1] {
			d.Edges = append(d.Edges, e)
		}
	}
	counts := make([]float64, len(d.Edges)+1)
	for _, v := range vals {
		counts[d.Bin(v)]++
	}
	d.Proportions = shares(counts)
	return d
}

// quantile is numpy.quantile(sorted, q) with the default linear method.
func quantile(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

func categorical(xs []float64) model.Dist {
	vals, missing := present(xs)
	d := model.Dist{Missing: missing}
	if len(vals) == 0 {
		return model.Dist{Proportions: []float64{1}, Missing: missing}
	}
	slices.Sort(vals)
	var counts []float64
	for i, v := range vals {
		if i == 0 || v != vals[i-1] {
			d.Values = append(d.Values, v)
			counts = append(counts, 0)
		}
		counts[len(counts)-1]++
	}
	d.Proportions = shares(counts)
	return d
}

func shares(counts []float64) []float64 {
	t := sum(counts)
	out := make([]float64, len(counts))
	for i, c := range counts {
		out[i] = c / t
	}
	return out
}
