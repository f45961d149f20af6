package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
)

const genUsage = `Usage: scorestream gen [flags]

Produce synthetic card payments to a Kafka topic: Avro in the Confluent wire
format, keyed by card id, with planted fraud (burst, unusual_amount,
new_merchants) and, on request, deliberately malformed records. The schema is
registered under "<topic>-value" first. The same --seed gives the same events
(event times are simulated and start at 2026-01-01T00:00:00Z); Kafka's record
timestamps are the real produce time.

Examples:
  # 10,000 events to "payments" on a local broker and registry, topic created
  scorestream gen --create-topic

  # a steady 2,000 events/s until Ctrl-C, 1% of them malformed
  scorestream gen --events 0 --rate 2000 --malformed 0.01

  # the evolved writer schema (no currency, new risk_flags), another stream
  scorestream gen --schema v2 --seed 7 --events 5000

  # for scripts: the last stdout line is one JSON object
  scorestream gen --events 1000 --summary json | tail -n1 | jq .events

  # and the ground truth of every event, for scorestream monitor
  scorestream gen --create-topic --labels-topic payment-labels

Flags:
`

// genFlags are the parsed flags of scorestream gen.
type genFlags struct {
	brokers, registry, topic string
	events                   int
	rate                     float64
	seed                     int64
	cards                    int
	fraudRate, malformed     float64
	createTopic              bool
	partitions, replication  int
	schema, summary, labels  string
	timeout, deliveryTimeout time.Duration
	brokersSet, registrySet  bool
	labelsTopic              string
}

func genParse(args []string, stdout, stderr io.Writer) (genFlags, int, bool) {
	var f genFlags
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.StringVar(&f.brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers (env "+config.EnvBrokers+")")
	fs.StringVar(&f.registry, "registry", "http://127.0.0.1:8081", "schema registry URL(s), comma-separated (env "+config.EnvRegistryURLs+")")
	fs.StringVar(&f.topic, "topic", "payments", "topic to produce to")
	fs.StringVar(&f.labelsTopic, "labels-topic", "", "also produce each well-formed event's fraud label (gen.LabelSchema) to this topic, for scorestream monitor")
	fs.IntVar(&f.events, "events", 10000, "number of events to produce; 0 = until Ctrl-C")
	fs.Float64Var(&f.rate, "rate", 0, "wall-clock events per second; 0 = as fast as possible")
	fs.Int64Var(&f.seed, "seed", 1, "random seed: the same seed gives the same events")
	fs.IntVar(&f.cards, "cards", gen.DefaultCards, "number of cards")
	fs.Float64Var(&f.fraudRate, "fraud-rate", gen.DefaultFraudRate, "share of cards that turn fraudulent (about the share of fraud events); 0 = none")
	fs.Float64Var(&f.malformed, "malformed", 0, "share of records deliberately malformed (bad_magic, truncated, unknown_schema, garbage)")
	fs.BoolVar(&f.createTopic, "create-topic", false, "create the topic first (fine if it exists)")
	fs.IntVar(&f.partitions, "partitions", 12, "partitions of a created topic")
	fs.IntVar(&f.replication, "replication-factor", 1, "replication factor of a created topic")
	fs.StringVar(&f.schema, "schema", "v1", "writer schema: v1, or v2 (fields reordered, no currency, risk_flags added)")
	fs.StringVar(&f.labels, "labels", "", "write the ground truth of the well-formed events to this CSV file (event_id,label,pattern,event_time; label 1 = fraud), for scorestream replay --labels")
	fs.StringVar(&f.summary, "summary", "text", "final summary on stdout: text or json (one JSON object on the last line)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the registry and the brokers at startup")
	fs.DurationVar(&f.deliveryTimeout, "delivery-timeout", 30*time.Second, "how long the brokers may acknowledge nothing while records are outstanding before gen fails")
	if ok, code := parseFlags(fs, args, genUsage, stdout, stderr); !ok {
		return f, code, false
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "brokers":
			f.brokersSet = true
		case "registry":
			f.registrySet = true
		}
	})
	if v := os.Getenv(config.EnvBrokers); v != "" && !f.brokersSet {
		f.brokers = v
	}
	if v := os.Getenv(config.EnvRegistryURLs); v != "" && !f.registrySet {
		f.registry = v
	}

	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments %q", fs.Args())
	}
	if config.SplitList(f.brokers) == nil {
		bad("--brokers: empty")
	}
	if config.SplitList(f.registry) == nil {
		bad("--registry: empty")
	}
	if f.topic == "" {
		bad("--topic: empty")
	}
	if f.labelsTopic != "" && f.labelsTopic == f.topic {
		bad("--labels-topic: must differ from --topic")
	}
	if f.events < 0 {
		bad("--events: must be >= 0, got %d", f.events)
	}
	if f.rate < 0 || math.IsNaN(f.rate) || math.IsInf(f.rate, 0) {
		bad("--rate: must be >= 0, got %v", f.rate)
	}
	if f.cards < 1 {
		bad("--cards: must be > 0, got %d", f.cards)
	}
	if !(f.fraudRate >= 0 && f.fraudRate <= 0.5) {
		bad("--fraud-rate: must be in [0, 0.5], got %v", f.fraudRate)
	}
	if !(f.malformed >= 0 && f.malformed <= 1) {
		bad("--malformed: must be in [0, 1], got %v", f.malformed)
	}
	if f.partitions < 1 || f.partitions > math.MaxInt32 {
		bad("--partitions: must be > 0, got %d", f.partitions)
	}
	if f.replication < 1 || f.replication > math.MaxInt16 {
		bad("--replication-factor: must be > 0, got %d", f.replication)
	}
	if f.schema != "v1" && f.schema != "v2" {
		bad("--schema: must be v1 or v2, got %q", f.schema)
	}
	if f.summary != "text" && f.summary != "json" {
		bad("--summary: must be text or json, got %q", f.summary)
	}
	if f.timeout <= 0 {
		bad("--timeout: must be > 0, got %v", f.timeout)
	}
	if f.deliveryTimeout <= 0 {
		bad("--delivery-timeout: must be > 0, got %v", f.deliveryTimeout)
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "scorestream gen: %s\n", e)
		}
		fmt.Fprintln(stderr, `Run "scorestream gen --help" for the flags and examples.`)
		return f, exitUsage, false
	}
	return f, exitOK, true
}

// genSummary is the final report; with --summary json it is the last line
// of stdout.
type genSummary struct {
	Topic           string           `json:"topic"`
	Schema          string           `json:"schema"`
	SchemaID        int              `json:"schema_id"`
	Seed            int64            `json:"seed"`
	Events          int64            `json:"events"` // acknowledged by the brokers
	Failed          int64            `json:"failed"` // produce failed
	Malformed       map[string]int64 `json:"malformed"`
	MalformedTotal  int64            `json:"malformed_total"`
	Fraud           int64            `json:"fraud"`
	LabelsProduced  int64            `json:"labels_produced,omitempty"` // with --labels-topic: labels acknowledged
	FraudByPattern  map[string]int64 `json:"fraud_by_pattern"`
	Seconds         float64          `json:"seconds"`
	EventsPerSecond float64          `json:"events_per_second"`
	FirstEventTime  *time.Time       `json:"first_event_time,omitempty"`
	LastEventTime   *time.Time       `json:"last_event_time,omitempty"`
	Labels          int64            `json:"labels,omitempty"`      // written to LabelsFile (--labels)
	LabelsFile      string           `json:"labels_file,omitempty"` // --labels
	Error           string           `json:"error,omitempty"`
}

// genCounters counts acknowledged records by malformed kind (index 0: well
// formed) and fraud pattern (index 0: not fraud). The producer's promises
// update it; one precomputed promise per cell keeps produce allocation-free.
type genCounters struct {
	acked    [5][4]atomic.Int64
	failed   atomic.Int64
	firstErr atomic.Pointer[error]
	produced atomic.Int64 // handed to the producer
	stalled  atomic.Pointer[error]
}

// genKindIndex is the first index of genCounters.acked; gen.MalformedKinds()[i-1]
// names index i.
func genKindIndex(kind string) int {
	switch kind {
	case gen.MalformedBadMagic:
		return 1
	case gen.MalformedTruncated:
		return 2
	case gen.MalformedUnknownSchema:
		return 3
	case gen.MalformedGarbage:
		return 4
	}
	return 0
}

// genPatternIndex is the second index of genCounters.acked; gen.Patterns()[i-1]
// names index i.
func genPatternIndex(p string) int {
	switch p {
	case gen.PatternBurst:
		return 1
	case gen.PatternUnusualAmount:
		return 2
	case gen.PatternNewMerchants:
		return 3
	}
	return 0
}

func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, ok := genParse(args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "scorestream gen: "+format+"\n", a...)
		return exitFailure
	}

	schemaText, version := gen.Schema, 1
	if f.schema == "v2" {
		schemaText, version = gen.SchemaV2, 2
	}

	// Register the schema: the id goes into every record.
	rcl, err := sr.NewClient(sr.URLs(config.SplitList(f.registry)...))
	if err != nil {
		return fail("registry client: %v", err)
	}
	subject := f.topic + "-value"
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	ss, err := rcl.CreateSchema(rctx, subject, sr.Schema{Schema: schemaText, Type: sr.TypeAvro})
	cancel()
	if err != nil {
		return fail("register schema %s under %q at %s: %v (is the registry up? --registry)", f.schema, subject, f.registry, err)
	}

	fraud := f.fraudRate
	if fraud == 0 {
		fraud = -1 // gen.Config: 0 means the default, negative means none
	}
	g, err := gen.New(gen.Config{
		Seed:          f.seed,
		Cards:         f.cards,
		FraudRate:     fraud,
		MalformedRate: f.malformed,
		SchemaID:      ss.ID,
		SchemaVersion: version,
	})
	if err != nil {
		fmt.Fprintf(stderr, "scorestream gen: %v\n", err)
		return exitUsage
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(config.SplitList(f.brokers)...),
		kgo.DefaultProduceTopic(f.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent by default
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordDeliveryTimeout(f.deliveryTimeout),
	)
	if err != nil {
		return fail("kafka client: %v", err)
	}
	defer cl.Close()
	if code := genPrepareTopic(ctx, cl, f, stderr); code != exitOK {
		return code
	}

	var labelFile *gen.LabelFile
	if f.labels != "" {
		if labelFile, err = gen.CreateLabelFile(f.labels); err != nil {
			fmt.Fprintf(stderr, "scorestream gen: --labels: %v\n", err)
			return exitUsage
		}
		defer labelFile.Abort()
	}

	sum := genSummary{
		Topic: f.topic, Schema: f.schema, SchemaID: ss.ID, Seed: f.seed,
		Malformed: map[string]int64{}, FraudByPattern: map[string]int64{},
	}
	var cnt genCounters
	var labelTopic *genLabels
	if f.labelsTopic != "" {
		lf := f
		lf.topic = f.labelsTopic
		if code := genPrepareTopic(ctx, cl, lf, stderr); code != exitOK {
			return code
		}
		rctx, cancel := context.WithTimeout(ctx, f.timeout)
		labelTopic, err = newGenLabels(rctx, rcl, f.labelsTopic, &cnt)
		cancel()
		if err != nil {
			return fail("%v", err)
		}
	}
	var promises [5][4]func(*kgo.Record, error)
	for k := range promises {
		for p := range promises[k] {
			promises[k][p] = func(_ *kgo.Record, err error) {
				if err == nil {
					cnt.acked[k][p].Add(1)
					return
				}
				cnt.failed.Add(1)
				cnt.firstErr.CompareAndSwap(nil, &err)
			}
		}
	}

	// Records are produced without the interrupt: Ctrl-C stops generating,
	// and what was generated is still delivered, so that the summary counts
	// every generated record. The watchdog cancels pctx when nothing is
	// acknowledged for --delivery-timeout: kgo's own delivery timeout cannot
	// fail idempotent batches already sent to a broker that went away, and
	// Produce blocks once the buffer is full.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	start := time.Now()
	stopProgress := genProgress(stderr, start, f.deliveryTimeout, &cnt, pcancel)
	var produced int64
	var first, last time.Time
loop:
	for f.events == 0 || produced < int64(f.events) {
		if ctx.Err() != nil || pctx.Err() != nil || cnt.firstErr.Load() != nil {
			break
		}
		if f.rate > 0 {
			due := start.Add(time.Duration(float64(produced) / f.rate * float64(time.Second)))
			if wait := time.Until(due); wait > time.Millisecond {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					break loop
				case <-pctx.Done():
					t.Stop()
					break loop
				case <-t.C:
				}
			}
		}
		r := g.NextRecord()
		if produced == 0 {
			first = r.Event.EventTime
		}
		last = r.Event.EventTime
		cl.Produce(pctx, &kgo.Record{Key: r.Key, Value: r.Value},
			promises[genKindIndex(r.Malformed)][genPatternIndex(r.Event.Pattern)])
		labelTopic.add(pctx, cl, r)
		if labelFile != nil && r.Malformed == "" {
			labelFile.Add(r.Event)
		}
		produced++
		cnt.produced.Add(1)
	}

	// Deliver what is buffered, even after Ctrl-C.
	fctx, cancel := context.WithTimeout(pctx, f.deliveryTimeout)
	ferr := cl.Flush(fctx)
	cancel()
	stopProgress()

	elapsed := time.Since(start).Seconds()
	for k := range cnt.acked {
		for p := range cnt.acked[k] {
			n := cnt.acked[k][p].Load()
			sum.Events += n
			if k > 0 {
				sum.Malformed[gen.MalformedKinds()[k-1]] += n
				sum.MalformedTotal += n
			}
			if p > 0 {
				sum.FraudByPattern[gen.Patterns()[p-1]] += n
				sum.Fraud += n
			}
		}
	}
	sum.Failed = cnt.failed.Load()
	sum.LabelsProduced = labelTopic.count()
	sum.Seconds = math.Round(elapsed*1000) / 1000
	if elapsed > 0 {
		sum.EventsPerSecond = math.Round(float64(sum.Events) / elapsed)
	}
	if produced > 0 {
		sum.FirstEventTime, sum.LastEventTime = &first, &last
	}
	var runErr error
	if p := cnt.stalled.Load(); p != nil {
		runErr = fmt.Errorf("produce to %q: %w (are the brokers %s up?)", f.topic, *p, f.brokers)
	} else if p := cnt.firstErr.Load(); p != nil {
		runErr = fmt.Errorf("produce to %q: %w (%d records failed; are the brokers %s up?)", f.topic, *p, sum.Failed, f.brokers)
	} else if ferr != nil {
		runErr = fmt.Errorf("flush: %w", ferr)
	}
	if runErr == nil && labelFile != nil {
		if runErr = labelFile.Close(); runErr == nil {
			sum.Labels, sum.LabelsFile = labelFile.Count(), f.labels
		}
	}
	if runErr != nil {
		sum.Error = runErr.Error()
	}
	genPrintSummary(stdout, f.summary, sum)
	if runErr != nil {
		return fail("%v", runErr)
	}
	return exitOK
}

// genPrepareTopic checks that the brokers answer within --timeout, and that
// the topic exists (creating it with --create-topic).
func genPrepareTopic(ctx context.Context, cl *kgo.Client, f genFlags, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		fmt.Fprintf(stderr, "scorestream gen: no broker answered at %s within %v: %v (is Kafka up? --brokers, %s)\n",
			f.brokers, f.timeout, err, config.EnvBrokers)
		return exitFailure
	}
	adm := kadm.NewClient(cl)
	if f.createTopic {
		_, err := adm.CreateTopic(ctx, int32(f.partitions), int16(f.replication), nil, f.topic)
		switch {
		case err == nil:
			fmt.Fprintf(stderr, "scorestream gen: created topic %q (%d partitions, replication factor %d)\n", f.topic, f.partitions, f.replication)
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			fmt.Fprintf(stderr, "scorestream gen: create topic %q: %v\n", f.topic, err)
			return exitFailure
		}
		return exitOK
	}
	td, err := adm.ListTopics(ctx, f.topic)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream gen: describe topic %q: %v\n", f.topic, err)
		return exitFailure
	}
	if d, ok := td[f.topic]; !ok || d.Err != nil {
		fmt.Fprintf(stderr, "scorestream gen: topic %q does not exist: create it, or pass --create-topic\n", f.topic)
		return exitFailure
	}
	return exitOK
}

// genProgress prints the produce progress to w every second until the
// returned stop function is called; stop waits for the printer to end. It is
// also the watchdog: when records are outstanding and none has been
// acknowledged or failed for stall, it records the stall and calls abort.
func genProgress(w io.Writer, start time.Time, stall time.Duration, cnt *genCounters, abort func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var prev, prevDone int64
		prevAt, movedAt := start, start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				var n int64
				for k := range cnt.acked {
					for p := range cnt.acked[k] {
						n += cnt.acked[k][p].Load()
					}
				}
				rate := float64(n-prev) / now.Sub(prevAt).Seconds()
				fmt.Fprintf(w, "gen: %d acknowledged, %.0f/s\n", n, rate)
				prev, prevAt = n, now

				finished := n + cnt.failed.Load()
				if finished != prevDone || finished == cnt.produced.Load() {
					prevDone, movedAt = finished, now
				} else if now.Sub(movedAt) >= stall && cnt.stalled.Load() == nil {
					err := fmt.Errorf("no record acknowledged for %v with %d outstanding (--delivery-timeout)",
						stall, cnt.produced.Load()-finished)
					cnt.stalled.Store(&err)
					abort()
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func genPrintSummary(w io.Writer, format string, s genSummary) {
	if format == "json" {
		b, _ := json.Marshal(s) // a plain struct: cannot fail
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "produced %d events to %q in %.1fs (%.0f/s), schema %s id %d, seed %d\n",
		s.Events, s.Topic, s.Seconds, s.EventsPerSecond, s.Schema, s.SchemaID, s.Seed)
	fmt.Fprintf(w, "fraud: %d (burst %d, unusual_amount %d, new_merchants %d)\n", s.Fraud,
		s.FraudByPattern[gen.PatternBurst], s.FraudByPattern[gen.PatternUnusualAmount], s.FraudByPattern[gen.PatternNewMerchants])
	fmt.Fprintf(w, "malformed: %d (bad_magic %d, truncated %d, unknown_schema %d, garbage %d)\n", s.MalformedTotal,
		s.Malformed[gen.MalformedBadMagic], s.Malformed[gen.MalformedTruncated], s.Malformed[gen.MalformedUnknownSchema], s.Malformed[gen.MalformedGarbage])
	if s.FirstEventTime != nil {
		fmt.Fprintf(w, "event time: %s to %s\n", s.FirstEventTime.Format(time.RFC3339), s.LastEventTime.Format(time.RFC3339))
	}
	if s.LabelsProduced > 0 {
		fmt.Fprintf(w, "labels produced: %d\n", s.LabelsProduced)
	}
	if s.LabelsFile != "" {
		fmt.Fprintf(w, "labels: %d written to %s\n", s.Labels, s.LabelsFile)
	}
	if s.Failed > 0 {
		fmt.Fprintf(w, "failed: %d\n", s.Failed)
	}
}
