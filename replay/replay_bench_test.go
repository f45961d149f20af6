package replay_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/replay"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/process"
)

// BenchmarkReplay replays 20,000 demo events from the embedded broker (4
// partitions in parallel) through the scoring core with the demo model into
// Parquet; ns/op and allocs/op are per event. Compare with
// stream/process BenchmarkProcess (the core alone, per event).
//
//	go test ./replay -run '^$' -bench Replay -benchmem
func BenchmarkReplay(b *testing.B) {
	const events = 20000
	env, err := demo.Start(4, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	dir := b.TempDir()
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	prod, err := demo.NewProducer(ctx, env.Brokers, env.RegistryURL, "payments", gen.Config{Seed: 9, MalformedRate: 0.001})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Produce(ctx, events, 0); err != nil {
		b.Fatal(err)
	}
	shared, err := stream.Prepare(ctx, cfg, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(shared.Conn...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	spans, err := replay.Resolve(ctx, shared.Conn, kadm.NewClient(cl), cfg.Stream.InputTopics, replay.Bounds{})
	if err != nil {
		b.Fatal(err)
	}
	m := shared.Models.Champion
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pq, err := replay.NewParquetWriter(filepath.Join(dir, "p.parquet"), []replay.ModelID{{Name: m.Name, Version: m.Version, Hash: m.Hash}}, nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := replay.New(replay.Config{Conn: shared.Conn, Spans: spans, Decoder: shared.Decoder, Spec: shared.Spec,
			Models: []*process.Scorer{m}, State: state.Config{Limits: shared.Spec.Limits(), MaxEntities: cfg.State.MaxEntities}})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Run(ctx, &replay.Output{Parquet: pq}); err != nil {
			b.Fatal(err)
		}
		if err := pq.Close(); err != nil {
			b.Fatal(err)
		}
		if st := r.Progress(); st.Events+st.DeadLetters != events {
			b.Fatalf("%d events + %d dead letters, want %d", st.Events, st.DeadLetters, events)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
