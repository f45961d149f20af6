package audit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream/kread"
)

// The fixtures are built by hand with transactional producers, so the topics
// hold commit and abort markers, aborted records and an open transaction, as a
// real scorestream deployment leaves them. Expected results are computed from
// the offsets the broker assigned when producing, never from Run.

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	cluster   *kfake.Cluster
	opts      []kgo.Opt
	prod      *kgo.Client   // transactional producer for outputs
	committed []*kgo.Record // committed input records, in produce order
	aborted   []*kgo.Record // aborted input records
	marker    int64         // offset of the commit marker after the first batch on in/0
}

// newFixture starts a 2-broker kfake cluster (partition leaders are spread,
// so the audit must route fetches) with in (3 partitions), pred and dlq (2
// each) and writes the inputs:
//
//	txn 1, committed: 12 records, in/i%3, timestamps t0+i minutes
//	txn 2, aborted:   3 records, one per partition
//	txn 3, committed: 6 records, timestamps t0+12+i minutes
//	txn 4, aborted:   1 record on in/2, so in/2 ends with an abort marker
//	txn 5, left open: 2 records on in/0 (above the last stable offset)
func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(3, "in"), kfake.SeedTopics(2, "pred", "dlq"))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	f := &fixture{cluster: c, opts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}

	in := f.producer(t, "inputs")
	rec := func(p int32, i int) *kgo.Record {
		return &kgo.Record{Topic: "in", Partition: p, Value: []byte("e" + strconv.Itoa(i)), Timestamp: t0.Add(time.Duration(i) * time.Minute)}
	}
	var batch []*kgo.Record
	for i := range 12 {
		batch = append(batch, rec(int32(i%3), i))
	}
	f.committed = append(f.committed, txn(t, in, true, batch...)...)
	for _, r := range f.committed {
		if r.Partition == 0 && r.Offset+1 > f.marker {
			f.marker = r.Offset + 1
		}
	}
	f.aborted = append(f.aborted, txn(t, in, false, rec(0, 100), rec(1, 101), rec(2, 102))...)
	batch = nil
	for i := range 6 {
		batch = append(batch, rec(int32(i%3), 12+i))
	}
	f.committed = append(f.committed, txn(t, in, true, batch...)...)
	f.aborted = append(f.aborted, txn(t, in, false, rec(2, 103))...)

	open := f.producer(t, "open")
	ctx := context.Background()
	if err := open.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := open.ProduceSync(ctx, rec(0, 200), rec(0, 201)).FirstErr(); err != nil {
		t.Fatalf("produce into open txn: %v", err)
	}
	t.Cleanup(func() { _ = open.EndTransaction(context.Background(), kgo.TryAbort) })

	f.prod = f.producer(t, "outputs")
	return f
}

func (f *fixture) producer(t *testing.T, txid string) *kgo.Client {
	t.Helper()
	opts := append(slices.Clone(f.opts), kgo.TransactionalID(txid), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// txn produces recs in one transaction and commits or aborts it.
func txn(t *testing.T, cl *kgo.Client, commit bool, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end txn: %v", err)
	}
	return recs
}

// output is a prediction (or dead letter) naming topic/partition@offset.
func output(topic, srcTopic string, p int32, off int64) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: p % 2, Value: []byte("score"), Headers: []kgo.RecordHeader{
		{Key: sink.HeaderSourceTopic, Value: []byte(srcTopic)},
		{Key: sink.HeaderSourcePartition, Value: []byte(strconv.Itoa(int(p)))},
		{Key: sink.HeaderSourceOffset, Value: []byte(strconv.FormatInt(off, 10))},
	}}
}

// outputFor names r: even offsets as predictions, odd ones as dead letters.
func outputFor(r *kgo.Record) *kgo.Record {
	topic := "pred"
	if r.Offset%2 == 1 {
		topic = "dlq"
	}
	return output(topic, r.Topic, r.Partition, r.Offset)
}

func (f *fixture) outputsExcept(skip func(*kgo.Record) bool) []*kgo.Record {
	var out []*kgo.Record
	for _, r := range f.committed {
		if skip == nil || !skip(r) {
			out = append(out, outputFor(r))
		}
	}
	return out
}

// writeClean writes one output per committed input in two committed
// transactions, then an aborted transaction full of would-be problems (a
// duplicate, an orphan, a malformed record) that must leave no trace, so both
// output topics end with an abort marker.
func (f *fixture) writeClean(t *testing.T, skip func(*kgo.Record) bool) {
	t.Helper()
	outs := f.outputsExcept(skip)
	half := len(outs) / 2
	txn(t, f.prod, true, outs[:half]...)
	txn(t, f.prod, true, outs[half:]...)
	txn(t, f.prod, false,
		outputFor(f.committed[0]),
		output("pred", "in", f.aborted[0].Partition, f.aborted[0].Offset),
		&kgo.Record{Topic: "dlq", Partition: 1, Value: []byte("no headers")},
	)
}

func (f *fixture) run(t *testing.T, cfg Config) (Report, []Progress) {
	t.Helper()
	return f.runWith(t, cfg, kread.DefaultLimits)
}

func (f *fixture) runWith(t *testing.T, cfg Config, limits kread.Limits) (Report, []Progress) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cfg.InputTopics == nil {
		cfg.InputTopics = []string{"in"}
	}
	if cfg.PredictionsTopic == "" {
		cfg.PredictionsTopic, cfg.DeadLetterTopic = "pred", "dlq"
	}
	var prog []Progress
	rep, err := run(ctx, f.opts, cfg, func(p Progress) { prog = append(prog, p) }, limits)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep, prog
}

func ref(r *kgo.Record, count int) Ref {
	return Ref{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Count: count}
}

// sortRefs orders refs the way the report lists duplicates and missing
// records: by topic, partition, offset.
func sortRefs(refs []Ref) []Ref {
	slices.SortFunc(refs, func(a, b Ref) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return refs
}

func counts(r Report) [8]int64 {
	return [8]int64{r.Inputs, r.Predictions, r.DeadLetters, r.Duplicates, r.Missing, r.Orphans, r.Malformed, r.Ignored}
}

func checkCounts(t *testing.T, got Report, want [8]int64) {
	t.Helper()
	if c := counts(got); c != want {
		t.Errorf("counts [inputs preds dlq dup missing orphans malformed ignored] = %v, want %v\nreport: %+v", c, want, got)
	}
}

func splitOutputs(outs []*kgo.Record) (preds, dlqs int64) {
	for _, o := range outs {
		if o.Topic == "pred" {
			preds++
		} else {
			dlqs++
		}
	}
	return
}

func TestClean(t *testing.T) {
	f := newFixture(t)
	f.writeClean(t, nil)
	var fetches atomic.Int64
	f.cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		fetches.Add(1)
		return nil, nil, false // observe only
	})

	for _, tc := range []struct {
		name       string
		limits     kread.Limits
		minFetches int64
	}{
		{"default limits", kread.DefaultLimits, 2},
		// One batch per partition per fetch: 18 input batches and 10
		// output batches, spread over 2 brokers, take many rounds.
		// (The request-level maxBytes stays large: when kfake truncates a
		// response at the request's MaxBytes in the middle of a partition,
		// it leaves out that partition's AbortedTransactions, and aborted
		// records then look committed. Real Kafka does not do that.)
		{"one batch per fetch", kread.Limits{MaxWait: 100 * time.Millisecond, MaxBytes: 1 << 20, PartMaxBytes: 1}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fetches.Store(0)
			rep, prog := f.runWith(t, Config{}, tc.limits)

			preds, dlqs := splitOutputs(f.outputsExcept(nil))
			checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds, dlqs, 0, 0, 0, 0, 0})
			if !rep.Clean {
				t.Errorf("Clean = false, want true: %+v", rep)
			}
			if rep.Partitions != 3 {
				t.Errorf("Partitions = %d, want 3", rep.Partitions)
			}
			if n := fetches.Load(); n < tc.minFetches {
				t.Errorf("%d fetch requests, want at least %d", n, tc.minFetches)
			}
			// Progress ends with each phase fully read.
			last := map[string]Progress{}
			for _, p := range prog {
				last[p.Phase] = p
			}
			for _, ph := range []string{PhaseInputs, PhaseOutputs} {
				if p := last[ph]; p.Total == 0 || p.Read != p.Total {
					t.Errorf("last %s progress = %+v, want Read == Total > 0", ph, p)
				}
			}
		})
	}
}

// TestFetchRetries: the first fetch answers NOT_LEADER_OR_FOLLOWER for every
// partition, the second drops the connection. The audit refreshes metadata,
// retries and still reads everything exactly once.
func TestFetchRetries(t *testing.T) {
	f := newFixture(t)
	f.writeClean(t, nil)
	var notLeader, dropped atomic.Bool
	f.cluster.ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.FetchRequest)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = req.Version
		for _, rt := range req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		notLeader.Store(true)
		return resp, nil, true
	})
	f.cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		dropped.Store(true)
		return nil, errors.New("injected: close the connection"), true
	})

	rep, _ := f.run(t, Config{})
	if !notLeader.Load() || !dropped.Load() {
		t.Fatalf("faults fired: not leader %v, dropped %v; want both", notLeader.Load(), dropped.Load())
	}
	preds, dlqs := splitOutputs(f.outputsExcept(nil))
	checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds, dlqs, 0, 0, 0, 0, 0})
}

func TestDuplicates(t *testing.T) {
	f := newFixture(t)
	f.writeClean(t, nil)
	a, b := f.committed[4], f.committed[13]
	extra := []*kgo.Record{outputFor(a), output("dlq", "in", b.Partition, b.Offset), output("pred", "in", b.Partition, b.Offset)}
	txn(t, f.prod, true, extra...)

	rep, _ := f.run(t, Config{})
	preds, dlqs := splitOutputs(append(f.outputsExcept(nil), extra...))
	checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds, dlqs, 3, 0, 0, 0, 0})
	if want := sortRefs([]Ref{ref(a, 2), ref(b, 3)}); !reflect.DeepEqual(rep.DuplicateList, want) {
		t.Errorf("DuplicateList = %v, want %v", rep.DuplicateList, want)
	}
	if rep.Clean {
		t.Error("Clean = true with duplicates")
	}

	// The list is capped, the count is not.
	rep, _ = f.run(t, Config{MaxListed: 1})
	if rep.Duplicates != 3 || len(rep.DuplicateList) != 1 {
		t.Errorf("MaxListed 1: Duplicates = %d, list %v; want 3 and one entry", rep.Duplicates, rep.DuplicateList)
	}
}

func TestMissing(t *testing.T) {
	f := newFixture(t)
	gone := []*kgo.Record{f.committed[5], f.committed[13], f.committed[17]}
	f.writeClean(t, func(r *kgo.Record) bool { return slices.Contains(gone, r) })

	rep, _ := f.run(t, Config{})
	preds, dlqs := splitOutputs(f.outputsExcept(func(r *kgo.Record) bool { return slices.Contains(gone, r) }))
	checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds, dlqs, 0, 3, 0, 0, 0})
	want := sortRefs([]Ref{ref(gone[0], 0), ref(gone[1], 0), ref(gone[2], 0)})
	if !reflect.DeepEqual(rep.MissingList, want) {
		t.Errorf("MissingList = %v, want %v", rep.MissingList, want)
	}
	if rep.Clean {
		t.Error("Clean = true with missing outputs")
	}
}

func TestOrphans(t *testing.T) {
	f := newFixture(t)
	f.writeClean(t, nil)
	ab := f.aborted[0]
	orphans := []*kgo.Record{
		output("pred", "in", ab.Partition, ab.Offset), // an aborted input record
		output("pred", "in", 0, f.marker),             // a commit marker
		output("dlq", "in", 1, 1_000_000),             // past the end
		output("dlq", "in", 7, 0),                     // a partition "in" does not have
	}
	foreign := output("pred", "other", 0, 0) // a topic not audited: ignored
	txn(t, f.prod, true, append(slices.Clone(orphans), foreign)...)

	rep, _ := f.run(t, Config{})
	preds, dlqs := splitOutputs(f.outputsExcept(nil))
	checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds + 3, dlqs + 2, 0, 0, 4, 0, 1})
	got := map[string]bool{}
	for _, r := range rep.OrphanList {
		if r.Output == "" {
			t.Errorf("orphan %v does not say which output names it", r)
		}
		got[fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)] = true
	}
	for _, o := range orphans {
		k := fmt.Sprintf("in/%s@%s", o.Headers[1].Value, o.Headers[2].Value)
		if !got[k] {
			t.Errorf("orphan %s not listed in %v", k, rep.OrphanList)
		}
	}
	if rep.Clean {
		t.Error("Clean = true with orphans")
	}
}

func TestMalformed(t *testing.T) {
	f := newFixture(t)
	f.writeClean(t, nil)
	c := f.committed[0]
	bad := func(hs ...string) *kgo.Record {
		r := &kgo.Record{Topic: "dlq", Partition: 0, Value: []byte("x")}
		for i := 0; i < len(hs); i += 2 {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: hs[i], Value: []byte(hs[i+1])})
		}
		return r
	}
	p, o := strconv.Itoa(int(c.Partition)), strconv.FormatInt(c.Offset, 10)
	txn(t, f.prod, true,
		bad(),
		bad(sink.HeaderSourceTopic, "in", sink.HeaderSourcePartition, p, sink.HeaderSourceOffset, "abc"),
		bad(sink.HeaderSourceTopic, "in", sink.HeaderSourcePartition, "-1", sink.HeaderSourceOffset, o),
		bad(sink.HeaderSourceTopic, "in", sink.HeaderSourcePartition, p, sink.HeaderSourceOffset, o, sink.HeaderSourceOffset, o),
	)
	rep, _ := f.run(t, Config{})
	preds, dlqs := splitOutputs(f.outputsExcept(nil))
	checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds, dlqs + 4, 0, 0, 0, 4, 0})
	if len(rep.MalformedList) != 4 || rep.MalformedList[0].Topic != "dlq" {
		t.Errorf("MalformedList = %v, want the 4 dlq records", rep.MalformedList)
	}
	if rep.Clean {
		t.Error("Clean = true with malformed outputs")
	}
}

// TestGroupBounded commits group offsets by hand: in/0 halfway, in/1 at its
// end, in/2 not at all. Only offsets below the committed ones need outputs;
// outputs past them are ignored.
func TestGroupBounded(t *testing.T) {
	f := newFixture(t)
	byPart := map[int32][]*kgo.Record{}
	for _, r := range f.committed {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	cut := byPart[0][3].Offset // in/0: records below cut are committed input

	adm := kadm.NewClient(f.prod)
	ctx := context.Background()
	lso, err := adm.ListCommittedOffsets(ctx, "in")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	end1, _ := lso.Lookup("in", 1)
	var commit kadm.Offsets
	commit.AddOffset("in", 0, cut, -1)
	commit.AddOffset("in", 1, end1.Offset, -1)
	resp, err := adm.CommitOffsets(ctx, "scorers", commit)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit offsets: %v", err)
	}

	// Outputs for everything except one record below the cut on in/0;
	// records at or past the cut and all of in/2 are ignored.
	gone := byPart[0][1]
	f.writeClean(t, func(r *kgo.Record) bool { return r == gone })
	var covered, ignoredOuts int64
	for _, r := range f.committed {
		switch {
		case r.Partition == 1, r.Partition == 0 && r.Offset < cut:
			covered++
		case r != gone:
			ignoredOuts++
		}
	}
	rep, _ := f.run(t, Config{Group: "scorers"})
	preds, dlqs := splitOutputs(f.outputsExcept(func(r *kgo.Record) bool { return r == gone }))
	checkCounts(t, rep, [8]int64{covered, preds, dlqs, 0, 1, 0, 0, ignoredOuts})
	if want := []Ref{ref(gone, 0)}; !reflect.DeepEqual(rep.MissingList, want) {
		t.Errorf("MissingList = %v, want %v", rep.MissingList, want)
	}
	if len(rep.Warnings) != 1 {
		t.Errorf("Warnings = %q, want one about in/2 having no committed offset", rep.Warnings)
	}

	// Without the group, everything committed must be covered.
	rep, _ = f.run(t, Config{})
	checkCounts(t, rep, [8]int64{int64(len(f.committed)), preds, dlqs, 0, 1, 0, 0, 0})
}

func TestTimeRange(t *testing.T) {
	f := newFixture(t)
	from, to := t0.Add(3*time.Minute), t0.Add(14*time.Minute)
	inRange := func(r *kgo.Record) bool { return !r.Timestamp.Before(from) && r.Timestamp.Before(to) }
	var gone *kgo.Record
	var covered int64
	for _, r := range f.committed {
		if inRange(r) {
			covered++
			gone = r
		}
	}
	// Outputs for all but one in-range record; out-of-range ones are ignored.
	f.writeClean(t, func(r *kgo.Record) bool { return r == gone })
	rep, _ := f.run(t, Config{FromTime: from, ToTime: to})
	preds, dlqs := splitOutputs(f.outputsExcept(func(r *kgo.Record) bool { return r == gone }))
	ignoredOuts := int64(len(f.committed)) - covered
	checkCounts(t, rep, [8]int64{covered, preds, dlqs, 0, 1, 0, 0, ignoredOuts})
	if want := []Ref{ref(gone, 0)}; !reflect.DeepEqual(rep.MissingList, want) {
		t.Errorf("MissingList = %v, want %v", rep.MissingList, want)
	}
}

func TestRunErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantCfg bool
	}{
		{"no inputs", Config{PredictionsTopic: "pred"}, true},
		{"no predictions", Config{InputTopics: []string{"in"}}, true},
		{"input is output", Config{InputTopics: []string{"pred"}, PredictionsTopic: "pred"}, true},
		{"same outputs", Config{InputTopics: []string{"in"}, PredictionsTopic: "pred", DeadLetterTopic: "pred"}, true},
		{"empty range", Config{InputTopics: []string{"in"}, PredictionsTopic: "pred", FromTime: t0, ToTime: t0}, true},
		{"unknown topic", Config{InputTopics: []string{"nope"}, PredictionsTopic: "pred"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(ctx, f.opts, tc.cfg, nil)
			if err == nil {
				t.Fatal("Run: nil error")
			}
			if errors.Is(err, ErrConfig) != tc.wantCfg {
				t.Errorf("errors.Is(%v, ErrConfig) = %v, want %v", err, !tc.wantCfg, tc.wantCfg)
			}
		})
	}
}
