package replay

import (
	"reflect"
	"testing"
)

func TestParseOffsets(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Offsets
		bad  bool
	}{
		{in: "payments:0=100,payments:1=200", want: Offsets{"payments": {0: 100, 1: 200}}},
		{in: "a.b:c:3=0", want: Offsets{"a.b:c": {3: 0}}}, // the last colon splits
		{in: " x:0=1 , y:2=3 ", want: Offsets{"x": {0: 1}, "y": {2: 3}}},
		{in: "", bad: true},
		{in: "payments=1", bad: true},
		{in: "payments:-1=1", bad: true},
		{in: "payments:0=-5", bad: true},
		{in: "payments:0", bad: true},
		{in: ":0=1", bad: true},
	} {
		got, err := ParseOffsets(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("ParseOffsets(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseLabel(t *testing.T) {
	for _, tc := range []struct {
		in      string
		v       int8
		ok, bad bool
	}{
		{"1", 1, true, false}, {"0", 0, true, false}, {"TRUE", 1, true, false}, {"false", 0, true, false},
		{"fraud", 1, true, false}, {"legit", 0, true, false}, {"1.0", 1, true, false}, {" ", 0, false, false},
		{"2", 0, false, true}, {"maybe", 0, false, true},
	} {
		v, ok, err := parseLabel(tc.in)
		if v != tc.v || ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("parseLabel(%q) = %d, %v, %v", tc.in, v, ok, err)
		}
	}
}
