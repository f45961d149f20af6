package drift

import (
	"math"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/model"
)

// PSIFloor is the share a bin's live or reference proportion is raised to
// before the logarithm of PSI, so that an empty bin gives a large but finite
// term. The generated recording rules use the same floor.
const PSIFloor = 1e-4

// PSI is the population stability index of the live counts against the
// reference proportions: sum over bins of (a - e) * ln(a / e), with a the live
// and e the reference share, both floored at PSIFloor. It is 0 when there are
// no live counts.
func PSI(ref, counts []float64) float64 {
	total := sum(counts)
	if total == 0 {
		return 0
	}
	psi := 0.0
	for i, e := range ref {
		a := max(counts[i]/total, PSIFloor)
		e = max(e, PSIFloor)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// KS is the largest distance between the live and the reference cumulative
// distributions at the bin edges (a Kolmogorov-Smirnov statistic on the bins).
func KS(ref, counts []float64) float64 {
	total := sum(counts)
	if total == 0 {
		return 0
	}
	var a, e, d float64
	for i := range ref {
		a += counts[i] / total
		e += ref[i]
		d = max(d, math.Abs(a-e))
	}
	return d
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

// Counts are one model version's (and role's) drift counters as read from a
// registry.
type Counts struct {
	Records  float64
	Score    []float64
	Features map[string]*FeatureCounts
}

// FeatureCounts are one feature's counters.
type FeatureCounts struct {
	Bins            []float64
	Missing, Unseen float64
}

// Read gathers the drift counters of (name, version, role) from g, summed over
// everything g holds (every loop of the process), sized by profile p.
func Read(g prometheus.Gatherer, p *model.Profile, name, version, role string) (Counts, error) {
	c := Counts{Score: make([]float64, p.Score.Bins()), Features: map[string]*FeatureCounts{}}
	for i := range p.Features {
		c.Features[p.Features[i].Name] = &FeatureCounts{Bins: make([]float64, p.Features[i].Bins())}
	}
	mfs, err := g.Gather()
	if err != nil {
		return c, err
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["model"] != name || l["version"] != version || l["role"] != role {
				continue
			}
			v := m.GetCounter().GetValue()
			bin, _ := strconv.Atoi(l["bin"])
			f := c.Features[l["feature"]]
			switch mf.GetName() {
			case MetricRecords:
				c.Records += v
			case MetricScoreBins:
				if bin >= 0 && bin < len(c.Score) {
					c.Score[bin] += v
				}
			case MetricFeatureBins:
				if f != nil && bin >= 0 && bin < len(f.Bins) {
					f.Bins[bin] += v
				}
			case MetricFeatureMissing:
				if f != nil {
					f.Missing += v
				}
			case MetricFeatureUnseen:
				if f != nil {
					f.Unseen += v
				}
			}
		}
	}
	return c, nil
}

// Sub returns c minus an earlier reading: the counts of the window between.
func (c Counts) Sub(earlier Counts) Counts {
	d := Counts{Records: c.Records - earlier.Records, Score: diff(c.Score, earlier.Score), Features: map[string]*FeatureCounts{}}
	for name, f := range c.Features {
		e := earlier.Features[name]
		if e == nil {
			e = &FeatureCounts{}
		}
		d.Features[name] = &FeatureCounts{Bins: diff(f.Bins, e.Bins), Missing: f.Missing - e.Missing, Unseen: f.Unseen - e.Unseen}
	}
	return d
}

func diff(a, b []float64) []float64 {
	out := slices.Clone(a)
	for i := range min(len(a), len(b)) {
		out[i] -= b[i]
	}
	return out
}

// Report is the drift of some counts against a profile.
type Report struct {
	Records  float64
	ScorePSI float64
	ScoreKS  float64
	Features []FeatureDrift // most drifted (highest PSI) first
}

// FeatureDrift is one feature's drift.
type FeatureDrift struct {
	Name        string
	PSI, KS     float64
	MissingRate float64 // live share of records with the feature missing
}

// Compare computes the drift of c against p.
func Compare(p *model.Profile, c Counts) Report {
	r := Report{Records: c.Records, ScorePSI: PSI(p.Score.Proportions, c.Score), ScoreKS: KS(p.Score.Proportions, c.Score)}
	for i := range p.Features {
		f := &p.Features[i]
		fc := c.Features[f.Name]
		if fc == nil {
			continue
		}
		fd := FeatureDrift{Name: f.Name, PSI: PSI(f.Proportions, fc.Bins), KS: KS(f.Proportions, fc.Bins)}
		if c.Records > 0 {
			fd.MissingRate = fc.Missing / c.Records
		}
		r.Features = append(r.Features, fd)
	}
	slices.SortStableFunc(r.Features, func(a, b FeatureDrift) int {
		switch {
		case a.PSI > b.PSI:
			return -1
		case a.PSI < b.PSI:
			return 1
		}
		return 0
	})
	return r
}
