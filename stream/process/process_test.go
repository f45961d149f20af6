package process_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

// fixture is a processor over an in-memory registry with the demo's feature spec.
type fixture struct {
	reg      *srfake.Registry
	proc     *process.Processor
	st       *state.Partition
	schemaID int
	gen      *gen.Generator
}

// logisticNeedsMean is scored only when mean_24h is present: an entity's first
// event has no mean, so its record is dead-lettered with class "score".
const logisticNeedsMean = `{"format":"logistic","version":1,"features":["log_amount","mean_24h"],
 "intercept":-3,"coefficients":{"log_amount":0.3,"mean_24h":0.001}}`

func newFixture(t testing.TB, modelJSON string) *fixture { return newFixtureCards(t, modelJSON, 50) }

func newFixtureCards(t testing.TB, modelJSON string, cards int) *fixture {
	return newFixtureEdit(t, modelJSON, cards, nil)
}

// newFixtureEdit is newFixtureCards with the demo config changed by edit first.
func newFixtureEdit(t testing.TB, modelJSON string, cards int, edit func(*config.Config)) *fixture {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, reg.URL(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	if modelJSON != "" {
		cfg.Model.Path = filepath.Join(t.TempDir(), "m.json")
		if err := os.WriteFile(cfg.Model.Path, []byte(modelJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(cfg.Model.Path, cfg.Model.Format)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := process.NewScorer(m, "fraud", "1", cfg.Model.Thresholds, spec)
	if err != nil {
		t.Fatal(err)
	}
	rcl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decode.New(decode.SRRegistry{Client: rcl}, decode.Config{Paths: spec.Paths()})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := reg.RegisterSchema("payments-value", sr.Schema{Schema: gen.Schema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	pid, _, err := reg.RegisterSchema("predictions-value", sr.Schema{Schema: sink.PredictionSchema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.NewPartition(state.Config{Limits: spec.Limits(), MaxEntities: 1000})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gen.New(gen.Config{Seed: 3, Cards: cards, SchemaID: id})
	if err != nil {
		t.Fatal(err)
	}
	proc := process.New(process.Config{PredictionsTopic: "predictions", DeadLetterTopic: "dlq",
		ChangelogTopic: "changelog", PredictionSchema: pid, FeatureLogging: true,
		Now: func() time.Time { return time.UnixMilli(1_800_000_000_000) }}, dec, spec, &process.Models{Champion: sc})
	return &fixture{reg: reg, proc: proc, st: st, schemaID: id, gen: g}
}

func (f *fixture) record(key, value []byte, offset int64) *kgo.Record {
	return &kgo.Record{Topic: "payments", Partition: 2, Offset: offset, Key: key, Value: value,
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}, Timestamp: time.UnixMilli(1_767_225_600_000)}
}

func frame(id int, body []byte) []byte {
	return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, body...)
}

// TestDeadLetterClasses sends one record of each undecodable or unscorable kind
// and checks the dead letter: class, original bytes and headers, provenance.
func TestDeadLetterClasses(t *testing.T) {
	f := newFixture(t, "")
	good := f.gen.NextRecord()
	if good.Malformed != "" {
		t.Fatal("fixture: first record is malformed")
	}
	_, body, err := decode.SplitFrame(good.Value)
	if err != nil {
		t.Fatal(err)
	}
	// A schema whose event_time is a string: decodable, but no event time.
	badTime := `{"type":"record","name":"P","fields":[{"name":"event_id","type":"string"},{"name":"event_time","type":"string"},{"name":"amount","type":"double"}]}`
	btID, _, err := f.reg.RegisterSchema("other-value", sr.Schema{Schema: badTime, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(badTime)
	if err != nil {
		t.Fatal(err)
	}
	btBody, err := codec.BinaryFromNative(nil, map[string]any{"event_id": "x", "event_time": "yesterday", "amount": 1.0})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, class string
		key, value  []byte
	}{
		{"bad magic byte", decode.ClassBadMagic, []byte("k"), append([]byte{1}, good.Value[1:]...)},
		{"empty value", decode.ClassTruncated, []byte("k"), nil},
		{"short header", decode.ClassTruncated, []byte("k"), []byte{0, 0, 1}},
		{"avro body cut short", decode.ClassTruncated, []byte("k"), frame(f.schemaID, body[:len(body)/2])},
		{"trailing bytes", decode.ClassAvro, []byte("k"), frame(f.schemaID, append(append([]byte{}, body...), 7))},
		{"unknown schema id", decode.ClassSchemaNotFound, []byte("k"), frame(424242, body)},
		{"no key", process.ClassMissingKey, nil, good.Value},
		{"event time not a timestamp", process.ClassFeature, []byte("k"), frame(btID, btBody)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := f.record(c.key, c.value, int64(100+i))
			res, err := f.proc.Process(context.Background(), in, f.st)
			if err != nil {
				t.Fatalf("error instead of a dead letter: %v", err)
			}
			if res.DeadLetter != c.class {
				t.Fatalf("class %q (%v), want %q", res.DeadLetter, res.Err, c.class)
			}
			if len(res.Records) != 1 {
				t.Fatalf("%d output records, want the dead letter alone", len(res.Records))
			}
			dl := res.Records[0]
			if dl.Topic != "dlq" || string(dl.Key) != string(c.key) || string(dl.Value) != string(c.value) {
				t.Fatalf("dead letter %s key %q value %x: not the original record", dl.Topic, dl.Key, dl.Value)
			}
			h := headers(dl)
			want := map[string]string{"trace": "abc", sink.HeaderSourceTopic: "payments", sink.HeaderSourcePartition: "2",
				sink.HeaderSourceOffset: strconv.Itoa(100 + i), sink.HeaderErrorClass: c.class}
			for k, v := range want {
				if h[k] != v {
					t.Fatalf("header %s = %q, want %q", k, h[k], v)
				}
			}
			if h[sink.HeaderErrorMessage] == "" {
				t.Fatal("no error message header")
			}
			if f.st.Staged() != 0 {
				t.Fatal("a dead-lettered record staged state")
			}
		})
	}
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// TestScoreFailureDeadLetters: a logistic model cannot score a missing input.
func TestScoreFailureDeadLetters(t *testing.T) {
	f := newFixture(t, logisticNeedsMean)
	r := f.gen.NextRecord()
	res, err := f.proc.Process(context.Background(), f.record(r.Key, r.Value, 1), f.st)
	if err != nil {
		t.Fatal(err)
	}
	if res.DeadLetter != process.ClassScore || !errors.Is(res.Err, model.ErrMissingInput) {
		t.Fatalf("class %q err %v, want score / missing input", res.DeadLetter, res.Err)
	}
}

// TestRegistryUnavailableIsRetry: a registry answering 503 must not produce a
// dead letter.
func TestRegistryUnavailableIsRetry(t *testing.T) {
	f := newFixture(t, "")
	f.reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	r := f.gen.NextRecord()
	_, err := f.proc.Process(context.Background(), f.record(r.Key, r.Value, 1), f.st)
	if !errors.Is(err, process.ErrRetry) || !errors.Is(err, decode.ErrRegistryUnavailable) {
		t.Fatalf("err %v, want a retry (registry unavailable)", err)
	}
}

// TestPredictionDecodes: the hand-written prediction encoding is read by goavro
// with the registered schema, and the state change is staged and encoded.
func TestPredictionDecodes(t *testing.T) {
	f := newFixture(t, "")
	codec, err := goavro.NewCodec(sink.PredictionSchema)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		r := f.gen.NextRecord()
		res, err := f.proc.Process(context.Background(), f.record(r.Key, r.Value, int64(i)), f.st)
		if err != nil || res.DeadLetter != "" {
			t.Fatalf("record %d: %v %v", i, err, res.Err)
		}
		pred := res.Records[0]
		_, body, err := decode.SplitFrame(pred.Value)
		if err != nil {
			t.Fatal(err)
		}
		native, rest, err := codec.NativeFromBinary(body)
		if err != nil || len(rest) != 0 {
			t.Fatalf("prediction does not decode: %v (%d bytes left)", err, len(rest))
		}
		p := native.(map[string]any)
		if p["event_id"] != r.Event.EventID || p["entity_key"] != string(r.Key) || p["score"] != res.Score ||
			p["source_offset"] != int64(i) || p["source_partition"] != int32(2) || p["decision"] != res.Decision {
			t.Fatalf("prediction %v does not match the result %+v", p, res)
		}
		if p["event_time"].(time.Time).UnixMilli() != r.Event.EventTime.UnixMilli() {
			t.Fatalf("event time %v, want %v", p["event_time"], r.Event.EventTime)
		}
		feats := p["features"].(map[string]any)["map"].(map[string]any)
		if len(feats) != len(f.proc.Spec().Names()) {
			t.Fatalf("%d logged features, want %d", len(feats), len(f.proc.Spec().Names()))
		}
		cl := f.proc.Changelog(nil, 2, f.st)
		if len(res.Records) != 1 || len(cl) != 1 {
			t.Fatalf("%d records and %d changelog records, want 1 and 1", len(res.Records), len(cl))
		}
		changelog := cl[0]
		if changelog.Topic != "changelog" || changelog.Partition != 2 || string(changelog.Key) != string(r.Key) {
			t.Fatalf("changelog record %s/%d key %q", changelog.Topic, changelog.Partition, changelog.Key)
		}
		e, _, err := state.Decode(f.proc.Spec().Limits().Layout, changelog.Value)
		if err != nil || e.Last != r.Event.EventTime.UnixMilli() {
			t.Fatalf("changelog state %+v %v", e, err)
		}
		f.st.Commit()
	}
}

// BenchmarkProcess is the whole per-event path as the loop runs it: decode
// (codec cached), features and state (Prepare) for each record, then, per
// transaction of 100 records, score and encode the predictions (Finish) and the
// changelog records.
//
//	go test ./stream/process -run '^$' -bench . -benchmem -cpu 1
func BenchmarkProcess(b *testing.B) {
	for _, c := range []struct{ name, model string }{
		{"logistic", `{"format":"logistic","version":1,"features":["log_amount","count_10m","merchants_24h","sum_1h"],"intercept":-4,"coefficients":{"log_amount":0.35,"count_10m":0.45,"merchants_24h":0.25,"sum_1h":0.0005}}`},
		{"xgboost-demo-120-trees", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixtureCards(b, c.model, 1000) // the demo's card count
			recs := make([]*kgo.Record, 50000)
			for i := range recs {
				r := f.gen.NextRecord()
				recs[i] = f.record(r.Key, r.Value, int64(i))
			}
			ctx := context.Background()
			var cl []*kgo.Record
			var pending []process.Pending
			clBytes, clRecords := 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
			for i := 0; i < b.N; i++ {
				if i%len(recs) == 0 { // replaying from the start: fresh state, as for a new partition
					f.st, _ = state.NewPartition(state.Config{Limits: f.proc.Spec().Limits(), MaxEntities: 100000})
				}
				pe, err := f.proc.Prepare(ctx, recs[i%len(recs)], f.st)
				if err != nil {
					b.Fatal(err)
				}
				pending = append(pending, pe)
				if i%100 == 99 { // a transaction ends: its predictions, its changelog (one record per entity)
					if res := f.proc.Finish(pending); len(res) != len(pending) || len(res[0].Records) == 0 {
						b.Fatalf("%d results for %d records", len(res), len(pending))
					}
					pending = pending[:0]
					cl = f.proc.Changelog(cl[:0], 2, f.st)
					for _, r := range cl {
						clBytes += len(r.Value)
					}
					clRecords += len(cl)
					f.st.Commit()
					f.proc.Release(true) // the transaction ended: its records' memory is reused, as the loop does
				}
			}
			if clRecords > 0 {
				b.ReportMetric(float64(clBytes)/float64(clRecords), "changelog-B/record")
				b.ReportMetric(float64(clRecords)/float64(b.N), "changelog-records/event")
			}
		})
	}
}

// batching wraps a model with a ScoreBatch that counts its calls.
type batching struct {
	model.Model
	calls, rows int
}

func (b *batching) Check(x []float64) error { return b.Model.(model.Checker).Check(x) }

func (b *batching) ScoreBatch(dst []float64, rows [][]float64) []float64 {
	b.calls++
	b.rows += len(rows)
	for _, r := range rows {
		dst = append(dst, b.Model.Score(r))
	}
	return dst
}

// TestFinishBatches: a batching model scores all of a transaction's prepared
// records in one call, with the same scores and dead letters as one at a time.
func TestFinishBatches(t *testing.T) {
	one := newFixture(t, logisticNeedsMean)
	batched := newFixture(t, logisticNeedsMean)
	bm := &batching{Model: batched.proc.Models().Champion.Model}
	sc, err := process.NewScorer(bm, "fraud", "1", nil, batched.proc.Spec())
	if err != nil {
		t.Fatal(err)
	}
	batched.proc.SetModels(&process.Models{Champion: sc})
	want, pes := processAndPrepare(t, one, batched, 300)
	got := batched.proc.Finish(pes)
	if bm.calls != 1 {
		t.Fatalf("%d ScoreBatch calls for one transaction, want 1", bm.calls)
	}
	dead := 0
	for i := range want {
		if got[i].DeadLetter != want[i].DeadLetter || got[i].Score != want[i].Score || len(got[i].Records) != len(want[i].Records) {
			t.Fatalf("record %d: batched %q %v (%d records), one at a time %q %v (%d records)", i,
				got[i].DeadLetter, got[i].Score, len(got[i].Records), want[i].DeadLetter, want[i].Score, len(want[i].Records))
		}
		if want[i].DeadLetter != "" {
			dead++
		}
	}
	if dead == 0 || bm.rows != 300-dead {
		t.Fatalf("%d dead letters, %d rows batched: want some refused by Check and the rest batched", dead, bm.rows)
	}
}

// cpuTime is the process's user and system CPU time so far, in ns: a per-event
// figure from it holds on a loaded machine, where wall time per op does not.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestAbsentFeatures: a record whose writer schema has no field at a feature's
// path reports that feature as absent (the loop counts it in
// scorestream_feature_absent_total); a record of the full schema reports none.
func TestAbsentFeatures(t *testing.T) {
	f := newFixture(t, "")
	full := f.gen.NextRecord()
	res, err := f.proc.Process(context.Background(), f.record([]byte("card-1"), full.Value, 1), f.st)
	if err != nil || res.DeadLetter != "" {
		t.Fatalf("full record: %v %v", err, res.Err)
	}
	if len(res.Absent) != 0 {
		t.Fatalf("full schema: absent %v", res.Absent)
	}
	const minimal = `{"type":"record","name":"P","fields":[{"name":"event_id","type":"string"},
		{"name":"event_time","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"amount","type":"double"}]}`
	id, _, err := f.reg.RegisterSchema("minimal-value", sr.Schema{Schema: minimal, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(minimal)
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.BinaryFromNative(nil, map[string]any{"event_id": "e1", "event_time": time.UnixMilli(1_767_225_600_000), "amount": 3.0})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second time from the processor's cache
		res, err = f.proc.Process(context.Background(), f.record([]byte("card-1"), frame(id, body), int64(2+i)), f.st)
		if err != nil || res.DeadLetter != "" {
			t.Fatalf("minimal record: %v %v", err, res.Err)
		}
		var names []string
		for _, j := range res.Absent {
			names = append(names, f.proc.Spec().Names()[j])
		}
		if !slices.Contains(names, "channel_idx") || !slices.Contains(names, "device_age_days") || slices.Contains(names, "amount") || slices.Contains(names, "hour") {
			t.Fatalf("absent %v, want channel_idx and device_age_days, not amount or hour", names)
		}
	}
}

// TestLoggedFeaturesKeepMissing: with feature logging, a missing value is logged
// as null even when the feature has a default, and the model is given the
// default (a logistic model over the feature alone shows which value it got).
func TestLoggedFeaturesKeepMissing(t *testing.T) {
	const def = -1.0
	f := newFixtureEdit(t, `{"format":"logistic","version":1,"features":["device_age_days"],"intercept":0,"coefficients":{"device_age_days":1}}`, 50,
		func(c *config.Config) {
			for i := range c.Features {
				if c.Features[i].Name == "device_age_days" {
					d := def
					c.Features[i].Default = &d
				}
			}
		})
	codec, err := goavro.NewCodec(sink.PredictionSchema)
	if err != nil {
		t.Fatal(err)
	}
	var missing, present int
	for i := 0; i < 200 && (missing == 0 || present == 0); i++ {
		r := f.gen.NextRecord()
		res, err := f.proc.Process(context.Background(), f.record(r.Key, r.Value, int64(i)), f.st)
		if err != nil || res.DeadLetter != "" {
			t.Fatalf("record %d: %v %v", i, err, res.Err)
		}
		_, body, err := decode.SplitFrame(res.Records[0].Value)
		if err != nil {
			t.Fatal(err)
		}
		native, _, err := codec.NativeFromBinary(body)
		if err != nil {
			t.Fatal(err)
		}
		logged := native.(map[string]any)["features"].(map[string]any)["map"].(map[string]any)["device_age_days"]
		x := def
		if age := r.Event.DeviceAgeDays; age == nil {
			missing++
			if logged != nil {
				t.Fatalf("record %d: missing device age logged as %v, want null", i, logged)
			}
		} else {
			present++
			x = float64(*age)
			if v, ok := logged.(map[string]any)["double"]; !ok || v != x {
				t.Fatalf("record %d: device age %v logged as %v", i, x, logged)
			}
		}
		if want := 1 / (1 + math.Exp(-x)); math.Abs(res.Score-want) > 1e-12 {
			t.Fatalf("record %d: score %v, want %v (the model given %v)", i, res.Score, want, x)
		}
		f.st.Commit()
	}
	if missing == 0 || present == 0 {
		t.Fatalf("generator gave %d missing and %d present device ages: the test proves nothing", missing, present)
	}
}

// threeClass turns a binary model into a three-class one: class 1 is the
// binary score, classes 0 and 2 share the rest.
type threeClass struct{ model.Model }

func (m threeClass) Info() model.Info {
	i := m.Model.Info()
	i.Classes, i.Objective = 3, "multiclass"
	return i
}

func (m threeClass) ScoreAll(dst, x []float64) []float64 {
	s := m.Model.Score(x)
	return append(dst, (1-s)/4, s, 3*(1-s)/4)
}

// TestPredictionClassScores: a multiclass champion's predictions carry every
// class's probability in class_scores, the score among them; a binary
// model's carry null.
func TestPredictionClassScores(t *testing.T) {
	codec, err := goavro.NewCodec(sink.PredictionSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, multi := range []bool{false, true} {
		f := newFixture(t, "")
		if multi {
			ch := f.proc.Models().Champion
			sc, err := process.NewScorer(threeClass{ch.Model}, ch.Name, ch.Version, nil, f.proc.Spec())
			if err != nil {
				t.Fatal(err)
			}
			f.proc.SetModels(&process.Models{Champion: sc})
		}
		for i := 0; i < 20; i++ {
			r := f.gen.NextRecord()
			res, err := f.proc.Process(context.Background(), f.record(r.Key, r.Value, int64(i)), f.st)
			if err != nil || res.DeadLetter != "" {
				t.Fatalf("record %d: %v %v", i, err, res.Err)
			}
			_, body, err := decode.SplitFrame(res.Records[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			native, _, err := codec.NativeFromBinary(body)
			if err != nil {
				t.Fatal(err)
			}
			cs := native.(map[string]any)["class_scores"]
			if !multi {
				if cs != nil {
					t.Fatalf("binary model: class_scores %v, want null", cs)
				}
				continue
			}
			arr, _ := cs.(map[string]any)["array"].([]any)
			if len(arr) != 3 || arr[1] != res.Score || math.Abs(arr[0].(float64)*3-arr[2].(float64)) > 1e-12 {
				t.Fatalf("multiclass: class_scores %v, score %v", cs, res.Score)
			}
			f.st.Commit()
		}
	}
}

// processAndPrepare feeds n generated records to one (Process, record by
// record: the reference) and the same records to other (Prepare only, for a
// later Finish or Score), and returns both.
func processAndPrepare(t *testing.T, one, other *fixture, n int) (want []process.Result, pes []process.Pending) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		r := one.gen.NextRecord()
		w, err := one.proc.Process(ctx, one.record(r.Key, r.Value, int64(i)), one.st)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, w)
		pe, err := other.proc.Prepare(ctx, other.record(r.Key, r.Value, int64(i)), other.st)
		if err != nil {
			t.Fatal(err)
		}
		pes = append(pes, pe)
	}
	return want, pes
}

// TestReleaseReusesMemory: after Release(true) the next transactions' records
// are written into the memory of earlier ones (the point of Release), and
// every record still has the bytes a processor that never reuses gives; after
// Release(false) nothing is reused.
func TestReleaseReusesMemory(t *testing.T) {
	for _, done := range []bool{true, false} {
		t.Run(strconv.FormatBool(done), func(t *testing.T) {
			reusing, fresh := newFixture(t, ""), newFixture(t, "")
			ctx := context.Background()
			type out struct{ topic, key, value, headers string }
			flat := func(rs []*kgo.Record) (o []out) {
				for _, r := range rs {
					var hs []byte
					for _, h := range r.Headers {
						hs = append(append(append(hs, h.Key...), 0), h.Value...)
					}
					o = append(o, out{r.Topic, string(r.Key), string(r.Value), string(hs)})
				}
				return o
			}
			txn := func(f *fixture, off int64, n int) (rs []*kgo.Record) {
				var pes []process.Pending
				for i := range n {
					r := f.gen.NextRecord()
					pe, err := f.proc.Prepare(ctx, f.record(r.Key, r.Value, off+int64(i)), f.st)
					if err != nil {
						t.Fatal(err)
					}
					pes = append(pes, pe)
				}
				for _, res := range f.proc.Finish(pes) {
					rs = append(rs, res.Records...)
				}
				rs = f.proc.Changelog(rs, 2, f.st)
				f.st.Commit()
				return rs
			}
			seen := map[*byte]bool{} // where the records' bytes began
			reused := 0
			for k := range 12 {
				got := txn(reusing, int64(k*40), 40)
				want := flat(txn(fresh, int64(k*40), 40))
				if g := flat(got); !slices.Equal(g, want) {
					t.Fatalf("transaction %d: %d records differ from a processor that does not reuse memory", k, len(g))
				}
				for _, r := range got {
					b := r.Value // a prediction's value, a changelog record's key (its value is the state's)
					if r.Topic == "changelog" {
						b = r.Key
					}
					if len(b) > 0 {
						if seen[&b[0]] {
							reused++
						}
						seen[&b[0]] = true
					}
				}
				reusing.proc.Release(done)
			}
			if done && reused == 0 {
				t.Fatal("Release(true): no later record reused an earlier one's memory")
			}
			if !done && reused > 0 {
				t.Fatalf("Release(false): %d records reused memory", reused)
			}
		})
	}
}
