package process_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/process"
)

// TestScoreSeveralModels: Score gives, per prepared record, the reference
// model's score exactly as Process does, every other model's score of the same
// feature vector (one ScoreBatch call for a batching model), NaN where only that
// model failed, and the dead letters Prepare decided.
func TestScoreSeveralModels(t *testing.T) {
	one := newFixture(t, logisticNeedsMean)
	multi := newFixture(t, logisticNeedsMean)
	other, err := model.Parse([]byte(`{"format":"logistic","version":1,"features":["log_amount","count_1h"],
 "intercept":-2,"coefficients":{"log_amount":0.2,"count_1h":0.05}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	spec := multi.proc.Spec()
	oth, err := process.NewScorer(other, "other", "1", nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	bm := &batching{Model: other}
	bs, err := process.NewScorer(bm, "batched", "1", nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	scorers := []*process.Scorer{multi.proc.Models().Champion, oth, bs}

	want, pes := processAndPrepare(t, one, multi, 300)
	i, refFailed := 0, 0
	multi.proc.Score(pes, scorers, func(sc *process.Scored) {
		w := want[i]
		if sc.Input.Offset != int64(i) {
			t.Fatalf("record %d: Score called for offset %d", i, sc.Input.Offset)
		}
		switch {
		case sc.DeadLetter != "":
			if sc.DeadLetter != w.DeadLetter || sc.Features != nil {
				t.Fatalf("record %d: dead letter %q (features %v), Process says %q", i, sc.DeadLetter, sc.Features, w.DeadLetter)
			}
		case sc.Errs[0] != nil:
			refFailed++
			if w.DeadLetter != process.ClassScore || !math.IsNaN(sc.Scores[0]) || sc.Errs[1] != nil || math.IsNaN(sc.Scores[1]) {
				t.Fatalf("record %d: reference failed (%v), Process says %q; other model %v %v", i, sc.Errs[0], w.DeadLetter, sc.Scores[1], sc.Errs[1])
			}
		default:
			if math.Float64bits(sc.Scores[0]) != math.Float64bits(w.Score) {
				t.Fatalf("record %d: reference score %v, Process %v", i, sc.Scores[0], w.Score)
			}
			if x := []float64{sc.Features[slices.Index(spec.Names(), "log_amount")], sc.Features[slices.Index(spec.Names(), "count_1h")]}; other.Score(x) != sc.Scores[1] {
				t.Fatalf("record %d: other model %v, its score of the feature vector %v", i, sc.Scores[1], other.Score(x))
			}
		}
		if sc.DeadLetter == "" && sc.Scores[1] != sc.Scores[2] {
			t.Fatalf("record %d: batched %v, one at a time %v", i, sc.Scores[2], sc.Scores[1])
		}
		i++
	})
	if i != len(pes) || refFailed == 0 || bm.calls != 1 {
		t.Fatalf("%d of %d records, %d reference failures, %d ScoreBatch calls: want all, some, 1", i, len(pes), refFailed, bm.calls)
	}
}

// TestDecoderPaths: a processor whose decoder decodes the spec's paths first
// (and the segment's after them) reads each record's values by index; one with
// any other decoder (all fields, or the paths in another order) decodes maps
// and looks them up. Both give the same features, scores, segments and dead
// letters.
func TestDecoderPaths(t *testing.T) {
	f := newFixture(t, logisticNeedsMean)
	spec, models := f.proc.Spec(), f.proc.Models()
	rcl, err := sr.NewClient(sr.URLs(f.reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	const segment = "merchant.country"
	reversed := slices.Clone(spec.Paths())
	slices.Reverse(reversed)
	type row struct {
		dead, segment string
		features      []float64
		score         float64
	}
	var runs [][]row
	for _, paths := range [][][]string{append(spec.Paths(), []string{"merchant", "country"}), nil, append(reversed, []string{"merchant", "country"})} {
		dec, err := decode.New(decode.SRRegistry{Client: rcl}, decode.Config{Paths: paths})
		if err != nil {
			t.Fatal(err)
		}
		proc := process.New(process.Config{Segment: segment}, dec, spec, models)
		st, err := state.NewPartition(state.Config{Limits: spec.Limits(), MaxEntities: 1000})
		if err != nil {
			t.Fatal(err)
		}
		g, err := gen.New(gen.Config{Seed: 9, Cards: 20, SchemaID: f.schemaID, MalformedRate: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		var pes []process.Pending
		for i := 0; i < 300; i++ {
			r := g.NextRecord()
			pe, err := proc.Prepare(context.Background(), f.record(r.Key, r.Value, int64(i)), st)
			if err != nil {
				t.Fatal(err)
			}
			pes = append(pes, pe)
		}
		var rows []row
		proc.Score(pes, []*process.Scorer{models.Champion}, func(sc *process.Scored) {
			rows = append(rows, row{sc.DeadLetter, sc.Segment, slices.Clone(sc.Features), sc.Scores[0]})
		})
		runs = append(runs, rows)
	}
	segments, dead := 0, 0
	for i, want := range runs[0] {
		if want.segment != "" {
			segments++
		}
		if want.dead != "" {
			dead++
		}
		for k, other := range runs[1:] {
			got := other[i]
			if got.dead != want.dead || got.segment != want.segment || !sameBits(got.features, want.features) ||
				math.Float64bits(got.score) != math.Float64bits(want.score) {
				t.Fatalf("decoder %d, record %d: %+v, by index %+v", k+1, i, got, want)
			}
		}
	}
	if segments == 0 || dead == 0 {
		t.Fatalf("%d records with a segment, %d dead letters: want some of each", segments, dead)
	}
}

func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}
