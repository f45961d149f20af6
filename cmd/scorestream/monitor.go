package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/monitor"
	"github.com/scorestream/scorestream/stream/decode"
)

const monitorUsage = `Usage: scorestream monitor -c config.yaml [--listen ADDR] [--check]

Join the predictions (output.predictions_topic, and output.shadow_topic for a
challenger) with the delayed labels of monitor.labels_topic by event id, and
export live quality per model version and role on /metrics: labelled count,
positives, true and false positives at each decision threshold (precision and
recall are recording rules, deploy/prometheus/quality.yml), per-class score
histograms, ROC and PR AUC over sliding windows of label time, the label delay,
and — before any label arrives — the estimated precision (mean score above a
threshold) and fraud rate (mean score) of a calibrated model.

It reads the same config file as scorestream run; run ignores the monitor
section. It writes nothing but its metrics and the dead letters of malformed
labels (monitor.dead_letter_topic, original bytes + provenance headers). It
keeps no offsets: on start it reads the topics from monitor.lookback ago (0 =
the earliest offset) and recomputes its counters from zero, so a restart — even
after SIGKILL — exports what an uninterrupted run would (Prometheus sees a
counter reset). One monitor per deployment.

Flags:
  -c, --config FILE   the YAML config with a monitor section (see config/example.yaml)
      --listen ADDR   serve /metrics on ADDR instead of metrics.listen (the
                      scorer on the same host has that one)
      --check         validate the config and check that the topics exist, then exit

Examples:
  scorestream monitor -c prod.yaml --listen :9465
  scorestream monitor -c prod.yaml --check

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 runtime failure, 2 bad usage or config.
`

func monitorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	var path, listen string
	var check bool
	fs.StringVar(&path, "c", "", "")
	fs.StringVar(&path, "config", "", "")
	fs.StringVar(&listen, "listen", "", "")
	fs.BoolVar(&check, "check", false, "")
	if ok, code := parseFlagsUsage(fs, args, "monitor", monitorUsage, stdout, stderr); !ok {
		return code
	}
	if path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream monitor: -c config.yaml is required\n\n%s", monitorUsage)
		return exitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream monitor: %v\n", err)
		return exitUsage
	}
	if cfg.Monitor.LabelsTopic == "" {
		fmt.Fprintf(stderr, "scorestream monitor: config %s: monitor.labels_topic: required by scorestream monitor\n", path)
		return exitUsage
	}
	if listen == "" {
		listen = cfg.Metrics.Listen
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	thresholds, err := monitorThresholds(cfg)
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitUsage
	}
	if block := cfg.BlockDecision(thresholds[monitor.RoleChampion]); cfg.Monitor.ReferencePrecision != nil &&
		!slices.ContainsFunc(thresholds[monitor.RoleChampion], func(t config.Threshold) bool { return t.Decision == block }) {
		log.Error("startup failed", "err", fmt.Sprintf("monitor.block_decision: %q is not a decision of the champion's thresholds (model.thresholds or its manifest)", block))
		return exitUsage
	}
	conn, err := cfg.KafkaOpts()
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitUsage
	}
	ropts, err := cfg.RegistryOpts()
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitUsage
	}
	rcl, err := sr.NewClient(ropts...)
	if err != nil {
		log.Error("registry client", "err", err)
		return exitUsage
	}
	dec, err := decode.New(decode.SRRegistry{Client: rcl}, decode.Config{CacheSize: cfg.Registry.CacheSize})
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitFailure
	}
	mcfg := monitor.Config{
		PredictionsTopic: cfg.Output.PredictionsTopic, LabelsTopic: cfg.Monitor.LabelsTopic,
		DeadLetterTopic: cfg.Monitor.DeadLetterTopic, EventIDField: cfg.Monitor.EventIDField,
		LabelField: cfg.Monitor.LabelField, LabelTimeField: cfg.Monitor.LabelTimeField, Lookback: cfg.Monitor.Lookback,
	}
	if cfg.Model.Challenger != nil {
		mcfg.ShadowTopic = cfg.Output.ShadowTopic
	}
	if code := monitorCheckTopics(ctx, conn, mcfg, log); code != exitOK {
		return code
	}
	if check {
		fmt.Fprintf(stdout, "config ok: %s; topics ok\n", path)
		return exitOK
	}

	reg := newRegistry()
	core, err := monitor.NewCore(monitor.CoreConfig{
		Thresholds: thresholds, Bins: cfg.Monitor.ScoreBins, Windows: cfg.Monitor.Windows,
		Horizon: cfg.Monitor.LabelHorizon, MaxEntries: cfg.Monitor.MaxEntries,
		BlockDecision: cfg.BlockDecision(thresholds[monitor.RoleChampion]), ReferencePrecision: cfg.Monitor.ReferencePrecision,
		Tolerance: cfg.Monitor.PrecisionTolerance,
	}, reg)
	if err != nil {
		log.Error("startup failed", "err", err)
		return exitUsage
	}
	if listen != "" {
		addr, err := serveHTTP(ctx, listen, reg, func() bool { return true }, func() error { return nil }, log)
		if err != nil {
			log.Error("startup failed", "err", err)
			return exitUsage
		}
		log.Info("serving metrics", "addr", addr)
	}
	log.Info("scorestream monitor running", "predictions", mcfg.PredictionsTopic, "shadow", mcfg.ShadowTopic,
		"labels", mcfg.LabelsTopic, "horizon", cfg.Monitor.LabelHorizon.String(), "pid", os.Getpid())
	m := monitor.New(mcfg, core, dec, conn, log, time.Now)
	err = m.Run(ctx)
	s := core.Stats()
	fmt.Fprintf(stdout, "monitor: %d predictions, %d labels (%d joined, %d unknown, %d duplicate, %d dead letters), %d early evictions\n",
		s.Predictions, s.Labels, s.Joined, s.Unknown, s.Duplicates, s.DeadLetters, s.Evictions)
	if err != nil {
		log.Error("stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

// monitorThresholds are the decision thresholds per role: the model's (or its
// manifest's, which the scorer uses instead when it has them).
func monitorThresholds(cfg *config.Config) (map[string][]config.Threshold, error) {
	of := func(mc config.Model) ([]config.Threshold, error) {
		if mc.Manifest == "" {
			return mc.Thresholds, nil
		}
		man, err := model.LoadManifest(mc.Manifest)
		if err != nil {
			return nil, err
		}
		if len(man.Thresholds) == 0 {
			return mc.Thresholds, nil
		}
		ts := make([]config.Threshold, len(man.Thresholds))
		for i, t := range man.Thresholds {
			ts[i] = config.Threshold{Decision: t.Decision, MinScore: t.MinScore}
		}
		return ts, nil
	}
	out := map[string][]config.Threshold{}
	var err error
	if out[monitor.RoleChampion], err = of(cfg.Model); err != nil {
		return nil, fmt.Errorf("model.manifest: %w", err)
	}
	if c := cfg.Model.Challenger; c != nil {
		if out[monitor.RoleChallenger], err = of(*c); err != nil {
			return nil, fmt.Errorf("model.challenger.manifest: %w", err)
		}
	}
	return out, nil
}

// monitorCheckTopics checks that the topics the monitor reads and writes exist.
func monitorCheckTopics(ctx context.Context, conn []kgo.Opt, c monitor.Config, log interface {
	Error(string, ...any)
}) int {
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		log.Error("kafka client", "err", err)
		return exitUsage
	}
	defer cl.Close()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	want := []struct{ field, topic string }{
		{"output.predictions_topic", c.PredictionsTopic}, {"output.shadow_topic", c.ShadowTopic},
		{"monitor.labels_topic", c.LabelsTopic}, {"monitor.dead_letter_topic", c.DeadLetterTopic},
	}
	var names []string
	for _, w := range want {
		if w.topic != "" {
			names = append(names, w.topic)
		}
	}
	details, err := kadm.NewClient(cl).ListTopics(tctx, names...)
	if err != nil {
		log.Error("list topics (are the brokers up? kafka.brokers)", "err", err)
		return exitFailure
	}
	code := exitOK
	for _, w := range want {
		if w.topic == "" {
			continue
		}
		if d, ok := details[w.topic]; !ok || d.Err != nil {
			log.Error("topic missing", "field", w.field, "topic", w.topic)
			code = exitFailure
		}
	}
	return code
}
