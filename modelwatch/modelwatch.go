// Package modelwatch loads the pipeline's models (champion and optional
// challenger) with their manifests, and swaps in new ones while the pipeline runs.
//
// # Hot reload
//
// A Watcher polls the model files and manifests (size and mtime, every second by
// default) and reloads on SIGHUP. A candidate is fully validated before it can
// serve: it parses, every feature it needs is in the pipeline's feature spec, its
// manifest (if any) declares those features with the same defaults as the spec,
// and the manifest's golden rows reproduce (model.GoldenTolerance). A candidate
// that fails is refused: one Warn log line naming the file and the reason,
// scorestream_model_reloads_total{result="refused"} +1, and the current models
// keep serving. Champion and challenger are reloaded together, as one.
//
// The swap itself happens in each loop, between transactions: every loop holds a
// subscription (Subscribe) that remembers the generation it serves and hands the
// loop the new models once, at its next transaction boundary. A transaction is
// therefore scored by one model from its first record to its last, and once a
// loop has moved to a new generation it never goes back. Every prediction names
// the exact model: name, version and the sha256 of the file's bytes.
//
// Identity: a manifest's name and version win over the config's (the manifest
// travels with the file; the config's are a fallback), so a new file with a new
// manifest is labelled correctly even when the config is unchanged. Without a
// manifest, name and version stay as configured and the content hash tells the
// files apart. A manifest's thresholds likewise win over the config's when it
// has any: a threshold only means something for one model's score scale.
//
// Model and manifest cannot be replaced in one atomic step. Replace each with
// write-temp-then-rename; the in-between state (new model, old golden rows) is
// refused, and the second file's change is picked up on the next poll.
//
// # Champion and challenger
//
// With model.challenger set, every event is scored by both. The champion's
// prediction goes to output.predictions_topic and decides; the challenger's goes
// to output.shadow_topic in the same transaction, with the same Avro schema
// (sink.PredictionSchema) and the same provenance, its model fields naming the
// challenger. One schema keeps every consumer of predictions (audit, drift
// monitoring, offline comparison) usable on the shadow topic unchanged, and a
// separate topic keeps shadow scores out of the decision path entirely. A
// challenger that fails on an event (e.g. a logistic model given a missing input)
// writes no shadow record for it; the champion's prediction is unaffected.
// scorestream_model_score{role} and scorestream_model_decision_disagreements_total
// compare the two.
package modelwatch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

// Load loads the champion and optional challenger of mc, checks each against its
// manifest and against the feature spec, and binds them to spec. fs is the
// config's feature list, used to compare defaults with the manifest's; nil skips
// that check.
func Load(mc config.Model, fs []config.Feature, spec *features.Spec) (*process.Models, error) {
	ms, _, err := load(mc, fs, spec)
	return ms, err
}

// load also returns the fingerprint of everything loaded: the content hashes of
// the model files and manifests.
func load(mc config.Model, fs []config.Feature, spec *features.Spec) (*process.Models, string, error) {
	fp := sha256.New()
	champ, err := loadScorer(mc, fs, spec, fp.Write)
	if err != nil {
		return nil, "", fmt.Errorf("model: %w", err)
	}
	ms := &process.Models{Champion: champ}
	if mc.Challenger != nil {
		if ms.Challenger, err = loadScorer(*mc.Challenger, fs, spec, fp.Write); err != nil {
			closeModels(ms)
			return nil, "", fmt.Errorf("model.challenger: %w", err)
		}
	}
	return ms, hex.EncodeToString(fp.Sum(nil)), nil
}

func loadScorer(mc config.Model, fs []config.Feature, spec *features.Spec, fp func([]byte) (int, error)) (*process.Scorer, error) {
	name, version, format := mc.Name, mc.Version, mc.Format
	thresholds := mc.Thresholds
	var man *model.Manifest
	if mc.Manifest != "" {
		var err error
		if man, err = model.LoadManifest(mc.Manifest); err != nil {
			return nil, err
		}
		if err := sameFile(man.ModelPath(), mc.Path); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", mc.Manifest, err)
		}
		name, version = man.Name, man.Version
		if format == "" {
			format = man.Format
		}
		if len(man.Thresholds) > 0 {
			thresholds = make([]config.Threshold, len(man.Thresholds))
			for i, t := range man.Thresholds {
				thresholds[i] = config.Threshold{Decision: t.Decision, MinScore: t.MinScore}
			}
		}
		fp([]byte(man.Hash()))
	}
	m, err := model.Load(mc.Path, format)
	if err != nil {
		return nil, err
	}
	s, err := bindScorer(m, man, mc, fs, spec, name, version, thresholds)
	if err != nil {
		if c, ok := m.(io.Closer); ok { // a refused candidate releases its native resources
			_ = c.Close()
		}
		return nil, err
	}
	fp([]byte(m.Info().Hash))
	return s, nil
}

func bindScorer(m model.Model, man *model.Manifest, mc config.Model, fs []config.Feature, spec *features.Spec,
	name, version string, thresholds []config.Threshold) (*process.Scorer, error) {
	if man != nil {
		if err := man.CheckModel(m); err != nil {
			return nil, fmt.Errorf("model %s does not match manifest %s: %w", mc.Path, mc.Manifest, err)
		}
		if err := CheckDefaults(man, m, fs); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", mc.Manifest, err)
		}
	}
	if mc.Class != nil {
		c, err := model.WithScoreClass(m, *mc.Class)
		if err != nil {
			return nil, fmt.Errorf("model.class: %w", err)
		}
		m = c
	}
	s, err := process.NewScorer(m, name, version, thresholds, spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mc.Path, err)
	}
	if man != nil {
		s.Profile = man.Profile
	}
	return s, nil
}

// sameFile reports an error unless the manifest's model file and model.path
// name the same file.
func sameFile(fromManifest, path string) error {
	a, err1 := filepath.Abs(fromManifest)
	b, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil || a != b {
		return fmt.Errorf("names model file %s but model.path is %s", fromManifest, path)
	}
	return nil
}

// CheckDefaults compares, for every feature the model needs, the manifest's
// default (the value training used for a missing input) with the feature spec's:
// a model trained with missing values filled in but served NaN (or the reverse)
// scores differently offline and live. fs nil checks nothing.
func CheckDefaults(man *model.Manifest, m model.Model, fs []config.Feature) error {
	if fs == nil {
		return nil
	}
	decl := make(map[string]model.FeatureDef, len(man.Features))
	for _, f := range man.Features {
		decl[f.Name] = f
	}
	spec := make(map[string]int, len(fs))
	for i, f := range fs {
		spec[f.Name] = i
	}
	var errs []error
	for _, name := range m.Features() {
		i, ok := spec[name]
		if !ok {
			continue // reported by the spec check, with every missing name
		}
		md, cd := decl[name].Default, fs[i].Default
		switch {
		case md == nil && cd == nil:
		case md == nil:
			errs = append(errs, fmt.Errorf("feature %q: features[%d].default is %v but the manifest has no default (the model was trained with missing values)", name, i, *cd))
		case cd == nil:
			errs = append(errs, fmt.Errorf("feature %q: the manifest's default is %v but features[%d] has none (the model would get missing values)", name, *md, i))
		case *md != *cd:
			errs = append(errs, fmt.Errorf("feature %q: the manifest's default is %v, features[%d].default is %v", name, *md, i, *cd))
		}
	}
	return errors.Join(errs...)
}

// fileStat is what the poller compares between ticks.
type fileStat struct {
	size  int64
	mtime time.Time
	err   bool
}

// files are the paths a model config depends on.
func files(mc config.Model) []string {
	out := []string{mc.Path}
	if mc.Manifest != "" {
		out = append(out, mc.Manifest)
	}
	if mc.Challenger != nil {
		out = append(out, files(*mc.Challenger)...)
	}
	return out
}

func statAll(paths []string) []fileStat {
	out := make([]fileStat, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			out[i] = fileStat{err: true}
			continue
		}
		out[i] = fileStat{size: fi.Size(), mtime: fi.ModTime()}
	}
	return out
}
