package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/stream"
)

// get returns the status code and body of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers code (or fails the test after 60 s)
// and returns the body.
func waitStatus(t *testing.T, url string, code int) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, body := get(t, url)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %q, want %d", url, got, body, code)
		}
		time.Sleep(50 * time.Millisecond) // polling inside a deadline loop
	}
}

// TestHealthzHungLoop: /readyz turns ready once the assigned partitions are
// restored (with no input yet); /healthz fails while the loop is made to hang
// (its commit callback blocks) with records waiting, and recovers when the
// loop goes on. The loop runs on the embedded broker (kfake), as in `run`.
func TestHealthzHungLoop(t *testing.T) {
	env, err := demo.Start(2, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream.LivenessTimeout = time.Second
	cfg.Stream.SessionTimeout = 6 * time.Second
	cfg.Stream.RebalanceTimeout = 6 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	shared, err := stream.Prepare(ctx, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	loop, err := shared.NewLoop("hang-1", log)
	if err != nil {
		t.Fatal(err)
	}
	var hang atomic.Bool
	hung, release := make(chan struct{}, 1), make(chan struct{})
	loop.SetOnCommit(func(int) {
		if hang.Load() {
			hung <- struct{}{}
			<-release // the loop hangs here, after a commit, until released
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lag := &stream.GroupLag{Admin: kadm.NewClient(cl), Group: cfg.Stream.Group, Topics: cfg.Stream.InputTopics,
		Metrics: shared.Metrics, Log: log, Every: 100 * time.Millisecond}
	alive := func() error { return loop.Alive(time.Now(), lag.Lag) }
	addr, err := serveHTTP(ctx, "127.0.0.1:0", reg, loop.Ready, alive, log)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr

	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before the loop runs: %d, want 503", code)
	}
	lagDone, loopDone := make(chan struct{}), make(chan error, 1)
	lctx, stopLag := context.WithCancel(ctx)
	go func() { defer close(lagDone); lag.Run(lctx) }()
	rctx, stopLoop := context.WithCancel(ctx)
	go func() { loopDone <- loop.Run(rctx) }()
	defer func() {
		stopLoop()
		if err := <-loopDone; err != nil {
			t.Errorf("loop: %v", err)
		}
		stopLag()
		<-lagDone
	}()

	// Ready with no input at all: the assignment's state was restored eagerly.
	waitStatus(t, base+"/readyz", http.StatusOK)
	if n := restores(t, reg); n == 0 {
		t.Fatal("/readyz ready, but no partition was restored")
	}
	p, err := demo.NewProducer(ctx, env.Brokers, env.RegistryURL, "payments", gen.Config{Seed: 3, Cards: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	produce := func(n int) {
		t.Helper()
		if err := p.Produce(ctx, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	produce(200)
	scored := func(n int64) func() bool {
		return func() bool { return loop.Stats.Predictions.Load()+loop.Stats.DeadLetters.Load() >= n }
	}
	eventually(t, "200 records scored", scored(200))
	// Idle for twice the bound: alive all along (its polls return).
	for end := time.Now().Add(2 * cfg.Stream.LivenessTimeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if code, body := get(t, base+"/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz of an idle loop: %d %q", code, body)
		}
	}

	hang.Store(true)
	produce(100)
	<-hung       // the loop committed and now hangs
	produce(100) // records it cannot take: lag
	body := waitStatus(t, base+"/healthz", http.StatusServiceUnavailable)
	if !strings.Contains(body, "no progress for") || !strings.Contains(body, "payments/") {
		t.Fatalf("/healthz body %q lacks the reason and the partitions", body)
	}
	t.Logf("hung: /healthz %s", strings.TrimSpace(body))

	hang.Store(false)
	close(release)
	waitStatus(t, base+"/healthz", http.StatusOK)
	eventually(t, "all 400 records scored after the hang", scored(400))
}

// eventually polls cond until it holds, failing the test after 60 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// restores is the number of restores scorestream_state_restore_seconds counted.
func restores(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "scorestream_state_restore_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestLoggerDurations: JSON logs write durations as strings, also in groups.
func TestLoggerDurations(t *testing.T) {
	var b strings.Builder
	newLogger(&b, "info", "json").With("component", "x").WithGroup("g").Info("done", "took", 1500*time.Millisecond)
	var got struct {
		G struct {
			Took string `json:"took"`
		} `json:"g"`
	}
	if err := json.Unmarshal([]byte(b.String()), &got); err != nil || got.G.Took != "1.5s" {
		t.Fatalf("log line %q: took %q (err %v), want \"1.5s\"", b.String(), got.G.Took, err)
	}
}
