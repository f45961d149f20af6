package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// GoldenTolerance is how close a model's score must come to a golden row's
// expected score: |got - want| <= GoldenTolerance * max(1, |want|). Absolute for
// probabilities, relative for large regression outputs (tree thresholds are
// float32, so a score of 1000 cannot be matched to 1e-6 absolute).
const GoldenTolerance = 1e-6

// Feature types a manifest may declare.
const (
	FeatureNumeric     = "numeric"
	FeatureCategorical = "categorical"
	FeatureBool        = "bool"
)

// Manifest is the small YAML document that travels beside a model file: who the
// model is, what it needs, how its scores map to decisions, what its scores
// looked like offline (for drift alerts) and a few rows it must reproduce before
// it may serve.
//
//	name: fraud
//	version: "2"
//	format: xgboost
//	model: model.json            # relative to the manifest's directory
//	features:
//	  - {name: amount, type: numeric}
//	  - {name: device_age_days, type: numeric, default: 0}
//	thresholds:
//	  - {decision: review, min_score: 0.5}
//	profile:                     # reference distributions (see Profile)
//	  score: {edges: [0.1, 0.5], proportions: [0.9, 0.07, 0.03]}
//	  features: [{name: amount, edges: [10, 50], proportions: [0.3, 0.4, 0.3]}]
//	reference:                   # score distribution, histogram upper bounds
//	  buckets: [0.5, 1.0]
//	  shares: [0.97, 0.03]
//	golden:
//	  - features: {amount: 3.33, device_age_days: null}   # null: missing
//	    score: 6.9251859713403974e-06
type Manifest struct {
	Name       string       `yaml:"name"`
	Version    string       `yaml:"version"`
	Format     string       `yaml:"format"` // as for Load; "" detects
	Model      string       `yaml:"model"`  // the model file, relative to the manifest
	Features   []FeatureDef `yaml:"features"`
	Thresholds []Threshold  `yaml:"thresholds"`
	Reference  *Reference   `yaml:"reference"`
	Profile    *Profile     `yaml:"profile"` // reference distributions for drift monitoring; nil: none
	Golden     []GoldenRow  `yaml:"golden"`

	path string // the manifest file, set by LoadManifest
	hash string // HashBytes of the document
}

// FeatureDef is one input the model was trained on.
type FeatureDef struct {
	Name    string   `yaml:"name"`
	Type    string   `yaml:"type"`    // numeric (default), categorical, bool
	Default *float64 `yaml:"default"` // the value training used for a missing input; nil: missing is NaN
}

// Threshold maps scores >= MinScore to Decision; the highest matching one wins.
type Threshold struct {
	Decision string  `yaml:"decision"`
	MinScore float64 `yaml:"min_score"`
}

// Reference is the model's score distribution on held-out data, as histogram
// buckets: Shares[i] is the share of scores in (Buckets[i-1], Buckets[i]] (the
// first bucket from -Inf). Write .inf as the last bound for unbounded scores.
// Drift alerts compare the live scorestream_model_score histogram with it.
type Reference struct {
	Source  string    `yaml:"source"` // where the scores came from, for humans
	Count   int       `yaml:"count"`  // how many scores
	Buckets []float64 `yaml:"buckets"`
	Shares  []float64 `yaml:"shares"`
}

// GoldenRow is one input row and the score the training library gave it.
type GoldenRow struct {
	Features map[string]*float64 `yaml:"features"` // every feature the model needs; null is missing
	Score    float64             `yaml:"score"`
}

// LoadManifest reads and validates the manifest at path.
func LoadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	m.path = path
	return m, nil
}

// Hash is HashBytes of the manifest document.
func (m *Manifest) Hash() string { return m.hash }

// ParseManifest decodes one manifest document strictly (unknown keys fail) and
// validates it; errors name the field.
func ParseManifest(data []byte) (*Manifest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: more than one YAML document")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	m.hash = HashBytes(data)
	return &m, nil
}

// Path is the manifest file's path ("" if it was parsed from bytes).
func (m *Manifest) Path() string { return m.path }

// ModelPath is the model file: Model resolved against the manifest's directory.
func (m *Manifest) ModelPath() string {
	if filepath.IsAbs(m.Model) || m.path == "" {
		return m.Model
	}
	return filepath.Join(filepath.Dir(m.path), m.Model)
}

// FeatureNames are the declared features' names in order.
func (m *Manifest) FeatureNames() []string {
	out := make([]string, len(m.Features))
	for i, f := range m.Features {
		out[i] = f.Name
	}
	return out
}

// Validate checks a manifest built in code (ParseManifest validates what it
// decodes); errors name the field.
func (m *Manifest) Validate() error { return m.validate() }

func (m *Manifest) validate() error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if m.Name == "" {
		add("name", "required")
	}
	if m.Version == "" {
		add("version", "required")
	}
	if m.Model == "" {
		add("model", "required (the model file, relative to the manifest)")
	}
	switch m.Format {
	case "", FormatLogistic, FormatXGBoost, FormatXGBoostUBJ, FormatLightGBM, "onnx":
	default:
		add("format", "unknown %q (want logistic, xgboost, xgboost-ubj, lightgbm or onnx)", m.Format)
	}
	if len(m.Features) == 0 {
		add("features", "required: the features the model was trained on")
	}
	seen := map[string]int{}
	for i, f := range m.Features {
		at := fmt.Sprintf("features[%d]", i)
		switch {
		case f.Name == "":
			add(at+".name", "required")
		case seen[f.Name] > 0:
			add(at+".name", "duplicate %q (also features[%d])", f.Name, seen[f.Name]-1)
		default:
			seen[f.Name] = i + 1
		}
		switch f.Type {
		case "", FeatureNumeric, FeatureCategorical, FeatureBool:
		default:
			add(at+".type", "unknown %q (want numeric, categorical or bool)", f.Type)
		}
		if f.Default != nil && (math.IsNaN(*f.Default) || math.IsInf(*f.Default, 0)) {
			add(at+".default", "must be a finite number")
		}
	}
	for i, t := range m.Thresholds {
		at := fmt.Sprintf("thresholds[%d]", i)
		if t.Decision == "" {
			add(at+".decision", "required")
		}
		if math.IsNaN(t.MinScore) {
			add(at+".min_score", "must be a number, not NaN")
		} else if i > 0 && !(t.MinScore > m.Thresholds[i-1].MinScore) {
			add(at+".min_score", "%v must be > the previous min_score %v (ascending)", t.MinScore, m.Thresholds[i-1].MinScore)
		}
	}
	if r := m.Reference; r != nil {
		if len(r.Buckets) == 0 {
			add("reference.buckets", "required")
		}
		if len(r.Shares) != len(r.Buckets) {
			add("reference.shares", "%d shares for %d buckets (want one per bucket)", len(r.Shares), len(r.Buckets))
		}
		for i, b := range r.Buckets {
			if math.IsNaN(b) || (i > 0 && !(b > r.Buckets[i-1])) {
				add(fmt.Sprintf("reference.buckets[%d]", i), "%v: bounds must be ascending numbers", b)
			}
		}
		sum := 0.0
		for i, s := range r.Shares {
			if !(s >= 0 && s <= 1) {
				add(fmt.Sprintf("reference.shares[%d]", i), "%v: must be in [0, 1]", s)
			}
			sum += s
		}
		if len(r.Shares) > 0 && math.Abs(sum-1) > 1e-6 {
			add("reference.shares", "sum to %v, want 1", sum)
		}
		if r.Count < 0 {
			add("reference.count", "must be >= 0")
		}
	}
	if m.Profile != nil {
		types := make(map[string]string, len(m.Features))
		for _, f := range m.Features {
			types[f.Name] = f.Type
		}
		m.Profile.validate(add, types)
	}
	for i, g := range m.Golden {
		at := fmt.Sprintf("golden[%d]", i)
		if len(g.Features) == 0 {
			add(at+".features", "required")
		}
		for _, name := range sortedKeys(g.Features) {
			if seen[name] == 0 {
				add(at+".features."+name, "not a declared feature")
			}
		}
		if math.IsNaN(g.Score) || math.IsInf(g.Score, 0) {
			add(at+".score", "must be a finite number")
		}
	}
	return errors.Join(errs...)
}

// CheckModel checks that mod fits the manifest: the format agrees, every
// feature the model needs is declared, and every golden row scores as expected
// (see GoldenTolerance). The error names every problem.
func (m *Manifest) CheckModel(mod Model) error {
	var errs []error
	info := mod.Info()
	if f := m.Format; f != "" && f != info.Format && !(f == FormatXGBoostUBJ && info.Format == FormatXGBoost) {
		errs = append(errs, fmt.Errorf("format: manifest says %q, the model file is %q", f, info.Format))
	}
	declared := m.FeatureNames()
	var missing []string
	for _, f := range mod.Features() {
		if !slices.Contains(declared, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("features: the model needs features the manifest does not declare: %s", strings.Join(missing, ", ")))
	} else if err := m.CheckGolden(mod); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckGolden scores every golden row with mod and returns an error naming the
// rows (up to five) whose score is off, or a row that lacks a feature.
func (m *Manifest) CheckGolden(mod Model) error {
	feats := mod.Features()
	x := make([]float64, len(feats))
	checker, _ := mod.(Checker)
	var bad []string
	nbad := 0
	for i, g := range m.Golden {
		var problem string
		for j, f := range feats {
			v, ok := g.Features[f]
			switch {
			case !ok:
				problem = fmt.Sprintf("golden[%d].features: no value for %q (write null for a missing value)", i, f)
			case v == nil:
				x[j] = math.NaN()
			default:
				x[j] = *v
			}
			if problem != "" {
				break
			}
		}
		if problem == "" && checker != nil {
			if err := checker.Check(x); err != nil {
				problem = fmt.Sprintf("golden[%d]: %v", i, err)
			}
		}
		if problem == "" {
			got := mod.Score(x)
			if !(math.Abs(got-g.Score) <= GoldenTolerance*max(1, math.Abs(g.Score))) {
				problem = fmt.Sprintf("golden[%d]: score %.17g, want %.17g (diff %.3g)", i, got, g.Score, got-g.Score)
			}
		}
		if problem != "" {
			nbad++
			if len(bad) < 5 {
				bad = append(bad, problem)
			}
		}
	}
	if nbad == 0 {
		return nil
	}
	more := ""
	if nbad > len(bad) {
		more = fmt.Sprintf(" (and %d more)", nbad-len(bad))
	}
	return fmt.Errorf("golden rows: %d of %d do not reproduce: %s%s", nbad, len(m.Golden), strings.Join(bad, "; "), more)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
