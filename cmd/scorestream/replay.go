package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/modelwatch"
	"github.com/scorestream/scorestream/replay"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

const replayUsage = `Usage: scorestream replay -c config.yaml [range] [--model NAME=PATH ...] [flags]

Run a bounded range of the input topic(s) through the same decode, features,
state and scoring code as "scorestream run", with one or more models, and write
one row per event per model to <out>/predictions.parquet, a summary to
<out>/summary.json and the evaluation report (<out>/report.html, report.json)
where this build has one. Features are computed once per event and every model
scores the same vector; partitions are replayed in parallel.

Isolation: replay joins no consumer group, commits no offsets and writes no
topic (unless --to-topic names one); it needs only Describe and Read on the
input topics (and read access to the schema registry). It reads
read_committed and stops by itself at the end of the range.

Range (at most one start and one end; default: log start to the last stable
offset at startup):
  --from/--to T           Kafka record timestamps, RFC 3339 (the broker's time
                          index; the same as event time when producers set it)
  --from-offsets/--to-offsets topic:partition=offset,...
                          per partition; partitions not named start at the log
                          start / end at the last stable offset
  --from-group G          start where consumer group G has committed now (what
                          the live pipeline has scored so far; partitions it
                          has not committed start at the log start); combine
                          with --to or --to-offsets. Kafka keeps no history of a
                          group's offsets: for "what G had committed at time T",
                          use --from T (records scored after T).

Warm-up: state features must see the history the live pipeline saw, so state is
built from records before the start without emitting anything for them. By
default it goes back max(longest window, state.ttl) in record time;
--warmup all starts at the log start (exactly the live pipeline's history),
--warmup 0 turns it off. The summary says how far back it went and how many
records that took.

Models: --model NAME=PATH, repeatable; PATH is a model file (format detected)
or a model manifest (.yaml/.yml: name, version, thresholds, golden rows). The
first is the reference. Without --model, the config's model (and challenger).

Labels: --labels FILE (.csv with a header row, or .parquet) or topic:NAME (Avro
via the registry), joined by event id (--label-id-column, default event_id;
--label-column, default label; values 1/0, true/false, yes/no, fraud/legit).
The summary counts labels that matched an event and labels that matched none.

Bad input: malformed records are counted per dead-letter class in the summary,
exactly as the live pipeline would dead-letter them; they never stop a replay.
A range with no records, --to before --from, a missing label column or a model
file that does not load are errors (exit 2); nothing is left half-written (files
are written under a temporary name and renamed).

Examples:
  # last week, the live model against a candidate, with chargebacks as labels
  scorestream replay -c config.yaml --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z \
      --model champion=models/v7/manifest.yaml --model challenger=models/v8/manifest.yaml \
      --labels chargebacks.csv --unlabeled negative --out replay/

  # exactly what partition 3 held between two offsets, with feature vectors
  scorestream replay -c config.yaml --from-offsets payments:3=1000 --to-offsets payments:3=2000 \
      --features --out /tmp/p3

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.

Flags:
  -c, --config FILE       the run config (brokers, registry, topics, features, state)
      --from, --to T      range by record timestamp (RFC 3339)
      --from-offsets L    range start per partition (topic:partition=offset,...)
      --to-offsets L      range end per partition (exclusive)
      --from-group G      range start at consumer group G's committed offsets
      --warmup D          warm-up before the start: a duration, "all" or 0
                          (default max(longest window, state.ttl))
      --model NAME=PATH   a model to score with (repeatable; first = reference)
      --labels SRC        labels: a .csv or .parquet file, or topic:NAME
      --label-id-column C event id column/field of the labels (default event_id)
      --label-column C    label column/field (default label)
      --unlabeled P       exclude (default) or negative: how the evaluation
                          treats events without a label
      --segment FIELD     event field (dotted path) to break the evaluation down by
      --cost fp=X,fn=Y    cost of a false positive and a false negative
      --features          write the feature vector (columns f_<name>)
      --out DIR           output directory (default replay-out)
      --to-topic T        also produce the predictions to topic T (transactional,
                          the live predictions' Avro schema and headers; needs
                          Write on T and registering T-value; never a topic of
                          the config)
      --progress D        progress line interval on stderr (default 2s; 0 = off)
      --cpuprofile FILE   write a CPU profile of the replay (reading, scoring,
                          writing; go tool pprof FILE)
`

type replayFlags struct {
	configPath, from, to, fromOffsets, toOffsets, fromGroup, warmup string
	models                                                          []string
	labels, labelID, labelCol, unlabeled, segment, cost, out, topic string
	cpuprofile                                                      string
	features                                                        bool
	progress                                                        time.Duration
}

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f replayFlags
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.StringVar(&f.configPath, "c", "", "")
	fs.StringVar(&f.configPath, "config", "", "")
	fs.StringVar(&f.from, "from", "", "")
	fs.StringVar(&f.to, "to", "", "")
	fs.StringVar(&f.fromOffsets, "from-offsets", "", "")
	fs.StringVar(&f.toOffsets, "to-offsets", "", "")
	fs.StringVar(&f.fromGroup, "from-group", "", "")
	fs.StringVar(&f.warmup, "warmup", "", "")
	fs.Var((*repeated)(&f.models), "model", "")
	fs.StringVar(&f.labels, "labels", "", "")
	fs.StringVar(&f.labelID, "label-id-column", "event_id", "")
	fs.StringVar(&f.labelCol, "label-column", "label", "")
	fs.StringVar(&f.unlabeled, "unlabeled", "exclude", "")
	fs.StringVar(&f.segment, "segment", "", "")
	fs.StringVar(&f.cost, "cost", "", "")
	fs.BoolVar(&f.features, "features", false, "")
	fs.StringVar(&f.out, "out", "replay-out", "")
	fs.StringVar(&f.topic, "to-topic", "", "")
	fs.DurationVar(&f.progress, "progress", 2*time.Second, "")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "")
	if ok, code := parseFlagsUsage(fs, args, "replay", replayUsage, stdout, stderr); !ok {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "scorestream replay: "+format+"\n", a...)
		return exitUsage
	}
	if f.configPath == "" || fs.NArg() > 0 {
		return bad("-c config.yaml is required (see --help)")
	}
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return bad("%v", err)
	}
	log := newLogger(stderr, cfg.Log.Level, "text")
	rp, err := replaySetup(ctx, cfg, f)
	if err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, replay.ErrRange) || errors.Is(err, replay.ErrLabels) {
			return bad("%v", err)
		}
		fmt.Fprintf(stderr, "scorestream replay: %v\n", err)
		return exitFailure
	}
	defer rp.close()

	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return bad("--out: %v", err)
	}
	var feats []string
	if f.features {
		feats = rp.spec.Names()
	}
	pq, err := replay.NewParquetWriter(filepath.Join(f.out, "predictions.parquet"), rp.ids, feats)
	if err != nil {
		return bad("--out: %v", err)
	}
	defer pq.Abort()
	out := &replay.Output{Parquet: pq, Labels: rp.labels}
	thresholds := make([][]config.Threshold, len(rp.scorers))
	for i, s := range rp.scorers {
		thresholds[i] = s.Thresholds
	}
	ropts := replayReportOptions{Unlabeled: f.unlabeled}
	if f.cost != "" {
		ropts.CostFP, ropts.CostFN, _ = parseCost(f.cost) // checked in replaySetup
	}
	if f.topic != "" {
		tw, err := replay.NewTopicWriter(ctx, replay.TopicConfig{Conn: rp.conn, Topic: f.topic,
			TransactionalID: fmt.Sprintf("%s-replay-%d", cfg.Stream.TransactionalIDPrefix, time.Now().UnixNano()),
			SchemaID:        rp.topicSchema, Models: rp.ids, Features: feats})
		if err != nil {
			fmt.Fprintf(stderr, "scorestream replay: %v\n", err)
			return exitFailure
		}
		defer tw.Abort(context.WithoutCancel(ctx))
		out.Topic = tw
	}
	report := newReplayReport(rp.ids, thresholds, ropts)
	if report != nil {
		out.Eval = report
	}

	r, err := replay.New(replay.Config{Conn: rp.conn, Spans: rp.spans, Decoder: rp.dec, Spec: rp.spec,
		Models: rp.scorers, State: state.Config{Limits: rp.spec.Limits(), MaxEntities: cfg.State.MaxEntities},
		Segment: f.segment})
	if err != nil {
		return bad("%v", err)
	}
	log.Info("replay starting", "spans", len(rp.spans), "models", len(rp.scorers), "warmup", rp.warmupDesc, "out", f.out)
	stopProfile := func() error { return nil }
	if f.cpuprofile != "" {
		if stopProfile, err = replay.StartCPUProfile(f.cpuprofile); err != nil {
			return bad("--cpuprofile: %v", err)
		}
	}
	start := time.Now()
	stopProgress := replayProgress(stderr, f.progress, start, r)
	err = r.Run(ctx, out)
	stopProgress()
	if perr := stopProfile(); err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintf(stderr, "scorestream replay: %v\n", err)
		return exitFailure
	}
	if out.Topic != nil {
		if err := out.Topic.Close(ctx); err != nil {
			fmt.Fprintf(stderr, "scorestream replay: %v\n", err)
			return exitFailure
		}
	}
	if err := pq.Close(); err != nil {
		fmt.Fprintf(stderr, "scorestream replay: %v\n", err)
		return exitFailure
	}
	sum := replay.NewSummary(rp.spans, r.Progress(), rp.labels, time.Since(start))
	sum.From, sum.To, sum.Models, sum.Version = f.from, f.to, rp.ids, replayVersion()
	sum.Warmup.From = rp.warmupDesc
	if err := replay.WriteJSON(filepath.Join(f.out, "summary.json"), sum); err != nil {
		fmt.Fprintf(stderr, "scorestream replay: %v\n", err)
		return exitFailure
	}
	if report != nil {
		fmt.Fprintf(stderr, "replay: %d events scored in %.1fs; building the report\n", sum.Events, sum.Seconds)
		if err := report.Write(f.out, sum); err != nil {
			fmt.Fprintf(stderr, "scorestream replay: report: %v\n", err)
			return exitFailure
		}
	}
	printReplaySummary(stdout, sum, f.out, report != nil)
	return exitOK
}

var errUsage = errors.New("usage")

// replayReport builds the evaluation report from the scored events.
type replayReport interface {
	replay.Evaluator
	Write(dir string, s replay.Summary) error // report.json, report.html
}

// replayReportOptions are the report's flags.
type replayReportOptions struct {
	Unlabeled      string
	CostFP, CostFN float64
}

type replayRun struct {
	conn        []kgo.Opt
	admin       *kgo.Client
	spec        *features.Spec
	dec         *decode.Decoder
	scorers     []*process.Scorer
	ids         []replay.ModelID
	closers     []*process.Models
	spans       []replay.Span
	labels      *replay.Labels
	warmupDesc  string
	topicSchema int // --to-topic's prediction schema id
}

func (rp *replayRun) close() {
	for _, ms := range rp.closers {
		for _, s := range []*process.Scorer{ms.Champion, ms.Challenger} {
			if s == nil {
				continue
			}
			if c, ok := s.Model.(interface{ Close() error }); ok {
				_ = c.Close()
			}
		}
	}
	if rp.admin != nil {
		rp.admin.Close()
	}
}

// replaySetup checks the flags, loads the models and labels and resolves the
// range. Errors wrapping errUsage, replay.ErrRange or replay.ErrLabels are the
// user's to fix (exit 2).
func replaySetup(ctx context.Context, cfg *config.Config, f replayFlags) (*replayRun, error) {
	usage := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	var b replay.Bounds
	var err error
	if f.from != "" {
		if b.From, err = time.Parse(time.RFC3339, f.from); err != nil {
			return nil, usage("--from: %v", err)
		}
	}
	if f.to != "" {
		if b.To, err = time.Parse(time.RFC3339, f.to); err != nil {
			return nil, usage("--to: %v", err)
		}
	}
	if f.fromOffsets != "" {
		if b.FromOffsets, err = replay.ParseOffsets(f.fromOffsets); err != nil {
			return nil, usage("--from-offsets: %v", err)
		}
	}
	if f.toOffsets != "" {
		if b.ToOffsets, err = replay.ParseOffsets(f.toOffsets); err != nil {
			return nil, usage("--to-offsets: %v", err)
		}
	}
	b.FromGroup = f.fromGroup
	if n := count(f.from != "", f.fromOffsets != "", f.fromGroup != ""); n > 1 {
		return nil, usage("give at most one of --from, --from-offsets, --from-group")
	}
	if f.to != "" && f.toOffsets != "" {
		return nil, usage("give at most one of --to, --to-offsets")
	}
	if f.unlabeled != "exclude" && f.unlabeled != "negative" {
		return nil, usage("--unlabeled: %q is not exclude or negative", f.unlabeled)
	}
	if f.cost != "" {
		if _, _, err := parseCost(f.cost); err != nil {
			return nil, usage("--cost: %v", err)
		}
	}
	var desc string
	switch f.warmup {
	case "":
		b.Warmup = defaultWarmup(cfg)
		desc = b.Warmup.String() + " before the start (max of the longest window and state.ttl)"
	case "all":
		b.WarmupAll, desc = true, "log start"
	default:
		if b.Warmup, err = time.ParseDuration(f.warmup); err != nil || b.Warmup < 0 {
			return nil, usage("--warmup: %q is not a duration, all or 0", f.warmup)
		}
		desc = b.Warmup.String() + " before the start"
		if b.Warmup == 0 {
			desc = "none"
		}
	}
	if b.WarmupAll && b.FromOffsets == nil && b.From.IsZero() && b.FromGroup == "" {
		desc = "none needed (the range starts at the log start)"
	}

	rp := &replayRun{warmupDesc: desc}
	if rp.conn, err = cfg.KafkaOpts(); err != nil {
		return nil, usage("kafka: %v", err)
	}
	if rp.spec, err = features.Compile(cfg.Features, cfg.State, cfg.Stream); err != nil {
		return nil, usage("%v", err)
	}
	if err := rp.loadModels(cfg, f.models); err != nil {
		rp.close()
		return nil, err
	}
	ropts, err := cfg.RegistryOpts()
	if err != nil {
		rp.close()
		return nil, usage("%v", err)
	}
	rcl, err := sr.NewClient(ropts...)
	if err != nil {
		rp.close()
		return nil, usage("registry: %v", err)
	}
	paths := rp.spec.Paths()
	if f.segment != "" {
		paths = append(paths, strings.Split(f.segment, "."))
	}
	if rp.dec, err = decode.New(decode.SRRegistry{Client: rcl}, decode.Config{CacheSize: cfg.Registry.CacheSize, Paths: paths}); err != nil {
		rp.close()
		return nil, err
	}
	if rp.admin, err = kgo.NewClient(rp.conn...); err != nil {
		rp.close()
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if f.labels != "" {
		cols := replay.LabelColumns{ID: f.labelID, Label: f.labelCol}
		if topic, ok := strings.CutPrefix(f.labels, "topic:"); ok {
			full, err := decode.New(decode.SRRegistry{Client: rcl}, decode.Config{CacheSize: cfg.Registry.CacheSize})
			if err == nil {
				rp.labels, err = replay.LoadLabelsTopic(ctx, rp.conn, rp.admin, topic, full, cols)
			}
			if err != nil {
				rp.close()
				return nil, err
			}
		} else if rp.labels, err = replay.LoadLabelsFile(f.labels, cols); err != nil {
			rp.close()
			return nil, err
		}
	}
	if rp.spans, err = replay.Resolve(ctx, rp.conn, kadm.NewClient(rp.admin), cfg.Stream.InputTopics, b); err != nil {
		rp.close()
		return nil, err
	}
	if f.topic != "" {
		live := append([]string{cfg.Output.PredictionsTopic, cfg.Output.ShadowTopic, cfg.Output.DeadLetterTopic, cfg.Output.ChangelogTopic}, cfg.Stream.InputTopics...)
		if slices.Contains(live, f.topic) {
			rp.close()
			return nil, usage("--to-topic %s: a topic of the live pipeline (config); replay never writes those", f.topic)
		}
		if rp.topicSchema, err = stream.RegisterPredictionSchema(ctx, rcl, f.topic); err != nil {
			rp.close()
			return nil, fmt.Errorf("--to-topic: %w", err)
		}
	}
	return rp, nil
}

// loadModels loads each --model NAME=PATH (or the config's models) through
// modelwatch, the live pipeline's loader: the same checks against the feature
// spec and the manifest's golden rows.
func (rp *replayRun) loadModels(cfg *config.Config, specs []string) error {
	if len(specs) == 0 {
		ms, err := modelwatch.Load(cfg.Model, cfg.Features, rp.spec)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		rp.closers = append(rp.closers, ms)
		rp.add(ms.Champion.Name, ms.Champion)
		if ms.Challenger != nil {
			rp.add(ms.Challenger.Name+"-challenger", ms.Challenger)
		}
		return nil
	}
	seen := map[string]bool{}
	for _, s := range specs {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("%w: --model %q: want NAME=PATH", errUsage, s)
		}
		if seen[name] {
			return fmt.Errorf("%w: --model: name %q given twice", errUsage, name)
		}
		seen[name] = true
		mc := config.Model{Path: path, Name: name, Version: "", Thresholds: cfg.Model.Thresholds}
		if same(path, cfg.Model.Path) { // the configured model keeps its identity
			mc = cfg.Model
			mc.Challenger, mc.Watch = nil, false
		}
		if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
			man, err := model.LoadManifest(path)
			if err != nil {
				return fmt.Errorf("%w: --model %s: %w", errUsage, name, err)
			}
			mc.Manifest, mc.Path, mc.Format = path, man.ModelPath(), ""
		} else if mc.Manifest == "" {
			mc.Format = ""
		}
		ms, err := modelwatch.Load(mc, cfg.Features, rp.spec)
		if err != nil {
			return fmt.Errorf("%w: --model %s: %w", errUsage, name, err)
		}
		rp.closers = append(rp.closers, ms)
		rp.add(name, ms.Champion)
	}
	return nil
}

func (rp *replayRun) add(name string, s *process.Scorer) {
	rp.scorers = append(rp.scorers, s)
	rp.ids = append(rp.ids, replay.ModelID{Name: name, Version: s.Version, Hash: s.Hash})
}

func same(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	fa, ea := os.Stat(a)
	fb, eb := os.Stat(b)
	return ea == nil && eb == nil && os.SameFile(fa, fb)
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// defaultWarmup is max(longest window, state.ttl).
func defaultWarmup(cfg *config.Config) time.Duration {
	d := cfg.State.TTL
	for _, f := range cfg.Features {
		d = max(d, f.Window)
	}
	return d
}

// parseCost parses "fp=1,fn=50".
func parseCost(s string) (fp, fn float64, err error) {
	var seenFP, seenFN bool
	for _, kv := range config.SplitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		x, perr := strconv.ParseFloat(v, 64)
		if !ok || perr != nil || x < 0 {
			return 0, 0, fmt.Errorf("%q: want fp=COST or fn=COST with a cost >= 0", kv)
		}
		switch k {
		case "fp":
			fp, seenFP = x, true
		case "fn":
			fn, seenFN = x, true
		default:
			return 0, 0, fmt.Errorf("%q: want fp=COST or fn=COST", kv)
		}
	}
	if !seenFP || !seenFN {
		return 0, 0, fmt.Errorf("%q: give both fp= and fn=", s)
	}
	return fp, fn, nil
}

// replayProgress prints a progress line every interval until stop is called.
func replayProgress(w io.Writer, every time.Duration, start time.Time, r *replay.Replayer) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p := r.Progress()
				el := time.Since(start).Seconds()
				rate := float64(p.Offsets) / el
				eta := "?"
				if rate > 0 {
					eta = (time.Duration(float64(p.TotalOffsets-p.Offsets)/rate) * time.Second).Round(time.Second).String()
				}
				fmt.Fprintf(w, "replay: %d/%d offsets (%.0f%%), %d warm-up, %d events scored, %d dead letters, %.0f offsets/s, ETA %s\n",
					p.Offsets, p.TotalOffsets, 100*float64(p.Offsets)/float64(max(1, p.TotalOffsets)), p.Warmup, p.Events, p.DeadLetters, rate, eta)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func printReplaySummary(w io.Writer, s replay.Summary, out string, report bool) {
	fmt.Fprintf(w, "replayed %d events in %.1fs (%.0f events/s), %d dead letters", s.Events, s.Seconds, s.EventsPerSecond, s.DeadLetters)
	if len(s.DeadLettersByClass) > 0 {
		fmt.Fprintf(w, " (%s)", counts(s.DeadLettersByClass))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "warm-up: %s, %d records\n", s.Warmup.From, s.Warmup.Events)
	for i, m := range s.Models {
		role := "challenger"
		if i == 0 {
			role = "reference"
		}
		fmt.Fprintf(w, "model %s (%s): version %q, sha256 %s\n", m.Name, role, m.Version, m.Hash)
	}
	if s.LabelsSource != "" {
		fmt.Fprintf(w, "labels %s: %d matched an event, %d matched none\n", s.LabelsSource, s.LabelsMatched, s.LabelsUnmatched)
	}
	fmt.Fprintf(w, "wrote %s and %s\n", filepath.Join(out, "predictions.parquet"), filepath.Join(out, "summary.json"))
	if report {
		fmt.Fprintf(w, "report: %s (and report.json)\n", filepath.Join(out, "report.html"))
	}
}

// replayVersion names the binary in the report's provenance: version and commit
// (readBuildInfo, as `scorestream version` prints them).
func replayVersion() string {
	b := readBuildInfo()
	return b.Version + " " + b.Revision
}
