package eval

import (
	"fmt"
	"testing"
)

// Add is on the replay driver's path (once per event); Report runs once at the
// end and is dominated by the sorts and the bootstrap.
//
//	go test -run '^$' -bench . -benchmem ./eval
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
	}{{10_000, 1000}, {1_000_000, 0}, {1_000_000, 1000}} {
		b.Run(fmt.Sprintf("rows=%d/bootstrap=%d", c.rows, c.bootstrap), func(b *testing.B) {
			acc := synthetic(c.rows, Options{Bootstrap: c.bootstrap, CostFP: 1, CostFN: 20})
			if c.bootstrap == 0 {
				acc.opts.Bootstrap = 1 // the smallest bootstrap: the rest of the report
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := acc.Report(Provenance{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
