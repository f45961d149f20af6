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
// State features (count, sum, mean, distinct over a window; time_since_last) read
// the entity's history before the current event; see package state for the exact
// window semantics.
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
	ID       string
	Time     int64 // event time, Unix ms
	Amount   float64
	Distinct string
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
	kDistinct
	kSinceLast
)

type feature struct {
	name      string
	kind      kind
	path      path
	transform string
	cats      map[string]float64
	window    time.Duration
	def       float64 // NaN if none
}

// Spec is a compiled feature spec. Immutable and safe for concurrent use.
type Spec struct {
	names     []string
	fs        []feature
	eventID   path
	eventTime path
	amount    path
	distinct  path
	limits    state.Limits
}

// Compile builds a Spec. The config is assumed validated; Compile still rejects
// what it cannot run.
func Compile(fs []config.Feature, st config.State, sc config.Stream) (*Spec, error) {
	s := &Spec{
		eventID:   split(sc.EventIDField),
		eventTime: split(sc.EventTimeField),
		amount:    split(st.AmountField),
		distinct:  split(st.DistinctField),
		limits:    state.Limits{TTL: st.TTL, MaxEvents: st.MaxEvents},
	}
	for i, f := range fs {
		c := feature{name: f.Name, path: split(f.Field), transform: f.Transform, window: f.Window, def: math.NaN()}
		if f.Default != nil {
			c.def = *f.Default
		}
		switch f.State {
		case "":
			c.kind = kField
		case "count":
			c.kind = kCount
		case "sum":
			c.kind = kSum
		case "mean":
			c.kind = kMean
		case "distinct":
			c.kind = kDistinct
		case "time_since_last":
			c.kind = kSinceLast
		default:
			return nil, fmt.Errorf("features[%d].state: unknown %q", i, f.State)
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
	return s, nil
}

func split(p string) path {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

// Paths are the record fields the spec reads (features, event id and time,
// amount, distinct field), each a dotted path split at its dots: what a decoder
// must keep of a record.
func (s *Spec) Paths() [][]string {
	var out [][]string
	for _, p := range []path{s.eventID, s.eventTime, s.amount, s.distinct} {
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

// Limits are the state limits the spec was compiled with.
func (s *Spec) Limits() state.Limits { return s.limits }

// Meta extracts the event id, event time, amount and distinct value. fallbackTime
// (Unix ms, the record timestamp) is used when the event has no event time field;
// fallbackID when it has no id.
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
	if s.amount != nil {
		if v := lookup(rec, s.amount); v != nil {
			a, ok := number(v)
			if !ok {
				return ev, fmt.Errorf("%w: amount field %q is %T, want a number", ErrFeature, strings.Join(s.amount, "."), v)
			}
			ev.Amount = a
		}
	}
	if s.distinct != nil {
		switch v := lookup(rec, s.distinct).(type) {
		case nil:
		case string:
			ev.Distinct = v
		default:
			ev.Distinct = fmt.Sprint(v)
		}
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
	for i := range s.fs {
		f := &s.fs[i]
		var v float64
		switch f.kind {
		case kField:
			var err error
			if v, err = f.value(rec); err != nil {
				return err
			}
		case kCount:
			v = prior.Count(t, f.window)
		case kSum:
			v = prior.Sum(t, f.window)
		case kMean:
			v = prior.Mean(t, f.window)
		case kDistinct:
			v = prior.DistinctCount(t, f.window)
		case kSinceLast:
			v = prior.SinceLast(t)
		}
		dst[i] = v
	}
	return nil
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
