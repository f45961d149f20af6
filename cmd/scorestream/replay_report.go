package main

import (
	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/eval"
	"github.com/scorestream/scorestream/replay"
)

// newReplayReport builds the evaluation report with package eval: every scored
// event is added as an eval.Row (replay.Row has the same fields), and Write
// renders report.json and report.html with the run's provenance.
func newReplayReport(models []replay.ModelID, thresholds [][]config.Threshold, opts replayReportOptions) replayReport {
	ms := make([]eval.Model, len(models))
	for i, m := range models {
		ms[i] = eval.Model{Name: m.Name, Version: m.Version, Hash: m.Hash, Thresholds: thresholds[i]}
	}
	return &evalReport{models: ms, acc: eval.New(ms, eval.Options{Unlabeled: opts.Unlabeled, CostFP: opts.CostFP, CostFN: opts.CostFN})}
}

type evalReport struct {
	models []eval.Model
	acc    *eval.Accumulator
}

func (r *evalReport) Add(row replay.Row) { r.acc.Add(eval.Row(row)) }

func (r *evalReport) Write(dir string, s replay.Summary) error {
	p := eval.Provenance{From: s.From, To: s.To, FromOffsets: s.FromOffsets, ToOffsets: s.ToOffsets,
		Models: r.models, LabelsSource: s.LabelsSource, LabelsSHA256: s.LabelsSHA256,
		LabelsMatched: s.LabelsMatched, LabelsUnmatched: s.LabelsUnmatched, Version: s.Version,
		Events: s.Events, DeadLetters: s.DeadLetters, DeadLettersByClass: s.DeadLettersByClass}
	p.Warmup.From, p.Warmup.Events = s.Warmup.From, s.Warmup.Events
	rep, err := r.acc.Report(p)
	if err != nil {
		return err
	}
	return rep.WriteFiles(dir)
}
