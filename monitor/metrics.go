package monitor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Label outcomes, the values of scorestream_monitor_labels_total{outcome}.
const (
	OutcomeJoined     = "joined"      // joined with at least one prediction
	OutcomeUnknown    = "unknown"     // no prediction for its event id within the horizon
	OutcomeDuplicate  = "duplicate"   // a second label for an event id already labelled
	OutcomeDeadLetter = "dead_letter" // malformed: written to monitor.dead_letter_topic
)

// metrics are the monitor's Prometheus series. Everything a fleet must add up is
// a counter (or a histogram, which is counters); the AUC gauges are computed
// in-process over the sliding windows of one monitor.
type metrics struct {
	records          *prometheus.CounterVec // topic, outcome
	predictions      *prometheus.CounterVec // model, version, role
	expected         *prometheus.CounterVec // model, version, role: sum of scores
	flagged          *prometheus.CounterVec // model, version, role, decision
	flaggedExpected  *prometheus.CounterVec // model, version, role, decision: sum of scores flagged
	labelled         *prometheus.CounterVec // model, version, role
	positives        *prometheus.CounterVec
	labelledExpected *prometheus.CounterVec // model, version, role: sum of scores of labelled predictions
	truePos          *prometheus.CounterVec // model, version, role, decision
	falsePos         *prometheus.CounterVec
	labelledFlaggedE *prometheus.CounterVec // model, version, role, decision: sum of scores of labelled flagged
	unlabelled       *prometheus.CounterVec // model, version, role
	score            *prometheus.HistogramVec
	rocAUC, prAUC    *prometheus.GaugeVec // model, version, role, window
	windowLabels     *prometheus.GaugeVec // model, version, role, window, class
	delay            prometheus.Histogram
	labels           *prometheus.CounterVec // outcome
	deadLetters      *prometheus.CounterVec // class
	entries          *prometheus.GaugeVec   // side
	evictions        *prometheus.CounterVec // side
	refPrecision     *prometheus.GaugeVec   // decision
	tolerance        *prometheus.GaugeVec   // decision
	watermark        *prometheus.GaugeVec   // side
}

// scoreBuckets are the upper bounds of bins equal-width bins on [0, 1] except
// the last (+Inf is implicit), so that bucket i counts the scores of bins 0..i.
func scoreBuckets(bins int) []float64 {
	b := make([]float64, bins-1)
	for i := range b {
		b[i] = float64(i+1) / float64(bins)
	}
	return b
}

// delayBuckets span one minute to 90 days.
var delayBuckets = []float64{60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400}

func newMetrics(reg prometheus.Registerer, bins int) *metrics {
	mv := []string{"model", "version", "role"}
	mvd := []string{"model", "version", "role", "decision"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "scorestream", Subsystem: "monitor", Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "scorestream", Subsystem: "monitor", Name: name, Help: help}, labels)
	}
	m := &metrics{
		records:          counter("records_total", "Records read, by topic and outcome (ok, malformed).", []string{"topic", "outcome"}),
		predictions:      counter("predictions_total", "Predictions read.", mv),
		expected:         counter("expected_positives_total", "Sum of the scores of the predictions read: the expected number of positives of a calibrated model.", mv),
		flagged:          counter("flagged_total", "Predictions with a score at or above the decision's threshold.", mvd),
		flaggedExpected:  counter("flagged_expected_positives_total", "Sum of the scores at or above the decision's threshold: divided by flagged_total, the estimated precision.", mvd),
		labelled:         counter("labelled_total", "Predictions joined with their label.", mv),
		positives:        counter("positives_total", "Labelled predictions whose label is positive.", mv),
		labelledExpected: counter("labelled_expected_positives_total", "Sum of the scores of the labelled predictions.", mv),
		truePos:          counter("true_positives_total", "Labelled predictions at or above the decision's threshold with a positive label.", mvd),
		falsePos:         counter("false_positives_total", "Labelled predictions at or above the decision's threshold with a negative label.", mvd),
		labelledFlaggedE: counter("labelled_flagged_expected_positives_total", "Sum of the scores of the labelled predictions at or above the decision's threshold.", mvd),
		unlabelled:       counter("unlabelled_total", "Predictions whose label did not come within the label horizon.", mv),
		score: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "scorestream", Subsystem: "monitor", Name: "labelled_score",
			Help: "Scores of labelled predictions by class (1 positive, 0 negative), in the fixed monitor.score_bins.", Buckets: scoreBuckets(bins)},
			[]string{"model", "version", "role", "class"}),
		rocAUC:       gauge("roc_auc", "ROC AUC of the labels of the sliding window (label time), from the score bins; NaN without both classes.", []string{"model", "version", "role", "window"}),
		prAUC:        gauge("pr_auc", "PR AUC (average precision) of the labels of the sliding window, from the score bins; NaN without positives.", []string{"model", "version", "role", "window"}),
		windowLabels: gauge("window_labels", "Labels in the sliding window by class.", []string{"model", "version", "role", "window", "class"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "scorestream", Subsystem: "monitor", Name: "label_delay_seconds",
			Help: "Label time minus event time of each joined label.", Buckets: delayBuckets}),
		labels:       counter("labels_total", "Labels read, by outcome: joined, unknown (no prediction within the horizon), duplicate, dead_letter.", []string{"outcome"}),
		deadLetters:  counter("dead_letters_total", "Malformed label records written to the dead-letter topic, by error class.", []string{"class"}),
		entries:      gauge("join_entries", "Join entries held, by side: prediction (waiting for its label), unknown (a label with no prediction yet), joined (kept for a late shadow prediction).", []string{"side"}),
		evictions:    counter("join_early_evictions_total", "Join entries evicted by monitor.max_entries before the label horizon, by side (prediction, label).", []string{"side"}),
		refPrecision: gauge("estimate_reference_precision", "monitor.reference_precision: the precision at the block threshold on validation data.", []string{"decision"}),
		tolerance:    gauge("estimate_tolerance", "monitor.precision_tolerance: how far the estimated precision may move from the reference.", []string{"decision"}),
		watermark:    gauge("watermark_seconds", "Highest event time (prediction) or label time (label) read, Unix seconds.", []string{"side"}),
	}
	reg.MustRegister(m.records, m.predictions, m.expected, m.flagged, m.flaggedExpected, m.labelled, m.positives,
		m.labelledExpected, m.truePos, m.falsePos, m.labelledFlaggedE, m.unlabelled, m.score, m.rocAUC, m.prAUC,
		m.windowLabels, m.delay, m.labels, m.deadLetters, m.entries, m.evictions, m.refPrecision, m.tolerance, m.watermark)
	for _, o := range []string{OutcomeJoined, OutcomeUnknown, OutcomeDuplicate, OutcomeDeadLetter} {
		m.labels.WithLabelValues(o)
	}
	for _, s := range []string{SidePrediction, SideLabel} {
		m.evictions.WithLabelValues(s)
	}
	return m
}
