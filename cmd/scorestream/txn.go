package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream"
)

const txnUsage = `Usage: scorestream txn hanging|abort -c config.yaml [flags]

Find and repair hanging transactions on the pipeline's partitions (its input,
output and changelog topics and the __consumer_offsets partition of its group)
through the Kafka admin API; no Kafka CLI is needed.

A hanging transaction is open in a partition — it holds the partition's last
stable offset, so read_committed readers (and, on __consumer_offsets, the
group's offset fetches) stop there — and either its coordinator has already
ended it without the marker reaching this partition (after an unclean broker
restart; txn looks again for up to 10 s, so that a marker on its way is not
taken for a missing one), or it has been open for longer than --older-than. A running
instance exports them as scorestream_hanging_transactions.

  txn hanging   list them, each with the command that repairs it
  txn abort     write the marker the coordinator did not write:
                  coordinator CompleteAbort, or no longer knows the
                  transaction: an ABORT marker;
                  coordinator CompleteCommit: refused unless --commit, which
                  writes a COMMIT marker (aborting would drop records that the
                  rest of the transaction committed, and on __consumer_offsets
                  make the group redo work whose outputs are committed);
                  coordinator still Ongoing: refused unless --force (its
                  producer may be alive; an abort marker under a live producer
                  splits its transaction). Wait for the transaction timeout,
                  or make sure the producer is gone, then --force.

Flags:
  -c, --config FILE          the run config (brokers, TLS/SASL, topics, group)
      --older-than D         an open transaction older than D is hanging
                             (default: stream.transaction_timeout)
  abort only:
      --partition T:P        the partition (with --start-offset)
      --start-offset N       the transaction's first offset in it
      --producer-id N        check it is this producer's (optional)
      --producer-epoch N     check the epoch (optional; read from the broker)
      --coordinator-epoch N  check the coordinator epoch (optional; read from the broker)
      --all-hanging          every transaction txn hanging lists, instead
      --commit               write COMMIT markers (coordinator CompleteCommit)
      --force                also abort transactions still Ongoing at the coordinator
      --yes                  do not ask for confirmation

Examples:
  scorestream txn hanging -c /etc/scorestream/config.yaml
  scorestream txn hanging -c config.yaml --older-than 2m
  scorestream txn abort -c config.yaml --partition payments:3 --start-offset 18231
  scorestream txn abort -c config.yaml --all-hanging --yes

Exit codes: txn hanging 0 (whether or not any is found), 1 when the brokers
cannot be asked; txn abort 0 when every marker was written and the partition
no longer holds the transaction, 1 on a failure or a refusal, 2 bad usage or
config.
`

func txnCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runTxn(ctx, args, os.Stdin, stdout, stderr)
}

type txnFlags struct {
	path                      string
	olderThan                 time.Duration
	partition                 string
	startOffset, producerID   int64
	producerEpoch, coordEpoch int64
	all, commit, force, yes   bool
	topic                     string
	part                      int32
}

func runTxn(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "hanging" && args[0] != "abort") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, txnUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "scorestream txn: want a subcommand: hanging or abort\n\n%s", txnUsage)
		return exitUsage
	}
	sub := args[0]
	var f txnFlags
	fs := flag.NewFlagSet("txn "+sub, flag.ContinueOnError)
	fs.StringVar(&f.path, "c", "", "")
	fs.StringVar(&f.path, "config", "", "")
	fs.DurationVar(&f.olderThan, "older-than", 0, "")
	if sub == "abort" {
		fs.StringVar(&f.partition, "partition", "", "")
		fs.Int64Var(&f.startOffset, "start-offset", -1, "")
		fs.Int64Var(&f.producerID, "producer-id", -1, "")
		fs.Int64Var(&f.producerEpoch, "producer-epoch", -1, "")
		fs.Int64Var(&f.coordEpoch, "coordinator-epoch", -1, "")
		fs.BoolVar(&f.all, "all-hanging", false, "")
		fs.BoolVar(&f.commit, "commit", false, "")
		fs.BoolVar(&f.force, "force", false, "")
		fs.BoolVar(&f.yes, "yes", false, "")
	}
	if ok, code := parseFlagsUsage(fs, args[1:], "txn "+sub, txnUsage, stdout, stderr); !ok {
		return code
	}
	if f.path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream txn %s: -c config.yaml is required (and no arguments)\n\n%s", sub, txnUsage)
		return exitUsage
	}
	if sub == "abort" {
		if msg := f.checkAbort(); msg != "" {
			fmt.Fprintf(stderr, "scorestream txn abort: %s\n\n%s", msg, txnUsage)
			return exitUsage
		}
	}
	cfg, err := config.Load(f.path)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream txn %s: %v\n", sub, err)
		return exitUsage
	}
	if f.olderThan <= 0 {
		f.olderThan = cfg.Stream.TransactionTimeout
	}
	opts, err := cfg.KafkaOpts()
	if err != nil {
		fmt.Fprintf(stderr, "scorestream txn %s: kafka: %v\n", sub, err)
		return exitUsage
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream txn %s: kafka: %v\n", sub, err)
		return exitUsage
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	scope := stream.ScopeOf(cfg)
	if sub == "hanging" {
		hs, err := findHanging(ctx, adm, scope, f.olderThan)
		if err != nil {
			fmt.Fprintf(stderr, "scorestream txn hanging: %v\n", err)
			return exitFailure
		}
		printHanging(stdout, hs, f.path, time.Now())
		return exitOK
	}
	return f.abort(ctx, cl, adm, scope, stdin, stdout, stderr)
}

// checkAbort validates abort's flag combination; "" when fine.
func (f *txnFlags) checkAbort() string {
	if f.all {
		if f.partition != "" || f.startOffset >= 0 || f.producerID >= 0 || f.producerEpoch >= 0 || f.coordEpoch >= 0 {
			return "--all-hanging takes no --partition, --start-offset or producer flags"
		}
		return ""
	}
	if f.partition == "" || f.startOffset < 0 {
		return "--partition T:P and --start-offset N are required (or --all-hanging)"
	}
	i := strings.LastIndexByte(f.partition, ':')
	p, err := strconv.ParseInt(f.partition[i+1:], 10, 32)
	if i <= 0 || err != nil || p < 0 {
		return fmt.Sprintf("--partition %q: want TOPIC:PARTITION, e.g. payments:3", f.partition)
	}
	f.topic, f.part = f.partition[:i], int32(p)
	return ""
}

func findHanging(ctx context.Context, adm *kadm.Client, scope stream.HangingScope, olderThan time.Duration) ([]stream.Hanging, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	set, err := scope.Partitions(ctx, adm)
	if err != nil {
		return nil, err
	}
	return stream.FindHanging(ctx, adm, set, olderThan)
}

func printHanging(w io.Writer, hs []stream.Hanging, cfgPath string, now time.Time) {
	if len(hs) == 0 {
		fmt.Fprintln(w, "no hanging transactions")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTART_OFFSET\tPRODUCER_ID\tEPOCH\tCOORD_EPOCH\tAGE\tTRANSACTIONAL_ID\tCOORDINATOR\tREPAIR")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", h.Topic, h.Partition, h.StartOffset, h.ProducerID,
			h.ProducerEpoch, h.CoordinatorEpoch, h.Age(now).Round(time.Second), orDash(h.TxnID), coordinator(h), repairHint(h))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d hanging transaction(s). Repair each with its command, e.g.:\n  scorestream txn abort -c %s --partition %s:%d --start-offset %d%s\n",
		len(hs), cfgPath, hs[0].Topic, hs[0].Partition, hs[0].StartOffset, repairFlags(hs[0]))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func coordinator(h stream.Hanging) string {
	switch {
	case h.CoordMovedOn:
		return "moved on (outcome unknown)"
	case h.CoordState == "":
		return "unknown (forgotten)"
	case !h.Decided:
		return h.CoordState + " (still open)"
	}
	return h.CoordState
}

func repairHint(h stream.Hanging) string {
	switch {
	case h.Committed():
		return "commit marker (--commit)"
	case !h.Decided:
		return "abort if the producer is gone (--force)"
	}
	return "abort marker"
}

func repairFlags(h stream.Hanging) string {
	switch {
	case h.Committed():
		return " --commit"
	case !h.Decided:
		return " --force"
	}
	return ""
}

// abort repairs the chosen transactions, each after re-reading it from the
// broker, and checks that the partition no longer holds it.
func (f *txnFlags) abort(ctx context.Context, cl *kgo.Client, adm *kadm.Client, scope stream.HangingScope, stdin io.Reader, stdout, stderr io.Writer) int {
	var todo []stream.Hanging
	if f.all {
		hs, err := findHanging(ctx, adm, scope, f.olderThan)
		if err != nil {
			fmt.Fprintf(stderr, "scorestream txn abort: %v\n", err)
			return exitFailure
		}
		todo = hs
	} else {
		h, err := f.lookup(ctx, adm)
		if err != nil {
			fmt.Fprintf(stderr, "scorestream txn abort: %v\n", err)
			return exitFailure
		}
		todo = []stream.Hanging{h}
	}
	if len(todo) == 0 {
		fmt.Fprintln(stdout, "no hanging transactions: nothing to do")
		return exitOK
	}
	// Refusals first, for all of them: nothing is written unless all can be.
	var refused []string
	for _, h := range todo {
		switch {
		case h.Committed() && !f.commit:
			refused = append(refused, fmt.Sprintf("%s:%d offset %d: its coordinator committed it; write a COMMIT marker with --commit (an abort would drop committed records)", h.Topic, h.Partition, h.StartOffset))
		case f.commit && !h.Committed():
			refused = append(refused, fmt.Sprintf("%s:%d offset %d: its coordinator did not commit it (%s); --commit is only for committed ones", h.Topic, h.Partition, h.StartOffset, coordinator(h)))
		case !h.Decided && !f.force:
			refused = append(refused, fmt.Sprintf("%s:%d offset %d: its coordinator still has it %s: its producer (%s) may be alive, and an abort marker under a live producer splits its transaction; wait for the transaction timeout, or make sure the producer is gone and add --force", h.Topic, h.Partition, h.StartOffset, h.CoordState, orDash(h.TxnID)))
		}
	}
	if len(refused) > 0 {
		for _, r := range refused {
			fmt.Fprintf(stderr, "scorestream txn abort: refused: %s\n", r)
		}
		return exitFailure
	}
	marker := "ABORT"
	if f.commit {
		marker = "COMMIT"
	}
	now := time.Now()
	fmt.Fprintf(stdout, "will write %s markers for %d transaction(s):\n", marker, len(todo))
	printHanging(stdout, todo, f.path, now)
	if !f.yes {
		fmt.Fprint(stdout, "type yes to go on: ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(stderr, "scorestream txn abort: not confirmed; nothing written (--yes skips the question)")
			return exitFailure
		}
	}
	failed := 0
	for _, h := range todo {
		if err := f.repair(ctx, cl, adm, h); err != nil {
			failed++
			fmt.Fprintf(stderr, "scorestream txn abort: %s:%d offset %d: %v\n", h.Topic, h.Partition, h.StartOffset, err)
			continue
		}
		fmt.Fprintf(stdout, "repaired %s:%d: %s marker written for producer %d (epoch %d) at start offset %d; the partition no longer holds it\n",
			h.Topic, h.Partition, marker, h.ProducerID, h.ProducerEpoch, h.StartOffset)
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

// lookup reads the transaction --partition/--start-offset names from the broker
// and checks it against the producer flags given.
func (f *txnFlags) lookup(ctx context.Context, adm *kadm.Client) (stream.Hanging, error) {
	h, err := openAt(ctx, adm, f.topic, f.part, f.startOffset)
	if err != nil {
		return h, err
	}
	for _, c := range []struct {
		name      string
		flag, got int64
	}{{"producer-id", f.producerID, h.ProducerID}, {"producer-epoch", f.producerEpoch, int64(h.ProducerEpoch)},
		{"coordinator-epoch", f.coordEpoch, int64(h.CoordinatorEpoch)}} {
		if c.flag >= 0 && c.flag != c.got {
			return h, fmt.Errorf("%s:%d offset %d: --%s %d, but the broker says %d", f.topic, f.part, f.startOffset, c.name, c.flag, c.got)
		}
	}
	return h, nil
}

// openAt describes the open transaction starting at offset start of a
// partition (olderThan 0: every open transaction is listed).
func openAt(ctx context.Context, adm *kadm.Client, topic string, part int32, start int64) (stream.Hanging, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	set := kadm.TopicsSet{}
	set.Add(topic, part)
	hs, err := stream.FindHanging(ctx, adm, set, -1<<62) // every open one, whatever its age
	if err != nil {
		return stream.Hanging{}, err
	}
	for _, h := range hs {
		if h.StartOffset == start {
			return h, nil
		}
	}
	return stream.Hanging{}, fmt.Errorf("%s:%d: %w starting at offset %d (already repaired?)", topic, part, stream.ErrNotHanging, start)
}

func (f *txnFlags) repair(ctx context.Context, cl *kgo.Client, adm *kadm.Client, h stream.Hanging) error {
	// Re-read it just before writing: the epochs must be the broker's current ones.
	now, err := openAt(ctx, adm, h.Topic, h.Partition, h.StartOffset)
	if err != nil {
		return err
	}
	if now.ProducerID != h.ProducerID || now.ProducerEpoch != h.ProducerEpoch {
		return fmt.Errorf("the transaction changed since it was listed (producer %d epoch %d now); list again", now.ProducerID, now.ProducerEpoch)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := stream.WriteMarker(wctx, cl, now, f.commit); err != nil {
		return err
	}
	// The marker is in the log once the leader answered; check the partition's
	// producer state agrees.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := openAt(ctx, adm, h.Topic, h.Partition, h.StartOffset)
		if errors.Is(err, stream.ErrNotHanging) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("marker written, but the partition still reports the transaction open: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}
