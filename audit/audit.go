// Package audit checks scorestream's exactly-once contract on real topics: for
// every committed input record (topic, partition, offset) the committed outputs
// hold exactly one prediction or exactly one dead-letter record that names it
// through the provenance headers (sink.HeaderSource*).
//
// Run reads everything with read_committed isolation, so aborted transactions
// leave no trace in the audit either. It keeps no record values: per input
// partition a bit for "an input record is here", a bit for "it is in the
// audited time range" and a byte counting the outputs that name it.
//
// The order of the snapshots matters on a live system. Run captures, in this
// order, the group's committed offsets (when auditing a group), the outputs'
// last stable offsets, and the inputs' last stable offsets. An output committed
// before the second snapshot names an input committed before the third, so an
// output naming an offset at or past the input's last stable offset is a real
// orphan and not a race. The one window left: a transaction's commit becomes
// visible on the group before its markers land on the output partitions (a few
// milliseconds); an audit that captures exactly then reports the newest records
// as missing. Run it again; a real gap stays.
package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/stream/kread"
)

// Config says what to audit.
type Config struct {
	// InputTopics are the topics scorestream consumes.
	InputTopics []string
	// PredictionsTopic is where predictions go. Required.
	PredictionsTopic string
	// DeadLetterTopic is where dead letters go. Optional: empty when the
	// pipeline has none.
	DeadLetterTopic string
	// Group, when set, bounds the audit to committed input: only offsets
	// below the group's committed offset per partition must be covered
	// (partitions without a committed offset need nothing). When empty,
	// everything up to each input partition's last stable offset must be
	// covered.
	Group string
	// FromTime and ToTime, when set, keep only input records whose
	// timestamp is in [FromTime, ToTime). Outputs naming an input record
	// outside that range are ignored, not orphans.
	FromTime, ToTime time.Time
	// MaxListed caps each list in the report; 0 means 20, negative means
	// list nothing.
	MaxListed int
}

// DefaultMaxListed is the list cap used when Config.MaxListed is 0.
const DefaultMaxListed = 20

// Ref names one problem. For duplicates and missing records it is the input
// record and Count is how many outputs name it. For orphans it is the input
// named by the output at Output. For malformed outputs it is the output record
// itself.
type Ref struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Count     int    `json:"count"`
	Output    string `json:"output,omitempty"` // "topic/partition@offset" of the offending output
}

func (r Ref) String() string {
	s := r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
	if r.Output != "" {
		s += " (named by " + r.Output + ")"
	}
	return s
}

// Report is the audit's result.
type Report struct {
	Inputs      int64 `json:"events"`       // input records that must be covered
	Predictions int64 `json:"predictions"`  // committed records read from the predictions topic
	DeadLetters int64 `json:"dead_letters"` // committed records read from the dead-letter topic
	Duplicates  int64 `json:"duplicates"`   // extra outputs: an input named by n>1 outputs adds n-1
	Missing     int64 `json:"missing"`      // covered input records no output names
	Orphans     int64 `json:"orphans"`      // outputs naming an input record that does not exist
	Malformed   int64 `json:"malformed"`    // outputs without parseable provenance headers
	// Ignored counts outputs naming an input outside the audited range:
	// before the input's log start, past the group's committed offset,
	// outside the time range, or on a topic not being audited.
	Ignored    int64 `json:"ignored"`
	Partitions int   `json:"partitions"` // input partitions audited

	DuplicateList []Ref    `json:"duplicate_list"`
	MissingList   []Ref    `json:"missing_list"`
	OrphanList    []Ref    `json:"orphan_list"`
	MalformedList []Ref    `json:"malformed_list"`
	Warnings      []string `json:"warnings,omitempty"`

	Clean bool `json:"clean"` // no duplicates, missing, orphans or malformed outputs
}

// Progress is reported while reading; Read and Total count offsets of the
// current phase.
type Progress struct {
	Phase string // PhaseInputs or PhaseOutputs
	Read  int64
	Total int64
}

// Phases of an audit.
const (
	PhaseInputs  = "inputs"
	PhaseOutputs = "outputs"
)

// ErrConfig is wrapped by every error about the Config itself.
var ErrConfig = errors.New("audit: bad config")

func (c *Config) validate() error {
	var errs []error
	if len(c.InputTopics) == 0 {
		errs = append(errs, errors.New("input topics: at least one required"))
	}
	if c.PredictionsTopic == "" {
		errs = append(errs, errors.New("predictions topic: required"))
	}
	if c.DeadLetterTopic != "" && c.DeadLetterTopic == c.PredictionsTopic {
		errs = append(errs, errors.New("dead-letter topic: must differ from the predictions topic"))
	}
	seen := make(map[string]bool)
	for _, t := range c.InputTopics {
		switch {
		case t == "":
			errs = append(errs, errors.New("input topics: empty name"))
		case seen[t]:
			errs = append(errs, fmt.Errorf("input topics: %q listed twice", t))
		case t == c.PredictionsTopic || t == c.DeadLetterTopic:
			errs = append(errs, fmt.Errorf("input topics: %q is also an output topic", t))
		}
		seen[t] = true
	}
	if !c.FromTime.IsZero() && !c.ToTime.IsZero() && !c.FromTime.Before(c.ToTime) {
		errs = append(errs, errors.New("time range: from must be before to"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (c *Config) inTime(ts time.Time) bool {
	if !c.FromTime.IsZero() && ts.Before(c.FromTime) {
		return false
	}
	return c.ToTime.IsZero() || ts.Before(c.ToTime)
}

// Run audits the topics in cfg. opts are connection options (seed brokers,
// TLS, SASL); Run builds its own client from them and closes it. progress, if
// not nil, is called from Run's goroutine as reading advances.
//
// The error is about the audit itself (a topic that does not exist, an
// unreachable cluster); a contract violation is a Report with Clean false.
func Run(ctx context.Context, opts []kgo.Opt, cfg Config, progress func(Progress)) (Report, error) {
	return run(ctx, opts, cfg, progress, kread.DefaultLimits)
}

// run is Run with the fetch sizes passed in, so tests can force many fetches.
func run(ctx context.Context, opts []kgo.Opt, cfg Config, progress func(Progress), limits kread.Limits) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	if cfg.MaxListed == 0 {
		cfg.MaxListed = DefaultMaxListed
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Report{}, fmt.Errorf("audit: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	rep := Report{DuplicateList: []Ref{}, MissingList: []Ref{}, OrphanList: []Ref{}, MalformedList: []Ref{}}
	warn := func(format string, args ...any) { rep.Warnings = append(rep.Warnings, fmt.Sprintf(format, args...)) }

	// Snapshots, in the order the package doc explains.
	var groupAt kadm.OffsetResponses
	if cfg.Group != "" {
		groupAt, err = adm.FetchOffsetsForTopics(kadm.RequireStable(ctx), cfg.Group, cfg.InputTopics...)
		if err != nil {
			return Report{}, fmt.Errorf("audit: group %q: committed offsets: %w", cfg.Group, err)
		}
		if err := groupAt.Error(); err != nil {
			return Report{}, fmt.Errorf("audit: group %q: committed offsets: %w", cfg.Group, err)
		}
	}
	outputs := []string{cfg.PredictionsTopic}
	if cfg.DeadLetterTopic != "" {
		outputs = append(outputs, cfg.DeadLetterTopic)
	}
	outEnd, err := listOffsets(ctx, adm.ListCommittedOffsets, "last stable", outputs)
	if err != nil {
		return Report{}, err
	}
	inEnd, err := listOffsets(ctx, adm.ListCommittedOffsets, "last stable", cfg.InputTopics)
	if err != nil {
		return Report{}, err
	}
	outStart, err := listOffsets(ctx, adm.ListStartOffsets, "start", outputs)
	if err != nil {
		return Report{}, err
	}
	inStart, err := listOffsets(ctx, adm.ListStartOffsets, "start", cfg.InputTopics)
	if err != nil {
		return Report{}, err
	}

	// Ledgers and the input spans.
	ledgers := make(map[string]map[int32]*ledger)
	var inSpans []*kread.Span
	var inTotal int64
	for _, t := range cfg.InputTopics {
		ledgers[t] = make(map[int32]*ledger)
		for _, p := range sortedPartitions(inEnd[t]) {
			start, lso := inStart[t][p], inEnd[t][p]
			bound := lso
			if cfg.Group != "" {
				o, ok := groupAt.Lookup(t, p)
				switch {
				case !ok || o.At < 0:
					bound = start
					warn("group %q has no committed offset for %s/%d: nothing there is committed input", cfg.Group, t, p)
				case o.At < bound:
					bound = o.At
				}
			}
			l := newLedger(t, p, start, bound, lso)
			ledgers[t][p] = l
			rep.Partitions++
			if l.bound > l.start {
				inSpans = append(inSpans, &kread.Span{Topic: t, Partition: p, Next: l.start, End: l.bound})
				inTotal += l.bound - l.start
			}
		}
	}

	rr := kread.New(cl, limits)

	var read int64
	progress(Progress{Phase: PhaseInputs, Total: inTotal})
	err = rr.Read(ctx, inSpans, func(s *kread.Span, r *kgo.Record) {
		ledgers[s.Topic][s.Partition].input(r.Offset, cfg.inTime(r.Timestamp))
	}, func(n int64) {
		read += n
		progress(Progress{Phase: PhaseInputs, Read: read, Total: inTotal})
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: read inputs: %w", err)
	}

	var outSpans []*kread.Span
	var outTotal int64
	for _, t := range outputs {
		for _, p := range sortedPartitions(outEnd[t]) {
			start, end := outStart[t][p], outEnd[t][p]
			if start > 0 {
				warn("%s/%d starts at offset %d: outputs deleted by retention show up as missing inputs", t, p, start)
			}
			if end > start {
				outSpans = append(outSpans, &kread.Span{Topic: t, Partition: p, Next: start, End: end})
				outTotal += end - start
			}
		}
	}
	listed := func(l []Ref, r Ref) []Ref {
		if len(l) < cfg.MaxListed {
			l = append(l, r)
		}
		return l
	}
	read = 0
	progress(Progress{Phase: PhaseOutputs, Total: outTotal})
	err = rr.Read(ctx, outSpans, func(s *kread.Span, r *kgo.Record) {
		if s.Topic == cfg.PredictionsTopic {
			rep.Predictions++
		} else {
			rep.DeadLetters++
		}
		at := s.Topic + "/" + strconv.Itoa(int(s.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
		topic, partition, offset, err := Provenance(r.Headers)
		if err != nil {
			rep.Malformed++
			rep.MalformedList = listed(rep.MalformedList, Ref{Topic: s.Topic, Partition: s.Partition, Offset: r.Offset, Count: 1})
			return
		}
		parts, audited := ledgers[topic]
		if !audited {
			rep.Ignored++
			return
		}
		v := orphan // a partition the input topic does not have
		if l := parts[partition]; l != nil {
			v = l.output(offset)
		}
		switch v {
		case ignored:
			rep.Ignored++
		case orphan:
			rep.Orphans++
			rep.OrphanList = listed(rep.OrphanList, Ref{Topic: topic, Partition: partition, Offset: offset, Count: 1, Output: at})
		}
	}, func(n int64) {
		read += n
		progress(Progress{Phase: PhaseOutputs, Read: read, Total: outTotal})
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: read outputs: %w", err)
	}

	for _, t := range cfg.InputTopics {
		for _, p := range sortedPartitions(ledgers[t]) {
			l := ledgers[t][p]
			rep.Inputs += l.covered()
			l.tally(func(off, c int64) {
				ref := Ref{Topic: t, Partition: p, Offset: off, Count: int(c)}
				if c == 0 {
					rep.Missing++
					rep.MissingList = listed(rep.MissingList, ref)
					return
				}
				rep.Duplicates += c - 1
				rep.DuplicateList = listed(rep.DuplicateList, ref)
			})
		}
	}
	rep.Clean = rep.Duplicates == 0 && rep.Missing == 0 && rep.Orphans == 0 && rep.Malformed == 0
	return rep, nil
}

// listOffsets lists one kind of offset for topics, failing on any topic or
// partition that cannot be listed: an audit with a hole is no audit.
func listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), what string, topics []string) (map[string]map[int32]int64, error) {
	lo, err := list(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("audit: list %s offsets: %w", what, err)
	}
	out := make(map[string]map[int32]int64, len(topics))
	for _, t := range topics {
		ps, ok := lo[t]
		if !ok || len(ps) == 0 {
			return nil, fmt.Errorf("audit: topic %q: does not exist or has no partitions", t)
		}
		out[t] = make(map[int32]int64, len(ps))
		for p, o := range ps {
			if p < 0 {
				return nil, fmt.Errorf("audit: topic %q: does not exist: %w", t, o.Err)
			}
			if o.Err != nil {
				return nil, fmt.Errorf("audit: topic %q partition %d: list %s offset: %w", t, p, what, o.Err)
			}
			out[t][p] = o.Offset
		}
	}
	return out, nil
}

func sortedPartitions[V any](m map[int32]V) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}
