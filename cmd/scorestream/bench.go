package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/scorestream/scorestream/bench"
	"github.com/scorestream/scorestream/config"
)

const benchUsage = `Usage: scorestream bench [flags]

Measure pipeline throughput and latency against a real broker, as a ratio to a
no-op copier: the same transactional loop copying records unchanged, on the
same broker and the same input, in the same run. It creates fresh topics
(bench-<time>-*), produces a backlog of generated payments, drains it with the
copier and then with the scorer (throughput), then feeds each at a fixed rate
(latency: from the input record's timestamp, set as it is produced, to the
commit of its output, from the loop's histogram; and "visible": to a
read_committed consumer receiving the output, exact, every output counted).

Flags:
  --brokers LIST     seed brokers (default 127.0.0.1:9092, env SCORESTREAM_BROKERS)
  --registry URL     schema registry (default http://127.0.0.1:8081)
  --events N         backlog size (default 200000)
  --partitions P     input partitions (default 6)
  --instances K      loops per pipeline (default 1)
  --rate R|half      events/s in the latency phase (default 2000); half: half
                     the events/s the first scorer drained the backlog at (the
                     scorers then run first, the copier last, all at that rate)
  --seconds S        length of the latency phase (default 10)
  --commit-interval D  stream.commit_interval of every pipeline (default: the
                     demo config's, 100ms)
  --workers LIST     stream.workers of the scorer, comma-separated: one scorer
                     pipeline per value on the same input, with its speed-up
                     over the first (default 0 = GOMAXPROCS; e.g. 1,2)
  --summary FORMAT   text or json (json: the last line is one JSON object)
  --replay           then time "scorestream replay" of the same input with the
                     same model (Parquet out), next to the scorer's events/s
  --replay-cpuprofile FILE  write a CPU profile of the replay phase (go tool pprof)

Set SCORESTREAM_BENCH_LOG=1 to see the loops' logs (aborts, rebalances) on stderr.

Examples:
  scripts/kafka.sh start && scorestream registry &
  scorestream bench --events 200000 --summary json
  scorestream bench --commit-interval 20ms --rate half --workers 1,2
`

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr(config.EnvBrokers, "127.0.0.1:9092"), "")
	registry := fs.String("registry", "http://127.0.0.1:8081", "")
	events := fs.Int("events", 200000, "")
	partitions := fs.Int("partitions", 6, "")
	instances := fs.Int("instances", 1, "")
	rateArg := fs.String("rate", "2000", "")
	seconds := fs.Float64("seconds", 10, "")
	interval := fs.Duration("commit-interval", 0, "")
	workersArg := fs.String("workers", "0", "")
	summary := fs.String("summary", "text", "")
	withReplay := fs.Bool("replay", false, "")
	replayProfile := fs.String("replay-cpuprofile", "", "")
	if ok, code := parseFlagsUsage(fs, args, "bench", benchUsage, stdout, stderr); !ok {
		return code
	}
	rate, rateErr := 0.0, error(nil)
	if *rateArg != "half" {
		if rate, rateErr = strconv.ParseFloat(*rateArg, 64); rateErr == nil && rate <= 0 {
			rateErr = errors.New("not positive")
		}
	}
	var workers []int
	for _, w := range config.SplitList(*workersArg) {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			rateErr = errors.Join(rateErr, fmt.Errorf("--workers %q", w))
		}
		workers = append(workers, n)
	}
	if *events < 1 || *partitions < 1 || *instances < 1 || rateErr != nil || len(workers) == 0 || *interval < 0 || *seconds <= 0 ||
		(*summary != "text" && *summary != "json") || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream bench: --events, --partitions, --instances and --seconds must be positive, --rate positive or half, --workers counts >= 0, --commit-interval >= 0; --summary text or json\n\n%s", benchUsage)
		return exitUsage
	}
	res, err := bench.Run(ctx, bench.Config{
		Brokers: config.SplitList(*brokers), RegistryURL: *registry, Events: *events,
		Partitions: int32(*partitions), Instances: *instances, Rate: rate, Seconds: *seconds,
		CommitInterval: *interval, Workers: workers, Replay: *withReplay, ReplayCPUProfile: *replayProfile, Progress: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "scorestream bench: %v\n", err)
		return exitFailure
	}
	if *summary == "json" {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	writeBenchTable(stdout, res)
	if *withReplay {
		fmt.Fprintf(stdout, "  replay events/s  %9.0f               replay/scorer = %.2f (%d records, same input)\n",
			res.ReplayEventsPerSec, res.ReplayRatio, res.ReplayEvents)
		fmt.Fprintf(stdout, "  replay CPU µs/event %6.1f               (process, all cores)\n", res.ReplayCPUPerEventUs)
	}
	return exitOK
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// writeBenchTable prints the copier and every scorer pipeline side by side.
func writeBenchTable(w io.Writer, res bench.Result) {
	phases := append([]bench.Phase{res.Copier}, res.Scorers...)
	fmt.Fprintf(w, "\nbench: %d events, %d partitions, %d instance(s) per pipeline, commit interval %gms, GOMAXPROCS %d\n",
		res.Events, res.Partitions, res.Instances, res.CommitInterval, res.GOMAXPROCS)
	row := func(name string, cell func(i int, p bench.Phase) string) {
		fmt.Fprintf(w, "  %-16s", name)
		for i, p := range phases {
			fmt.Fprintf(w, " %11s", cell(i, p))
		}
		fmt.Fprintln(w)
	}
	row("", func(i int, _ bench.Phase) string {
		if i == 0 {
			return "copier"
		}
		return "scorer"
	})
	row("workers", func(_ int, p bench.Phase) string { return strconv.Itoa(p.Workers) })
	row("events/s", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.0f", p.EventsPerSec) })
	row("speed-up", func(i int, _ bench.Phase) string {
		if i == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", res.SpeedUp[i-1])
	})
	row("CPU µs/event", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.CPUPerEventUs) })
	row("CPU cores", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.2f", p.CPUCores) })
	row("latency rate/s", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.0f", p.LatencyRate) })
	row("latency p50 ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.LatencyP50ms) })
	row("latency p99 ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.LatencyP99ms) })
	row("visible p50 ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.VisibleP50ms) })
	row("visible p99 ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.VisibleP99ms) })
	row("visible max ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.VisibleMaxms) })
	row("txn p50 ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.TxnP50ms) })
	row("txn p99 ms", func(_ int, p bench.Phase) string { return fmt.Sprintf("%.1f", p.TxnP99ms) })
	row("txns committed", func(_ int, p bench.Phase) string { return strconv.FormatInt(p.Committed, 10) })
	row("txns aborted", func(_ int, p bench.Phase) string { return strconv.FormatInt(p.Aborted, 10) })
	fmt.Fprintf(w, "  scorer/copier = %.2f (events/s, first scorer); CPU while draining; latency: input produced -> commit\n", res.ThroughputRatio)
	fmt.Fprintf(w, "  (histogram), visible: input produced -> output read by a read_committed consumer (exact); txn: Begin -> End done\n")
}
