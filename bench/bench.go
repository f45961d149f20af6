// Package bench measures the pipeline's throughput and latency against a real
// broker, as a ratio to a no-op copier that runs on the same transactional loop,
// the same broker and the same input in the same run. The ratio is what scoring
// (decode, state, features, model, encode, changelog) costs on top of
// exactly-once consume-transform-produce itself.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/replay"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/process"
)

// Config of a benchmark run.
type Config struct {
	Brokers     []string
	RegistryURL string
	Events      int     // backlog drained for throughput
	Partitions  int32   // input partitions
	Instances   int     // loops per phase
	Rate        float64 // events/s for the latency phase
	Seconds     float64 // length of the latency phase
	// Replay adds a phase: `scorestream replay` of the same input (everything
	// the scorer consumed, the latency phase's records included) with the same
	// model, writing Parquet, timed from start to the last record written.
	Replay bool
	// ReplayCPUProfile, when set, is where the replay phase's CPU profile is
	// written (go tool pprof).
	ReplayCPUProfile string
	Progress         io.Writer
}

// Phase is one pipeline's figures.
type Phase struct {
	EventsPerSec float64 `json:"events_per_second"`
	// CPUPerEventUs is the process's CPU time (user and system, the Kafka
	// client's included; the broker is another process) while draining the
	// backlog, per event, in µs.
	CPUPerEventUs float64 `json:"process_cpu_us_per_event"`
	LatencyP50ms  float64 `json:"latency_p50_ms"`
	LatencyP99ms  float64 `json:"latency_p99_ms"`
	Committed     int64   `json:"transactions_committed"`
	Aborted       int64   `json:"transactions_aborted"`
}

// Result compares the scorer with the copier.
type Result struct {
	Events          int     `json:"events"`
	Partitions      int32   `json:"partitions"`
	Instances       int     `json:"instances"`
	Copier          Phase   `json:"copier"`
	Scorer          Phase   `json:"scorer"`
	ThroughputRatio float64 `json:"throughput_ratio"` // scorer / copier
	LatencyRate     float64 `json:"latency_phase_rate"`
	// With Config.Replay: the replay's records per second (scored and
	// dead-lettered, warm-up none) and its ratio to the scorer's events/s.
	ReplayEvents       int64   `json:"replay_events,omitempty"`
	ReplayEventsPerSec float64 `json:"replay_events_per_second,omitempty"`
	ReplayRatio        float64 `json:"replay_to_scorer_ratio,omitempty"`
	// ReplayCPUPerEventUs is the process's CPU time during the replay phase per
	// record, in µs (all cores: on 2 cores, 2 s of CPU per wall second).
	ReplayCPUPerEventUs float64 `json:"replay_process_cpu_us_per_event,omitempty"`
}

// Run creates fresh topics, produces the backlog, drains it with the copier and
// then with the scorer, then runs both at a fixed rate for the latency figures.
func Run(ctx context.Context, c Config) (Result, error) {
	res := Result{Events: c.Events, Partitions: c.Partitions, Instances: c.Instances, LatencyRate: c.Rate}
	run := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	dir, err := os.MkdirTemp("", "scorestream-bench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	base, err := demo.Config(c.Brokers, c.RegistryURL, dir)
	if err != nil {
		return res, err
	}
	base.Stream.InputTopics = []string{run + "-payments"}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers...))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, c.Partitions, -1, nil, base.Stream.InputTopics[0]); err != nil {
		return res, fmt.Errorf("create input topic: %w", err)
	}
	prod, err := demo.NewProducer(ctx, c.Brokers, c.RegistryURL, base.Stream.InputTopics[0], gen.Config{Seed: 5, MalformedRate: 0.001})
	if err != nil {
		return res, err
	}
	defer prod.Close()
	fmt.Fprintf(c.Progress, "producing %d events to %s\n", c.Events, base.Stream.InputTopics[0])
	if err := prod.Produce(ctx, c.Events, 0); err != nil {
		return res, err
	}
	for _, p := range []struct {
		name string
		noop bool
		out  *Phase
	}{{"copier", true, &res.Copier}, {"scorer", false, &res.Scorer}} {
		cfg := *base
		cfg.Stream.Group = run + "-" + p.name
		cfg.Output = config.Output{
			PredictionsTopic: run + "-" + p.name + "-out",
			DeadLetterTopic:  run + "-" + p.name + "-dlq",
			ChangelogTopic:   run + "-" + p.name + "-changelog",
			CreateTopics:     true,
		}
		if err := stream.EnsureTopics(ctx, adm, &cfg, true, -1, nil); err != nil {
			return res, err
		}
		fmt.Fprintf(c.Progress, "%s: draining %d events with %d instance(s)\n", p.name, c.Events, c.Instances)
		ph, err := drain(ctx, &cfg, p.noop, c, prod)
		if err != nil {
			return res, fmt.Errorf("%s: %w", p.name, err)
		}
		*p.out = ph
		fmt.Fprintf(c.Progress, "%s: %.0f events/s, %.1f µs process CPU per event, latency p50 %.1f ms p99 %.1f ms at %.0f events/s\n",
			p.name, ph.EventsPerSec, ph.CPUPerEventUs, ph.LatencyP50ms, ph.LatencyP99ms, c.Rate)
	}
	if res.Copier.EventsPerSec > 0 {
		res.ThroughputRatio = res.Scorer.EventsPerSec / res.Copier.EventsPerSec
	}
	if c.Replay {
		fmt.Fprintf(c.Progress, "replay: %s, log start to end, the scorer's model\n", base.Stream.InputTopics[0])
		n, secs, cpu, err := replayPhase(ctx, base, cl, dir, c.ReplayCPUProfile)
		if err != nil {
			return res, fmt.Errorf("replay: %w", err)
		}
		res.ReplayEvents, res.ReplayEventsPerSec = n, float64(n)/secs
		if n > 0 {
			res.ReplayCPUPerEventUs = float64(cpu.Microseconds()) / float64(n)
		}
		if res.Scorer.EventsPerSec > 0 {
			res.ReplayRatio = res.ReplayEventsPerSec / res.Scorer.EventsPerSec
		}
		fmt.Fprintf(c.Progress, "replay: %d records in %.2fs, %.0f events/s, %.1f µs process CPU per event\n", n, secs, res.ReplayEventsPerSec, res.ReplayCPUPerEventUs)
	}
	return res, nil
}

// replayPhase replays the whole input topic of cfg through the scoring core
// with cfg's model, writing Parquet into dir, and returns how many records it
// passed (scored and dead-lettered), the seconds from start to the file being
// closed and the process CPU time in between. With profile set, a CPU profile
// of that time is written there.
func replayPhase(ctx context.Context, cfg *config.Config, cl *kgo.Client, dir, profile string) (n int64, secs float64, cpu time.Duration, err error) {
	shared, err := stream.Prepare(ctx, cfg, prometheus.NewRegistry())
	if err != nil {
		return 0, 0, 0, err
	}
	if profile != "" {
		stop, err := replay.StartCPUProfile(profile)
		if err != nil {
			return 0, 0, 0, err
		}
		defer func() {
			if serr := stop(); err == nil {
				err = serr
			}
		}()
	}
	start, cpu0 := time.Now(), processCPU()
	spans, err := replay.Resolve(ctx, shared.Conn, kadm.NewClient(cl), cfg.Stream.InputTopics, replay.Bounds{})
	if err != nil {
		return 0, 0, 0, err
	}
	m := shared.Models.Champion
	pq, err := replay.NewParquetWriter(filepath.Join(dir, "replay.parquet"), []replay.ModelID{{Name: m.Name, Version: m.Version, Hash: m.Hash}}, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	defer pq.Abort()
	r, err := replay.New(replay.Config{Conn: shared.Conn, Spans: spans, Decoder: shared.Decoder, Spec: shared.Spec,
		Models: []*process.Scorer{m}, State: state.Config{Limits: shared.Spec.Limits(), MaxEntities: cfg.State.MaxEntities}})
	if err != nil {
		return 0, 0, 0, err
	}
	if err := r.Run(ctx, &replay.Output{Parquet: pq}); err != nil {
		return 0, 0, 0, err
	}
	if err := pq.Close(); err != nil {
		return 0, 0, 0, err
	}
	st := r.Progress()
	return st.Events + st.DeadLetters, time.Since(start).Seconds(), processCPU() - cpu0, nil
}

// drain runs the loops over the backlog (throughput), then keeps them running
// while the producer writes at c.Rate for c.Seconds (latency).
func drain(ctx context.Context, cfg *config.Config, noop bool, c Config, prod *demo.Producer) (Phase, error) {
	reg := prometheus.NewRegistry()
	shared, err := stream.Prepare(ctx, cfg, reg)
	if err != nil {
		return Phase{}, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("SCORESTREAM_BENCH_LOG") != "" {
		log = slog.New(slog.NewTextHandler(c.Progress, nil))
	}
	commits := make(chan time.Time, 4096)
	loops := make([]*stream.Loop, c.Instances)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }() // on every return: no loop outlives the phase
	errs := make([]error, c.Instances)
	for i := range loops {
		var l *stream.Loop
		if noop {
			l, err = shared.NewCopierLoop(fmt.Sprintf("%s-%d", cfg.Stream.Group, i), log)
		} else {
			l, err = shared.NewLoop(fmt.Sprintf("%s-%d", cfg.Stream.Group, i), log)
		}
		if err != nil {
			return Phase{}, err
		}
		l.SetOnCommit(func(int) {
			select {
			case commits <- time.Now():
			default:
			}
		})
		loops[i] = l
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = l.Run(runCtx) }()
	}
	done := func() int64 {
		var n int64
		for _, l := range loops {
			n += l.Stats.Predictions.Load() + l.Stats.DeadLetters.Load()
		}
		return n
	}
	// Throughput: from the first commit (the group has joined and restored) to
	// the commit that completes the backlog.
	var first time.Time
	var firstN int64
	var cpu0 time.Duration
	deadline := time.After(10 * time.Minute)
	backlog := int64(prod.Produced) // includes earlier phases' latency input
	for done() < backlog {
		select {
		case t := <-commits:
			if first.IsZero() {
				first, firstN, cpu0 = t, done(), processCPU()
			}
		case <-deadline:
			return Phase{}, fmt.Errorf("backlog not drained in 10 minutes (%d of %d)", done(), backlog)
		}
	}
	ph := Phase{EventsPerSec: float64(backlog-firstN) / time.Since(first).Seconds()}
	if n := backlog - firstN; n > 0 {
		ph.CPUPerEventUs = float64((processCPU() - cpu0).Microseconds()) / float64(n)
	}
	// Latency: fresh histogram, paced input.
	hist := latencyHist(reg)
	before := hist()
	target := done() + int64(c.Rate*c.Seconds)
	if err := prod.Produce(ctx, int(c.Rate*c.Seconds), c.Rate); err != nil {
		return Phase{}, err
	}
	for done() < target {
		select {
		case <-commits:
		case <-time.After(time.Minute):
			return Phase{}, fmt.Errorf("latency phase did not complete")
		}
	}
	after := hist()
	ph.LatencyP50ms = quantile(before, after, 0.5) * 1000
	ph.LatencyP99ms = quantile(before, after, 0.99) * 1000
	stop()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return ph, err
		}
	}
	for _, l := range loops {
		ph.Committed += l.Stats.Committed.Load()
		ph.Aborted += l.Stats.Aborted.Load()
	}
	return ph, nil
}

type bucket struct {
	le  float64
	cum float64
}

// latencyHist returns a function that snapshots the log_append latency histogram.
func latencyHist(g prometheus.Gatherer) func() []bucket {
	return func() []bucket {
		mfs, _ := g.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "scorestream_stream_event_latency_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if label(m, "from") != "log_append" {
					continue
				}
				var out []bucket
				for _, b := range m.GetHistogram().GetBucket() {
					out = append(out, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
				out = append(out, bucket{math.Inf(1), float64(m.GetHistogram().GetSampleCount())})
				return out
			}
		}
		return nil
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantile estimates the q-quantile of the observations between two snapshots,
// interpolating linearly inside a bucket as Prometheus' histogram_quantile does.
func quantile(before, after []bucket, q float64) float64 {
	if len(after) == 0 {
		return math.NaN()
	}
	d := make([]bucket, len(after))
	for i := range after {
		d[i] = after[i]
		if i < len(before) {
			d[i].cum -= before[i].cum
		}
	}
	total := d[len(d)-1].cum
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(d), func(i int) bool { return d[i].cum >= rank })
	if i >= len(d)-1 {
		return d[len(d)-2].le
	}
	lo, loCum := 0.0, 0.0
	if i > 0 {
		lo, loCum = d[i-1].le, d[i-1].cum
	}
	if d[i].cum == loCum {
		return d[i].le
	}
	return lo + (d[i].le-lo)*(rank-loCum)/(d[i].cum-loCum)
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
