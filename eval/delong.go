package eval

import (
	"math"
)

// delong is DeLong, DeLong & Clarke-Pearson (1988) for two correlated ROC
// AUCs on the same rows, computed with midranks as in Sun & Xu (2014),
// O(n log n): it returns ΔAUC = auc(b) − auc(a) and its variance. ok is false
// when a class is missing.
func delong(a, b []float64, y []int8) (delta, variance float64, ok bool) {
	m := 0
	for _, l := range y {
		m += int(l)
	}
	n := len(y) - m
	if m == 0 || n == 0 {
		return 0, 0, false
	}
	// v10[k][i]: the share of negatives model k ranks below positive i (ties
	// one half) = (midrank among all − midrank among positives) / n;
	// v01[k][j]: the share of positives ranked above negative j.
	var v10, v01 [2][]float64
	for k, s := range [][]float64{a, b} {
		all, within := midranks(s, y)
		v10[k], v01[k] = make([]float64, 0, m), make([]float64, 0, n)
		for i, l := range y {
			if l == 1 {
				v10[k] = append(v10[k], (all[i]-within[i])/float64(n))
			} else {
				v01[k] = append(v01[k], 1-(all[i]-within[i])/float64(m))
			}
		}
	}
	var auc [2]float64
	for k := range 2 {
		for _, v := range v10[k] {
			auc[k] += v
		}
		auc[k] /= float64(m)
	}
	s10, s01 := cov2(v10), cov2(v01)
	variance = (s10[0][0]+s10[1][1]-2*s10[0][1])/float64(m) + (s01[0][0]+s01[1][1]-2*s01[0][1])/float64(n)
	return auc[1] - auc[0], math.Max(variance, 0), true
}

// midranks returns, for every row, its 1-based rank among all rows and
// among the rows of its own class, tied scores sharing their mean rank: one
// sort of (score, index) pairs.
func midranks(s []float64, y []int8) (all, within []float64) {
	desc := order(s)
	all, within = make([]float64, len(s)), make([]float64, len(s))
	var before, beforePos, beforeNeg int // rows ranked below the current run of ties
	for hi := len(desc); hi > 0; {
		lo := hi - 1
		for lo > 0 && s[desc[lo-1]] == s[desc[hi-1]] {
			lo--
		}
		g, gp := hi-lo, 0
		for _, i := range desc[lo:hi] {
			gp += int(y[i])
		}
		gn := g - gp
		for _, i := range desc[lo:hi] {
			all[i] = float64(before) + float64(g+1)/2
			if y[i] == 1 {
				within[i] = float64(beforePos) + float64(gp+1)/2
			} else {
				within[i] = float64(beforeNeg) + float64(gn+1)/2
			}
		}
		before, beforePos, beforeNeg = before+g, beforePos+gp, beforeNeg+gn
		hi = lo
	}
	return all, within
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
