// Package process is scorestream's scoring core: one input record and its
// partition's state in, output records and a staged state change out.
//
// It knows nothing of transactions or consumer groups, so the live transactional
// loop, a bounded replay, the benchmarks and the tests all drive this same code.
// The caller decides when staged state is committed or dropped.
package process

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
)

// Dead-letter classes besides the decode ones (decode.Class*).
const (
	ClassMissingKey = "missing_key"
	ClassFeature    = "feature"
	ClassScore      = "score"
)

// Scorer is a model with its identity and decision thresholds, bound to a feature
// spec.
type Scorer struct {
	Model      model.Model
	Name       string
	Version    string
	Hash       string
	Thresholds []config.Threshold
	Profile    *model.Profile // the manifest's reference profile for drift monitoring; nil: none
	index      []int          // model input i = spec feature index[i]
	label      []byte         // Label(), the scorestream.model header value, built once
}

// NewScorer binds m to spec: every feature the model needs must be in the spec.
func NewScorer(m model.Model, name, version string, thresholds []config.Threshold, spec *features.Spec) (*Scorer, error) {
	pos := make(map[string]int, len(spec.Names()))
	for i, n := range spec.Names() {
		pos[n] = i
	}
	var missing []string
	idx := make([]int, len(m.Features()))
	for i, n := range m.Features() {
		p, ok := pos[n]
		if !ok {
			missing = append(missing, n)
		}
		idx[i] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("model %s: needs features not in the feature spec: %v", name, missing)
	}
	s := &Scorer{Model: m, Name: name, Version: version, Hash: m.Info().Hash, Thresholds: thresholds, index: idx}
	s.label = []byte(s.Label())
	return s, nil
}

func (s *Scorer) labelBytes() []byte {
	if s.label == nil {
		return []byte(s.Label())
	}
	return s.label
}

// Label is "name/version/hash[:12]" for headers and logs.
func (s *Scorer) Label() string {
	h := s.Hash
	if len(h) > 12 {
		h = h[:12]
	}
	return s.Name + "/" + s.Version + "/" + h
}

// score maps spec features to model inputs (in scratch x, reused) and scores
// them. Scorers are shared by all loops; the scratch belongs to the caller.
func (s *Scorer) score(vec []float64, x *[]float64) (float64, error) {
	if cap(*x) < len(s.index) {
		*x = make([]float64, len(s.index))
	}
	in := (*x)[:len(s.index)]
	for i, j := range s.index {
		in[i] = vec[j]
	}
	if c, ok := s.Model.(model.Checker); ok {
		if err := c.Check(in); err != nil {
			return 0, err
		}
	}
	v := s.Model.Score(in)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("model %s returned %v", s.Name, v)
	}
	return v, nil
}

// classScores appends a multiclass model's probability of every class for vec
// (spec features) to dst; nil for other models. Scratch x as for score.
func (s *Scorer) classScores(dst, vec []float64, x *[]float64) []float64 {
	mm, ok := s.Model.(model.Multi)
	if !ok || s.Model.Info().Classes < 2 {
		return nil
	}
	if cap(*x) < len(s.index) {
		*x = make([]float64, len(s.index))
	}
	in := (*x)[:len(s.index)]
	for i, j := range s.index {
		in[i] = vec[j]
	}
	return mm.ScoreAll(dst, in)
}

// Decide maps a score to a decision: the highest threshold whose min_score the
// score reaches, "allow" below all of them.
func (s *Scorer) Decide(score float64) string {
	d := "allow"
	for _, t := range s.Thresholds {
		if score >= t.MinScore {
			d = t.Decision
		}
	}
	return d
}

// Models is the champion and an optional challenger, swapped as one.
type Models struct {
	Champion   *Scorer
	Challenger *Scorer
}

// Config for a Processor.
type Config struct {
	PredictionsTopic string
	ShadowTopic      string
	DeadLetterTopic  string
	ChangelogTopic   string
	PredictionSchema int // registry id of sink.PredictionSchema
	FeatureLogging   bool
	// NoOp makes the processor a plain copier: each input record goes to the
	// predictions topic unchanged (with provenance headers), with no decoding,
	// state or scoring. `scorestream bench` runs it on the same loop as the
	// baseline that scoring throughput is reported against.
	NoOp bool
	// Now is the wall clock for scoring_time; default time.Now.
	Now func() time.Time
	// Segment is a dotted field path whose value Prepare keeps with each record
	// (Scored.Segment), for an evaluation broken down by segment; "" keeps none.
	// The decoder must decode the field (decode.Config.Paths).
	Segment string
}

// Processor scores records. It is not safe for concurrent use: each loop worker owns one (Clone)
// (the decoder and spec it uses are shared and concurrency-safe).
type Processor struct {
	cfg    Config
	dec    *decode.Decoder
	spec   *features.Spec
	models *Models
	nfeat  int           // features in the spec
	x      []float64     // model input scratch
	obs    *state.Obs    // observation scratch
	absent map[int][]int // writer schema id -> spec.Absent for it
	// The decoded record: its values at the decoder's Paths (DecodeInto), of
	// which the first nspec are the spec's Paths, and the segment's index
	// among them (-1 none). byMap: the decoder does not decode the spec's
	// paths first, so records are decoded as maps and looked up (slow).
	rec    *decode.Record
	nspec  int
	segIdx int
	byMap  bool
	// The last writer schema's Absent, saving the map lookup per record.
	lastID     int
	lastAbsent []int
	lastOK     bool

	// Between Prepare and Finish: the feature vectors of pending records, and
	// Finish's scratch, reused across transactions.
	slab                     []float64
	finished                 []Result
	champScores, challScores []float64
	champErrs, challErrs     []error
	rows                     [][]float64
	rowIdx                   []int
	inputs, batchOut         []float64
	multi                    []multiScratch // Score's per-scorer results
	classBuf                 []float64      // class_scores of the prediction being encoded
	outBytes                 int            // value and header bytes per scored record, last Finish
	clKey                    int            // key bytes per changelog record, last Changelog

	// The memory of produced records, reused once Release says they are done.
	outs   reuse[output]
	bufs   reuse[byte]
	clRecs reuse[kgo.Record]
}

// reuse hands out slices for a transaction's produced records and takes them
// all back at Release: the records live until their produces complete, so
// their memory cannot be reused before the transaction ends, but it can be
// after (instead of a new slab per Finish, which the garbage collector then
// has to reclaim).
type reuse[T any] struct{ used, free [][]T }

// maxReuse bounds the slices a reuse keeps for later.
const maxReuse = 16

// get returns an empty slice with room for n, which the caller hands to keep
// once it is done appending.
func (r *reuse[T]) get(n int) []T {
	for i, s := range r.free {
		if cap(s) >= n {
			last := len(r.free) - 1
			r.free[i], r.free[last] = r.free[last], nil
			r.free = r.free[:last]
			return s[:0]
		}
	}
	return make([]T, 0, n)
}

// keep notes s (its final backing array) as in use until release. Past
// maxUsed slices (a caller that never releases, e.g. one calling Process) it
// forgets those in use: forgetting is always safe, the memory is just not
// reused.
func (r *reuse[T]) keep(s []T) {
	if cap(s) == 0 {
		return
	}
	if len(r.used) >= maxUsed {
		r.release(false)
	}
	r.used = append(r.used, s)
}

// maxUsed bounds the slices a reuse tracks between releases.
const maxUsed = 1024

// release makes the slices in use reusable (or, with ok false, forgets them).
func (r *reuse[T]) release(ok bool) {
	for i, s := range r.used {
		if ok && len(r.free) < maxReuse {
			r.free = append(r.free, s[:0])
		}
		r.used[i] = nil
	}
	r.used = r.used[:0]
}

// Release ends the life of every Result's records and changelog record that
// Finish and Changelog returned since the last Release: their memory is reused
// by later calls. Call it with done true only once all of them are finished
// with, their produces complete (a transaction ended, committed or aborted)
// and nothing reads them any more; with done false (their produces may still
// be in flight, e.g. the transaction's end failed) it only forgets them.
func (p *Processor) Release(done bool) {
	p.outs.release(done)
	p.bufs.release(done)
	p.clRecs.release(done)
}

// output is one scored record's produced records, allocated a batch at a time:
// the record, its header array and the Result's record list in one piece.
type output struct {
	rec  kgo.Record
	recs [2]*kgo.Record
	hs   [4]kgo.RecordHeader
}

// New returns a Processor. dec should decode the spec's Paths first
// (decode.Config{Paths: spec.Paths()}, with Config.Segment's path, if any,
// after them): then a record is decoded straight into the values the spec
// reads. With any other decoder each record is decoded as a map and looked up.
//
// The processor's scratch (decoded values, feature vectors, observation and
// output buffers) is its own: one Processor per goroutine, sharing dec, spec
// and models.
func New(cfg Config, dec *decode.Decoder, spec *features.Spec, models *Models) *Processor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Processor{cfg: cfg, dec: dec, spec: spec, models: models, nfeat: len(spec.Names()), obs: spec.NewObs(), absent: map[int][]int{}}
	sp, dp := spec.Paths(), dec.Paths()
	p.nspec, p.segIdx = len(sp), -1
	p.byMap = len(dp) < len(sp) || dp == nil
	for i := range sp {
		if !p.byMap && !slices.Equal(sp[i], dp[i]) {
			p.byMap = true
		}
	}
	if cfg.Segment != "" {
		p.segIdx = dec.Index(strings.Split(cfg.Segment, "."))
		if p.segIdx < 0 {
			p.byMap = true
		}
	}
	p.rec = dec.NewRecord()
	return p
}

// SetModels swaps the models; the loop calls it between transactions.
func (p *Processor) SetModels(m *Models) { p.models = m }

// Spec is the feature spec the processor computes.
func (p *Processor) Spec() *features.Spec { return p.spec }

// Models returns the models in use.
func (p *Processor) Models() *Models { return p.models }

// Result is what one input record produced.
type Result struct {
	// Records to produce in the same transaction: the prediction (and shadow
	// prediction), or the dead letter. The state change is staged in the
	// partition; its changelog records come from Changelog, once per entity per
	// transaction.
	Records []*kgo.Record
	// DeadLetter is the class when the record was dead-lettered, else "".
	DeadLetter string
	Err        error // why it was dead-lettered

	EventTime        int64 // Unix ms; 0 for dead letters
	Score            float64
	Decision         string
	ChallengerScore  float64
	ChallengerDecide string
	// Features is the scored record's feature vector in the spec's order (nil
	// for dead letters). It aliases the processor's buffer: valid until the
	// next Prepare, long enough for the loop to count a committed transaction's
	// records for drift.
	Features []float64
	// Absent are the field features (indexes in the spec's Names) whose path is
	// not in the record's writer schema: missing because absent, not null.
	Absent []int
}

// ErrRetry wraps failures that may pass (the registry is unreachable): the caller
// must not dead-letter the record but abort and retry it later.
var ErrRetry = errors.New("retry later")

// Pending is a record whose features are computed and whose state change is
// staged, waiting to be scored by Finish. Dead-lettered records are pending too,
// with their result already decided.
type Pending struct {
	in      *kgo.Record
	ev      features.Event
	vec     int     // offset of the feature vector in the processor's slab; with feature logging, the raw vector follows it
	absent  []int   // spec.Absent of the writer schema
	done    *Result // decided in Prepare (dead letter, or the no-op copy)
	segment string  // Config.Segment's value
}

// Process scores one record against its partition's state, staging the state
// change in st: Prepare and Finish for one record. A returned error wraps
// ErrRetry; anything wrong with the record itself is a dead-letter Result, never
// an error.
func (p *Processor) Process(ctx context.Context, in *kgo.Record, st *state.Partition) (Result, error) {
	pe, err := p.Prepare(ctx, in, st)
	if err != nil {
		return Result{}, err
	}
	return p.Finish([]Pending{pe})[0], nil
}

// Prepare decodes the record, computes its features from its entity's state and
// stages the entity's new state in st. Scoring waits for Finish, so that a
// transaction's records are scored in one call when the model batches (ONNX).
// The state change is staged whether or not the model then scores the record:
// features were computed from it, and it reaches the changelog through Changelog
// with the transaction's other changes. A returned error wraps ErrRetry.
func (p *Processor) Prepare(ctx context.Context, in *kgo.Record, st *state.Partition) (Pending, error) {
	src := sink.Source{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}
	if p.cfg.NoOp {
		return Pending{in: in, done: &Result{Records: []*kgo.Record{{Topic: p.cfg.PredictionsTopic, Key: in.Key, Value: in.Value,
			Headers: sink.AppendProvenance(make([]kgo.RecordHeader, 0, 3), src)}}, EventTime: in.Timestamp.UnixMilli()}}, nil
	}
	vals, segment, schemaID, err := p.decode(ctx, in.Value) // vals are not kept past Prepare
	if err != nil {
		var de *decode.Error
		if errors.As(err, &de) {
			return p.deadPending(in, de.Class, err), nil
		}
		return Pending{}, fmt.Errorf("%w: %w", ErrRetry, err)
	}
	ev, err := p.spec.MetaValues(vals, in.Timestamp.UnixMilli(), "")
	if err != nil {
		return p.deadPending(in, ClassFeature, err), nil
	}
	if ev.ID == "" { // no event id field: the record's coordinates identify it
		ev.ID = in.Topic + "-" + strconv.Itoa(int(in.Partition)) + "-" + strconv.FormatInt(in.Offset, 10)
	}
	if in.Key == nil {
		return p.deadPending(in, ClassMissingKey, errors.New("record has no key: the key is the entity for state features")), nil
	}
	key := string(in.Key)
	n := p.nfeat
	off := len(p.slab)
	if p.cfg.FeatureLogging {
		// The vector scored, and the raw one (missing as NaN, no defaults) logged.
		p.slab = slices.Grow(p.slab, 2*n)[:off+2*n]
		vec, raw := p.slab[off:off+n], p.slab[off+n:off+2*n]
		if err = extract(p.spec, st, key, vals, ev, raw); err == nil {
			copy(vec, raw)
			p.spec.Impute(vec)
		}
	} else {
		p.slab = slices.Grow(p.slab, n)[:off+n] // room for this record's vector
		if err = extract(p.spec, st, key, vals, ev, p.slab[off:off+n]); err == nil {
			p.spec.Impute(p.slab[off : off+n])
		}
	}
	if err != nil {
		p.slab = p.slab[:off]
		return p.deadPending(in, ClassFeature, err), nil
	}
	// The entity is updated in place (Abort undoes it).
	st.Advance(ev.Time)
	st.Observe(key, p.spec.Fill(p.obs, vals, ev.Time))
	return Pending{in: in, ev: ev, vec: off, absent: p.absentIn(ctx, schemaID), segment: segment}, nil
}

// decode decodes the record into the spec's values (p.rec, reused) and
// Config.Segment's value as text.
func (p *Processor) decode(ctx context.Context, v []byte) (vals []decode.Value, segment string, id int, err error) {
	var seg decode.Value
	if p.byMap {
		rec, id, err := p.dec.Decode(ctx, v)
		if err != nil {
			return nil, "", id, err
		}
		vals = p.spec.Values(rec)
		if p.cfg.Segment != "" {
			seg = decode.FromNative(features.Lookup(rec, p.cfg.Segment))
		}
	} else {
		if id, err = p.dec.DecodeInto(ctx, v, p.rec); err != nil {
			return nil, "", id, err
		}
		vals = p.rec.Values[:p.nspec]
		if p.segIdx >= 0 {
			seg = p.rec.Values[p.segIdx]
		}
	}
	switch seg.Kind() {
	case decode.Absent:
	case decode.String:
		segment = seg.Str()
	default:
		segment = fmt.Sprint(seg.Any())
	}
	return vals, segment, id, nil
}

// Changelog appends to dst the changelog records of what the open transaction
// changed in partition's state st: one per entity (its final state, or a
// tombstone when it was evicted or expired), in the order st.Changes gives, which
// a restore replays exactly. Produce them in the same transaction as the results,
// before Commit.
func (p *Processor) Changelog(dst []*kgo.Record, partition int32, st *state.Partition) []*kgo.Record {
	n := st.Staged()
	if n == 0 {
		return dst
	}
	// One allocation each for the records and their keys: they live until the
	// transaction's produces complete (the keys' buffer is sized by the last
	// transaction's, so that it seldom grows). The values are the partition's
	// encodings, which never change.
	recs := p.clRecs.get(n)
	keys := p.bufs.get(n * max(p.clKey, 16))
	st.Changes(func(key string, value []byte) {
		k0 := len(keys)
		keys = append(keys, key...)
		recs = append(recs, kgo.Record{Topic: p.cfg.ChangelogTopic, Partition: partition, Key: keys[k0:len(keys):len(keys)], Value: value})
	})
	for i := range recs {
		dst = append(dst, &recs[i])
	}
	if len(recs) > 0 {
		p.clKey = len(keys)/len(recs) + 1
	}
	p.clRecs.keep(recs)
	p.bufs.keep(keys)
	return dst
}

// absentIn returns the spec's features absent from writer schema id, computed
// once per schema.
func (p *Processor) absentIn(ctx context.Context, id int) []int {
	if p.lastOK && p.lastID == id {
		return p.lastAbsent
	}
	a, ok := p.absent[id]
	if !ok {
		if sch, err := p.dec.Schema(ctx, id); err == nil { // cached: Decode just used it
			a = p.spec.Absent(sch)
		}
		p.absent[id] = a
	}
	p.lastID, p.lastAbsent, p.lastOK = id, a, true
	return a
}

// Input is the record a Pending was prepared from.
func (pe *Pending) Input() *kgo.Record { return pe.in }

// Discard drops prepared records that will not be finished (their transaction
// aborts).
func (p *Processor) Discard() { p.slab = p.slab[:0] }

func (p *Processor) deadPending(in *kgo.Record, class string, err error) Pending {
	r := p.deadLetter(in, class, err)
	return Pending{in: in, done: &r}
}

// Finish scores the prepared records — in one call per model when it is a
// model.Batcher — and returns their results (valid until the next Finish). It
// also releases the feature vectors Prepare held.
func (p *Processor) Finish(items []Pending) []Result {
	p.finished = p.finished[:0]
	m := p.models
	n := p.nfeat
	champ := p.scoreAll(m.Champion, items, &p.champScores, &p.champErrs)
	var chall []float64
	if m.Challenger != nil {
		chall = p.scoreAll(m.Challenger, items, &p.challScores, &p.challErrs)
	}
	now := p.cfg.Now().UnixMilli()
	// One slab for every scored record's kgo.Record, headers and record list,
	// one (or a few, as it grows) for their values, each record a capped slice
	// of it; taken from what Release gave back when there is enough.
	outs := p.outs.get(len(items))[:len(items)]
	p.outs.keep(outs)
	var shadows []output
	if m.Challenger != nil {
		shadows = p.outs.get(len(items))[:len(items)]
		p.outs.keep(shadows)
	}
	buf := p.bufs.get(len(items) * max(p.outBytes, 64))
	for i := range items {
		it := &items[i]
		if it.done != nil {
			p.finished = append(p.finished, *it.done)
			continue
		}
		in, vec := it.in, p.slab[it.vec:it.vec+n]
		if err := p.champErrs[i]; err != nil {
			p.finished = append(p.finished, p.deadLetter(in, ClassScore, err))
			continue
		}
		src := sink.Source{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}
		score := champ[i]
		res := Result{EventTime: it.ev.Time, Score: score, Decision: m.Champion.Decide(score), Features: vec, Absent: it.absent}
		pred := sink.Prediction{
			EventID: it.ev.ID, EntityKey: in.Key, Score: score, Decision: res.Decision,
			ModelName: m.Champion.Name, ModelVersion: m.Champion.Version, ModelHash: m.Champion.Hash,
			EventTime: it.ev.Time, ScoringTime: now, Source: src,
		}
		if p.cfg.FeatureLogging {
			// Before defaults: a missing value is logged as null (see sink.PredictionSchema).
			pred.FeatureNames, pred.Features = p.spec.Names(), p.slab[it.vec+n:it.vec+2*n]
		}
		// Encoded below before the buffer is reused.
		p.classBuf = m.Champion.classScores(p.classBuf[:0], vec, &p.x)
		pred.ClassScores = p.classBuf
		o := &outs[i]
		var hs []kgo.RecordHeader
		hs, buf = sink.AppendProvenanceTo(o.hs[:0], buf, src)
		start := len(buf)
		buf = sink.AppendPrediction(buf, p.cfg.PredictionSchema, &pred)
		o.rec = kgo.Record{
			Topic: p.cfg.PredictionsTopic, Key: in.Key,
			Value:   buf[start:len(buf):len(buf)],
			Headers: append(hs, kgo.RecordHeader{Key: sink.HeaderModel, Value: m.Champion.labelBytes()}),
		}
		o.recs[0] = &o.rec
		res.Records = o.recs[:1:2]
		if c := m.Challenger; c != nil {
			cs := chall[i]
			if p.challErrs[i] != nil {
				cs = math.NaN()
			}
			res.ChallengerScore, res.ChallengerDecide = cs, c.Decide(cs)
			if p.challErrs[i] == nil {
				shadow := pred
				shadow.Score, shadow.Decision = cs, res.ChallengerDecide
				shadow.ModelName, shadow.ModelVersion, shadow.ModelHash = c.Name, c.Version, c.Hash
				p.classBuf = c.classScores(p.classBuf[:0], vec, &p.x)
				shadow.ClassScores = p.classBuf
				so := &shadows[i]
				var shs []kgo.RecordHeader
				shs, buf = sink.AppendProvenanceTo(so.hs[:0], buf, src)
				start := len(buf)
				buf = sink.AppendPrediction(buf, p.cfg.PredictionSchema, &shadow)
				so.rec = kgo.Record{
					Topic: p.cfg.ShadowTopic, Key: in.Key,
					Value:   buf[start:len(buf):len(buf)],
					Headers: append(shs, kgo.RecordHeader{Key: sink.HeaderModel, Value: c.labelBytes()}),
				}
				res.Records = append(res.Records, &so.rec)
			}
		}
		p.finished = append(p.finished, res)
	}
	if len(items) > 0 {
		// Sized for the next batch: the bytes this one needed, per record, and a
		// little room.
		p.outBytes = len(buf)/len(items) + 16
	}
	p.bufs.keep(buf)
	p.slab = p.slab[:0]
	return p.finished
}

// Scored is one prepared record scored by several models, without output
// records: what a replay evaluates. Its slices are valid until the next Score.
type Scored struct {
	Input   *kgo.Record
	EventID string
	Time    int64  // event time, Unix ms
	Segment string // Config.Segment's value; "" when unset or absent
	// Features is the feature vector (spec order) every model scored; nil for a
	// dead letter.
	Features []float64
	// Scores and Errs are per scorer, in the order given to Score. A failed
	// model's score is NaN.
	Scores []float64
	Errs   []error
	// DeadLetter is the class when the record was dead-lettered before scoring
	// (decode, key, features), else "".
	DeadLetter string
	Err        error
}

// Score scores the prepared records with every scorer — features computed once
// by Prepare, each model scoring the same vector through the same mapping and
// batching as Finish — and calls fn for each record in order. Like Finish it
// releases the feature vectors Prepare held.
func (p *Processor) Score(items []Pending, scorers []*Scorer, fn func(*Scored)) {
	for len(p.multi) < len(scorers) {
		p.multi = append(p.multi, multiScratch{})
	}
	for k, s := range scorers {
		m := &p.multi[k]
		p.scoreAll(s, items, &m.scores, &m.errs)
	}
	n := p.nfeat
	sc := Scored{Scores: make([]float64, len(scorers)), Errs: make([]error, len(scorers))}
	for i := range items {
		it := &items[i]
		// The decoded strings share the record body's memory: a caller may keep
		// these (an evaluation's rows), so they get their own.
		sc.Input, sc.EventID, sc.Time, sc.Segment = it.in, strings.Clone(it.ev.ID), it.ev.Time, strings.Clone(it.segment)
		sc.DeadLetter, sc.Err, sc.Features = "", nil, nil
		if it.done != nil {
			sc.DeadLetter, sc.Err = it.done.DeadLetter, it.done.Err
			fn(&sc)
			continue
		}
		sc.Features = p.slab[it.vec : it.vec+n]
		for k := range scorers {
			sc.Scores[k], sc.Errs[k] = p.multi[k].scores[i], p.multi[k].errs[i]
			if sc.Errs[k] != nil {
				sc.Scores[k] = math.NaN()
			}
		}
		fn(&sc)
	}
	p.slab = p.slab[:0]
}

type multiScratch struct {
	scores []float64
	errs   []error
}

// scoreAll scores every prepared record with s, in one ScoreBatch call when the
// model batches. Per-record errors (a Checker refusal, a NaN or infinite score)
// land in errs.
func (p *Processor) scoreAll(s *Scorer, items []Pending, scores *[]float64, errs *[]error) []float64 {
	*scores = (*scores)[:0]
	*errs = (*errs)[:0]
	n := p.nfeat
	b, batch := s.Model.(model.Batcher)
	if !batch {
		for i := range items {
			if items[i].done != nil {
				*scores, *errs = append(*scores, 0), append(*errs, nil)
				continue
			}
			v, err := s.score(p.slab[items[i].vec:items[i].vec+n], &p.x)
			*scores, *errs = append(*scores, v), append(*errs, err)
		}
		return *scores
	}
	// Batch: map every scorable record's features to model inputs, check them, one call.
	rows := p.rows[:0]
	idx := p.rowIdx[:0]
	mi := len(s.index)
	inputs := p.inputs[:0]
	for i := range items {
		*scores, *errs = append(*scores, 0), append(*errs, nil)
		if items[i].done != nil {
			continue
		}
		vec := p.slab[items[i].vec : items[i].vec+n]
		off := len(inputs)
		for _, j := range s.index {
			inputs = append(inputs, vec[j])
		}
		if c, ok := s.Model.(model.Checker); ok {
			if err := c.Check(inputs[off : off+mi]); err != nil {
				(*errs)[i] = err
				inputs = inputs[:off]
				continue
			}
		}
		idx = append(idx, i)
	}
	for k := range idx {
		rows = append(rows, inputs[k*mi:(k+1)*mi])
	}
	out := b.ScoreBatch(p.batchOut[:0], rows)
	for k, i := range idx {
		v := out[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			(*errs)[i] = fmt.Errorf("model %s returned %v", s.Name, v)
			continue
		}
		(*scores)[i] = v
	}
	p.rows, p.rowIdx, p.inputs, p.batchOut = rows, idx, inputs, out
	return *scores
}

// Enrich computes the event's features into vec from its entity's state before
// the event, and returns the entity's state after it. It changes nothing: the
// caller stages the new state (st.Advance(ev.Time); st.Stage(key, next)) only if
// the record is scored. The live loop and offline tools (training-set export,
// replay) share this step, so features are computed the same way in both.
func Enrich(spec *features.Spec, st *state.Partition, key string, rec map[string]any, ev features.Event, vec []float64) (*state.Entity, error) {
	return EnrichValues(spec, st, key, spec.Values(rec), ev, vec)
}

// EnrichValues is Enrich of the record's values at the spec's Paths
// (features.Spec.Values, decode.Decoder.DecodeInto), as Prepare computes them.
func EnrichValues(spec *features.Spec, st *state.Partition, key string, vals []decode.Value, ev features.Event, vec []float64) (*state.Entity, error) {
	next, err := enrich(spec, st, key, vals, ev, vec, nil)
	if err != nil {
		return nil, err
	}
	spec.Impute(vec)
	return next, nil
}

// EnrichRaw is Enrich without the features' defaults: every missing value in
// vec is NaN (features.Spec.ExtractRaw).
func EnrichRaw(spec *features.Spec, st *state.Partition, key string, rec map[string]any, ev features.Event, vec []float64) (*state.Entity, error) {
	return enrich(spec, st, key, spec.Values(rec), ev, vec, nil)
}

// enrich is EnrichRaw of the record's values at the spec's Paths, with
// observation scratch o (nil: allocated).
func enrich(spec *features.Spec, st *state.Partition, key string, vals []decode.Value, ev features.Event, vec []float64, o *state.Obs) (*state.Entity, error) {
	if err := extract(spec, st, key, vals, ev, vec); err != nil {
		return nil, err
	}
	wm := max(st.Watermark(), ev.Time)
	return spec.ObserveValues(st.Get(key, wm), vals, ev.Time, wm, o), nil
}

// extract computes the event's raw features into vec from its entity's state
// before the event.
func extract(spec *features.Spec, st *state.Partition, key string, vals []decode.Value, ev features.Event, vec []float64) error {
	// The watermark advances only for scored records, so that a restore (which sees
	// only written state) reproduces it.
	return spec.ExtractRawValues(vec, vals, st.Get(key, max(st.Watermark(), ev.Time)), ev.Time)
}

func (p *Processor) deadLetter(in *kgo.Record, class string, err error) Result {
	return Result{
		Records:    []*kgo.Record{sink.DeadLetter(p.cfg.DeadLetterTopic, in, class, err.Error())},
		DeadLetter: class,
		Err:        err,
	}
}

// Clone returns a Processor with p's configuration, decoder, spec and models
// and scratch of its own, for another goroutine: the loop scores several
// partitions at once with one clone per worker.
func (p *Processor) Clone() *Processor { return New(p.cfg, p.dec, p.spec, p.models) }
