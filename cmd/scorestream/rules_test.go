package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesCmd(t *testing.T) {
	fixture := filepath.Join("..", "..", "deploy", "prometheus", "drift", "fixture-manifest.yaml")
	noProfile := filepath.Join("..", "..", "model", "testdata", "manifest", "ok.yaml")
	out := filepath.Join(t.TempDir(), "rules.yml")
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{name: "rules file", args: []string{"--manifest", fixture, "--windows", "30m"}, code: exitOK,
			stdout: []string{"record: scorestream:drift_score_psi:30m", "alert: ScorestreamFeatureDrift", "vector(0.7)", "bin: \"2\""}},
		{name: "prometheusrule", args: []string{"--manifest", fixture, "--format", "prometheusrule", "--name", "x"}, code: exitOK,
			stdout: []string{"kind: PrometheusRule", "name: x", "scorestream:drift_feature_psi:24h"}},
		{name: "to a file", args: []string{"--manifest", fixture, "-o", out}, code: exitOK},
		{name: "no manifest", args: nil, code: exitUsage, stderr: "--manifest is required"},
		{name: "bad format", args: []string{"--manifest", fixture, "--format", "x"}, code: exitUsage, stderr: "--format must be"},
		{name: "no profile", args: []string{"--manifest", noProfile}, code: exitUsage, stderr: "no profile"},
		{name: "same version twice", args: []string{"--manifest", fixture, "--manifest", fixture}, code: exitUsage, stderr: "given twice"},
		{name: "bad window", args: []string{"--manifest", fixture, "--windows", "1h,soon"}, code: exitUsage, stderr: `"soon" is not a Prometheus duration`},
		{name: "warn above crit", args: []string{"--manifest", fixture, "--warn", "0.3"}, code: exitUsage, stderr: "want 0 < warn < crit"},
		{name: "help", args: []string{"--help"}, code: exitOK, stdout: []string{"Examples:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := rulesCmd(context.Background(), c.args, &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr.String())
			}
			for _, w := range c.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
			if !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), c.stderr)
			}
		})
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte("scorestream.drift.alerts")) {
		t.Errorf("-o file: %v", err)
	}
}
