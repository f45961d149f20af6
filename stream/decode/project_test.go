package decode

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/scorestream/scorestream/gen"
)

// kitchenSink has every type the projection handles, kept and skipped, named
// types referred to by name, and unions of scalars, records, enums and fixed.
const kitchenSink = `{"type": "record", "name": "K", "namespace": "t", "fields": [
  {"name": "b", "type": "boolean"},
  {"name": "i", "type": "int"},
  {"name": "l", "type": "long"},
  {"name": "f", "type": "float"},
  {"name": "d", "type": "double"},
  {"name": "by", "type": "bytes"},
  {"name": "s", "type": "string"},
  {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["x", "y", "z"]}},
  {"name": "fx", "type": {"type": "fixed", "name": "F", "size": 3}},
  {"name": "dt", "type": {"type": "int", "logicalType": "date"}},
  {"name": "tu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "tm", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
  {"name": "arr", "type": {"type": "array", "items": {"type": "record", "name": "R",
    "fields": [{"name": "q", "type": ["null", "boolean", "E"]}, {"name": "n", "type": "null"}]}}},
  {"name": "an", "type": {"type": "array", "items": "null"}},
  {"name": "nested", "type": ["null", {"type": "record", "name": "N", "fields": [
    {"name": "v", "type": "double"},
    {"name": "w", "type": ["string", "F"]},
    {"name": "inner", "type": {"type": "record", "name": "I", "fields": [{"name": "z", "type": "long"}]}}]}]},
  {"name": "ref", "type": "N"},
  {"name": "u", "type": ["null", "int", "string", "double"]},
  {"name": "skipme", "type": ["null", "E", "F", {"type": "array", "items": "string"}, "R"]}
]}`

var kitchenPaths = []string{"b", "i", "l", "f", "d", "by", "s", "e", "fx", "dt", "tu", "tm",
	"nested.v", "nested.w", "nested.inner.z", "ref.v", "ref.inner.z", "u", "absent", "skipme.q", "arr.q", "nested.absent"}

var kitchenNative = map[string]any{
	"b": true, "i": int32(-7), "l": int64(1) << 40, "f": float32(1.5), "d": -2.25,
	"by": []byte{0, 1, 2}, "s": "héllo", "e": "y", "fx": []byte("abc"),
	"dt": time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), "tu": time.UnixMicro(1_700_000_000_123_456).UTC(),
	"tm":  goavro.Union("long.timestamp-millis", time.UnixMilli(1_700_000_000_123).UTC()),
	"arr": []any{map[string]any{"q": goavro.Union("t.E", "z"), "n": nil}, map[string]any{"q": nil, "n": nil}},
	"an":  []any{nil, nil, nil},
	"nested": goavro.Union("t.N", map[string]any{"v": 3.5, "w": goavro.Union("t.F", []byte("xyz")),
		"inner": map[string]any{"z": int64(-9)}}),
	"ref":    map[string]any{"v": 0.0, "w": goavro.Union("string", "s"), "inner": map[string]any{"z": int64(1)}},
	"u":      goavro.Union("double", math.Inf(1)),
	"skipme": goavro.Union("array", []any{"a", "b"}),
}

type fixture struct {
	name   string
	schema string
	paths  []string
	native []map[string]any
}

func fixtures(t testing.TB) []fixture {
	g, err := gen.New(gen.Config{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	demoPaths := []string{"event_id", "event_time", "amount", "merchant.id", "merchant.category",
		"merchant.country", "channel", "device_age_days", "currency", "risk_flags.x"}
	var v1, v2 []map[string]any
	for range 5 {
		ev := g.Next()
		v1 = append(v1, ev.Native())
		v2 = append(v2, ev.NativeV2())
	}
	return []fixture{
		{"gen v1", gen.Schema, demoPaths, v1},
		{"gen v2", gen.SchemaV2, demoPaths, v2},
		{"kitchen sink", kitchenSink, kitchenPaths, []map[string]any{kitchenNative}},
	}
}

func split(ps []string) [][]string {
	out := make([][]string, len(ps))
	for i, p := range ps {
		out[i] = strings.Split(p, ".")
	}
	return out
}

// same compares looked-up values; NaN equals NaN.
func same(a, b any) bool {
	if x, ok := a.(float64); ok && math.IsNaN(x) {
		y, ok := b.(float64)
		return ok && math.IsNaN(y)
	}
	if x, ok := a.(float32); ok && x != x {
		y, ok := b.(float32)
		return ok && y != y
	}
	return reflect.DeepEqual(a, b)
}

// at walks a dotted path through a union-free value, as the feature lookup does.
func at(rec map[string]any, dotted string) any {
	var cur any = rec
	for _, seg := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

// compare decodes body with goavro (union wrappers stripped by the schema, as
// Decode does) and with the projection: both must accept or both refuse it, and
// every path must read the same.
func compare(t *testing.T, f fixture, codec *goavro.Codec, p *projection, body []byte) {
	t.Helper()
	sch, err := ParseSchema(f.schema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, gerr := codec.NativeFromBinary(body)
	if gerr == nil && len(rest) != 0 {
		gerr = errShort // Decode refuses trailing bytes too
	}
	got := make([]Value, len(f.paths))
	perr := p.decode(body, got)
	// And into values left over from the bodies decoded before (across
	// fixtures): every slot must be rewritten or cleared.
	if len(compareReused) < len(f.paths) {
		compareReused = append(compareReused, make([]Value, len(f.paths)-len(compareReused))...)
	}
	reused := compareReused[:len(f.paths)]
	rerr := p.decode(body, reused)
	if (gerr == nil) != (perr == nil) || (perr == nil) != (rerr == nil) {
		t.Fatalf("%s: goavro error %v, projection error %v, into reused values %v (body %x)", f.name, gerr, perr, rerr, body)
	}
	if gerr != nil {
		return
	}
	want := sch.Strip(native.(map[string]any))
	for i, path := range f.paths {
		w := at(want, path)
		if g := got[i].Any(); !same(w, g) {
			t.Fatalf("%s: %s: goavro %#v, projection %#v (body %x)", f.name, path, w, g, body)
		}
		if g := reused[i].Any(); !same(w, g) {
			t.Fatalf("%s: %s: goavro %#v, projection into reused values %#v (body %x)", f.name, path, w, g, body)
		}
		if fv := FromNative(w); !same(fv.Any(), w) || fv.Kind() != Other && fv.Kind() != got[i].Kind() {
			t.Fatalf("%s: %s: FromNative(%#v) is %#v of kind %d, the projection's kind %d", f.name, path, w, fv.Any(), fv.Kind(), got[i].Kind())
		}
	}
}

// compareReused carries values from one compare to the next.
var compareReused []Value

func TestProjectionMatchesGoavro(t *testing.T) {
	for _, f := range fixtures(t) {
		codec, err := goavro.NewCodec(f.schema)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newProjection(f.schema, split(f.paths))
		if err != nil {
			t.Fatalf("%s: no projection: %v", f.name, err)
		}
		for _, n := range f.native {
			body, err := codec.BinaryFromNative(nil, n)
			if err != nil {
				t.Fatalf("%s: encode: %v", f.name, err)
			}
			compare(t, f, codec, p, body)
			// Every truncation is refused by both.
			for i := range body {
				compare(t, f, codec, p, body[:i])
			}
			compare(t, f, codec, p, append(body, 0)) // trailing byte
		}
	}
}

func TestProjectionUnsupported(t *testing.T) {
	for name, tc := range map[string]struct {
		schema string
		paths  []string
	}{
		"map anywhere":     {`{"type":"record","name":"A","fields":[{"name":"m","type":{"type":"map","values":"int"}},{"name":"x","type":"int"}]}`, []string{"x"}},
		"decimal anywhere": {`{"type":"record","name":"A","fields":[{"name":"m","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}},{"name":"x","type":"int"}]}`, []string{"x"}},
		"kept array":       {`{"type":"record","name":"A","fields":[{"name":"a","type":{"type":"array","items":"int"}}]}`, []string{"a"}},
		"kept time-millis": {`{"type":"record","name":"A","fields":[{"name":"t","type":{"type":"int","logicalType":"time-millis"}}]}`, []string{"t"}},
		"kept record":      {`{"type":"record","name":"A","fields":[{"name":"r","type":{"type":"record","name":"B","fields":[{"name":"x","type":"int"}]}}]}`, []string{"r"}},
	} {
		if _, err := newProjection(tc.schema, split(tc.paths)); err == nil {
			t.Errorf("%s: projection built; want goavro to decode it", name)
		}
	}
}

// FuzzProjection mutates valid encodings: the projection must accept exactly
// what goavro accepts and read the same values.
func FuzzProjection(f *testing.F) {
	fs := fixtures(f)
	codecs := make([]*goavro.Codec, len(fs))
	projs := make([]*projection, len(fs))
	for i, fx := range fs {
		c, err := goavro.NewCodec(fx.schema)
		if err != nil {
			f.Fatal(err)
		}
		codecs[i] = c
		if projs[i], err = newProjection(fx.schema, split(fx.paths)); err != nil {
			f.Fatal(err)
		}
		for _, n := range fx.native {
			body, err := c.BinaryFromNative(nil, n)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), body)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		i := int(which) % len(fs)
		compare(t, fs[i], codecs[i], projs[i], body)
	})
}

// Cases a review found (each once a mismatch with goavro, a panic or a CPU
// sink): the projection must refuse the schema or read exactly what goavro
// reads.
func TestProjectionReviewCases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema string
		paths  []string
		native map[string]any
		body   []byte // raw body instead of an encoded native
	}{
		{name: "fixed size beyond int", paths: []string{"f"},
			schema: `{"type":"record","name":"A","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":1e19}}]}`,
			body:   []byte{1, 2, 3}},
		{name: "field-level logicalType", paths: []string{"ts", "d"},
			schema: `{"type":"record","name":"A","fields":[{"name":"ts","type":"long","logicalType":"timestamp-micros"},
				{"name":"d","type":"int","logicalType":"date"}]}`,
			native: map[string]any{"ts": time.UnixMicro(1_700_000_000_000_001).UTC(), "d": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
		{name: "empty namespace inherits", paths: []string{"payer.score"},
			schema: `{"type":"record","name":"Event","namespace":"com.acme","fields":[{"name":"payer","type":["null",
				{"type":"record","name":"party","namespace":"","fields":[{"name":"score","type":"double"}]}]}]}`,
			native: map[string]any{"payer": goavro.Union("com.acme.party", map[string]any{"score": 2.5})}},
		{name: "array of empty records, a million per block", paths: []string{"x"},
			schema: `{"type":"record","name":"A","fields":[{"name":"a","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}},{"name":"x","type":"int"}]}`,
			body:   append(append([]byte{}, zigzag(MaxBlockItems)...), 0, 2)},
		{name: "array block count over the limit", paths: []string{"x"},
			schema: `{"type":"record","name":"A","fields":[{"name":"a","type":{"type":"array","items":"null"}},{"name":"x","type":"int"}]}`,
			body:   append(append([]byte{}, zigzag(MaxBlockItems+1)...), 0, 2)},
		{name: "walk a lowercase record branch by its name", paths: []string{"rec.inner.x"},
			schema: `{"type":"record","name":"A","fields":[{"name":"rec","type":["null",{"type":"record","name":"inner","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}]}]}`,
			native: map[string]any{"rec": goavro.Union("inner", map[string]any{"x": int32(3), "y": int32(4)})}},
		{name: "walk an enum branch by its name", paths: []string{"c.color"},
			schema: `{"type":"record","name":"A","fields":[{"name":"c","type":["null",{"type":"enum","name":"color","symbols":["RED"]}]}]}`,
			native: map[string]any{"c": goavro.Union("color", "RED")}},
		{name: "dotted field name", paths: []string{"amount"},
			schema: `{"type":"record","name":"A","fields":[{"name":"x.amount","type":"double"}]}`,
			native: map[string]any{"amount": 2.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			codec, err := goavro.NewCodec(tc.schema)
			if err != nil {
				t.Fatalf("goavro refuses the schema: %v", err)
			}
			p, err := newProjection(tc.schema, split(tc.paths))
			if err != nil {
				return // refused: goavro decodes it
			}
			body := tc.body
			if tc.native != nil {
				if body, err = codec.BinaryFromNative(nil, tc.native); err != nil {
					t.Fatal(err)
				}
			}
			compare(t, fixture{name: tc.name, schema: tc.schema, paths: tc.paths}, codec, p, body)
		})
	}
}

func zigzag(v int64) []byte { return binary.AppendVarint(nil, v) }

// A second review's cases: schemas the projection must refuse (goavro reads
// them differently from how a projection would), and one nobody may decode.
func TestProjectionRefusesAmbiguousSchemas(t *testing.T) {
	for name, schema := range map[string]string{
		"nested union": `{"type":"record","name":"A","fields":[{"name":"a","type":["null",["null","long"]]}]}`,
		"fixed named like a keyword": `{"type":"record","name":"A","namespace":"x","fields":[{"name":"f","type":{"type":"fixed","name":"array","size":3}},
			{"name":"b","type":{"type":"array","items":"long"}},{"name":"k","type":"long"}]}`,
		"namespace named like a primitive": `{"type":"record","name":"A","fields":[{"name":"f","type":{"type":"fixed","namespace":"int","name":"date","size":2}},
			{"name":"b","type":{"type":"int","logicalType":"date"}}]}`,
		"fixed named string.uuid": `{"type":"record","name":"A","fields":[{"name":"f","type":{"type":"fixed","name":"string.uuid","size":2}},
			{"name":"b","type":{"type":"string","logicalType":"uuid"}}]}`,
		"logicalType on a named type": `{"type":"record","name":"A","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":2}},
			{"name":"b","type":{"type":"F","logicalType":"bar"}}]}`,
	} {
		if _, err := goavro.NewCodec(schema); err != nil {
			t.Fatalf("%s: goavro refuses the schema (the case is moot): %v", name, err)
		}
		if _, err := newProjection(schema, [][]string{{"b"}, {"k"}, {"a"}}); !errors.Is(err, errUnsupported) {
			t.Errorf("%s: newProjection = %v, want errUnsupported", name, err)
		}
	}
}

// A record that contains itself through required fields has no finite value;
// goavro would recurse until the stack overflows. Its records are dead letters.
func TestNoFiniteValueIsADeadLetter(t *testing.T) {
	const schema = `{"type":"record","name":"A","fields":[{"name":"x","type":"long"},{"name":"r","type":
		{"type":"record","name":"R","fields":[{"name":"n","type":"null"},{"name":"r","type":"R"}]}}]}`
	if _, err := newProjection(schema, [][]string{{"x"}}); !errors.Is(err, errNoFiniteValue) {
		t.Fatalf("newProjection = %v, want errNoFiniteValue", err)
	}
	// Behind a union a self-reference is fine: the data ends it.
	const linked = `{"type":"record","name":"L","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","L"]}]}`
	if _, err := newProjection(linked, [][]string{{"v"}}); err != nil {
		t.Fatalf("a linked list: %v", err)
	}
	for _, paths := range [][][]string{nil, {{"x"}}} {
		d, err := New(fixedRegistry(schema), Config{Paths: paths})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = d.Decode(context.Background(), []byte{0, 0, 0, 0, 9, 2})
		var de *Error
		if !errors.As(err, &de) || de.Class != ClassAvro || !errors.Is(err, errNoFiniteValue) {
			t.Fatalf("paths %v: Decode = %v, want an avro dead letter naming the cause", paths, err)
		}
	}
}

type fixedRegistry string

func (r fixedRegistry) SchemaByID(context.Context, int) (string, error) { return string(r), nil }

// A few bytes of array block headers declare millions of items. The projection
// refuses such a record itself; handing it on to goavro would allocate a slot
// per declared item (681 MB for these 33 bytes).
func TestArrayHeadersAllocateNothing(t *testing.T) {
	const schema = `{"type":"record","name":"A","fields":[{"name":"a","type":{"type":"array","items":"null"}},{"name":"x","type":"int"}]}`
	d, err := New(fixedRegistry(schema), Config{Paths: [][]string{{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	v := []byte{0, 0, 0, 0, 1}
	for range 8 {
		v = append(v, zigzag(MaxBlockItems)...)
	}
	if _, _, err := d.Decode(context.Background(), v); err != nil { // warm the codec cache
		var de *Error
		if !errors.As(err, &de) || de.Class != ClassTruncated {
			t.Fatalf("Decode = %v, want a truncated dead letter", err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err = d.Decode(context.Background(), v)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("accepted a record that ends inside an array")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("decoding %d bytes allocated %d bytes", len(v), grew)
	}
}

// Field names that goavro's union wrappers could be taken for (capitalised,
// named like Avro types) and one-field records are projected like any other:
// the projection's values are union-free, so nothing is ambiguous.
func TestProjectionTakesUnionLikeNames(t *testing.T) {
	const schema = `{"type":"record","name":"A","fields":[
	  {"name":"long","type":"long"},
	  {"name":"X","type":["null",{"type":"record","name":"com.acme.Geo","fields":[{"name":"lat","type":"double"}]}]},
	  {"name":"string","type":{"type":"record","name":"S","fields":[{"name":"map","type":["null","int"]}]}}]}`
	paths := []string{"long", "X.lat", "string.map", "X"}
	if _, err := newProjection(schema, split(paths[:3])); err != nil {
		t.Fatalf("no projection: %v", err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]any{"long": int64(5), "X": goavro.Union("com.acme.Geo", map[string]any{"lat": 1.5}),
		"string": map[string]any{"map": goavro.Union("int", int32(2))}}
	body, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newProjection(schema, split(paths[:3]))
	compare(t, fixture{name: "union-like names", schema: schema, paths: paths[:3]}, codec, p, body)
	got := make([]Value, 3)
	if err := p.decode(body, got); err != nil {
		t.Fatal(err)
	}
	if got[1].Any() != 1.5 || got[2].Any() != int32(2) || got[0].Any() != int64(5) {
		t.Fatalf("projection read %#v", got)
	}
}
