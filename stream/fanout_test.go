package stream

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/state"
)

// BenchmarkFanOut is the loop's scoring of one poll of 6 partitions (100
// records each, the demo's XGBoost model and features) on 1 and 2 workers,
// without Kafka: what parallel partition scoring gains on its own. Compare
// the two sub-benchmarks' ns/op run in turn (-count), and cpu-ns/op.
//
//	go test ./stream -run '^$' -bench FanOut -benchmem -count 6
func BenchmarkFanOut(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l, polls := fanOutFixture(b, workers, 6, 100)
			ctx := context.Background()
			finish := func(w *worker) {
				if len(w.pending) > 0 && len(w.proc.Finish(w.pending)) != len(w.pending) {
					panic("Finish lost records")
				}
				w.pending = w.pending[:0]
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPUTime()
			for i := 0; i < b.N; i++ {
				l.batch = append(l.batch[:0], polls[i%len(polls)]...)
				if err := l.fanOut(func(w *worker, it *partWork) error { return w.prepare(ctx, it) }, finish); err != nil {
					b.Fatal(err)
				}
				for _, it := range polls[0] {
					it.st.Commit()
				}
				if i%len(polls) == len(polls)-1 { // replaying from the start: fresh state
					for p := range polls[0] {
						st := newBenchPartition(b, l)
						for _, poll := range polls {
							poll[p].st = st
						}
					}
				}
			}
			b.ReportMetric(float64(processCPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPUTime is the process's user and system CPU time so far, in ns.
func processCPUTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func newBenchPartition(b *testing.B, l *Loop) *state.Partition {
	st, err := state.NewPartition(state.Config{Limits: l.workers[0].proc.Spec().Limits(), MaxEntities: 10000})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// fanOutFixture returns a Loop built as `scorestream run` builds one (over an
// in-memory registry, the demo's config and model; its session never polls) and 50 polls of records of parts
// partitions, perPoll each, keyed by card and partitioned by key.
func fanOutFixture(b *testing.B, workers int, parts int32, perPoll int) (*Loop, [][]partWork) {
	reg := srfake.New()
	b.Cleanup(reg.Close)
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, reg.URL(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	id, _, err := reg.RegisterSchema(cfg.Stream.InputTopics[0]+"-value", sr.Schema{Schema: gen.Schema, Type: sr.TypeAvro})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gen.New(gen.Config{Seed: 3, Cards: 1000, SchemaID: id})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Stream.Workers = workers
	shared, err := Prepare(context.Background(), cfg, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	l, err := shared.NewLoop("bench", slog.New(slog.NewTextHandler(io.Discard, nil))) // its session never polls
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.sess.Close)
	sts := make([]*state.Partition, parts)
	for i := range sts {
		sts[i] = newBenchPartition(b, l)
	}
	offsets := make([]int64, parts)
	polls := make([][]partWork, 50)
	for i := range polls {
		recs := make([][]*kgo.Record, parts)
		for done := 0; done < int(parts)*perPoll; {
			r := g.NextRecord()
			h := fnv.New32a()
			h.Write(r.Key)
			p := int32(h.Sum32() % uint32(parts))
			if len(recs[p]) == perPoll {
				continue
			}
			recs[p] = append(recs[p], &kgo.Record{Topic: "payments", Partition: p, Offset: offsets[p], Key: r.Key, Value: r.Value,
				Timestamp: time.UnixMilli(1_767_225_600_000)})
			offsets[p]++
			done++
		}
		for p := range parts {
			polls[i] = append(polls[i], partWork{partition: p, st: sts[p], recs: [][]*kgo.Record{recs[p]}})
		}
	}
	return l, polls
}
