package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/sink"
)

// auditFake starts kfake with the given topics (3 partitions each) and
// returns its address and a transactional producer with manual partitioning.
func auditFake(t *testing.T, topics ...string) (string, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	addr := strings.Join(c.ListenAddrs(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID("audit-test"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(cl.Close)
	return addr, cl
}

func auditTxn(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func auditOutput(topic string, in *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: in.Partition, Value: []byte("p"), Headers: []kgo.RecordHeader{
		{Key: sink.HeaderSourceTopic, Value: []byte(in.Topic)},
		{Key: sink.HeaderSourcePartition, Value: []byte(strconv.Itoa(int(in.Partition)))},
		{Key: sink.HeaderSourceOffset, Value: []byte(strconv.FormatInt(in.Offset, 10))},
	}}
}

// auditPipeline writes n inputs to in and one output per input (every fifth
// a dead letter) and returns the inputs.
func auditPipeline(t *testing.T, cl *kgo.Client, n int, in, pred, dlq string) []*kgo.Record {
	t.Helper()
	var inputs, outputs []*kgo.Record
	for i := range n {
		inputs = append(inputs, &kgo.Record{Topic: in, Partition: int32(i % 3), Value: []byte("e")})
	}
	auditTxn(t, cl, inputs...)
	for i, r := range inputs {
		topic := pred
		if i%5 == 0 {
			topic = dlq
		}
		outputs = append(outputs, auditOutput(topic, r))
	}
	auditTxn(t, cl, outputs...)
	return inputs
}

func auditRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := auditCmd(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func auditLastJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last stdout line is not JSON: %v\n%s", err, stdout)
	}
	return m
}

func TestAuditCmdCleanThenDirty(t *testing.T) {
	addr, cl := auditFake(t, "in", "pred", "dlq")
	inputs := auditPipeline(t, cl, 30, "in", "pred", "dlq")
	args := []string{"--brokers", addr, "--input", "in", "--predictions", "pred", "--dead-letters", "dlq", "--summary", "json"}

	code, stdout, stderr := auditRun(t, args...)
	if code != exitOK {
		t.Fatalf("clean: exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	m := auditLastJSON(t, stdout)
	want := map[string]any{"events": 30.0, "predictions": 24.0, "dead_letters": 6.0, "duplicates": 0.0, "missing": 0.0, "orphans": 0.0, "malformed": 0.0, "clean": true}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("clean: %s = %v, want %v", k, m[k], v)
		}
	}

	// A second prediction for one input: a duplicate, exit 1.
	auditTxn(t, cl, auditOutput("pred", inputs[7]))
	code, stdout, stderr = auditRun(t, args...)
	if code != exitFailure {
		t.Fatalf("dirty: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	m = auditLastJSON(t, stdout)
	if m["duplicates"] != 1.0 || m["clean"] != false {
		t.Errorf("dirty: duplicates = %v, clean = %v; want 1, false", m["duplicates"], m["clean"])
	}
	list, _ := m["duplicate_list"].([]any)
	if len(list) != 1 {
		t.Fatalf("duplicate_list = %v, want one entry", m["duplicate_list"])
	}
	d := list[0].(map[string]any)
	if d["partition"] != float64(inputs[7].Partition) || d["offset"] != float64(inputs[7].Offset) || d["count"] != 2.0 {
		t.Errorf("duplicate = %v, want in/%d@%d count 2", d, inputs[7].Partition, inputs[7].Offset)
	}

	// The text summary says so in words.
	code, _, _ = auditRun(t, "--brokers", addr, "--input", "in,other", "--input", "x", "--predictions", "pred")
	if code != exitFailure {
		t.Errorf("unknown input topics: exit %d, want 1", code)
	}
	code, stdout, _ = auditRun(t, "--brokers", addr, "--input", "in", "--predictions", "pred", "--dead-letters", "dlq")
	if code != exitFailure || !strings.Contains(stdout, "NOT CLEAN") || !strings.Contains(stdout, "duplicate: in/") {
		t.Errorf("text summary: exit %d, stdout:\n%s", code, stdout)
	}
}

// TestAuditCmdConfigFile points -c at the example config: topics and group come
// from the file, the brokers from the environment (as config.Load documents).
func TestAuditCmdConfigFile(t *testing.T) {
	ex, err := config.Load("../../config/example.yaml")
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	in, pred, dlq, group := ex.Stream.InputTopics[0], ex.Output.PredictionsTopic, ex.Output.DeadLetterTopic, ex.Stream.Group
	addr, cl := auditFake(t, in, pred, dlq)
	t.Setenv(config.EnvBrokers, addr)

	inputs := auditPipeline(t, cl, 9, in, pred, dlq)
	// Later inputs without outputs: not yet committed by the group, so not
	// missing when auditing the group.
	auditTxn(t, cl, &kgo.Record{Topic: in, Partition: 0, Value: []byte("late")}, &kgo.Record{Topic: in, Partition: 1, Value: []byte("late")})
	commit := kadm.Offsets{}
	for _, r := range inputs {
		if o, ok := commit.Lookup(r.Topic, r.Partition); !ok || o.At < r.Offset+1 {
			commit.AddOffset(r.Topic, r.Partition, r.Offset+1, -1)
		}
	}
	if resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), group, commit); err != nil || resp.Error() != nil {
		t.Fatalf("commit group offsets: %v %v", err, resp.Error())
	}

	code, stdout, stderr := auditRun(t, "-c", "../../config/example.yaml", "--summary", "json")
	if code != exitOK {
		t.Fatalf("group audit: exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if m := auditLastJSON(t, stdout); m["events"] != 9.0 {
		t.Errorf("events = %v, want 9 (the late records are past the group's offsets)", m["events"])
	}
	// --group "" on the command line drops the file's group: now the late
	// records are committed input without outputs.
	code, stdout, _ = auditRun(t, "-c", "../../config/example.yaml", "--group", "", "--summary", "json")
	if m := auditLastJSON(t, stdout); code != exitFailure || m["missing"] != 2.0 {
		t.Errorf("without group: exit %d, missing %v; want 1 and 2", code, m["missing"])
	}
}

func TestAuditCmdUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // expected in stdout+stderr
	}{
		{"help", []string{"--help"}, exitOK, "exactly one committed"},
		{"no input", []string{"--predictions", "p"}, exitUsage, "--input"},
		{"no predictions", []string{"--input", "i"}, exitUsage, "--predictions"},
		{"bad time", []string{"--input", "i", "--predictions", "p", "--from", "yesterday"}, exitUsage, "RFC3339"},
		{"bad summary", []string{"--input", "i", "--predictions", "p", "--summary", "xml"}, exitUsage, "--summary"},
		{"reversed range", []string{"--input", "i", "--predictions", "p", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, exitUsage, "from must be before to"},
		{"unknown flag", []string{"--nope"}, exitUsage, "nope"},
		{"stray argument", []string{"--input", "i", "--predictions", "p", "extra"}, exitUsage, "unexpected"},
		{"missing config", []string{"-c", "/nonexistent/config.yaml"}, exitUsage, "nonexistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := auditRun(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, tc.out) {
				t.Errorf("output does not mention %q:\nstdout: %s\nstderr: %s", tc.out, stdout, stderr)
			}
		})
	}
}
