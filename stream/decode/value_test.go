package decode

import (
	"math"
	"testing"
)

// TestTimestampMillisIsItsLong: a timestamp-millis' time (as goavro makes it)
// is its long in Unix ms exactly, for every long, so readers may take Int for
// it (features does).
func TestTimestampMillisIsItsLong(t *testing.T) {
	for _, m := range []int64{0, -1, 1, 999, -999, 1000, -1001, 1_767_225_600_123, -62_135_596_800_001,
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1} {
		v := intValue(TimeMillis, m)
		tm, ok := v.Time()
		if !ok || tm.UnixMilli() != v.Int() || v.Int() != m {
			t.Fatalf("%d: time %v (%d ms), Int %d", m, tm, tm.UnixMilli(), v.Int())
		}
	}
}
