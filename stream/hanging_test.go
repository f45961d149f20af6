package stream

import (
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
		decided   bool
		age       time.Duration
		olderThan time.Duration
		want      bool
	}{
		{false, time.Second, time.Minute, false}, // a live transaction
		{false, time.Minute, time.Minute, true},  // open too long
		{true, time.Second, time.Minute, false},  // decided, marker on its way
		{true, StableWait, time.Minute, true},    // decided, marker overdue
		{true, StableWait - time.Millisecond, time.Hour, false},
	} {
		if got := hanging(c.decided, c.age, c.olderThan); got != c.want {
			t.Errorf("hanging(decided %v, age %s, older than %s) = %v, want %v", c.decided, c.age, c.olderThan, got, c.want)
		}
	}
	if !(Hanging{Decided: true, CoordState: "CompleteCommit"}).Committed() ||
		(Hanging{Decided: false, CoordState: "PrepareCommit"}).Committed() ||
		(Hanging{Decided: true, CoordState: "CompleteAbort"}).Committed() {
		t.Error("Committed: only a decided commit is committed")
	}
}
