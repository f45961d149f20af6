package modelwatch_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream"
)

// pipeline is an embedded broker and registry running the demo flow.
type pipeline struct {
	t      *testing.T
	env    *demo.Env
	dir    string
	cfg    *config.Config
	shared *stream.Shared
	prod   *demo.Producer
	commit chan int
	loops  []*stream.Loop
	stops  []func()
}

func newPipeline(t *testing.T, partitions int32, edit func(cfg *config.Config, dir string)) *pipeline {
	t.Helper()
	env, err := demo.Start(partitions, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	dir := t.TempDir()
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream.MaxRecordsPerTxn = 100
	cfg.Stream.TransactionTimeout = 10 * time.Second
	cfg.Stream.SessionTimeout = 6 * time.Second
	cfg.Stream.RebalanceTimeout = 6 * time.Second
	if edit != nil {
		edit(cfg, dir)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	shared, err := stream.Prepare(context.Background(), cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := demo.NewProducer(context.Background(), env.Brokers, env.RegistryURL, "payments", gen.Config{Seed: 11, Cards: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &pipeline{t: t, env: env, dir: dir, cfg: cfg, shared: shared, prod: prod, commit: make(chan int, 1024)}
}

func (p *pipeline) produce(n int) {
	p.t.Helper()
	if err := p.prod.Produce(context.Background(), n, 0); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pipeline) start(ids ...string) {
	p.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, id := range ids {
		l, err := p.shared.NewLoop(id, log)
		if err != nil {
			p.t.Fatal(err)
		}
		l.SetOnCommit(func(int) {
			select {
			case p.commit <- 1:
			default:
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		p.loops = append(p.loops, l)
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				p.t.Errorf("loop %s: %v", id, err)
			}
		}
		p.stops = append(p.stops, stop)
		p.t.Cleanup(stop)
	}
}

func (p *pipeline) stop() {
	for _, s := range p.stops {
		s()
	}
}

// waitCommitted waits until the loops have committed n input records in all.
func (p *pipeline) waitCommitted(n int) {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		total := int64(0)
		for _, l := range p.loops {
			total += l.Stats.Predictions.Load() + l.Stats.DeadLetters.Load()
		}
		if total >= int64(n) {
			return
		}
		select {
		case <-p.commit:
		case <-deadline:
			p.t.Fatalf("timed out: %d of %d records committed", total, n)
		}
	}
}

func (p *pipeline) audit(predictions string) audit.Report {
	p.t.Helper()
	rep, err := audit.Run(context.Background(), []kgo.Opt{kgo.SeedBrokers(p.env.Brokers...)}, audit.Config{
		InputTopics: []string{"payments"}, PredictionsTopic: predictions, DeadLetterTopic: "payments-dlq",
	}, nil)
	if err != nil {
		p.t.Fatalf("audit: %v", err)
	}
	return rep
}

// ends are the input partitions' end offsets now.
func (p *pipeline) ends() map[int32]int64 {
	p.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.env.Brokers...))
	if err != nil {
		p.t.Fatal(err)
	}
	defer cl.Close()
	os, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "payments")
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// committed are the group's committed input offsets now.
func (p *pipeline) committed() map[int32]int64 {
	p.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.env.Brokers...))
	if err != nil {
		p.t.Fatal(err)
	}
	defer cl.Close()
	os, err := kadm.NewClient(cl).FetchOffsets(context.Background(), p.cfg.Stream.Group)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// output is one committed output record: the input it names and its model label.
type output struct {
	partition int32
	offset    int64
	model     string
}

// readOutputs reads every committed record of topic.
func (p *pipeline) readOutputs(topic string) []output {
	p.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.env.Brokers...))
	if err != nil {
		p.t.Fatal(err)
	}
	defer cl.Close()
	ps := make([]int32, len(p.ends()))
	for i := range ps {
		ps[i] = int32(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []output
	err = stream.ReadCommitted(ctx, []kgo.Opt{kgo.SeedBrokers(p.env.Brokers...)}, cl, topic, ps, func(r *kgo.Record) error {
		_, part, off, err := audit.Provenance(r.Headers)
		if err != nil {
			return fmt.Errorf("%s/%d@%d: %w", topic, r.Partition, r.Offset, err)
		}
		o := output{partition: part, offset: off}
		for _, h := range r.Headers {
			if h.Key == sink.HeaderModel {
				o.model = string(h.Value)
			}
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// TestHotReloadUnderLoad streams events through two loops, swaps the model file
// mid-stream, then writes a corrupt one, and checks that every input has exactly
// one output, that each partition switches from model A to model B once and
// never back, and that the corrupt file was refused.
func TestHotReloadUnderLoad(t *testing.T) {
	const chunk = 1500
	p := newPipeline(t, 4, func(cfg *config.Config, _ string) { cfg.Model.Watch = true })
	a := p.shared.Models.Champion.Label()
	p.produce(chunk)
	p.start("a", "b")
	p.waitCommitted(chunk / 2)

	// Swap to model B (write temp + rename), mid-stream.
	beforeSwap := p.committed()
	path := p.cfg.Model.Path
	writeAtomic(t, path, []byte(logisticB))
	if ok, err := p.shared.Watcher.Reload(); !ok || err != nil {
		t.Fatalf("Reload of model B = %v, %v", ok, err)
	}
	b := p.shared.Watcher.Models().Champion.Label()
	if a == b {
		t.Fatalf("model B has the same label %s as model A", a)
	}
	afterSwap := p.ends() // everything at or past these offsets was produced after the swap
	p.produce(chunk)
	p.waitCommitted(2 * chunk) // every transaction open at the swap has ended

	// A corrupt file is refused and B keeps serving.
	writeAtomic(t, path, []byte(`{"format":"logistic","features":[`))
	if ok, err := p.shared.Watcher.Reload(); ok || err == nil {
		t.Fatalf("Reload of a corrupt file = %v, %v; want refused", ok, err)
	}
	afterCorrupt := p.ends()
	p.produce(chunk)
	p.waitCommitted(3 * chunk)
	p.stop()

	rep := p.audit("predictions")
	if !rep.Clean || rep.Inputs != 3*chunk || rep.Predictions != 3*chunk || rep.Duplicates != 0 || rep.Missing != 0 {
		t.Fatalf("audit: %+v", rep)
	}
	outs := p.readOutputs("predictions")
	slices.SortFunc(outs, func(x, y output) int {
		if x.partition != y.partition {
			return int(x.partition - y.partition)
		}
		return int(x.offset - y.offset)
	})
	var scoredAAfterSwap int
	seenB := map[int32]bool{}
	count := map[string]int{}
	for _, o := range outs {
		count[o.model]++
		switch o.model {
		case a:
			if seenB[o.partition] {
				t.Fatalf("partition %d offset %d: model A after model B", o.partition, o.offset)
			}
			if o.offset >= afterSwap[o.partition] {
				scoredAAfterSwap++
			}
			if o.offset >= afterCorrupt[o.partition] {
				t.Fatalf("partition %d offset %d: produced after the refused reload but scored by A", o.partition, o.offset)
			}
		case b:
			seenB[o.partition] = true
			if o.offset < beforeSwap[o.partition] {
				t.Fatalf("partition %d offset %d: committed before the swap but scored by B", o.partition, o.offset)
			}
		default:
			t.Fatalf("partition %d offset %d: model %q is neither A (%s) nor B (%s)", o.partition, o.offset, o.model, a, b)
		}
	}
	t.Logf("predictions by model: %v; produced after the swap but scored by A: %d", count, scoredAAfterSwap)
	// A record produced after the swap can be scored by A only inside a
	// transaction that was open at the swap: at most one per loop, of at most
	// max_records_per_txn records.
	if limit := 2 * p.cfg.Stream.MaxRecordsPerTxn; scoredAAfterSwap > limit {
		t.Fatalf("%d records produced after the swap were scored by A, more than %d", scoredAAfterSwap, limit)
	}
	if count[a] == 0 || count[b] < chunk || len(seenB) != 4 {
		t.Fatalf("predictions by model: %v; partitions that switched: %d", count, len(seenB))
	}
	if got := counter(t, p.shared.Metrics.ModelReloads.WithLabelValues("refused")); got != 1 {
		t.Fatalf("reloads refused = %v, want 1", got)
	}
	if got := counter(t, p.shared.Metrics.ModelReloads.WithLabelValues("ok")); got != 1 {
		t.Fatalf("reloads ok = %v, want 1", got)
	}
}

// TestReloadWhileIdle: a loop that has caught up waits in its poll with no
// transaction open; a model swapped in during that wait must score the records
// that arrive after it (the models are picked when a transaction begins, not
// before the poll that may block for minutes).
func TestReloadWhileIdle(t *testing.T) {
	const chunk = 500
	p := newPipeline(t, 2, func(cfg *config.Config, _ string) { cfg.Model.Watch = true })
	a := p.shared.Models.Champion.Label()
	p.produce(chunk)
	p.start("a")
	p.waitCommitted(chunk) // caught up: the loop now waits in its poll

	writeAtomic(t, p.cfg.Model.Path, []byte(logisticB))
	if ok, err := p.shared.Watcher.Reload(); !ok || err != nil {
		t.Fatalf("Reload of model B = %v, %v", ok, err)
	}
	b := p.shared.Watcher.Models().Champion.Label()
	afterSwap := p.ends()
	p.produce(chunk)
	p.waitCommitted(2 * chunk)
	p.stop()

	count := map[string]int{}
	for _, o := range p.readOutputs("predictions") {
		count[o.model]++
		if o.offset >= afterSwap[o.partition] && o.model != b {
			t.Fatalf("partition %d offset %d: produced after the swap, scored by %q, want B %q (A %q)", o.partition, o.offset, o.model, b, a)
		}
	}
	if count[a] != chunk || count[b] != chunk {
		t.Fatalf("predictions by model: %v, want %d each of A %s and B %s", count, chunk, a, b)
	}
}

// TestChampionChallenger runs the demo model as champion and a logistic model as
// challenger: every committed input has one prediction naming the champion and
// one shadow record naming the challenger.
func TestChampionChallenger(t *testing.T) {
	const n = 1500
	p := newPipeline(t, 3, func(cfg *config.Config, dir string) {
		cp := filepath.Join(dir, "challenger.json")
		if err := os.WriteFile(cp, []byte(logisticB), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.Model.Challenger = &config.Model{Path: cp, Name: "fraud-logistic", Version: "7",
			Thresholds: []config.Threshold{{Decision: "review", MinScore: 0.2}}}
		cfg.Output.ShadowTopic = "predictions-shadow"
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, "predictions-shadow")
	cl.Close()
	if err != nil || resp.Err != nil {
		t.Fatalf("create shadow topic: %v %v", err, resp.Err)
	}
	ms := p.shared.Models
	if ms.Challenger == nil {
		t.Fatal("no challenger loaded")
	}
	champ, chall := ms.Champion.Label(), ms.Challenger.Label()
	p.produce(n)
	p.start("a", "b")
	p.waitCommitted(n)
	p.stop()

	for _, topic := range []string{"predictions", "predictions-shadow"} {
		if rep := p.audit(topic); !rep.Clean || rep.Inputs != n || rep.Predictions != n || rep.Duplicates != 0 || rep.Missing != 0 {
			t.Fatalf("audit of %s: %+v", topic, rep)
		}
	}
	for topic, want := range map[string]string{"predictions": champ, "predictions-shadow": chall} {
		outs := p.readOutputs(topic)
		if len(outs) != n {
			t.Fatalf("%s: %d records, want %d", topic, len(outs), n)
		}
		for _, o := range outs {
			if o.model != want {
				t.Fatalf("%s: partition %d offset %d names model %q, want %q", topic, o.partition, o.offset, o.model, want)
			}
		}
	}
	m := p.shared.Metrics
	if got := histCount(t, m.Score.WithLabelValues("fraud-logistic", "7", "challenger")); got != n {
		t.Fatalf("challenger scores observed: %d, want %d", got, n)
	}
	if got := histCount(t, m.Score.WithLabelValues("fraud", "1", "champion")); got != n {
		t.Fatalf("champion scores observed: %d, want %d", got, n)
	}
	// The challenger reviews at 0.2, the champion at 0.5: on 1500 generated
	// events with planted fraud they disagree somewhere; the counter must show it.
	if got := counter(t, m.Disagreements); got == 0 {
		t.Fatal("no decision disagreements counted")
	}
}

func histCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var d dto.Metric
	if err := o.(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

func counter(t *testing.T, m prometheus.Metric) float64 { return value(t, m) }
