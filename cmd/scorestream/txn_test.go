package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestTxnUsage: bad usage exits 2 with a message naming the problem, before
// any broker is asked.
func TestTxnUsage(t *testing.T) {
	good := "../../config/testdata/minimal.good.yaml"
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", nil, exitUsage, "want a subcommand"},
		{"unknown subcommand", []string{"list"}, exitUsage, "want a subcommand"},
		{"help", []string{"--help"}, exitOK, "txn abort"},
		{"subcommand help", []string{"abort", "--help"}, exitOK, "--all-hanging"},
		{"no config", []string{"hanging"}, exitUsage, "-c config.yaml is required"},
		{"bad config", []string{"hanging", "-c", "../../config/testdata/commit_interval_zero.bad.yaml"}, exitUsage, "stream.commit_interval"},
		{"abort without a partition", []string{"abort", "-c", good}, exitUsage, "--partition T:P and --start-offset N are required"},
		{"abort without an offset", []string{"abort", "-c", good, "--partition", "payments:1"}, exitUsage, "--start-offset N are required"},
		{"bad partition", []string{"abort", "-c", good, "--partition", "payments", "--start-offset", "3"}, exitUsage, `--partition "payments": want TOPIC:PARTITION`},
		{"negative partition", []string{"abort", "-c", good, "--partition", "payments:-1", "--start-offset", "3"}, exitUsage, "want TOPIC:PARTITION"},
		{"all-hanging with a partition", []string{"abort", "-c", good, "--all-hanging", "--partition", "payments:1"}, exitUsage, "--all-hanging takes no --partition"},
		{"hanging takes no abort flags", []string{"hanging", "-c", good, "--yes"}, exitUsage, "flag provided but not defined: -yes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runTxn(context.Background(), c.args, strings.NewReader(""), &out, &errb)
			if code != c.code || !strings.Contains(out.String()+errb.String(), c.want) {
				t.Fatalf("exit %d (want %d), output %q lacks %q", code, c.code, out.String()+errb.String(), c.want)
			}
		})
	}
}
