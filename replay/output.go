package replay

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Row is one scored event as the evaluation takes it: field for field the
// eval package's Row, so that eval.Row(r) converts it.
type Row struct {
	EventID   string
	Key       string
	EventTime int64 // Unix ms
	Segment   string
	Label     int8      // -1 unlabeled, 0 negative, 1 positive
	Scores    []float64 // per model; NaN where that model failed
	Decisions []string  // per model
}

// Evaluator accumulates rows for the evaluation report (eval.Accumulator).
type Evaluator interface {
	Add(Row)
}

// Output is the Sink of a replay run from the command line: each scored event
// is joined to its label and written to the Parquet file, the topic and the
// evaluator (each if set). Dead letters are counted by the Replayer and written
// nowhere.
type Output struct {
	Parquet *ParquetWriter
	Topic   *TopicWriter
	Labels  *Labels
	Eval    Evaluator
}

// Write implements Sink.
func (o *Output) Write(ev *Event) error {
	if ev.DeadLetter != "" {
		return nil
	}
	label := o.Labels.Lookup(ev.EventID)
	if o.Parquet != nil {
		if err := o.Parquet.Write(ev, label); err != nil {
			return err
		}
	}
	if o.Topic != nil {
		if err := o.Topic.Write(ev); err != nil {
			return err
		}
	}
	if o.Eval != nil {
		o.Eval.Add(Row{EventID: ev.EventID, Key: string(ev.Key), EventTime: ev.Time, Segment: ev.Segment,
			Label: label, Scores: ev.Scores, Decisions: ev.Decisions})
	}
	return nil
}

// Summary is what a replay did, for people (the command's summary) and tools
// (summary.json).
type Summary struct {
	From, To           string `json:",omitempty"` // as asked (RFC 3339)
	FromOffsets        Offsets
	ToOffsets          Offsets
	Warmup             WarmupSummary
	Models             []ModelID
	Events             int64
	DeadLetters        int64
	DeadLettersByClass map[string]int64
	LabelsSource       string `json:",omitempty"`
	LabelsSHA256       string `json:",omitempty"`
	LabelsMatched      int64
	LabelsUnmatched    int64
	Seconds            float64
	EventsPerSecond    float64
	Version            string
}

// WarmupSummary says how far back state was warmed.
type WarmupSummary struct {
	From        string `json:",omitempty"` // "log start", or the timestamp looked up
	FromOffsets Offsets
	Events      int64
}

// NewSummary fills a summary from the spans, the run's stats and the labels.
func NewSummary(spans []Span, st Stats, labels *Labels, elapsed time.Duration) Summary {
	s := Summary{FromOffsets: Offsets{}, ToOffsets: Offsets{}, Warmup: WarmupSummary{FromOffsets: Offsets{}, Events: st.Warmup},
		Events: st.Events, DeadLetters: st.DeadLetters, DeadLettersByClass: st.DeadLettersByClass, Seconds: elapsed.Seconds()}
	for _, sp := range spans {
		for _, o := range []struct {
			m   Offsets
			off int64
		}{{s.FromOffsets, sp.From}, {s.ToOffsets, sp.To}, {s.Warmup.FromOffsets, sp.WarmFrom}} {
			if o.m[sp.Topic] == nil {
				o.m[sp.Topic] = map[int32]int64{}
			}
			o.m[sp.Topic][sp.Partition] = o.off
		}
	}
	if elapsed > 0 {
		s.EventsPerSecond = float64(st.Events+st.DeadLetters) / elapsed.Seconds()
	}
	if labels != nil {
		s.LabelsSource, s.LabelsSHA256 = labels.Source, labels.SHA256
		s.LabelsMatched, s.LabelsUnmatched = labels.Matched()
	}
	return s
}

// WriteJSON writes v as indented JSON to path through a temporary file and a
// rename.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
