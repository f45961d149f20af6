package drift

import (
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/model"
)

// Observer counts one model's (one version, one role) committed records into
// its profile's bins. Observe adds to plain local counts; Flush moves them to
// the Prometheus counters, whose handles were looked up once in NewObserver, so
// the per-record cost is one binary search per input and no allocation. An
// Observer belongs to one loop.
type Observer struct {
	profile *model.Profile
	score   []prometheus.Counter
	feats   []featureObs
	records prometheus.Counter

	scoreN   []uint64
	recordsN uint64
}

type featureObs struct {
	dist     *model.Dist
	index    int // position in the feature vector
	bins     []prometheus.Counter
	missing  prometheus.Counter
	unseen   prometheus.Counter
	binsN    []uint64
	missingN uint64
	unseenN  uint64
}

// NewObserver builds the observer of a model version serving in role, whose
// feature vectors hold the inputs named in names (the feature spec's order).
// A nil profile yields a nil Observer (whose methods do nothing) and sets
// scorestream_model_reference_missing to 1. Profiled features absent from names
// are skipped.
func NewObserver(m *Metrics, name, version, role string, p *model.Profile, names []string) *Observer {
	if p == nil || p.Score == nil {
		m.ReferenceMissing.WithLabelValues(name, version, role).Set(1)
		return nil
	}
	m.ReferenceMissing.WithLabelValues(name, version, role).Set(0)
	o := &Observer{profile: p, records: m.Records.WithLabelValues(name, version, role)}
	o.score, o.scoreN = binCounters(p.Score, func(bin string) prometheus.Counter {
		return m.ScoreBins.WithLabelValues(name, version, role, bin)
	})
	pos := make(map[string]int, len(names))
	for i, n := range names {
		pos[n] = i
	}
	for i := range p.Features {
		f := &p.Features[i]
		j, ok := pos[f.Name]
		if !ok {
			continue
		}
		fo := featureObs{dist: &f.Dist, index: j,
			missing: m.FeatureMissing.WithLabelValues(name, version, role, f.Name),
			unseen:  m.FeatureUnseen.WithLabelValues(name, version, role, f.Name)}
		fo.bins, fo.binsN = binCounters(&f.Dist, func(bin string) prometheus.Counter {
			return m.FeatureBins.WithLabelValues(name, version, role, f.Name, bin)
		})
		o.feats = append(o.feats, fo)
	}
	return o
}

func binCounters(d *model.Dist, get func(bin string) prometheus.Counter) ([]prometheus.Counter, []uint64) {
	cs := make([]prometheus.Counter, d.Bins())
	for i := range cs {
		cs[i] = get(strconv.Itoa(i))
	}
	return cs, make([]uint64, len(cs))
}

// Profile is the reference the observer counts against.
func (o *Observer) Profile() *model.Profile {
	if o == nil {
		return nil
	}
	return o.profile
}

// Observe counts one committed record: its score and its feature vector (the
// spec's order; nil counts the score only). Call Flush to publish.
func (o *Observer) Observe(score float64, vec []float64) {
	if o == nil || math.IsNaN(score) {
		return
	}
	o.recordsN++
	o.scoreN[o.profile.Score.Bin(score)]++
	if vec == nil {
		return
	}
	for i := range o.feats {
		f := &o.feats[i]
		x := vec[f.index]
		if math.IsNaN(x) {
			f.missingN++
			continue
		}
		if b := f.dist.Bin(x); b >= 0 {
			f.binsN[b]++
		} else {
			f.unseenN++
		}
	}
}

// Flush adds the counts observed since the last Flush to the counters.
func (o *Observer) Flush() {
	if o == nil || o.recordsN == 0 {
		return
	}
	o.records.Add(float64(o.recordsN))
	o.recordsN = 0
	flush(o.score, o.scoreN)
	for i := range o.feats {
		f := &o.feats[i]
		flush(f.bins, f.binsN)
		if f.missingN > 0 {
			f.missing.Add(float64(f.missingN))
			f.missingN = 0
		}
		if f.unseenN > 0 {
			f.unseen.Add(float64(f.unseenN))
			f.unseenN = 0
		}
	}
}

func flush(cs []prometheus.Counter, ns []uint64) {
	for i, n := range ns {
		if n > 0 {
			cs[i].Add(float64(n))
			ns[i] = 0
		}
	}
}
