//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGettingStarted executes docs/getting-started.md: every ```sh block, in
// order, as one bash script (set -euo pipefail) from the repository root, the
// way a user pastes them into one shell, against the suite's broker, with the
// page's own registry and run in the background. The page must end with a
// clean audit of all its events; the test audits again itself to be sure.
func TestGettingStarted(t *testing.T) {
	script, blocks := shellBlocks(t, filepath.Join(suite.root, "docs", "getting-started.md"))
	if blocks < 10 {
		t.Fatalf("docs/getting-started.md has %d sh blocks, want the whole walkthrough", blocks)
	}
	brokers := strings.Split(suite.brokers, ",")[0]
	_, port, err := net.SplitHostPort(brokers)
	if err != nil {
		t.Fatal(err)
	}
	// The page's topics and group have fixed names: start from none of them, so
	// that a broker reused from an earlier run gives the same result.
	forgetGettingStarted(t, brokers)

	work := t.TempDir()
	logPath := filepath.Join(suite.logDir, "getting-started.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a bound for a hang, not a speed claim
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = suite.root
	cmd.Env = append(os.Environ(),
		"BROKERS="+brokers, "KAFKA_PORT="+port, "WORK="+work,
		fmt.Sprintf("REGISTRY_PORT=%d", mustFreePort(t)), fmt.Sprintf("METRICS_PORT=%d", mustFreePort(t)))
	cmd.Stdout, cmd.Stderr = logf, logf
	// The page's background processes share the script's process group: on a
	// failure the whole group is killed, so nothing outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	runErr := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of a failed step
	}
	out, _ := os.ReadFile(logPath)
	if runErr != nil {
		t.Fatalf("the page's commands failed: %v\n%s", runErr, out)
	}
	t.Logf("the page's output:\n%s", out)

	audit := exec.Command(suite.bin, "audit", "-c", filepath.Join(work, "config.yaml"), "--summary", "json")
	audit.Env = append(os.Environ(), "SCORESTREAM_BROKERS="+suite.brokers)
	aout, err := audit.Output()
	if err != nil {
		t.Fatalf("audit after the page: %v\n%s", err, aout)
	}
	lines := strings.Split(strings.TrimSpace(string(aout)), "\n")
	var rep struct {
		Events      int64 `json:"events"`
		Predictions int64 `json:"predictions"`
		DeadLetters int64 `json:"dead_letters"`
		Clean       bool  `json:"clean"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("audit summary: %v\n%s", err, aout)
	}
	if !rep.Clean || rep.Events != 5000 || rep.Predictions+rep.DeadLetters != 5000 || rep.DeadLetters == 0 {
		t.Fatalf("audit after the page: %+v; want clean, 5000 events, each one prediction or dead letter, some dead letters", rep)
	}
}

// shellBlocks returns the page's ```sh blocks joined into one script, and how
// many there are.
func shellBlocks(t *testing.T, path string) (string, int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	n, in := 0, false
	for line := range strings.Lines(string(raw)) {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```sh":
			in = true
			n++
			fmt.Fprintf(&script, "echo '>>> getting-started.md block %d' >&2\n", n)
		case in && trimmed == "```":
			in = false
		case in:
			script.WriteString(line)
		}
	}
	if in {
		t.Fatalf("%s: an sh block is not closed", path)
	}
	return script.String(), n
}

// forgetGettingStarted deletes the page's topics and consumer group, if a
// previous run left them, and waits until the brokers no longer list them.
func forgetGettingStarted(t *testing.T, brokers string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := []string{"payments", "predictions", "payments-dlq", "getting-started-state"}
	if _, err := s.DeleteTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteGroup(ctx, "getting-started"); err != nil && !errors.Is(err, kerr.GroupIDNotFound) &&
		!errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("delete group getting-started: %v", err)
	}
	for {
		td, err := s.ListTopics(ctx, topics...)
		left := 0
		for _, d := range td {
			if d.Err == nil {
				left++
			}
		}
		if err == nil && left == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the page's topics are still there after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}
