package stream_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/state/checkpoint"
	"github.com/scorestream/scorestream/stream"
)

// harness is an embedded broker and registry with the demo topics and config.
type harness struct {
	t      *testing.T
	env    *demo.Env
	cfg    *config.Config
	shared *stream.Shared
	log    *slog.Logger
}

func newHarness(t *testing.T, partitions int32) *harness {
	t.Helper()
	env, err := demo.Start(partitions, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream.MaxRecordsPerTxn = 100 // many transactions, so faults hit many of them
	// About 33 cards per partition of 6 and room for 12: the LRU evicts all the
	// time, and a transaction writes many of its entities several times.
	cfg.State.MaxEntities = 12
	cfg.Stream.TransactionTimeout = 10 * time.Second
	cfg.Stream.SessionTimeout = 6 * time.Second
	cfg.Stream.RebalanceTimeout = 6 * time.Second
	cfg.Registry.RetryMax = 200 * time.Millisecond
	// Checkpoints on, written after nearly every commit: every restore in these
	// tests (rebalance, session restart) starts from one, and checkState checks
	// the checkpoints as well as the changelog.
	cfg.State.Dir = t.TempDir()
	cfg.State.CheckpointInterval = 10 * time.Millisecond
	shared, err := stream.Prepare(context.Background(), cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, env: env, cfg: cfg, shared: shared, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (h *harness) produce(n int, malformed float64) *demo.Producer {
	h.t.Helper()
	p, err := demo.NewProducer(context.Background(), h.env.Brokers, h.env.RegistryURL, "payments",
		gen.Config{Seed: 7, Cards: 200, MalformedRate: malformed})
	if err != nil {
		h.t.Fatal(err)
	}
	defer p.Close()
	if err := p.Produce(context.Background(), n, 0); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// instance runs one loop until stop is called.
type instance struct {
	loop *stream.Loop
	stop context.CancelFunc
	done chan error
	once sync.Once
}

func (h *harness) start(id string, commits chan<- int) *instance {
	h.t.Helper()
	l, err := h.shared.NewLoop(id, h.log)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{loop: l, stop: cancel, done: make(chan error, 1)}
	l.SetOnCommit(func(n int) {
		select {
		case commits <- n:
		default: // the waiter re-reads the totals on its next wake-up
		}
	})
	go func() { in.done <- l.Run(ctx) }()
	h.t.Cleanup(func() { in.close(h.t) })
	return in
}

func (in *instance) close(t *testing.T) {
	in.once.Do(func() {
		in.stop()
		if err := <-in.done; err != nil {
			t.Errorf("loop: %v", err)
		}
	})
}

// waitScored reads commit notifications until the committed records across all
// instances reach n or the deadline passes.
func waitScored(t *testing.T, commits <-chan int, n int, loops ...*stream.Loop) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		total := int64(0)
		for _, l := range loops {
			total += l.Stats.Predictions.Load() + l.Stats.DeadLetters.Load()
		}
		if total >= int64(n) {
			return
		}
		select {
		case <-commits:
		case <-deadline:
			t.Fatalf("timed out: %d of %d records committed", total, n)
		}
	}
}

func (h *harness) audit() audit.Report {
	h.t.Helper()
	rep, err := audit.Run(context.Background(), []kgo.Opt{kgo.SeedBrokers(h.env.Brokers...)}, audit.Config{
		InputTopics: []string{"payments"}, PredictionsTopic: "predictions", DeadLetterTopic: "payments-dlq",
	}, nil)
	if err != nil {
		h.t.Fatalf("audit: %v", err)
	}
	return rep
}

// TestExactlyOnceUnderAbortsAndRebalance runs one instance, forces aborted
// transactions through the broker, adds a second instance mid-stream (a
// rebalance), and checks the committed output and the state changelog.
func TestExactlyOnceUnderAbortsAndRebalance(t *testing.T) {
	const n = 4000
	h := newHarness(t, 6)
	prod := h.produce(n, 0.02)
	if len(prod.Malformed) == 0 {
		t.Fatal("generator produced no malformed records; the dead-letter path is untested")
	}

	// Every third transaction commit is answered TRANSACTION_ABORTABLE: the
	// client must abort, rewind and score those records again.
	forced := h.failCommits(kerr.TransactionAbortable.Code, func(n int32) bool { return n%3 == 0 })

	commits := make(chan int, 1024)
	a := h.start("a", commits)
	waitScored(t, commits, n/4, a.loop)
	b := h.start("b", commits) // rebalance mid-stream
	waitScored(t, commits, n, a.loop, b.loop)
	a.close(t)
	b.close(t)
	h.env.Cluster.DropControl()

	if forced.Load() == 0 {
		t.Fatal("no transaction was forced to abort")
	}
	aborted := a.loop.Stats.Aborted.Load() + b.loop.Stats.Aborted.Load()
	if aborted < int64(forced.Load()) {
		t.Fatalf("%d forced aborts but the loops saw %d aborted transactions", forced.Load(), aborted)
	}
	rep := h.audit()
	if !rep.Clean || rep.Inputs != n || rep.Duplicates != 0 || rep.Missing != 0 {
		t.Fatalf("audit not clean: %+v", rep)
	}
	dead := 0
	for _, c := range prod.Malformed {
		dead += c
	}
	if rep.DeadLetters != int64(dead) || rep.Predictions != int64(n-dead) {
		t.Fatalf("dead letters %d predictions %d, want %d and %d", rep.DeadLetters, rep.Predictions, dead, n-dead)
	}
	h.checkState(6)
}

// checkState compares the changelog's state with the state computed in one
// fault-free pass over the input, in offset order per partition.
func (h *harness) checkState(partitions int32) {
	t := h.t
	t.Helper()
	ctx := context.Background()
	cl, conn, ps, proc := h.sequentialPass(partitions)
	stCfg := state.Config{Limits: h.shared.Spec.Limits(), MaxEntities: h.cfg.State.MaxEntities}
	want, err := stream.Replay(ctx, conn, cl, "payments", ps, proc, stCfg)
	if err != nil {
		t.Fatal(err)
	}
	got, records, err := stream.Restore(ctx, conn, cl, "scorestream-state-changelog", ps, stCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	entities, diffs := stream.DiffState(want, got)
	if len(diffs) > 0 {
		t.Fatalf("%d differences, first: %s", len(diffs), diffs[0])
	}
	if entities == 0 {
		t.Fatal("no entity state at all")
	}
	// The test is about evictions and repeated writes: check they happened.
	var m dto.Metric
	if err := h.shared.Metrics.EarlyEvictions.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.GetCounter().GetValue() == 0 {
		t.Fatal("no early eviction: max_entities does not bound the state in this test")
	}
	scored := h.scoredRecords()
	if records >= scored {
		t.Fatalf("%d changelog records for %d scored records: no transaction wrote an entity once for several events", records, scored)
	}
	t.Logf("%d entities equal a fault-free pass (LRU order included); %d changelog records for %d scored records, %v early evictions",
		entities, records, scored, m.GetCounter().GetValue())
	h.checkCheckpoints(ps, want, h.shared.Checkpoints)
}

// checkCheckpoints restores every partition from the checkpoints in dir, after
// every instance stopped gracefully: each must be usable and current (nothing
// left in the changelog after it), and equal the fault-free pass.
func (h *harness) checkCheckpoints(ps []int32, want map[int32]*state.Partition, dir *checkpoint.Dir) {
	t := h.t
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stCfg := state.Config{Limits: h.shared.Spec.Limits(), MaxEntities: h.cfg.State.MaxEntities}
	rs, err := stream.RestoreFromCheckpoints(context.Background(), []kgo.Opt{kgo.SeedBrokers(h.env.Brokers...)}, cl,
		"scorestream-state-changelog", ps, stCfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[int32]*state.Partition, len(rs))
	for p, r := range rs {
		if r.From == nil {
			t.Fatalf("partition %d: no usable checkpoint after a graceful stop (refused: %q)", p, r.Refused)
		}
		if r.Records != 0 {
			t.Fatalf("partition %d: %d changelog records after the checkpoint written on shutdown", p, r.Records)
		}
		got[p] = r.State
	}
	if _, diffs := stream.DiffState(want, got); len(diffs) > 0 {
		t.Fatalf("checkpoints: %d differences from a fault-free pass, first: %s", len(diffs), diffs[0])
	}
}

// counter reads a counter of the shared metrics.
func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	c.Collect(ch)
	close(ch)
	total := 0.0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		total += d.GetCounter().GetValue()
	}
	return total
}

// TestCheckpointTail: instance a checkpoints its partitions on shutdown; b,
// without checkpoints, scores more (the changelog grows past a's checkpoints);
// a comes back, restores from its checkpoints plus the changelog tail b wrote —
// one checkpoint corrupted on purpose is refused and that partition restored in
// full — and scores the rest. Output and state stay exactly once, and the
// restore read only the tail.
func TestCheckpointTail(t *testing.T) {
	const n = 1500
	h := newHarness(t, 3)
	prod, err := demo.NewProducer(context.Background(), h.env.Brokers, h.env.RegistryURL, "payments",
		gen.Config{Seed: 7, Cards: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	send := func() {
		if err := prod.Produce(context.Background(), n, 0); err != nil {
			t.Fatal(err)
		}
	}
	dirA := h.shared.Checkpoints
	commits := make(chan int, 1024)

	send()
	a := h.start("a", commits)
	waitScored(t, commits, n, a.loop)
	a.close(t)

	h.shared.Checkpoints = nil // b keeps none
	send()
	b := h.start("b", commits)
	waitScored(t, commits, n, b.loop) // after a's session timed out, b owns everything
	b.close(t)

	// Damage partition 2's checkpoint: refused, restored in full.
	path := dirA.Path(checkpoint.Identity{Topic: "scorestream-state-changelog", Partition: 2})
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	tailBefore := counter(t, h.shared.Metrics.TailRecords)
	h.shared.Checkpoints = dirA
	send()
	a2 := h.start("a", commits)
	waitScored(t, commits, n, a2.loop)
	a2.close(t)

	if got := counter(t, h.shared.Metrics.CheckpointRefused); got != 1 {
		t.Errorf("%v checkpoints refused, want 1 (the corrupted one)", got)
	}
	if got := counter(t, h.shared.Metrics.Restores.MustCurryWith(prometheus.Labels{"source": "checkpoint"})); got < 2 {
		t.Errorf("%v restores from a checkpoint, want at least 2", got)
	}
	if tail := counter(t, h.shared.Metrics.TailRecords) - tailBefore; tail == 0 {
		t.Errorf("restores from a's checkpoints read no changelog tail: b's writes were not read after them")
	}
	rep := h.audit()
	if !rep.Clean || rep.Inputs != 3*n || rep.Duplicates != 0 || rep.Missing != 0 {
		t.Fatalf("audit not clean: %+v", rep)
	}
	h.checkState(3)
}

// scoredRecords counts the predictions committed (each scored record has one).
func (h *harness) scoredRecords() int {
	return int(h.audit().Predictions)
}

// TestRegistryUnavailableHolds makes the registry fail with 503: the loop must
// hold the input (no prediction, no dead letter) and score everything once the
// registry is back.
func TestRegistryUnavailableHolds(t *testing.T) {
	const n = 500
	h := newHarness(t, 3)
	h.produce(n, 0)
	var down atomic.Bool
	down.Store(true)
	failed := make(chan struct{}, 64)
	h.env.Registry.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !down.Load() || r.Method != http.MethodGet {
			return false
		}
		select {
		case failed <- struct{}{}:
		default:
		}
		http.Error(w, `{"error_code":50301,"message":"unavailable"}`, http.StatusServiceUnavailable)
		return true
	})
	commits := make(chan int, 1024)
	a := h.start("a", commits)
	for i := 0; i < 3; i++ { // three failed lookups: the loop retried, holding
		<-failed
	}
	if got := a.loop.Stats.Predictions.Load() + a.loop.Stats.DeadLetters.Load(); got != 0 {
		t.Fatalf("%d records committed while the registry was down", got)
	}
	down.Store(false)
	waitScored(t, commits, n, a.loop)
	a.close(t)
	rep := h.audit()
	if !rep.Clean || rep.DeadLetters != 0 || rep.Predictions != n {
		t.Fatalf("after the outage: %+v", rep)
	}
}

// TestSessionRestartAfterFailedCommit: an EndTxn that fails with an error the
// session cannot recover from (here INVALID_PRODUCER_EPOCH, as after the broker
// timed the transaction out) must not stop the instance: it starts a new session,
// restores state, and the output stays exactly once.
func TestSessionRestartAfterFailedCommit(t *testing.T) {
	const n = 2000
	h := newHarness(t, 3)
	h.produce(n, 0.01)
	failed := h.failCommits(kerr.InvalidProducerEpoch.Code, func(n int32) bool { return n == 4 })
	commits := make(chan int, 1024)
	a := h.start("a", commits)
	waitScored(t, commits, n, a.loop)
	a.close(t)
	if failed.Load() != 1 {
		t.Fatalf("%d commits failed, want 1", failed.Load())
	}
	var m dto.Metric
	if err := h.shared.Metrics.SessionRestarts.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Fatalf("%v session restarts, want 1", got)
	}
	rep := h.audit()
	if !rep.Clean || rep.Inputs != n || rep.Predictions+rep.DeadLetters != n {
		t.Fatalf("audit after a session restart: %+v", rep)
	}
	h.checkState(3)
}

// failCommits makes the broker answer the n-th committing EndTxn with code
// wherever fail(n) holds (n counts from 1), and returns how many it failed.
func (h *harness) failCommits(code int16, fail func(n int32) bool) *atomic.Int32 {
	var commits, failed atomic.Int32
	h.env.Cluster.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		h.env.Cluster.KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit || !fail(commits.Add(1)) {
			return nil, nil, false
		}
		failed.Add(1)
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = code
		return resp, nil, true
	})
	return &failed
}

// TestCorruptChangelogRecord: a changelog record that does not decode is logged
// and counted when its partition is restored, its entity starts empty, and the
// loop goes on scoring everything exactly once (no crash loop).
func TestCorruptChangelogRecord(t *testing.T) {
	const n = 300
	h := newHarness(t, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.env.Brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	bad := &kgo.Record{Topic: "scorestream-state-changelog", Partition: 1, Key: []byte("card-0001"), Value: []byte{0x7f, 1, 2, 3}}
	if err := cl.ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	h.produce(n, 0)
	commits := make(chan int, 1024)
	a := h.start("a", commits)
	waitScored(t, commits, n, a.loop)
	a.close(t)
	var m dto.Metric
	if err := h.shared.Metrics.CorruptState.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Fatalf("%v corrupt changelog records counted, want 1", got)
	}
	if rep := h.audit(); !rep.Clean || rep.Predictions != n {
		t.Fatalf("audit after a corrupt changelog record: %+v", rep)
	}
}
