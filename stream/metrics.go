package stream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/drift"
)

// Metrics are the pipeline's Prometheus metrics. One Metrics serves every loop in
// a process (the demo runs several), so it is built once and passed in.
type Metrics struct {
	Consumed        *prometheus.CounterVec
	Predictions     *prometheus.CounterVec
	DeadLetters     *prometheus.CounterVec
	Transactions    *prometheus.CounterVec
	TxnDuration     prometheus.Histogram
	TxnRecords      prometheus.Histogram
	Latency         *prometheus.HistogramVec
	Lag             *prometheus.GaugeVec
	RegistryDown    prometheus.Gauge
	RegistryErrors  *prometheus.CounterVec
	Score           *prometheus.HistogramVec
	Decisions       *prometheus.CounterVec
	Disagreements   prometheus.Counter
	ModelReloads    *prometheus.CounterVec
	ModelInfo       *prometheus.GaugeVec
	StateEntries    *prometheus.GaugeVec
	EarlyEvictions  prometheus.Counter
	RestoreSeconds  prometheus.Histogram
	RestoredEntries prometheus.Counter
	CorruptState    prometheus.Counter
	StateUpgrades   *prometheus.CounterVec
	SessionRestarts prometheus.Counter
	FeatureAbsent   *prometheus.CounterVec
	HangingTxns     *prometheus.GaugeVec
	GroupLag        *prometheus.GaugeVec
	GroupCommitted  *prometheus.GaugeVec
	Drift           *drift.Metrics // per reference bin, counted in record()
	// Local checkpoints (stream.Checkpoints).
	Restores          *prometheus.CounterVec
	CheckpointRefused *prometheus.CounterVec
	TailRecords       prometheus.Counter
	CheckpointSeconds prometheus.Histogram
	CheckpointBytes   prometheus.Counter
	CheckpointErrors  prometheus.Counter
}

// NewMetrics registers the pipeline metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "scorestream"
	m := &Metrics{
		Consumed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "stream", Name: "records_consumed_total",
			Help: "Input records polled, including ones polled again after an aborted transaction."}, []string{"topic"}),
		Predictions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "stream", Name: "predictions_total",
			Help: "Predictions in committed transactions."}, []string{"model", "version"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "stream", Name: "dead_letters_total",
			Help: "Dead letters in committed transactions, by reason."}, []string{"reason"}),
		Transactions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "stream", Name: "transactions_total",
			Help: "Transactions ended, by result (committed, aborted)."}, []string{"result"}),
		TxnDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "stream", Name: "transaction_duration_seconds",
			Help: "From Begin to the end of End.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		TxnRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "stream", Name: "records_per_transaction",
			Help: "Input records per transaction.", Buckets: prometheus.ExponentialBuckets(1, 4, 9)}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: "stream", Name: "event_latency_seconds",
			Help:    "At commit: time since the event's event time (from=event_time) or the input record's timestamp (from=log_append).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"from"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "stream", Name: "lag_records",
			Help: "High watermark minus the next offset to process, per input partition."}, []string{"topic", "partition"}),
		RegistryDown: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: "registry", Name: "unavailable",
			Help: "1 while the schema registry cannot be reached and input is held."}),
		RegistryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "registry", Name: "errors_total",
			Help: "Registry lookups that failed, by kind."}, []string{"kind"}),
		Score: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: "model", Name: "score",
			Help: "Scores in committed transactions.", Buckets: scoreBuckets()}, []string{"model", "version", "role"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "model", Name: "decisions_total",
			Help: "Decisions in committed transactions."}, []string{"model", "version", "role", "decision"}),
		Disagreements: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "model", Name: "decision_disagreements_total",
			Help: "Committed events where champion and challenger decided differently."}),
		ModelReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "model", Name: "reloads_total",
			Help: "Model reloads that found changed files, by result: ok (swapped in) or refused (invalid; the old model keeps serving)."}, []string{"result"}),
		ModelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "model", Name: "info",
			Help: "1 for each model serving (role champion or challenger), with its name, version and sha256."}, []string{"model", "version", "hash", "role"}),
		StateEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "state", Name: "entries",
			Help: "Entities held in memory, per partition."}, []string{"partition"}),
		EarlyEvictions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "early_evictions_total",
			Help: "Entities evicted by the LRU bound before their TTL: raise state.max_entities if this grows."}),
		RestoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "state", Name: "restore_seconds",
			Help: "Time to restore newly assigned partitions from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		RestoredEntries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "restored_entities_total",
			Help: "Changelog records applied while restoring."}),
		CorruptState: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "corrupt_records_total",
			Help: "Changelog records that did not decode on restore; each entity concerned started empty."}),
		StateUpgrades: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "upgraded_records_total",
			Help: "Changelog records restored from an older format (kind from_v1) or feature spec with aggregates that started empty (kind aggregate_started_empty)."}, []string{"kind"}),
		HangingTxns: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "hanging_transactions",
			Help: "Hanging transactions holding the last stable offset of an input, output, changelog or the group's offsets partition: seconds since the producer last wrote to the partition (scorestream txn hanging lists them)."},
			[]string{"topic", "partition", "producer_id"}),
		FeatureAbsent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "feature", Name: "absent_total",
			Help: "Scored events whose writer schema has no field at the feature's path (so the feature was missing: its default, if any)."}, []string{"feature"}),
		SessionRestarts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "stream", Name: "session_restarts_total",
			Help: "Kafka sessions replaced after a transaction ended in error (broker gone mid-commit, transaction timed out)."}),
		Restores: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "restores_total",
			Help: "Partitions restored, by source: checkpoint (a local checkpoint plus the changelog tail after it) or full (the whole changelog)."}, []string{"source"}),
		CheckpointRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "checkpoint_refused_total",
			Help: "Local checkpoints found but not used (the partition was restored in full), by reason: corrupt, foreign (another changelog), stale."}, []string{"reason"}),
		TailRecords: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "checkpoint_tail_records_total",
			Help: "Changelog records read after a checkpoint's offset by restores that started from a checkpoint."}),
		CheckpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: "state", Name: "checkpoint_write_seconds",
			Help: "Time to encode, write and fsync one partition's checkpoint.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		CheckpointBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "checkpoint_written_bytes_total",
			Help: "Bytes of checkpoint files written."}),
		CheckpointErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "state", Name: "checkpoint_write_errors_total",
			Help: "Checkpoint writes that failed (logged; the changelog still holds the state)."}),
		GroupLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "group", Name: "lag_records",
			Help: "End offset minus the consumer group's committed offset, per input partition, as the brokers see it (refreshed every 15s by every instance)."},
			[]string{"topic", "partition"}),
		GroupCommitted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "group", Name: "committed_offset",
			Help: "The consumer group's committed offset per input partition, as the brokers see it (refreshed every 15s by every instance)."},
			[]string{"topic", "partition"}),
		Drift: drift.NewMetrics(reg),
	}
	reg.MustRegister(m.Consumed, m.Predictions, m.DeadLetters, m.Transactions, m.TxnDuration, m.TxnRecords,
		m.Latency, m.Lag, m.RegistryDown, m.RegistryErrors, m.Score, m.Decisions, m.Disagreements, m.ModelReloads, m.ModelInfo,
		m.StateEntries, m.EarlyEvictions, m.RestoreSeconds, m.RestoredEntries, m.CorruptState, m.StateUpgrades, m.SessionRestarts, m.FeatureAbsent, m.HangingTxns,
		m.GroupLag, m.GroupCommitted, m.Restores, m.CheckpointRefused, m.TailRecords, m.CheckpointSeconds, m.CheckpointBytes, m.CheckpointErrors)
	return m
}

// scoreBuckets are 0.05, 0.10, ..., 1.0, computed as i/20 so the labels read
// cleanly (le="0.5", not le="0.49999999999999994").
func scoreBuckets() []float64 {
	b := make([]float64, 20)
	for i := range b {
		b[i] = float64(i+1) / 20
	}
	return b
}
