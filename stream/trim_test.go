package stream_test

import (
	"context"
	"testing"
	"time"
)

// TestTrimKeepsAuditExact: demo.Env.Trim, which bounds the endless demo's
// memory, deletes only what needs no more auditing. Trimmed while the loop
// scores, the inputs left and the outputs left still audit clean: every input
// left has its one output, outputs naming deleted inputs (committed between
// the two deletions) are ignored, and the inputs deleted plus those audited
// are all that were produced.
func TestTrimKeepsAuditExact(t *testing.T) {
	h := newHarness(t, 3)
	commits := make(chan int, 16)
	in := h.start("trim-1", commits)
	ctx := context.Background()
	var trimmed int64
	const rounds, per = 5, 1000
	for i := 0; i < rounds; i++ {
		h.produce(per, 0.01)
		n, err := h.env.Trim(ctx, h.cfg.Stream.Group) // the loop is still scoring this round
		if err != nil {
			t.Fatal(err)
		}
		trimmed += n
	}
	waitScored(t, commits, rounds*per, in.loop)
	rep := h.audit()
	if !rep.Clean || rep.Missing != 0 || rep.Duplicates != 0 || rep.Orphans != 0 {
		t.Fatalf("after trimming: %+v", rep)
	}
	if trimmed == 0 || trimmed+rep.Inputs != rounds*per || rep.Predictions+rep.DeadLetters != rep.Inputs+rep.Ignored {
		t.Fatalf("trimmed %d + audited %d inputs (%d predictions, %d dead letters), want %d produced",
			trimmed, rep.Inputs, rep.Predictions, rep.DeadLetters, rounds*per)
	}
	t.Logf("trimmed %d inputs, audited %d, ignored %d outputs of trimmed inputs", trimmed, rep.Inputs, rep.Ignored)
}

// TestReadyRestoresOnAssignment: with no input at all and polls that do not
// time out (liveness off), a loop turns ready: the assignment ends its idle
// poll and the assigned partitions are restored at once.
func TestReadyRestoresOnAssignment(t *testing.T) {
	h := newHarness(t, 3)
	h.cfg.Stream.LivenessTimeout = 0
	in := h.start("ready-1", make(chan int, 1))
	for deadline := time.Now().Add(30 * time.Second); !in.loop.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready after 30 s without input")
		}
	}
}
