package features

import (
	"fmt"
	"strings"

	"github.com/scorestream/scorestream/stream/decode"
)

// CheckSchema returns one error per path of the spec (features, aggregated
// fields, event id and time) that cannot hold a value in records of the
// writer schema avroSchemaJSON, naming the feature or field and the path; or the
// error that the schema cannot be read. run --check calls it with the input
// subject's schema: a feature whose path is not in the schema would be missing
// (its default) for every event.
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
			errs = append(errs, fmt.Errorf("%s: path %q is not in the writer schema", m.what, strings.Join(m.p, ".")))
		}
	}
	for i := range s.fs {
		f := &s.fs[i]
		if f.path == nil || sch.Has(f.path) {
			continue
		}
		errs = append(errs, fmt.Errorf("feature %q: field %q is not in the writer schema", f.name, strings.Join(f.path, ".")))
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
