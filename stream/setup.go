package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/modelwatch"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/state/checkpoint"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

// Shared is what every loop in one process shares: the registry and decoder, the
// compiled feature spec, the loaded models, the prediction schema id and the
// metrics. Build it once with Prepare, then NewLoop per instance.
type Shared struct {
	Cfg      *config.Config
	Conn     []kgo.Opt
	Registry *sr.Client
	Decoder  *decode.Decoder
	Spec     *features.Spec
	Models   *process.Models // the models at startup
	Watcher  *modelwatch.Watcher
	SchemaID int
	Metrics  *Metrics
	Reg      prometheus.Registerer
	// Checkpoints is the state.dir checkpoint directory, nil when off.
	Checkpoints *checkpoint.Dir
}

// Prepare loads the models, compiles the feature spec, connects to the registry
// and registers the prediction schema. Errors name what is wrong.
//
// A registry that cannot be reached is retried for up to StartupTimeout; one that
// answers with a refusal fails at once.
func Prepare(ctx context.Context, cfg *config.Config, reg prometheus.Registerer) (*Shared, error) {
	return PrepareLogged(ctx, cfg, reg, nil)
}

// PrepareLogged is Prepare, logging startup retries to log.
func PrepareLogged(ctx context.Context, cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (*Shared, error) {
	conn, err := cfg.KafkaOpts()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if stateful(cfg.Features) && len(cfg.Stream.InputTopics) != 1 {
		return nil, errors.New("stream.input_topics: state features need exactly one input topic (the changelog is co-partitioned with it)")
	}
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		return nil, err
	}
	var cps *checkpoint.Dir
	if cfg.State.Dir != "" {
		if cps, err = checkpoint.Open(cfg.State.Dir); err != nil {
			return nil, err
		}
	}
	metrics := NewMetrics(reg)
	watcher, err := modelwatch.New(modelwatch.Config{Model: cfg.Model, Features: cfg.Features, Spec: spec,
		Reloads: metrics.ModelReloads, Info: metrics.ModelInfo})
	if err != nil {
		return nil, err
	}
	ropts, err := cfg.RegistryOpts()
	if err != nil {
		return nil, err
	}
	rcl, err := sr.NewClient(ropts...)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	dec, err := decode.New(decode.SRRegistry{Client: rcl}, decode.Config{CacheSize: cfg.Registry.CacheSize, Paths: spec.Paths()})
	if err != nil {
		return nil, err
	}
	var id int
	err = retry(ctx, log, "register the prediction schema", func() error {
		var err error
		if id, err = RegisterPredictionSchema(ctx, rcl, cfg.Output.PredictionsTopic); err != nil {
			return err
		}
		if cfg.Output.ShadowTopic != "" {
			_, err = RegisterPredictionSchema(ctx, rcl, cfg.Output.ShadowTopic)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := checkWriterSchemas(ctx, rcl, cfg, spec, log); err != nil {
		return nil, err
	}
	return &Shared{Cfg: cfg, Conn: conn, Registry: rcl, Decoder: dec, Spec: spec, Models: watcher.Models(),
		Watcher: watcher, SchemaID: id, Metrics: metrics, Reg: reg, Checkpoints: cps}, nil
}

// staticID is the group.instance.id of instance id: itself with static
// membership, none (dynamic membership) without.
func staticID(static bool, id string) string {
	if static {
		return id
	}
	return ""
}

func stateful(fs []config.Feature) bool {
	for _, f := range fs {
		if f.State != "" {
			return true
		}
	}
	return false
}

// RegisterPredictionSchema registers sink.PredictionSchema under "<topic>-value"
// and returns its id (the same id if it is already registered).
func RegisterPredictionSchema(ctx context.Context, cl *sr.Client, topic string) (int, error) {
	ss, err := cl.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: sink.PredictionSchema, Type: sr.TypeAvro})
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 {
		err = permanent(err) // the registry answered: refused (incompatible, unauthorised)
	}
	if err != nil {
		return 0, fmt.Errorf("registry: register prediction schema for %s: %w", topic, err)
	}
	return ss.ID, nil
}

// NewLoop builds one instance's loop with its own transactional id. The loop
// subscribes to the model watcher: a reload reaches it at its next transaction
// boundary.
func (s *Shared) NewLoop(instanceID string, log *slog.Logger) (*Loop, error) {
	return s.newLoop(instanceID, log, false)
}

// NewCopierLoop builds a loop that copies input to the predictions topic without
// decoding or scoring: the baseline for `scorestream bench`.
func (s *Shared) NewCopierLoop(instanceID string, log *slog.Logger) (*Loop, error) {
	return s.newLoop(instanceID, log, true)
}

func (s *Shared) newLoop(instanceID string, log *slog.Logger, noop bool) (*Loop, error) {
	c := s.Cfg
	txnID := c.Stream.TransactionalIDPrefix + "-" + instanceID
	conn := append([]kgo.Opt{}, s.Conn...)
	conn = append(conn, kgo.ClientID(c.Kafka.ClientID+"-"+instanceID))
	models, next := s.Models, func() *process.Models { return nil }
	if s.Watcher != nil {
		models, next = s.Watcher.Subscribe()
	}
	proc := process.New(process.Config{
		PredictionsTopic: c.Output.PredictionsTopic,
		ShadowTopic:      c.Output.ShadowTopic,
		DeadLetterTopic:  c.Output.DeadLetterTopic,
		ChangelogTopic:   c.Output.ChangelogTopic,
		PredictionSchema: s.SchemaID,
		FeatureLogging:   c.Output.FeatureLogging,
		NoOp:             noop,
	}, s.Decoder, s.Spec, models)
	return New(Config{
		Conn:               conn,
		Topics:             c.Stream.InputTopics,
		Group:              c.Stream.Group,
		TransactionalID:    txnID,
		ChangelogTopic:     c.Output.ChangelogTopic,
		CommitInterval:     c.Stream.CommitInterval,
		MaxRecordsPerTxn:   c.Stream.MaxRecordsPerTxn,
		Workers:            c.Stream.Workers,
		TransactionTimeout: c.Stream.TransactionTimeout,
		SessionTimeout:     c.Stream.SessionTimeout,
		InstanceID:         staticID(c.Stream.StaticMembership, instanceID),
		RebalanceTimeout:   c.Stream.RebalanceTimeout,
		ShutdownTimeout:    c.Stream.ShutdownTimeout,
		RetryMax:           c.Registry.RetryMax,
		LivenessTimeout:    c.Stream.LivenessTimeout,
		State: state.Config{
			Limits:      s.Spec.Limits(),
			MaxEntities: c.State.MaxEntities,
		},
		Checkpoints: Checkpoints{Dir: s.Checkpoints, Interval: c.State.CheckpointInterval},
		NewHooks: func() []kgo.Hook {
			return []kgo.Hook{kprom.NewMetrics("scorestream_kafka", kprom.Registerer(s.Reg), kprom.WithClientLabel())}
		},
		NextModels: next,
	}, proc, log.With("instance", instanceID, "transactional_id", txnID), s.Metrics)
}

// EnsureTopics checks that the input and output topics exist and that the
// changelog has as many partitions as the input (co-partitioning). With create,
// missing output topics are created (the changelog with ChangelogConfigs)
// with the input's partition count and replication factor rf (-1: broker
// default). An existing changelog must be compacted; compaction settings that
// keep restore slow are logged as warnings.
//
// Unreachable brokers and missing topics are retried for up to StartupTimeout
// (logged to log, if not nil); a partition-count mismatch fails at once.
func EnsureTopics(ctx context.Context, adm *kadm.Client, cfg *config.Config, create bool, rf int16, log *slog.Logger) error {
	return retry(ctx, log, "check topics", func() error { return ensureTopics(ctx, adm, cfg, create, rf, log) })
}

func ensureTopics(ctx context.Context, adm *kadm.Client, cfg *config.Config, create bool, rf int16, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	in := cfg.Stream.InputTopics[0]
	it, ok := details[in]
	if !ok {
		return fmt.Errorf("stream.input_topics: topic %q does not exist", in)
	}
	parts := int32(len(it.Partitions))
	for _, t := range Topics(cfg) {
		if t.Input {
			continue
		}
		d, exists := details[t.Name]
		if !exists {
			if !create {
				return fmt.Errorf("%s: topic %q does not exist (create it: scorestream topics create)", t.Field, t.Name)
			}
			if _, _, err := createTopic(ctx, adm, t, parts, rf); err != nil {
				return err
			}
			continue
		}
		if t.Changelog && int32(len(d.Partitions)) != parts {
			return permanent(fmt.Errorf("%s: topic %q has %d partitions, the input %q has %d: the changelog must be co-partitioned with the input",
				t.Field, t.Name, len(d.Partitions), in, parts))
		}
		if t.Changelog {
			ws, err := checkChangelogConfig(ctx, adm, t.Name)
			if err != nil {
				return permanent(err)
			}
			logChangelogWarnings(log, t.Name, ws)
		}
	}
	return nil
}
