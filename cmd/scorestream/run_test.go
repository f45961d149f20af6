package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestRunUsageAndBadConfig(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no config", nil, exitUsage, "-c config.yaml is required"},
		{"help", []string{"--help"}, exitOK, "exactly once"},
		{"bad config names the field", []string{"-c", "../../config/testdata/commit_interval_zero.bad.yaml"}, exitUsage, "stream.commit_interval"},
		{"missing file", []string{"-c", "does-not-exist.yaml"}, exitUsage, "does-not-exist.yaml"},
		{"timeout without check", []string{"-c", "x.yaml", "--timeout", "1s"}, exitUsage, "--timeout is for --check"},
		{"bad timeout", []string{"-c", "x.yaml", "--check", "--timeout", "0s"}, exitUsage, "--timeout 0s: want > 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runCmd(context.Background(), c.args, &out, &errb)
			if code != c.code || !strings.Contains(out.String()+errb.String(), c.want) {
				t.Fatalf("exit %d (want %d), output %q lacks %q", code, c.code, out.String()+errb.String(), c.want)
			}
		})
	}
}

// TestDemoSummaryJSON runs the demo end to end on the embedded broker and checks
// the verified summary's contract.
func TestDemoSummaryJSON(t *testing.T) {
	var out, errb bytes.Buffer
	code := demoCmd(context.Background(), []string{"--events", "3000", "--instances", "2", "--summary", "json",
		"--metrics-listen", "", "--malformed", "0.01"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var s demoSummary
	if err := jsonUnmarshal(lines[len(lines)-1], &s); err != nil {
		t.Fatal(err)
	}
	if s.Events != 3000 || s.Predictions+s.DeadLetters != s.Events || s.Duplicates != 0 || s.Missing != 0 || !s.Clean {
		t.Fatalf("summary %+v", s)
	}
	malformed := 0
	for _, n := range s.Malformed {
		malformed += n
	}
	if int64(malformed) != s.DeadLetters {
		t.Fatalf("%d dead letters, %d malformed generated", s.DeadLetters, malformed)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestDemoDriftAt: with --drift-at the summary's drift names the shifted input
// (amount) and the score moves; without it nothing drifts past the warning
// threshold. The drift figures come from the same counters as /metrics.
func TestDemoDriftAt(t *testing.T) {
	run := func(args ...string) demoSummary {
		t.Helper()
		var out, errb bytes.Buffer
		code := demoCmd(context.Background(), append([]string{"--events", "8000", "--summary", "json", "--metrics-listen", ""}, args...), &out, &errb)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var s demoSummary
		if err := jsonUnmarshal(lines[len(lines)-1], &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	steady := run()
	if steady.DriftTopFeature == "" || steady.DriftTopPSI >= 0.1 || steady.DriftScorePSI >= 0.1 {
		t.Errorf("no shift: score PSI %.3f, top %s %.3f; want both under 0.1", steady.DriftScorePSI, steady.DriftTopFeature, steady.DriftTopPSI)
	}
	shifted := run("--drift-at", "4000")
	if shifted.DriftTopFeature != "amount" || shifted.DriftTopPSI < 0.25 || !(shifted.DriftScorePSI > steady.DriftScorePSI) {
		t.Errorf("--drift-at 4000: score PSI %.3f (steady %.3f), top %s %.3f; want amount above 0.25",
			shifted.DriftScorePSI, steady.DriftScorePSI, shifted.DriftTopFeature, shifted.DriftTopPSI)
	}
	if !shifted.Clean {
		t.Errorf("shifted run not exactly once: %+v", shifted)
	}
}

// cancelAfter is a goroutine-safe stderr that cancels once it has seen n
// progress lines of the demo.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n -= bytes.Count(p, []byte("produced "))
	if w.n <= 0 {
		w.cancel()
	}
	return w.buf.Write(p)
}

// TestDemoEndless: --events 0 until "Ctrl-C" (here: after 5 progress lines,
// past the first trim): the audit of what is left is clean, earlier committed
// events were trimmed, and the summary says what it audited.
func TestDemoEndless(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errw := &cancelAfter{n: 5, cancel: cancel}
	var out bytes.Buffer
	code := demoCmd(ctx, []string{"--events", "0", "--instances", "2", "--summary", "json", "--metrics-listen", ""}, &out, errw)
	errw.mu.Lock()
	defer errw.mu.Unlock()
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errw.buf.String(), out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var s demoSummary
	if err := jsonUnmarshal(lines[len(lines)-1], &s); err != nil {
		t.Fatal(err)
	}
	if !s.Clean || !s.Interrupted || s.Trimmed == 0 || s.Predictions+s.DeadLetters != s.Events+s.Ignored || s.Duplicates != 0 || s.Missing != 0 {
		t.Fatalf("summary %+v", s)
	}
	var text bytes.Buffer
	demoPrint(&text, "text", s)
	for _, want := range []string{"up to the committed offsets", "produced but not yet committed", "deleted to bound memory"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "map[") {
		t.Errorf("text summary prints Go map syntax:\n%s", text.String())
	}
}
