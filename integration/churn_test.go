//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scorestream/scorestream/audit"
)

// churnDuration is how long TestChurn kills instances; SCORESTREAM_IT_CHURN
// (a Go duration) overrides it for longer local runs.
const churnDuration = 3 * time.Minute

// TestChurn is issue 9's churn schedule: three instances with static membership
// and checkpoints, a random one SIGKILLed every 0.5–3 s for churnDuration while
// events flow, each restarted at once by the test's supervisor (as systemd's
// Restart=always would; Kubernetes adds a crash-loop backoff). The exactly-once
// audit and the state check are asserted. The progress figures — the longest
// stretch with no committed transaction (goal <= 15 s) and the time from each
// kill to every partition committing again (goal: median <= 2 s) — are reported
// in the results, not asserted: the project does not assert durations.
func TestChurn(t *testing.T) {
	dur := churnDuration
	if v := os.Getenv("SCORESTREAM_IT_CHURN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SCORESTREAM_IT_CHURN=%q: want a positive Go duration", v)
		}
		dur = d
	}
	s := newScenario(t, "churn", suite.brokers, -1)
	s.noCheckpoints = os.Getenv("SCORESTREAM_IT_CHURN_NO_CHECKPOINTS") != "" // the "before" figures
	s.cfgPatch = func(c map[string]any) {
		c["state"].(map[string]any)["max_entities"] = crashMaxEntities
		if os.Getenv("SCORESTREAM_IT_CHURN_DYNAMIC") != "" { // the "before" figures
			c["stream"].(map[string]any)["static_membership"] = false
		}
	}
	const rate = 2000.0
	n := int(rate * (dur + 20*time.Second).Seconds())
	var rep audit.Report
	res := result{"instances": 3, "partitions": s.partitions, "rate": rate, "session_timeout": "6s",
		"churn_s": dur.Seconds(), "checkpoints": !s.noCheckpoints, "checkpoint_interval": checkpointInterval,
		"static_membership": os.Getenv("SCORESTREAM_IT_CHURN_DYNAMIC") == ""}
	defer func() { s.report(res, rep) }()

	ids := []string{"0", "1", "2"}
	for _, id := range ids {
		s.start(id)
	}
	g := s.gen(n, rate, 21)

	// The commit watcher: every 100 ms, did any partition's committed offset
	// move? The longest stretch without, while events flow, is the figure.
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	var longestGap time.Duration
	watch.Go(func() {
		var last map[int32]int64
		lastCommit := time.Now()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := s.committed(ctx)
			cancel()
			if err != nil {
				continue
			}
			moved := false
			for p, o := range c {
				if o != last[p] {
					moved = true
				}
			}
			now := time.Now()
			if moved {
				if last != nil && !g.finished() {
					longestGap = max(longestGap, now.Sub(lastCommit))
				}
				lastCommit, last = now, c
			}
		}
	})

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var (
		mu        sync.Mutex
		recovered durations
		notRecov  int
		wg        sync.WaitGroup // recovery watchers and restarts
	)
	begin := time.Now()
	kills := 0
	for time.Since(begin) < dur && !g.finished() {
		time.Sleep(randDuration(rng, 500*time.Millisecond, 3*time.Second)) // chaos workload timing
		in := s.instances[ids[rng.IntN(len(ids))]]
		if done, _ := in.exited(); done {
			continue // still restarting from an earlier kill
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		base, err := s.committed(ctx)
		cancel()
		if err != nil {
			t.Fatalf("committed offsets before kill: %v", err)
		}
		at := time.Now()
		_ = in.signal(syscall.SIGKILL) // exit error is "signal: killed"
		kills++
		wg.Go(func() { // the supervisor: restart at once; launch waits for /readyz
			if err := in.launch(); err != nil {
				t.Errorf("restart instance %s: %v", in.id, err)
			}
		})
		wg.Go(func() {
			d, err := s.waitAdvanced(base, at, 3*time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				notRecov++
				return
			}
			recovered = append(recovered, d)
		})
	}
	t.Logf("%d kills in %s", kills, time.Since(begin).Round(time.Second))
	sum := g.wait(t, n)
	close(stopWatch)
	watch.Wait()
	caught := s.waitCaughtUp(5 * time.Minute)
	wg.Wait()
	s.stopGracefully()

	rep = s.audit()
	s.requireClean(rep, sum.Events)
	entities := s.checkState(s.instances["0"].cfgPath)

	ck, full := s.restoreTimes()
	res["kills"] = kills
	res["gen_seconds"] = sum.Seconds
	res["catch_up_after_gen_s"] = ms(caught) / 1000
	res["entities"] = entities
	res["longest_no_commit_s"] = ms(longestGap) / 1000
	res["longest_no_commit_goal_met"] = longestGap <= 15*time.Second
	res["kill_to_all_committing_samples"] = len(recovered)
	res["kill_to_all_committing_not_observed"] = notRecov
	res["kill_to_all_committing_median_s"] = ms(recovered.median()) / 1000
	res["kill_to_all_committing_p90_s"] = ms(recovered.quantile(0.9)) / 1000
	res["kill_to_all_committing_max_s"] = ms(recovered.max()) / 1000
	res["kill_to_all_committing_median_goal_met"] = len(recovered) > 0 && recovered.median() <= 2*time.Second
	res["restores_from_checkpoint"] = len(ck)
	res["restore_from_checkpoint_median_s"] = ms(ck.median()) / 1000
	res["restores_full"] = len(full)
	res["restore_full_median_s"] = ms(full.median()) / 1000
	t.Logf("%d kills; longest stretch without a commit %s; kill → all partitions committing: median %s, p90 %s, max %s (%d samples, %d not within 3 min); restore from checkpoint median %s (%d), full %s (%d)",
		kills, longestGap.Round(time.Millisecond), recovered.median().Round(time.Millisecond),
		recovered.quantile(0.9).Round(time.Millisecond), recovered.max().Round(time.Millisecond), len(recovered), notRecov,
		ck.median().Round(time.Millisecond), len(ck), full.median().Round(time.Millisecond), len(full))
	if notRecov > 0 {
		t.Errorf("%d kills never saw every partition commit again within 3 minutes", notRecov)
	}
}

// restoreTimes reads every instance log's "restored state" lines: the restore
// times of those that started every partition from a checkpoint, and of those
// that restored every partition in full.
func (s *scenario) restoreTimes() (fromCheckpoint, full durations) {
	s.eachLogLine(func(line []byte) {
		if !bytes.Contains(line, []byte(`"restored state"`)) {
			return
		}
		var l struct {
			Partitions []int32 `json:"partitions"`
			FromCkpt   int     `json:"from_checkpoint"`
			Took       string  `json:"took"` // JSON logs write durations as strings ("20ms")
		}
		if json.Unmarshal(line, &l) != nil {
			return
		}
		took, err := time.ParseDuration(l.Took)
		if err != nil { // reported, never asserted: a line it cannot read is left out
			return
		}
		switch l.FromCkpt {
		case len(l.Partitions):
			fromCheckpoint = append(fromCheckpoint, took)
		case 0:
			full = append(full, took)
		}
	})
	return fromCheckpoint, full
}
