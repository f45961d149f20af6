package model

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestLogistic(t *testing.T) {
	// sigmoid(0.5 + 2*(3-1)/2 - 1*(4)) = sigmoid(-1.5)
	doc := `{"format":"logistic","features":["a","b"],"intercept":0.5,
	  "coefficients":{"a":2,"b":-1},"standardize":{"mean":{"a":1},"std":{"a":2}}}`
	m, err := Parse([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	want := 1 / (1 + math.Exp(1.5))
	if got := m.Score([]float64{3, 4}); math.Abs(got-want) > 1e-15 {
		t.Errorf("Score = %v, want %v", got, want)
	}
	if got := m.Info(); got.Format != "logistic" || got.Classes != 1 || got.Hash != HashBytes([]byte(doc)) {
		t.Errorf("Info = %+v", got)
	}
	c := m.(Checker)
	if err := c.Check([]float64{3, 4}); err != nil {
		t.Errorf("Check on full row: %v", err)
	}
	err = c.Check([]float64{3, math.NaN()})
	if !errors.Is(err, ErrMissingInput) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("Check on missing b: %v", err)
	}
	if !math.IsNaN(m.Score([]float64{3, math.NaN()})) {
		t.Error("Score with a NaN input is not NaN")
	}
}

func TestLogisticBad(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{"format":"logistic","features":["a"],"intercept":0,"coefficients":{}}`, `no coefficient for feature "a"`},
		{`{"format":"logistic","features":["a"],"intercept":0,"coefficients":{"a":1,"z":2}}`, `coefficients: "z" is not in features`},
		{`{"format":"logistic","features":["a","a"],"intercept":0,"coefficients":{"a":1}}`, `"a" appears twice`},
		{`{"format":"logistic","features":["a"],"coefficients":{"a":1}}`, `intercept: missing`},
		{`{"format":"logistic","features":["a"],"intercept":0,"coefficients":{"a":1},"standardize":{"std":{"a":0}}}`, `standardize.std: "a" is 0, want > 0`},
		{`{"format":"logistic","features":["a"],"intercept":0,"coefficients":{"a":1},"coef":1}`, `unknown field "coef"`},
		{`{"format":"logistic","features":[],"intercept":0,"coefficients":{}}`, `features: empty`},
		{`{"format":"logistic","version":2,"features":["a"],"intercept":0,"coefficients":{"a":1}}`, `version 2`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.doc), "")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "logistic: ") {
			t.Errorf("%s: error %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestCheckFeatures(t *testing.T) {
	m, err := Load("testdata/parity/logistic_pipeline.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFeatures(m, []string{"tx_count_1h", "extra", "amount", "hour", "merchant_age", "distance_km"}, "the feature spec"); err != nil {
		t.Errorf("all present: %v", err)
	}
	err = CheckFeatures(m, []string{"amount", "distance_km", "tx_count_1h"}, "the feature spec")
	want := "model needs features not in the feature spec: hour, merchant_age"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		data, want string
	}{
		{`{"format":"logistic"}`, FormatLogistic},
		{" {\"learner\":{}}", FormatXGBoost},
		{"tree\nversion=v4\n", FormatLightGBM},
		{"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}}", FormatXGBoostUBJ},
		{`{"format":"onnx"}`, ""},
		{`{"a":1}`, ""},
		{"hello", ""},
	}
	for _, c := range cases {
		got, err := Detect([]byte(c.data))
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("Detect(%q) = %q, %v; want %q", c.data, got, err, c.want)
		}
	}
}
