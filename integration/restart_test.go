//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scorestream/scorestream/audit"
)

// TestRollingRestart SIGTERMs each instance in turn while events flow, restarting
// it before the next. A graceful stop finishes (commits) its open transaction.
func TestRollingRestart(t *testing.T) {
	s := newScenario(t, "rolling", suite.brokers, -1)
	n := 100_000 * suite.scale
	const rate = 3000.0
	var rep audit.Report
	res := result{"instances": 3}
	defer func() { s.report(res, rep) }()

	ids := []string{"0", "1", "2"}
	for _, id := range ids {
		s.start(id)
	}
	g := s.gen(n, rate, 12)
	abortedAtExit := 0.0
	restarts := 0
	for round := 0; round < 2 && !g.finished(); round++ {
		for _, id := range ids {
			in := s.instances[id]
			// Wait until this instance has committed something, so each stop
			// interrupts real work.
			if err := waitMetric(in, "scorestream_stream_transactions_total", `result="committed"`, 1, time.Minute); err != nil {
				t.Fatalf("instance %s: %v", id, err)
			}
			a, err := in.metric("scorestream_stream_transactions_total", `result="aborted"`)
			if err != nil {
				t.Fatalf("instance %s metrics: %v", id, err)
			}
			abortedAtExit += a
			if err := in.signal(syscall.SIGTERM); err != nil {
				t.Errorf("instance %s: SIGTERM: exit %v, want 0 (log %s)", id, err, in.logPath)
			}
			restarts++
			s.start(id)
		}
	}
	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)
	res["graceful_restarts"] = restarts
	res["aborted_txns_metrics_before_sigterm"] = abortedAtExit
	t.Logf("%d graceful restarts; %v transactions aborted per /metrics just before each SIGTERM", restarts, abortedAtExit)
}

// waitMetric polls an instance's /metrics until the counter reaches min.
func waitMetric(in *instance, name, labels string, min float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var v float64
	var err error
	for time.Now().Before(deadline) {
		if v, err = in.metric(name, labels); err == nil && v >= min {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("%s{%s} = %v (err %v) after %s, want >= %v", name, labels, v, err, timeout, min)
}

// TestBrokerRestart SIGKILLs the (single) broker mid-run and starts it again;
// the pipeline must recover by itself.
func TestBrokerRestart(t *testing.T) {
	if os.Getenv("SCORESTREAM_IT_BROKER_CONTROL") != "single" {
		t.Skip("SCORESTREAM_IT_BROKER_CONTROL=single not set: this test kills the broker of scripts/kafka.sh (scripts/integration.sh sets it)")
	}
	s := newScenario(t, "broker-restart", suite.brokers, -1)
	n := 100_000 * suite.scale
	const rate = 3000.0
	var rep audit.Report
	res := result{"instances": 3}
	defer func() { s.report(res, rep) }()
	for _, id := range []string{"0", "1", "2"} {
		s.start(id)
	}
	g := s.gen(n, rate, 13)
	if err := waitMetric(s.instances["0"], "scorestream_stream_transactions_total", `result="committed"`, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	base, err := s.committed(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	kafka(t, "kill")
	down := time.Now()
	kafka(t, "start")
	up := time.Now()
	res["broker_down_s"] = ms(up.Sub(down)) / 1000
	if d, err := s.waitAdvanced(base, up, 5*time.Minute); err != nil {
		t.Errorf("after the broker restart: %v", err)
	} else {
		res["broker_up_to_all_partitions_committing_s"] = ms(d) / 1000
		t.Logf("broker back → every partition committing again: %s", d.Round(time.Millisecond))
	}
	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)
}

// kafka runs scripts/kafka.sh with args.
func kafka(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("scripts/kafka.sh", args...)
	cmd.Dir = suite.root
	out, err := cmd.CombinedOutput()
	t.Logf("kafka.sh %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("kafka.sh %s: %v", strings.Join(args, " "), err)
	}
}
