// Package monitor measures a deployed model against the truth: it joins the
// predictions (and a challenger's shadow predictions) with the delayed labels of
// a labels topic by event id, and exports live precision, recall, ROC and PR AUC
// per model version and role, next to the estimates a calibrated model gives
// before any label arrives.
//
// It runs as its own process (scorestream monitor), not inside scorestream run:
// the scorer's hot path and its transactions stay untouched, the join's memory
// (one entry per unlabelled prediction for the label horizon, weeks) is not the
// scorer's, and the monitor can be restarted, resized or upgraded without a
// rebalance of the scoring group.
//
// Restarts. The monitor writes nothing but its metrics and the dead letters of
// malformed labels. It keeps no offsets: on start it reads the predictions,
// shadow and labels topics from monitor.lookback ago (default: the earliest
// offset) with read_committed, and recomputes every counter from zero — which
// Prometheus sees as a counter reset, handled by rate() and increase(). Time in
// the join is event and label time, never the wall clock, so a rebuild joins what
// an uninterrupted pass joined and the counters come back to the same values
// (integration test TestMonitorRestart kills it with SIGKILL mid-stream). Dead
// letters are not written twice: on start the monitor reads the dead-letter
// topic to its end and skips every label offset already there (provenance
// headers).
//
// The split of the figures: everything a fleet must add up is a counter
// (labelled, positives, true/false positives and score sums at each threshold,
// per-class score-bin histograms), so that precision, recall and the estimates
// are ratios of increase() in recording rules (deploy/prometheus/quality.yml).
// ROC and PR AUC need cumulative sums across bins, which PromQL cannot express
// without one rule per bin, so one monitor computes them in-process over sliding
// windows of label time from the same bins (scorestream_monitor_roc_auc). One
// monitor per deployment suffices: it does a map lookup per record.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
)

// ClassLabel is the dead-letter class of a label record that decodes but does
// not hold a usable event id, label or label time.
const ClassLabel = "label"

// Config for Run.
type Config struct {
	PredictionsTopic string // role champion
	ShadowTopic      string // role challenger; "" = none
	LabelsTopic      string
	DeadLetterTopic  string
	EventIDField     string // dotted path in the label record
	LabelField       string
	LabelTimeField   string        // "" = the record timestamp
	Lookback         time.Duration // 0 = from the earliest offset
	ProgressEvery    time.Duration // progress log interval; default 10s
}

// Monitor is the consume loop around a Core.
type Monitor struct {
	cfg  Config
	core *Core
	dec  *decode.Decoder
	conn []kgo.Opt
	log  *slog.Logger
	now  func() time.Time
}

// New returns a Monitor. conn are the Kafka connection options (brokers, TLS,
// SASL); dec decodes predictions and labels; now is the clock (only for the
// lookback start and progress logs).
func New(cfg Config, core *Core, dec *decode.Decoder, conn []kgo.Opt, log *slog.Logger, now func() time.Time) *Monitor {
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	return &Monitor{cfg: cfg, core: core, dec: dec, conn: conn, log: log, now: now}
}

// dlqKey identifies a labels-topic record in the dead-letter dedup set.
type dlqKey struct {
	partition int32
	offset    int64
}

// Run consumes until ctx is done (nil) or a Kafka error it cannot ride out.
func (m *Monitor) Run(ctx context.Context) error {
	written, err := m.readDeadLetters(ctx)
	if err != nil {
		return err
	}
	topics := []string{m.cfg.PredictionsTopic, m.cfg.LabelsTopic}
	if m.cfg.ShadowTopic != "" {
		topics = append(topics, m.cfg.ShadowTopic)
	}
	start := kgo.NewOffset().AtStart()
	if m.cfg.Lookback > 0 {
		start = kgo.NewOffset().AfterMilli(m.now().Add(-m.cfg.Lookback).UnixMilli())
	}
	opts := append([]kgo.Opt{
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	}, m.conn...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("monitor: kafka client: %w", err)
	}
	defer cl.Close()

	var produceErr atomic.Pointer[error] // the first failed dead letter; set by kgo's promise goroutine
	produced := func(_ *kgo.Record, err error) {
		if err != nil {
			produceErr.CompareAndSwap(nil, &err)
		}
	}
	lastLog := m.now()
	var read int64
loop:
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			m.log.Warn("fetch", "topic", t, "partition", p, "err", err)
		})
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			read++
			if err := m.record(ctx, cl, r, written, produced); err != nil {
				if ctx.Err() != nil {
					break loop // stopped while waiting for the registry
				}
				return err
			}
		}
		m.core.Refresh()
		if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("monitor: dead letters to %s: %w", m.cfg.DeadLetterTopic, err)
		}
		if err := produceErr.Load(); err != nil {
			return fmt.Errorf("monitor: dead letter to %s: %w", m.cfg.DeadLetterTopic, *err)
		}
		if now := m.now(); now.Sub(lastLog) >= m.cfg.ProgressEvery {
			lastLog = now
			m.log.Info("monitor progress", "records", read, "join_entries", m.core.join.Len(),
				"prediction_watermark", time.UnixMilli(m.core.join.predWM).UTC(), "label_watermark", time.UnixMilli(m.core.join.lbWM).UTC())
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		return fmt.Errorf("monitor: flush dead letters: %w", err)
	}
	m.log.Info("monitor stopped", "records", read)
	return nil
}

// record handles one record of any of the topics.
func (m *Monitor) record(ctx context.Context, cl *kgo.Client, r *kgo.Record, written map[dlqKey]bool, produced func(*kgo.Record, error)) error {
	rec, class, msg, err := m.decode(ctx, r)
	if err != nil {
		return err
	}
	if r.Topic != m.cfg.LabelsTopic {
		role := RoleChampion
		if r.Topic == m.cfg.ShadowTopic {
			role = RoleChallenger
		}
		var p Prediction
		if class == "" {
			if p, err = predictionOf(rec, role); err != nil {
				msg = err.Error()
			}
		}
		if class != "" || err != nil {
			// Predictions are scorestream's own output: a bad one is a bug or a
			// foreign writer, counted and logged, never fatal.
			m.core.Record(r.Topic, "malformed")
			m.log.Warn("malformed prediction", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", msg)
			return nil
		}
		m.core.Prediction(p)
		m.core.Record(r.Topic, "ok") // after its effects: a reader that sees n records sees their counts
		return nil
	}
	var l Label
	if class == "" {
		if l, err = m.labelOf(rec, r.Timestamp.UnixMilli()); err != nil {
			class, msg = ClassLabel, err.Error()
		}
	}
	if class == "" {
		m.core.Label(l)
		m.core.Record(r.Topic, "ok")
		return nil
	}
	m.core.DeadLetter(class)
	m.core.Record(r.Topic, "malformed")
	if k := (dlqKey{r.Partition, r.Offset}); !written[k] {
		written[k] = true
		cl.Produce(ctx, sink.DeadLetter(m.cfg.DeadLetterTopic, r, class, msg), produced)
	}
	return nil
}

// decode decodes r's value. A record that can never be decoded gives its
// dead-letter class and message; a registry that is unreachable is retried with
// backoff until ctx is done (the error).
func (m *Monitor) decode(ctx context.Context, r *kgo.Record) (rec map[string]any, class, msg string, err error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		rec, _, err := m.dec.Decode(ctx, r.Value)
		var de *decode.Error
		switch {
		case err == nil:
			return rec, "", "", nil
		case errors.As(err, &de):
			return nil, de.Class, de.Error(), nil
		case !errors.Is(err, decode.ErrRegistryUnavailable):
			return nil, decode.ClassAvro, err.Error(), nil
		}
		m.log.Warn("schema registry unavailable; retrying", "topic", r.Topic, "offset", r.Offset, "err", err, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", "", ctx.Err()
		case <-t.C:
		}
	}
}

// predictionOf reads a decoded sink.PredictionSchema record.
func predictionOf(rec map[string]any, role string) (Prediction, error) {
	p := Prediction{Role: role}
	var ok [5]bool
	p.EventID, ok[0] = features.Lookup(rec, "event_id").(string)
	p.Score, ok[1] = features.Lookup(rec, "score").(float64)
	p.ModelName, ok[2] = features.Lookup(rec, "model_name").(string)
	p.ModelVersion, ok[3] = features.Lookup(rec, "model_version").(string)
	p.EventTime, ok[4] = features.Millis(features.Lookup(rec, "event_time"))
	for i, name := range []string{"event_id", "score", "model_name", "model_version", "event_time"} {
		if !ok[i] {
			return p, fmt.Errorf("prediction field %s missing or of the wrong type", name)
		}
	}
	if p.EventID == "" {
		return p, errors.New("prediction has an empty event_id")
	}
	return p, nil
}

// labelOf reads a decoded label record; recordTime is the fallback label time.
func (m *Monitor) labelOf(rec map[string]any, recordTime int64) (Label, error) {
	l := Label{Time: recordTime}
	switch id := features.Lookup(rec, m.cfg.EventIDField).(type) {
	case string:
		l.EventID = id
	case int64, int32:
		l.EventID = fmt.Sprint(id)
	default:
		return l, fmt.Errorf("label field %s: want a string event id, got %T", m.cfg.EventIDField, id)
	}
	if l.EventID == "" {
		return l, fmt.Errorf("label field %s: empty event id", m.cfg.EventIDField)
	}
	switch v := features.Lookup(rec, m.cfg.LabelField).(type) {
	case bool:
		l.Positive = v
	case int32, int64, float32, float64:
		f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
		if f != 0 && f != 1 {
			return l, fmt.Errorf("label field %s: %v: want 0 or 1", m.cfg.LabelField, v)
		}
		l.Positive = f == 1
	default:
		return l, fmt.Errorf("label field %s: want a boolean or 0/1, got %T", m.cfg.LabelField, v)
	}
	if m.cfg.LabelTimeField != "" {
		t, ok := features.Millis(features.Lookup(rec, m.cfg.LabelTimeField))
		if !ok {
			return l, fmt.Errorf("label field %s: want a timestamp-millis or long, got %T", m.cfg.LabelTimeField, features.Lookup(rec, m.cfg.LabelTimeField))
		}
		l.Time = t
	}
	return l, nil
}

// readDeadLetters reads the dead-letter topic to its current end and returns
// the labels-topic records already dead-lettered, by their provenance headers,
// so that a restarted monitor does not write them twice. The topic is the
// monitor's own, written without transactions (config forbids the scorer's
// transactional dead-letter topic), so its last offset is a record, never a
// transaction marker. The set holds one entry per malformed label ever written.
func (m *Monitor) readDeadLetters(ctx context.Context) (map[dlqKey]bool, error) {
	written := make(map[dlqKey]bool)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumeTopics(m.cfg.DeadLetterTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, m.conn...)...)
	if err != nil {
		return nil, fmt.Errorf("monitor: kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, m.cfg.DeadLetterTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("monitor: end offsets of %s: %w", m.cfg.DeadLetterTopic, err)
	}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left++
		}
	})
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fs.EachError(func(t string, p int32, err error) {
			m.log.Warn("fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if o, ok := ends.Lookup(r.Topic, r.Partition); ok && r.Offset >= o.Offset-1 {
				left--
			}
			var src sink.Source
			var got int
			for _, h := range r.Headers {
				switch h.Key {
				case sink.HeaderSourceTopic:
					src.Topic, got = string(h.Value), got+1
				case sink.HeaderSourcePartition:
					if n, err := strconv.ParseInt(string(h.Value), 10, 32); err == nil {
						src.Partition, got = int32(n), got+1
					}
				case sink.HeaderSourceOffset:
					if n, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
						src.Offset, got = n, got+1
					}
				}
			}
			if got == 3 && src.Topic == m.cfg.LabelsTopic {
				written[dlqKey{src.Partition, src.Offset}] = true
			}
		})
	}
	if len(written) > 0 {
		m.log.Info("dead letters already written", "topic", m.cfg.DeadLetterTopic, "labels", len(written))
	}
	return written, nil
}
