package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelCheckManifest checks the fraud example's manifest (golden rows from
// xgboost's own predictions) against its model and the demo config, then breaks
// each in turn.
func TestModelCheckManifest(t *testing.T) {
	src := filepath.Join("..", "..", "examples", "fraud")
	manifest, err := os.ReadFile(filepath.Join(src, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	modelJSON, err := os.ReadFile(filepath.Join(src, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	demoCfg, err := os.ReadFile(filepath.Join("..", "..", "demo", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		manifest func(string) string
		config   func(string) string
		code     int
		stdout   []string
		stderr   string
		noConfig bool
	}{
		{name: "ok", code: exitOK, stdout: []string{"name:       fraud", "trees:      120", "channel_idx              categorical",
			"thresholds: review >= 0.5, block >= 0.9", "golden:     5 rows ok", "defaults agree",
			"profile:    200 rows", "(score)                  10 bins", "channel_idx               4 categories missing 0.075"}},
		{name: "no profile", code: exitOK,
			manifest: func(s string) string {
				i, j := strings.Index(s, "profile:\n"), strings.Index(s, "golden:\n")
				return s[:i] + s[j:]
			},
			stdout: []string{"profile:    none: no reference"}},
		{name: "profile edges not increasing", code: exitFailure,
			manifest: func(s string) string { return strings.Replace(s, "edges: [8.401, 13.974", "edges: [8.401, 3.974", 1) },
			stderr:   "profile.features[0].edges[1]: 3.974: must be > the previous 8.401"},
		{name: "ok without config", noConfig: true, code: exitOK, stdout: []string{"golden:     5 rows ok"}},
		{name: "golden score off", code: exitFailure,
			manifest: func(s string) string { return strings.Replace(s, "score: 0.9405904412269592", "score: 0.9405", 1) },
			stdout:   []string{"golden:     FAILED"}, stderr: "golden[2]: score 0.94059"},
		{name: "feature undeclared", code: exitFailure,
			manifest: func(s string) string { return strings.Replace(s, "  - {name: hour, type: numeric}\n", "", 1) },
			stderr:   "golden[0].features.hour: not a declared feature"},
		{name: "spec lacks a feature", code: exitFailure,
			config: func(s string) string {
				return strings.Replace(s, "  - {name: secs_since_last, state: time_since_last}\n", "", 1)
			},
			stdout: []string{"config:     "}, stderr: "not in the feature spec: secs_since_last"},
		{name: "spec default differs", code: exitFailure,
			config: func(s string) string {
				return strings.Replace(s, "{name: device_age_days, field: device_age_days}", "{name: device_age_days, field: device_age_days, default: -1}", 1)
			},
			stderr: `feature "device_age_days": features[4].default is -1 but the manifest has no default`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			man, cfg := string(manifest), string(demoCfg)
			if c.manifest != nil {
				man = c.manifest(man)
			}
			if c.config != nil {
				cfg = c.config(cfg)
			}
			write := func(name, data string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			write("model.json", string(modelJSON))
			args := []string{"check", write("manifest.yaml", man)}
			if !c.noConfig {
				args = append(args, "--config", write("config.yaml", cfg))
			}
			var stdout, stderr bytes.Buffer
			code := modelCmd(context.Background(), args, &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr: %s", code, c.code, stdout.String(), stderr.String())
			}
			for _, want := range c.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), c.stderr)
			}
		})
	}
}
