package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream"
)

const runUsage = `Usage: scorestream run -c config.yaml [--check [--timeout 5s]]

Consume the input topic(s) in a consumer group, score every event with the
configured model and produce one prediction (or one dead letter) per input
record, exactly once: outputs, state changes and consumed offsets commit in one
Kafka transaction.

Run one instance per core-set; more instances with the same stream.group share
the partitions. Give each a unique, stable instance id (SCORESTREAM_INSTANCE_ID
or stream.instance_id; a StatefulSet pod name is ideal): a restarted instance
then fences its own zombie at once.

On SIGINT/SIGTERM the open transaction is finished (within
stream.shutdown_timeout), the group is left, and the exit code is 0.

With model.watch: true the model files (and manifests) are polled every second
and reloaded on SIGHUP. A new model serves only after it parses, fits the
feature spec and reproduces its manifest's golden rows; otherwise it is refused
(a warning, scorestream_model_reloads_total{result="refused"}) and the current
model keeps serving. The swap happens between transactions.

Topics are not created unless output.create_topics is true; create them up
front with "scorestream topics create -c config.yaml".

Flags:
  -c, --config FILE   the YAML config (see config/example.yaml)
      --check         check everything a run needs and print every problem
                      found, changing nothing: the config, the model against
                      the features, the brokers, each topic (exists, partition
                      count, changelog compacted and co-partitioned, ACLs where
                      the brokers tell), the consumer group and transactional id
                      ACLs, the registry, whether every feature path is in the
                      input subjects' latest writer schemas, and whether the
                      prediction schema is compatible with its subject (asked,
                      never registered).
                      Exit 0 if all is well, 1 with the list of problems
      --timeout D     how long --check waits for the brokers and the registry
                      (default 5s; both are asked at the same time)

Endpoints (metrics.listen, default :9464): /metrics; /healthz, which fails
(503, with the reason) when the loop has made no progress for
stream.liveness_timeout while it owns partitions with lag, so that Kubernetes
restarts a hung instance; /readyz, ready once the instance joined the consumer
group and restored the state of its assigned partitions.

Examples:
  scorestream run -c config/example.yaml
  SCORESTREAM_INSTANCE_ID=scorer-1 scorestream run -c prod.yaml
  SCORESTREAM_INSTANCE_ID=scorer-2 SCORESTREAM_METRICS_LISTEN=:9465 scorestream run -c prod.yaml
  scorestream run -c prod.yaml --check
  scorestream run -c prod.yaml --check --timeout 2s
`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var path string
	var check bool
	fs.StringVar(&path, "c", "", "")
	fs.StringVar(&path, "config", "", "")
	fs.BoolVar(&check, "check", false, "")
	timeout := fs.Duration("timeout", 5*time.Second, "")
	if ok, code := parseFlagsUsage(fs, args, "run", runUsage, stdout, stderr); !ok {
		return code
	}
	if path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream run: -c config.yaml is required\n\n%s", runUsage)
		return exitUsage
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	switch {
	case timeoutSet && !check:
		fmt.Fprintf(stderr, "scorestream run: --timeout is for --check (a run waits up to %v for brokers and registry)\n", stream.StartupTimeout)
		return exitUsage
	case *timeout <= 0:
		fmt.Fprintf(stderr, "scorestream run: --timeout %v: want > 0\n", *timeout)
		return exitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream run: %v\n", err)
		return exitUsage
	}
	if check {
		return runCheck(ctx, cfg, path, *timeout, stdout)
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	reg := newRegistry()
	shared, err := stream.PrepareLogged(ctx, cfg, reg, log)
	if err != nil {
		log.Error("startup failed", "err", err)
		if errors.Is(err, stream.ErrUnavailable) || ctx.Err() != nil {
			return exitFailure
		}
		return exitUsage
	}
	admCl, err := kgo.NewClient(shared.Conn...)
	if err != nil {
		log.Error("kafka client", "err", err)
		return exitUsage
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	err = stream.EnsureTopics(ctx, adm, cfg, cfg.Output.CreateTopics, -1, log)
	if err != nil {
		log.Error("topics", "err", err)
		return exitFailure
	}
	loop, err := shared.NewLoop(cfg.Stream.InstanceID, log)
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitFailure
	}
	// The group's progress as the brokers see it (scorestream_group_*), a
	// warning when a partition stalls, and the lag that /healthz weighs.
	lag := &stream.GroupLag{Admin: adm, Group: cfg.Stream.Group, Topics: cfg.Stream.InputTopics,
		Metrics: shared.Metrics, Log: log}
	if cfg.Metrics.Listen != "" {
		alive := func() error { return loop.Alive(time.Now(), lag.Lag) }
		addr, err := serveHTTP(ctx, cfg.Metrics.Listen, reg, loop.Ready, alive, log)
		if err != nil {
			log.Error("startup failed", "err", err)
			return exitUsage
		}
		log.Info("serving metrics", "addr", addr)
	}
	if cfg.Model.Watch {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		wctx, stopWatch := context.WithCancel(ctx)
		watched := make(chan error, 1)
		go func() { watched <- shared.Watcher.Run(wctx, log, hup) }()
		defer func() { stopWatch(); <-watched }()
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		lag.Run(lagCtx)
	}()
	defer func() { stopLag(); <-lagDone }()
	// Hanging transactions on the pipeline's partitions (scorestream_hanging_transactions).
	hangDone := make(chan struct{})
	go func() {
		defer close(hangDone)
		(&stream.HangingWatch{Admin: adm, Scope: stream.ScopeOf(cfg), OlderThan: cfg.Stream.TransactionTimeout,
			Gauge: shared.Metrics.HangingTxns, Log: log}).Run(lagCtx)
	}()
	defer func() { stopLag(); <-hangDone }()
	log.Info("scorestream running", "instance", cfg.Stream.InstanceID, "group", cfg.Stream.Group,
		"inputs", cfg.Stream.InputTopics, "model", shared.Models.Champion.Label(), "pid", os.Getpid())
	if err := loop.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

// runCheck is run --check: every finding, one a line, then a count; exit 1 when
// something is wrong.
func runCheck(ctx context.Context, cfg *config.Config, path string, timeout time.Duration, stdout io.Writer) int {
	start := time.Now()
	fmt.Fprintf(stdout, "scorestream run --check: %s\n", path)
	findings := stream.Check(ctx, cfg, timeout)
	problems := 0
	for _, f := range findings {
		if f.Err != nil {
			problems++
			msg := f.Err.Error()
			if !strings.HasPrefix(msg, f.Check+":") && !strings.HasPrefix(msg, f.Check+".") {
				msg = f.Check + ": " + msg // errors that name their field already keep it once
			}
			fmt.Fprintf(stdout, "  FAIL  %s\n", strings.ReplaceAll(msg, "\n", "\n        ")) // joined errors: one a line
			continue
		}
		fmt.Fprintf(stdout, "  ok    %s: %s\n", f.Check, f.Detail)
	}
	took := time.Since(start).Round(time.Millisecond)
	if problems > 0 {
		noun := "problems"
		if problems == 1 {
			noun = "problem"
		}
		fmt.Fprintf(stdout, "%d %s found in %v (nothing was changed)\n", problems, noun, took)
		return exitFailure
	}
	fmt.Fprintf(stdout, "all %d checks passed in %v (nothing was changed)\n", len(findings), took)
	return exitOK
}
