//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/monitor/monitortest"
	"github.com/scorestream/scorestream/sink"
)

// TestMonitorRestart: scorestream monitor is read-only and rebuilds its state
// from the topics, so killing it (SIGKILL, mid-stream) and starting it again
// exports the same counts as a run that was never interrupted, and no
// malformed label is dead-lettered twice.
func TestMonitorRestart(t *testing.T) {
	ctx := context.Background()
	sfx := fmt.Sprintf("mon-%d", time.Now().UnixNano()%1_000_000_000)
	topics := monitortest.Topics{Predictions: "it-" + sfx + "-predictions", Shadow: "it-" + sfx + "-shadow", Labels: "it-" + sfx + "-labels"}
	dlq := "it-" + sfx + "-labels-dlq"

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(suite.brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 3, 1, nil, topics.Predictions, topics.Shadow, topics.Labels, dlq); err != nil {
		t.Fatalf("create topics: %v", err)
	}

	events := 30000 * suite.scale
	var sum monitortest.Summary
	for _, half := range [][2]int{{0, events / 2}, {events / 2, events}} {
		s, err := monitortest.Produce(ctx, cl, suite.registry, 5, half[0], half[1], topics)
		if err != nil {
			t.Fatal(err)
		}
		sum.Add(s)
	}
	t.Logf("produced %d records: %d labelled events, %d malformed labels, %d labels of unknown events", sum.Records, sum.Labelled, sum.Malformed, sum.Unknown)

	cfgPath := filepath.Join(t.TempDir(), "monitor.yaml")
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
registry:
  urls: [%q]
stream:
  input_topics: [it-%[3]s-payments]
  group: it-%[3]s
output:
  predictions_topic: %[4]s
  shadow_topic: %[5]s
  dead_letter_topic: it-%[3]s-dlq
  changelog_topic: it-%[3]s-changelog
state:
  amount_field: amount
features:
  - {name: amount, field: amount}
model:
  path: unused-by-the-monitor.json
  thresholds:
    - {decision: review, min_score: 0.5}
    - {decision: block, min_score: 0.9}
  challenger:
    path: unused-by-the-monitor.json
    thresholds:
      - {decision: block, min_score: 0.8}
monitor:
  labels_topic: %[6]s
  dead_letter_topic: %[7]s
  label_time_field: label_time
  windows: [24h, 1000h]
  reference_precision: 0.9
log:
  level: info
`, suite.brokers, suite.registry, sfx, topics.Predictions, topics.Shadow, topics.Labels, dlq)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// Run 1, killed with SIGKILL as soon as it has dead-lettered a label (so
	// that the restart meets dead letters written by the run it replaces).
	crash := startMonitor(t, cfgPath, "monitor-crash")
	var atKill, dlqAtKill float64
	deadline := time.Now().Add(2 * time.Minute)
	for dlqAtKill == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the monitor dead-lettered nothing in 2 minutes")
		}
		atKill, dlqAtKill = crash.value("scorestream_monitor_records_total"), crash.value("scorestream_monitor_dead_letters_total")
		time.Sleep(5 * time.Millisecond) // polling inside a deadline
	}
	crash.kill()
	t.Logf("killed the monitor after it had exported %v of %d records, %v of %d dead letters", atKill, sum.Records, dlqAtKill, sum.Malformed)
	if atKill >= float64(sum.Records) {
		t.Fatalf("the monitor had read everything (%v records) before the kill: not mid-stream", atKill)
	}

	// Run 2, the restart: reads everything again.
	restarted := startMonitor(t, cfgPath, "monitor-restarted")
	after := restarted.waitAll(t, sum.Records)
	restarted.stop(t)

	// Run 3, fault-free, for comparison.
	clean := startMonitor(t, cfgPath, "monitor-clean")
	want := clean.waitAll(t, sum.Records)
	clean.stop(t)

	for _, d := range monitortest.Diff(want, after) {
		t.Errorf("fault-free vs after a SIGKILL and restart: %s", d)
	}
	for _, c := range []struct {
		key  string
		want int
	}{
		{"scorestream_monitor_labels_total{outcome=joined}", sum.Labelled},
		{"scorestream_monitor_labels_total{outcome=dead_letter}", sum.Malformed},
		{"scorestream_monitor_labelled_total{model=fraud,role=champion,version=1}", sum.Labelled},
		{"scorestream_monitor_labelled_total{model=fraud,role=challenger,version=2}", sum.Labelled},
		{"scorestream_monitor_join_entries{side=unknown}", sum.Unknown},
	} {
		if got := after[c.key]; got != fmt.Sprint(c.want) {
			t.Errorf("%s = %s, want %d", c.key, got, c.want)
		}
	}
	t.Logf("ROC AUC champion %s, challenger %s; estimated precision at block %s/%s",
		after["scorestream_monitor_roc_auc{model=fraud,role=champion,version=1,window=1000h}"],
		after["scorestream_monitor_roc_auc{model=fraud,role=challenger,version=2,window=1000h}"],
		after["scorestream_monitor_flagged_expected_positives_total{decision=block,model=fraud,role=champion,version=1}"],
		after["scorestream_monitor_flagged_total{decision=block,model=fraud,role=champion,version=1}"])

	// Three runs, one of them killed: each malformed label is in the dead-letter
	// topic exactly once, with its provenance.
	seen := map[string]int{}
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(suite.brokers, ",")...), kgo.ConsumeTopics(dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for n := 0; n < sum.Malformed; {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fs := rd.PollFetches(pctx)
		cancel()
		if pctx.Err() != nil && fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			if h[sink.HeaderSourceTopic] != topics.Labels || h[sink.HeaderErrorClass] == "" {
				t.Errorf("dead letter without provenance or class: %v", h)
			}
			seen[h[sink.HeaderSourcePartition]+"/"+h[sink.HeaderSourceOffset]]++
		})
	}
	if len(seen) != sum.Malformed {
		t.Errorf("dead letters name %d label records, want %d", len(seen), sum.Malformed)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("label %s dead-lettered %d times", k, n)
		}
	}
	// Nothing beyond them.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if fs := rd.PollFetches(pctx); fs.NumRecords() > 0 {
		t.Errorf("%d more dead letters than malformed labels", fs.NumRecords())
	}
	cancel()
}

// monitorProc is one scorestream monitor process.
type monitorProc struct {
	cmd     *exec.Cmd
	metrics string
	log     *os.File
	exited  chan error
}

func startMonitor(t *testing.T, cfgPath, name string) *monitorProc {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(suite.logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(suite.bin, "monitor", "-c", cfgPath, "--listen", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &monitorProc{cmd: cmd, metrics: "http://" + addr + "/metrics", log: logf, exited: make(chan error, 1)}
	go func() { m.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-m.exited
		logf.Close()
	})
	return m
}

// gather scrapes the monitor's /metrics; nil while it does not answer.
func (m *monitorProc) gather() []*dto.MetricFamily {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(m.metrics)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil
	}
	out := make([]*dto.MetricFamily, 0, len(mfs))
	for _, mf := range mfs {
		out = append(out, mf)
	}
	return out
}

// records is the sum of scorestream_monitor_records_total.
func (m *monitorProc) records() float64 { return m.value("scorestream_monitor_records_total") }

// value is the sum of the counter name over its label sets.
func (m *monitorProc) value(name string) float64 {
	var s float64
	for _, mf := range m.gather() {
		if mf.GetName() == name {
			for _, x := range mf.GetMetric() {
				s += x.GetCounter().GetValue()
			}
		}
	}
	return s
}

// waitAll waits until the monitor has read n records and returns its snapshot.
func (m *monitorProc) waitAll(t *testing.T, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for m.records() < float64(n) {
		select {
		case err := <-m.exited:
			t.Fatalf("monitor exited: %v (log %s)", err, m.log.Name())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("monitor read %v of %d records in 3 minutes (log %s)", m.records(), n, m.log.Name())
		}
		time.Sleep(50 * time.Millisecond) // polling inside a deadline
	}
	// The AUC gauges are refreshed after each batch: wait for two equal scrapes.
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return m.gather(), nil })
	prev, err := monitortest.Snapshot(g)
	for {
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // polling inside the same deadline
		cur, err2 := monitortest.Snapshot(g)
		if err2 == nil && len(monitortest.Diff(prev, cur)) == 0 {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("monitor metrics still changing after 3 minutes: %v", monitortest.Diff(prev, cur))
		}
		prev, err = cur, err2
	}
}

func (m *monitorProc) kill() {
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.exited <- nil // for the cleanup
}

// stop ends the monitor with SIGTERM; it must exit 0.
func (m *monitorProc) stop(t *testing.T) {
	t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.exited:
		m.exited <- nil
		if err != nil {
			t.Errorf("monitor exit after SIGTERM: %v (log %s)", err, m.log.Name())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("monitor did not stop within 30s of SIGTERM (log %s)", m.log.Name())
	}
}
