package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream"
)

const runUsage = `Usage: scorestream run -c config.yaml [--check]

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

Flags:
  -c, --config FILE   the YAML config (see config/example.yaml)
      --check         load and validate the config and the model, check the
                      topics and that every feature path is in the input
                      subjects' latest writer schemas, then exit (0 if all is well)

Endpoints (metrics.listen, default :9464): /metrics, /healthz (alive), /readyz
(joined the consumer group).

Examples:
  scorestream run -c config/example.yaml
  SCORESTREAM_INSTANCE_ID=scorer-1 scorestream run -c prod.yaml
  SCORESTREAM_INSTANCE_ID=scorer-2 SCORESTREAM_METRICS_LISTEN=:9465 scorestream run -c prod.yaml
  scorestream run -c prod.yaml --check
`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var path string
	var check bool
	fs.StringVar(&path, "c", "", "")
	fs.StringVar(&path, "config", "", "")
	fs.BoolVar(&check, "check", false, "")
	if ok, code := parseFlagsUsage(fs, args, "run", runUsage, stdout, stderr); !ok {
		return code
	}
	if path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream run: -c config.yaml is required\n\n%s", runUsage)
		return exitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream run: %v\n", err)
		return exitUsage
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
	if check {
		problems, err := stream.CheckInputSchemas(ctx, shared.Registry, shared.Spec, cfg.Stream.InputTopics)
		if err != nil {
			log.Error("input schemas", "err", err)
			return exitFailure
		}
		for _, p := range problems {
			fmt.Fprintf(stderr, "scorestream run: %v\n", p)
		}
		if len(problems) > 0 {
			return exitUsage
		}
		fmt.Fprintf(stdout, "config ok: %s; model %s; topics ok\n", path, shared.Models.Champion.Label())
		return exitOK
	}
	loop, err := shared.NewLoop(cfg.Stream.InstanceID, log)
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitFailure
	}
	if cfg.Metrics.Listen != "" {
		addr, err := serveHTTP(ctx, cfg.Metrics.Listen, reg, loop.Ready, log)
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
	// The group's progress as the brokers see it (scorestream_group_*), and a
	// warning when a partition stalls.
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		(&stream.GroupLag{Admin: adm, Group: cfg.Stream.Group, Topics: cfg.Stream.InputTopics,
			Metrics: shared.Metrics, Log: log}).Run(lagCtx)
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
