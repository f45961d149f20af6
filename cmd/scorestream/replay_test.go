package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"gopkg.in/yaml.v3"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/eval/evaltest"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/replay"
	"github.com/scorestream/scorestream/stream"
)

// replayFixture is the demo flow on an embedded broker, run live to the end of
// its input, with feature logging on.
type replayFixture struct {
	env        *demo.Env
	cfgPath    string
	modelPath  string
	partitions int32
	events     int // input records, malformed included
	malformed  int
}

func newReplayFixture(t *testing.T, events int) *replayFixture {
	t.Helper()
	const partitions = 4
	env, err := demo.Start(partitions, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	dir := t.TempDir()
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "demo", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c["kafka"] = map[string]any{"brokers": env.Brokers}
	c["registry"] = map[string]any{"urls": []string{env.RegistryURL}}
	c["model"].(map[string]any)["path"] = cfg.Model.Path
	c["output"].(map[string]any)["feature_logging"] = true
	c["stream"].(map[string]any)["max_records_per_txn"] = 97 // many transactions
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	f := &replayFixture{env: env, cfgPath: filepath.Join(dir, "config.yaml"), modelPath: cfg.Model.Path, partitions: partitions}
	if err := os.WriteFile(f.cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prod, err := demo.NewProducer(ctx, env.Brokers, env.RegistryURL, "payments", gen.Config{Seed: 5, Cards: 150, MalformedRate: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Produce(ctx, events, 0); err != nil {
		t.Fatal(err)
	}
	f.events = events
	for _, n := range prod.Malformed {
		f.malformed += n
	}

	live, err := config.Load(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := stream.Prepare(ctx, live, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	loop, err := shared.NewLoop("live-0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- loop.Run(lctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("live loop: %v", err)
		}
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, "payments")
		if err != nil {
			t.Fatal(err)
		}
		fo, err := adm.FetchOffsets(ctx, live.Stream.Group)
		caught := err == nil
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := fo.Lookup(o.Topic, o.Partition)
			caught = caught && ok && c.At >= o.Offset
		})
		if caught {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("live loop did not catch up")
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	return f
}

// livePredictions reads the committed predictions topic.
func (f *replayFixture) livePredictions(t *testing.T) []replay.Prediction {
	t.Helper()
	return f.readPredictions(t, "predictions")
}

// readPredictions reads and decodes every committed record of topic.
func (f *replayFixture) readPredictions(t *testing.T, topic string) []replay.Prediction {
	t.Helper()
	dec, err := replay.NewPredictionDecoder()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ps := make([]int32, f.partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	var out []replay.Prediction
	err = stream.ReadCommitted(context.Background(), []kgo.Opt{kgo.SeedBrokers(f.env.Brokers...)}, cl, topic, ps, func(r *kgo.Record) error {
		p, err := dec.Decode(r.Value)
		out = append(out, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *replayFixture) replay(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = dispatch(context.Background(), append([]string{"replay", "-c", f.cfgPath, "--progress", "0"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func byModel(ps []replay.Prediction, name string) []replay.Prediction {
	var out []replay.Prediction
	for _, p := range ps {
		if p.Model == name {
			out = append(out, p)
		}
	}
	return out
}

// TestReplayMatchesLive replays what the live loop scored — the whole range,
// then only its second half with state warmed from the log start — and requires
// every replayed prediction to equal the live one bit for bit (score, decision,
// model hash, logged features), with a second model scored on the same pass.
func TestReplayMatchesLive(t *testing.T) {
	f := newReplayFixture(t, 3000)
	live := f.livePredictions(t)
	if len(live) == 0 || len(live) >= f.events {
		t.Fatalf("%d live predictions of %d events", len(live), f.events)
	}

	out := t.TempDir()
	code, stdout, stderr := f.replay(t, "--features", "--out", out,
		"--model", "fraud="+f.modelPath, "--model", "again="+f.modelPath)
	if code != exitOK {
		t.Fatalf("replay: exit %d\n%s%s", code, stdout, stderr)
	}
	rows, err := replay.ReadParquet(filepath.Join(out, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2*len(live) {
		t.Fatalf("%d Parquet rows, want 2 per live prediction (%d)", len(rows), 2*len(live))
	}
	for _, name := range []string{"fraud", "again"} {
		if d := replay.Diff(live, byModel(rows, name)); len(d) > 0 {
			t.Fatalf("model %s: %d differences from live, first: %v", name, len(d), d[:min(5, len(d))])
		}
	}
	var sum replay.Summary
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if sum.Events != int64(len(live)) || sum.DeadLetters != int64(f.events-len(live)) || sum.DeadLetters < int64(f.malformed) {
		t.Errorf("summary: %d events, %d dead letters; live %d predictions of %d records (%d malformed)", sum.Events, sum.DeadLetters, len(live), f.events, f.malformed)
	}
	if !strings.Contains(stdout, "dead letters") {
		t.Errorf("no summary on stdout: %q", stdout)
	}

	// The second half of each partition, state warmed from the log start.
	var mid []string
	for p := int32(0); p < f.partitions; p++ {
		mid = append(mid, fmt.Sprintf("payments:%d=%d", p, sum.ToOffsets["payments"][p]/2))
	}
	out2 := t.TempDir()
	code, stdout, stderr = f.replay(t, "--features", "--out", out2, "--warmup", "all", "--from-offsets", strings.Join(mid, ","))
	if code != exitOK {
		t.Fatalf("replay of the second half: exit %d\n%s%s", code, stdout, stderr)
	}
	half, err := replay.ReadParquet(filepath.Join(out2, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var liveHalf []replay.Prediction
	for _, p := range live {
		if p.SourceOffset >= sum.ToOffsets["payments"][p.SourcePartition]/2 {
			liveHalf = append(liveHalf, p)
		}
	}
	if len(half) == 0 || len(half) != len(liveHalf) {
		t.Fatalf("second half: %d replayed, %d live", len(half), len(liveHalf))
	}
	if d := replay.Diff(liveHalf, half); len(d) > 0 {
		t.Fatalf("second half: %d differences from live, first: %v", len(d), d[:min(5, len(d))])
	}
	var sum2 replay.Summary
	readJSON(t, filepath.Join(out2, "summary.json"), &sum2)
	if sum2.Warmup.Events == 0 {
		t.Errorf("second half: no warm-up records counted")
	}

	// The default warm-up (state.ttl before the first record's timestamp) reaches
	// back to the log start here: the whole run took less than the TTL.
	outD := t.TempDir()
	if code, o, e := f.replay(t, "--features", "--out", outD, "--from-offsets", strings.Join(mid, ",")); code != exitOK {
		t.Fatalf("replay with the default warm-up: exit %d\n%s%s", code, o, e)
	}
	dflt, err := replay.ReadParquet(filepath.Join(outD, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d := replay.Diff(liveHalf, dflt); len(d) > 0 {
		t.Fatalf("second half, default warm-up: %d differences from live, first: %v", len(d), d[:min(5, len(d))])
	}
	var sumD replay.Summary
	readJSON(t, filepath.Join(outD, "summary.json"), &sumD)
	if sumD.Warmup.Events != sum2.Warmup.Events {
		t.Errorf("default warm-up read %d records, --warmup all %d", sumD.Warmup.Events, sum2.Warmup.Events)
	}

	// Without warm-up the state features of the second half start empty: the
	// comparison must see it (the test can fail).
	out3 := t.TempDir()
	if code, o, e := f.replay(t, "--features", "--out", out3, "--warmup", "0", "--from-offsets", strings.Join(mid, ",")); code != exitOK {
		t.Fatalf("replay without warm-up: exit %d\n%s%s", code, o, e)
	}
	cold, err := replay.ReadParquet(filepath.Join(out3, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d := replay.Diff(liveHalf, cold); len(d) == 0 {
		t.Errorf("a replay without warm-up equals live: the state features were not compared")
	}
}

// TestReplayLabels joins labels from a CSV file by event id and counts the
// labels that matched no event.
func TestReplayLabels(t *testing.T) {
	f := newReplayFixture(t, 400)
	live := f.livePredictions(t)
	var csv strings.Builder
	csv.WriteString("id,chargeback\n")
	for i, p := range live[:100] {
		fmt.Fprintf(&csv, "%s,%d\n", p.EventID, i%2)
	}
	csv.WriteString("no-such-event,1\n")
	labels := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(labels, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := f.replay(t, "--out", out, "--labels", labels, "--label-id-column", "id", "--label-column", "chargeback", "--segment", "channel")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	rows, err := replay.ReadParquet(filepath.Join(out, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	segs := map[string]int{}
	for _, r := range rows {
		segs[r.Segment]++
	}
	if segs["pos"] == 0 || segs["ecom"] == 0 {
		t.Errorf("segments %v: want the channel of each event", segs)
	}
	want := map[string]int8{}
	for i, p := range live[:100] {
		want[p.EventID] = int8(i % 2)
	}
	for _, r := range rows {
		if w, ok := want[r.EventID]; (ok && r.Label != w) || (!ok && r.Label != -1) {
			t.Fatalf("event %s: label %d, want %d (labelled %v)", r.EventID, r.Label, w, ok)
		}
	}
	var sum replay.Summary
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if sum.LabelsMatched != 100 || sum.LabelsUnmatched != 1 || sum.LabelsSHA256 == "" {
		t.Errorf("labels: %d matched, %d unmatched, sha256 %q; want 100, 1", sum.LabelsMatched, sum.LabelsUnmatched, sum.LabelsSHA256)
	}

	// The same labels as a Parquet file.
	type labelRow struct {
		ID         string `parquet:"id"`
		Chargeback int32  `parquet:"chargeback"`
	}
	pqPath := filepath.Join(t.TempDir(), "labels.parquet")
	fh, err := os.Create(pqPath)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[labelRow](fh)
	for i, p := range live[:100] {
		if _, err := w.Write([]labelRow{{ID: p.EventID, Chargeback: int32(i % 2)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	out2 := t.TempDir()
	if code, o, e := f.replay(t, "--out", out2, "--labels", pqPath, "--label-id-column", "id", "--label-column", "chargeback"); code != exitOK {
		t.Fatalf("parquet labels: exit %d\n%s%s", code, o, e)
	}
	rows2, err := replay.ReadParquet(filepath.Join(out2, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows2 {
		if w, ok := want[r.EventID]; (ok && r.Label != w) || (!ok && r.Label != -1) {
			t.Fatalf("parquet labels: event %s: label %d, want %d (labelled %v)", r.EventID, r.Label, w, ok)
		}
	}
}

// TestReplayBadUsage: bad ranges, labels and models are exit 2 with a message
// naming the problem, and nothing is written.
func TestReplayBadUsage(t *testing.T) {
	f := newReplayFixture(t, 50)
	labels := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(labels, []byte("event_id,outcome\nx,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"to before from", []string{"--from", "2026-11-08T00:00:00Z", "--to", "2026-11-01T00:00:00Z"}, "is not after --from"},
		{"empty range", []string{"--from", future}, "no records in the range"},
		{"missing label column", []string{"--labels", labels}, `no column "label"`},
		{"unknown model file", []string{"--model", "x=/no/such/model.json"}, "--model x"},
		{"bad offsets", []string{"--from-offsets", "payments:zero=1"}, "--from-offsets"},
		{"unknown partition", []string{"--from-offsets", "payments:99=1"}, "no partition 99"},
		{"from after to", []string{"--from-offsets", "payments:0=5", "--to-offsets", "payments:0=2"}, "is after end offset"},
		{"two starts", []string{"--from", future, "--from-group", "g"}, "at most one of"},
		{"bad unlabeled", []string{"--unlabeled", "maybe"}, "--unlabeled"},
		{"bad cost", []string{"--cost", "fp=1"}, "give both"},
		{"live topic", []string{"--to-topic", "predictions"}, "a topic of the live pipeline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := f.replay(t, append(tc.args, "--out", out)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q (stdout %q)", code, stderr, tc.want, stdout)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Fatalf("wrote %v", ents)
			}
		})
	}
}

// TestReplayPyarrow checks that pyarrow reads the Parquet file as-is, with one
// row per event per model. It needs SCORESTREAM_PYTHON, a Python with pyarrow
// (scripts/test.sh sets it to the project venv: scripts/pyenv.sh).
func TestReplayPyarrow(t *testing.T) {
	py := os.Getenv("SCORESTREAM_PYTHON")
	if py == "" {
		t.Skip("SCORESTREAM_PYTHON not set (scripts/test.sh runs this with the project venv)")
	}
	f := newReplayFixture(t, 500)
	live := f.livePredictions(t)
	out := t.TempDir()
	if code, o, e := f.replay(t, "--features", "--out", out, "--model", "a="+f.modelPath, "--model", "b="+f.modelPath); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
	script := `import sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
d = t.to_pydict()
events = len(set(d["event_id"]))
per = {}
for e, m in zip(d["event_id"], d["model"]):
    per[(e, m)] = per.get((e, m), 0) + 1
assert all(v == 1 for v in per.values()), "an event has two rows for one model"
assert str(t.schema.field("event_time").type) == "timestamp[ms, tz=UTC]", t.schema.field("event_time").type
print(t.num_rows, events, sorted(set(d["model"])), "f_count_1h" in t.column_names)
`
	cmd := exec.Command(py, "-c", script, filepath.Join(out, "predictions.parquet"))
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pyarrow: %v\n%s", err, got)
	}
	want := fmt.Sprintf("%d %d ['a', 'b'] True\n", 2*len(live), len(live))
	if string(got) != want {
		t.Fatalf("pyarrow read %q, want %q", got, want)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDemoKeepReplay is the README's demo walkthrough: `scorestream demo --keep
// DIR`, then the one documented replay command against the demo's still-running
// broker, comparing the demo model with the one trained without state features,
// joined to the demo's labels.
func TestDemoKeepReplay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var demoOut, demoErr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"demo", "--events", "3000", "--metrics-listen", "", "--keep", dir}, &demoOut, &demoErr)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before keeping:\n%s%s", code, demoOut.String(), demoErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s/config.yaml after 2 minutes", dir)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if !strings.Contains(demoOut.String(), "scorestream replay -c "+dir+"/config.yaml") {
		t.Errorf("demo does not print the replay command: %q", demoOut.String())
	}
	var o, e bytes.Buffer
	code := dispatch(context.Background(), []string{"replay", "-c", dir + "/config.yaml", "--progress", "0",
		"--model", "demo=" + dir + "/model.json", "--model", "no-velocity=" + dir + "/model-novelocity.json",
		"--labels", dir + "/labels.csv", "--out", dir + "/replay"}, &o, &e)
	if code != exitOK {
		t.Fatalf("replay: exit %d\n%s%s", code, o.String(), e.String())
	}
	var sum replay.Summary
	readJSON(t, filepath.Join(dir, "replay", "summary.json"), &sum)
	if sum.Events+sum.DeadLetters != 3000 || sum.LabelsMatched != sum.Events || sum.LabelsUnmatched != 0 {
		t.Errorf("summary: %d events + %d dead letters of 3000; labels %d matched, %d unmatched", sum.Events, sum.DeadLetters, sum.LabelsMatched, sum.LabelsUnmatched)
	}
	rows, err := replay.ReadParquet(filepath.Join(dir, "replay", "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	fraud := 0
	for _, r := range rows {
		if r.Label == 1 {
			fraud++
		}
	}
	if len(rows) != 2*int(sum.Events) || fraud == 0 {
		t.Errorf("%d rows for %d events (want 2 each), %d labelled fraud", len(rows), sum.Events, fraud)
	}
	for _, name := range []string{"report.json", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, "replay", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var rep struct {
		Verdicts []string
		Models   []struct {
			Model struct{ Name string }
		}
	}
	readJSON(t, filepath.Join(dir, "replay", "report.json"), &rep)
	if len(rep.Models) != 2 || rep.Models[0].Model.Name != "demo" || rep.Models[1].Model.Name != "no-velocity" || len(rep.Verdicts) == 0 {
		t.Errorf("report.json: models %+v, verdicts %q", rep.Models, rep.Verdicts)
	}
	t.Logf("verdicts: %q", rep.Verdicts)
	// The demo's report in a real browser (scripts/test.sh sets
	// SCORESTREAM_CHROMIUM in its headless-browser step): it renders with a
	// silent console, and every plot has data drawn.
	if bin := os.Getenv("SCORESTREAM_CHROMIUM"); bin != "" {
		dom, console := evaltest.Chromium(t, bin, "--dump-dom", "file://"+filepath.Join(dir, "replay", "report.html"))
		if len(console) > 0 {
			t.Errorf("console output while rendering the demo's report.html:\n%s", strings.Join(console, "\n"))
		}
		plots := evaltest.Plots(dom)
		if len(plots) < 6 {
			t.Errorf("the demo's report rendered %d plots, want at least 6 (ROC, PR, reliability, 2 histograms, scatter)", len(plots))
		}
		for i, body := range plots {
			if !strings.Contains(body, "<polyline") && !strings.Contains(body, "<circle") && !strings.Contains(body, "fill-opacity") {
				t.Errorf("plot %d of the demo's report has no data drawn", i)
			}
		}
		t.Logf("the demo's report rendered in %s: %d plots", bin, len(plots))
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("demo --keep exited %d after Ctrl-C", code)
	}
}

// TestReplayToTopic produces the replayed predictions to a topic in
// transactions: the live format, one record per event per model, and the
// reference model's records equal the live ones bit for bit.
func TestReplayToTopic(t *testing.T) {
	f := newReplayFixture(t, 1500)
	live := f.livePredictions(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), f.partitions, 1, nil, "replayed"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := f.replay(t, "--features", "--out", t.TempDir(), "--to-topic", "replayed",
		"--model", "fraud="+f.modelPath, "--model", "again="+f.modelPath)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	got := f.readPredictions(t, "replayed")
	if len(got) != 2*len(live) {
		t.Fatalf("%d records on the topic, want 2 per live prediction (%d)", len(got), len(live))
	}
	if d := replay.Diff(live, byModel(got, "fraud")); len(d) > 0 {
		t.Fatalf("%d differences from live, first: %v", len(d), d[:min(5, len(d))])
	}
}

// TestReplayLabelsTopic reads labels from an Avro topic through the registry.
func TestReplayLabelsTopic(t *testing.T) {
	f := newReplayFixture(t, 300)
	live := f.livePredictions(t)
	ctx := context.Background()
	const schema = `{"type":"record","name":"Outcome","fields":[{"name":"event_id","type":"string"},{"name":"fraud","type":"boolean"}]}`
	rcl, err := sr.NewClient(sr.URLs(f.env.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rcl.CreateSchema(ctx, "outcomes-value", sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.env.Brokers...), kgo.DefaultProduceTopic("outcomes"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "outcomes"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int8{}
	for i, p := range live[:50] {
		v, err := codec.BinaryFromNative([]byte{0, 0, 0, 0, byte(ss.ID)}, map[string]any{"event_id": p.EventID, "fraud": i%3 == 0})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(p.EventID), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		want[p.EventID] = 0
		if i%3 == 0 {
			want[p.EventID] = 1
		}
	}
	out := t.TempDir()
	if code, o, e := f.replay(t, "--out", out, "--labels", "topic:outcomes", "--label-column", "fraud"); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
	rows, err := replay.ReadParquet(filepath.Join(out, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if w, ok := want[r.EventID]; (ok && r.Label != w) || (!ok && r.Label != -1) {
			t.Fatalf("event %s: label %d, want %d (labelled %v)", r.EventID, r.Label, w, ok)
		}
		if r.Label >= 0 {
			n++
		}
	}
	if n != 50 {
		t.Fatalf("%d labelled rows, want 50", n)
	}
	// A field that is not there is a usage error.
	if code, _, e := f.replay(t, "--out", t.TempDir(), "--labels", "topic:outcomes"); code != exitUsage || !strings.Contains(e, `no field "label"`) {
		t.Fatalf("missing label field: exit %d, %q", code, e)
	}
}

// TestReplayTimeAndGroupRange: a time range around the whole run replays
// everything the live loop scored, state warm-up by time included; --from-group
// of the caught-up live group leaves nothing to replay.
func TestReplayTimeAndGroupRange(t *testing.T) {
	before := time.Now().Add(-time.Second).UTC()
	f := newReplayFixture(t, 600)
	live := f.livePredictions(t)
	out := t.TempDir()
	code, o, e := f.replay(t, "--features", "--out", out, "--from", before.Format(time.RFC3339),
		"--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--warmup", "1h")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
	rows, err := replay.ReadParquet(filepath.Join(out, "predictions.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if d := replay.Diff(live, rows); len(d) > 0 {
		t.Fatalf("%d differences from live, first: %v", len(d), d[:min(5, len(d))])
	}
	code, _, e = f.replay(t, "--out", t.TempDir(), "--from-group", "scorestream-demo")
	if code != exitUsage || !strings.Contains(e, "no records in the range") {
		t.Fatalf("--from-group of a caught-up group: exit %d, %q", code, e)
	}
}
