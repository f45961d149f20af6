package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/config"
)

const auditUsage = `Usage: scorestream audit [flags]

Check scorestream's exactly-once contract on real topics: every committed input
record (topic, partition, offset) must be named by exactly one committed
prediction or exactly one committed dead letter. Outputs name their input with
the headers scorestream.source.topic, .partition and .offset.

Everything is read with read_committed isolation, from each partition's log
start to its last stable offset (aborted transactions do not count, open ones
are not waited for). Only offsets are kept in memory, about 1.25 bytes per
input offset. The audit reports:
  duplicates  extra outputs for an input (an input named twice adds 1)
  missing     committed inputs that no output names
  orphans     outputs naming an input record that does not exist
              (an aborted record, a transaction marker, a bad offset)
  malformed   outputs without parseable provenance headers
  ignored     outputs naming inputs outside the audited range (not an error)

On a live system, audit the consumer group: --group bounds each input partition
at the group's committed offset, which is exactly the input scorestream has
committed; records after it are still being scored. Without --group, scorestream
must have caught up (stopped, or lag 0) or the newest records show as missing.
If outputs have a shorter retention than inputs, bound the audit with --from.

Examples:
  # a local demo or test cluster, after scorestream has caught up
  scorestream audit --input payments --predictions predictions --dead-letters dead-letters

  # production: brokers, TLS/SASL, topics and group from the run config
  scorestream audit -c /etc/scorestream/config.yaml

  # the same, only yesterday's events, for a script (last stdout line is JSON)
  scorestream audit -c config.yaml --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z \
      --summary json | tail -n1 | jq .clean

Exit codes: 0 clean, 1 not clean or the audit failed, 2 bad usage or config.
Flags given on the command line override the values from -c.

Flags:
`

// auditFlags are the parsed flags of scorestream audit.
type auditFlags struct {
	configPath, brokers, predictions, deadLetters, group string
	from, to, summary                                    string
	inputs                                               auditList
	list                                                 int
	set                                                  map[string]bool
}

// auditList is a repeatable flag that also takes comma-separated lists.
type auditList []string

func (l *auditList) String() string { return strings.Join(*l, ",") }
func (l *auditList) Set(v string) error {
	*l = append(*l, config.SplitList(v)...)
	return nil
}

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := auditFlags{set: make(map[string]bool)}
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.StringVar(&f.configPath, "c", "", "scorestream config file: brokers, TLS/SASL, input topics, group and output topics")
	fs.StringVar(&f.brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers (env "+config.EnvBrokers+")")
	fs.Var(&f.inputs, "input", "input topic; repeat the flag or separate with commas")
	fs.StringVar(&f.predictions, "predictions", "", "predictions topic")
	fs.StringVar(&f.deadLetters, "dead-letters", "", "dead-letter topic (empty: none)")
	fs.StringVar(&f.group, "group", "", "consumer group: audit only input offsets below its committed offsets")
	fs.StringVar(&f.from, "from", "", "only input records with timestamp at or after this RFC3339 time")
	fs.StringVar(&f.to, "to", "", "only input records with timestamp before this RFC3339 time")
	fs.StringVar(&f.summary, "summary", "text", "final summary on stdout: text or json (one JSON object on the last line)")
	fs.IntVar(&f.list, "list", audit.DefaultMaxListed, "list at most this many of each problem; 0 lists none")
	if ok, code := parseFlags(fs, args, auditUsage, stdout, stderr); !ok {
		return code
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })

	cfg, opts, err := auditConfig(f, fs.NArg())
	if err != nil {
		fmt.Fprintf(stderr, "scorestream audit: %v\n", err)
		fmt.Fprintln(stderr, `run "scorestream audit --help" for usage`)
		return exitUsage
	}

	stop := auditProgress(stderr)
	rep, err := audit.Run(ctx, opts, cfg, stop.update)
	stop.done()
	if err != nil {
		fmt.Fprintf(stderr, "scorestream audit: %v\n", err)
		if errors.Is(err, audit.ErrConfig) {
			return exitUsage
		}
		return exitFailure
	}
	auditPrint(stdout, f.summary, cfg, rep)
	if !rep.Clean {
		return exitFailure
	}
	return exitOK
}

// auditConfig merges -c and the flags into an audit.Config and connection
// options. Flags set on the command line win over the file.
func auditConfig(f auditFlags, nargs int) (audit.Config, []kgo.Opt, error) {
	var errs []error
	if nargs > 0 {
		errs = append(errs, errors.New("unexpected arguments"))
	}
	cfg := audit.Config{MaxListed: f.list}
	if f.list <= 0 {
		cfg.MaxListed = -1 // audit.Config: negative lists nothing
	}
	var opts []kgo.Opt
	if f.configPath != "" {
		c, err := config.Load(f.configPath)
		if err != nil {
			return cfg, nil, err
		}
		if opts, err = c.KafkaOpts(); err != nil {
			return cfg, nil, fmt.Errorf("config %s: %w", f.configPath, err)
		}
		cfg.InputTopics = c.Stream.InputTopics
		cfg.Group = c.Stream.Group
		cfg.PredictionsTopic = c.Output.PredictionsTopic
		cfg.DeadLetterTopic = c.Output.DeadLetterTopic
	}
	brokers := f.brokers
	if v := os.Getenv(config.EnvBrokers); v != "" && !f.set["brokers"] {
		brokers = v
	}
	if f.configPath == "" || f.set["brokers"] {
		seeds := config.SplitList(brokers)
		if len(seeds) == 0 {
			errs = append(errs, errors.New("--brokers: empty"))
		}
		opts = append(opts, kgo.SeedBrokers(seeds...)) // a later SeedBrokers replaces the file's
	}
	if f.set["input"] {
		cfg.InputTopics = f.inputs
	}
	if f.set["predictions"] {
		cfg.PredictionsTopic = f.predictions
	}
	if f.set["dead-letters"] {
		cfg.DeadLetterTopic = f.deadLetters
	}
	if f.set["group"] {
		cfg.Group = f.group
	}
	if len(cfg.InputTopics) == 0 {
		errs = append(errs, errors.New("--input: at least one input topic required (or -c)"))
	}
	if cfg.PredictionsTopic == "" {
		errs = append(errs, errors.New("--predictions: required (or -c)"))
	}
	for _, tf := range []struct {
		name string
		v    string
		dst  *time.Time
	}{{"--from", f.from, &cfg.FromTime}, {"--to", f.to, &cfg.ToTime}} {
		if tf.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, tf.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an RFC3339 time (like 2026-01-02T15:04:05Z)", tf.name, tf.v))
			continue
		}
		*tf.dst = t
	}
	if f.summary != "text" && f.summary != "json" {
		errs = append(errs, fmt.Errorf("--summary: %q is not text or json", f.summary))
	}
	return cfg, opts, errors.Join(errs...)
}

// auditProgressPrinter prints the latest progress to stderr every second.
type auditProgressPrinter struct {
	mu     sync.Mutex
	last   audit.Progress
	quit   chan struct{}
	wg     sync.WaitGroup
	update func(audit.Progress)
}

func auditProgress(w io.Writer) *auditProgressPrinter {
	p := &auditProgressPrinter{quit: make(chan struct{})}
	p.update = func(pr audit.Progress) {
		p.mu.Lock()
		p.last = pr
		p.mu.Unlock()
	}
	p.wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-tick.C:
				p.mu.Lock()
				pr := p.last
				p.mu.Unlock()
				if pr.Phase == "" {
					continue
				}
				pct := 100.0
				if pr.Total > 0 {
					pct = 100 * float64(pr.Read) / float64(pr.Total)
				}
				fmt.Fprintf(w, "audit: reading %s: %d/%d offsets (%.1f%%)\n", pr.Phase, pr.Read, pr.Total, pct)
			}
		}
	})
	return p
}

func (p *auditProgressPrinter) done() {
	close(p.quit)
	p.wg.Wait()
}

func auditPrint(w io.Writer, format string, cfg audit.Config, r audit.Report) {
	if format == "json" {
		b, _ := json.Marshal(r) // plain struct: cannot fail
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	verdict := "CLEAN: every covered input has exactly one output"
	if !r.Clean {
		verdict = "NOT CLEAN: the exactly-once contract is violated"
	}
	scope := "up to the last stable offset"
	if cfg.Group != "" {
		scope = fmt.Sprintf("up to group %q's committed offsets", cfg.Group)
	}
	fmt.Fprintf(w, "audited %s (%d partitions) %s\n", strings.Join(cfg.InputTopics, ","), r.Partitions, scope)
	fmt.Fprintf(w, "events %d, predictions %d, dead letters %d\n", r.Inputs, r.Predictions, r.DeadLetters)
	fmt.Fprintf(w, "duplicates %d, missing %d, orphans %d, malformed %d (ignored %d outside the audited range)\n",
		r.Duplicates, r.Missing, r.Orphans, r.Malformed, r.Ignored)
	for _, l := range []struct {
		name string
		refs []audit.Ref
		n    int64
	}{
		{"duplicate", r.DuplicateList, r.Duplicates},
		{"missing", r.MissingList, r.Missing},
		{"orphan", r.OrphanList, r.Orphans},
		{"malformed", r.MalformedList, r.Malformed},
	} {
		for _, ref := range l.refs {
			if l.name == "duplicate" {
				fmt.Fprintf(w, "  %s: %s named by %d outputs\n", l.name, ref, ref.Count)
				continue
			}
			fmt.Fprintf(w, "  %s: %s\n", l.name, ref)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w, verdict)
}
