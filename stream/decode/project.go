package decode

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// A projection decodes only the fields the pipeline reads (the feature spec's
// paths) from Avro binary under one writer schema, and skips the rest, instead
// of building goavro's native value for the whole record: it decodes each
// kept path's value into its slot (a Value, by the path's index), the value
// goavro would give (int32, int64, float32, float64, bool, string, []byte,
// time.Time for timestamp-millis/-micros and date) without boxing it, with
// every union replaced by its branch's value (as Decode makes goavro's values,
// see Schema). It accepts
// exactly what goavro accepts — the same varint, length, union-index, enum-index
// and boolean checks on every field, kept or skipped, and no trailing bytes —
// which the fuzz test FuzzProjection checks against goavro itself.
//
// Schemas it does not handle get no projection, and goavro decodes them: maps
// (goavro rejects duplicate keys, which a skipper would have to track),
// decimal and validated-string logical types, kept fields of other logical or
// complex types, and nested unions.
type projection struct {
	root *node
	want *want
	plan *step
}

type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kLong
	kFloat
	kDouble
	kBytes
	kString
	kEnum
	kFixed
	kRecord
	kArray
	kUnion
)

type node struct {
	kind     kind
	name     string // full name of a record, enum or fixed: goavro's union branch name
	logical  string // for kInt and kLong: "timestamp-millis", "timestamp-micros", "date", ...
	size     int    // kFixed
	symbols  []string
	fields   []field
	items    *node   // kArray
	branches []*node // kUnion
	width    int     // bytes of a fixed-width encoding (null 0, float 4, double 8, fixed size); -1 otherwise
}

type field struct {
	name string
	n    *node
}

// want is the tree of kept paths: a leaf keeps the value, children descend into
// a record.
type want struct {
	leaf     bool
	slots    []int // leaf: the indexes of the paths that end here
	children map[string]*want
}

var errUnsupported = errors.New("schema not supported by the projection decoder")

// errNoFiniteValue: a record contains itself through fields that are always
// present (not behind a union or an array), so no value of it is finite. goavro
// accepts such a schema and then recurses until the stack overflows, which
// kills the process: its records must not reach goavro.
var errNoFiniteValue = errors.New("a record contains itself through required fields, so no value of it is finite")

// reserved are the names goavro looks up before user-defined names in some
// forms ({"type": T, "logicalType": L} tries T.L and namespace.T first): a user
// type named like them, or in a namespace named like them, could stand in for
// a primitive or keyword there.
var reserved = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true,
	"double": true, "bytes": true, "string": true, "array": true, "map": true, "record": true,
	"error": true, "enum": true, "fixed": true, "union": true}

// newProjection compiles a projection of schema (JSON text goavro accepted) for
// paths; it returns errUnsupported for what goavro must decode instead.
func newProjection(schema string, paths [][]string) (*projection, error) {
	var raw any
	if err := json.Unmarshal([]byte(schema), &raw); err != nil {
		return nil, err
	}
	pb := &parser{named: map[string]*node{}}
	root, err := pb.parse(raw, "")
	if err != nil {
		return nil, err
	}
	if cyclic(root, map[*node]int{}) {
		return nil, errNoFiniteValue
	}
	if root.kind != kRecord {
		return nil, errUnsupported
	}
	w := &want{children: map[string]*want{}}
	for k, p := range paths {
		cur := w
		for i, seg := range p {
			if seg == "" {
				return nil, errUnsupported
			}
			next := cur.children[seg]
			if next == nil {
				next = &want{children: map[string]*want{}}
				cur.children[seg] = next
			}
			if i == len(p)-1 {
				next.leaf = true
				next.slots = append(next.slots, k)
			}
			cur = next
		}
	}
	if err := check(root, w); err != nil {
		return nil, err
	}
	return &projection{root: root, want: w, plan: compile(root, w)}, nil
}

// check verifies that every kept field can be materialised: scalars (through
// unions with null) at leaves, records (through unions) below.
func check(n *node, w *want) error {
	if w.leaf && len(w.children) > 0 {
		return errUnsupported // a path that is also a prefix of another: keep it simple
	}
	if w.leaf {
		return checkLeaf(n)
	}
	switch n.kind {
	case kRecord:
		for _, f := range n.fields {
			if c := w.children[f.name]; c != nil {
				if err := check(f.n, c); err != nil {
					return err
				}
			}
		}
	case kUnion:
		for _, b := range n.branches {
			if b.kind == kRecord {
				if err := check(b, w); err != nil {
					return err
				}
			}
		}
	}
	return nil // a path into a scalar is absent, as with goavro's value
}

func checkLeaf(n *node) error {
	switch n.kind {
	case kUnion:
		for _, b := range n.branches {
			if err := checkLeaf(b); err != nil {
				return err
			}
		}
		return nil
	case kRecord, kArray:
		return errUnsupported
	case kInt:
		if n.logical != "" && n.logical != "date" {
			return errUnsupported
		}
	case kLong:
		if n.logical != "" && n.logical != "timestamp-millis" && n.logical != "timestamp-micros" {
			return errUnsupported
		}
	}
	return nil
}

type parser struct {
	named map[string]*node
}

// cyclic reports whether a record reachable from n contains itself through
// record-typed fields alone. state: 1 while on the current path of required
// fields, 2 when done.
func cyclic(n *node, state map[*node]int) bool {
	switch n.kind {
	case kRecord:
		switch state[n] {
		case 1:
			return true
		case 2:
			return false
		}
		state[n] = 1
		for _, f := range n.fields {
			if f.n.kind == kRecord && cyclic(f.n, state) {
				return true
			}
		}
		state[n] = 2
		// Records behind unions or arrays start paths of their own.
		for _, f := range n.fields {
			if f.n.kind != kRecord && cyclic(f.n, state) {
				return true
			}
		}
	case kUnion:
		for _, b := range n.branches {
			if cyclic(b, state) {
				return true
			}
		}
	case kArray:
		return cyclic(n.items, state)
	}
	return false
}

func (p *parser) parse(v any, ns string) (*node, error) {
	switch t := v.(type) {
	case string:
		if n := primitive(t, ""); n != nil {
			return n, nil
		}
		// goavro's order: the name as written, then within the namespace.
		if n, ok := p.named[t]; ok {
			return n, nil
		}
		if n, ok := p.named[fullName(t, ns)]; ok {
			return n, nil
		}
		return nil, errUnsupported
	case []any:
		u := &node{kind: kUnion, width: -1}
		for _, b := range t {
			n, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			if n.kind == kUnion {
				return nil, errUnsupported // not valid Avro, though goavro takes it: left to goavro
			}
			u.branches = append(u.branches, n)
		}
		return u, nil
	case map[string]any:
		typ, _ := t["type"].(string)
		if typ == "" {
			if inner, ok := t["type"]; ok { // {"type": {...}} or {"type": [...]}
				return p.parse(inner, ns)
			}
			return nil, errUnsupported
		}
		lt := ""
		if raw, ok := t["logicalType"]; ok && raw != nil {
			var isString bool
			if lt, isString = raw.(string); !isString {
				return nil, errUnsupported
			}
			if lt == "decimal" || lt == "validated-string" || primitive(typ, "") == nil {
				return nil, errUnsupported // only logical types on primitives are mirrored
			}
		}
		if n := primitive(typ, lt); n != nil {
			return n, nil
		}
		switch typ {
		case "record", "error", "enum", "fixed":
		case "array":
			items, err := p.parse(t["items"], ns)
			if err != nil {
				return nil, err
			}
			return &node{kind: kArray, items: items, width: -1}, nil
		case "map":
			return nil, errUnsupported
		default:
			return p.parse(typ, ns) // a named type referenced as {"type": "Name"}
		}
		name, _ := t["name"].(string)
		if name == "" {
			return nil, errUnsupported
		}
		if nsp, ok := t["namespace"].(string); ok && nsp != "" && !strings.Contains(name, ".") {
			ns = nsp // goavro: an empty namespace is no namespace: the enclosing one holds
		}
		full := fullName(name, ns)
		short, first := full, full
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			short = full[i+1:]
		}
		if i := strings.IndexByte(full, '.'); i >= 0 {
			first = full[:i]
		}
		if reserved[short] || reserved[first] {
			return nil, errUnsupported // could stand in for a primitive or keyword in goavro's lookups
		}
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		} else {
			ns = ""
		}
		switch typ {
		case "enum":
			syms, _ := t["symbols"].([]any)
			n := &node{kind: kEnum, name: full, width: -1}
			for _, s := range syms {
				str, ok := s.(string)
				if !ok {
					return nil, errUnsupported
				}
				n.symbols = append(n.symbols, str)
			}
			p.named[full] = n
			return n, nil
		case "fixed":
			size, ok := t["size"].(float64)
			if !ok || size < 0 || size > math.MaxInt32 || size != math.Trunc(size) {
				return nil, errUnsupported
			}
			n := &node{kind: kFixed, name: full, size: int(size), width: int(size)}
			p.named[full] = n
			return n, nil
		}
		n := &node{kind: kRecord, name: full, width: -1}
		p.named[full] = n // before the fields: a record may refer to itself
		fs, _ := t["fields"].([]any)
		for _, f := range fs {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, errUnsupported
			}
			fname, _ := fm["name"].(string)
			if i := strings.LastIndexByte(fname, '.'); i >= 0 {
				fname = fname[i+1:] // goavro keys a field by its short name
			}
			// goavro builds a field's type from the field's own map, so a
			// field-level logicalType counts ({"name": "t", "type": "long",
			// "logicalType": "timestamp-millis"}).
			fn, err := p.parse(fm, ns)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, field{name: fname, n: fn})
		}
		// A record of fixed-width fields has a fixed width (0 for none or only
		// nulls: an array of them reads nothing per item, however many).
		w := 0
		for _, f := range n.fields {
			if f.n.width < 0 {
				w = -1
				break
			}
			w += f.n.width
		}
		n.width = w
		return n, nil
	}
	return nil, errUnsupported
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func primitive(t, logical string) *node {
	switch t {
	case "null":
		return &node{kind: kNull, width: 0}
	case "boolean":
		return &node{kind: kBool, width: -1}
	case "int":
		return &node{kind: kInt, logical: logical, width: -1}
	case "long":
		return &node{kind: kLong, logical: logical, width: -1}
	case "float":
		return &node{kind: kFloat, width: 4}
	case "double":
		return &node{kind: kDouble, width: 8}
	case "bytes":
		return &node{kind: kBytes, width: -1}
	case "string":
		return &node{kind: kString, width: -1}
	}
	return nil
}

// decode decodes a whole record body into vals (one per path the projection
// was compiled for, by index): the kept fields' values, Absent for the rest.
//
// The kept strings share one copy of the record body, made at the first string
// (one allocation per record, not one per string): a consumer that keeps a
// string beyond the record (the state's distinct values) clones it.
func (p *projection) decode(buf []byte, vals []Value) error {
	clear(vals)
	tx := text{whole: buf, vals: vals}
	rest, err := keep(p.plan, buf, &tx)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes after the record", len(rest))
	}
	return nil
}

var errShort = errors.New("short buffer")

// text is the record body being decoded, its string copy once a string field
// needs it, and the values decoded.
type text struct {
	whole []byte
	s     string
	vals  []Value
}

// str returns b, the slice of the record body that rest follows, as a
// substring of the body's copy.
func (t *text) str(b, rest []byte) string {
	if len(b) == 0 {
		return ""
	}
	if t.s == "" {
		t.s = string(t.whole)
	}
	off := len(t.whole) - len(rest) - len(b)
	return t.s[off : off+len(b)]
}

// A step is how one value of a schema node is read for the kept paths under
// it, compiled once per projection (no field-name lookups per record): a leaf
// decodes the value into its slots, a record reads its fields (nil: skipped), a
// union its branch; anything else is skipped.
type step struct {
	n        *node
	leaf     bool
	slots    []int   // leaf: the indexes of the paths ending here
	fields   []*step // kRecord, per field of n; nil skips the field
	branches []*step // kUnion, per branch
}

func compile(n *node, w *want) *step {
	s := &step{n: n, leaf: w.leaf, slots: w.slots}
	switch n.kind {
	case kUnion:
		s.branches = make([]*step, len(n.branches))
		for i, b := range n.branches {
			s.branches[i] = compile(b, w)
		}
	case kRecord:
		if w.leaf {
			break // excluded by check
		}
		s.fields = make([]*step, len(n.fields))
		for i := range n.fields {
			if c := w.children[n.fields[i].name]; c != nil {
				s.fields[i] = compile(n.fields[i].n, c)
			}
		}
	}
	return s
}

// keep decodes a kept value: a scalar at a leaf, a projected record below.
func keep(s *step, buf []byte, tx *text) ([]byte, error) {
	n := s.n
	switch {
	case n.kind == kUnion:
		i, rest, err := long(buf)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return nil, fmt.Errorf("union index %d out of range", i)
		}
		return keep(s.branches[i], rest, tx)
	case n.kind == kRecord && s.fields != nil:
		var err error
		for i, fs := range s.fields {
			if fs == nil {
				buf, err = skip(n.fields[i].n, buf)
			} else {
				buf, err = keep(fs, buf, tx)
			}
			if err != nil {
				return nil, err
			}
		}
		return buf, nil
	case !s.leaf: // a path into a scalar: absent, as in goavro's value
		return skip(n, buf)
	}
	v, rest, err := scalar(n, buf, tx)
	if err != nil {
		return nil, err
	}
	for _, k := range s.slots {
		tx.vals[k] = v
	}
	return rest, nil
}

func scalar(n *node, buf []byte, tx *text) (Value, []byte, error) {
	switch n.kind {
	case kNull:
		return Value{}, buf, nil
	case kBool:
		if len(buf) < 1 {
			return Value{}, nil, errShort
		}
		if buf[0] > 1 {
			return Value{}, nil, fmt.Errorf("boolean byte %d", buf[0])
		}
		return boolValue(buf[0] == 1), buf[1:], nil
	case kInt:
		v, rest, err := int32v(buf)
		if err != nil {
			return Value{}, nil, err
		}
		if n.logical == "date" {
			return intValue(Date, int64(v)), rest, nil
		}
		return intValue(Int, int64(v)), rest, nil
	case kLong:
		v, rest, err := long(buf)
		if err != nil {
			return Value{}, nil, err
		}
		switch n.logical {
		case "timestamp-millis":
			return intValue(TimeMillis, v), rest, nil
		case "timestamp-micros":
			return intValue(TimeMicros, v), rest, nil
		}
		return intValue(Long, v), rest, nil
	case kFloat:
		if len(buf) < 4 {
			return Value{}, nil, errShort
		}
		return floatValue(Float, float64(math.Float32frombits(binary.LittleEndian.Uint32(buf)))), buf[4:], nil
	case kDouble:
		if len(buf) < 8 {
			return Value{}, nil, errShort
		}
		return floatValue(Double, math.Float64frombits(binary.LittleEndian.Uint64(buf))), buf[8:], nil
	case kBytes, kString:
		b, rest, err := bytesv(buf)
		if err != nil {
			return Value{}, nil, err
		}
		k := Bytes
		if n.kind == kString {
			k = String
		}
		return strValue(k, tx.str(b, rest)), rest, nil
	case kEnum:
		i, rest, err := long(buf)
		if err != nil {
			return Value{}, nil, err
		}
		if i < 0 || i >= int64(len(n.symbols)) {
			return Value{}, nil, fmt.Errorf("enum index %d out of range", i)
		}
		return strValue(String, n.symbols[i]), rest, nil
	case kFixed:
		if n.size > len(buf) {
			return Value{}, nil, errShort
		}
		return strValue(Bytes, tx.str(buf[:n.size], buf[n.size:])), buf[n.size:], nil
	}
	return Value{}, nil, errUnsupported
}

// skip passes over one value, checking it as goavro would decode it.
func skip(n *node, buf []byte) ([]byte, error) {
	if n.width >= 0 {
		if n.width > len(buf) {
			return nil, errShort
		}
		return buf[n.width:], nil
	}
	switch n.kind {
	case kRecord:
		var err error
		for i := range n.fields {
			if buf, err = skip(n.fields[i].n, buf); err != nil {
				return nil, err
			}
		}
		return buf, nil
	case kUnion:
		i, rest, err := long(buf)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return nil, fmt.Errorf("union index %d out of range", i)
		}
		return skip(n.branches[i], rest)
	case kArray:
		for {
			count, rest, err := long(buf)
			if err != nil {
				return nil, err
			}
			buf = rest
			if count == 0 {
				return buf, nil
			}
			if count < 0 {
				if count == math.MinInt64 {
					return nil, fmt.Errorf("array block count %d", count)
				}
				count = -count
				if _, buf, err = long(buf); err != nil { // the block's size in bytes
					return nil, err
				}
			}
			if count > goavro.MaxBlockCount {
				return nil, fmt.Errorf("array block count %d exceeds %d", count, goavro.MaxBlockCount)
			}
			if n.items.width == 0 {
				continue // nulls: nothing to read, however many
			}
			for ; count > 0; count-- {
				if buf, err = skip(n.items, buf); err != nil {
					return nil, err
				}
			}
		}
	case kBool:
		if len(buf) < 1 {
			return nil, errShort
		}
		if buf[0] > 1 {
			return nil, fmt.Errorf("boolean byte %d", buf[0])
		}
		return buf[1:], nil
	case kInt, kLong, kEnum:
		v, rest, err := long(buf)
		if err != nil {
			return nil, err
		}
		if n.kind == kEnum && (v < 0 || v >= int64(len(n.symbols))) {
			return nil, fmt.Errorf("enum index %d out of range", v)
		}
		return rest, nil
	case kBytes, kString:
		_, rest, err := bytesv(buf)
		return rest, err
	}
	return nil, errUnsupported
}

// long reads a zig-zag varint the way goavro does: any number of bytes, the
// bits past 64 dropped.
func long(buf []byte) (int64, []byte, error) {
	var v uint64
	var shift uint
	for i, b := range buf {
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return int64(v>>1) ^ -int64(v&1), buf[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, errShort
}

// int32v reads an Avro int the way goavro does (accumulating in an int, then
// truncating to 32 bits).
func int32v(buf []byte) (int32, []byte, error) {
	var v int
	var shift uint
	for i, b := range buf {
		v |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return int32(v>>1) ^ -int32(v&1), buf[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, errShort
}

func bytesv(buf []byte) ([]byte, []byte, error) {
	if len(buf) < 1 {
		return nil, nil, errShort
	}
	size, rest, err := long(buf)
	if err != nil {
		return nil, nil, err
	}
	if size < 0 {
		return nil, nil, fmt.Errorf("negative length %d", size)
	}
	if size > int64(len(rest)) {
		return nil, nil, errShort
	}
	return rest[:size], rest[size:], nil
}
