package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/scorestream/scorestream/bench"
	"github.com/scorestream/scorestream/config"
)

const benchUsage = `Usage: scorestream bench [flags]

Measure pipeline throughput and latency against a real broker, as a ratio to a
no-op copier: the same transactional loop copying records unchanged, on the
same broker and the same input, in the same run. It creates fresh topics
(bench-<time>-*), produces a backlog of generated payments, drains it with the
copier and then with the scorer (throughput), then feeds both at a fixed rate
(latency: from the input record's timestamp to the commit of its output).

Flags:
  --brokers LIST     seed brokers (default 127.0.0.1:9092, env SCORESTREAM_BROKERS)
  --registry URL     schema registry (default http://127.0.0.1:8081)
  --events N         backlog size (default 200000)
  --partitions P     input partitions (default 6)
  --instances K      loops per pipeline (default 1)
  --rate R           events/s in the latency phase (default 2000)
  --seconds S        length of the latency phase (default 10)
  --summary FORMAT   text or json (json: the last line is one JSON object)
  --replay           then time "scorestream replay" of the same input with the
                     same model (Parquet out), next to the scorer's events/s
  --replay-cpuprofile FILE  write a CPU profile of the replay phase (go tool pprof)

Set SCORESTREAM_BENCH_LOG=1 to see the loops' logs (aborts, rebalances) on stderr.

Examples:
  scripts/kafka.sh start && scorestream registry &
  scorestream bench --events 200000 --summary json
`

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr(config.EnvBrokers, "127.0.0.1:9092"), "")
	registry := fs.String("registry", "http://127.0.0.1:8081", "")
	events := fs.Int("events", 200000, "")
	partitions := fs.Int("partitions", 6, "")
	instances := fs.Int("instances", 1, "")
	rate := fs.Float64("rate", 2000, "")
	seconds := fs.Float64("seconds", 10, "")
	summary := fs.String("summary", "text", "")
	withReplay := fs.Bool("replay", false, "")
	replayProfile := fs.String("replay-cpuprofile", "", "")
	if ok, code := parseFlagsUsage(fs, args, "bench", benchUsage, stdout, stderr); !ok {
		return code
	}
	if *events < 1 || *partitions < 1 || *instances < 1 || *rate <= 0 || *seconds <= 0 || (*summary != "text" && *summary != "json") || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream bench: --events, --partitions, --instances, --rate and --seconds must be positive; --summary text or json\n\n%s", benchUsage)
		return exitUsage
	}
	res, err := bench.Run(ctx, bench.Config{
		Brokers: config.SplitList(*brokers), RegistryURL: *registry, Events: *events,
		Partitions: int32(*partitions), Instances: *instances, Rate: *rate, Seconds: *seconds, Replay: *withReplay, ReplayCPUProfile: *replayProfile, Progress: stderr,
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
	fmt.Fprintf(stdout, `
bench: %d events, %d partitions, %d instance(s) per pipeline
                     copier      scorer
  events/s         %9.0f   %9.0f    scorer/copier = %.2f
  CPU µs/event     %9.1f   %9.1f    (process, while draining)
  latency p50 ms   %9.1f   %9.1f    (at %.0f events/s)
  latency p99 ms   %9.1f   %9.1f
  txns committed   %9d   %9d
  txns aborted     %9d   %9d
`, res.Events, res.Partitions, res.Instances,
		res.Copier.EventsPerSec, res.Scorer.EventsPerSec, res.ThroughputRatio,
		res.Copier.CPUPerEventUs, res.Scorer.CPUPerEventUs,
		res.Copier.LatencyP50ms, res.Scorer.LatencyP50ms, res.LatencyRate,
		res.Copier.LatencyP99ms, res.Scorer.LatencyP99ms,
		res.Copier.Committed, res.Scorer.Committed, res.Copier.Aborted, res.Scorer.Aborted)
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
