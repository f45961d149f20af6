//go:build integration

package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scorestream/scorestream/audit"
)

// TestStaticRestart: with static membership (the default), an instance
// SIGKILLed and restarted within the session timeout gets its partitions back
// with no rebalance. The broker's group keeps every instance's assignment (the
// restarted one under a new member id), the other instances log no assignment
// after the kill (franz-go calls OnPartitionsAssigned on every rebalance, even
// when nothing moves), every partition commits again, and the output is
// exactly once.
func TestStaticRestart(t *testing.T) {
	s := newScenario(t, "static", suite.brokers, -1)
	s.cfgPatch = func(c map[string]any) {
		st := c["stream"].(map[string]any)
		st["static_membership"] = true
		st["session_timeout"] = "30s" // the restart must land within it
	}
	n := 40_000 * suite.scale
	const rate = 2000.0
	var rep audit.Report
	res := result{"instances": 3, "session_timeout": "30s"}
	defer func() { s.report(res, rep) }()

	ids := []string{"0", "1", "2"}
	for _, id := range ids {
		s.start(id)
	}
	g := s.gen(n, rate, 21)
	for _, id := range ids {
		if err := waitMetric(s.instances[id], "scorestream_stream_transactions_total", `result="committed"`, 3, time.Minute); err != nil {
			t.Fatalf("instance %s: %v", id, err)
		}
	}
	before := s.waitGroupSettled(time.Minute)
	others := map[string]int{}
	for _, id := range []string{"0", "2"} {
		others[id] = countLines(t, s.instances[id].logPath, `"msg":"partitions assigned"`)
	}

	base, err := s.committed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	_ = s.instances["1"].signal(syscall.SIGKILL) // exit error is "signal: killed"
	s.start("1")
	restarted := time.Since(at)
	recovery, err := s.waitAdvanced(base, at, 2*time.Minute)
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	after := s.waitGroupSettled(time.Minute)
	t.Logf("kill → restarted instance ready %s; → every partition committing %s", restarted.Round(time.Millisecond), recovery.Round(time.Millisecond))
	res["restart_ready_s"] = ms(restarted) / 1000
	res["kill_to_committing_s"] = ms(recovery) / 1000

	for _, id := range ids {
		if !slices.Equal(before[id].parts, after[id].parts) {
			t.Errorf("instance %s: assigned %v before the restart, %v after: the group rebalanced", id, before[id].parts, after[id].parts)
		}
	}
	if before["1"].member == after["1"].member {
		t.Errorf("instance 1 kept member id %s: it did not rejoin", before["1"].member)
	}
	for _, id := range []string{"0", "2"} {
		if before[id].member != after[id].member {
			t.Errorf("instance %s: member id %s → %s", id, before[id].member, after[id].member)
		}
		if got := countLines(t, s.instances[id].logPath, `"msg":"partitions assigned"`); got != others[id] {
			t.Errorf("instance %s logged %d assignments after the restart of instance 1: the group rebalanced (log %s)", id, got-others[id], s.instances[id].logPath)
		}
	}

	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)
	res["entities"] = s.checkState(s.instances["0"].cfgPath)
}

type groupMember struct {
	member string
	parts  []int32 // of the input topic, sorted
}

// waitGroupSettled waits until the group is Stable with one member per
// instance and every input partition assigned once, and returns the members by
// instance id.
func (s *scenario) waitGroupSettled(timeout time.Duration) map[string]groupMember {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		dg, err := s.adm.DescribeGroups(ctx, s.group)
		cancel()
		if err != nil {
			last = err.Error()
		} else if d, ok := dg[s.group]; ok && d.Err == nil {
			out := map[string]groupMember{}
			total := 0
			for _, m := range d.Members {
				c, ok := m.Assigned.AsConsumer()
				if !ok || m.InstanceID == nil {
					continue
				}
				gm := groupMember{member: m.MemberID}
				for _, t := range c.Topics {
					if t.Topic == s.input {
						gm.parts = append(gm.parts, t.Partitions...)
					}
				}
				slices.Sort(gm.parts)
				total += len(gm.parts)
				out[*m.InstanceID] = gm
			}
			if d.State == "Stable" && len(out) == len(s.instances) && total == int(s.partitions) {
				return out
			}
			last = fmt.Sprintf("state %s, %d static members, %d partitions assigned", d.State, len(out), total)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
	s.t.Fatalf("group %s not settled after %s: %s", s.group, timeout, last)
	return nil
}

// countLines counts the lines of a file that contain sub.
func countLines(t *testing.T, path, sub string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
