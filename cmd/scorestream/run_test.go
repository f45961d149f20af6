package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
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
