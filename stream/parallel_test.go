package stream_test

import (
	"context"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/process"
)

// TestParallelPartitionsMatchSequential: one instance scores a backlog of 12
// partitions with 4 workers, polls of many partitions, and entities written
// many times per transaction (and evicted: 12 entities held per partition).
// Its committed output must be what one sequential pass in offset order per
// partition gives: exactly once (audit), the same changelog state (LRU order
// and watermarks included), the same score for every input record, and, per
// output partition, each input partition's predictions in offset order.
func TestParallelPartitionsMatchSequential(t *testing.T) {
	const n, parts = 6000, 12
	h := newHarness(t, parts)
	h.cfg.Stream.Workers = 4
	h.cfg.Stream.MaxRecordsPerTxn = 600
	prod := h.produce(n, 0.01)
	commits := make(chan int, 1024)
	a := h.start("a", commits)
	waitScored(t, commits, n, a.loop)
	a.close(t)
	if a.loop.Stats.ParallelPolls.Load() == 0 {
		t.Fatal("no poll was scored on several workers: the test does not exercise parallel scoring")
	}
	rep := h.audit()
	dead := 0
	for _, c := range prod.Malformed {
		dead += c
	}
	if !rep.Clean || rep.Inputs != n || rep.DeadLetters != int64(dead) || rep.Predictions != int64(n-dead) {
		t.Fatalf("audit: %+v, want clean with %d dead letters", rep, dead)
	}
	h.checkState(parts)
	h.checkScores(parts, n-dead)
	t.Logf("%d polls scored on several workers, %d transactions", a.loop.Stats.ParallelPolls.Load(), a.loop.Stats.Committed.Load())
}

type source struct {
	partition int32
	offset    int64
}

// checkScores compares every committed prediction's score with the score of
// one sequential pass over the input, and checks that each output partition
// holds each input partition's predictions in input offset order.
func (h *harness) checkScores(partitions int32, predictions int) {
	t := h.t
	t.Helper()
	ctx := context.Background()
	cl, conn, ps, proc := h.sequentialPass(partitions)
	var err error
	sts := make(map[int32]*state.Partition, partitions)
	for _, p := range ps {
		if sts[p], err = state.NewPartition(state.Config{Limits: h.shared.Spec.Limits(), MaxEntities: h.cfg.State.MaxEntities}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[source]float64{}
	err = stream.ReadCommitted(ctx, conn, cl, "payments", ps, func(r *kgo.Record) error {
		res, err := proc.Process(ctx, r, sts[r.Partition])
		if err != nil {
			return err
		}
		sts[r.Partition].Commit()
		if res.DeadLetter == "" {
			want[source{r.Partition, r.Offset}] = res.Score
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(sink.PredictionSchema)
	if err != nil {
		t.Fatal(err)
	}
	type outIn struct{ out, in int32 }
	last := map[outIn]int64{}
	got := 0
	err = stream.ReadCommitted(ctx, conn, cl, "predictions", ps, func(r *kgo.Record) error {
		_, p, off, err := audit.Provenance(r.Headers)
		if err != nil {
			t.Fatalf("prediction at %d/%d: %v", r.Partition, r.Offset, err)
		}
		native, _, err := codec.NativeFromBinary(r.Value[5:])
		if err != nil {
			t.Fatalf("prediction at %d/%d: %v", r.Partition, r.Offset, err)
		}
		score := native.(map[string]any)["score"].(float64)
		w, ok := want[source{p, off}]
		switch {
		case !ok:
			t.Fatalf("prediction for input %d/%d, which a sequential pass dead-letters or never saw", p, off)
		case score != w:
			t.Fatalf("input %d/%d: score %v, a sequential pass gives %v", p, off, score, w)
		}
		k := outIn{r.Partition, p}
		if prev, seen := last[k]; seen && off <= prev {
			t.Fatalf("output partition %d: input %d offset %d after offset %d", r.Partition, p, off, prev)
		}
		last[k] = off
		got++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != predictions || len(want) != predictions {
		t.Fatalf("%d predictions read, %d scored by a sequential pass, want %d", got, len(want), predictions)
	}
}

// sequentialPass returns what a fault-free pass over the input needs: an admin
// client (closed with the test), the connection, the partitions 0..partitions-1
// and a fresh Processor with the harness's decoder, spec and models.
func (h *harness) sequentialPass(partitions int32) (*kgo.Client, []kgo.Opt, []int32, *process.Processor) {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.env.Brokers...))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cl.Close)
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	proc := process.New(process.Config{PredictionsTopic: "p", DeadLetterTopic: "d", ChangelogTopic: "c"},
		h.shared.Decoder, h.shared.Spec, h.shared.Models)
	return cl, []kgo.Opt{kgo.SeedBrokers(h.env.Brokers...)}, ps, proc
}
