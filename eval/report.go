package eval

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Report is the evaluation of one run. Undefined values (an AUC with one class,
// a precision with no alert) are nil pointers, written as JSON null, never NaN.
type Report struct {
	Verdicts    []string        `json:"verdicts"` // the headline, one line per comparison (or per model)
	Notes       []string        `json:"notes"`
	Options     ReportOptions   `json:"options"`
	Events      int64           `json:"events"`    // rows evaluated
	Unlabeled   int64           `json:"unlabeled"` // rows without a label in the input
	Labelled    int64           `json:"labelled"`  // rows with a label after the unlabeled policy
	Positives   int64           `json:"positives"`
	Models      []ModelReport   `json:"models"`
	Comparisons []Comparison    `json:"comparisons"`
	Segments    []SegmentReport `json:"segments"`
	OverTime    TimeReport      `json:"over_time"`
	Provenance  Provenance      `json:"provenance"`
}

// ReportOptions are the options the report was made with, defaults applied.
type ReportOptions struct {
	Unlabeled       string  `json:"unlabeled"`
	CostFP          float64 `json:"cost_fp"`
	CostFN          float64 `json:"cost_fn"`
	Bootstrap       int     `json:"bootstrap"` // < 0: none, DeLong's interval decides
	Seed            int64   `json:"seed"`
	TimeBucket      string  `json:"time_bucket"`
	CalibrationBins int     `json:"calibration_bins"`
}

// Metrics are the threshold-free metrics of one model on one set of rows
// (labelled rows with a score), as scikit-learn computes them.
type Metrics struct {
	N         int64    `json:"n"`
	Positives int64    `json:"positives"`
	BaseRate  *float64 `json:"base_rate"`
	ROCAUC    *float64 `json:"roc_auc"`        // roc_auc_score
	PRAUC     *float64 `json:"pr_auc"`         // average_precision_score
	LogLoss   *float64 `json:"log_loss"`       // log_loss, labels=[0, 1]
	Brier     *float64 `json:"brier"`          // brier_score_loss
	ECE       *float64 `json:"ece"`            // expected calibration error over CalibrationBins uniform bins
	MeanScore *float64 `json:"mean_score"`     // mean score of the rows
	Note      string   `json:"note,omitempty"` // why a metric is null
}

// ModelReport is everything about one model.
type ModelReport struct {
	Model       Model          `json:"model"`
	Scored      int64          `json:"scored"`     // rows with a score
	NaNScores   int64          `json:"nan_scores"` // rows the model failed on (excluded from its metrics)
	Metrics     Metrics        `json:"metrics"`
	Calibration []CalBin       `json:"calibration"` // reliability diagram; calibration_curve keeps the bins with Count > 0
	Thresholds  []ThresholdRow `json:"thresholds"`
	Decisions   []DecisionRow  `json:"decisions"`
	Cost        *CostTable     `json:"cost,omitempty"`
	Histogram   Histogram      `json:"histogram"`
	ROC         []Point        `json:"roc_curve"` // (fpr, tpr), thinned to at most a few hundred points
	PR          []Point        `json:"pr_curve"`  // (recall, precision)
	Notes       []string       `json:"notes"`
}

// Point is one point of a plotted curve.
type Point struct{ X, Y float64 }

// MarshalJSON writes a point as [x, y].
func (p Point) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%s,%s]", jsonFloat(p.X), jsonFloat(p.Y)), nil
}

// CalBin is one bin of the reliability diagram.
type CalBin struct {
	Lo               float64  `json:"lo"`
	Hi               float64  `json:"hi"`
	Count            int64    `json:"count"`
	MeanPredicted    *float64 `json:"mean_predicted"`    // calibration_curve's prob_pred
	FractionPositive *float64 `json:"fraction_positive"` // calibration_curve's prob_true
}

// ThresholdRow is the confusion matrix when every score >= MinScore alerts
// (the decision at this threshold or a higher one).
type ThresholdRow struct {
	Decision  string   `json:"decision"`
	MinScore  Score    `json:"min_score"`
	Alerts    int64    `json:"alerts"`     // scored rows at or above, labelled or not
	AlertRate *float64 `json:"alert_rate"` // Alerts / scored rows
	TP        int64    `json:"tp"`
	FP        int64    `json:"fp"`
	FN        int64    `json:"fn"`
	TN        int64    `json:"tn"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	Cost      *float64 `json:"cost,omitempty"` // CostFP·FP + CostFN·FN
}

// DecisionRow counts the rows that got one decision (from the rows' own
// decisions, as the scorer made them).
type DecisionRow struct {
	Decision         string   `json:"decision"`
	Events           int64    `json:"events"`
	Rate             *float64 `json:"rate"` // share of scored rows
	Labelled         int64    `json:"labelled"`
	Positives        int64    `json:"positives"`
	PositiveRate     *float64 `json:"positive_rate"`      // positives / labelled in this decision (its precision)
	ShareOfPositives *float64 `json:"share_of_positives"` // positives here / all positives (its recall)
}

// CostTable is the cost of each threshold and the cost-optimal threshold over
// every distinct score (alerting on score >= it), with "alert nothing" as the
// baseline.
type CostTable struct {
	FP           float64      `json:"fp"`
	FN           float64      `json:"fn"`
	AlertNothing float64      `json:"alert_nothing"` // FN · positives
	Optimal      ThresholdRow `json:"optimal"`
}

// Histogram counts scores per class in uniform bins.
type Histogram struct {
	Edges     []float64 `json:"edges"`
	Positive  []int64   `json:"positive"`
	Negative  []int64   `json:"negative"`
	Unlabeled []int64   `json:"unlabeled"`
}

// Comparison is champion (Models[0]) against one challenger, on the rows
// both scored.
type Comparison struct {
	Champion      string   `json:"champion"`
	Challenger    string   `json:"challenger"`
	Paired        int64    `json:"paired"` // labelled rows with both scores: the ΔAUC rows
	ChampionAUC   *float64 `json:"champion_auc"`
	ChallengerAUC *float64 `json:"challenger_auc"`
	DeltaAUC      *float64 `json:"delta_auc"` // challenger − champion
	CILow         *float64 `json:"ci_low"`
	CIHigh        *float64 `json:"ci_high"`
	Method        string   `json:"method"`        // how CILow/CIHigh (the verdict's interval) were computed
	DeLongCILow   *float64 `json:"delong_ci_low"` // DeLong's 95% interval, always computed: a cross-check, and cheap on huge inputs
	DeLongCIHigh  *float64 `json:"delong_ci_high"`
	DeLongP       *float64 `json:"delong_p"`             // two-sided p-value of ΔAUC = 0
	Degenerate    int      `json:"degenerate_resamples"` // resamples with one class, left out
	Verdict       string   `json:"verdict"`
	Flips         Flips    `json:"flips"`

	scatter []scatterPoint // for the plot only
}

// Flips counts the rows whose decision differs between the two models.
type Flips struct {
	Compared  int64  `json:"compared"` // rows both models scored
	Total     int64  `json:"total"`
	Positives int64  `json:"positives"` // flipped rows labelled positive
	Direction []Flip `json:"by_direction"`
}

// Flip is one from → to direction.
type Flip struct {
	From      string `json:"from"` // champion's decision
	To        string `json:"to"`   // challenger's decision
	Events    int64  `json:"events"`
	Labelled  int64  `json:"labelled"`
	Positives int64  `json:"positives"`
}

type scatterPoint struct {
	x, y  float64
	label int8
}

// SegmentReport is the breakdown for one value of the segment field.
type SegmentReport struct {
	Segment   string    `json:"segment"`
	Events    int64     `json:"events"`
	Labelled  int64     `json:"labelled"`
	Positives int64     `json:"positives"`
	Models    []Metrics `json:"models"` // same order as Report.Models
}

// TimeReport is the breakdown over event time.
type TimeReport struct {
	Bucket string      `json:"bucket"`
	Points []TimePoint `json:"points"`
}

// TimePoint is one time bucket.
type TimePoint struct {
	Start     string    `json:"start"` // RFC 3339, UTC
	Events    int64     `json:"events"`
	Labelled  int64     `json:"labelled"`
	Positives int64     `json:"positives"`
	Models    []Metrics `json:"models"`

	startMs int64
}

// maxSegments bounds the segment breakdown (largest first).
const maxSegments = 100

// Report computes the report. It fails when no row was added, when rows had the
// wrong shape, or when the options are invalid.
func (a *Accumulator) Report(p Provenance) (*Report, error) {
	opts, err := a.opts.validate()
	if err != nil {
		return nil, err
	}
	if len(a.models) == 0 {
		return nil, fmt.Errorf("eval: no models")
	}
	if a.badShape > 0 {
		return nil, fmt.Errorf("eval: %d rows did not have one score per model (%d models)", a.badShape, len(a.models))
	}
	n := len(a.times)
	if n == 0 {
		return nil, ErrNoRows
	}
	r := &Report{Provenance: p, Events: int64(n), Notes: []string{}, Segments: []SegmentReport{}, Comparisons: []Comparison{}}
	r.Options = ReportOptions{Unlabeled: opts.Unlabeled, CostFP: opts.CostFP, CostFN: opts.CostFN,
		Bootstrap: opts.Bootstrap, Seed: opts.Seed, CalibrationBins: CalibrationBins}

	y := make([]int8, n)
	for i, l := range a.labels {
		if l == -1 {
			r.Unlabeled++
			if opts.Unlabeled == "negative" {
				l = 0
			}
		}
		y[i] = l
		if l != -1 {
			r.Labelled++
			if l == 1 {
				r.Positives++
			}
		}
	}
	if a.badLabels > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d rows had a label other than -1, 0 or 1 and were treated as unlabeled", a.badLabels))
	}
	if r.Unlabeled > 0 {
		if opts.Unlabeled == "negative" {
			r.Notes = append(r.Notes, fmt.Sprintf("%s events without a label are counted as negatives (unlabeled: negative)", fmtInt(r.Unlabeled)))
		} else {
			r.Notes = append(r.Notes, fmt.Sprintf("%s events without a label are left out of the metrics (unlabeled: exclude)", fmtInt(r.Unlabeled)))
		}
	}
	if r.Labelled == 0 {
		r.Notes = append(r.Notes, "no event has a label: only score distributions, decisions and decision flips are reported")
	}

	for m := range a.models {
		r.Models = append(r.Models, a.modelReport(m, y, opts))
	}
	for m := 1; m < len(a.models); m++ {
		r.Comparisons = append(r.Comparisons, a.compare(0, m, y, opts))
	}
	r.Segments = a.segments(y)
	r.OverTime = a.overTime(y, opts, &r.Options)
	r.Verdicts = verdicts(r)
	return r, nil
}

// known returns the scores and labels of model m's labelled, scored rows.
func (a *Accumulator) known(m int, y []int8, keep func(i int) bool) ([]float64, []int8) {
	var s []float64
	var l []int8
	for i, v := range a.scores[m] {
		if y[i] == -1 || math.IsNaN(v) || (keep != nil && !keep(i)) {
			continue
		}
		s = append(s, v)
		l = append(l, y[i])
	}
	return s, l
}

// metricsOf computes Metrics of labelled rows; curve is returned for the callers
// that plot or threshold it.
func metricsOf(s []float64, y []int8) (Metrics, binaryCurve) {
	m := Metrics{N: int64(len(s))}
	if len(s) == 0 {
		m.Note = "no labelled event with a score"
		return m, binaryCurve{}
	}
	var sum float64
	probabilities := true
	for i, v := range s {
		m.Positives += int64(y[i])
		sum += v
		if v < 0 || v > 1 || math.IsInf(v, 0) {
			probabilities = false
		}
	}
	m.BaseRate = num(float64(m.Positives) / float64(len(s)))
	m.MeanScore = finite(sum / float64(len(s)))
	c := newCurve(s, y, order(s))
	if auc, ok := c.rocAUC(); ok {
		m.ROCAUC = num(auc)
	} else {
		m.Note = "only one class among the labelled events: ROC AUC is undefined"
	}
	if ap, ok := c.averagePrecision(); ok {
		m.PRAUC = num(ap)
	} else {
		m.Note = "no positive among the labelled events: ROC AUC and PR AUC are undefined"
	}
	if probabilities {
		m.LogLoss = num(logLoss(s, y))
		m.Brier = num(brier(s, y))
		_, ece := calibration(s, y)
		m.ECE = num(ece)
	} else {
		m.Note = join(m.Note, "scores outside [0, 1] are not probabilities: log loss, Brier score and calibration are undefined")
	}
	return m, c
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (a *Accumulator) modelReport(m int, y []int8, opts Options) ModelReport {
	mr := ModelReport{Model: a.models[m], Notes: []string{}, Thresholds: []ThresholdRow{}, Decisions: []DecisionRow{}, Calibration: []CalBin{}}
	for _, v := range a.scores[m] {
		if math.IsNaN(v) {
			mr.NaNScores++
		} else {
			mr.Scored++
		}
	}
	if mr.NaNScores > 0 {
		mr.Notes = append(mr.Notes, fmt.Sprintf("%d events have no score from this model (it failed on them) and are left out of its metrics", mr.NaNScores))
	}
	s, l := a.known(m, y, nil)
	var c binaryCurve
	mr.Metrics, c = metricsOf(s, l)
	if mr.Metrics.LogLoss != nil {
		mr.Calibration, _ = calibration(s, l)
	}
	mr.ROC, mr.PR = c.rocPoints(), c.prPoints()
	mr.Histogram = a.histogram(m, y)

	// Thresholds: alerts count every scored row; the confusion matrix the
	// labelled ones. c is in descending score order.
	all := make([]float64, 0, mr.Scored)
	for _, v := range a.scores[m] {
		if !math.IsNaN(v) {
			all = append(all, v)
		}
	}
	slices.Sort(all)
	P, N := float64(mr.Metrics.Positives), float64(mr.Metrics.N-mr.Metrics.Positives)
	row := func(decision string, t float64) ThresholdRow {
		tp, fp := c.atOrAbove(t)
		alerts := len(all) - lowerBound(all, t)
		tr := ThresholdRow{Decision: decision, MinScore: Score(t), Alerts: int64(alerts),
			TP: int64(tp), FP: int64(fp), FN: int64(P - tp), TN: int64(N - fp)}
		tr.AlertRate = ratio(float64(alerts), float64(len(all)))
		tr.Precision = ratio(tp, tp+fp)
		tr.Recall = ratio(tp, P)
		if opts.CostFP != 0 || opts.CostFN != 0 {
			tr.Cost = num(opts.CostFP*fp + opts.CostFN*(P-tp))
		}
		return tr
	}
	for _, t := range a.models[m].Thresholds {
		mr.Thresholds = append(mr.Thresholds, row(t.Decision, t.MinScore))
	}
	if (opts.CostFP != 0 || opts.CostFN != 0) && mr.Metrics.N > 0 {
		ct := &CostTable{FP: opts.CostFP, FN: opts.CostFN, AlertNothing: opts.CostFN * P}
		best, bestCost := math.Inf(1), ct.AlertNothing
		for i, t := range c.thr {
			if cost := opts.CostFP*c.fps[i] + opts.CostFN*(P-c.tps[i]); cost < bestCost {
				best, bestCost = t, cost
			}
		}
		ct.Optimal = row("optimal", best)
		mr.Cost = ct
	}
	mr.Decisions = a.decisionRows(m, y, mr.Scored, mr.Metrics.Positives)
	return mr
}

// atOrAbove is (tp, fp) of the rows with score >= t.
func (c binaryCurve) atOrAbove(t float64) (tp, fp float64) {
	// thr is descending: the last index with thr[i] >= t.
	i := sortSearchDesc(c.thr, t)
	if i < 0 {
		return 0, 0
	}
	return c.tps[i], c.fps[i]
}

func sortSearchDesc(thr []float64, t float64) int {
	lo, hi := 0, len(thr) // find first index with thr[i] < t
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if thr[h] >= t {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo - 1
}

func lowerBound(asc []float64, t float64) int {
	i, _ := slices.BinarySearch(asc, t)
	return i
}

func (a *Accumulator) decisionRows(m int, y []int8, scored, positives int64) []DecisionRow {
	rows := make([]DecisionRow, len(a.decNames))
	for i, d := range a.decs[m] {
		if math.IsNaN(a.scores[m][i]) {
			continue
		}
		dr := &rows[d]
		dr.Events++
		if y[i] != -1 {
			dr.Labelled++
			dr.Positives += int64(y[i])
		}
	}
	rank := decisionRank(a.models[m])
	out := []DecisionRow{}
	for d, dr := range rows {
		if dr.Events == 0 {
			continue
		}
		dr.Decision = a.decNames[d]
		dr.Rate = ratio(float64(dr.Events), float64(scored))
		dr.PositiveRate = ratio(float64(dr.Positives), float64(dr.Labelled))
		dr.ShareOfPositives = ratio(float64(dr.Positives), float64(positives))
		out = append(out, dr)
	}
	slices.SortStableFunc(out, func(x, z DecisionRow) int {
		return cmp.Or(cmp.Compare(rank(x.Decision), rank(z.Decision)), cmp.Compare(x.Decision, z.Decision))
	})
	return out
}

// decisionRank orders decisions as the thresholds do: allow, then each
// threshold's decision, then anything else.
func decisionRank(m Model) func(string) int {
	return func(d string) int {
		if d == "allow" {
			return 0
		}
		for i, t := range m.Thresholds {
			if t.Decision == d {
				return i + 1
			}
		}
		return len(m.Thresholds) + 1
	}
}

const histogramBins = 20

func (a *Accumulator) histogram(m int, y []int8) Histogram {
	lo, hi := 0.0, 1.0
	for _, v := range a.scores[m] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	h := Histogram{Edges: make([]float64, histogramBins+1), Positive: make([]int64, histogramBins),
		Negative: make([]int64, histogramBins), Unlabeled: make([]int64, histogramBins)}
	w := hi/histogramBins - lo/histogramBins // finite for any finite lo, hi
	for i := range h.Edges {
		// lo + i·w can overflow when lo and hi are near ±MaxFloat64; the convex
		// combination of the two cannot.
		f := float64(i) / histogramBins
		h.Edges[i] = lo*(1-f) + hi*f
	}
	h.Edges[histogramBins] = hi
	for i, v := range a.scores[m] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		x := (v - lo) / w
		b := histogramBins - 1
		if !(x >= 0) { // NaN when the range overflows float64
			b = 0
		} else if x < histogramBins-1 {
			b = int(x)
		}
		switch y[i] {
		case 1:
			h.Positive[b]++
		case 0:
			h.Negative[b]++
		default:
			h.Unlabeled[b]++
		}
	}
	return h
}

func (a *Accumulator) segments(y []int8) []SegmentReport {
	if len(a.segNames) == 1 && a.segNames[0] == "" {
		return []SegmentReport{}
	}
	groups := groupRows(a.segs, len(a.segNames))
	out := make([]SegmentReport, 0, len(groups))
	for g, rows := range groups {
		out = append(out, a.group(rows, y, func(sr *SegmentReport) { sr.Segment = a.segNames[g] }))
	}
	slices.SortStableFunc(out, func(x, z SegmentReport) int {
		return cmp.Or(cmp.Compare(z.Events, x.Events), cmp.Compare(x.Segment, z.Segment))
	})
	if len(out) > maxSegments {
		out = out[:maxSegments]
	}
	return out
}

// groupRows lists the row indices of each group, in row order.
func groupRows(of []uint32, groups int) [][]int32 {
	count := make([]int, groups)
	for _, g := range of {
		count[g]++
	}
	out := make([][]int32, groups)
	for g := range out {
		out[g] = make([]int32, 0, count[g])
	}
	for i, g := range of {
		out[g] = append(out[g], int32(i))
	}
	return out
}

func (a *Accumulator) group(rows []int32, y []int8, name func(*SegmentReport)) SegmentReport {
	sr := SegmentReport{Events: int64(len(rows))}
	name(&sr)
	for _, i := range rows {
		if y[i] != -1 {
			sr.Labelled++
			sr.Positives += int64(y[i])
		}
	}
	for m := range a.models {
		var s []float64
		var l []int8
		for _, i := range rows {
			if v := a.scores[m][i]; y[i] != -1 && !math.IsNaN(v) {
				s = append(s, v)
				l = append(l, y[i])
			}
		}
		mt, _ := metricsOf(s, l)
		sr.Models = append(sr.Models, mt)
	}
	return sr
}

func (a *Accumulator) overTime(y []int8, opts Options, ro *ReportOptions) TimeReport {
	lo, hi := slices.Min(a.times), slices.Max(a.times)
	bucket := opts.TimeBucket
	if bucket == 0 {
		bucket = time.Hour
		if time.Duration(hi-lo)*time.Millisecond >= 72*time.Hour {
			bucket = 24 * time.Hour
		}
	}
	b := bucket.Milliseconds()
	if b <= 0 {
		b = 1
	}
	if span := floorDiv(hi, b) - floorDiv(lo, b) + 1; span > maxTimeBuckets {
		b = (hi - lo + maxTimeBuckets) / maxTimeBuckets
		b = (b + 3_600_000 - 1) / 3_600_000 * 3_600_000 // whole hours
	}
	ro.TimeBucket = bucketName(time.Duration(b) * time.Millisecond)
	first := floorDiv(lo, b)
	of := make([]uint32, len(a.times))
	for i, t := range a.times {
		of[i] = uint32(floorDiv(t, b) - first)
	}
	tr := TimeReport{Bucket: ro.TimeBucket, Points: []TimePoint{}}
	for g, rows := range groupRows(of, int(floorDiv(hi, b)-first)+1) {
		if len(rows) == 0 {
			continue
		}
		sr := a.group(rows, y, func(*SegmentReport) {})
		start := (first + int64(g)) * b
		tr.Points = append(tr.Points, TimePoint{Start: time.UnixMilli(start).UTC().Format(time.RFC3339),
			Events: sr.Events, Labelled: sr.Labelled, Positives: sr.Positives, Models: sr.Models, startMs: start})
	}
	return tr
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func verdicts(r *Report) []string {
	var v []string
	for _, c := range r.Comparisons {
		v = append(v, c.Verdict)
	}
	if len(v) > 0 {
		return v
	}
	m := r.Models[0]
	if m.Metrics.ROCAUC == nil {
		return []string{fmt.Sprintf("%s: ROC AUC undefined (%s)", m.Model.Name, m.Metrics.Note)}
	}
	return []string{fmt.Sprintf("%s: ROC AUC %.4f on %d labelled events (%d positive)", m.Model.Name, *m.Metrics.ROCAUC, m.Metrics.N, m.Metrics.Positives)}
}

func num(v float64) *float64 { return &v }

// finite is num for a finite v, nil (JSON null) otherwise.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	return num(a / b)
}

func bucketName(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d == 24*time.Hour:
		return "day"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}
