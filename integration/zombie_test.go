//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/scorestream/scorestream/audit"
)

// members returns the client ids of the group's members and the group state.
func (s *scenario) members(ctx context.Context) ([]string, string, error) {
	dg, err := s.adm.DescribeGroups(ctx, s.group)
	if err != nil {
		return nil, "", err
	}
	g, ok := dg[s.group]
	if !ok || g.Err != nil {
		return nil, "", fmt.Errorf("describe group %s: %v", s.group, g.Err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.ClientID)
	}
	return ids, g.State, nil
}

// waitMembership polls until want(members, state) is true.
func (s *scenario) waitMembership(want func(members []string, state string) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ms, st, err := s.members(ctx)
		cancel()
		if err == nil && want(ms, st) {
			return nil
		}
		last = fmt.Sprintf("members %v state %s err %v", ms, st, err)
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("group condition not met within %s: %s", timeout, last)
}

// TestZombie SIGSTOPs an instance until the group moves its partitions to the
// others, keeps events flowing, then SIGCONTs it. Its transactional id was
// fenced (its transaction aborted), so nothing it produces after resuming may
// become visible: the audit must show no duplicates.
func TestZombie(t *testing.T) {
	s := newScenario(t, "zombie", suite.brokers, -1)
	s.mayExit = true // a zombie may exit once fenced
	s.cfgPatch = func(c map[string]any) {
		st := c["stream"].(map[string]any)
		st["session_timeout"] = "6s"
		st["rebalance_timeout"] = "8s" // must stay below the transaction timeout
		st["transaction_timeout"] = "10s"
	}
	n := 100_000 * suite.scale
	const rate = 3000.0
	var rep audit.Report
	res := result{"instances": 3, "session_timeout": "6s", "transaction_timeout": "10s"}
	defer func() { s.report(res, rep) }()
	for _, id := range []string{"0", "1", "2"} {
		s.start(id)
	}
	g := s.gen(n, rate, 14)
	zombie := s.instances["1"]
	if err := waitMetric(zombie, "scorestream_stream_transactions_total", `result="committed"`, 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	base, err := s.committed(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := zombie.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Its partitions move: the member leaves the group, and every partition
	// commits again (the zombie's open transaction no longer blocks them).
	if err := s.waitMembership(func(ms []string, st string) bool {
		return st == "Stable" && len(ms) == 2 && !slices.Contains(ms, "scorestream-1")
	}, 2*time.Minute); err != nil {
		t.Fatalf("zombie's partitions never moved: %v", err)
	}
	res["stop_to_member_removed_s"] = ms(time.Since(stopped)) / 1000
	d, err := s.waitAdvanced(base, stopped, 2*time.Minute)
	if err != nil {
		t.Fatalf("after the zombie left: %v", err)
	}
	res["stop_to_all_partitions_committing_s"] = ms(d) / 1000
	t.Logf("zombie stopped → all partitions committing on the others: %s", d.Round(time.Millisecond))

	if err := zombie.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	// The zombie must exit, or rejoin as a fresh member; either way within bounds.
	outcome := ""
	for deadline := time.Now().Add(2 * time.Minute); outcome == "" && time.Now().Before(deadline); {
		if done, err := zombie.exited(); done {
			outcome = fmt.Sprintf("exited (%v)", err)
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ms, st, err := s.members(ctx)
		cancel()
		if err == nil && st == "Stable" && slices.Contains(ms, "scorestream-1") {
			outcome = "rejoined the group"
		}
		s.mu.Lock()
		if len(s.unplanned) > 0 {
			outcome = "exited: " + s.unplanned[0]
		}
		s.mu.Unlock()
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	if outcome == "" {
		t.Errorf("the zombie neither exited nor rejoined within 2 minutes of SIGCONT (log %s)", zombie.logPath)
	}
	res["zombie_outcome"] = outcome
	res["resume_to_outcome_s"] = ms(time.Since(resumed)) / 1000
	t.Logf("zombie after SIGCONT: %s", outcome)

	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)
}

// TestStall SIGSTOPs an instance for longer than stream.transaction_timeout
// (10s) but less than the session timeout (30s): the broker aborts its open
// transaction; after SIGCONT the instance must not commit that work, and the
// output stays exactly once.
func TestStall(t *testing.T) {
	s := newScenario(t, "stall", suite.brokers, -1)
	s.cfgPatch = func(c map[string]any) {
		st := c["stream"].(map[string]any)
		st["session_timeout"] = "30s"
		st["rebalance_timeout"] = "8s" // must stay below the transaction timeout
		st["transaction_timeout"] = "10s"
	}
	n := 60_000 * suite.scale
	const rate = 3000.0
	var rep audit.Report
	res := result{"instances": 2, "session_timeout": "30s", "transaction_timeout": "10s"}
	defer func() { s.report(res, rep) }()
	for _, id := range []string{"0", "1"} {
		s.start(id)
	}
	g := s.gen(n, rate, 15)
	staller := s.instances["1"]
	if err := waitMetric(staller, "scorestream_stream_transactions_total", `result="committed"`, 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	txnID := s.group + "-1"
	// The broker sees a transaction open only from its first produce to its
	// EndTxn: scorestream scores and produces a transaction's records at its
	// end, so a stop at a random moment mostly finds none open. Stop, look, and
	// resume at once until the stop catches one Ongoing (each look is a few
	// milliseconds, far inside the session timeout).
	var first kadm.DescribedTransaction
	var stopped time.Time
	attempts := 0
	for {
		attempts++
		if err := staller.signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		dt, err := s.adm.DescribeTransactions(ctx, txnID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		first = dt[txnID]
		if first.State == "Ongoing" {
			break
		}
		if err := staller.signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if attempts == 500 || g.finished() {
			t.Fatalf("%d stops never caught transaction %s open (last state %s)", attempts, txnID, first.State)
		}
		time.Sleep(time.Duration(5+attempts%17) * time.Millisecond) // vary the phase of the next stop
	}
	res["stops_to_catch_open_txn"] = attempts
	res["txn_state_at_stop"] = first.State
	t.Logf("transaction %s at SIGSTOP (attempt %d): %s (epoch %d)", txnID, attempts, first.State, first.ProducerEpoch)
	// Wait (well inside the 30s session) for the broker to abort it: the state
	// leaves Ongoing for an abort, with a bumped epoch.
	aborted := false
	for deadline := stopped.Add(26 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		dt, err := s.adm.DescribeTransactions(ctx, txnID)
		cancel()
		if err == nil {
			d := dt[txnID]
			if (d.State == "PrepareAbort" || d.State == "CompleteAbort") && d.ProducerEpoch > first.ProducerEpoch {
				aborted = true
				t.Logf("broker aborted %s after %s: %s, epoch %d", txnID, time.Since(stopped).Round(time.Millisecond), d.State, d.ProducerEpoch)
				break
			}
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	res["stop_to_broker_abort_s"] = ms(time.Since(stopped)) / 1000
	if err := staller.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	res["broker_aborted"] = aborted
	if !aborted {
		t.Errorf("the stalled instance's transaction was Ongoing at SIGSTOP but the broker did not abort it within 26s")
	}
	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	done, exitErr := staller.exited()
	s.mu.Lock()
	res["staller_outcome"] = fmt.Sprintf("exited=%v (%v), unplanned exits %v", done, exitErr, s.unplanned)
	s.mu.Unlock()
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)
}
