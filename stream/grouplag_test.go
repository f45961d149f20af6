package stream_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/stream"
)

// TestGroupLag: the group's lag and committed offsets come from the brokers,
// and a partition whose committed offset stands still while records arrive is
// logged as stalled once, after StallAfter; not one that moves, is caught up,
// or keeps a lag that does not grow (the tail a transactional input leaves).
func TestGroupLag(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	produce := func(p int32, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p := int32(0); p < 4; p++ {
		produce(p, 10)
	}
	adm := kadm.NewClient(cl)
	commit := func(p int32, at int64) {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "in", Partition: p, At: at, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "g", os); err != nil {
			t.Fatal(err)
		}
	}
	commit(0, 4)  // 6 behind, will stand still while records arrive: stalled
	commit(1, 10) // caught up
	// partition 2: nothing committed, 10 behind, but it will move
	commit(3, 7) // 3 behind and nothing arrives: a tail, not a stall

	var logs bytes.Buffer
	m := stream.NewMetrics(prometheus.NewRegistry())
	g := &stream.GroupLag{Admin: adm, Group: "g", Topics: []string{"in"}, Metrics: m,
		Log: slog.New(slog.NewTextHandler(&logs, nil)), StallAfter: 5 * time.Minute}

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := g.Once(ctx, t0); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][2]float64{"0": {4, 6}, "1": {10, 0}, "2": {0, 10}, "3": {7, 3}} {
		if got := gauge(t, m.GroupCommitted.WithLabelValues("in", p)); got != want[0] {
			t.Errorf("partition %s: committed %v, want %v", p, got, want[0])
		}
		if got := gauge(t, m.GroupLag.WithLabelValues("in", p)); got != want[1] {
			t.Errorf("partition %s: lag %v, want %v", p, got, want[1])
		}
	}
	commit(2, 3)
	produce(0, 3)
	if err := g.Once(ctx, t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("stall logged before StallAfter: %s", logs.String())
	}
	commit(2, 5) // moves: never stalled
	for _, at := range []time.Duration{5 * time.Minute, 6 * time.Minute, 7 * time.Minute} {
		if err := g.Once(ctx, t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "input partition stalled"); n != 1 {
		t.Fatalf("%d stall lines, want 1 (partition 0):\n%s", n, out)
	}
	if !strings.Contains(out, "partition=0") || !strings.Contains(out, "lag=9") || !strings.Contains(out, "stalled_for=5m0s") {
		t.Fatalf("stall line does not name partition 0, its lag and how long:\n%s", out)
	}
	if got := gauge(t, m.GroupLag.WithLabelValues("in", "2")); got != 5 {
		t.Errorf("partition 2: lag %v after committing 5, want 5", got)
	}
}

func gauge(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var d dto.Metric
	if err := g.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetGauge().GetValue()
}
