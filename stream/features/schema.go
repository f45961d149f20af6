package features

import (
	"fmt"
	"strings"

	"github.com/scorestream/scorestream/stream/decode"
)

// SchemaError is one path of the spec that a writer schema cannot serve.
type SchemaError struct {
	Feature string // the feature's name; "" for the event id and time fields
	// State marks a state aggregation's field: `run` refuses those at startup
	// when the writer schema is known (a plain field only reads as missing).
	State bool
	msg   string
}

func (e *SchemaError) Error() string { return e.msg }

// CheckSchema returns one error (a *SchemaError) per path of the spec — the
// event id and time fields, every feature's field, every aggregation's field —
// that records of the writer schema avroSchemaJSON cannot hold, and one per
// numeric aggregation (sum, mean, min, max, stddev) over a field with no
// numeric branch (a string, say); or the error that the schema cannot be read.
// `run --check` reports them all: a feature whose path is not in the schema
// would be missing (its default) for every event. A writer schema that arrives
// at run time and does not fit makes those values missing, not an error: they
// are counted (scorestream_feature_absent_total) and aggregations skip them.
func (s *Spec) CheckSchema(avroSchemaJSON string) []error {
	sch, err := decode.ParseSchema(avroSchemaJSON)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, m := range []struct {
		what string
		p    path
	}{{"stream.event_id_field", s.eventID}, {"stream.event_time_field", s.eventTime}} {
		if m.p != nil && !sch.Has(m.p) {
			errs = append(errs, &SchemaError{msg: fmt.Sprintf("%s: path %q is not in the writer schema", m.what, strings.Join(m.p, "."))})
		}
	}
	for i := range s.fs {
		f := &s.fs[i]
		if f.path == nil || f.kind == kRatio {
			continue
		}
		dotted := strings.Join(f.path, ".")
		state := f.kind != kField
		leaves, ok := sch.Leaves(f.path)
		switch {
		case !ok:
			errs = append(errs, &SchemaError{Feature: f.name, State: state,
				msg: fmt.Sprintf("features[%d].field: %q is not in the writer schema (feature %q)", i, dotted, f.name)})
		case numericAgg(f.kind) && !anyNumeric(leaves):
			errs = append(errs, &SchemaError{Feature: f.name, State: true,
				msg: fmt.Sprintf("features[%d].state: %s needs a number, field %q is %s (feature %q)", i, f.kindName(), dotted, strings.Join(leaves, " or "), f.name)})
		}
	}
	return errs
}

// Absent returns the indexes (in Names order) of the field features whose path
// cannot hold a value in records of sch: they are missing for every record of it.
func (s *Spec) Absent(sch *decode.Schema) []int {
	var out []int
	for i := range s.fs {
		if f := &s.fs[i]; f.kind == kField && f.path != nil && !sch.Has(f.path) {
			out = append(out, i)
		}
	}
	return out
}

func numericAgg(k kind) bool {
	switch k {
	case kSum, kMean, kMin, kMax, kStddev:
		return true
	}
	return false
}

// anyNumeric reports whether one of a field's type names (decode.Schema.Leaves)
// reads as a number: int, long, float, double, boolean, or a logical type on
// int or long (timestamps, dates).
func anyNumeric(leaves []string) bool {
	for _, n := range leaves {
		base, _, _ := strings.Cut(n, ".")
		switch base {
		case "int", "long", "float", "double", "boolean":
			return true
		}
	}
	return false
}

func (f *feature) kindName() string {
	for n, k := range stateKinds {
		if k == f.kind {
			return n
		}
	}
	return "?"
}
