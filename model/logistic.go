package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Logistic is a binary logistic regression read from scorestream's logistic JSON
// format, the output of examples/sklearn_export.py:
//
//	{
//	  "format": "logistic",
//	  "version": 1,
//	  "features": ["amount", "hour", "merchant_age"],
//	  "intercept": -1.25,
//	  "coefficients": {"amount": 0.8, "hour": -0.1, "merchant_age": -1.7},
//	  "standardize": {                      // optional, e.g. from a StandardScaler
//	    "mean": {"amount": 31.5, "hour": 11.2},   // missing names: mean 0
//	    "std":  {"amount": 40.1, "hour": 6.9}     // missing names: std 1
//	  },
//	  "objective": "binary:logistic"        // optional; the only one supported
//	}
//
// "features" fixes the input order; every feature needs a coefficient (0 is
// allowed), and coefficients, mean and std may name no other feature. Unknown
// top-level keys are an error, so a typo cannot silently drop a term.
//
// Score = sigmoid(intercept + Σ coef_i · (x_i − mean_i) / std_i), computed in
// float64 — the same as scikit-learn's predict_proba(X)[:, 1].
//
// A logistic model has no notion of a missing value: Score returns NaN when an input
// is NaN. Logistic implements Checker, whose Check names the missing feature, so
// the pipeline can dead-letter such a record instead of producing NaN.
type Logistic struct {
	features  []string
	coef      []float64
	mean, std []float64
	intercept float64
	info      Info
}

// ErrMissingInput is returned (wrapped, naming the feature) by Checker.Check when a
// model that cannot handle missing values gets a NaN input.
var ErrMissingInput = errors.New("missing input")

// Checker is implemented by models that reject some inputs outright. The pipeline
// calls Check before Score and dead-letters the record when it fails.
type Checker interface {
	Check(x []float64) error
}

type logisticDoc struct {
	Format       string             `json:"format"`
	Version      int                `json:"version"`
	Objective    string             `json:"objective"`
	Features     []string           `json:"features"`
	Intercept    *float64           `json:"intercept"`
	Coefficients map[string]float64 `json:"coefficients"`
	Standardize  *struct {
		Mean map[string]float64 `json:"mean"`
		Std  map[string]float64 `json:"std"`
	} `json:"standardize"`
}

// ParseLogistic reads a model in the logistic JSON format.
func ParseLogistic(data []byte) (*Logistic, error) {
	m, err := parseLogistic(data)
	if err != nil {
		return nil, fmt.Errorf("logistic: %w", err)
	}
	return m, nil
}

func parseLogistic(data []byte) (*Logistic, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var d logisticDoc
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON document")
	}
	if d.Format != "logistic" {
		return nil, fmt.Errorf("format %q, want \"logistic\"", d.Format)
	}
	if d.Version > 1 {
		return nil, fmt.Errorf("version %d is newer than this reader (1)", d.Version)
	}
	if d.Objective != "" && d.Objective != "binary:logistic" {
		return nil, fmt.Errorf("objective %q is not supported (only binary:logistic)", d.Objective)
	}
	if len(d.Features) == 0 {
		return nil, errors.New("features: empty")
	}
	if d.Intercept == nil {
		return nil, errors.New("intercept: missing")
	}
	index := make(map[string]int, len(d.Features))
	for i, f := range d.Features {
		if f == "" {
			return nil, fmt.Errorf("features[%d]: empty name", i)
		}
		if _, dup := index[f]; dup {
			return nil, fmt.Errorf("features: %q appears twice", f)
		}
		index[f] = i
	}
	unknown := func(what string, m map[string]float64) error {
		for k := range m {
			if _, ok := index[k]; !ok {
				return fmt.Errorf("%s: %q is not in features", what, k)
			}
		}
		return nil
	}
	if err := unknown("coefficients", d.Coefficients); err != nil {
		return nil, err
	}
	var mean, std map[string]float64
	if d.Standardize != nil {
		mean, std = d.Standardize.Mean, d.Standardize.Std
		if err := unknown("standardize.mean", mean); err != nil {
			return nil, err
		}
		if err := unknown("standardize.std", std); err != nil {
			return nil, err
		}
	}
	m := &Logistic{
		features:  d.Features,
		coef:      make([]float64, len(d.Features)),
		mean:      make([]float64, len(d.Features)),
		std:       make([]float64, len(d.Features)),
		intercept: *d.Intercept,
	}
	for i, f := range d.Features {
		c, ok := d.Coefficients[f]
		if !ok {
			return nil, fmt.Errorf("coefficients: no coefficient for feature %q", f)
		}
		mu, sd := 0.0, 1.0
		if v, ok := mean[f]; ok {
			mu = v
		}
		if v, ok := std[f]; ok {
			if !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("standardize.std: %q is %v, want > 0", f, v)
			}
			sd = v
		}
		if math.IsNaN(c) || math.IsInf(c, 0) || math.IsNaN(mu) || math.IsInf(mu, 0) {
			return nil, fmt.Errorf("feature %q: non-finite coefficient or mean", f)
		}
		m.coef[i], m.mean[i], m.std[i] = c, mu, sd
	}
	if math.IsNaN(m.intercept) || math.IsInf(m.intercept, 0) {
		return nil, errors.New("intercept: not finite")
	}
	m.info = Info{Format: "logistic", Objective: "binary:logistic", Classes: 1}
	m.info.Hash = HashBytes(data)
	return m, nil
}

// Features implements Model.
func (m *Logistic) Features() []string { return m.features }

// Info implements Model.
func (m *Logistic) Info() Info { return m.info }

// Score implements Model: the probability of the positive class. NaN if an input is
// NaN (see Check) or x is shorter than Features().
func (m *Logistic) Score(x []float64) float64 {
	if len(x) < len(m.coef) {
		return math.NaN()
	}
	x = x[:len(m.coef)]
	mean, std := m.mean[:len(x)], m.std[:len(x)]
	z := 0.0
	for i, c := range m.coef {
		z += c * ((x[i] - mean[i]) / std[i])
	}
	z += m.intercept
	return sigmoid(z)
}

// Check implements Checker: an error wrapping ErrMissingInput that names the first
// NaN input.
func (m *Logistic) Check(x []float64) error {
	if len(x) < len(m.features) {
		return fmt.Errorf("logistic: %d inputs for %d features", len(x), len(m.features))
	}
	for i, f := range m.features {
		if math.IsNaN(x[i]) {
			return fmt.Errorf("logistic: feature %q: %w", f, ErrMissingInput)
		}
	}
	return nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
