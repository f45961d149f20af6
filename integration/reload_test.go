//go:build integration

package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream"
)

// TestHotReload swaps the model file of three running instances while events
// flow (file watch), then writes a corrupt file and SIGHUPs every instance. On
// the real broker: audit clean; on every input partition the predictions switch
// from model A to model B once and never back; nothing committed before the
// swap names B; nothing produced after the corrupt file names A; the corrupt
// file is refused by every instance, none exits.
func TestHotReload(t *testing.T) {
	s := newScenario(t, "reload", suite.brokers, -1)
	s.cfgPatch = func(c map[string]any) { c["model"].(map[string]any)["watch"] = true }
	n := 60_000 * suite.scale
	const rate = 3000.0
	var rep audit.Report
	res := result{"instances": 3}
	defer func() { s.report(res, rep) }()

	ids := []string{"0", "1", "2"}
	ins := make([]*instance, len(ids))
	for i, id := range ids {
		ins[i] = s.start(id)
	}
	g := s.gen(n, rate, 21)
	for _, in := range ins {
		if err := waitMetric(in, "scorestream_stream_transactions_total", `result="committed"`, 1, time.Minute); err != nil {
			t.Fatalf("instance %s: %v", in.id, err)
		}
	}
	// Mid-stream: a third of the events scored under model A.
	if err := s.waitCommittedTotal(int64(n/3), 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	// Swap to model B mid-stream: write a temp file and rename it over the
	// model, as a deploy tool would.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	beforeSwap, err := s.committed(ctx) // committed before the swap: scored by A
	if err != nil {
		t.Fatal(err)
	}
	// Model B: another model over the same features, so another content hash
	// (and label) than the demo model.
	modelB, err := os.ReadFile(filepath.Join(suite.root, "modelwatch", "testdata", "model_b.json"))
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, s.modelPath, modelB)
	swapAt := time.Now()
	for _, in := range ins {
		if err := waitMetric(in, "scorestream_model_reloads_total", `result="ok"`, 1, time.Minute); err != nil {
			t.Fatalf("instance %s did not load model B: %v", in.id, err)
		}
	}
	res["swap_seen_by_all_ms"] = ms(time.Since(swapAt))
	// A transaction open at an instance's reload finishes with A; the one after
	// it begins with B. Two more commits on every instance, and every open
	// transaction began with B.
	for _, in := range ins {
		c, err := in.metric("scorestream_stream_transactions_total", `result="committed"`)
		if err != nil {
			t.Fatal(err)
		}
		if err := waitMetric(in, "scorestream_stream_transactions_total", `result="committed"`, c+2, time.Minute); err != nil {
			t.Fatalf("instance %s: %v", in.id, err)
		}
	}
	afterSwap := s.ends(ctx) // produced after every instance's transactions began with B

	// A corrupt file (truncated JSON) is refused, on the poll or on SIGHUP,
	// whichever comes first; B keeps serving.
	replaceFile(t, s.modelPath, []byte(`{"format":"logistic","features":[`))
	for _, in := range ins {
		if err := in.signal(syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP instance %s: %v", in.id, err)
		}
	}
	for _, in := range ins {
		if err := waitMetric(in, "scorestream_model_reloads_total", `result="refused"`, 1, time.Minute); err != nil {
			t.Fatalf("instance %s did not refuse the corrupt file: %v", in.id, err)
		}
	}
	afterCorrupt := s.ends(ctx)
	if g.finished() {
		t.Fatal("the generator finished before the swaps: nothing was produced under load after them; raise n")
	}

	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	for _, in := range ins {
		if v, err := in.metric("scorestream_model_reloads_total", `result="ok"`); err != nil || v != 1 {
			t.Errorf("instance %s: reloads ok = %v (%v), want 1", in.id, v, err)
		}
	}
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)

	// Every prediction, by source partition in source offset order.
	type pred struct {
		offset int64
		model  string
	}
	byPart := map[int32][]pred{}
	ps := make([]int32, s.partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	conn := []kgo.Opt{kgo.SeedBrokers(s.brokers)}
	err = stream.ReadCommitted(ctx, conn, s.cl, s.preds, ps, func(r *kgo.Record) error {
		_, p, off, err := audit.Provenance(r.Headers)
		if err != nil {
			return fmt.Errorf("prediction at %d/%d: %w", r.Partition, r.Offset, err)
		}
		o := pred{offset: off}
		for _, h := range r.Headers {
			if h.Key == sink.HeaderModel {
				o.model = string(h.Value)
			}
		}
		if o.model == "" {
			return fmt.Errorf("prediction at %d/%d has no %s header", r.Partition, r.Offset, sink.HeaderModel)
		}
		byPart[p] = append(byPart[p], o)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Model A is what served first on partition 0.
	var a, b string
	count := map[string]int{}
	aAfterSwap, switched := 0, 0
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		preds := byPart[p]
		slices.SortFunc(preds, func(x, y pred) int { return int(x.offset - y.offset) })
		if a == "" {
			a = preds[0].model
		}
		seenB := false
		for _, o := range preds {
			count[o.model]++
			if o.model == a {
				if seenB {
					t.Fatalf("partition %d offset %d: model A after model B", p, o.offset)
				}
				if o.offset >= afterSwap[p] {
					aAfterSwap++
					t.Errorf("partition %d offset %d: produced once every instance's transactions began with B, but scored by A (%s)", p, o.offset, a)
				}
				if o.offset >= afterCorrupt[p] {
					t.Fatalf("partition %d offset %d: produced after the refused reload but scored by A (%s)", p, o.offset, a)
				}
				continue
			}
			if b == "" {
				b = o.model
			}
			if o.model != b {
				t.Fatalf("partition %d offset %d: a third model %q (A %s, B %s)", p, o.offset, o.model, a, b)
			}
			if !seenB {
				seenB = true
				switched++
			}
			if o.offset < beforeSwap[p] {
				t.Fatalf("partition %d offset %d: committed before the swap but scored by B", p, o.offset)
			}
		}
	}
	t.Logf("predictions by model: %v; partitions that switched: %d; produced after the switch but scored by A: %d",
		count, switched, aAfterSwap)
	if count[a] == 0 || count[b] == 0 || switched != int(s.partitions) {
		t.Errorf("predictions by model %v; %d of %d partitions switched from A to B", count, switched, s.partitions)
	}
	res["model_a_predictions"] = count[a]
	res["model_b_predictions"] = count[b]
	res["a_after_swap"] = aAfterSwap
}

// waitCommittedTotal polls until the group's committed offsets add up to at
// least min records.
func (s *scenario) waitCommittedTotal(min int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var total int64
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := s.committed(ctx)
		cancel()
		if err == nil {
			total = 0
			for _, o := range c {
				total += o
			}
			if total >= min {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("group %s committed %d records after %s, want %d", s.group, total, timeout, min)
}

// ends returns the input's end offsets.
func (s *scenario) ends(ctx context.Context) map[int32]int64 {
	s.t.Helper()
	ends, _, err := s.offsets(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return ends
}

// replaceFile writes data beside path and renames it over path.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
