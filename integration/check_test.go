//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// TestRunCheckReadOnly is issue 11's acceptance for `run --check` on the real
// broker: a config with an unreachable registry and two missing topics gets all
// three reported in one run, exit 1, and neither the broker's topics nor the
// registry's subjects change, although output.create_topics is true. A second
// run against the suite's (reachable) registry shows that the prediction schema
// is not registered either.
func TestRunCheckReadOnly(t *testing.T) {
	s := newScenario(t, "check", suite.brokers, 1)
	missingPreds, missingDLQ := s.preds+"-missing", s.dlq+"-missing"
	dead := fmt.Sprintf("http://127.0.0.1:%d", mustFreePort(t))
	registry := dead
	s.cfgPatch = func(c map[string]any) {
		out := c["output"].(map[string]any)
		out["predictions_topic"], out["dead_letter_topic"], out["create_topics"] = missingPreds, missingDLQ, true
		c["registry"] = map[string]any{"urls": []string{registry}}
	}
	rcl, err := sr.NewClient(sr.URLs(suite.registry))
	if err != nil {
		t.Fatal(err)
	}
	state := func() (topics, subjects []string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		td, err := s.adm.ListTopicsWithInternal(ctx) // internal ones too: no coordinator woken
		if err != nil {
			t.Fatal(err)
		}
		subjects, err = rcl.Subjects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(subjects)
		return td.Names(), subjects
	}

	for _, tc := range []struct {
		name     string
		registry string
		want     []string
	}{
		{"unreachable registry, two missing topics", dead, []string{"output.predictions_topic", "output.dead_letter_topic", "registry.urls"}},
		{"reachable registry, two missing topics", suite.registry, []string{"output.predictions_topic", "output.dead_letter_topic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			registry = tc.registry
			cfgPath := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfgPath, s.config("", ""), 0o644); err != nil {
				t.Fatal(err)
			}
			topicsBefore, subjectsBefore := state()
			start := time.Now()
			out, err := exec.Command(suite.bin, "run", "-c", cfgPath, "--check", "--timeout", "5s").CombinedOutput()
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("run --check: %v (want exit 1)\n%s", err, out)
			}
			t.Logf("run --check took %v:\n%s", took.Round(time.Millisecond), out)
			var fails []string
			for line := range strings.Lines(string(out)) {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "FAIL  "); ok {
					name, _, _ := strings.Cut(rest, ":")
					fails = append(fails, name)
				}
			}
			if !slices.Equal(fails, tc.want) {
				t.Fatalf("FAIL lines for %v, want %v", fails, tc.want)
			}
			for _, topic := range []string{missingPreds, missingDLQ} {
				if !bytes.Contains(out, fmt.Appendf(nil, "topic %q does not exist: it needs %d partitions", topic, s.partitions)) {
					t.Errorf("output does not name %s with the partitions it needs", topic)
				}
			}
			topicsAfter, subjectsAfter := state()
			if !slices.Equal(topicsBefore, topicsAfter) {
				t.Errorf("topics changed: before %v, after %v", topicsBefore, topicsAfter)
			}
			if !slices.Equal(subjectsBefore, subjectsAfter) {
				t.Errorf("registry subjects changed: before %v, after %v", subjectsBefore, subjectsAfter)
			}
		})
	}
}

// TestTopicsCreateRacing: three `scorestream topics create` started at once for
// the same config both succeed (the loser of each race gets
// TOPIC_ALREADY_EXISTS and counts the topic as existing), and each topic is
// created once, with the input's partition count.
func TestTopicsCreateRacing(t *testing.T) {
	s := newScenario(t, "topics", suite.brokers, 1)
	sfx := "-created"
	s.cfgPatch = func(c map[string]any) {
		out := c["output"].(map[string]any)
		for _, k := range []string{"predictions_topic", "dead_letter_topic", "changelog_topic"} {
			out[k] = out[k].(string) + sfx
		}
	}
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, s.config("", ""), 0o644); err != nil {
		t.Fatal(err)
	}
	const racers = 3
	outs := make([][]byte, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() {
			outs[i], errs[i] = exec.Command(suite.bin, "topics", "create", "-c", cfgPath, "--replication-factor", "1").CombinedOutput()
		})
	}
	wg.Wait()
	created := map[string]int{}
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("topics create %d: %v\n%s", i, errs[i], outs[i])
		}
		t.Logf("topics create %d:\n%s", i, outs[i])
		for line := range strings.Lines(string(outs[i])) {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "created" {
				created[f[1]]++
			}
		}
	}
	names := []string{s.preds + sfx, s.dlq + sfx, s.changelog + sfx}
	for _, n := range names {
		if created[n] != 1 {
			t.Errorf("%s created %d times, want once", n, created[n])
		}
	}
	// The brokers' metadata catches up with a create shortly after it returns.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		td, err := s.adm.ListTopics(ctx, names...)
		var wrong []string
		for _, n := range names {
			if got := len(td[n].Partitions); err != nil || got != int(s.partitions) {
				wrong = append(wrong, fmt.Sprintf("%s: %d partitions (want %d)", n, got, s.partitions))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("after 15s: %v (%v)", wrong, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

func mustFreePort(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
