//go:build !eval

package main

import (
	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/replay"
)

// replayReportBuilt says whether this build writes report.json and report.html.
const replayReportBuilt = false

// newReplayReport returns the evaluation report builder of a replay run, or nil
// when this build has none: the eval package (report.json, report.html) is
// wired by replay_report_eval.go, built with -tags eval until the eval package
// is merged, after which that file replaces this one.
func newReplayReport(models []replay.ModelID, thresholds [][]config.Threshold, opts replayReportOptions) replayReport {
	return nil
}
