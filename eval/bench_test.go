package eval

import (
	"fmt"
	"testing"
)

// cpuPerOp reports the process's CPU time per op as cpu-ms/op.
func cpuPerOp(b *testing.B, run func()) {
	b.ReportAllocs()
	start := processCPU()
	n := 0
	for b.Loop() {
		run()
		n++
	}
	b.ReportMetric(float64(processCPU()-start)/1e6/float64(n), "cpu-ms/op")
}

// Add is on the replay driver's path (once per event); Report runs once at the
// end and is dominated by the sorts and the bootstrap.
//
//	go test -run '^$' -bench . -benchtime=3x ./eval   # cpu-ms/op: CPU time, robust on a shared machine
func BenchmarkAdd(b *testing.B) {
	row := Row{EventID: "e", Key: "k", EventTime: 1, Segment: "web", Label: 1,
		Scores: []float64{0.1, 0.2}, Decisions: []string{"allow", "review"}}
	b.ReportAllocs()
	acc := New([]Model{{Name: "a"}, {Name: "b"}}, Options{})
	for b.Loop() {
		acc.Add(row)
	}
}

func BenchmarkReport(b *testing.B) {
	for _, c := range []struct {
		rows, bootstrap int
	}{{10_000, 1000}, {1_000_000, -1}, {1_000_000, 1000}} {
		b.Run(fmt.Sprintf("rows=%d/bootstrap=%d", c.rows, c.bootstrap), func(b *testing.B) {
			acc := synthetic(c.rows, Options{Bootstrap: c.bootstrap, CostFP: 1, CostFN: 20})
			cpuPerOp(b, func() {
				if _, err := acc.Report(Provenance{}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// The bootstrap alone: 200 resamples of 200,000 paired rows.
func BenchmarkBootstrap(b *testing.B) {
	acc := synthetic(200_000, Options{})
	y := make([]int8, len(acc.labels))
	for i, l := range acc.labels {
		y[i] = max(l, 0)
	}
	cpuPerOp(b, func() { bootstrapDelta(acc.scores[0], acc.scores[1], y, 200, 1) })
}
