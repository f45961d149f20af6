package main

import (
	"fmt"
	"math"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/scorestream/scorestream/drift"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/process"
)

// demoReferenceEvents is the size of the demo's reference stream when the run
// is unbounded; demoReferenceRows how many of its events are profiled.
const (
	demoReferenceEvents = 20000
	demoReferenceRows   = 10000
)

// demoReference computes the demo model's reference profile the way a model
// owner would from a validation set: a stream of the same generator (never
// drifted) run through the pipeline's own feature spec and state
// code, scored by the serving model, binned by drift.Build (examples/profile.py's
// Go twin) — the same cards and merchants (the generator's world of seed) but
// other events (StreamSeed), as a validation set samples the served
// population. It is computed at startup, not shipped, so that it follows the demo's
// feature spec whatever it holds.
func demoReference(shared *stream.Shared, seed int64, n int) (*model.Profile, []model.FeatureDef, error) {
	spec := shared.Spec
	ch := shared.Models.Champion
	st, err := state.NewPartition(state.Config{Limits: spec.Limits(), MaxEntities: 1 << 22})
	if err != nil {
		return nil, nil, err
	}
	g, err := gen.New(gen.Config{Seed: seed, StreamSeed: seed + 1000})
	if err != nil {
		return nil, nil, err
	}
	pos := map[string]int{}
	for i, name := range spec.Names() {
		pos[name] = i
	}
	cat := map[string]bool{}
	for _, f := range shared.Cfg.Features {
		cat[f.Name] = f.Transform == "category"
	}
	feats := ch.Model.Features()
	defs := make([]model.FeatureDef, len(feats))
	for j, f := range feats {
		defs[j] = model.FeatureDef{Name: f, Type: model.FeatureNumeric}
		if cat[f] {
			defs[j].Type = model.FeatureCategorical
		}
	}
	// Every event goes through the state (later features depend on it); every
	// stride-th is profiled, enough rows for ten quantile bins at a fraction of
	// the scoring cost.
	sch, err := decode.ParseSchema(gen.Schema)
	if err != nil {
		return nil, nil, err
	}
	stride := max(1, n/demoReferenceRows)
	vec := make([]float64, len(spec.Names()))
	rows := make([][]float64, 0, n/stride+1)
	scores := make([]float64, 0, n/stride+1)
	for i := range n {
		e := g.Next()
		rec := sch.Strip(e.Native()) // union-free, as the decoder hands records on
		ev, err := spec.Meta(rec, e.EventTime.UnixMilli(), e.EventID)
		if err != nil {
			return nil, nil, err
		}
		next, err := process.Enrich(spec, st, e.CardID, rec, ev, vec)
		if err != nil {
			return nil, nil, err
		}
		st.Advance(ev.Time)
		st.Stage(e.CardID, next)
		st.Commit()
		if i%stride != 0 {
			continue
		}
		x := make([]float64, len(feats))
		for j, f := range feats {
			x[j] = vec[pos[f]]
		}
		s := ch.Model.Score(x)
		if math.IsNaN(s) || math.IsInf(s, 0) {
			continue
		}
		rows, scores = append(rows, x), append(scores, s)
	}
	p, err := drift.Build(defs, rows, scores, model.DefaultProfileBins)
	if err != nil {
		return nil, nil, err
	}
	p.Source = fmt.Sprintf("scorestream demo: every %d of %d generated events (world seed %d, stream seed %d) through the demo's feature spec", stride, n, seed, seed+1000)
	return p, defs, nil
}

// writeDemoManifest writes the demo model's manifest with its reference
// profile, for `scorestream rules --manifest`.
func writeDemoManifest(path string, s *process.Scorer, defs []model.FeatureDef, p *model.Profile) error {
	m := &model.Manifest{Name: s.Name, Version: s.Version, Format: s.Model.Info().Format, Model: "model.json", Features: defs, Profile: p}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("demo manifest: %w", err)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append([]byte("# The demo model's manifest with the reference profile computed at startup (scorestream demo --manifest-out).\n"), b...), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path) // whole or not at all: a test polls for it
}

// demoDrift reads the drift counters of the champion from the registry and
// compares a window of them with the reference.
type demoDrift struct {
	g       prometheus.Gatherer
	p       *model.Profile
	s       *process.Scorer
	history []drift.Counts // one reading per progress tick, oldest first
}

const demoDriftWindow = 10 // progress ticks (seconds) in the live window

func (d *demoDrift) read() drift.Counts {
	c, _ := drift.Read(d.g, d.p, d.s.Name, d.s.Version, "champion")
	return c
}

// tick takes a reading and returns the drift of the last demoDriftWindow seconds.
func (d *demoDrift) tick() drift.Report {
	c := d.read()
	d.history = append(d.history, c)
	if len(d.history) > demoDriftWindow+1 {
		d.history = d.history[1:]
	}
	return drift.Compare(d.p, c.Sub(d.history[0]))
}

// total is the drift of every record counted so far.
func (d *demoDrift) total() drift.Report { return drift.Compare(d.p, d.read()) }

func fmtDrift(r drift.Report) string {
	if r.Records == 0 || len(r.Features) == 0 {
		return "drift: no records yet"
	}
	s := fmt.Sprintf("score PSI %.3f  top drift", r.ScorePSI)
	for _, f := range r.Features[:min(3, len(r.Features))] {
		s += fmt.Sprintf(" %s %.2f", f.Name, f.PSI)
	}
	return s
}
