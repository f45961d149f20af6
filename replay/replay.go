// Package replay runs a bounded range of history through scorestream's scoring
// core (stream/process) with any number of models, isolated from production.
//
// # Isolation
//
// Replay reads the input partitions directly with the exact read_committed range
// reader (stream/kread): it joins no consumer group, commits no offsets and
// writes no live topic, so Describe and Read on the input topics are all the
// Kafka permissions it needs. It stops by itself at each partition's end offset,
// even when the last offsets before it are transaction markers.
//
// # Same core
//
// Every record goes through process.Processor.Prepare (decode, features from the
// entity's state, state staged) and process.Processor.Score (every model scores
// the one feature vector, through the same input mapping and batching as the
// live loop's Finish); state is committed after each batch as the live loop
// commits it after each transaction. Records before the range's start (the
// warm-up) only build state: nothing is emitted for them.
//
// # Parallelism and memory
//
// One goroutine per partition owns that partition's state and processor (state
// is per partition, as in the live pipeline), so partitions are scored on all
// cores. Readers, each with a client and so a fetch in flight of its own (one
// per span, at most Config.Readers), fetch a partition's next records while its
// goroutine scores the ones it has, and hand them on in bounded chunks: memory
// is bounded by the state, one fetch per reader and a few chunks per
// partition, not by the length of the range. Outputs reach the Sink from one
// goroutine, in offset order per partition.
package replay

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/kread"
	"github.com/scorestream/scorestream/stream/process"
)

// Event is one input record of the range: scored by every model, or dead-lettered.
type Event struct {
	Topic     string
	Partition int32
	Offset    int64
	EventID   string
	Key       []byte
	Time      int64  // event time, Unix ms
	Segment   string // the --segment field's value
	Features  []float64
	Scores    []float64 // per model; NaN where that model failed
	Decisions []string  // per model; "" where that model failed
	// DeadLetter is the class of a record the live pipeline dead-letters (the
	// reference model failing on it included), else "".
	DeadLetter string
	Err        error
}

// Sink receives the range's events, from one goroutine.
type Sink interface {
	Write(*Event) error
}

// Config for Run.
type Config struct {
	Conn    []kgo.Opt // connection options for the reading client
	Spans   []Span
	Decoder *decode.Decoder
	Spec    *features.Spec
	Models  []*process.Scorer // Models[0] is the reference
	State   state.Config
	Segment string // dotted field path, "" none
	Batch   int    // records scored per call; default 512
	// RetryFor is how long an unreachable registry is retried before Run fails;
	// default 1 minute.
	RetryFor time.Duration
	// Readers is how many clients fetch the spans in parallel (each span is
	// read by one); default 4 per core (GOMAXPROCS), at most one per span.
	// Memory holds about one fetch (kread.DefaultLimits) per reader.
	Readers int
}

// Stats count what Run did so far; read them with Progress while it runs.
type Stats struct {
	Offsets, TotalOffsets int64 // offsets passed, of all spans (warm-up included)
	Warmup                int64 // records read only to warm state
	Events                int64 // records of the range scored
	DeadLetters           int64
	DeadLettersByClass    map[string]int64
}

// Replayer runs one replay.
type Replayer struct {
	cfg      Config
	offsets  atomic.Int64
	warmup   atomic.Int64
	events   atomic.Int64
	dead     atomic.Int64
	mu       sync.Mutex
	deadBy   map[string]int64
	totalOff int64
}

// New checks cfg and returns a Replayer.
func New(cfg Config) (*Replayer, error) {
	if len(cfg.Models) == 0 {
		return nil, errors.New("replay: no model")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 512
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = time.Minute
	}
	r := &Replayer{cfg: cfg, deadBy: map[string]int64{}}
	for _, s := range cfg.Spans {
		r.totalOff += s.To - s.WarmFrom
	}
	return r, nil
}

// Progress is a snapshot of the counters; safe to call while Run runs.
func (r *Replayer) Progress() Stats {
	r.mu.Lock()
	by := make(map[string]int64, len(r.deadBy))
	for k, v := range r.deadBy {
		by[k] = v
	}
	r.mu.Unlock()
	return Stats{Offsets: r.offsets.Load(), TotalOffsets: r.totalOff, Warmup: r.warmup.Load(),
		Events: r.events.Load(), DeadLetters: r.dead.Load(), DeadLettersByClass: by}
}

const chunkSize = 256

// stateCommitEvery is how many records a partition's state takes between
// commits in a replay (see Replayer.partition).
const stateCommitEvery = 4096

// Run replays every span and hands the range's events to sink. It returns when
// all are read and written, or on the first error (a sink error, a registry
// unreachable for longer than RetryFor, a fetch failure).
func (r *Replayer) Run(ctx context.Context, sink Sink) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }

	out := make(chan []*Event, 2*len(r.cfg.Spans)+2)
	work := map[int32]map[string]chan []*kgo.Record{} // partition → topic → chunks
	var wg sync.WaitGroup
	for _, s := range r.cfg.Spans {
		ch := make(chan []*kgo.Record, 4)
		if work[s.Partition] == nil {
			work[s.Partition] = map[string]chan []*kgo.Record{}
		}
		work[s.Partition][s.Topic] = ch
		wg.Go(func() {
			if err := r.partition(ctx, s, ch, out); err != nil {
				fail(err)
			}
		})
	}
	var sinkErr error
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		for evs := range out {
			if sinkErr != nil {
				continue // drain so that workers never block
			}
			for _, ev := range evs {
				if err := sink.Write(ev); err != nil {
					sinkErr = err
					fail(err)
					break
				}
			}
		}
	}()

	readErr := r.read(ctx, work)
	for _, byTopic := range work {
		for _, ch := range byTopic {
			close(ch)
		}
	}
	wg.Wait()
	close(out)
	<-sinkDone
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if sinkErr != nil {
		return sinkErr
	}
	if readErr != nil {
		return fmt.Errorf("replay: read: %w", readErr)
	}
	return ctx.Err()
}

// read fetches the spans with r.readers() readers in parallel, each with a
// client (so a connection, and a fetch in flight) of its own, and hands their
// records, in chunks, to the partitions' workers. A worker's next records are
// fetched while it scores the ones it has: fetching overlaps scoring, and the
// partitions' fetches overlap each other.
func (r *Replayer) read(ctx context.Context, work map[int32]map[string]chan []*kgo.Record) error {
	groups := make([][]*kread.Span, r.readers())
	for i, s := range r.cfg.Spans {
		g := i % len(groups)
		groups[g] = append(groups[g], &kread.Span{Topic: s.Topic, Partition: s.Partition, Next: s.WarmFrom, End: s.To})
	}
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, spans := range groups {
		wg.Go(func() { errs[i] = r.readGroup(ctx, spans, work) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readers is how many readers fetch in parallel: one per span, at most
// Config.Readers.
func (r *Replayer) readers() int {
	n := r.cfg.Readers
	if n <= 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	return max(1, min(n, len(r.cfg.Spans)))
}

// readGroup reads spans with a client of its own.
func (r *Replayer) readGroup(ctx context.Context, spans []*kread.Span, work map[int32]map[string]chan []*kgo.Record) error {
	cl, err := kgo.NewClient(r.cfg.Conn...)
	if err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	defer cl.Close()
	chunks := make(map[*kread.Span][]*kgo.Record, len(spans))
	send := func(s *kread.Span) {
		c := chunks[s]
		if len(c) == 0 {
			return
		}
		select {
		case work[s.Partition][s.Topic] <- c:
		case <-ctx.Done():
		}
		chunks[s] = make([]*kgo.Record, 0, chunkSize)
	}
	return kread.New(cl, kread.DefaultLimits).Read(ctx, spans, func(s *kread.Span, rec *kgo.Record) {
		chunks[s] = append(chunks[s], rec)
		if len(chunks[s]) >= chunkSize {
			send(s)
		}
	}, func(n int64) {
		for _, s := range spans {
			send(s)
		}
		r.offsets.Add(n)
	})
}

// partition owns one span's state and processor.
func (r *Replayer) partition(ctx context.Context, s Span, in <-chan []*kgo.Record, out chan<- []*Event) error {
	st, err := state.NewPartition(r.cfg.State)
	if err != nil {
		return err
	}
	proc := process.New(process.Config{Segment: r.cfg.Segment}, r.cfg.Decoder, r.cfg.Spec, nil)
	pending := make([]process.Pending, 0, r.cfg.Batch)
	// The state is committed every stateCommitEvery records, not every batch:
	// a commit encodes each entity written since the last one, and the
	// partition's state after any sequence of commits is the same
	// (state.TestTransactionsMatchRecordByRecord), so fewer commits only save
	// encodings. The undo log between commits is bounded by the count.
	staged := 0
	commit := func(force bool) {
		if staged >= stateCommitEvery || (force && staged > 0) {
			st.Commit()
			staged = 0
		}
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		evs := r.score(proc, pending)
		commit(false)
		pending = pending[:0]
		select {
		case out <- evs:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	for chunk := range in {
		for _, rec := range chunk {
			pe, err := r.prepare(ctx, proc, rec, st)
			if err != nil {
				return err
			}
			staged++
			if rec.Offset < s.From { // warm-up: state only
				commit(false)
				proc.Discard()
				r.warmup.Add(1)
				continue
			}
			pending = append(pending, pe)
			if len(pending) >= r.cfg.Batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	err = flush()
	commit(true)
	return err
}

// prepare is Prepare, retrying while the registry is unreachable.
func (r *Replayer) prepare(ctx context.Context, proc *process.Processor, rec *kgo.Record, st *state.Partition) (process.Pending, error) {
	deadline := time.Now().Add(r.cfg.RetryFor)
	for {
		pe, err := proc.Prepare(ctx, rec, st)
		if err == nil {
			return pe, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return pe, fmt.Errorf("replay: %s/%d offset %d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		t := time.NewTimer(time.Second) // registry backoff
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// score scores the pending records with every model and turns them into events.
// The events of a batch share their backing arrays (one allocation each for the
// events, feature vectors, scores and decisions).
func (r *Replayer) score(proc *process.Processor, pending []process.Pending) []*Event {
	models := r.cfg.Models
	k, n := len(models), len(r.cfg.Spec.Names())
	all := make([]Event, len(pending))
	evs := make([]*Event, 0, len(pending))
	feats := make([]float64, 0, n*len(pending))
	scores := make([]float64, 0, k*len(pending))
	decisions := make([]string, 0, k*len(pending))
	var dead map[string]int64
	proc.Score(pending, models, func(sc *process.Scored) {
		in := sc.Input
		ev := &all[len(evs)]
		*ev = Event{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, Key: in.Key,
			EventID: sc.EventID, Time: sc.Time, Segment: sc.Segment, DeadLetter: sc.DeadLetter, Err: sc.Err}
		evs = append(evs, ev)
		if ev.DeadLetter == "" && sc.Errs[0] != nil { // the live pipeline dead-letters it too
			ev.DeadLetter, ev.Err = process.ClassScore, sc.Errs[0]
		}
		if ev.DeadLetter != "" {
			if dead == nil {
				dead = map[string]int64{}
			}
			dead[ev.DeadLetter]++
			return
		}
		off := len(feats)
		feats = append(feats, sc.Features...)
		ev.Features = feats[off:len(feats):len(feats)]
		off = len(scores)
		scores = append(scores, sc.Scores...)
		ev.Scores = scores[off:len(scores):len(scores)]
		for j, m := range models {
			d := ""
			if sc.Errs[j] == nil {
				d = m.Decide(sc.Scores[j])
			}
			decisions = append(decisions, d)
		}
		ev.Decisions = decisions[off:len(decisions):len(decisions)]
	})
	r.events.Add(int64(len(evs)))
	if dead != nil {
		n := int64(0)
		r.mu.Lock()
		for k, v := range dead {
			r.deadBy[k] += v
			n += v
		}
		r.mu.Unlock()
		r.dead.Add(n)
		r.events.Add(-n)
	}
	return evs
}
