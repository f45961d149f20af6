// Package features turns a decoded event and its entity's prior state into the
// model's input vector, following the config's feature spec.
//
// Field values are taken by name from the event's own writer schema, so a field
// missing from an older or newer schema is a *missing* value (NaN) for the model —
// not zero — unless the spec gives a default. Records come union-free from
// package decode, which removes goavro's union wrappers by the writer schema;
// a null is missing. Transforms:
//
//	log1p        log(1+x); missing for x <= -1
//	hour_of_day  UTC hour 0-23 of a timestamp-millis field (or a long of Unix ms)
//	day_of_week  UTC weekday 0 (Sunday) - 6
//	category     index of the string in categories; unknown values are missing
//	bool         true 1, false 0
//
// State features aggregate a field of the entity's earlier events over an
// event-time window: count, sum, mean, min, max, stddev (population), distinct
// (count of distinct values), and, without a window, last (the latest value; a
// string through transform category) and time_since_last (seconds). A ratio
// feature divides two other features (missing when either is missing or the
// divisor is 0). They read the entity's state before the current event; see
// package state for the window semantics and resolution. Missing values of the
// aggregated field are skipped (not counted, not zero).
package features

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/state"
)

// Event is what the pipeline needs of every event besides the features.
type Event struct {
	ID   string
	Time int64 // event time, Unix ms
}

// ErrFeature marks an event whose features cannot be computed (dead-letter class
// "feature").
var ErrFeature = errors.New("feature")

type path []string

type kind int

const (
	kField kind = iota
	kCount
	kSum
	kMean
	kMin
	kMax
	kStddev
	kDistinct
	kLast
	kSinceLast
	kRatio
)

var stateKinds = map[string]kind{
	"count": kCount, "sum": kSum, "mean": kMean, "min": kMin, "max": kMax, "stddev": kStddev,
	"distinct": kDistinct, "last": kLast, "time_since_last": kSinceLast,
}

type feature struct {
	name      string
	kind      kind
	path      path
	transform string
	cats      map[string]float64
	window    int64 // ms
	comp      int   // series, set or last-value index in the layout
	cap       int   // distinct: the count read is at most this (0: none)
	ratio     [2]int
	def       float64 // NaN if none
}

// Spec is a compiled feature spec. Immutable and safe for concurrent use.
type Spec struct {
	names     []string
	fs        []feature
	eventID   path
	eventTime path
	layout    *state.Layout
	// The field each layout aggregate reads (nil: the event itself).
	seriesPaths, setPaths, lastPaths []path
	limits                           state.Limits
}

// Compile builds a Spec. The config is assumed validated; Compile still rejects
// what it cannot run.
//
// A state feature aggregates its field, or — the older form, without a field —
// state.amount_field (sum, mean, min, max, stddev, last) or state.distinct_field
// (distinct); count without a field counts events. Features on the same field
// and bucket width share one series of buckets.
func Compile(fs []config.Feature, st config.State, sc config.Stream) (*Spec, error) {
	buckets := st.WindowBuckets
	if buckets <= 0 {
		buckets = state.DefaultBuckets
	}
	lay := &state.Layout{MaxDistinct: st.MaxEvents, Buckets: buckets}
	s := &Spec{
		eventID:   split(sc.EventIDField),
		eventTime: split(sc.EventTimeField),
		layout:    lay,
	}
	names := make(map[string]int, len(fs))
	for i, f := range fs {
		names[f.Name] = i
	}
	for i, f := range fs {
		c := feature{name: f.Name, path: split(f.Field), transform: f.Transform, window: f.Window.Milliseconds(), def: math.NaN()}
		if f.Default != nil {
			c.def = *f.Default
		}
		switch {
		case len(f.Ratio) > 0:
			if len(f.Ratio) != 2 {
				return nil, fmt.Errorf("features[%d].ratio: want two feature names, got %d", i, len(f.Ratio))
			}
			c.kind = kRatio
			for k, n := range f.Ratio {
				j, ok := names[n]
				if !ok || len(fs[j].Ratio) > 0 {
					return nil, fmt.Errorf("features[%d].ratio[%d]: %q is not a feature of the spec (or is a ratio)", i, k, n)
				}
				c.ratio[k] = j
			}
		case f.State == "":
			c.kind = kField
		default:
			k, ok := stateKinds[f.State]
			if !ok {
				return nil, fmt.Errorf("features[%d].state: unknown %q", i, f.State)
			}
			c.kind = k
			field := f.Field
			if field == "" {
				switch k {
				case kSum, kMean, kMin, kMax, kStddev, kLast:
					field = st.AmountField
				case kDistinct:
					field = st.DistinctField
				}
				if field == "" && k != kCount && k != kSinceLast {
					return nil, fmt.Errorf("features[%d].field: required for state feature %q", i, f.State)
				}
			}
			c.path = split(field)
			if k != kSinceLast {
				c.comp = s.component(k, field, f.Window, st)
			}
			if k == kDistinct {
				c.cap = f.MaxDistinct
			}
		}
		if f.Transform == "category" {
			c.cats = make(map[string]float64, len(f.Categories))
			for j, v := range f.Categories {
				c.cats[v] = float64(j)
			}
		}
		s.names = append(s.names, f.Name)
		s.fs = append(s.fs, c)
	}
	// A set shared by several distinct features keeps the most values any of
	// them reads (0: state.max_events).
	bounded := make([]bool, len(lay.Sets))
	for _, c := range s.fs {
		if c.kind != kDistinct {
			continue
		}
		set := &lay.Sets[c.comp]
		switch {
		case !bounded[c.comp]:
			set.Max, bounded[c.comp] = c.cap, true
		case set.Max == 0 || c.cap == 0:
			set.Max = 0
		default:
			set.Max = max(set.Max, c.cap)
		}
	}
	lay.Prepare()
	s.limits = state.Limits{TTL: st.TTL, Layout: lay}
	return s, nil
}

// component finds or adds the layout aggregate a state feature reads.
func (s *Spec) component(k kind, field string, window time.Duration, st config.State) int {
	l := s.layout
	switch k {
	case kDistinct:
		for i := range l.Sets {
			if l.Sets[i].Key == field {
				l.Sets[i].Span = max(l.Sets[i].Span, window.Milliseconds())
				return i
			}
		}
		src := state.V1None
		if field == st.DistinctField {
			src = state.V1Distinct
		}
		l.Sets = append(l.Sets, state.SetSpec{Key: field, Span: window.Milliseconds(), FromV1: src})
		s.setPaths = append(s.setPaths, split(field))
		return len(l.Sets) - 1
	case kLast:
		for i := range l.Lasts {
			if l.Lasts[i].Key == field {
				return i
			}
		}
		src := state.V1None
		if field == st.AmountField {
			src = state.V1Amount
		}
		l.Lasts = append(l.Lasts, state.LastSpec{Key: field, FromV1: src})
		s.lastPaths = append(s.lastPaths, split(field))
		return len(l.Lasts) - 1
	}
	var stats state.Stat
	switch k {
	case kSum, kMean:
		stats = state.StatSum
	case kMin:
		stats = state.StatMin
	case kMax:
		stats = state.StatMax
	case kStddev:
		stats = state.StatSum | state.StatSumSq
	}
	width := state.Width(window, l.Buckets)
	for i := range l.Series {
		if sr := &l.Series[i]; sr.Key == field && sr.Width == width {
			sr.Span = max(sr.Span, window.Milliseconds())
			sr.Stats |= stats
			return i
		}
	}
	src := state.V1None
	switch {
	case field == "":
		src = state.V1Events
	case field == st.AmountField:
		src = state.V1Amount
	}
	l.Series = append(l.Series, state.SeriesSpec{Key: field, Width: width, Span: window.Milliseconds(), Stats: stats, FromV1: src})
	s.seriesPaths = append(s.seriesPaths, split(field))
	return len(l.Series) - 1
}

func split(p string) path {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// Paths are the record fields the spec reads (features, aggregated fields, event
// id and time), each a dotted path split at its dots: what a decoder must keep
// of a record.
func (s *Spec) Paths() [][]string {
	var out [][]string
	for _, p := range []path{s.eventID, s.eventTime} {
		if p != nil {
			out = append(out, p)
		}
	}
	for _, f := range s.fs {
		if f.path != nil {
			out = append(out, f.path)
		}
	}
	if out == nil {
		out = [][]string{} // reads nothing: still a projection, not "everything"
	}
	return out
}

// Lookup returns the value at a dotted path of a decoded (union-free) record;
// nil if absent. It is how the spec reads records.
func Lookup(rec map[string]any, dotted string) any { return lookup(rec, split(dotted)) }

// Names are the feature names in vector order.
func (s *Spec) Names() []string { return s.names }

// Limits are the state limits (TTL and the entity layout) the spec was compiled
// with.
func (s *Spec) Limits() state.Limits { return s.limits }

// Meta extracts the event id and event time. fallbackTime (Unix ms, the record
// timestamp) is used when the event has no event time field; fallbackID when it
// has no id.
func (s *Spec) Meta(rec map[string]any, fallbackTime int64, fallbackID string) (Event, error) {
	ev := Event{ID: fallbackID, Time: fallbackTime}
	if s.eventID != nil {
		switch v := lookup(rec, s.eventID).(type) {
		case string:
			ev.ID = v
		case nil:
		default:
			ev.ID = fmt.Sprint(v)
		}
	}
	if s.eventTime != nil {
		v := lookup(rec, s.eventTime)
		if v == nil {
			return ev, fmt.Errorf("%w: event time field %q is missing", ErrFeature, strings.Join(s.eventTime, "."))
		}
		t, ok := millis(v)
		if !ok {
			return ev, fmt.Errorf("%w: event time field %q is %T, want timestamp-millis or long", ErrFeature, strings.Join(s.eventTime, "."), v)
		}
		ev.Time = t
	}
	return ev, nil
}

// Extract fills dst (len(Names())) from the event and its entity's state before
// this event (nil for a new entity): ExtractRaw, then Impute. NaN marks a missing
// value with no default.
func (s *Spec) Extract(dst []float64, rec map[string]any, prior *state.Entity, t int64) error {
	if err := s.ExtractRaw(dst, rec, prior, t); err != nil {
		return err
	}
	s.Impute(dst)
	return nil
}

// imputed is vec[i] with feature i's default when it is missing.
func (s *Spec) imputed(vec []float64, i int) float64 {
	if math.IsNaN(vec[i]) {
		return s.fs[i].def
	}
	return vec[i]
}

// Impute replaces each missing value (NaN) in vec (len(Names())) by its
// feature's default, where the feature has one: what the model is given.
func (s *Spec) Impute(vec []float64) {
	for i := range s.fs {
		if math.IsNaN(vec[i]) {
			vec[i] = s.fs[i].def
		}
	}
}

// ExtractRaw is Extract without the defaults: NaN marks every missing value.
// Feature logging writes these, so that a training pipeline sees what was
// missing and imputes it as the spec does (Impute).
func (s *Spec) ExtractRaw(dst []float64, rec map[string]any, prior *state.Entity, t int64) error {
	ratios := false
	for i := range s.fs {
		f := &s.fs[i]
		var v float64
		switch f.kind {
		case kField:
			var err error
			if v, err = f.value(rec); err != nil {
				return err
			}
		case kCount, kSum, kMean, kMin, kMax, kStddev:
			v = aggregate(f.kind, prior.Window(f.comp, t, f.window))
		case kDistinct:
			v = prior.DistinctCount(f.comp, t, f.window)
			if f.cap > 0 {
				v = min(v, float64(f.cap))
			}
		case kLast:
			v = f.last(prior.LastValue(f.comp))
		case kSinceLast:
			v = prior.SinceLast(t)
		case kRatio:
			ratios = true
			continue
		}
		dst[i] = v
	}
	if ratios {
		for i := range s.fs {
			f := &s.fs[i]
			if f.kind != kRatio {
				continue
			}
			// The operands as the model gets them (their defaults applied), so
			// that Extract's ratio is the same with or without feature logging;
			// the ratio itself stays missing (NaN) for Impute.
			a, b := s.imputed(dst, f.ratio[0]), s.imputed(dst, f.ratio[1])
			v := math.NaN()
			if b != 0 {
				v = a / b // NaN when either is missing
			}
			dst[i] = v
		}
	}
	return nil
}

func aggregate(k kind, a state.Agg) float64 {
	switch k {
	case kCount:
		return float64(a.N)
	case kSum:
		return a.Sum
	}
	if a.N == 0 {
		return math.NaN()
	}
	switch k {
	case kMean:
		return a.Sum / float64(a.N)
	case kMin:
		return a.Min
	case kMax:
		return a.Max
	}
	// kStddev: population standard deviation.
	m := a.Sum / float64(a.N)
	return math.Sqrt(max(0, a.SumSq/float64(a.N)-m*m))
}

// last is a last value as a model input: a number, a string's category index
// (transform category) or a numeric string; else missing.
func (f *feature) last(v state.Value) float64 {
	switch {
	case !v.Has:
		return math.NaN()
	case !v.IsStr:
		return v.Num
	case f.cats != nil:
		if idx, ok := f.cats[v.Str]; ok {
			return idx
		}
		return math.NaN()
	}
	if x, err := strconv.ParseFloat(v.Str, 64); err == nil {
		return x
	}
	return math.NaN()
}

// NewObs returns an observation buffer for the spec's layout, for Observe.
func (s *Spec) NewObs() *state.Obs {
	return &state.Obs{Nums: make([]float64, len(s.seriesPaths)), Strs: make([]string, len(s.setPaths)), Lasts: make([]state.Value, len(s.lastPaths))}
}

// Observe returns the entity's state after the event at t, given the partition
// watermark wm (already including t). o is scratch from NewObs (nil: allocated).
// A value missing from the event, or of a type its aggregation cannot use, is
// skipped.
func (s *Spec) Observe(prior *state.Entity, rec map[string]any, t, wm int64, o *state.Obs) *state.Entity {
	return prior.Observe(s.layout, s.Fill(o, rec, t), wm)
}

// Fill reads the event at t into o, scratch from NewObs (nil: allocated), and
// returns o, for state.Partition.Observe or Entity.Observe.
func (s *Spec) Fill(o *state.Obs, rec map[string]any, t int64) *state.Obs {
	if o == nil {
		o = s.NewObs()
	}
	o.T = t
	for i, p := range s.seriesPaths {
		if p == nil {
			o.Nums[i] = 0 // counts events
			continue
		}
		x, ok := number(lookup(rec, p))
		if !ok {
			x = math.NaN()
		}
		o.Nums[i] = x
	}
	for i, p := range s.setPaths {
		o.Strs[i] = text(lookup(rec, p))
	}
	for i, p := range s.lastPaths {
		o.Lasts[i] = state.Value{}
		switch v := lookup(rec, p).(type) {
		case nil:
		case string:
			o.Lasts[i] = state.Value{T: t, Str: v, IsStr: true, Has: true}
		default:
			if x, ok := number(v); ok {
				o.Lasts[i] = state.Value{T: t, Num: x, Has: true}
			}
		}
	}
	return o
}

// text is a value as a distinct-count key; "" when missing.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func (f *feature) value(rec map[string]any) (float64, error) {
	raw := lookup(rec, f.path)
	if raw == nil {
		return math.NaN(), nil
	}
	switch f.transform {
	case "category":
		s, ok := raw.(string)
		if !ok {
			return 0, f.errorf("is %T, want a string for transform category", raw)
		}
		if idx, ok := f.cats[s]; ok {
			return idx, nil
		}
		return math.NaN(), nil
	case "hour_of_day", "day_of_week":
		ms, ok := millis(raw)
		if !ok {
			return 0, f.errorf("is %T, want timestamp-millis for transform %s", raw, f.transform)
		}
		tm := time.UnixMilli(ms).UTC()
		if f.transform == "hour_of_day" {
			return float64(tm.Hour()), nil
		}
		return float64(tm.Weekday()), nil
	}
	x, ok := number(raw)
	if !ok {
		if str, isStr := raw.(string); isStr {
			p, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return 0, f.errorf("string %q is not a number (use transform category for strings)", str)
			}
			x = p
		} else {
			return 0, f.errorf("is %T, want a number", raw)
		}
	}
	switch f.transform {
	case "log1p":
		if x <= -1 {
			return math.NaN(), nil
		}
		return math.Log1p(x), nil
	}
	return x, nil
}

func (f *feature) errorf(format string, a ...any) error {
	return fmt.Errorf("%w %q: field %q %s", ErrFeature, f.name, strings.Join(f.path, "."), fmt.Sprintf(format, a...))
}

// lookup walks a dotted path through the records (and maps) of a union-free
// value; nil if absent.
func lookup(rec map[string]any, p path) any {
	var cur any = rec
	for _, seg := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case time.Time:
		return float64(x.UnixMilli()), true
	}
	return 0, false
}

// Millis reads a decoded timestamp: a timestamp-millis (time.Time) or a long
// or int of Unix milliseconds, as the event-time field is read.
func Millis(v any) (int64, bool) { return millis(v) }

func millis(v any) (int64, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli(), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	}
	return 0, false
}
