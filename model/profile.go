package model

import (
	"fmt"
	"math"
	"slices"
)

// DefaultProfileBins is how many quantile bins a profile has per numeric input
// unless the user asks for another number (examples/profile.py, bins=10).
const DefaultProfileBins = 10

// Profile is the reference the live distributions are compared with: the
// score's and every model feature's distribution on the training or validation
// data, as written by examples/profile.py.
//
//	profile:
//	  source: "validation set, 2026-01"
//	  count: 40000
//	  score: {edges: [0.01, 0.02, 0.9], proportions: [0.3, 0.4, 0.28, 0.02]}
//	  features:
//	    - {name: amount, edges: [12.5, 40.1], proportions: [0.33, 0.34, 0.33], missing: 0.01}
//	    - {name: channel_idx, values: [0, 1, 2, 3], proportions: [0.35, 0.35, 0.25, 0.05]}
//
// A numeric distribution has inner bin edges e[0] < ... < e[k-2] and k
// proportions: bin 0 is (-Inf, e[0]], bin i is (e[i-1], e[i]], the last is
// (e[k-2], +Inf) — a value equal to an edge falls in the bin the edge closes
// (numpy.searchsorted(edges, x, side="left")). A categorical one lists the
// values seen in training and their proportions; a live value not among them is
// counted as unseen. Proportions are shares of the non-missing values and sum
// to 1; Missing is the share of rows where the input was missing (NaN).
type Profile struct {
	Source   string        `yaml:"source"`
	Count    int           `yaml:"count"`
	Score    *Dist         `yaml:"score"`
	Features []FeatureDist `yaml:"features"`
}

// Dist is one reference distribution: Edges (numeric) or Values (categorical)
// with Proportions, and the Missing share.
type Dist struct {
	Edges       []float64 `yaml:"edges,omitempty"`
	Values      []float64 `yaml:"values,omitempty"`
	Proportions []float64 `yaml:"proportions"`
	Missing     float64   `yaml:"missing,omitempty"`
}

// FeatureDist is the reference distribution of one model input.
type FeatureDist struct {
	Name string `yaml:"name"`
	Dist `yaml:",inline"`
}

// Categorical reports whether d lists category values rather than bin edges.
func (d *Dist) Categorical() bool { return len(d.Values) > 0 }

// Bins is the number of bins (numeric) or categories (categorical).
func (d *Dist) Bins() int { return len(d.Proportions) }

// Bin is the index of x's bin, or -1 for a categorical value not in Values.
// x must not be NaN (missing values are counted apart).
func (d *Dist) Bin(x float64) int {
	if d.Categorical() {
		i, ok := slices.BinarySearch(d.Values, x)
		if !ok {
			return -1
		}
		return i
	}
	i, _ := slices.BinarySearch(d.Edges, x) // first edge >= x: bins are (lo, hi]
	return i
}

// Feature returns the profile of the named input, or nil.
func (p *Profile) Feature(name string) *FeatureDist {
	for i := range p.Features {
		if p.Features[i].Name == name {
			return &p.Features[i]
		}
	}
	return nil
}

// ProportionTolerance is how far a distribution's proportions may sum from 1.
const ProportionTolerance = 1e-6

// validate reports every problem of the profile, each naming the field, as
// field/message pairs through add. declared maps feature names to their type.
func (p *Profile) validate(add func(field, format string, a ...any), declared map[string]string) {
	if p.Count < 0 {
		add("profile.count", "must be >= 0")
	}
	if p.Score == nil {
		add("profile.score", "required: the score's reference distribution")
	} else {
		if p.Score.Categorical() {
			add("profile.score.values", "the score is numeric: give edges, not values")
		}
		p.Score.validate(add, "profile.score")
	}
	seen := map[string]bool{}
	for i := range p.Features {
		f := &p.Features[i]
		at := fmt.Sprintf("profile.features[%d]", i)
		switch typ, ok := declared[f.Name]; {
		case f.Name == "":
			add(at+".name", "required")
		case !ok:
			add(at+".name", "%q is not a declared feature", f.Name)
		case seen[f.Name]:
			add(at+".name", "duplicate %q", f.Name)
		case typ == FeatureCategorical && !f.Categorical() && len(f.Edges) > 0:
			add(at+".edges", "%q is categorical: give values (the categories seen in training), not edges", f.Name)
		}
		seen[f.Name] = true
		f.Dist.validate(add, at)
	}
}

func (d *Dist) validate(add func(field, format string, a ...any), at string) {
	if len(d.Edges) > 0 && len(d.Values) > 0 {
		add(at, "give edges (numeric) or values (categorical), not both")
	}
	check := func(field string, xs []float64) {
		for i, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				add(fmt.Sprintf("%s.%s[%d]", at, field, i), "%v: must be a finite number", x)
			} else if i > 0 && !(x > xs[i-1]) {
				add(fmt.Sprintf("%s.%s[%d]", at, field, i), "%v: must be > the previous %v (strictly increasing)", x, xs[i-1])
			}
		}
	}
	check("edges", d.Edges)
	check("values", d.Values)
	want := len(d.Edges) + 1
	if d.Categorical() {
		want = len(d.Values)
	}
	if len(d.Proportions) != want {
		what := fmt.Sprintf("%d edges (want edges+1)", len(d.Edges))
		if d.Categorical() {
			what = fmt.Sprintf("%d values (want one per value)", len(d.Values))
		}
		add(at+".proportions", "%d proportions for %s", len(d.Proportions), what)
	}
	sum := 0.0
	for i, s := range d.Proportions {
		if !(s >= 0 && s <= 1) { // NaN fails too
			add(fmt.Sprintf("%s.proportions[%d]", at, i), "%v: must be in [0, 1]", s)
		}
		sum += s
	}
	if len(d.Proportions) > 0 && !(math.Abs(sum-1) <= ProportionTolerance) {
		add(at+".proportions", "sum to %v, want 1 (± %g)", sum, ProportionTolerance)
	}
	if !(d.Missing >= 0 && d.Missing <= 1) {
		add(at+".missing", "%v: must be in [0, 1]", d.Missing)
	}
}
