package decode

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Schema is the shape of a writer schema that decoding needs beyond goavro's
// codec: which values are unions (so that goavro's {"branch name": value}
// wrappers are removed by the schema, never guessed from a value's shape or a
// name's case) and which dotted paths can hold a value at all.
//
// Values Decode returns are union-free: a union's value is its branch's value
// (nil for null), on both the projection and the goavro path.
type Schema struct {
	root *shape
}

type shapeKind uint8

const (
	sLeaf shapeKind = iota // primitives, enums, fixed, logical types
	sRecord
	sUnion
	sArray
	sMap
)

type shape struct {
	kind     shapeKind
	name     string            // goavro's union branch name for this type
	fields   map[string]*shape // sRecord, by goavro's key (the short field name)
	strips   []string          // sRecord: the fields that can hold a union, in schema order
	branches []*shape          // sUnion
	items    *shape            // sArray items, sMap values
}

// ParseSchema reads the shape of an Avro schema (JSON text). The top level must
// be a record.
func ParseSchema(text string) (*Schema, error) {
	var raw any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("decode: schema: %w", err)
	}
	p := shapeParser{named: map[string]*shape{}}
	root, err := p.parse(raw, "")
	if err != nil {
		return nil, fmt.Errorf("decode: schema: %w", err)
	}
	if root.kind != sRecord {
		return nil, errors.New("decode: schema: the top-level type is not a record")
	}
	return &Schema{root: root}, nil
}

// Has reports whether a value can exist at the dotted path (split at its dots)
// in records of the schema: each segment names a field of a record (of any
// record branch of a union) or a key of a map. A path into an array, or through a
// scalar, is absent.
func (s *Schema) Has(path []string) bool { return has(s.root, path) }

func has(n *shape, p []string) bool {
	if len(p) == 0 {
		return true
	}
	switch n.kind {
	case sRecord:
		f, ok := n.fields[p[0]]
		return ok && has(f, p[1:])
	case sMap:
		return has(n.items, p[1:])
	case sUnion:
		for _, b := range n.branches {
			if has(b, p) {
				return true
			}
		}
	}
	return false
}

// Strip removes goavro's union wrappers from rec, a record of the schema in
// goavro's native form (as goavro.Codec.NativeFromBinary returns it or
// BinaryFromNative takes it), in place, and returns it: the form Decode returns.
func (s *Schema) Strip(rec map[string]any) map[string]any {
	strip(s.root, rec)
	return rec
}

// strip removes goavro's union wrappers from a native value of shape n, in
// place for maps and slices, and returns the union-free value.
func strip(n *shape, v any) any {
	if n == nil || v == nil {
		return v
	}
	switch n.kind {
	case sRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		// Not a range over m: assigning to a map while ranging over it allocates.
		for _, k := range n.strips {
			if fv, ok := m[k]; ok && fv != nil {
				f := n.fields[k]
				if nv := strip(f, fv); f.kind == sUnion {
					m[k] = nv // records, maps and arrays are stripped in place
				}
			}
		}
	case sMap:
		if m, ok := v.(map[string]any); ok && needsStrip(n.items) {
			for k, iv := range m {
				m[k] = strip(n.items, iv)
			}
		}
	case sArray:
		if a, ok := v.([]any); ok && needsStrip(n.items) {
			for i, iv := range a {
				a[i] = strip(n.items, iv)
			}
		}
	case sUnion:
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return v // goavro gives null as nil; anything else is its wrapper
		}
		for k, inner := range m {
			return strip(n.branch(k, inner), inner)
		}
	}
	return v
}

// pathTree is a set of dotted paths as a tree: the parts of a value that
// stripPaths makes union-free.
type pathTree []pathNode

type pathNode struct {
	name string
	next pathTree
}

func newPathTree(paths [][]string) pathTree {
	var t pathTree
	for _, p := range paths {
		t = t.add(p)
	}
	return t
}

func (t pathTree) add(p []string) pathTree {
	if len(p) == 0 {
		return t
	}
	for i := range t {
		if t[i].name == p[0] {
			t[i].next = t[i].next.add(p[1:])
			return t
		}
	}
	return append(t, pathNode{name: p[0], next: pathTree(nil).add(p[1:])})
}

// stripPaths is strip along the paths of t only, each union once: what the
// feature lookup reads of a value is union-free, and nothing else is walked.
func stripPaths(n *shape, v any, t pathTree) any {
	if n == nil || v == nil {
		return v
	}
	if n.kind == sUnion {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return v
		}
		for k, inner := range m {
			return stripPaths(n.branch(k, inner), inner, t)
		}
	}
	if len(t) == 0 {
		return v
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for i := range t {
		var next *shape
		switch n.kind {
		case sRecord:
			next = n.fields[t[i].name]
		case sMap:
			next = n.items
		}
		if fv, ok := m[t[i].name]; ok && next != nil && needsStrip(next) {
			m[t[i].name] = stripPaths(next, fv, t[i].next)
		}
	}
	return v
}

// needsStrip: values of this shape can hold a union.
func needsStrip(n *shape) bool { return n.kind != sLeaf }

// branch finds the union branch goavro named name: by its full name; else by
// the base type of a logical type name ("long.timestamp-millis"); else the only
// branch that is not null, or the only one of the value's Go kind. Nil (strip
// no further) when none fits.
func (n *shape) branch(name string, v any) *shape {
	for _, b := range n.branches {
		if b.name == name {
			return b
		}
	}
	if base, _, ok := strings.Cut(name, "."); ok {
		for _, b := range n.branches {
			if b.name == base {
				return b
			}
		}
	}
	var only, ofKind *shape
	kinds, nonNull := 0, 0
	_, isMap := v.(map[string]any)
	_, isSlice := v.([]any)
	for _, b := range n.branches {
		if b.name != "null" {
			nonNull++
			only = b
		}
		if (isMap && (b.kind == sRecord || b.kind == sMap)) || (isSlice && b.kind == sArray) {
			kinds++
			ofKind = b
		}
	}
	switch {
	case nonNull == 1:
		return only
	case kinds == 1:
		return ofKind
	}
	return nil
}

type shapeParser struct {
	named map[string]*shape
}

var primitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true}

func (p *shapeParser) parse(v any, ns string) (*shape, error) {
	switch t := v.(type) {
	case string:
		if primitives[t] {
			return &shape{kind: sLeaf, name: t}, nil
		}
		if n, ok := p.named[t]; ok {
			return n, nil
		}
		if n, ok := p.named[fullName(t, ns)]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", t)
	case []any:
		u := &shape{kind: sUnion, name: "union"}
		for _, b := range t {
			n, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, n)
		}
		return u, nil
	case map[string]any:
		typ, isString := t["type"].(string)
		if !isString {
			inner, ok := t["type"]
			if !ok {
				return nil, errors.New("a type without \"type\"")
			}
			return p.parse(inner, ns) // {"type": {...}} or {"type": [...]}
		}
		if primitives[typ] {
			name := typ
			if lt, ok := t["logicalType"].(string); ok && lt != "" {
				name = typ + "." + lt
			}
			return &shape{kind: sLeaf, name: name}, nil
		}
		switch typ {
		case "array":
			items, err := p.parse(t["items"], ns)
			if err != nil {
				return nil, err
			}
			return &shape{kind: sArray, name: "array", items: items}, nil
		case "map":
			values, err := p.parse(t["values"], ns)
			if err != nil {
				return nil, err
			}
			return &shape{kind: sMap, name: "map", items: values}, nil
		case "record", "error", "enum", "fixed":
		default:
			return p.parse(typ, ns) // a named type referenced as {"type": "Name"}
		}
		name, _ := t["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("a %s without a name", typ)
		}
		if nsp, ok := t["namespace"].(string); ok && nsp != "" && !strings.Contains(name, ".") {
			ns = nsp
		}
		full := fullName(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		} else {
			ns = ""
		}
		if typ != "record" && typ != "error" {
			n := &shape{kind: sLeaf, name: full}
			p.named[full] = n
			return n, nil
		}
		n := &shape{kind: sRecord, name: full, fields: map[string]*shape{}}
		p.named[full] = n // before the fields: a record may refer to itself
		fs, _ := t["fields"].([]any)
		for _, f := range fs {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: a field is not an object", full)
			}
			fname, _ := fm["name"].(string)
			if i := strings.LastIndexByte(fname, '.'); i >= 0 {
				fname = fname[i+1:] // goavro keys a field by its short name
			}
			fn, err := p.parse(fm, ns) // the field's own map: a field-level logicalType counts
			if err != nil {
				return nil, fmt.Errorf("record %s: field %s: %w", full, fname, err)
			}
			n.fields[fname] = fn
			if needsStrip(fn) {
				n.strips = append(n.strips, fname)
			}
		}
		return n, nil
	}
	return nil, fmt.Errorf("a type of JSON kind %T", v)
}
