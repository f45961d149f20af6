package eval

import "testing"

func BenchmarkBootstrapOnly(b *testing.B) {
	acc := synthetic(200_000, Options{Unlabeled: "negative"})
	y := make([]int8, len(acc.labels))
	for i, l := range acc.labels {
		y[i] = max(l, 0)
	}
	b.ReportAllocs()
	for b.Loop() {
		bootstrapDelta(acc.scores[0], acc.scores[1], y, 200, 1)
	}
}
