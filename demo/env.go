// Package demo runs scorestream with nothing to install: an embedded Kafka
// (franz-go kfake) and schema registry (srfake, served over HTTP), synthetic card
// payments from package gen, and the fraud pipeline of examples/fraud.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"gopkg.in/yaml.v3"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
)

//go:embed config.yaml model.json model-novelocity.json
var files embed.FS

// ReplayKit writes into dir what `scorestream replay` needs to evaluate on the
// demo's data while its embedded broker and registry run: config.yaml (the demo
// pipeline's config pointing at brokers and registryURL), model.json (the demo
// model) and model-novelocity.json (the same training without the state
// features, the model to compare it with: examples/fraud/train.py
// --no-velocity).
func ReplayKit(dir string, brokers []string, registryURL string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"model.json", "model-novelocity.json"} {
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	raw, err := files.ReadFile("config.yaml")
	if err != nil {
		return err
	}
	var c map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	abs, err := filepath.Abs(filepath.Join(dir, "model.json"))
	if err != nil {
		return err
	}
	c["kafka"] = map[string]any{"brokers": brokers}
	c["registry"] = map[string]any{"urls": []string{registryURL}}
	c["model"].(map[string]any)["path"] = abs
	out, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	head := "# The demo pipeline's config, pointing at the embedded broker and registry of a\n" +
		"# running `scorestream demo --keep`: for scorestream replay (see README).\n"
	return os.WriteFile(filepath.Join(dir, "config.yaml"), append([]byte(head), out...), 0o644)
}

// Config returns the demo pipeline config pointing at brokers and registryURL,
// with the demo model written into dir.
func Config(brokers []string, registryURL, dir string) (*config.Config, error) {
	raw, err := files.ReadFile("config.yaml")
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	m, err := files.ReadFile("model.json")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "model.json")
	if err := os.WriteFile(path, m, 0o644); err != nil {
		return nil, fmt.Errorf("demo model: %w", err)
	}
	cfg.Kafka.Brokers = brokers
	cfg.Registry.URLs = []string{registryURL}
	cfg.Model.Path = path
	return cfg, cfg.Validate()
}

// Env is an embedded broker and registry.
type Env struct {
	Cluster     *kfake.Cluster
	Registry    *srfake.Registry
	Brokers     []string
	RegistryURL string
	srv         *http.Server
}

// Topics are the demo's topics and their partition counts.
func Topics(partitions int32) map[string]int32 {
	return map[string]int32{"payments": partitions, "predictions": partitions, "payments-dlq": 1, "scorestream-state-changelog": partitions}
}

// Start starts kfake with the demo topics and srfake on registryAddr
// ("127.0.0.1:0" picks a free port).
//
// The changelog is compacted (on Trim), and segments are 1 MiB so that Trim
// frees memory in small steps.
func Start(partitions int32, registryAddr string) (*Env, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(1 << 20)})}
	for t, n := range Topics(partitions) {
		opts = append(opts, kfake.SeedTopics(n, t))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	if err := compactChangelog(c.ListenAddrs()); err != nil {
		c.Close()
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	reg := srfake.NewRegistry()
	ln, err := net.Listen("tcp", registryAddr)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("embedded registry: %w", err)
	}
	srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with srv.Close in Env.Close
	return &Env{Cluster: c, Registry: reg, Brokers: c.ListenAddrs(), RegistryURL: "http://" + ln.Addr().String(), srv: srv}, nil
}

func compactChangelog(brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	compact := "compact"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: &compact}}, ChangelogTopic)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = rs.On(ChangelogTopic, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		return fmt.Errorf("compact %s: %w", ChangelogTopic, err)
	}
	return nil
}

// The demo's topic names (as in config.yaml).
const (
	InputTopic       = "payments"
	PredictionsTopic = "predictions"
	DeadLetterTopic  = "payments-dlq"
	ChangelogTopic   = "scorestream-state-changelog"
)

// Trim deletes what an endless demo no longer needs, so that the embedded
// broker's memory stays bounded: output records below the outputs' last
// stable offsets, then input records below group's committed offsets, and the
// changelog's superseded entries (compaction). In that order the audit of what
// is left stays exact: every output deleted named an input that is deleted too
// (its transaction committed those offsets before they were read), and every
// input left has its outputs left (they were not yet stable, or were written
// later). The audit ignores outputs that name deleted inputs. It returns the
// number of input records deleted.
func (e *Env) Trim(ctx context.Context, group string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	outEnd, err := adm.ListCommittedOffsets(ctx, PredictionsTopic, DeadLetterTopic)
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		// The group has not committed yet (kfake answers so until its first
		// member joins): nothing is consumed, so nothing may be deleted.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	inStart, err := adm.ListStartOffsets(ctx, InputTopic)
	if err != nil {
		return 0, fmt.Errorf("trim: %w", err)
	}
	del := kadm.Offsets{}
	outEnd.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			del.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
		}
	})
	var trimmed int64
	inDel := kadm.Offsets{}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic != InputTopic || o.Err != nil || o.At <= 0 {
			return
		}
		if s, ok := inStart.Lookup(o.Topic, o.Partition); ok && s.Err == nil && o.At > s.Offset {
			trimmed += o.At - s.Offset
			inDel.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.At, LeaderEpoch: -1})
		}
	})
	// Outputs first: an input must never be left whose output is gone.
	for _, os := range []kadm.Offsets{del, inDel} {
		rs, err := adm.DeleteRecords(ctx, os)
		if err == nil {
			err = rs.Error()
		}
		if err != nil {
			return 0, fmt.Errorf("trim: delete records: %w", err)
		}
	}
	e.Cluster.Compact()
	return trimmed, nil
}

// Close stops the registry and the broker.
func (e *Env) Close() {
	_ = e.srv.Close()
	e.Cluster.Close()
}

// Producer writes generated events to the input topic.
type Producer struct {
	cl  *kgo.Client
	gen *gen.Generator
	// Malformed counts the deliberately malformed records produced, by kind.
	Malformed map[string]int
	Produced  int
	// OnRecord, if set, sees every generated record as it is produced (the
	// demo writes the ground-truth labels with it).
	OnRecord func(gen.Record)
}

// NewProducer registers the event schema and returns a producer of generated
// records. cfg.SchemaID is set from the registry.
func NewProducer(ctx context.Context, brokers []string, registryURL, topic string, cfg gen.Config) (*Producer, error) {
	rcl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return nil, err
	}
	schema := gen.Schema
	if cfg.SchemaVersion == 2 {
		schema = gen.SchemaV2
	}
	ss, err := rcl.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("register event schema: %w", err)
	}
	cfg.SchemaID = ss.ID
	g, err := gen.New(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(2*time.Millisecond), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return nil, err
	}
	return &Producer{cl: cl, gen: g, Malformed: map[string]int{}}, nil
}

// Produce writes n records (synchronously at the end: all are acknowledged when it
// returns). rate > 0 paces them per wall-clock second.
func (p *Producer) Produce(ctx context.Context, n int, rate float64) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	done := make(chan struct{}, 1)
	promise := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(d): // pacing the generator, not synchronisation
				}
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r := p.gen.NextRecord()
		if r.Malformed != "" {
			p.Malformed[r.Malformed]++
		}
		if p.OnRecord != nil {
			p.OnRecord(r)
		}
		p.cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, promise)
		p.Produced++
	}
	if err := p.cl.Flush(ctx); err != nil {
		return err
	}
	if firstErr != nil {
		return fmt.Errorf("produce: %w", firstErr)
	}
	return nil
}

// Close closes the producer's client.
func (p *Producer) Close() { p.cl.Close() }
