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
	"runtime"
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
	Events      int   // backlog drained for throughput
	Partitions  int32 // input partitions
	Instances   int   // loops per phase
	// Rate is the latency phase's events/s; 0 means half the events/s the
	// first scorer drained the backlog at: the scorers then run first and the
	// copier last, every latency phase at that rate.
	Rate    float64
	Seconds float64 // length of the latency phase
	// CommitInterval overrides the demo config's stream.commit_interval when
	// positive.
	CommitInterval time.Duration
	// Workers runs one scorer pipeline per value (stream.workers: 0 is
	// GOMAXPROCS, 1 scores on the loop's goroutine only), each on fresh output
	// topics and a fresh group over the same input; empty means {0}. The
	// copier runs with the first value.
	Workers []int
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
	// CPUCores is that CPU time over the drain's wall time: how many cores
	// the process kept busy.
	CPUCores     float64 `json:"process_cpu_cores"`
	Workers      int     `json:"workers"`            // stream.workers (0: GOMAXPROCS)
	LatencyRate  float64 `json:"latency_phase_rate"` // events/s fed in the latency phase
	LatencyP50ms float64 `json:"latency_p50_ms"`     // input timestamp -> commit (the loop's histogram)
	LatencyP99ms float64 `json:"latency_p99_ms"`
	// Visible* are from an input's produce to its output's receipt by a
	// read_committed consumer, exact (every latency-phase output; nearest rank).
	VisibleP50ms float64 `json:"visible_p50_ms"`
	VisibleP99ms float64 `json:"visible_p99_ms"`
	VisibleMaxms float64 `json:"visible_max_ms"`
	VisibleCount int     `json:"visible_outputs"`
	TxnP50ms     float64 `json:"txn_duration_p50_ms"` // Begin to the end of End (the loop's histogram)
	TxnP99ms     float64 `json:"txn_duration_p99_ms"`
	Committed    int64   `json:"transactions_committed"`
	Aborted      int64   `json:"transactions_aborted"`
}

// Result compares the scorer with the copier.
type Result struct {
	Events          int     `json:"events"`
	Partitions      int32   `json:"partitions"`
	Instances       int     `json:"instances"`
	CommitInterval  float64 `json:"commit_interval_ms"`
	GOMAXPROCS      int     `json:"gomaxprocs"`
	Copier          Phase   `json:"copier"`
	Scorer          Phase   `json:"scorer"`           // with Config.Workers[0]
	ThroughputRatio float64 `json:"throughput_ratio"` // scorer / copier
	// Scorers are the scorer pipelines of every Config.Workers value, the
	// first being Scorer; SpeedUp[i] is Scorers[i]'s events/s over Scorer's.
	Scorers []Phase   `json:"scorers"`
	SpeedUp []float64 `json:"speed_up"`
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
	if len(c.Workers) == 0 {
		c.Workers = []int{0}
	}
	res := Result{Events: c.Events, Partitions: c.Partitions, Instances: c.Instances, GOMAXPROCS: runtime.GOMAXPROCS(0)}
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
	if c.CommitInterval > 0 {
		base.Stream.CommitInterval = c.CommitInterval
	}
	res.CommitInterval = float64(base.Stream.CommitInterval) / float64(time.Millisecond)
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
	type pipeline struct {
		name    string
		noop    bool
		workers int
		out     *Phase
	}
	res.Scorers = make([]Phase, len(c.Workers))
	var pipes []pipeline
	for i, w := range c.Workers {
		name := "scorer"
		if i > 0 {
			name = fmt.Sprintf("scorer-%d", i)
		}
		pipes = append(pipes, pipeline{name, false, w, &res.Scorers[i]})
	}
	copier := pipeline{"copier", true, c.Workers[0], &res.Copier}
	rate := c.Rate
	if rate > 0 {
		pipes = append([]pipeline{copier}, pipes...)
	} else {
		// Half the drain rate: the first scorer's. It runs first and sets the
		// rate of every latency phase, the copier's (last) included, so that
		// they compare at one rate.
		pipes = append(pipes, copier)
	}
	for _, p := range pipes {
		cfg := *base
		cfg.Stream.Workers = p.workers
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
		fmt.Fprintf(c.Progress, "%s: draining %d events with %d instance(s), workers %d, commit interval %v\n",
			p.name, prod.Produced, c.Instances, p.workers, cfg.Stream.CommitInterval)
		ph, err := drain(ctx, &cfg, p.noop, c, prod, adm, rate)
		if err != nil {
			return res, fmt.Errorf("%s: %w", p.name, err)
		}
		ph.Workers = p.workers
		*p.out = ph
		rate = ph.LatencyRate
		fmt.Fprintf(c.Progress, "%s: %.0f events/s, %.1f µs process CPU per event (%.2f cores), latency p50 %.1f ms p99 %.1f ms at %.0f events/s\n",
			p.name, ph.EventsPerSec, ph.CPUPerEventUs, ph.CPUCores, ph.LatencyP50ms, ph.LatencyP99ms, ph.LatencyRate)
	}
	res.Scorer = res.Scorers[0]
	if res.Copier.EventsPerSec > 0 {
		res.ThroughputRatio = res.Scorer.EventsPerSec / res.Copier.EventsPerSec
	}
	for _, s := range res.Scorers {
		res.SpeedUp = append(res.SpeedUp, s.EventsPerSec/res.Scorer.EventsPerSec)
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
// A rate of 0 is half the events/s of this drain.
func drain(ctx context.Context, cfg *config.Config, noop bool, c Config, prod *demo.Producer, adm *kadm.Client, rate float64) (Phase, error) {
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
	wall := time.Since(first)
	ph := Phase{EventsPerSec: float64(backlog-firstN) / wall.Seconds()}
	if n := backlog - firstN; n > 0 {
		cpu := processCPU() - cpu0
		ph.CPUPerEventUs = float64(cpu.Microseconds()) / float64(n)
		ph.CPUCores = cpu.Seconds() / wall.Seconds()
	}
	// Latency: fresh histogram, paced input.
	ph.LatencyRate = rate
	if ph.LatencyRate <= 0 {
		ph.LatencyRate = ph.EventsPerSec / 2
	}
	hist := latencyHist(reg, "scorestream_stream_event_latency_seconds", "log_append")
	txnHist := latencyHist(reg, "scorestream_stream_transaction_duration_seconds", "")
	before, txnBefore := hist(), txnHist()
	vis, err := watchVisibility(ctx, adm, c.Brokers, cfg.Stream.InputTopics[0], cfg.Output.PredictionsTopic, cfg.Output.DeadLetterTopic)
	if err != nil {
		return Phase{}, err
	}
	events := max(1, int(ph.LatencyRate*c.Seconds))
	target := done() + int64(events)
	if err := prod.Produce(ctx, events, ph.LatencyRate); err != nil {
		vis.stop()
		return Phase{}, err
	}
	for done() < target {
		select {
		case <-commits:
		case <-time.After(time.Minute):
			vis.stop()
			return Phase{}, fmt.Errorf("latency phase did not complete")
		}
	}
	after, txnAfter := hist(), txnHist()
	ph.LatencyP50ms = quantile(before, after, 0.5) * 1000
	ph.LatencyP99ms = quantile(before, after, 0.99) * 1000
	ph.TxnP50ms = quantile(txnBefore, txnAfter, 0.5) * 1000
	ph.TxnP99ms = quantile(txnBefore, txnAfter, 0.99) * 1000
	// Every output is committed: wait (bounded) until the reader has them.
	vis.wait(events, 30*time.Second)
	lat := vis.stop()
	if len(lat) < events {
		return Phase{}, fmt.Errorf("latency phase: a read_committed reader saw %d of %d outputs", len(lat), events)
	}
	ph.VisibleCount = len(lat)
	ph.VisibleP50ms, ph.VisibleP99ms, ph.VisibleMaxms = percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1)
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

// latencyHist returns a function that snapshots histogram name (with label
// from = from, unless from is "").
func latencyHist(g prometheus.Gatherer, name, from string) func() []bucket {
	return func() []bucket {
		mfs, _ := g.Gather()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if from != "" && label(m, "from") != from {
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
