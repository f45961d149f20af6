package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
)

func genRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = genCmd(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func genLastJSON(t *testing.T, stdout string) genSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s genSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last stdout line is not a JSON summary: %v\n%s", err, stdout)
	}
	return s
}

// genConsume reads n records from topic, failing the test if they do not
// arrive within 30 s (a bound for a hang, not a speed claim).
func genConsume(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(recs), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		recs = append(recs, fs.Records()...)
	}
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d", len(recs), n)
	}
	return recs
}

func genFakes(t *testing.T, topics ...string) (brokers []string, registry *srfake.Registry) {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(2, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return c.ListenAddrs(), reg
}

func TestGenCmdProducesAndReadsBack(t *testing.T) {
	brokers, reg := genFakes(t)
	t.Setenv(config.EnvBrokers, strings.Join(brokers, ","))

	code, stdout, stderr := genRun(t, "--registry", reg.URL(), "--topic", "pay", "--create-topic", "--partitions", "3",
		"--events", "1000", "--seed", "5", "--cards", "100", "--fraud-rate", "0.1", "--malformed", "0.05", "--summary", "json")
	if code != exitOK {
		t.Fatalf("gen exit %d\nstderr: %s", code, stderr)
	}
	sum := genLastJSON(t, stdout)
	if sum.Events != 1000 || sum.Failed != 0 || sum.Topic != "pay" || sum.Schema != "v1" {
		t.Fatalf("summary: %+v", sum)
	}
	v1, ok := reg.GetSchema("pay-value", 1)
	if !ok || v1.ID != sum.SchemaID || v1.Schema.Schema == "" {
		t.Fatalf("registry has %+v (ok %v), summary says schema id %d", v1, ok, sum.SchemaID)
	}

	// Independently of the summary: read the topic back and classify.
	codec, err := goavro.NewCodec(v1.Schema.Schema)
	if err != nil {
		t.Fatal(err)
	}
	recs := genConsume(t, brokers, "pay", 1000)
	good := 0
	partitions := map[int32]bool{}
	for _, r := range recs {
		partitions[r.Partition] = true
		if !strings.HasPrefix(string(r.Key), "card-") {
			t.Fatalf("key %q is not a card id", r.Key)
		}
		v := r.Value
		if len(v) < 5 || v[0] != 0 || binary.BigEndian.Uint32(v[1:5]) != uint32(v1.ID) {
			continue
		}
		native, rest, err := codec.NativeFromBinary(v[5:])
		if err != nil || len(rest) != 0 {
			continue
		}
		if native.(map[string]any)["card_id"] != string(r.Key) {
			t.Fatalf("key %q, card_id %v", r.Key, native.(map[string]any)["card_id"])
		}
		good++
	}
	if want := int(sum.Events - sum.MalformedTotal); good != want {
		t.Fatalf("%d records decode, summary says %d events of which %d malformed", good, sum.Events, sum.MalformedTotal)
	}
	if sum.MalformedTotal == 0 || sum.Fraud == 0 {
		t.Fatalf("no malformed or no fraud records in 1000: %+v", sum)
	}
	if len(partitions) != 3 {
		t.Fatalf("records on %d partitions, want 3 (created with --partitions 3)", len(partitions))
	}

	// The same seed gives the same values: compare with the library.
	g, err := gen.New(gen.Config{Seed: 5, Cards: 100, FraudRate: 0.1, MalformedRate: 0.05, SchemaID: v1.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for range 1000 {
		want[string(g.NextRecord().Value)]++
	}
	for _, r := range recs {
		want[string(r.Value)]--
	}
	for _, n := range want {
		if n != 0 {
			t.Fatalf("the topic's values differ from gen.New with the same seed")
		}
	}

	// The evolved schema: a second version under the same subject.
	code, stdout, stderr = genRun(t, "--registry", reg.URL(), "--topic", "pay", "--schema", "v2",
		"--events", "200", "--summary", "json")
	if code != exitOK {
		t.Fatalf("gen --schema v2 exit %d\nstderr: %s", code, stderr)
	}
	sum2 := genLastJSON(t, stdout)
	v2, ok := reg.GetSchema("pay-value", 2)
	if !ok || v2.ID != sum2.SchemaID || v2.ID == v1.ID {
		t.Fatalf("registry version 2: %+v (ok %v); summary schema id %d", v2, ok, sum2.SchemaID)
	}
	codec2, err := goavro.NewCodec(v2.Schema.Schema)
	if err != nil {
		t.Fatal(err)
	}
	n2 := 0
	for _, r := range genConsume(t, brokers, "pay", 1200) {
		if len(r.Value) < 5 || binary.BigEndian.Uint32(r.Value[1:5]) != uint32(v2.ID) {
			continue
		}
		if _, rest, err := codec2.NativeFromBinary(r.Value[5:]); err != nil || len(rest) != 0 {
			t.Fatalf("v2 record does not decode with SchemaV2: %v", err)
		}
		n2++
	}
	if n2 != 200 {
		t.Fatalf("%d records with the v2 schema id, want 200", n2)
	}
}

func TestGenCmdTextSummary(t *testing.T) {
	brokers, reg := genFakes(t, "payments")
	code, stdout, stderr := genRun(t, "--brokers", strings.Join(brokers, ","), "--registry", reg.URL(), "--events", "50")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"produced 50 events", "fraud:", "malformed: 0"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("summary lacks %q:\n%s", want, stdout)
		}
	}
}

func genClosedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestGenCmdFailures(t *testing.T) {
	brokers, reg := genFakes(t, "payments")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no broker", []string{"--brokers", genClosedAddr(t), "--registry", reg.URL(), "--timeout", "1s"}, "no broker answered"},
		{"no registry", []string{"--brokers", brokers[0], "--registry", "http://" + genClosedAddr(t), "--timeout", "1s"}, "register schema"},
		{"missing topic", []string{"--brokers", brokers[0], "--registry", reg.URL(), "--topic", "nope"}, "--create-topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := genRun(t, tc.args...)
			if code != exitFailure || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitFailure, tc.want)
			}
		})
	}
}

// TestGenCmdStalledBroker: a broker that takes produce requests and never
// answers must not hang gen; it fails after --delivery-timeout.
func TestGenCmdStalledBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "payments"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before c.Close
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	code, _, stderr := genRun(t, "--brokers", c.ListenAddrs()[0], "--registry", reg.URL(),
		"--events", "0", "--delivery-timeout", "2s")
	if code != exitFailure || !strings.Contains(stderr, "no record acknowledged") {
		t.Fatalf("exit %d, stderr %q; want exit %d and a stall message", code, stderr, exitFailure)
	}
}

func TestGenCmdUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"--help"}, exitOK, "Examples:", ""},
		{"bad schema", []string{"--schema", "v3"}, exitUsage, "", "--schema"},
		{"negative events", []string{"--events", "-1"}, exitUsage, "", "--events"},
		{"malformed above 1", []string{"--malformed", "2"}, exitUsage, "", "--malformed"},
		{"fraud rate", []string{"--fraud-rate", "0.9"}, exitUsage, "", "--fraud-rate"},
		{"summary format", []string{"--summary", "xml"}, exitUsage, "", "--summary"},
		{"stray argument", []string{"payments"}, exitUsage, "", "unexpected arguments"},
		{"unknown flag", []string{"--nope"}, exitUsage, "", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := genRun(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.wantStdout) || !strings.Contains(stderr, tc.wantStderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
		})
	}
}
