package features

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestHourAndDayAsPackageTime: the direct hour-of-day and day-of-week match
// package time for instants around the epoch, at day and hour edges, far away
// and at the extremes of int64.
func TestHourAndDayAsPackageTime(t *testing.T) {
	ms := []int64{0, -1, 1, 86_400_000, -86_400_000, 86_399_999, -86_400_001, 3_599_999, 3_600_000,
		dayMillis, -dayMillis, dayMillis + 1, -dayMillis - 1, math.MaxInt64, math.MinInt64, 1_767_225_600_000}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		ms = append(ms, r.Int64N(2*dayMillis)-dayMillis, r.Int64N(1<<42)-1<<41, int64(r.Uint64()))
	}
	for _, m := range ms {
		tm := time.UnixMilli(m).UTC()
		if h, d := hourOfDay(m), dayOfWeek(m); h != tm.Hour() || d != int(tm.Weekday()) {
			t.Fatalf("%d ms: hour %d, weekday %d; package time says %d, %d", m, h, d, tm.Hour(), tm.Weekday())
		}
	}
}
