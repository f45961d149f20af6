package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Score is a threshold or score that may be infinite (a min_score of -Inf
// alerts on everything); JSON has no infinity, so ±Inf is written as the
// strings "-Infinity" / "Infinity" and NaN as null.
type Score float64

// MarshalJSON implements json.Marshaler.
func (s Score) MarshalJSON() ([]byte, error) { return []byte(jsonFloat(float64(s))), nil }

func jsonFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "null"
	case math.IsInf(v, 1):
		return `"Infinity"`
	case math.IsInf(v, -1):
		return `"-Infinity"`
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

type thresholdJSON struct {
	Decision string `json:"decision"`
	MinScore Score  `json:"min_score"`
}

// MarshalJSON writes a model with snake_case names and its thresholds.
func (m Model) MarshalJSON() ([]byte, error) {
	t := make([]thresholdJSON, len(m.Thresholds))
	for i, th := range m.Thresholds {
		t[i] = thresholdJSON{th.Decision, Score(th.MinScore)}
	}
	return json.Marshal(struct {
		Name       string          `json:"name"`
		Version    string          `json:"version"`
		Hash       string          `json:"hash"`
		Thresholds []thresholdJSON `json:"thresholds"`
	}{m.Name, m.Version, m.Hash, t})
}

// MarshalJSON writes the provenance with snake_case names.
func (p Provenance) MarshalJSON() ([]byte, error) {
	type warmup struct {
		From   string `json:"from"`
		Events int64  `json:"events"`
	}
	models := p.Models
	if models == nil {
		models = []Model{}
	}
	return json.Marshal(struct {
		From               string                     `json:"from"`
		To                 string                     `json:"to"`
		FromOffsets        map[string]map[int32]int64 `json:"from_offsets"`
		ToOffsets          map[string]map[int32]int64 `json:"to_offsets"`
		Warmup             warmup                     `json:"warmup"`
		Models             []Model                    `json:"models"`
		LabelsSource       string                     `json:"labels_source"`
		LabelsSHA256       string                     `json:"labels_sha256"`
		LabelsMatched      int64                      `json:"labels_matched"`
		LabelsUnmatched    int64                      `json:"labels_unmatched"`
		Version            string                     `json:"version"`
		Events             int64                      `json:"events"`
		DeadLetters        int64                      `json:"dead_letters"`
		DeadLettersByClass map[string]int64           `json:"dead_letters_by_class"`
	}{p.From, p.To, p.FromOffsets, p.ToOffsets, warmup{p.Warmup.From, p.Warmup.Events}, models,
		p.LabelsSource, p.LabelsSHA256, p.LabelsMatched, p.LabelsUnmatched, p.Version,
		p.Events, p.DeadLetters, p.DeadLettersByClass})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Score) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*s = Score(math.NaN())
	case float64:
		*s = Score(x)
	case string:
		f, err := strconv.ParseFloat(x, 64) // "Infinity", "-Infinity"
		if err != nil {
			return fmt.Errorf("eval: score %q: %w", x, err)
		}
		*s = Score(f)
	default:
		return fmt.Errorf("eval: score: unexpected %s", b)
	}
	return nil
}

// UnmarshalJSON reads [x, y].
func (p *Point) UnmarshalJSON(b []byte) error {
	var xy [2]Score
	if err := json.Unmarshal(b, &xy); err != nil {
		return err
	}
	p.X, p.Y = float64(xy[0]), float64(xy[1])
	return nil
}
