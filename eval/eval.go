// Package eval turns scored, labelled events into the evaluation report a model
// owner signs off on: per-model metrics that match scikit-learn, decisions at the
// configured thresholds, an optional cost table, champion-versus-challenger
// comparison with a bootstrap confidence interval, breakdowns by segment and over
// time, and the run's provenance, written as report.json and a self-contained
// report.html.
//
// The package knows nothing about Kafka. A driver (scorestream replay) feeds it
// one Row per event with Add and asks for the Report at the end:
//
//	acc := eval.New(models, eval.Options{Unlabeled: "negative"})
//	for each event { acc.Add(row) }
//	rep, err := acc.Report(provenance)
//	err = rep.WriteFiles(outDir)
//
// Memory: Add keeps compact columns (event time, label, interned segment and
// decision, one float64 per model), about 13+10·models bytes per event; event ids
// and keys are not kept. Report sorts once per model (O(n log n)).
package eval

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/scorestream/scorestream/config"
)

// Model names one scored model. Models[0] is the reference (the champion);
// every other model is a challenger compared against it.
type Model struct {
	Name, Version, Hash string
	Thresholds          []config.Threshold // ascending by MinScore; below the first the decision is "allow"
}

// Row is one event as scored by every model.
type Row struct {
	EventID   string
	Key       string
	EventTime int64     // Unix ms
	Segment   string    // value of the --segment field, "" if none
	Label     int8      // -1 unlabeled, 0 negative, 1 positive; eval applies Options.Unlabeled
	Scores    []float64 // per model, same order as Models; NaN when that model failed on the event
	Decisions []string  // per model
}

// Options tune the report. The zero value is usable.
type Options struct {
	Unlabeled      string        // "exclude" (default) or "negative"
	CostFP, CostFN float64       // both 0 = no cost table
	Bootstrap      int           // resamples for the ΔAUC CI (default 1000); < 0: no bootstrap, DeLong's interval decides
	Seed           int64         // fixed default (DefaultSeed when 0)
	TimeBucket     time.Duration // 0 = auto (hour if range < 3 days, else day)
}

// Defaults for Options.
const (
	DefaultBootstrap = 1000
	DefaultSeed      = 20261103
	// CalibrationBins is the number of uniform bins of the reliability diagram
	// and of the expected calibration error (sklearn calibration_curve,
	// strategy="uniform", n_bins=10).
	CalibrationBins = 10
	// maxTimeBuckets bounds the over-time breakdown; a finer TimeBucket is
	// coarsened to fit.
	maxTimeBuckets = 2000
)

// Provenance says what was evaluated: input range, offsets, models, labels,
// version, event and dead-letter counts. Report copies it into the report as is.
type Provenance struct {
	From, To               string
	FromOffsets, ToOffsets map[string]map[int32]int64 // topic -> partition -> offset
	Warmup                 struct {
		From   string
		Events int64
	}
	Models                         []Model
	LabelsSource, LabelsSHA256     string
	LabelsMatched, LabelsUnmatched int64
	Version                        string
	Events, DeadLetters            int64
	DeadLettersByClass             map[string]int64
}

// ErrNoRows is returned by Report when no row was added.
var ErrNoRows = errors.New("eval: no events to evaluate")

// Accumulator collects rows in compact columns. It is not safe for concurrent
// use: the driver that owns it calls Add from one goroutine.
type Accumulator struct {
	models []Model
	opts   Options

	times  []int64
	labels []int8
	segs   []uint32
	scores [][]float64 // [model][row]
	decs   [][]uint16  // [model][row], index into decNames

	segNames []string
	segIndex map[string]uint32
	decNames []string
	decIndex map[string]uint16

	badLabels int64 // labels other than -1/0/1, kept as unlabeled
	badShape  int64 // rows whose Scores/Decisions length differs from len(models)
}

// New returns an Accumulator for models (models[0] is the reference).
func New(models []Model, opts Options) *Accumulator {
	a := &Accumulator{
		models:   append([]Model(nil), models...),
		opts:     opts,
		scores:   make([][]float64, len(models)),
		decs:     make([][]uint16, len(models)),
		segIndex: map[string]uint32{},
		decIndex: map[string]uint16{},
	}
	return a
}

// Add records one row. It copies what it keeps; r may be reused by the caller.
// A row with the wrong number of scores is counted and makes Report fail.
func (a *Accumulator) Add(r Row) {
	if len(r.Scores) != len(a.models) || (r.Decisions != nil && len(r.Decisions) != len(a.models)) {
		a.badShape++
		return
	}
	label := r.Label
	if label != -1 && label != 0 && label != 1 {
		a.badLabels++
		label = -1
	}
	a.times = append(a.times, r.EventTime)
	a.labels = append(a.labels, label)
	a.segs = append(a.segs, a.intern(r.Segment))
	for m := range a.models {
		a.scores[m] = append(a.scores[m], r.Scores[m])
		d := ""
		if r.Decisions != nil {
			d = r.Decisions[m]
		}
		a.decs[m] = append(a.decs[m], a.internDecision(d))
	}
}

func (a *Accumulator) intern(s string) uint32 {
	if i, ok := a.segIndex[s]; ok {
		return i
	}
	i := uint32(len(a.segNames))
	a.segNames = append(a.segNames, s)
	a.segIndex[s] = i
	return i
}

func (a *Accumulator) internDecision(s string) uint16 {
	if i, ok := a.decIndex[s]; ok {
		return i
	}
	if len(a.decNames) == math.MaxUint16 {
		s = "(other)" // more distinct decisions than any threshold set has
		if i, ok := a.decIndex[s]; ok {
			return i
		}
	}
	i := uint16(len(a.decNames))
	a.decNames = append(a.decNames, s)
	a.decIndex[s] = i
	return i
}

// Len is the number of rows added.
func (a *Accumulator) Len() int { return len(a.times) }

func (o Options) validate() (Options, error) {
	switch o.Unlabeled {
	case "":
		o.Unlabeled = "exclude"
	case "exclude", "negative":
	default:
		return o, fmt.Errorf("eval: unlabeled: %q must be \"exclude\" or \"negative\"", o.Unlabeled)
	}
	if o.CostFP < 0 || o.CostFN < 0 || math.IsNaN(o.CostFP) || math.IsNaN(o.CostFN) || math.IsInf(o.CostFP, 0) || math.IsInf(o.CostFN, 0) {
		return o, fmt.Errorf("eval: cost: fp=%v fn=%v must be finite and >= 0", o.CostFP, o.CostFN)
	}
	if o.Bootstrap == 0 {
		o.Bootstrap = DefaultBootstrap
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.TimeBucket < 0 {
		return o, fmt.Errorf("eval: time bucket: %v must be >= 0", o.TimeBucket)
	}
	return o, nil
}
