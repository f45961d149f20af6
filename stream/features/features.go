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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
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
	slot      int   // index of path in the spec's Paths; -1 without a path
	agg       int   // series aggregates: index in the spec's windows
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
	// leaves are the distinct paths the spec reads (Paths), in first-use order:
	// the values the ...Values methods take are theirs, by index. The slots are
	// indexes in leaves (-1: no path).
	leaves                           []path
	idSlot, timeSlot                 int
	seriesSlots, setSlots, lastSlots []int
	// windows are the distinct (series, window) aggregates the series features
	// read: ExtractRaw computes each once (sum_24h and mean_24h share one).
	windows []window
}

type window struct {
	comp int
	w    int64
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
	s.idSlot, s.timeSlot = s.leaf(s.eventID), s.leaf(s.eventTime)
	for i := range s.fs {
		f := &s.fs[i]
		f.slot = s.leaf(f.path)
		switch f.kind {
		case kCount, kSum, kMean, kMin, kMax, kStddev:
			w := window{f.comp, f.window}
			if f.agg = slices.Index(s.windows, w); f.agg < 0 {
				s.windows = append(s.windows, w)
				f.agg = len(s.windows) - 1
			}
		}
	}
	for _, ps := range []struct {
		paths []path
		slots *[]int
	}{{s.seriesPaths, &s.seriesSlots}, {s.setPaths, &s.setSlots}, {s.lastPaths, &s.lastSlots}} {
		for _, p := range ps.paths {
			*ps.slots = append(*ps.slots, s.leaf(p))
		}
	}
	return s, nil
}

// leaf returns p's index in s.leaves, adding it if new; -1 for no path.
func (s *Spec) leaf(p path) int {
	if p == nil {
		return -1
	}
	for i, l := range s.leaves {
		if slices.Equal(l, p) {
			return i
		}
	}
	s.leaves = append(s.leaves, p)
	return len(s.leaves) - 1
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

// Paths are the record fields the spec reads (event id and time, features,
// aggregated fields), each once, a dotted path split at its dots: what a
// decoder must keep of a record. The ...Values methods take the values of a
// record at these paths, in this order (decode.Decoder.DecodeInto with
// decode.Config{Paths: spec.Paths()}).
func (s *Spec) Paths() [][]string {
	out := make([][]string, len(s.leaves)) // reads nothing: still a projection, not "everything"
	for i, p := range s.leaves {
		out[i] = p
	}
	return out
}

// Values returns the values of a decoded (union-free) record at the spec's
// Paths, for the ...Values methods.
func (s *Spec) Values(rec map[string]any) []decode.Value {
	vals := make([]decode.Value, len(s.leaves))
	for i, p := range s.leaves {
		vals[i] = decode.FromNative(decode.Lookup(rec, p))
	}
	return vals
}

// Lookup returns the value at a dotted path of a decoded (union-free) record;
// nil if absent. It is how the spec reads records.
func Lookup(rec map[string]any, dotted string) any { return decode.Lookup(rec, split(dotted)) }

// Names are the feature names in vector order.
func (s *Spec) Names() []string { return s.names }

// Limits are the state limits (TTL and the entity layout) the spec was compiled
// with.
func (s *Spec) Limits() state.Limits { return s.limits }

// Meta extracts the event id and event time. fallbackTime (Unix ms, the record
// timestamp) is used when the event has no event time field; fallbackID when it
// has no id.
func (s *Spec) Meta(rec map[string]any, fallbackTime int64, fallbackID string) (Event, error) {
	return s.MetaValues(s.Values(rec), fallbackTime, fallbackID)
}

// MetaValues is Meta of a record's values at Paths.
func (s *Spec) MetaValues(vals []decode.Value, fallbackTime int64, fallbackID string) (Event, error) {
	ev := Event{ID: fallbackID, Time: fallbackTime}
	if s.idSlot >= 0 {
		switch v := vals[s.idSlot]; v.Kind() {
		case decode.String:
			ev.ID = v.Str()
		case decode.Absent:
		default:
			ev.ID = fmt.Sprint(v.Any())
		}
	}
	if s.timeSlot >= 0 {
		v := vals[s.timeSlot]
		if v.Kind() == decode.Absent {
			return ev, fmt.Errorf("%w: event time field %q is missing", ErrFeature, strings.Join(s.eventTime, "."))
		}
		t, ok := millis(v)
		if !ok {
			return ev, fmt.Errorf("%w: event time field %q is %T, want timestamp-millis or long", ErrFeature, strings.Join(s.eventTime, "."), v.Any())
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
	return s.ExtractRawValues(dst, s.Values(rec), prior, t)
}

// ExtractRawValues is ExtractRaw of a record's values at Paths.
func (s *Spec) ExtractRawValues(dst []float64, vals []decode.Value, prior *state.Entity, t int64) error {
	var buf [8]state.Agg
	aggs := buf[:0]
	if len(s.windows) > len(buf) {
		aggs = make([]state.Agg, 0, len(s.windows))
	}
	for _, w := range s.windows {
		aggs = append(aggs, prior.Window(w.comp, t, w.w))
	}
	ratios := false
	for i := range s.fs {
		f := &s.fs[i]
		var v float64
		switch f.kind {
		case kField:
			var err error
			if v, err = f.value(vals); err != nil {
				return err
			}
		case kCount, kSum, kMean, kMin, kMax, kStddev:
			v = aggregate(f.kind, aggs[f.agg])
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
	return s.ObserveValues(prior, s.Values(rec), t, wm, o)
}

// ObserveValues is Observe of a record's values at Paths.
func (s *Spec) ObserveValues(prior *state.Entity, vals []decode.Value, t, wm int64, o *state.Obs) *state.Entity {
	return prior.Observe(s.layout, s.Fill(o, vals, t), wm)
}

// Fill reads the event's values at Paths (at t) into o, scratch from NewObs
// (nil: allocated), and returns o, for state.Partition.Observe or
// Entity.Observe.
func (s *Spec) Fill(o *state.Obs, vals []decode.Value, t int64) *state.Obs {
	if o == nil {
		o = s.NewObs()
	}
	o.T = t
	for i, k := range s.seriesSlots {
		if k < 0 {
			o.Nums[i] = 0 // counts events
			continue
		}
		x, ok := number(vals[k])
		if !ok {
			x = math.NaN()
		}
		o.Nums[i] = x
	}
	for i, k := range s.setSlots {
		o.Strs[i] = text(vals[k])
	}
	for i, k := range s.lastSlots {
		o.Lasts[i] = state.Value{}
		switch v := vals[k]; v.Kind() {
		case decode.Absent:
		case decode.String:
			o.Lasts[i] = state.Value{T: t, Str: v.Str(), IsStr: true, Has: true}
		default:
			if x, ok := number(v); ok {
				o.Lasts[i] = state.Value{T: t, Num: x, Has: true}
			}
		}
	}
	return o
}

// text is a value as a distinct-count key; "" when missing.
func text(v decode.Value) string {
	switch v.Kind() {
	case decode.Absent:
		return ""
	case decode.String:
		return v.Str()
	case decode.Long, decode.Int:
		return strconv.FormatInt(v.Int(), 10)
	case decode.Double:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case decode.Bool:
		return strconv.FormatBool(v.Bool())
	}
	return fmt.Sprint(v.Any())
}

func (f *feature) value(vals []decode.Value) (float64, error) {
	if f.slot < 0 {
		return math.NaN(), nil
	}
	raw := vals[f.slot]
	if raw.Kind() == decode.Absent {
		return math.NaN(), nil
	}
	switch f.transform {
	case "category":
		if raw.Kind() != decode.String {
			return 0, f.errorf("is %T, want a string for transform category", raw.Any())
		}
		if idx, ok := f.cats[raw.Str()]; ok {
			return idx, nil
		}
		return math.NaN(), nil
	case "hour_of_day", "day_of_week":
		ms, ok := millis(raw)
		if !ok {
			return 0, f.errorf("is %T, want timestamp-millis for transform %s", raw.Any(), f.transform)
		}
		if f.transform == "hour_of_day" {
			return float64(hourOfDay(ms)), nil
		}
		return float64(dayOfWeek(ms)), nil
	}
	x, ok := number(raw)
	if !ok {
		if raw.Kind() == decode.String {
			p, err := strconv.ParseFloat(raw.Str(), 64)
			if err != nil {
				return 0, f.errorf("string %q is not a number (use transform category for strings)", raw.Str())
			}
			x = p
		} else {
			return 0, f.errorf("is %T, want a number", raw.Any())
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

// dayMillis bounds the Unix ms that hourOfDay and dayOfWeek compute directly;
// beyond it (hundreds of thousands of years away) package time does, so that
// every value reads exactly as time.UnixMilli(ms).UTC() gives it.
const dayMillis = 1 << 52

// hourOfDay is time.UnixMilli(ms).UTC().Hour().
func hourOfDay(ms int64) int {
	if ms < -dayMillis || ms > dayMillis {
		return time.UnixMilli(ms).UTC().Hour()
	}
	return int(((ms%86_400_000)+86_400_000)%86_400_000) / 3_600_000
}

// dayOfWeek is time.UnixMilli(ms).UTC().Weekday(): 1970-01-01 was a Thursday.
func dayOfWeek(ms int64) int {
	if ms < -dayMillis || ms > dayMillis {
		return int(time.UnixMilli(ms).UTC().Weekday())
	}
	days := ms / 86_400_000
	if ms%86_400_000 < 0 {
		days--
	}
	return int(((days+4)%7 + 7) % 7)
}

// number is a value as a model input: numbers, booleans (1, 0) and times (Unix
// ms).
func number(v decode.Value) (float64, bool) {
	switch v.Kind() {
	case decode.Double, decode.Float:
		return v.Float(), true
	case decode.Long, decode.Int:
		return float64(v.Int()), true
	case decode.Bool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	case decode.Other:
		if x, ok := v.Any().(int); ok {
			return float64(x), true
		}
	}
	if t, ok := v.Time(); ok {
		return float64(t.UnixMilli()), true
	}
	return 0, false
}

// Millis reads a decoded timestamp: a timestamp-millis (time.Time) or a long
// or int of Unix milliseconds, as the event-time field is read.
func Millis(v any) (int64, bool) { return millis(decode.FromNative(v)) }

func millis(v decode.Value) (int64, bool) {
	switch v.Kind() {
	case decode.Long, decode.Int, decode.TimeMillis: // a timestamp-millis' time is its long exactly
		return v.Int(), true
	}
	if t, ok := v.Time(); ok {
		return t.UnixMilli(), true
	}
	return 0, false
}
