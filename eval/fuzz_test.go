package eval

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/config"
)

// FuzzReport feeds arbitrary scores (NaN, ±Inf, huge, negative), labels,
// segments and times: Report must not panic, and report.json and report.html
// must render, with no NaN or Inf in either.
func FuzzReport(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1, 2, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0, 1})
	f.Add([]byte(strings.Repeat("\x00\x00\x00\x00\x00\x00\xf0\x7f\x01\x05\xff\xff\xff\xff\xff\xff\xef\xff\x00\x07", 4)))
	f.Fuzz(func(t *testing.T, data []byte) {
		th := []config.Threshold{{Decision: "review", MinScore: math.Inf(-1)}, {Decision: "block", MinScore: 0.5}}
		acc := New([]Model{{Name: "a", Thresholds: th}, {Name: "b", Thresholds: th}}, Options{Bootstrap: 5, CostFP: 1, CostFN: 3})
		for len(data) >= 20 && acc.Len() < 64 {
			s0 := math.Float64frombits(binary.LittleEndian.Uint64(data[0:]))
			s1 := math.Float64frombits(binary.LittleEndian.Uint64(data[10:]))
			label := int8(data[8]%4) - 1 // -1, 0, 1 and 2 (invalid)
			acc.Add(Row{EventTime: int64(data[9]) * 3_600_000 * int64(data[19]), Segment: string(rune('a' + data[18]%3)), Label: label,
				Scores: []float64{s0, s1}, Decisions: []string{decideWith(th, s0), decideWith(th, s1)}})
			data = data[20:]
		}
		r, err := acc.Report(Provenance{})
		if acc.Len() == 0 {
			if err == nil {
				t.Fatal("no rows: no error")
			}
			return
		}
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		j, err := r.JSON()
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		if !json.Valid(j) {
			t.Fatal("report.json is not valid JSON")
		}
		h, err := r.HTML()
		if err != nil {
			t.Fatalf("html: %v", err)
		}
		for _, bad := range []string{"NaN", "Inf"} {
			if strings.Contains(string(h), bad) {
				i := strings.Index(string(h), bad)
				t.Fatalf("report.html contains %s: …%s…", bad, h[max(0, i-80):min(len(h), i+40)])
			}
		}
	})
}
