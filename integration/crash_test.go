//go:build integration

package integration

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scorestream/scorestream/audit"
)

// crashMaxEntities is TestCrash's state.max_entities per partition.
const crashMaxEntities = 40

// TestCrash runs three instances on a 12-partition input while events flow at a
// steady rate, SIGKILLs a random instance every few seconds and restarts it under
// the same id. The committed output must be exactly once and the changelog's
// per-entity state — the LRU's entities and their order, with state.max_entities
// small enough that evictions happen — must equal one fault-free pass.
func TestCrash(t *testing.T) {
	s := newScenario(t, "crash", suite.brokers, -1)
	s.noCheckpoints = os.Getenv("SCORESTREAM_IT_CRASH_NO_CHECKPOINTS") != "" // the "before" figures
	// Far fewer entities than cards per partition: the LRU evicts all the time, so
	// the state check compares which entities survive and in what order, and
	// transactions write busy cards several times.
	s.cfgPatch = func(c map[string]any) { c["state"].(map[string]any)["max_entities"] = crashMaxEntities }
	n := 200_000 * suite.scale
	const rate = 2000.0 // events/s: ~100 s of traffic at CI size
	const minKills = 10
	var rep audit.Report
	res := result{"instances": 3, "partitions": s.partitions, "rate": rate, "session_timeout": "6s"}
	defer func() { s.report(res, rep) }()

	ids := []string{"0", "1", "2"}
	for _, id := range ids {
		s.start(id)
	}
	g := s.gen(n, rate, 11)
	gens := []*genRun{g}
	counts := []int{n}

	begin := time.Now()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var (
		mu        sync.Mutex
		recovered durations
		notRecov  int
		wg        sync.WaitGroup
	)
	// A recovery time means something only while events flow: after the
	// generator has finished, every partition is "at its end" at once. So at
	// least minKills kills must land while it runs; if it finishes first (a
	// slow machine restarts instances slowly), more events follow.
	kills, underLoad := 0, 0
	for {
		if g.finished() {
			if underLoad >= minKills {
				break
			}
			more := 20_000 * suite.scale
			g = s.gen(more, rate, 11+len(gens))
			gens, counts = append(gens, g), append(counts, more)
			t.Logf("%d kills under load so far: %d more events", underLoad, more)
		}
		time.Sleep(randDuration(rng, 4*time.Second, 8*time.Second)) // chaos workload timing
		id := ids[rng.IntN(len(ids))]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		base, err := s.committed(ctx)
		cancel()
		if err != nil {
			t.Fatalf("committed offsets before kill: %v", err)
		}
		loaded := !g.finished()
		at := time.Now()
		_ = s.instances[id].signal(syscall.SIGKILL) // exit error is "signal: killed"
		kills++
		t.Logf("kill %d: instance %s (%.1fs into the run, events flowing: %v)", kills, id, at.Sub(begin).Seconds(), loaded)
		if loaded {
			underLoad++
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := s.waitAdvanced(base, at, 3*time.Minute)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					notRecov++
					t.Logf("kill of instance %s at %s: %v", id, at.Format(time.TimeOnly), err)
					return
				}
				recovered = append(recovered, d)
			}()
		}
		s.start(id)
	}
	var sum genSummary
	for i, g := range gens {
		gs := g.wait(t, counts[i])
		sum.Events += gs.Events
		sum.Seconds += gs.Seconds
	}
	caught := s.waitCaughtUp(5 * time.Minute)
	wg.Wait()
	s.stopGracefully()

	rep = s.audit()
	s.requireClean(rep, sum.Events)
	if rep.DeadLetters == 0 {
		t.Errorf("no dead letters: the malformed-record path was not exercised")
	}
	entities := s.checkState(s.instances["0"].cfgPath)
	// ~83 cards per partition for room for 40: a full LRU everywhere means it evicted.
	if full := crashMaxEntities * int(s.partitions); entities != full {
		t.Errorf("%d entities held, want every partition's LRU full (%d): without evictions the test proves less than it says", entities, full)
	}

	res["kills"] = kills
	res["kills_under_load"] = underLoad
	res["gen_seconds"] = sum.Seconds
	res["catch_up_after_gen_s"] = ms(caught) / 1000
	res["entities"] = entities
	res["recovery_samples"] = len(recovered)
	res["recovery_not_observed"] = notRecov
	res["recovery_median_s"] = ms(recovered.median()) / 1000
	res["recovery_max_s"] = ms(recovered.max()) / 1000
	ck, full := s.restoreTimes()
	res["checkpoints"] = !s.noCheckpoints
	res["restores_from_checkpoint"] = len(ck)
	res["restore_from_checkpoint_median_s"] = ms(ck.median()) / 1000
	res["restores_full"] = len(full)
	res["restore_full_median_s"] = ms(full.median()) / 1000
	t.Logf("%d kills (%d while events flowed); kill → all partitions committing again: median %s, max %s (%d samples, %d not observed)",
		kills, underLoad, recovered.median().Round(time.Millisecond), recovered.max().Round(time.Millisecond), len(recovered), notRecov)
	if notRecov > 0 {
		t.Errorf("%d kills never saw every partition commit again within 3 minutes", notRecov)
	}
}
