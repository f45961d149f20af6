package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/stream"
)

const demoUsage = `Usage: scorestream demo [flags]

Everything in one process, nothing to install: an embedded Kafka broker
(franz-go kfake), an embedded schema registry (served over HTTP, so curl and
other tools can reach it), a generator of synthetic card payments with planted
fraud (bursts, unusual amounts, new merchants) and a small share of malformed
records, K scorestream instances in one consumer group, and /metrics.

It prints live progress, then reads every output topic back with
read_committed and verifies that each input record has exactly one prediction
or dead letter. Exit code 0 only when that holds.

The generator stays at most 20000 events ahead of the committed ones
(backpressure), and with --events 0 the embedded broker deletes, every few
seconds, what is audited already (records below the committed offsets), so the
memory stays bounded however long it runs. On Ctrl-C it audits up to the
committed offsets and says how many events were produced but not committed.

Flags:
  --events N            events to generate; 0 = until Ctrl-C (default 50000)
  --rate R              events per second; 0 = as fast as it goes (default 0)
  --instances K         pipeline instances in one consumer group (default 2)
  --partitions P        input partitions (default 6)
  --malformed F         share of deliberately malformed records (default 0.005)
  --seed S              generator seed (default 1)
  --drift-at N          shift the input after N events: every later amount is
                        multiplied by 4 (an upstream unit change); the progress
                        line and the summary show the score PSI and the most
                        drifted feature against the reference (0 = no shift)
  --manifest-out FILE   write the demo model's manifest with the reference
                        profile computed at startup, for scorestream rules
                        (its model: names the demo's embedded model.json, which
                        is not written there)
  --summary FORMAT      text or json: json makes the last line one JSON object
  --metrics-listen ADDR /metrics endpoint; "" disables (default 127.0.0.1:9464)
  --registry-listen ADDR embedded registry address (default 127.0.0.1:0)
  --log-level LEVEL     debug, info, warn, error (default warn)
  --labels FILE         write the ground truth of the well-formed events (CSV:
                        event_id,label,pattern,event_time; label 1 = fraud)
  --keep DIR            after the summary, keep the embedded broker and registry
                        running (until Ctrl-C) and write DIR/config.yaml,
                        DIR/model.json, DIR/model-novelocity.json and
                        DIR/labels.csv, so that "scorestream replay -c
                        DIR/config.yaml" evaluates models on the demo's data

Examples:
  scorestream demo
  scorestream demo --keep demo-run      # then, in another terminal:
  scorestream replay -c demo-run/config.yaml --model demo=demo-run/model.json \
      --model no-velocity=demo-run/model-novelocity.json --labels demo-run/labels.csv \
      --out demo-run/replay
  scorestream demo --events 50000 --summary json
  scorestream demo --events 0 --rate 500 --instances 3   # Ctrl-C to stop
  scorestream demo --drift-at 20000                       # watch the PSI rise
`

const (
	demoMaxAhead  = 20000           // events the generator may be ahead of the committed ones
	demoTrimEvery = 3 * time.Second // with --events 0: how often committed records are deleted
)

type demoFlags struct {
	events, instances, partitions int
	driftAt                       int
	manifestOut                   string
	rate, malformed               float64
	seed                          int64
	summary, metrics, registry    string
	logLevel, labels, keep        string
}

// demoSummary is the verified result; its JSON keys are part of the CLI contract.
type demoSummary struct {
	Events       int64            `json:"events"`
	Predictions  int64            `json:"predictions"`
	DeadLetters  int64            `json:"dead_letters"`
	Duplicates   int64            `json:"duplicates"`
	Missing      int64            `json:"missing"`
	Orphans      int64            `json:"orphans"`
	Malformed    map[string]int   `json:"malformed_generated"`
	Decisions    map[string]int64 `json:"decisions"`
	Instances    int              `json:"instances"`
	Committed    int64            `json:"transactions_committed"`
	Aborted      int64            `json:"transactions_aborted"`
	Seconds      float64          `json:"seconds"`
	EventsPerSec float64          `json:"events_per_second"`
	Clean        bool             `json:"clean"`
	// Drift of all committed records against the reference profile.
	DriftScorePSI   float64 `json:"drift_score_psi"`
	DriftTopFeature string  `json:"drift_top_feature"`
	DriftTopPSI     float64 `json:"drift_top_feature_psi"`
	// Interrupted (Ctrl-C): the audit covers the inputs up to the group's
	// committed offsets; the rest were produced but not committed.
	Interrupted bool  `json:"interrupted"`
	Uncommitted int64 `json:"produced_not_committed"`
	Trimmed     int64 `json:"trimmed"` // earlier inputs deleted to bound memory (--events 0), not in events
	// Ignored outputs (counted in predictions and dead_letters) name trimmed
	// inputs: committed after the outputs were trimmed, before the inputs were.
	Ignored int64 `json:"ignored"`
}

func demoParse(args []string, stdout, stderr io.Writer) (demoFlags, int, bool) {
	f := demoFlags{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.IntVar(&f.events, "events", 50000, "")
	fs.Float64Var(&f.rate, "rate", 0, "")
	fs.IntVar(&f.instances, "instances", 2, "")
	fs.IntVar(&f.partitions, "partitions", 6, "")
	fs.Float64Var(&f.malformed, "malformed", 0.005, "")
	fs.Int64Var(&f.seed, "seed", 1, "")
	fs.IntVar(&f.driftAt, "drift-at", 0, "")
	fs.StringVar(&f.manifestOut, "manifest-out", "", "")
	fs.StringVar(&f.summary, "summary", "text", "")
	fs.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9464", "")
	fs.StringVar(&f.registry, "registry-listen", "127.0.0.1:0", "")
	fs.StringVar(&f.logLevel, "log-level", "warn", "")
	fs.StringVar(&f.labels, "labels", "", "")
	fs.StringVar(&f.keep, "keep", "", "")
	if ok, code := parseFlagsUsage(fs, args, "demo", demoUsage, stdout, stderr); !ok {
		return f, code, false
	}
	var bad []string
	if f.events < 0 {
		bad = append(bad, "--events must be >= 0")
	}
	if f.rate < 0 {
		bad = append(bad, "--rate must be >= 0")
	}
	if f.driftAt < 0 {
		bad = append(bad, "--drift-at must be >= 0")
	}
	if f.instances < 1 {
		bad = append(bad, "--instances must be >= 1")
	}
	if f.partitions < 1 {
		bad = append(bad, "--partitions must be >= 1")
	}
	if f.malformed < 0 || f.malformed > 1 {
		bad = append(bad, "--malformed must be in [0, 1]")
	}
	if f.summary != "text" && f.summary != "json" {
		bad = append(bad, "--summary must be text or json")
	}
	if f.keep != "" && f.labels == "" {
		f.labels = filepath.Join(f.keep, "labels.csv")
	}
	if len(bad) > 0 || fs.NArg() > 0 {
		if fs.NArg() > 0 {
			bad = append(bad, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
		}
		fmt.Fprintf(stderr, "scorestream demo: %s\n\n%s", strings.Join(bad, "; "), demoUsage)
		return f, exitUsage, false
	}
	return f, exitOK, true
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code, ok := demoParse(args, stdout, stderr)
	if !ok {
		return code
	}
	log := newLogger(stderr, f.logLevel, "text")
	start := time.Now()
	env, err := demo.Start(int32(f.partitions), f.registry)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
		return exitFailure
	}
	defer env.Close()
	dir, err := os.MkdirTemp("", "scorestream-demo")
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
		return exitFailure
	}
	defer os.RemoveAll(dir)
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, dir)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
		return exitFailure
	}
	reg := newRegistry()
	shared, err := stream.Prepare(ctx, cfg, reg)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "embedded kafka %s, schema registry %s, model %s, %d instance(s)\n",
		strings.Join(env.Brokers, ","), env.RegistryURL, shared.Models.Champion.Label(), f.instances)
	// The drift reference, before any loop scores (the scorer is read-only after).
	champ := shared.Models.Champion
	// The reference spans as many events as the run (or, unbounded, the part
	// before the shift): the demo's state features (counts, sums over windows
	// of up to a day of simulated time) warm up as the stream goes on, so a
	// reference of another length would show drift where there is none.
	refEvents := demoReferenceEvents
	switch {
	case f.events > 0:
		refEvents = f.events
	case f.driftAt > 0:
		refEvents = f.driftAt
	}
	refEvents = max(refEvents, 2000)
	refStart := time.Now()
	profile, defs, err := demoReference(shared, f.seed, refEvents)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: reference profile: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "drift reference: %d events of another sample through the feature spec and model in %.1fs\n",
		refEvents, time.Since(refStart).Seconds())
	champ.Profile = profile
	if f.manifestOut != "" {
		if err := writeDemoManifest(f.manifestOut, champ, defs, profile); err != nil {
			fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
			return exitFailure
		}
	}
	dd := &demoDrift{g: reg, p: profile, s: champ}
	if f.metrics != "" {
		addr, err := serveHTTP(ctx, f.metrics, reg, func() bool { return true }, func() error { return nil }, log)
		if err != nil { // e.g. the port is taken: the demo runs on without /metrics
			fmt.Fprintf(stderr, "no /metrics (%v); use --metrics-listen to pick another address\n", err)
		} else {
			fmt.Fprintf(stderr, "metrics on http://%s/metrics\n", addr)
		}
	}

	// Pipeline instances: each its own loop, transactional id and client.
	runCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	loops := make([]*stream.Loop, f.instances)
	var wg sync.WaitGroup
	errs := make([]error, f.instances)
	for i := range loops {
		l, err := shared.NewLoop(fmt.Sprintf("demo-%d", i), log)
		if err != nil {
			fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
			return exitFailure
		}
		loops[i] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Run(runCtx)
		}()
	}

	// The generator: until --events are produced or Ctrl-C.
	prod, err := demo.NewProducer(ctx, env.Brokers, env.RegistryURL, "payments",
		gen.Config{Seed: f.seed, MalformedRate: f.malformed, DriftAt: f.driftAt})
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
		return exitFailure
	}
	defer prod.Close()
	var labels *gen.LabelFile
	if f.labels != "" {
		if err := os.MkdirAll(filepath.Dir(f.labels), 0o755); err == nil {
			labels, err = gen.CreateLabelFile(f.labels)
		}
		if err != nil {
			fmt.Fprintf(stderr, "scorestream demo: --labels: %v\n", err)
			return exitUsage
		}
		defer labels.Abort()
		prod.OnRecord = func(r gen.Record) { // the producer's goroutine only
			if r.Malformed == "" {
				labels.Add(r.Event)
			}
		}
	}
	scored := func() (int64, int64, int64) {
		var s, c, a int64
		for _, l := range loops {
			s += l.Stats.Predictions.Load() + l.Stats.DeadLetters.Load()
			c += l.Stats.Committed.Load()
			a += l.Stats.Aborted.Load()
		}
		return s, c, a
	}
	// The generator's goroutine: until --events are produced or Ctrl-C. prodDone
	// closes when it ends; produced is read by the progress loop.
	var produced atomic.Int64
	var prodErr error // written before prodDone closes
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		const chunk = 1000
		for f.events == 0 || int(produced.Load()) < f.events {
			// Backpressure: wait while the pipeline is demoMaxAhead behind.
			for s, _, _ := scored(); produced.Load()-s >= demoMaxAhead; s, _, _ = scored() {
				if stream.Sleep(ctx, 10*time.Millisecond) != nil {
					return
				}
			}
			n := chunk
			if f.events > 0 {
				n = min(chunk, f.events-int(produced.Load()))
			}
			err := prod.Produce(ctx, n, f.rate)
			produced.Store(int64(prod.Produced))
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					prodErr = err
				}
				return
			}
		}
	}()

	// Endless: delete what is committed every few seconds (see demo.Env.Trim).
	var trimmed atomic.Int64
	trimDone := make(chan struct{})
	trimCtx, stopTrim := context.WithCancel(ctx)
	go func() {
		defer close(trimDone)
		if f.events != 0 {
			return
		}
		for stream.Sleep(trimCtx, demoTrimEvery) == nil {
			n, err := env.Trim(trimCtx, cfg.Stream.Group)
			if err != nil && trimCtx.Err() == nil {
				log.Warn("demo: trimming the embedded broker failed", "err", err)
			}
			trimmed.Add(n)
		}
	}()
	// Progress until everything produced is scored, or Ctrl-C.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastT := int64(0), time.Now()
	interrupted := false
wait:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break wait
		case <-tick.C:
		}
		s, _, a := scored()
		now := time.Now()
		rate := float64(s-last) / now.Sub(lastT).Seconds()
		last, lastT = s, now
		p := produced.Load()
		fmt.Fprintf(stderr, "produced %8d  scored %8d  %7.0f ev/s  lag %6d  aborted txns %3d  scores %s  last %ds: %s\n",
			p, s, rate, p-s, a, demoSparkline(reg), demoDriftWindow, fmtDrift(dd.tick()))
		select {
		case <-prodDone:
			if s >= produced.Load() {
				break wait
			}
		default:
		}
	}
	<-prodDone
	stopTrim()
	<-trimDone
	stopLoops()
	wg.Wait()
	if prodErr != nil {
		fmt.Fprintf(stderr, "scorestream demo: generator: %v\n", prodErr)
		return exitFailure
	}
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(stderr, "scorestream demo: instance %d: %v\n", i, err)
			return exitFailure
		}
	}

	// Verify by reading everything back with read_committed.
	acfg := audit.Config{InputTopics: []string{"payments"}, PredictionsTopic: "predictions", DeadLetterTopic: "payments-dlq"}
	if interrupted {
		acfg.Group = cfg.Stream.Group // only what was committed must be covered
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	rep, err := audit.Run(vctx, []kgo.Opt{kgo.SeedBrokers(env.Brokers...)}, acfg, nil)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream demo: verify: %v\n", err)
		return exitFailure
	}
	done, committed, aborted := scored()
	secs := time.Since(start).Seconds()
	sum := demoSummary{
		Events: rep.Inputs, Predictions: rep.Predictions, DeadLetters: rep.DeadLetters,
		Duplicates: rep.Duplicates, Missing: rep.Missing, Orphans: rep.Orphans,
		Malformed: prod.Malformed, Decisions: demoDecisions(reg), Instances: f.instances,
		Committed: committed, Aborted: aborted, Seconds: secs, EventsPerSec: float64(rep.Inputs+trimmed.Load()) / secs,
		Clean:       rep.Clean && rep.Predictions+rep.DeadLetters == rep.Inputs+rep.Ignored,
		Interrupted: interrupted, Uncommitted: max(0, produced.Load()-done), Trimmed: trimmed.Load(), Ignored: rep.Ignored,
	}
	if dr := dd.total(); len(dr.Features) > 0 {
		sum.DriftScorePSI, sum.DriftTopFeature, sum.DriftTopPSI = dr.ScorePSI, dr.Features[0].Name, dr.Features[0].PSI
	}
	if labels != nil {
		if err := labels.Close(); err != nil {
			fmt.Fprintf(stderr, "scorestream demo: %v\n", err)
			return exitFailure
		}
	}
	demoPrint(stdout, f.summary, sum)
	if !sum.Clean {
		return exitFailure
	}
	if f.keep != "" {
		w := stdout
		if f.summary == "json" { // the JSON summary stays the last stdout line
			w = stderr
		}
		return demoKeep(ctx, f.keep, env, w, stderr)
	}
	return exitOK
}

// demoKeep writes the replay kit into dir and serves the embedded broker and
// registry until ctx ends (Ctrl-C).
func demoKeep(ctx context.Context, dir string, env *demo.Env, out, stderr io.Writer) int {
	if err := demo.ReplayKit(dir, env.Brokers, env.RegistryURL); err != nil {
		fmt.Fprintf(stderr, "scorestream demo: --keep: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(out, `
kept running: kafka %s, schema registry %s (Ctrl-C to stop)
evaluate the demo model against one trained without state features, in another terminal:
  scorestream replay -c %[3]s/config.yaml --model demo=%[3]s/model.json \
      --model no-velocity=%[3]s/model-novelocity.json --labels %[3]s/labels.csv --out %[3]s/replay
`, strings.Join(env.Brokers, ","), env.RegistryURL, dir)
	<-ctx.Done()
	return exitOK
}

func demoPrint(w io.Writer, format string, s demoSummary) {
	if format == "json" {
		b, _ := json.Marshal(s)
		fmt.Fprintln(w, string(b))
		return
	}
	verdict := "exactly once: every input has exactly one prediction or dead letter"
	if !s.Clean {
		verdict = "NOT exactly once"
	}
	scope := "every event produced"
	if s.Interrupted {
		scope = fmt.Sprintf("the events up to the committed offsets; %d produced but not yet committed are not audited", s.Uncommitted)
	}
	if s.Trimmed > 0 {
		scope += fmt.Sprintf("; %d earlier committed ones were deleted to bound memory and are not counted here"+
			" (%d of the outputs below name them)", s.Trimmed, s.Ignored)
	}
	fmt.Fprintf(w, `
summary (verified with read_committed)
  audited        %s
  events         %d
  predictions    %d
  dead letters   %d   (generated malformed: %s)
  duplicates     %d
  missing        %d
  decisions      %s
  transactions   %d committed, %d aborted
  took           %.1fs (%.0f events/s) with %d instance(s)
  drift          score PSI %.3f, most drifted feature %s (PSI %.3f), against the reference
  %s
`, scope, s.Events, s.Predictions, s.DeadLetters, counts(s.Malformed), s.Duplicates, s.Missing, counts(s.Decisions),
		s.Committed, s.Aborted, s.Seconds, s.EventsPerSec, s.Instances, s.DriftScorePSI, s.DriftTopFeature, s.DriftTopPSI, verdict)
}

// counts renders a count per name as "a 3, b 1", names sorted; "none" if empty.
func counts[N int | int64](m map[string]N) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// demoSparkline renders the champion score histogram as one bar per bucket.
func demoSparkline(g prometheus.Gatherer) string {
	mfs, err := g.Gather()
	if err != nil {
		return ""
	}
	for _, mf := range mfs {
		if mf.GetName() != "scorestream_model_score" {
			continue
		}
		var counts []float64
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			prev := 0.0
			for i, b := range h.GetBucket() {
				c := float64(b.GetCumulativeCount()) - prev
				prev = float64(b.GetCumulativeCount())
				if i >= len(counts) {
					counts = append(counts, 0)
				}
				counts[i] += c
			}
		}
		return "0|" + sparkline(counts) + "|1"
	}
	return ""
}

func sparkline(v []float64) string {
	const bars = "▁▂▃▄▅▆▇█"
	runes := []rune(bars)
	mx := 0.0
	for _, x := range v {
		mx = max(mx, x)
	}
	var b strings.Builder
	for _, x := range v {
		if mx == 0 || x == 0 {
			b.WriteRune(' ')
			continue
		}
		// log scale: fraud scores are rare, so a linear scale would hide them
		i := int(float64(len(runes)-1) * logScale(x, mx))
		b.WriteRune(runes[i])
	}
	return b.String()
}

func logScale(x, mx float64) float64 {
	if mx <= 1 {
		return 1
	}
	return math.Floor(math.Log2(x)) / math.Floor(math.Log2(mx))
}

func demoDecisions(g prometheus.Gatherer) map[string]int64 {
	out := map[string]int64{}
	mfs, err := g.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "scorestream_model_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "decision" {
					out[lp.GetValue()] += int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out
}
