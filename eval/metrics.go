package eval

import (
	"math"
	"slices"
)

// The metric functions below take parallel slices of scores and 0/1 labels
// (NaN scores and unlabeled rows already removed) and follow scikit-learn 1.9's
// definitions, down to tie handling and clipping, so that the parity test
// (eval/testdata/gen_parity.py) can hold them to 1e-9.

// binaryCurve is sklearn's _binary_clf_curve: one point per distinct score,
// in descending score order; tps[i]/fps[i] count the rows with score >= thr[i].
type binaryCurve struct {
	thr      []float64
	tps, fps []float64
}

// order returns the row indices sorted by descending score, ties by row
// index (the order sklearn's stable mergesort gives). It sorts (score, index)
// pairs in place, O(n log n), without an indirection per comparison.
func order(s []float64) []int32 {
	pairs := make([]scoreIndex, len(s))
	for i, v := range s {
		pairs[i] = scoreIndex{v, int32(i)}
	}
	slices.SortFunc(pairs, func(a, b scoreIndex) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return int(a.i - b.i)
	})
	idx := make([]int32, len(s))
	for k, p := range pairs {
		idx[k] = p.i
	}
	return idx
}

type scoreIndex struct {
	s float64
	i int32
}

func newCurve(s []float64, y []int8, idx []int32) binaryCurve {
	var c binaryCurve
	var tp, fp float64
	for k, i := range idx {
		if y[i] == 1 {
			tp++
		} else {
			fp++
		}
		if k == len(idx)-1 || s[idx[k+1]] != s[i] {
			c.thr = append(c.thr, s[i])
			c.tps = append(c.tps, tp)
			c.fps = append(c.fps, fp)
		}
	}
	return c
}

// rocAUC is roc_auc_score: the trapezoid under (fpr, tpr) from (0, 0), ties
// being one diagonal step. ok is false when one class is missing (sklearn
// refuses: "Only one class present in y_true").
func (c binaryCurve) rocAUC() (auc float64, ok bool) {
	n := len(c.thr)
	if n == 0 || c.tps[n-1] == 0 || c.fps[n-1] == 0 {
		return 0, false
	}
	P, N := c.tps[n-1], c.fps[n-1]
	var px, py float64
	for i := range c.thr {
		x, y := c.fps[i]/N, c.tps[i]/P
		auc += (x - px) * (y + py) / 2
		px, py = x, y
	}
	return auc, true
}

// averagePrecision is average_precision_score: Σ (R_k − R_{k−1})·P_k over the
// distinct thresholds in descending order. ok is false without positives.
func (c binaryCurve) averagePrecision() (ap float64, ok bool) {
	n := len(c.thr)
	if n == 0 || c.tps[n-1] == 0 {
		return 0, false
	}
	P := c.tps[n-1]
	var prevR float64
	for i := range c.thr {
		r := c.tps[i] / P
		p := c.tps[i] / (c.tps[i] + c.fps[i])
		ap += (r - prevR) * p
		prevR = r
	}
	return ap, true
}

// Points of the ROC and precision-recall curves for plotting.
func (c binaryCurve) rocPoints() []Point {
	n := len(c.thr)
	if n == 0 || c.tps[n-1] == 0 || c.fps[n-1] == 0 {
		return nil
	}
	pts := []Point{{0, 0}}
	for i := range c.thr {
		pts = append(pts, Point{c.fps[i] / c.fps[n-1], c.tps[i] / c.tps[n-1]})
	}
	return thin(pts, maxCurvePoints)
}

func (c binaryCurve) prPoints() []Point {
	n := len(c.thr)
	if n == 0 || c.tps[n-1] == 0 {
		return nil
	}
	pts := []Point{{0, 1}}
	for i := range c.thr {
		pts = append(pts, Point{c.tps[i] / c.tps[n-1], c.tps[i] / (c.tps[i] + c.fps[i])})
	}
	return thin(pts, maxCurvePoints)
}

// maxCurvePoints bounds what a plotted curve keeps (report size).
const maxCurvePoints = 400

// thin keeps at most max points, evenly spaced by index, always the first and
// the last: deterministic, and enough for a plot of a few hundred pixels.
func thin(p []Point, max int) []Point {
	if len(p) <= max {
		return p
	}
	out := make([]Point, 0, max)
	for k := range max {
		out = append(out, p[k*(len(p)-1)/(max-1)])
	}
	return out
}

// logEps is numpy's float64 machine epsilon: sklearn 1.9's log_loss clips
// probabilities to [eps, 1−eps] with eps = np.finfo(y_proba.dtype).eps.
const logEps = 0x1p-52

func clip(p float64) float64 { return min(max(p, logEps), 1-logEps) }

// logLoss is log_loss(y, p, labels=[0, 1]): the mean of −log of the clipped
// probability of the true class (sklearn clips p and 1−p separately).
func logLoss(s []float64, y []int8) float64 {
	var sum float64
	for i, p := range s {
		if y[i] == 1 {
			sum -= math.Log(clip(p))
		} else {
			sum -= math.Log(clip(1 - p))
		}
	}
	return sum / float64(len(s))
}

// brier is brier_score_loss: the mean squared difference to the label.
func brier(s []float64, y []int8) float64 {
	var sum float64
	for i, p := range s {
		d := float64(y[i]) - p
		sum += d * d
	}
	return sum / float64(len(s))
}

// calibrationEdges are np.linspace(0, 1, CalibrationBins+1): i·(1/n).
func calibrationEdges() []float64 {
	e := make([]float64, CalibrationBins+1)
	step := 1.0 / CalibrationBins
	for i := range e {
		e[i] = float64(i) * step
	}
	e[CalibrationBins] = 1
	return e
}

// calibration is calibration_curve(y, p, n_bins=10, strategy="uniform") with
// the empty bins kept (Count 0) so a plot can show them; bin b holds the
// scores with edge[b] < p <= edge[b+1] (np.searchsorted on the inner edges,
// side="left"), bin 0 also p = 0. ece weights |fraction positive − mean
// predicted| by the share of rows in the bin.
func calibration(s []float64, y []int8) (bins []CalBin, ece float64) {
	e := calibrationEdges()
	inner := e[1:CalibrationBins]
	sum := make([]float64, CalibrationBins)
	pos := make([]float64, CalibrationBins)
	cnt := make([]int64, CalibrationBins)
	for i, p := range s {
		b, _ := slices.BinarySearch(inner, p) // first inner edge >= p
		sum[b] += p
		pos[b] += float64(y[i])
		cnt[b]++
	}
	for b := range CalibrationBins {
		cb := CalBin{Lo: e[b], Hi: e[b+1], Count: cnt[b]}
		if cnt[b] > 0 {
			fp, mp := pos[b]/float64(cnt[b]), sum[b]/float64(cnt[b])
			cb.FractionPositive, cb.MeanPredicted = num(fp), num(mp)
			ece += float64(cnt[b]) / float64(len(s)) * math.Abs(fp-mp)
		}
		bins = append(bins, cb)
	}
	return bins, ece
}

// ranking is one model's rows in ascending score order, prepared for the
// bootstrap: row[k] is the k-th row, pos[k] its label, last[k] whether it ends
// a run of tied scores.
type ranking struct {
	row  []int32
	pos  []bool
	last []bool
}

func newRanking(s []float64, y []int8) ranking {
	desc := order(s)
	n := len(desc)
	r := ranking{row: make([]int32, n), pos: make([]bool, n), last: make([]bool, n)}
	for k := range n {
		i := desc[n-1-k]
		r.row[k], r.pos[k] = i, y[i] == 1
		r.last[k] = k == n-1 || s[desc[n-2-k]] != s[i]
	}
	return r
}

// weightedAUC is the ROC AUC when row i is counted w[i] times (a bootstrap
// resample), ties counting one half: one pass, O(n).
func weightedAUC[W uint8 | int32](r ranking, w []W) (float64, bool) {
	var area float64
	var negBelow, P, N, gp, gn int64
	for k, i := range r.row {
		if r.pos[k] {
			gp += int64(w[i])
		} else {
			gn += int64(w[i])
		}
		if r.last[k] {
			area += float64(gp) * (float64(negBelow) + float64(gn)/2)
			negBelow += gn
			P, N = P+gp, N+gn
			gp, gn = 0, 0
		}
	}
	if P == 0 || N == 0 {
		return 0, false
	}
	return area / (float64(P) * float64(N)), true
}
