//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/replay"
	"github.com/scorestream/scorestream/stream"
)

// TestReplayBitForBit runs the live pipeline with feature logging while events
// flow — a second instance joins (rebalance) and the first is SIGKILLed and
// restarted (crash, rebalance, restore from the changelog) — and then replays
// the same input with `scorestream replay` and the same model. Every replayed
// prediction must equal the live one bit for bit in score, decision, model hash
// and logged features (replay.Diff; scoring_time and the model's name differ
// by design and are not compared). It does so for the whole range and for the
// second half of every partition with state warmed from the log start.
func TestReplayBitForBit(t *testing.T) {
	s := newScenario(t, "replay", suite.brokers, -1)
	s.cfgPatch = func(c map[string]any) { c["output"].(map[string]any)["feature_logging"] = true }
	n := 20_000 * suite.scale
	const rate = 2000.0
	var rep audit.Report
	res := result{"instances": 2, "partitions": s.partitions, "rate": rate}
	defer func() { s.report(res, rep) }()

	s.start("0")
	g := s.gen(n, rate, 21)
	time.Sleep(3 * time.Second) // chaos workload timing: events flow before the join
	s.start("1")
	time.Sleep(3 * time.Second) // ... and before the kill
	if g.finished() {
		t.Fatal("the generator finished before the kill: raise the event count")
	}
	_ = s.instances["0"].signal(syscall.SIGKILL)
	s.start("0")
	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)

	live := s.livePredictions()
	if len(live) == 0 || rep.DeadLetters == 0 {
		t.Fatalf("%d live predictions, %d dead letters: the run did not exercise both paths", len(live), rep.DeadLetters)
	}
	cfg := s.instances["0"].cfgPath

	out := t.TempDir()
	rsum := s.replay(cfg, "--features", "--out", out, "--model", "fraud="+s.modelPath)
	got, err := replay.ReadParquet(filepath.Join(out, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d := replay.Diff(live, got); len(d) > 0 {
		t.Fatalf("whole range: %d of %d predictions differ from live, first: %v", len(d), len(live), d[:min(5, len(d))])
	}
	if rsum.DeadLetters != rep.DeadLetters {
		t.Errorf("replay counted %d dead letters, the live pipeline wrote %d", rsum.DeadLetters, rep.DeadLetters)
	}

	var mid []string
	half := map[int32]int64{}
	for p, end := range rsum.ToOffsets[s.input] {
		half[p] = end / 2
		mid = append(mid, fmt.Sprintf("%s:%d=%d", s.input, p, end/2))
	}
	out2 := t.TempDir()
	hsum := s.replay(cfg, "--features", "--out", out2, "--warmup", "all", "--from-offsets", strings.Join(mid, ","))
	got2, err := replay.ReadParquet(filepath.Join(out2, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var liveHalf []replay.Prediction
	for _, p := range live {
		if p.SourceOffset >= half[p.SourcePartition] {
			liveHalf = append(liveHalf, p)
		}
	}
	if d := replay.Diff(liveHalf, got2); len(d) > 0 {
		t.Fatalf("second half: %d of %d predictions differ from live, first: %v", len(d), len(liveHalf), d[:min(5, len(d))])
	}
	if hsum.Warmup.Events == 0 {
		t.Errorf("second half: no warm-up records")
	}
	res["live_predictions"] = len(live)
	res["dead_letters"] = rep.DeadLetters
	res["replay_events_per_s"] = rsum.EventsPerSecond
	res["second_half_predictions"] = len(liveHalf)
	res["second_half_warmup_records"] = hsum.Warmup.Events
	t.Logf("%d live predictions (%d dead letters) after a join, a SIGKILL and a restart: replay equal bit for bit; second half (%d) equal with %d warm-up records",
		len(live), rep.DeadLetters, len(liveHalf), hsum.Warmup.Events)
}

// livePredictions reads the scenario's committed predictions.
func (s *scenario) livePredictions() []replay.Prediction {
	s.t.Helper()
	dec, err := replay.NewPredictionDecoder()
	if err != nil {
		s.t.Fatal(err)
	}
	ps := make([]int32, s.partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out []replay.Prediction
	conn := []kgo.Opt{kgo.SeedBrokers(strings.Split(s.brokers, ",")...)}
	err = stream.ReadCommitted(ctx, conn, s.cl, s.preds, ps, func(r *kgo.Record) error {
		p, err := dec.Decode(r.Value)
		out = append(out, p)
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// replay runs `scorestream replay -c cfg args...` and returns its summary.
func (s *scenario) replay(cfg string, args ...string) replay.Summary {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(suite.bin, append([]string{"replay", "-c", cfg, "--progress", "1s"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("replay %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
	}
	s.t.Logf("replay %v:\n%s", args, stdout.String())
	var out string
	for i, a := range args {
		if a == "--out" {
			out = args[i+1]
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var sum replay.Summary
	if err := json.Unmarshal(data, &sum); err != nil {
		s.t.Fatal(err)
	}
	return sum
}
