package config

import (
	"fmt"
	"slices"
	"time"
)

// MaxScoreBins bounds monitor.score_bins: each bin is a histogram bucket per
// model version, role and class.
const MaxScoreBins = 1000

// validateMonitor checks the monitor section. Its values are checked always (the
// defaults are valid); its topics only when monitor.labels_topic is set, since
// scorestream run does not read them.
func (c *Config) validateMonitor(p *problems) {
	m := &c.Monitor
	if m.LabelsTopic != "" || m.DeadLetterTopic != "" {
		if m.LabelsTopic == "" {
			p.add("monitor.labels_topic", "required when monitor.dead_letter_topic is set")
		} else if msg := topicProblem(m.LabelsTopic); msg != "" {
			p.add("monitor.labels_topic", "%s", msg)
		}
		claimed := map[string]string{
			c.Output.PredictionsTopic: "output.predictions_topic",
			c.Output.ShadowTopic:      "output.shadow_topic",
			c.Output.DeadLetterTopic:  "output.dead_letter_topic (the scorer's, transactional; give the monitor its own)",
			c.Output.ChangelogTopic:   "output.changelog_topic",
		}
		delete(claimed, "")
		if f := claimed[m.LabelsTopic]; f != "" {
			p.add("monitor.labels_topic", "%q is also %s", m.LabelsTopic, f)
		}
		switch {
		case m.DeadLetterTopic == "":
			p.add("monitor.dead_letter_topic", "required when monitor.labels_topic is set (malformed labels go there)")
		case topicProblem(m.DeadLetterTopic) != "":
			p.add("monitor.dead_letter_topic", "%s", topicProblem(m.DeadLetterTopic))
		case m.DeadLetterTopic == m.LabelsTopic:
			p.add("monitor.dead_letter_topic", "%q is also monitor.labels_topic", m.DeadLetterTopic)
		case claimed[m.DeadLetterTopic] != "":
			p.add("monitor.dead_letter_topic", "%q is also %s", m.DeadLetterTopic, claimed[m.DeadLetterTopic])
		}
	}
	for _, f := range []struct{ name, path string }{
		{"monitor.event_id_field", m.EventIDField}, {"monitor.label_field", m.LabelField},
	} {
		if f.path == "" {
			p.add(f.name, "required")
		} else {
			checkFieldPath(p, f.name, f.path)
		}
	}
	if m.LabelTimeField != "" {
		checkFieldPath(p, "monitor.label_time_field", m.LabelTimeField)
	}
	positiveDuration(p, "monitor.label_horizon", m.LabelHorizon)
	if m.MaxEntries <= 0 {
		p.add("monitor.max_entries", "must be > 0")
	}
	if m.ScoreBins < 2 || m.ScoreBins > MaxScoreBins {
		p.add("monitor.score_bins", "%d: must be 2-%d", m.ScoreBins, MaxScoreBins)
	}
	if len(m.Windows) == 0 {
		p.add("monitor.windows", "at least one window required")
	}
	for i, w := range m.Windows {
		field := fmt.Sprintf("monitor.windows[%d]", i)
		switch {
		case w < time.Minute:
			p.add(field, "%v: must be >= 1m", w)
		case slices.Index(m.Windows, w) != i:
			p.add(field, "duplicate %v (also monitor.windows[%d])", w, slices.Index(m.Windows, w))
		}
	}
	if m.Lookback < 0 {
		p.add("monitor.lookback", "must be >= 0 (0 = from the earliest offset)")
	}
	// A manifest's thresholds replace model.thresholds; they are read by the monitor, not here.
	fromManifest := c.Model.Manifest != ""
	if m.BlockDecision != "" && !fromManifest && !slices.ContainsFunc(c.Model.Thresholds, func(t Threshold) bool { return t.Decision == m.BlockDecision }) {
		p.add("monitor.block_decision", "%q is not a decision of model.thresholds", m.BlockDecision)
	}
	if r := m.ReferencePrecision; r != nil && !(*r >= 0 && *r <= 1) {
		p.add("monitor.reference_precision", "%v: must be in [0, 1]", *r)
	}
	if t := m.PrecisionTolerance; !(t > 0 && t <= 1) {
		p.add("monitor.precision_tolerance", "%v: must be in (0, 1]", t)
	}
	if m.ReferencePrecision != nil && len(c.Model.Thresholds) == 0 && !fromManifest {
		p.add("monitor.reference_precision", "set but model.thresholds has no decision to watch")
	}
}

// BlockDecision returns the decision the estimated-precision alert watches:
// monitor.block_decision, else the decision of the highest of thresholds (the
// champion's, from model.thresholds or its manifest); "" when there are none.
func (c *Config) BlockDecision(thresholds []Threshold) string {
	if c.Monitor.BlockDecision != "" {
		return c.Monitor.BlockDecision
	}
	if n := len(thresholds); n > 0 {
		return thresholds[n-1].Decision
	}
	return ""
}
