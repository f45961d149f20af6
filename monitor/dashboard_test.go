package monitor

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

var seriesRE = regexp.MustCompile(`\b(scorestream[a-z0-9_]*|scorestream:[a-z0-9_:]+)\b(\{|\[| offset|\)|\s|$)`)

// registered returns the series names a running monitor registers, gathered
// from a real registry (Exercise), histograms as their _bucket, _sum and _count.
func registered(t *testing.T) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := Exercise(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
			continue
		}
		names = append(names, mf.GetName())
	}
	if len(names) < 25 {
		t.Fatalf("only %d series registered: %v", len(names), names)
	}
	return names
}

// TestQualityDashboardAndRules: every series the quality dashboard and
// deploy/prometheus/quality.yml read is registered by the monitor or recorded
// by quality.yml, and every recorded series is on a panel.
func TestQualityDashboardAndRules(t *testing.T) {
	known := registered(t)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile("../deploy/prometheus/quality.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var recorded []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded = append(recorded, r.Record)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	known = append(known, recorded...)

	b, err = os.ReadFile("../deploy/grafana/dashboards/scorestream-quality.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var dashExprs []string
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			dashExprs = append(dashExprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		dashExprs = append(dashExprs, v.Definition)
	}
	used := map[string]bool{}
	for _, e := range append(exprs, dashExprs...) {
		for _, m := range seriesRE.FindAllStringSubmatch(e, -1) {
			used[m[1]] = true
			if !slices.Contains(known, m[1]) {
				t.Errorf("unknown series %s in %q", m[1], e)
			}
		}
	}
	for _, r := range recorded {
		found := false
		for _, e := range dashExprs {
			found = found || regexp.MustCompile(regexp.QuoteMeta(r)+`\b`).MatchString(e)
		}
		if !found {
			t.Errorf("recorded series %s is on no dashboard panel", r)
		}
	}
	if len(used) < 20 {
		t.Errorf("only %d distinct series referenced: is the matcher broken?", len(used))
	}
}
