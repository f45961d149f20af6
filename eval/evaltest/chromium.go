// Package evaltest opens evaluation reports in a real browser for tests.
package evaltest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Chromium runs headless Chromium (bin) with a fresh profile and returns its
// stdout and the console lines it logged. The flags keep it off the network:
// the report must render from the file alone.
func Chromium(t testing.TB, bin string, args ...string) (string, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a guard against a hung browser, not a speed check
	defer cancel()
	profile := t.TempDir()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	var console []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return stdout.String(), console
}

// Plots returns the rendered DOM's plots (the <svg class="plot"> elements'
// bodies).
func Plots(dom string) []string {
	var out []string
	for _, p := range strings.Split(dom, `<svg class="plot"`)[1:] {
		body, _, _ := strings.Cut(p, "</svg>")
		out = append(out, body)
	}
	return out
}
