package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/modelwatch"
	"github.com/scorestream/scorestream/stream/features"
)

// manifestCheck is `model check MANIFEST [--config FILE]`: load the manifest and
// its model, print a summary, and check the model against the manifest and,
// given a config, against the pipeline's feature spec.
func manifestCheck(path, cfgPath string, stdout, stderr io.Writer) int {
	man, err := model.LoadManifest(path)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream model check: %v\n", err)
		return exitFailure
	}
	var cfg *config.Config
	if cfgPath != "" {
		if cfg, err = config.Load(cfgPath); err != nil {
			fmt.Fprintf(stderr, "scorestream model check: %v\n", err)
			return exitUsage
		}
	}
	m, err := model.Load(man.ModelPath(), man.Format)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream model check: manifest %s: %v\n", path, err)
		return exitFailure
	}
	info := m.Info()
	var problems []error
	if err := man.CheckModel(m); err != nil {
		problems = append(problems, err)
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "manifest:   %s\n", path)
	fmt.Fprintf(w, "name:       %s\n", man.Name)
	fmt.Fprintf(w, "version:    %s\n", man.Version)
	fmt.Fprintf(w, "file:       %s\n", man.ModelPath())
	fmt.Fprintf(w, "format:     %s\n", info.Format)
	fmt.Fprintf(w, "objective:  %s\n", info.Objective)
	if info.Format != model.FormatLogistic {
		fmt.Fprintf(w, "trees:      %d\n", info.Trees)
	}
	fmt.Fprintf(w, "classes:    %d\n", info.Classes)
	decl := map[string]model.FeatureDef{}
	for _, f := range man.Features {
		decl[f.Name] = f
	}
	feats := m.Features()
	fmt.Fprintf(w, "features:   %d used by the model, %d declared\n", len(feats), len(man.Features))
	for i, f := range feats {
		d := decl[f]
		typ := d.Type
		if typ == "" {
			typ = model.FeatureNumeric
		}
		def := ""
		if d.Default != nil {
			def = fmt.Sprintf("  default %v", *d.Default)
		}
		fmt.Fprintf(w, "  %3d  %-24s %s%s\n", i, f, typ, def)
	}
	if len(man.Thresholds) == 0 {
		fmt.Fprintf(w, "thresholds: none (the config's apply)\n")
	} else {
		ts := make([]string, len(man.Thresholds))
		for i, t := range man.Thresholds {
			ts[i] = fmt.Sprintf("%s >= %v", t.Decision, t.MinScore)
		}
		fmt.Fprintf(w, "thresholds: %s\n", strings.Join(ts, ", "))
	}
	if r := man.Reference; r != nil {
		fmt.Fprintf(w, "reference:  %d buckets, %d scores (%s)\n", len(r.Buckets), r.Count, r.Source)
	} else {
		fmt.Fprintf(w, "reference:  none (no drift baseline)\n")
	}
	printProfile(w, man.Profile)
	fmt.Fprintf(w, "sha256:     %s\n", info.Hash)
	switch {
	case len(man.Golden) == 0:
		fmt.Fprintf(w, "golden:     none (a reload cannot prove the model scores as trained)\n")
	case man.CheckGolden(m) == nil:
		fmt.Fprintf(w, "golden:     %d rows ok (tolerance %g)\n", len(man.Golden), model.GoldenTolerance)
	default:
		fmt.Fprintf(w, "golden:     FAILED\n")
	}
	if cfg != nil {
		spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
		if err == nil {
			err = model.CheckFeatures(m, spec.Names(), "the feature spec")
		}
		if err == nil {
			err = modelwatch.CheckDefaults(man, m, cfg.Features)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("config %s: %w", cfgPath, err))
			fmt.Fprintf(w, "config:     %s: FAILED\n", cfgPath)
		} else {
			fmt.Fprintf(w, "config:     %s: the feature spec provides all %d features, defaults agree\n", cfgPath, len(feats))
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "scorestream model check: %v\n", err)
		return exitFailure
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "scorestream model check: %s: %v\n", path, errors.Join(problems...))
		return exitFailure
	}
	return exitOK
}

// printProfile shows the manifest's reference profile, one line per input.
func printProfile(w io.Writer, p *model.Profile) {
	if p == nil {
		fmt.Fprintf(w, "profile:    none: no reference for drift monitoring (scorestream_model_reference_missing = 1; write one with examples/profile.py)\n")
		return
	}
	fmt.Fprintf(w, "profile:    %d rows (%s)\n", p.Count, p.Source)
	line := func(name string, d *model.Dist) {
		shares := make([]string, len(d.Proportions))
		for i, s := range d.Proportions {
			shares[i] = fmt.Sprintf("%.3f", s)
		}
		kind, at := "bins", fmt.Sprintf("edges %v", fmtFloats(d.Edges))
		if d.Categorical() {
			kind, at = "categories", fmt.Sprintf("values %v", fmtFloats(d.Values))
		}
		fmt.Fprintf(w, "  %-24s %2d %-10s missing %.3f  %s  proportions [%s]\n", name, d.Bins(), kind, d.Missing, at, strings.Join(shares, " "))
	}
	if p.Score != nil {
		line("(score)", p.Score)
	}
	for i := range p.Features {
		line(p.Features[i].Name, &p.Features[i].Dist)
	}
}

func fmtFloats(xs []float64) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%.4g", x)
	}
	return "[" + strings.Join(out, " ") + "]"
}
