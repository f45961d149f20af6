//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
)

// hangProducerEnv makes the test binary a producer that opens a transaction,
// writes one record to partition 0 of the topic in the variable, prints the
// record's offset and waits to be killed: its transaction stays open (it
// holds the partition's last stable offset) until its 10-minute timeout.
const hangProducerEnv = "SCORESTREAM_IT_HANG_PRODUCER"

// hangProducer is the test binary's main when hangProducerEnv is set.
func hangProducer() int {
	topic, brokers, txnID := os.Getenv(hangProducerEnv), os.Getenv("SCORESTREAM_IT_BROKERS"), os.Getenv(hangProducerEnv+"_TXN_ID")
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(10*time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hang producer:", err)
		return 1
	}
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		fmt.Fprintln(os.Stderr, "hang producer: begin:", err)
		return 1
	}
	r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("hang"), Value: []byte("never committed")}).First()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hang producer: produce:", err)
		return 1
	}
	fmt.Printf("open %d\n", r.Offset)
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	return 0
}

// TestHangingTransaction makes a transaction hang on an input partition — a
// producer begins one with a 10-minute timeout, writes to partition 0 and is
// SIGKILLed — while an instance scores the topic, and repairs it with
// scorestream txn alone: `txn hanging` lists it, the instance exports it as
// scorestream_hanging_transactions (the alert's input), `txn abort` refuses it
// without --force (its coordinator still has it Ongoing) and writes the abort
// marker with it, a read_committed consumer then reads past it, the instance
// catches up and the audit is clean.
func TestHangingTransaction(t *testing.T) {
	s := newScenario(t, "hanging", suite.brokers, -1)
	s.cfgPatch = func(c map[string]any) {
		c["stream"].(map[string]any)["transaction_timeout"] = "15s" // also the instance's "older than" for the gauge
	}
	var rep audit.Report
	res := result{"instances": 1}
	defer func() { s.report(res, rep) }()
	in := s.start("0")
	events := 0
	run := func(n, seed int) {
		s.gen(n, 2000, seed).wait(t, n)
		events += n
	}
	run(4000, 31)
	s.waitCaughtUp(2 * time.Minute)

	// The hanging transaction.
	hp := exec.Command(os.Args[0])
	hp.Env = append(os.Environ(), hangProducerEnv+"="+s.input, hangProducerEnv+"_TXN_ID="+s.group+"-hang",
		"SCORESTREAM_IT_BROKERS="+s.brokers)
	hp.Stderr = os.Stderr
	stdin, err := hp.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := hp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	hp.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = hp.Process.Kill()
		t.Fatalf("hang producer: %v (%q)", err, line)
	}
	start, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "open "), 10, 64)
	if err != nil {
		t.Fatalf("hang producer said %q", line)
	}
	_ = hp.Process.Signal(syscall.SIGKILL)
	_ = hp.Wait()
	t.Logf("transaction open on %s:0 from offset %d, its producer SIGKILLed", s.input, start)
	run(4000, 32) // behind the hanging transaction on partition 0

	// Detection: txn hanging lists it once it is older than --older-than.
	cfg := in.cfgPath
	part := s.input + ":0"
	var listing string
	deadline := time.Now().Add(time.Minute)
	for {
		o, code := txnRun(t, "hanging", "-c", cfg, "--older-than", "3s")
		if code != 0 {
			t.Fatalf("txn hanging: exit %d: %s", code, o)
		}
		if strings.Contains(o, s.input) && strings.Contains(o, " "+strconv.FormatInt(start, 10)+" ") {
			listing = o
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("txn hanging did not list %s offset %d within a minute:\n%s", part, start, o)
		}
		time.Sleep(time.Second) // poll interval
	}
	t.Logf("txn hanging:\n%s", listing)
	if !strings.Contains(listing, "Ongoing (still open)") {
		t.Errorf("listing does not say the coordinator still has it open:\n%s", listing)
	}
	// The gauge the ScorestreamHangingTransaction alert fires on.
	if err := waitMetric(in, "scorestream_hanging_transactions", `partition="0",producer_id=`, 1, 2*time.Minute); err != nil {
		t.Fatalf("instance 0: %v", err)
	}
	gauge, _ := in.metric("scorestream_hanging_transactions", `topic="`+s.input+`"`)
	res["gauge_age_s"] = gauge
	// The input partition is stuck behind it: the group's offset stays at it.
	c, err := s.committed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c[0] > start {
		t.Fatalf("committed offset %d on partition 0 is past the open transaction at %d", c[0], start)
	}

	// Repair: refused without --force, done with it.
	if o, code := txnRun(t, "abort", "-c", cfg, "--partition", part, "--start-offset", strconv.FormatInt(start, 10), "--yes"); code != 1 || !strings.Contains(o, "refused") {
		t.Fatalf("txn abort without --force: exit %d, want 1 and a refusal:\n%s", code, o)
	}
	at := time.Now()
	o, code := txnRun(t, "abort", "-c", cfg, "--partition", part, "--start-offset", strconv.FormatInt(start, 10), "--force", "--yes")
	if code != 0 || !strings.Contains(o, "repaired") {
		t.Fatalf("txn abort --force: exit %d:\n%s", code, o)
	}
	t.Logf("txn abort:\n%s", o)
	if o, _ := txnRun(t, "hanging", "-c", cfg, "--older-than", "3s"); !strings.Contains(o, "no hanging transactions") {
		t.Errorf("txn hanging after the repair:\n%s", o)
	}

	// A read_committed reader now gets past it.
	rc, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.brokers, ",")...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.input: {0: kgo.NewOffset().At(start)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	past := false
	for !past && ctx.Err() == nil {
		rc.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if r.Offset == start && bytes.Equal(r.Value, []byte("never committed")) {
				t.Errorf("read_committed read the aborted record at %d", start)
			}
			past = past || r.Offset > start
		})
	}
	if !past {
		t.Fatalf("read_committed reader did not get past offset %d of %s", start, part)
	}
	t.Logf("read_committed reader past offset %d %s after the abort", start, time.Since(at).Round(time.Millisecond))

	run(2000, 33) // the abort marker is the partition's last entry: give the group records after it
	s.waitCaughtUp(2 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, int64(events))
	res["start_offset"] = start
}

// txnRun runs `scorestream txn ARGS...` and returns its combined output and exit code.
func txnRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(suite.bin, append([]string{"txn"}, args...)...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return b.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("txn %v: %v", args, err)
	}
	return b.String(), 0
}
