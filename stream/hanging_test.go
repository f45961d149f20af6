package stream

import (
	"slices"
	"testing"
	"time"
)

// TestOffsetsPartition: the group's __consumer_offsets partition is Kafka's
// abs(String.hashCode()) % n; the hashes were computed with Java's rules
// (UTF-16 code units, int32 overflow, Utils.abs of MIN_VALUE is 0).
func TestOffsetsPartition(t *testing.T) {
	for _, c := range []struct {
		group string
		want  int32
	}{
		{"scorestream", 24},       // hashCode -1866475374
		{"payments-scorer", 10},   // -1930890560
		{"it-crash-123", 18},      // -26468118
		{"grüße", 23},             // 98768023
		{"𝄞group", 47},            // 1490451797: a surrogate pair
		{"polygenelubricants", 0}, // Integer.MIN_VALUE
	} {
		if got := OffsetsPartition(c.group, 50); got != c.want {
			t.Errorf("OffsetsPartition(%q, 50) = %d, want %d", c.group, got, c.want)
		}
	}
}

func TestHangingRule(t *testing.T) {
	for _, c := range []struct {
		decided    bool
		decidedFor time.Duration
		age        time.Duration
		olderThan  time.Duration
		want       bool
	}{
		{false, 0, time.Second, time.Minute, false},        // a live transaction
		{false, 0, time.Minute, time.Minute, true},         // open too long
		{true, 0, time.Second, time.Minute, false},         // decided, marker on its way
		{true, StableWait, time.Second, time.Minute, true}, // decided, marker overdue
		{true, StableWait - time.Millisecond, time.Hour, 2 * time.Hour, false},
		{true, 0, 20 * time.Second, time.Minute, false},         // decided just now, records written 20 s ago: markers on their way
		{true, StableWait, 20 * time.Second, time.Minute, true}, // ... and still no marker StableWait later
	} {
		if got := hanging(c.decided, c.decidedFor, c.age, c.olderThan); got != c.want {
			t.Errorf("hanging(decided %v for %s, age %s, older than %s) = %v, want %v", c.decided, c.decidedFor, c.age, c.olderThan, got, c.want)
		}
	}
	if !(Hanging{Decided: true, CoordState: "CompleteCommit"}).Committed() ||
		(Hanging{Decided: false, CoordState: "PrepareCommit"}).Committed() ||
		(Hanging{Decided: true, CoordState: "CompleteAbort"}).Committed() {
		t.Error("Committed: only a decided commit is committed")
	}
}

// TestHangingFinderDecidedSince: a transaction its coordinator has decided is
// hanging only once it has been seen decided for StableWait, however long ago
// its producer wrote to the partition (the false report of a fresh 3-node
// cluster: a commit in PrepareCommit, records written 15 s before it, listed
// as hanging while its markers were on their way).
func TestHangingFinderDecidedSince(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	slow := openTxn{topic: "p", partition: 1, producer: 7, epoch: 3, start: 40, lastWrite: t0.Add(-15 * time.Second)}
	stuck := openTxn{topic: "p", partition: 2, producer: 8, epoch: 1, start: 90, lastWrite: t0.Add(-time.Second)}
	old := openTxn{topic: "p", partition: 3, producer: 9, epoch: 2, start: 10, lastWrite: t0.Add(-2 * time.Minute)}
	coord := map[int64]coordTxn{
		7: {id: "a", state: "PrepareCommit", epoch: 4},
		8: {id: "b", state: "CompleteAbort", epoch: 2},
		9: {id: "c", state: "Ongoing", epoch: 2}, // still open at its coordinator: only its age counts
	}
	var f HangingFinder
	parts := func(hs []Hanging) []int32 {
		var ps []int32
		for _, h := range hs {
			ps = append(ps, h.Partition)
		}
		return ps
	}

	hs, due := f.classify([]openTxn{slow, stuck, old}, coord, time.Minute, t0)
	if got := parts(hs); !slices.Equal(got, []int32{3}) {
		t.Fatalf("first look: hanging partitions %v, want [3] (the decided ones were first seen now)", got)
	}
	if want := t0.Add(StableWait); !due.Equal(want) {
		t.Errorf("first look: due %v, want %v", due, want)
	}

	// 4 s later the slow commit's markers landed; the abort is still open.
	hs, due = f.classify([]openTxn{stuck, old}, coord, time.Minute, t0.Add(4*time.Second))
	if got := parts(hs); !slices.Equal(got, []int32{3}) {
		t.Fatalf("after 4s: hanging partitions %v, want [3]", got)
	}
	if want := t0.Add(StableWait); !due.Equal(want) {
		t.Errorf("after 4s: due %v, want %v (first seen at t0)", due, want)
	}

	// StableWait after it was first seen, the abort's marker is overdue.
	hs, due = f.classify([]openTxn{stuck, old}, coord, time.Minute, t0.Add(StableWait))
	if got := parts(hs); !slices.Equal(got, []int32{2, 3}) {
		t.Fatalf("after StableWait: hanging partitions %v, want [2 3]", got)
	}
	if !due.IsZero() || !hs[0].Decided || hs[0].CoordState != "CompleteAbort" {
		t.Errorf("after StableWait: due %v, %+v", due, hs[0])
	}

	// A transaction that is gone is forgotten: seen again (same key) it
	// starts over.
	f.classify(nil, coord, time.Minute, t0.Add(20*time.Second))
	if hs, _ := f.classify([]openTxn{stuck}, coord, time.Minute, t0.Add(21*time.Second)); len(hs) != 0 {
		t.Errorf("seen again after it was gone: %v, want none yet", parts(hs))
	}
}
