package features_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
)

type oneSchema string

func (r oneSchema) SchemaByID(context.Context, int) (string, error) { return string(r), nil }

// trickySchema has every shape the old value-shape rule misread: capitalised
// field names, fields named like Avro types, one-field records, unions nested
// in records inside unions, and dotted (namespaced) named types.
const trickySchema = `{"type": "record", "name": "Payment", "namespace": "com.acme", "fields": [
  {"name": "merchant", "type": ["null", {"type": "record", "name": "Merchant", "fields": [
    {"name": "Geo", "type": ["null", {"type": "record", "name": "Geo", "fields": [
      {"name": "lat", "type": "double"}]}]},
    {"name": "Name", "type": "string"}]}]},
  {"name": "string", "type": ["null", "double"]},
  {"name": "long", "type": {"type": "record", "name": "long_", "fields": [{"name": "map", "type": ["null", "long"]}]}},
  {"name": "map", "type": {"type": "map", "values": ["null", "double"]}},
  {"name": "Single", "type": {"type": "record", "name": "Single", "fields": [{"name": "X", "type": "int"}]}},
  {"name": "outer", "type": ["null", {"type": "record", "name": "org.other.Outer", "fields": [
    {"name": "inner", "type": ["null", "string", {"type": "record", "name": "Inner", "fields": [
      {"name": "v", "type": ["null", "float"]}]}]}]}]}
]}`

// trickyNoMap is trickySchema without its map field: the projection decoder
// takes it (it leaves schemas with maps to goavro).
var trickyNoMap = strings.Replace(trickySchema,
	`  {"name": "map", "type": {"type": "map", "values": ["null", "double"]}},`+"\n", "", 1)

func trickyNative() map[string]any {
	return map[string]any{
		"merchant": goavro.Union("com.acme.Merchant", map[string]any{
			"Geo":  goavro.Union("com.acme.Geo", map[string]any{"lat": 51.5}),
			"Name": "ACME",
		}),
		"string": goavro.Union("double", 2.5),
		"long":   map[string]any{"map": goavro.Union("long", int64(7))},
		"map":    map[string]any{"k": goavro.Union("double", 1.25), "n": nil},
		"Single": map[string]any{"X": int32(-3)},
		"outer": goavro.Union("org.other.Outer", map[string]any{
			"inner": goavro.Union("org.other.Inner", map[string]any{"v": goavro.Union("float", float32(0.5))}),
		}),
	}
}

// TestLookupByWriterSchema reads each tricky path through the decoder (the
// projection path and goavro's) and the spec: the value where the schema has
// one, missing where it has none, whatever the case of a name or the shape of a
// value.
func TestLookupByWriterSchema(t *testing.T) {
	cases := []struct {
		path string
		want float64 // NaN: missing
	}{
		{"merchant.Geo.lat", 51.5},
		{"merchant.lat", math.NaN()}, // the wrong path the old rule answered
		{"merchant.Geo", math.NaN()}, // a record is not a number: see TestLookupRecordIsAnError
		{"string", 2.5},
		{"long.map", 7},
		{"map.k", 1.25},
		{"map.n", math.NaN()},
		{"map.absent", math.NaN()},
		{"Single.X", -3},
		{"outer.inner.v", 0.5},
		{"outer.v", math.NaN()},
	}
	var fs []config.Feature
	for _, c := range cases {
		if c.path == "merchant.Geo" {
			continue
		}
		fs = append(fs, config.Feature{Name: c.path, Field: c.path})
	}
	spec, err := features.Compile(fs, config.State{}, config.Stream{})
	if err != nil {
		t.Fatal(err)
	}
	if trickyNoMap == trickySchema {
		t.Fatal("trickyNoMap still has the map field")
	}
	for _, mode := range []struct {
		name   string
		schema string
		paths  [][]string
	}{
		{"projection", trickyNoMap, spec.Paths()},
		{"goavro with projected paths", trickySchema, spec.Paths()},
		{"goavro", trickyNoMap, nil},
	} {
		t.Run(mode.name, func(t *testing.T) {
			codec, err := goavro.NewCodec(mode.schema)
			if err != nil {
				t.Fatal(err)
			}
			native := trickyNative()
			if mode.schema == trickyNoMap {
				delete(native, "map")
			}
			body, err := codec.BinaryFromNative([]byte{0, 0, 0, 0, 1}, native)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decode.New(oneSchema(mode.schema), decode.Config{Paths: mode.paths})
			if err != nil {
				t.Fatal(err)
			}
			rec, _, err := d.Decode(context.Background(), body)
			if err != nil {
				t.Fatal(err)
			}
			vec := make([]float64, len(spec.Names()))
			if err := spec.Extract(vec, rec, nil, 0); err != nil {
				t.Fatal(err)
			}
			if mode.paths != nil {
				// The hot path's form: values by path index, no map (goavro's
				// map looked up for the schema with a map field).
				dr := d.NewRecord()
				if _, err := d.DecodeInto(context.Background(), body, dr); err != nil {
					t.Fatal(err)
				}
				vals := dr.Values
				byIndex := make([]float64, len(vec))
				if err := spec.ExtractRawValues(byIndex, vals, nil, 0); err != nil {
					t.Fatal(err)
				}
				spec.Impute(byIndex)
				for i := range vec {
					if !(vec[i] == byIndex[i] || math.IsNaN(vec[i]) && math.IsNaN(byIndex[i])) {
						t.Errorf("%s: %v from the map, %v from DecodeInto's values", spec.Names()[i], vec[i], byIndex[i])
					}
				}
			}
			j := 0
			for _, c := range cases {
				if c.path == "merchant.Geo" {
					continue
				}
				got := vec[j]
				j++
				if strings.HasPrefix(c.path, "map.") && mode.schema == trickyNoMap {
					c.want = math.NaN()
				}
				if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
					t.Errorf("%s = %v, want %v", c.path, got, c.want)
				}
			}
		})
	}
}

// A path that ends at a record is a feature error, not a silent missing value.
func TestLookupRecordIsAnError(t *testing.T) {
	spec, err := features.Compile([]config.Feature{{Name: "geo", Field: "merchant.Geo"}}, config.State{}, config.Stream{})
	if err != nil {
		t.Fatal(err)
	}
	sch, err := decode.ParseSchema(trickySchema)
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]float64, 1)
	if err := spec.Extract(vec, sch.Strip(trickyNative()), nil, 0); err == nil {
		t.Fatalf("a record read as the number %v", vec[0])
	}
}

// TestCheckSchemaPaths: paths the writer schema cannot hold are refused, each
// named, an aggregation's field among them; the ones it can hold pass.
func TestCheckSchemaPaths(t *testing.T) {
	fs := []config.Feature{
		{Name: "lat", Field: "merchant.Geo.lat"},
		{Name: "wrong_lat", Field: "merchant.lat"},
		{Name: "typed", Field: "long.map"},
		{Name: "map_key", Field: "map.anything"},
		{Name: "inner", Field: "outer.inner.v"},
		{Name: "count", State: "count", Window: 1},
		{Name: "sum", State: "sum", Window: 1}, // over state.amount_field
	}
	spec, err := features.Compile(fs, config.State{AmountField: "amount"}, config.Stream{EventTimeField: "merchant.Name"})
	if err != nil {
		t.Fatal(err)
	}
	errs := spec.CheckSchema(trickySchema)
	if len(errs) != 2 {
		t.Fatalf("CheckSchema = %v, want 2 errors (wrong_lat, sum)", errs)
	}
	for i, want := range []string{`features[1].field: "merchant.lat" is not in the writer schema (feature "wrong_lat")`,
		`features[6].field: "amount" is not in the writer schema (feature "sum")`} {
		if !strings.Contains(errs[i].Error(), want) {
			t.Errorf("error %d = %q, want it to name %s", i, errs[i], want)
		}
	}
	sch, err := decode.ParseSchema(trickySchema)
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.Absent(sch); len(got) != 1 || spec.Names()[got[0]] != "wrong_lat" {
		t.Fatalf("Absent = %v, want [wrong_lat]", got)
	}
	if errs := spec.CheckSchema(`{"type": "string"}`); len(errs) != 1 {
		t.Fatalf("a non-record schema: %v", errs)
	}
}
