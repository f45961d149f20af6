package config

import (
	"slices"
	"testing"
	"time"
)

func TestMonitorSection(t *testing.T) {
	isolateEnv(t)
	c, err := Load("testdata/monitor.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Monitor
	if m.LabelsTopic != "labels" || m.LabelField != "fraud" || m.LabelHorizon != 1440*time.Hour || m.ScoreBins != 50 {
		t.Errorf("monitor = %+v", m)
	}
	// The document's list replaces the default windows, it is not appended to them.
	if want := []time.Duration{time.Hour, 24 * time.Hour}; !slices.Equal(m.Windows, want) {
		t.Errorf("windows = %v, want %v", m.Windows, want)
	}
	if m.ReferencePrecision == nil || *m.ReferencePrecision != 0.8 || c.BlockDecision(c.Model.Thresholds) != "block" {
		t.Errorf("reference %v, block decision %q", m.ReferencePrecision, c.BlockDecision(c.Model.Thresholds))
	}

	// Without a monitor section: defaults, and the highest threshold is the block decision.
	c, err = Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Monitor.LabelsTopic != "" || c.Monitor.ScoreBins != 20 || len(c.Monitor.Windows) != 2 || c.BlockDecision(c.Model.Thresholds) != "block" {
		t.Errorf("default monitor = %+v, block %q", c.Monitor, c.BlockDecision(c.Model.Thresholds))
	}
}
