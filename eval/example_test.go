package eval_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/eval"
)

// Example builds a report from synthetic rows the way scorestream replay does:
// one Row per event with every model's score and decision, then Report with the
// run's provenance, then WriteFiles.
func Example() {
	thresholds := []config.Threshold{{Decision: "review", MinScore: 0.5}, {Decision: "block", MinScore: 0.9}}
	models := []eval.Model{
		{Name: "champion", Version: "v7", Hash: "sha256:aaaa", Thresholds: thresholds},
		{Name: "challenger", Version: "v8", Hash: "sha256:bbbb", Thresholds: thresholds},
	}
	decide := func(s float64) string {
		d := "allow"
		for _, t := range thresholds {
			if s >= t.MinScore {
				d = t.Decision
			}
		}
		return d
	}
	acc := eval.New(models, eval.Options{Unlabeled: "negative", CostFP: 1, CostFN: 50})
	rng := rand.New(rand.NewPCG(1, 2))
	start := int64(1793491200000) // 2026-11-01T00:00:00Z
	for i := range 5000 {
		fraud := rng.Float64() < 0.05
		label := int8(0)
		if fraud {
			label = 1
		} else if i%3 == 0 {
			label = -1 // no chargeback seen
		}
		signal := 0.0
		if fraud {
			signal = 1
		}
		champ := 1 / (1 + math.Exp(-(rng.NormFloat64() + 2*signal - 2)))
		chall := 1 / (1 + math.Exp(-(rng.NormFloat64() + 3*signal - 2.5)))
		acc.Add(eval.Row{
			EventID:   fmt.Sprintf("e%d", i),
			Key:       fmt.Sprintf("card-%d", i%400),
			EventTime: start + int64(i)*60_000,
			Segment:   []string{"web", "pos", "moto"}[i%3],
			Label:     label,
			Scores:    []float64{champ, chall},
			Decisions: []string{decide(champ), decide(chall)},
		})
	}
	rep, err := acc.Report(eval.Provenance{
		From: "2026-11-01T00:00:00Z", To: "2026-11-04T11:20:00Z", Version: "dev",
		Models: models, Events: 5000,
		FromOffsets: map[string]map[int32]int64{"payments": {0: 0}},
		ToOffsets:   map[string]map[int32]int64{"payments": {0: 5000}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "eval-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := rep.WriteFiles(dir); err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"report.json", "report.html"} {
		_, err := os.Stat(filepath.Join(dir, name))
		fmt.Println(name, err == nil)
	}
	fmt.Println(verdictKind(rep.Comparisons[0]))
	// Output:
	// report.json true
	// report.html true
	// challenger better
}

func verdictKind(c eval.Comparison) string {
	switch {
	case c.CILow != nil && *c.CILow > 0:
		return "challenger better"
	case c.CIHigh != nil && *c.CIHigh < 0:
		return "challenger worse"
	}
	return "no significant difference"
}
