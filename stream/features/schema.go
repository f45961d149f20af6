package features

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CheckSchema checks the spec's state aggregations against an Avro writer
// schema (JSON text), as known at startup: a field the schema lacks, or a
// numeric aggregation (sum, mean, min, max, stddev) over a field with no
// numeric branch (a string, say), is an error naming the feature. A writer
// schema that arrives later and does not fit makes those values missing, not an
// error (see Observe).
func (s *Spec) CheckSchema(schema string) error {
	var root any
	if err := json.Unmarshal([]byte(schema), &root); err != nil {
		return fmt.Errorf("writer schema: %w", err)
	}
	named := map[string]any{}
	collect(root, named)
	var errs []string
	for i := range s.fs {
		f := &s.fs[i]
		if f.path == nil || f.kind == kField || f.kind == kRatio {
			continue
		}
		kinds, ok := resolve(root, f.path, named)
		dotted := strings.Join(f.path, ".")
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("features[%d].field: %q is not in the writer schema", i, dotted))
		case numericAgg(f.kind) && !kinds.numeric:
			errs = append(errs, fmt.Sprintf("features[%d].state: %s needs a number, field %q is %s", i, f.kindName(), dotted, kinds.names))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("feature spec does not fit the writer schema:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

func numericAgg(k kind) bool {
	switch k {
	case kSum, kMean, kMin, kMax, kStddev:
		return true
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

// fieldKinds is what a field may hold: whether any branch is a number
// (int, long, float, double, boolean, a timestamp), and the branch type names.
type fieldKinds struct {
	numeric bool
	names   string
}

// resolve walks p through the schema's records (through unions holding a
// record) and returns the kinds of the field it ends at.
func resolve(t any, p path, named map[string]any) (fieldKinds, bool) {
	for _, seg := range p {
		var next any
		found := false
		for _, r := range records(t, named) {
			fs, _ := r["fields"].([]any)
			for _, fv := range fs {
				fm, _ := fv.(map[string]any)
				if fm["name"] == seg {
					next, found = fm["type"], true
				}
			}
		}
		if !found {
			return fieldKinds{}, false
		}
		t = next
	}
	var k fieldKinds
	var names []string
	for _, b := range branches(t, named) {
		n := typeName(b)
		if n == "null" {
			continue
		}
		names = append(names, n)
		switch n {
		case "int", "long", "float", "double", "boolean":
			k.numeric = true
		}
	}
	k.names = strings.Join(names, " or ")
	return k, true
}

// branches lists a type's union branches (itself if not a union), named types
// resolved and registered.
func branches(t any, named map[string]any) []any {
	var out []any
	ts, ok := t.([]any)
	if !ok {
		ts = []any{t}
	}
	for _, b := range ts {
		if n, ok := b.(string); ok {
			if d, ok := named[n]; ok {
				b = d
			}
		}
		if m, ok := b.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				named[n] = m
				if ns, ok := m["namespace"].(string); ok && ns != "" {
					named[ns+"."+n] = m
				}
			}
		}
		out = append(out, b)
	}
	return out
}

func records(t any, named map[string]any) []map[string]any {
	var out []map[string]any
	for _, b := range branches(t, named) {
		if m, ok := b.(map[string]any); ok && m["type"] == "record" {
			out = append(out, m)
		}
	}
	return out
}

// typeName is a branch's primitive or complex type name.
func typeName(t any) string {
	switch x := t.(type) {
	case string:
		return x
	case map[string]any:
		if n, ok := x["type"].(string); ok {
			return n
		}
	}
	return "?"
}

// collect registers every named type (record, enum, fixed) of the schema, so
// that a reference by name resolves wherever it appears.
func collect(t any, named map[string]any) {
	switch x := t.(type) {
	case []any:
		for _, b := range x {
			collect(b, named)
		}
	case map[string]any:
		branches(x, named)
		if fs, ok := x["fields"].([]any); ok {
			for _, fv := range fs {
				if fm, ok := fv.(map[string]any); ok {
					collect(fm["type"], named)
				}
			}
		}
		collect(x["items"], named)
		collect(x["values"], named)
	}
}
