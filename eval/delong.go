package eval

import (
	"math"
	"slices"
)

// delong is DeLong, DeLong & Clarke-Pearson (1988) for two correlated ROC
// AUCs on the same rows, computed with midranks as in Sun & Xu (2014),
// O(n log n): it returns ΔAUC = auc(b) − auc(a) and its variance. ok is false
// when a class is missing.
func delong(a, b []float64, y []int8) (delta, variance float64, ok bool) {
	var pos, neg []int
	for i, l := range y {
		if l == 1 {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	m, n := len(pos), len(neg)
	if m == 0 || n == 0 {
		return 0, 0, false
	}
	// v10[k][i]: the share of negatives model k ranks below positive i (ties
	// one half); v01[k][j]: the share of positives ranked above negative j.
	var v10, v01 [2][]float64
	var auc [2]float64
	for k, s := range [][]float64{a, b} {
		all := midranks(s, nil)
		px := midranks(s, pos)
		ny := midranks(s, neg)
		v10[k] = make([]float64, m)
		for i, r := range pos {
			v10[k][i] = (all[r] - px[i]) / float64(n)
			auc[k] += v10[k][i]
		}
		auc[k] /= float64(m)
		v01[k] = make([]float64, n)
		for j, r := range neg {
			v01[k][j] = 1 - (all[r]-ny[j])/float64(m)
		}
	}
	s10, s01 := cov2(v10), cov2(v01)
	variance = (s10[0][0]+s10[1][1]-2*s10[0][1])/float64(m) + (s01[0][0]+s01[1][1]-2*s01[0][1])/float64(n)
	return auc[1] - auc[0], math.Max(variance, 0), true
}

// midranks are the 1-based ranks of s[rows[i]] among s[rows] (all of s when
// rows is nil), ties sharing their mean rank.
func midranks(s []float64, rows []int) []float64 {
	if rows == nil {
		rows = make([]int, len(s))
		for i := range rows {
			rows[i] = i
		}
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(p, q int) int {
		switch x, z := s[rows[p]], s[rows[q]]; {
		case x < z:
			return -1
		case x > z:
			return 1
		}
		return p - q
	})
	out := make([]float64, len(rows))
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && s[rows[idx[j]]] == s[rows[idx[i]]] {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1 … j
		for k := i; k < j; k++ {
			out[idx[k]] = r
		}
		i = j
	}
	return out
}

// cov2 is the 2×2 sample covariance (n−1) of two equally long series.
func cov2(v [2][]float64) [2][2]float64 {
	var c [2][2]float64
	n := len(v[0])
	if n < 2 {
		return c
	}
	var mean [2]float64
	for k := range 2 {
		for _, x := range v[k] {
			mean[k] += x
		}
		mean[k] /= float64(n)
	}
	for i := range n {
		d0, d1 := v[0][i]-mean[0], v[1][i]-mean[1]
		c[0][0] += d0 * d0
		c[1][1] += d1 * d1
		c[0][1] += d0 * d1
	}
	for _, p := range [][2]int{{0, 0}, {1, 1}, {0, 1}} {
		c[p[0]][p[1]] /= float64(n - 1)
	}
	c[1][0] = c[0][1]
	return c
}

// z975 is the 97.5th percentile of the standard normal distribution.
const z975 = 1.959963984540054
