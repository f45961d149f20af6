package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/monitor/monitortest"
)

func monitorConfig(t *testing.T, brokers []string, registry, labels, dlq string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "monitor.yaml")
	doc := fmt.Sprintf(`kafka: {brokers: [%q]}
registry: {urls: [%q]}
stream: {input_topics: [payments], group: g}
output: {predictions_topic: pred, shadow_topic: shadow, dead_letter_topic: dlq, changelog_topic: changelog}
features: [{name: amount, field: amount}]
model:
  path: unused.json
  thresholds: [{decision: block, min_score: 0.9}]
  challenger: {path: unused.json}
monitor: {labels_topic: %s, dead_letter_topic: %s, label_time_field: label_time, windows: [1000h]}
log: {format: text}
`, brokers[0], registry, labels, dlq)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMonitorCmd(t *testing.T) {
	brokers, reg := genFakes(t, "pred", "shadow", "labels", "labels-dlq")
	t.Setenv(config.EnvBrokers, "")
	run := func(ctx context.Context, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := monitorCmd(ctx, args, &out, &errb)
		return code, out.String(), errb.String()
	}

	if code, _, stderr := run(t.Context(), "-c", "../../config/testdata/minimal.good.yaml"); code != exitUsage || !strings.Contains(stderr, "monitor.labels_topic: required") {
		t.Errorf("without labels_topic: exit %d, stderr %s", code, stderr)
	}
	if code, stdout, _ := run(t.Context(), "--help"); code != exitOK || !strings.Contains(stdout, "Examples:") {
		t.Errorf("--help: exit %d", code)
	}
	if code, _, stderr := run(t.Context(), "-c", monitorConfig(t, brokers, reg.URL(), "labels", "nope-dlq"), "--check"); code != exitFailure || !strings.Contains(stderr, "monitor.dead_letter_topic") {
		t.Errorf("missing dead-letter topic: exit %d, stderr %s", code, stderr)
	}
	cfg := monitorConfig(t, brokers, reg.URL(), "labels", "labels-dlq")
	if code, stdout, stderr := run(t.Context(), "-c", cfg, "--check"); code != exitOK {
		t.Errorf("--check: exit %d\n%s%s", code, stdout, stderr)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sum, err := monitortest.Produce(t.Context(), cl, reg.URL(), 2, 0, 1000, monitortest.Topics{Predictions: "pred", Shadow: "shadow", Labels: "labels"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := run(ctx, "-c", cfg, "--listen", addr)
		done <- result{code, stdout, stderr}
	}()
	recordsRE := regexp.MustCompile(`(?m)^scorestream_monitor_records_total\{[^}]*\} (\S+)$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n float64
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, m := range recordsRE.FindAllStringSubmatch(string(b), -1) {
				v, _ := strconv.ParseFloat(m[1], 64)
				n += v
			}
		}
		if n >= float64(sum.Records) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			r := <-done
			t.Fatalf("read %v of %d records in 30s; exit %d\n%s", n, sum.Records, r.code, r.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling inside a deadline
	}
	cancel()
	r := <-done
	if r.code != exitOK {
		t.Fatalf("exit %d after cancel\n%s", r.code, r.stderr)
	}
	want := fmt.Sprintf("monitor: 2000 predictions, %d labels (%d joined, 0 unknown, 0 duplicate, %d dead letters), 0 early evictions\n",
		sum.Labelled+sum.Malformed+sum.Unknown, sum.Labelled, sum.Malformed)
	if r.stdout != want {
		t.Errorf("summary %q, want %q", r.stdout, want)
	}
}
