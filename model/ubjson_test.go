package model

import (
	"reflect"
	"testing"
)

func TestDecodeUBJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want any
	}{
		{"scalars", "[#U\x06Z" + "T" + "F" + "i\xff" + "U\xff" + "I\x01\x00", []any{nil, true, false, int64(-1), int64(255), int64(256)}},
		{"int32 int64", "[l\xff\xff\xff\xfeL\x00\x00\x00\x00\x00\x00\x01\x00]", []any{int64(-2), int64(256)}},
		{"float32 float64", "[d\x3f\x00\x00\x00D\x3f\xf8\x00\x00\x00\x00\x00\x00]", []any{0.5, 1.5}},
		{"string char noop", "[NS\x55\x02hiC\x41N]", []any{"hi", "A"}},
		{"typed float32", "[$d#i\x02\x3f\x80\x00\x00\xc0\x00\x00\x00", []float32{1, -2}},
		{"typed int32", "[$l#L\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x05\xff\xff\xff\xff", []int64{5, -1}},
		{"typed int8", "[$i#U\x03\x01\xff\x00", []int64{1, -1, 0}},
		{"typed uint8", "[$U#U\x02\x01\xff", []int64{1, 255}},
		{"typed float64", "[$D#U\x01\x40\x00\x00\x00\x00\x00\x00\x00", []float64{2}},
		{"typed strings", "[$S#U\x02U\x01aU\x01b", []any{"a", "b"}},
		{"counted untyped", "[#U\x02i\x01S\x55\x01x", []any{int64(1), "x"}},
		{"empty typed", "[$l#L\x00\x00\x00\x00\x00\x00\x00\x00", []int64{}},
		{"object", "{L\x00\x00\x00\x00\x00\x00\x00\x01a{U\x01b[]}}", map[string]any{"a": map[string]any{"b": []any(nil)}}},
		{"counted object", "{#U\x01U\x01kSU\x01v", map[string]any{"k": "v"}},
		{"typed object", "{$i#U\x02U\x01a\x01U\x01b\x02", map[string]any{"a": int64(1), "b": int64(2)}},
		{"high precision", "HU\x031.5", 1.5},
	}
	for _, c := range cases {
		got, err := decodeUBJSON([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestDecodeUBJSONBad(t *testing.T) {
	for _, in := range []string{
		"",
		"[",
		"[$d#U\x05\x00\x00",                     // count longer than data
		"[$l#L\x7f\xff\xff\xff\xff\xff\xff\xff", // huge count
		"[$Z#L\x00\x00\x00\x00\x7f\xff\xff\xff", // huge count of empty values
		"{U\x05ab",                              // key longer than data
		"[$d]",                                  // type without count
		"x",                                     // unknown marker
		"S\x55\x01ab",                           // trailing byte
		"SU\x01",                                // truncated string
		"[#i\xff",                               // negative count
		"{i\x01a",                               // missing value
		string(make([]byte, 0)) + "[[[[[[[[[[[[[[[[", // unterminated nesting
	} {
		if v, err := decodeUBJSON([]byte(in)); err == nil {
			t.Errorf("%q: decoded to %#v, want an error", in, v)
		}
	}
	deep := make([]byte, 0, 300)
	for range 300 {
		deep = append(deep, '[')
	}
	if _, err := decodeUBJSON(deep); err == nil {
		t.Error("300 nested arrays accepted")
	}
}
