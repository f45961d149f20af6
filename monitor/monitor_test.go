package monitor

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/scorestream/scorestream/monitor/monitortest"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream/decode"
)

// fixture is a kfake cluster and srfake registry with the four topics, and
// what was produced to them.
type fixture struct {
	brokers  []string
	registry string
	cfg      Config
	sum      monitortest.Summary
}

func newFixture(t *testing.T, events int) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "pred", "shadow", "labels", "labels-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	f := &fixture{brokers: c.ListenAddrs(), registry: reg.URL(), cfg: Config{
		PredictionsTopic: "pred", ShadowTopic: "shadow", LabelsTopic: "labels", DeadLetterTopic: "labels-dlq",
		EventIDField: "event_id", LabelField: "label", LabelTimeField: "label_time",
	}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sum, err := monitortest.Produce(context.Background(), cl, f.registry, 1, 0, events, monitortest.Topics{Predictions: "pred", Shadow: "shadow", Labels: "labels"})
	if err != nil {
		t.Fatal(err)
	}
	f.sum = sum
	return f
}

// run runs a Monitor on the fixture until it has read every record, and
// returns its registry.
func (f *fixture) run(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	core, err := NewCore(CoreConfig{Thresholds: testThresholds, Windows: []time.Duration{1000 * time.Hour}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	rcl, err := sr.NewClient(sr.URLs(f.registry))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decode.New(decode.SRRegistry{Client: rcl}, decode.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := New(f.cfg, core, dec, []kgo.Opt{kgo.SeedBrokers(f.brokers...)}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for sumOf(t, reg, "scorestream_monitor_records_total") < float64(f.sum.Records) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("read %v of %d records in 30s", sumOf(t, reg, "scorestream_monitor_records_total"), f.sum.Records)
		}
		time.Sleep(10 * time.Millisecond) // polling inside a deadline
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return reg
}

func sumOf(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var s float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				s += m.GetCounter().GetValue()
			}
		}
	}
	return s
}

func snapshot(t *testing.T, reg prometheus.Gatherer) map[string]string {
	t.Helper()
	s, err := monitortest.Snapshot(reg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMonitorRunAndRebuild(t *testing.T) {
	f := newFixture(t, 3000)
	first := snapshot(t, f.run(t))
	if f.sum.Malformed == 0 {
		t.Fatal("the fixture produced no malformed labels")
	}
	for _, tc := range []struct {
		key  string
		want float64
	}{
		{"scorestream_monitor_labels_total{outcome=dead_letter}", float64(f.sum.Malformed)},
		{"scorestream_monitor_predictions_total{model=fraud,role=champion,version=1}", 3000},
		{"scorestream_monitor_labelled_total{model=fraud,role=champion,version=1}", float64(f.sum.Labelled)},
		{"scorestream_monitor_labelled_total{model=fraud,role=challenger,version=2}", float64(f.sum.Labelled)},
		{"scorestream_monitor_labels_total{outcome=joined}", float64(f.sum.Labelled)},
		{"scorestream_monitor_join_entries{side=unknown}", float64(f.sum.Unknown)}, // within the horizon: held, not yet counted as unknown
		{"scorestream_monitor_dead_letters_total{class=bad_magic}", float64(f.sum.BadMagic)},
		{"scorestream_monitor_dead_letters_total{class=label}", float64(f.sum.WrongType)},
	} {
		got, _ := strconv.ParseFloat(first[tc.key], 64)
		if got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, first[tc.key], tc.want)
		}
	}
	if auc, _ := strconv.ParseFloat(first["scorestream_monitor_roc_auc{model=fraud,role=champion,version=1,window=1000h}"], 64); !(auc > 0.5 && auc <= 1) {
		t.Errorf("roc auc %v: the fixture's scores separate the classes", auc)
	}

	// A second monitor rebuilds from the topics: the same counts, and no dead
	// letter written twice.
	second := snapshot(t, f.run(t))
	for _, d := range monitortest.Diff(first, second) {
		t.Errorf("after a rebuild: %s", d)
	}
	if n := countDeadLetters(t, f); n != f.sum.Malformed {
		t.Errorf("dead-letter topic holds %d records after two passes, want %d (one per malformed label)", n, f.sum.Malformed)
	}
}

func countDeadLetters(t *testing.T, f *fixture) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.ConsumeTopics(f.cfg.DeadLetterTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			got++
			var class string
			var topic string
			for _, h := range r.Headers {
				switch h.Key {
				case sink.HeaderErrorClass:
					class = string(h.Value)
				case sink.HeaderSourceTopic:
					topic = string(h.Value)
				}
			}
			if class == "" || topic != f.cfg.LabelsTopic {
				t.Errorf("dead letter without class or provenance: %v", r.Headers)
			}
		})
		if got == 0 {
			return n
		}
		n += got
	}
}
