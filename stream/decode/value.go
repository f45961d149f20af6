package decode

import (
	"math"
	"time"
)

// Kind is the type of a decoded Value: which of goavro's native Go types the
// value would be.
type Kind uint8

// The kinds of a Value.
const (
	// Absent: no value. The path is not in the writer schema, its value is null,
	// or it leads into a value that is not a record (or map).
	Absent     Kind = iota
	Bool            // boolean: bool
	Int             // int: int32
	Long            // long: int64
	Float           // float: float32
	Double          // double: float64
	String          // string or enum symbol: string
	Bytes           // bytes or fixed: []byte
	TimeMillis      // long timestamp-millis: time.Time
	TimeMicros      // long timestamp-micros: time.Time
	Date            // int date: time.Time
	// Other is any other Go value, held as is: what goavro decodes of the
	// schemas the projection leaves to it (maps, arrays, records at a leaf,
	// other logical types), or a time.Time goavro made.
	Other
)

// Value is one decoded field, without boxing: a number, a string or a time in
// place. The zero Value is Absent. Strings share the memory of one copy of the
// record body (see Decoder.DecodeInto): a consumer that keeps one beyond the
// record while holding many (the state's distinct values) clones it.
type Value struct {
	kind Kind
	n    uint64 // Bool 0/1; Int, Long, Date and the timestamps as int64; Float and Double as float64 bits
	s    string // String, Bytes
	x    any    // Other
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// Bool is a Bool's value.
func (v Value) Bool() bool { return v.n != 0 }

// Int is the integer of an Int, Long, Date (days since the epoch), TimeMillis
// (ms since the epoch) or TimeMicros (µs since the epoch).
func (v Value) Int() int64 { return int64(v.n) }

// Float is a Float's or Double's value (a float32 converted exactly).
func (v Value) Float() float64 { return math.Float64frombits(v.n) }

// Str is a String's text or a Bytes' bytes as a string.
func (v Value) Str() string { return v.s }

// Time is a TimeMillis', TimeMicros' or Date's time, as goavro makes it (UTC),
// or a time.Time held by an Other; ok false for other kinds.
func (v Value) Time() (t time.Time, ok bool) {
	i := int64(v.n)
	switch v.kind {
	case TimeMillis:
		s := i / 1e3
		return time.Unix(s, (i-s*1e3)*1e6).UTC(), true
	case TimeMicros:
		s := i / 1e6
		return time.Unix(s, (i-s*1e6)*1e3).UTC(), true
	case Date:
		return time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(i)).UTC(), true
	case Other:
		t, ok = v.x.(time.Time)
		return t, ok
	}
	return time.Time{}, false
}

// Any is the value as goavro's native Go value (nil when Absent). It boxes:
// for messages and rare paths, not per field.
func (v Value) Any() any {
	switch v.kind {
	case Bool:
		return v.Bool()
	case Int:
		return int32(v.n)
	case Long:
		return v.Int()
	case Float:
		return float32(v.Float())
	case Double:
		return v.Float()
	case String:
		return v.s
	case Bytes:
		return []byte(v.s)
	case TimeMillis, TimeMicros, Date:
		t, _ := v.Time()
		return t
	case Other:
		return v.x
	}
	return nil
}

// Value constructors, as the projection decodes them.
func boolValue(b bool) Value {
	v := Value{kind: Bool}
	if b {
		v.n = 1
	}
	return v
}
func intValue(k Kind, i int64) Value     { return Value{kind: k, n: uint64(i)} }
func floatValue(k Kind, f float64) Value { return Value{kind: k, n: math.Float64bits(f)} }
func strValue(k Kind, s string) Value    { return Value{kind: k, s: s} }

// FromNative is the Value of a union-free native Go value (as Decode returns
// them, or goavro's types): nil is Absent; bool, int32, int64, float32,
// float64, string and []byte get their kinds; anything else (time.Time
// included) is an Other holding v.
func FromNative(v any) Value {
	switch x := v.(type) {
	case nil:
		return Value{}
	case bool:
		return boolValue(x)
	case int32:
		return intValue(Int, int64(x))
	case int64:
		return intValue(Long, x)
	case float32:
		return floatValue(Float, float64(x))
	case float64:
		return floatValue(Double, x)
	case string:
		return strValue(String, x)
	case []byte:
		return strValue(Bytes, string(x))
	}
	return Value{kind: Other, x: v}
}
