// Package drift compares what a model sees live with what it saw in training:
// the reference profile of its manifest (model.Profile).
//
// Each instance counts committed records per reference bin — the score's and
// every profiled feature's, per model version and role — plus missing and
// unseen-category counts, as Prometheus counters. The comparison (PSI, a
// KS-style maximum CDF distance) is computed by Prometheus in recording rules
// generated from the manifest (Rules), after summing the counters of the whole
// fleet: each instance owns only some partitions, so only the sum is the
// distribution. The same counters serve the in-process figures of
// `scorestream demo` (Snapshot, PSI).
//
// Cardinality is bounded by the profile: per model version and role, one series
// per score bin, per feature bin (categories for a categorical feature), and
// one missing and one unseen series per feature.
package drift

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the drift counters, registered once per process and shared by
// every loop.
type Metrics struct {
	ScoreBins        *prometheus.CounterVec // model, version, role, bin
	FeatureBins      *prometheus.CounterVec // model, version, role, feature, bin
	FeatureMissing   *prometheus.CounterVec // model, version, role, feature
	FeatureUnseen    *prometheus.CounterVec // model, version, role, feature
	Records          *prometheus.CounterVec // model, version, role
	ReferenceMissing *prometheus.GaugeVec   // model, version, role
}

// Metric names, for the rules generator and the dashboards.
const (
	MetricScoreBins        = "scorestream_drift_score_bin_total"
	MetricFeatureBins      = "scorestream_drift_feature_bin_total"
	MetricFeatureMissing   = "scorestream_drift_feature_missing_total"
	MetricFeatureUnseen    = "scorestream_drift_feature_unseen_total"
	MetricRecords          = "scorestream_drift_records_total"
	MetricReferenceMissing = "scorestream_model_reference_missing"
)

// NewMetrics registers the drift metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	mvr := []string{"model", "version", "role"}
	mvrf := []string{"model", "version", "role", "feature"}
	m := &Metrics{
		ScoreBins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricScoreBins,
			Help: "Committed scores per bin of the model's reference profile (bin i: the i-th interval of profile.score.edges, from 0)."},
			[]string{"model", "version", "role", "bin"}),
		FeatureBins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFeatureBins,
			Help: "Committed records per feature and bin of the model's reference profile (a categorical feature's bin is the index of its value in profile values)."},
			[]string{"model", "version", "role", "feature", "bin"}),
		FeatureMissing: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFeatureMissing,
			Help: "Committed records whose profiled feature was missing (NaN)."}, mvrf),
		FeatureUnseen: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricFeatureUnseen,
			Help: "Committed records whose categorical feature had a value the reference profile never saw."}, mvrf),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRecords,
			Help: "Committed records counted for drift (the denominator of missing and unseen rates)."}, mvr),
		ReferenceMissing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricReferenceMissing,
			Help: "1 while a model version serves without a reference profile in its manifest (no drift monitoring), else 0."}, mvr),
	}
	reg.MustRegister(m.ScoreBins, m.FeatureBins, m.FeatureMissing, m.FeatureUnseen, m.Records, m.ReferenceMissing)
	return m
}
