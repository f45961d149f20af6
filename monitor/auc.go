package monitor

import "math"

// Bins counts scores in n equal-width bins on [0, 1]: bin i holds scores in
// [i/n, (i+1)/n), the last bin also 1; scores below 0 fall in the first bin and
// above 1 in the last (a calibrated classifier's scores are in [0, 1]).
func Bin(score float64, n int) int {
	i := int(math.Floor(score * float64(n)))
	switch {
	case i < 0 || math.IsNaN(score):
		return 0
	case i >= n:
		return n - 1
	}
	return i
}

// ROCAUC is the area under the ROC curve of scores binned per class: pos[i] and
// neg[i] count the positives and negatives in bin i, bins in ascending score
// order. Scores in one bin are ties (each tie counts one half), which is what
// scikit-learn's roc_auc_score gives for the bin index as the score with the
// counts as sample weights. NaN without both classes.
func ROCAUC(pos, neg []float64) float64 {
	var p, n, below, sum float64
	for i := range pos {
		sum += pos[i] * (below + neg[i]/2)
		below += neg[i]
		p += pos[i]
	}
	n = below
	if p == 0 || n == 0 {
		return math.NaN()
	}
	return sum / (p * n)
}

// PRAUC is the area under the precision-recall curve as average precision,
// Σ (R_k − R_{k−1}) · P_k over the bins as thresholds from the highest down
// (scikit-learn's average_precision_score on the bin index with the counts as
// sample weights; no interpolation). NaN without positives.
func PRAUC(pos, neg []float64) float64 {
	var p float64
	for _, v := range pos {
		p += v
	}
	if p == 0 {
		return math.NaN()
	}
	var tp, fp, ap, prevRecall float64
	for i := len(pos) - 1; i >= 0; i-- {
		if pos[i] == 0 && neg[i] == 0 {
			continue
		}
		tp += pos[i]
		fp += neg[i]
		recall := tp / p
		ap += (recall - prevRecall) * tp / (tp + fp)
		prevRecall = recall
	}
	return ap
}

// PrecisionRecall is the precision and recall of flagging every score in bin k
// and above: precision = TP/(TP+FP) (NaN when nothing is flagged), recall =
// TP/positives (NaN without positives).
func PrecisionRecall(pos, neg []float64, k int) (precision, recall float64) {
	var tp, fp, p float64
	for i := range pos {
		p += pos[i]
		if i >= k {
			tp += pos[i]
			fp += neg[i]
		}
	}
	return ratio(tp, tp+fp), ratio(tp, p)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
