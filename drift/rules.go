package drift

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	mmodel "github.com/scorestream/scorestream/model"
)

// RuleOptions configure the generated rules.
type RuleOptions struct {
	Windows     []string // PromQL durations; the first is the alerts' window (default 1h, 24h)
	Warn, Crit  float64  // score PSI thresholds (default 0.1, 0.25); Warn also for feature PSI
	For         string   // how long a condition holds before an alert fires (default 15m)
	MinRecords  float64  // no drift alert on a window with fewer records (default 500)
	MissingJump float64  // missing-rate alert: live minus reference above this (default 0.05)
	UnseenRate  float64  // unseen-category alert: share of records above this (default 0.01)
}

// DefaultRuleOptions are the defaults of `scorestream rules`.
func DefaultRuleOptions() RuleOptions {
	return RuleOptions{Windows: []string{"1h", "24h"}, Warn: 0.1, Crit: 0.25, For: "15m",
		MinRecords: 500, MissingJump: 0.05, UnseenRate: 0.01}
}

// RuleFile is a Prometheus rules file.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is one group of rules, evaluated in order.
type RuleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is a recording or an alerting rule.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// The aggregation every fleet-wide figure keeps: instances are summed away.
const by = "namespace, job, model, version, role"

// Recorded series names.
const (
	RefScoreShare   = "scorestream:drift_reference_score_share"
	RefScoreCDF     = "scorestream:drift_reference_score_cdf"
	RefFeatureShare = "scorestream:drift_reference_feature_share"
	RefFeatureCDF   = "scorestream:drift_reference_feature_cdf"
	RefMissing      = "scorestream:drift_reference_feature_missing"
)

// Windowed recorded series: name + ":" + window, e.g. scorestream:drift_score_psi:1h.
const (
	RecRecords      = "scorestream:drift_records:increase"
	RecScoreShare   = "scorestream:drift_score_share"
	RecScoreCDF     = "scorestream:drift_score_cdf"
	RecScorePSI     = "scorestream:drift_score_psi"
	RecScoreKS      = "scorestream:drift_score_ks"
	RecFeatureShare = "scorestream:drift_feature_share"
	RecFeatureCDF   = "scorestream:drift_feature_cdf"
	RecFeaturePSI   = "scorestream:drift_feature_psi"
	RecFeatureKS    = "scorestream:drift_feature_ks"
	RecMissing      = "scorestream:drift_feature_missing:ratio"
	RecUnseen       = "scorestream:drift_feature_unseen:ratio"
)

// Rules generates the drift recording rules and alerts for the manifests'
// reference profiles. Reference proportions become constant series (one per
// bin), so they are never typed by hand; live shares are the fleet's summed
// increase() per bin over each window divided by the fleet's total, and PSI /
// KS join the two on (model, version, feature, bin).
func Rules(mans []*mmodel.Manifest, o RuleOptions) (*RuleFile, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	type mv struct{ name, version string }
	seen := map[mv]bool{}
	ref := RuleGroup{Name: "scorestream.drift.reference"}
	for _, m := range mans {
		if m.Profile == nil || m.Profile.Score == nil {
			return nil, fmt.Errorf("manifest %s: no profile: nothing to compare with (write one with examples/profile.py)", m.Path())
		}
		k := mv{m.Name, m.Version}
		if seen[k] {
			return nil, fmt.Errorf("manifest %s: model %s version %s given twice", m.Path(), m.Name, m.Version)
		}
		seen[k] = true
		ref.Rules = append(ref.Rules, refRules(m)...)
	}
	f := &RuleFile{Groups: []RuleGroup{ref}}
	for _, w := range o.Windows {
		f.Groups = append(f.Groups, windowRules(mans, w))
	}
	f.Groups = append(f.Groups, alertRules(o))
	return f, nil
}

func (o *RuleOptions) check() error {
	var errs []error
	if len(o.Windows) == 0 {
		errs = append(errs, errors.New("windows: at least one"))
	}
	for _, w := range o.Windows {
		if d, err := model.ParseDuration(w); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("windows: %q is not a Prometheus duration (1h, 30m, 90s)", w))
		}
	}
	if _, err := model.ParseDuration(o.For); o.For != "" && err != nil {
		errs = append(errs, fmt.Errorf("for: %q is not a Prometheus duration", o.For))
	}
	if !(o.Warn > 0 && o.Crit > o.Warn) {
		errs = append(errs, fmt.Errorf("warn, crit: want 0 < warn < crit, got %v and %v", o.Warn, o.Crit))
	}
	if !(o.MinRecords >= 0) || !(o.MissingJump > 0 && o.MissingJump <= 1) || !(o.UnseenRate > 0 && o.UnseenRate <= 1) {
		errs = append(errs, errors.New("min-records must be >= 0, missing-jump and unseen-rate in (0, 1]"))
	}
	return errors.Join(errs...)
}

func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func constRule(name string, v float64, labels map[string]string) Rule {
	return Rule{Record: name, Expr: "vector(" + num(v) + ")", Labels: labels}
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func refRules(m *mmodel.Manifest) []Rule {
	p := m.Profile
	var rs []Rule
	cdf := 0.0
	for i, e := range p.Score.Proportions {
		rs = append(rs, constRule(RefScoreShare, e, labels("model", m.Name, "version", m.Version, "bin", strconv.Itoa(i))))
		if cdf += e; i < len(p.Score.Proportions)-1 {
			rs = append(rs, constRule(RefScoreCDF, cdf, labels("model", m.Name, "version", m.Version, "bin", strconv.Itoa(i))))
		}
	}
	for _, f := range p.Features {
		l := func(kv ...string) map[string]string {
			return labels(append([]string{"model", m.Name, "version", m.Version, "feature", f.Name}, kv...)...)
		}
		rs = append(rs, constRule(RefMissing, f.Missing, l()))
		cdf := 0.0
		for i, e := range f.Proportions {
			rs = append(rs, constRule(RefFeatureShare, e, l("bin", strconv.Itoa(i))))
			if cdf += e; !f.Categorical() && i < len(f.Proportions)-1 {
				rs = append(rs, constRule(RefFeatureCDF, cdf, l("bin", strconv.Itoa(i))))
			}
		}
	}
	return rs
}

// share is the live share per bin: the fleet's increase in each bin over the
// fleet's increase in all of them (no sample when nothing was counted).
func share(metric, keep, w string) string {
	return fmt.Sprintf(`sum by (%[1]s, bin) (increase(%[2]s[%[3]s]))
/ ignoring (bin) group_left ()
(sum by (%[1]s) (increase(%[2]s[%[3]s])) > 0)`, keep, metric, w)
}

// psi joins live and reference shares per bin, both floored at PSIFloor.
func psi(live, ref, on, keep string) string {
	a := fmt.Sprintf("clamp_min(%s, %s)", live, num(PSIFloor))
	e := fmt.Sprintf("on (%s) group_left clamp_min(%s, %s)", on, ref, num(PSIFloor))
	return fmt.Sprintf("sum by (%s) (\n  (%s - %s)\n  *\n  ln(%s / %s)\n)", keep, a, e, a, e)
}

func ks(live, ref, on, keep string) string {
	return fmt.Sprintf("max by (%s) (abs(%s - on (%s) group_left %s))", keep, live, on, ref)
}

func binsUpTo(k int) string {
	s := make([]string, k+1)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return strings.Join(s, "|")
}

func windowRules(mans []*mmodel.Manifest, w string) RuleGroup {
	g := RuleGroup{Name: "scorestream.drift." + w}
	withF := by + ", feature"
	add := func(name, expr string, l map[string]string) {
		g.Rules = append(g.Rules, Rule{Record: name + ":" + w, Expr: expr, Labels: l})
	}
	add(RecRecords, fmt.Sprintf("sum by (%s) (increase(%s[%s]))", by, MetricRecords, w), nil)
	add(RecScoreShare, share(MetricScoreBins, by, w), nil)
	add(RecFeatureShare, share(MetricFeatureBins, withF, w), nil)
	add(RecMissing, fmt.Sprintf("sum by (%s) (increase(%s[%s]))\n/ ignoring (feature) group_left ()\n(sum by (%s) (increase(%s[%s])) > 0)",
		withF, MetricFeatureMissing, w, by, MetricRecords, w), nil)
	add(RecUnseen, fmt.Sprintf("sum by (%s) (increase(%s[%s]))\n/ ignoring (feature) group_left ()\n(sum by (%s) (increase(%s[%s])) > 0)",
		withF, MetricFeatureUnseen, w, by, MetricRecords, w), nil)
	add(RecScorePSI, psi(RecScoreShare+":"+w, RefScoreShare, "model, version, bin", by), nil)
	add(RecFeaturePSI, psi(RecFeatureShare+":"+w, RefFeatureShare, "model, version, feature, bin", withF), nil)
	// Cumulative live shares need the bins' order, which only the profile
	// knows: one rule per model version, input and bin.
	for _, m := range mans {
		sel := fmt.Sprintf(`model=%q, version=%q`, m.Name, m.Version)
		for k := 0; k < m.Profile.Score.Bins()-1; k++ {
			add(RecScoreCDF, fmt.Sprintf(`sum by (%s) (%s:%s{%s, bin=~"%s"})`, by, RecScoreShare, w, sel, binsUpTo(k)),
				labels("model", m.Name, "version", m.Version, "bin", strconv.Itoa(k)))
		}
		for _, f := range m.Profile.Features {
			if f.Categorical() {
				continue
			}
			for k := 0; k < f.Bins()-1; k++ {
				add(RecFeatureCDF, fmt.Sprintf(`sum by (%s) (%s:%s{%s, feature=%q, bin=~"%s"})`, withF, RecFeatureShare, w, sel, f.Name, binsUpTo(k)),
					labels("model", m.Name, "version", m.Version, "feature", f.Name, "bin", strconv.Itoa(k)))
			}
		}
	}
	add(RecScoreKS, ks(RecScoreCDF+":"+w, RefScoreCDF, "model, version, bin", by), nil)
	add(RecFeatureKS, ks(RecFeatureCDF+":"+w, RefFeatureCDF, "model, version, feature, bin", withF), nil)
	return g
}

const runbook = "https://github.com/scorestream/scorestream/blob/main/deploy/README.md#"

func alertRules(o RuleOptions) RuleGroup {
	w := o.Windows[0]
	enough := fmt.Sprintf("and on (%s) %s:%s >= %s", by, RecRecords, w, num(o.MinRecords))
	alert := func(name, sev, expr, summary, desc string) Rule {
		return Rule{Alert: name, Expr: expr, For: o.For, Labels: labels("severity", sev),
			Annotations: labels("summary", summary, "description", desc, "runbook_url", runbook+strings.ToLower(name))}
	}
	psiDesc := fmt.Sprintf("The score distribution of {{ $labels.model }} version {{ $labels.version }} ({{ $labels.role }}) over the last %s is away from its training reference (PSI {{ $value | printf \"%%.3f\" }}; 0.1 is a moderate shift, 0.25 a large one). See the top drifting features.", w)
	return RuleGroup{Name: "scorestream.drift.alerts", Rules: []Rule{
		alert("ScorestreamScorePSIHigh", "warning",
			fmt.Sprintf("%s:%s > %s <= %s\n%s", RecScorePSI, w, num(o.Warn), num(o.Crit), enough),
			"score PSI {{ $value | printf \"%.3f\" }} for {{ $labels.model }} v{{ $labels.version }} ({{ $labels.role }})", psiDesc),
		alert("ScorestreamScorePSICritical", "critical",
			fmt.Sprintf("%s:%s > %s\n%s", RecScorePSI, w, num(o.Crit), enough),
			"score PSI {{ $value | printf \"%.3f\" }} for {{ $labels.model }} v{{ $labels.version }} ({{ $labels.role }})", psiDesc),
		alert("ScorestreamFeatureDrift", "warning",
			fmt.Sprintf("%s:%s > %s\n%s", RecFeaturePSI, w, num(o.Warn), enough),
			"feature {{ $labels.feature }} drifted: PSI {{ $value | printf \"%.3f\" }} ({{ $labels.model }} v{{ $labels.version }})",
			fmt.Sprintf("The live distribution of input {{ $labels.feature }} over the last %s is away from the training reference. An upstream change (units, a new source, a broken field) or a real change in traffic.", w)),
		alert("ScorestreamFeatureMissingJump", "warning",
			fmt.Sprintf("%s:%s - on (model, version, feature) group_left %s > %s\n%s", RecMissing, w, RefMissing, num(o.MissingJump), enough),
			"feature {{ $labels.feature }} is missing {{ $value | humanizePercentage }} more often than in training",
			fmt.Sprintf("Over the last %s the share of records with {{ $labels.feature }} missing is above its training rate by more than %s: the model fills it with its missing-value path.", w, num(o.MissingJump))),
		alert("ScorestreamUnseenCategories", "warning",
			fmt.Sprintf("%s:%s > %s\n%s", RecUnseen, w, num(o.UnseenRate), enough),
			"{{ $value | humanizePercentage }} of {{ $labels.feature }} values were never seen in training",
			fmt.Sprintf("Over the last %s more than %s of records carry a {{ $labels.feature }} category the training data never had.", w, num(o.UnseenRate))),
		alert("ScorestreamModelNoReference", "warning",
			fmt.Sprintf("max by (%s) (%s) == 1", by, MetricReferenceMissing),
			"{{ $labels.model }} v{{ $labels.version }} ({{ $labels.role }}) serves without a reference profile",
			"The model's manifest has no profile (or there is no manifest): its drift against training is not monitored. Add one with examples/profile.py."),
	}}
}

// Marshal writes f as a rules file, or as a Kubernetes PrometheusRule named
// name when asRule.
func (f *RuleFile) Marshal(asRule bool, name string) ([]byte, error) {
	var v any = f
	if asRule {
		v = map[string]any{
			"apiVersion": "monitoring.coreos.com/v1",
			"kind":       "PrometheusRule",
			"metadata":   map[string]any{"name": name, "labels": map[string]string{"app.kubernetes.io/name": "scorestream"}},
			"spec":       f,
		}
	}
	return yaml.Marshal(v)
}
