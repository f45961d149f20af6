package monitor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/config"
)

// Roles of a prediction, as in the scorer's metrics.
const (
	RoleChampion   = "champion"
	RoleChallenger = "challenger"
)

// CoreConfig configures a Core.
type CoreConfig struct {
	// Thresholds per role (RoleChampion, RoleChallenger): precision, recall and
	// the estimates are exported at each. A role without thresholds gets the
	// threshold-free metrics only.
	Thresholds map[string][]config.Threshold
	Bins       int             // score bins on [0, 1]; default 20
	Windows    []time.Duration // AUC sliding windows in label time; default 24h
	Horizon    time.Duration   // label horizon; default 720h
	MaxEntries int             // join bound; default 1000000
	// BlockDecision, ReferencePrecision and Tolerance are exported as gauges
	// for the estimated-precision alert when ReferencePrecision is set.
	BlockDecision      string
	ReferencePrecision *float64
	Tolerance          float64
}

// Core is the Kafka-free monitor: predictions and labels in, metrics out. The
// monitor's loop owns it (not safe for concurrent use); tests drive it directly.
type Core struct {
	cfg   CoreConfig
	m     *metrics
	join  *Join
	keys  map[modelKey]*keyState
	stats Stats
	// children resolved once: the loop touches them for every record
	entries              [3]prometheus.Gauge // waiting, unknown, joined
	predWM, labelWM      prometheus.Gauge
	joinedC, duplicateC  prometheus.Counter
	unknownC, deadLetter prometheus.Counter
	// scratch for Refresh
	pos, neg []float64
}

// Stats are a Core's totals since it started, for the summary at the end.
type Stats struct {
	Predictions, Labels, Joined, Unknown, Duplicates, DeadLetters, Evictions int64
}

// Stats returns the totals so far.
func (c *Core) Stats() Stats { return c.stats }

type modelKey struct{ model, version, role string }

// keyState holds the metric children and AUC windows of one model version and role.
type keyState struct {
	key                                                modelKey
	thresholds                                         []config.Threshold
	predictions, expected, labelled, positives, labExp prometheus.Counter
	unlabelled                                         prometheus.Counter
	flagged, flaggedExp, tp, fp, labFlagExp            []prometheus.Counter
	score                                              [2]prometheus.Observer
	windows                                            []*window
}

// NewCore returns a Core registering its metrics on reg.
func NewCore(cfg CoreConfig, reg prometheus.Registerer) (*Core, error) {
	if cfg.Bins == 0 {
		cfg.Bins = 20
	}
	if len(cfg.Windows) == 0 {
		cfg.Windows = []time.Duration{24 * time.Hour}
	}
	if cfg.Horizon == 0 {
		cfg.Horizon = 720 * time.Hour
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 1000000
	}
	switch {
	case cfg.Bins < 2:
		return nil, fmt.Errorf("monitor: %d score bins: need at least 2", cfg.Bins)
	case cfg.Horizon < 0 || cfg.MaxEntries < 0:
		return nil, errors.New("monitor: negative horizon or max entries")
	}
	c := &Core{cfg: cfg, m: newMetrics(reg, cfg.Bins), keys: make(map[modelKey]*keyState),
		pos: make([]float64, cfg.Bins), neg: make([]float64, cfg.Bins)}
	c.join = newJoin(cfg.Horizon.Milliseconds(), cfg.MaxEntries, (*coreEvents)(c))
	c.entries = [3]prometheus.Gauge{c.m.entries.WithLabelValues(SidePrediction),
		c.m.entries.WithLabelValues(OutcomeUnknown), c.m.entries.WithLabelValues(OutcomeJoined)}
	c.predWM, c.labelWM = c.m.watermark.WithLabelValues(SidePrediction), c.m.watermark.WithLabelValues(SideLabel)
	c.joinedC, c.duplicateC = c.m.labels.WithLabelValues(OutcomeJoined), c.m.labels.WithLabelValues(OutcomeDuplicate)
	c.unknownC, c.deadLetter = c.m.labels.WithLabelValues(OutcomeUnknown), c.m.labels.WithLabelValues(OutcomeDeadLetter)
	if cfg.ReferencePrecision != nil && cfg.BlockDecision != "" {
		c.m.refPrecision.WithLabelValues(cfg.BlockDecision).Set(*cfg.ReferencePrecision)
		c.m.tolerance.WithLabelValues(cfg.BlockDecision).Set(cfg.Tolerance)
	}
	return c, nil
}

func (c *Core) state(model, version, role string) *keyState {
	k := modelKey{model, version, role}
	if ks := c.keys[k]; ks != nil {
		return ks
	}
	ks := &keyState{key: k, thresholds: c.cfg.Thresholds[role],
		predictions: c.m.predictions.WithLabelValues(model, version, role),
		expected:    c.m.expected.WithLabelValues(model, version, role),
		labelled:    c.m.labelled.WithLabelValues(model, version, role),
		positives:   c.m.positives.WithLabelValues(model, version, role),
		labExp:      c.m.labelledExpected.WithLabelValues(model, version, role),
		unlabelled:  c.m.unlabelled.WithLabelValues(model, version, role),
		score: [2]prometheus.Observer{
			c.m.score.WithLabelValues(model, version, role, "0"),
			c.m.score.WithLabelValues(model, version, role, "1"),
		},
	}
	for _, t := range ks.thresholds {
		lv := []string{model, version, role, t.Decision}
		ks.flagged = append(ks.flagged, c.m.flagged.WithLabelValues(lv...))
		ks.flaggedExp = append(ks.flaggedExp, c.m.flaggedExpected.WithLabelValues(lv...))
		ks.tp = append(ks.tp, c.m.truePos.WithLabelValues(lv...))
		ks.fp = append(ks.fp, c.m.falsePos.WithLabelValues(lv...))
		ks.labFlagExp = append(ks.labFlagExp, c.m.labelledFlaggedE.WithLabelValues(lv...))
	}
	for _, w := range c.cfg.Windows {
		ks.windows = append(ks.windows, newWindow(w, c.cfg.Bins))
	}
	c.keys[k] = ks
	return ks
}

// Prediction counts p (the estimates need no label) and joins it.
func (c *Core) Prediction(p Prediction) {
	c.stats.Predictions++
	ks := c.state(p.ModelName, p.ModelVersion, p.Role)
	ks.predictions.Inc()
	ks.expected.Add(p.Score)
	for i, t := range ks.thresholds {
		if p.Score >= t.MinScore {
			ks.flagged[i].Inc()
			ks.flaggedExp[i].Add(p.Score)
		}
	}
	c.join.Prediction(p)
	c.setSizes()
	c.predWM.Set(float64(c.join.predWM) / 1000)
}

// Label joins l.
func (c *Core) Label(l Label) {
	c.stats.Labels++
	c.join.Label(l)
	c.setSizes()
	c.labelWM.Set(float64(c.join.lbWM) / 1000)
}

func (c *Core) setSizes() {
	w, u, j := c.join.Sizes()
	c.entries[0].Set(float64(w))
	c.entries[1].Set(float64(u))
	c.entries[2].Set(float64(j))
}

// DeadLetter counts a malformed label of error class class.
func (c *Core) DeadLetter(class string) {
	c.stats.Labels++
	c.stats.DeadLetters++
	c.deadLetter.Inc()
	c.m.deadLetters.WithLabelValues(class).Inc()
}

// Record counts one record read from topic; outcome "ok" or "malformed".
func (c *Core) Record(topic, outcome string) { c.m.records.WithLabelValues(topic, outcome).Inc() }

// Refresh recomputes the windowed AUC gauges; the loop calls it after each batch.
func (c *Core) Refresh() {
	now := c.join.lbWM
	for _, ks := range c.keys {
		k := ks.key
		for _, w := range ks.windows {
			w.sum(now, c.pos, c.neg)
			name := windowName(w.length)
			c.m.rocAUC.WithLabelValues(k.model, k.version, k.role, name).Set(ROCAUC(c.pos, c.neg))
			c.m.prAUC.WithLabelValues(k.model, k.version, k.role, name).Set(PRAUC(c.pos, c.neg))
			var p, n float64
			for b := range c.pos {
				p += c.pos[b]
				n += c.neg[b]
			}
			c.m.windowLabels.WithLabelValues(k.model, k.version, k.role, name, "1").Set(p)
			c.m.windowLabels.WithLabelValues(k.model, k.version, k.role, name, "0").Set(n)
		}
	}
}

// coreEvents receives the join's decisions.
type coreEvents Core

func (c *coreEvents) joined(p *Prediction, l *Label) {
	ks := (*Core)(c).state(p.ModelName, p.ModelVersion, p.Role)
	ks.labelled.Inc()
	ks.labExp.Add(p.Score)
	class := 0
	if l.Positive {
		class = 1
		ks.positives.Inc()
	}
	ks.score[class].Observe(p.Score)
	for i, t := range ks.thresholds {
		if p.Score < t.MinScore {
			continue
		}
		ks.labFlagExp[i].Add(p.Score)
		if l.Positive {
			ks.tp[i].Inc()
		} else {
			ks.fp[i].Inc()
		}
	}
	bin := Bin(p.Score, c.cfg.Bins)
	for _, w := range ks.windows {
		w.add(l.Time, c.join.lbWM, bin, l.Positive)
	}
	if !l.joined {
		l.joined = true
		c.stats.Joined++
		c.joinedC.Inc()
		c.m.delay.Observe(max(float64(l.Time-p.EventTime)/1000, 0))
	}
}

func (c *coreEvents) duplicateLabel(*Label) {
	c.stats.Duplicates++
	c.duplicateC.Inc()
}

func (c *coreEvents) unlabelled(p *Prediction) {
	(*Core)(c).state(p.ModelName, p.ModelVersion, p.Role).unlabelled.Inc()
}

func (c *coreEvents) unknownLabel(*Label) {
	c.stats.Unknown++
	c.unknownC.Inc()
}

func (c *coreEvents) evicted(side string) {
	c.stats.Evictions++
	c.m.evictions.WithLabelValues(side).Inc()
}

// windowName is the window label value: "24h", "1h30m", "168h", "45s".
func windowName(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// Exercise registers a Core on reg and feeds it one prediction of each role, a
// label, a dead letter and an eviction, so that every series a running monitor
// exports exists in reg. For tests that check dashboards and rules against
// what is really registered (monitor's own, and deploy's).
func Exercise(reg prometheus.Registerer) error {
	ref := 0.9
	c, err := NewCore(CoreConfig{
		Thresholds: map[string][]config.Threshold{
			RoleChampion:   {{Decision: "review", MinScore: 0.5}, {Decision: "block", MinScore: 0.9}},
			RoleChallenger: {{Decision: "block", MinScore: 0.8}},
		},
		BlockDecision: "block", ReferencePrecision: &ref, Tolerance: 0.1,
	}, reg)
	if err != nil {
		return err
	}
	for _, role := range []string{RoleChampion, RoleChallenger} {
		c.Prediction(Prediction{EventID: "a", Score: 0.95, ModelName: "fraud", ModelVersion: "1", Role: role})
	}
	c.Label(Label{EventID: "a", Positive: true, Time: 1})
	c.DeadLetter("bad_magic")
	c.Record("labels", "ok")
	(*coreEvents)(c).evicted(SidePrediction)
	(*coreEvents)(c).unlabelled(&Prediction{ModelName: "fraud", ModelVersion: "1", Role: RoleChampion})
	c.Refresh()
	return nil
}
