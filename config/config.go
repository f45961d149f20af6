// Package config holds scorestream's one YAML configuration document.
//
// Load (a file) and Parse (bytes) start from Default, decode exactly one document
// strictly (unknown keys fail, named by YAML path and line), apply environment
// overrides (SCORESTREAM_BROKERS, SCORESTREAM_REGISTRY_URLS, SCORESTREAM_INSTANCE_ID,
// SCORESTREAM_METRICS_LISTEN,
// and the passwords named by password_env fields), then Validate reports every
// problem with the field's YAML path: "stream.commit_interval: must be > 0".
//
// KafkaOpts and RegistryOpts turn the connection settings into franz-go client
// options. example.yaml is the commented reference document.
package config

import "time"

// Config is the whole document.
type Config struct {
	Kafka    Kafka     `yaml:"kafka"`
	Registry Registry  `yaml:"registry"`
	Stream   Stream    `yaml:"stream"`
	Output   Output    `yaml:"output"`
	State    State     `yaml:"state"`
	Features []Feature `yaml:"features"`
	Model    Model     `yaml:"model"`
	Metrics  Metrics   `yaml:"metrics"`
	Log      Log       `yaml:"log"`
	Monitor  Monitor   `yaml:"monitor"`
}

// Kafka is how to reach the cluster.
type Kafka struct {
	Brokers  []string `yaml:"brokers"` // env SCORESTREAM_BROKERS (comma-separated) overrides
	ClientID string   `yaml:"client_id"`
	TLS      TLS      `yaml:"tls"`
	SASL     SASL     `yaml:"sasl"`
}

// TLS for the Kafka connection (kafka.tls) or the registry's (registry.tls).
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL authentication. Mechanism "" disables it.
type SASL struct {
	Mechanism   string `yaml:"mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"` // name of the env var holding the password
	Password    string `yaml:"-"`            // resolved from PasswordEnv by Load
}

// Registry is the Confluent-compatible schema registry.
type Registry struct {
	URLs        []string      `yaml:"urls"` // env SCORESTREAM_REGISTRY_URLS (comma-separated) overrides
	Username    string        `yaml:"username"`
	PasswordEnv string        `yaml:"password_env"`
	Password    string        `yaml:"-"`
	Timeout     time.Duration `yaml:"timeout"`    // per request; default 5s
	CacheSize   int           `yaml:"cache_size"` // decoded writer schemas kept; default 1000
	RetryMax    time.Duration `yaml:"retry_max"`  // max backoff while the registry is unreachable; default 10s
	TLS         TLS           `yaml:"tls"`        // for https URLs: own CAs, client certificate
}

// Stream is the transactional consume loop.
type Stream struct {
	InputTopics           []string      `yaml:"input_topics"`
	Group                 string        `yaml:"group"`
	TransactionalIDPrefix string        `yaml:"transactional_id_prefix"` // default "scorestream"
	InstanceID            string        `yaml:"instance_id"`             // default: hostname; env SCORESTREAM_INSTANCE_ID overrides
	CommitInterval        time.Duration `yaml:"commit_interval"`         // default 100ms
	MaxRecordsPerTxn      int           `yaml:"max_records_per_txn"`     // default 10000
	// Workers bounds the goroutines scoring one poll's records of several
	// partitions at once (a partition's records stay in order on one); default
	// 0 = GOMAXPROCS, 1 = all on the loop's goroutine.
	Workers            int           `yaml:"workers"`
	TransactionTimeout time.Duration `yaml:"transaction_timeout"` // default 60s; must exceed rebalance_timeout
	SessionTimeout     time.Duration `yaml:"session_timeout"`     // default 45s
	// StaticMembership joins the group with group.instance.id = instance_id
	// (KIP-345): an instance back within session_timeout gets its partitions
	// again with no rebalance. Default true.
	StaticMembership bool          `yaml:"static_membership"`
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"` // default 30s
	EventIDField     string        `yaml:"event_id_field"`    // default "event_id"
	EventTimeField   string        `yaml:"event_time_field"`  // "" = record timestamp
	ShutdownTimeout  time.Duration `yaml:"shutdown_timeout"`  // default 30s
	// LivenessTimeout: /healthz fails when the loop made no progress (no poll
	// returned, no transaction ended) for longer than this while it owns
	// partitions with lag; default 5m or twice transaction_timeout, whichever
	// is longer; 0s disables. Must exceed transaction_timeout and
	// registry.retry_max.
	LivenessTimeout time.Duration `yaml:"liveness_timeout"`
}

// Output names the topics scorestream writes.
type Output struct {
	PredictionsTopic string `yaml:"predictions_topic"`
	DeadLetterTopic  string `yaml:"dead_letter_topic"`
	ChangelogTopic   string `yaml:"changelog_topic"`
	ShadowTopic      string `yaml:"shadow_topic"` // challenger predictions; required when model.challenger is set
	FeatureLogging   bool   `yaml:"feature_logging"`
	CreateTopics     bool   `yaml:"create_topics"` // run creates missing output topics at startup (never run --check; see topics create)
}

// State is the per-entity enrichment state.
type State struct {
	MaxEntities   int           `yaml:"max_entities"`   // per partition LRU bound; default 100000
	TTL           time.Duration `yaml:"ttl"`            // event-time TTL; default 24h
	MaxEvents     int           `yaml:"max_events"`     // distinct values kept per distinct feature's field; default 256
	AmountField   string        `yaml:"amount_field"`   // field of state features that name none (sum, mean, min, max, stddev, last)
	DistinctField string        `yaml:"distinct_field"` // field of distinct features that name none
	WindowBuckets int           `yaml:"window_buckets"` // time buckets per window (resolution window/buckets at the far edge); default 30
	// Dir, if set, keeps a local checkpoint of every owned partition's state
	// there (one file per changelog partition), so that a restart or a
	// reassignment reads only the changelog's tail. Empty: off.
	Dir string `yaml:"dir"`
	// CheckpointInterval is the least time between two checkpoint writes of a
	// partition after commits (it is also written when revoked and on shutdown); default 10s.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
}

// Feature is one named model input: an event field (Field), a state aggregation
// (State, over Field or the state section's amount/distinct field, in Window),
// or a ratio of two other features (Ratio).
type Feature struct {
	Name       string        `yaml:"name"`
	Field      string        `yaml:"field"`      // dotted path into the event, e.g. "merchant.category"; for a state feature the aggregated field
	Transform  string        `yaml:"transform"`  // "", "log1p", "hour_of_day", "day_of_week", "category", "bool"
	Categories []string      `yaml:"categories"` // for transform category: value -> index; unknown -> missing
	State      string        `yaml:"state"`      // count, sum, mean, min, max, stddev, distinct, last, time_since_last
	Window     time.Duration `yaml:"window"`     // for the windowed aggregations; at most 30 days
	Ratio      []string      `yaml:"ratio"`      // [numerator, divisor]: names of two other (non-ratio) features
	Default    *float64      `yaml:"default"`    // used when the value is missing; nil = missing (NaN)
	// MaxDistinct bounds a distinct feature: its field's values are kept at
	// most this many (the most recently seen; 0: state.max_events), and the
	// feature reads min(exact count, MaxDistinct) — exact while the entity saw
	// at most MaxDistinct values in the window up to its latest event.
	MaxDistinct int `yaml:"max_distinct"`
}

// Model is the champion and optional challenger.
type Model struct {
	Path       string      `yaml:"path"`
	Manifest   string      `yaml:"manifest"` // optional model manifest (model.LoadManifest): name, version, features, golden rows
	Format     string      `yaml:"format"`   // "", "logistic", "xgboost", "lightgbm", "onnx"; "" = detect
	Name       string      `yaml:"name"`
	Version    string      `yaml:"version"`
	Thresholds []Threshold `yaml:"thresholds"` // ascending by min_score; below the first: decision "allow"
	// Class, for a multiclass XGBoost or LightGBM model: the class whose
	// probability is the score (nil: the model's default, class 1). Every
	// class's probability is in the prediction's class_scores either way.
	Class      *int   `yaml:"class"`
	Challenger *Model `yaml:"challenger"`
	Watch      bool   `yaml:"watch"` // reload on file change and SIGHUP
}

// Threshold maps a score range to a decision: score >= MinScore gives Decision
// (the highest matching threshold wins).
type Threshold struct {
	Decision string  `yaml:"decision"`
	MinScore float64 `yaml:"min_score"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string `yaml:"listen"` // default ":9464"; "" disables; env SCORESTREAM_METRICS_LISTEN overrides
}

// Log is the slog handler.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; default info
	Format string `yaml:"format"` // json or text; default json
}

// Monitor configures scorestream monitor: the join of the predictions (and
// shadow predictions) named in output with the delayed labels of LabelsTopic, by
// event id, into live and estimated performance metrics. scorestream run ignores
// it. Validate checks its values always and its topics when LabelsTopic is set.
type Monitor struct {
	LabelsTopic     string `yaml:"labels_topic"`      // Avro labels (Confluent framing); required by scorestream monitor
	DeadLetterTopic string `yaml:"dead_letter_topic"` // malformed labels; required with labels_topic
	EventIDField    string `yaml:"event_id_field"`    // label field holding the event id; default "event_id"
	LabelField      string `yaml:"label_field"`       // label field holding the class (boolean or 0/1); default "label"
	LabelTimeField  string `yaml:"label_time_field"`  // label field holding when it was known; "" = record timestamp
	// LabelHorizon is how long, in event/label time, a prediction waits for its
	// label (and a label for its prediction); default 720h (30 days).
	LabelHorizon time.Duration `yaml:"label_horizon"`
	MaxEntries   int           `yaml:"max_entries"` // join entries held; default 1000000; evicting earlier than the horizon is counted
	ScoreBins    int           `yaml:"score_bins"`  // equal-width score bins on [0, 1] per class; default 20
	// Windows are the sliding windows (in label time) of the in-process ROC and
	// PR AUC; default [24h, 168h].
	Windows []time.Duration `yaml:"windows"`
	// Lookback: on start, read the topics from the offsets of this long ago
	// (record timestamps); 0 = from the earliest offset.
	Lookback time.Duration `yaml:"lookback"`
	// BlockDecision is the decision whose threshold the estimated-precision alert
	// watches; default: the decision of the highest threshold.
	BlockDecision string `yaml:"block_decision"`
	// ReferencePrecision is the precision at the block threshold measured on
	// validation data; the alert fires when the estimate moves further than
	// PrecisionTolerance from it. nil: no reference exported, no alert.
	ReferencePrecision *float64 `yaml:"reference_precision"`
	PrecisionTolerance float64  `yaml:"precision_tolerance"` // default 0.1
}
