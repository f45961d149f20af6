// Package stream runs scorestream's transactional consume loop: poll, begin,
// decode/enrich/score, produce, end — with the consumed offsets committed inside
// the producer transaction.
//
// # Why one loop owns everything
//
// Exactly-once holds because one goroutine owns the open transaction, the staged
// state and the processor: records are produced with promises, offsets commit in
// the same transaction (franz-go GroupTransactSession), and staged state is applied
// only after End reports a commit. A rebalance at any point before End aborts the
// transaction (GroupTransactSession favours aborting over blocking the rebalance,
// see its doc comment); the session then rewinds to the committed offsets and the
// records come again. An abort is normal, never fatal.
//
// A transaction spans a commit interval or a record bound, not one poll, so the
// per-transaction cost (AddOffsetsToTxn, TxnOffsetCommit, EndTxn, markers) is paid
// once per interval rather than once per poll.
//
// # Produce as you go, partitions in parallel
//
// Each poll's records are scored and their outputs produced into the open
// transaction at once, so they are on their way to the brokers while the
// transaction goes on and its commit does not wait for a burst of scoring. Only
// the changelog waits for the end: one record per entity changed, its final
// state in the transaction. When a poll holds records of several partitions,
// up to Config.Workers goroutines score them, one partition at a time each
// (a partition's records stay in offset order on one goroutine; each worker
// has its own Processor, and partitions have independent state). Run's
// goroutine waits for them before it polls again or ends the transaction, so
// the transaction, the staged state and the session still have one owner
// between polls.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/process"
)

// Config for a Loop.
type Config struct {
	Conn               []kgo.Opt // seed brokers, TLS, SASL, client id
	Topics             []string
	Group              string
	TransactionalID    string
	ChangelogTopic     string
	CommitInterval     time.Duration
	MaxRecordsPerTxn   int
	TransactionTimeout time.Duration
	SessionTimeout     time.Duration
	// InstanceID, if set, makes the loop a static group member
	// (group.instance.id, KIP-345). A static member does not leave the group
	// when it closes, so a restart within SessionTimeout gets its partitions
	// back without a rebalance; the transactional id still fences the previous
	// incarnation (InitProducerID), and the group fences its consumer
	// (FENCED_INSTANCE_ID). The cost: a member that closes for good keeps its
	// partitions unassigned until SessionTimeout passes.
	InstanceID       string
	RebalanceTimeout time.Duration
	ShutdownTimeout  time.Duration
	RetryMax         time.Duration // longest backoff while the registry is unreachable
	// LivenessTimeout bounds how long the loop may go without progress (a poll
	// returned, a transaction ended, changelog records restored) while it owns
	// partitions with lag before Alive reports it hung; 0 disables the check.
	// An idle loop's polls then return every LivenessTimeout/4.
	LivenessTimeout time.Duration
	State           state.Config
	Checkpoints     Checkpoints
	// NewHooks returns the client hooks (e.g. kprom metrics) for each new session;
	// hooks are per client, so a replaced session gets fresh ones.
	NewHooks func() []kgo.Hook
	// NextModels is called as every transaction begins; a non-nil result
	// replaces the models for it (hot reload happens between transactions).
	NextModels func() *process.Models
	// OnCommit, if set, is called after every committed transaction with the
	// number of input records it covered.
	OnCommit func(records int)
	// Workers bounds the goroutines that score one poll's records when they
	// come from several partitions (each partition's records stay in order on
	// one goroutine); 0 means GOMAXPROCS, 1 scores everything on the loop's
	// goroutine.
	Workers int
}

// Stats are running totals, safe to read from any goroutine.
type Stats struct {
	Predictions atomic.Int64 // committed
	DeadLetters atomic.Int64 // committed
	Committed   atomic.Int64 // transactions
	Aborted     atomic.Int64 // transactions
	// ParallelPolls counts polls whose records were scored on more than one
	// worker (they came from several partitions; Config.Workers > 1).
	ParallelPolls atomic.Int64
}

// Loop is one scorestream instance's transactional loop.
type Loop struct {
	cfg   Config
	log   *slog.Logger
	m     *Metrics
	proc  *process.Processor
	sess  *kgo.GroupTransactSession
	parts map[int32]*state.Partition

	mu         sync.Mutex
	drop       map[int32]bool     // partitions revoked or lost; guarded by mu
	owned      map[tp]bool        // input partitions assigned to the session; guarded by mu
	restored   map[int32]bool     // partitions whose state is in parts; guarded by mu
	pollCancel context.CancelFunc // ends the poll in progress (an assignment wants a restore); guarded by mu

	ready       atomic.Bool  // the session joined the group
	needRestore atomic.Bool  // partitions were assigned; restore them before the next poll
	progress    atomic.Int64 // unix nanoseconds of the last progress, for Alive
	Stats       Stats
	opts        []kgo.Opt // to build a new session after a failed one

	// Per-transaction bookkeeping, owned by Run.
	inTxn      bool
	txnStart   time.Time
	txnRecords int // input records of the open transaction
	touched    map[int32]*state.Partition
	workers    []*worker  // workers[0] runs on Run's goroutine and owns proc
	batch      []partWork // the poll's records by partition, or the partitions whose changelog is due
	prodErr    atomic.Pointer[error]
	backoff    time.Duration
	drift      observers // drift counters of the models in use
	ck         ckptState
}

// metadataMinAge bounds how long a produce retried on CONCURRENT_TRANSACTIONS
// (or a moved leader) waits for the metadata refresh it asked for.
const metadataMinAge = 250 * time.Millisecond

// New builds a Loop and its Kafka session (which joins the group on first poll).
func New(cfg Config, proc *process.Processor, log *slog.Logger, m *Metrics) (*Loop, error) {
	l := &Loop{cfg: cfg, log: log, m: m, proc: proc, parts: make(map[int32]*state.Partition),
		drop: make(map[int32]bool), owned: make(map[tp]bool), restored: make(map[int32]bool),
		touched: make(map[int32]*state.Partition), ck: newCkptState()}
	n := cfg.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	l.workers = make([]*worker, n)
	for i := range l.workers {
		wp := proc
		if i > 0 {
			wp = proc.Clone()
		}
		l.workers[i] = &worker{proc: wp}
	}
	l.touch()
	l.cfg.State.OnEarlyEvict = m.EarlyEvictions.Inc
	opts := append([]kgo.Opt{}, cfg.Conn...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		// Kafka's default heartbeat (3s) is how long the other members take to
		// hear of a rebalance (a static leader's restart causes one); a tenth
		// of the session timeout keeps that short when the session is.
		kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/10)),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.RecordPartitioner(partitioner(cfg.ChangelogTopic)),
		// Under transaction version 2 (Kafka 4) a partition's leader adds the
		// partition to the transaction itself, and answers the produce
		// CONCURRENT_TRANSACTIONS while the coordinator is busy with another
		// leader's add or the previous transaction's markers: on a 3-node
		// cluster, where several leaders add partitions at once, most
		// transactions meet it. franz-go retries such a batch after a metadata
		// refresh, and refreshes come at most once per MetadataMinAge (default
		// 5s): transactions took 5-15s each and a group committed a few a
		// minute (docs/reliability.md, finding 6). Java's client refreshes
		// after retry.backoff.ms (100ms).
		kgo.MetadataMinAge(metadataMinAge),
		// The client's own warnings (and, at log level debug, its transaction
		// session and group decisions, e.g. offset fetches retried on
		// UNSTABLE_OFFSET_COMMIT).
		kgo.WithLogger(kafkaLogger{kslog.New(log.With("component", "kafka"))}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, rev map[string][]int32) { l.markDrop("revoked", rev) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { l.markDrop("lost", lost) }),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, as map[string][]int32) {
			l.mu.Lock()
			for t, ps := range as {
				for _, p := range ps {
					l.owned[tp{t, p}] = true
				}
			}
			// Restore before the next records: end an idle poll now rather
			// than when records arrive (readiness waits for the restore).
			l.needRestore.Store(true)
			if l.pollCancel != nil {
				l.pollCancel()
			}
			l.mu.Unlock()
			l.ready.Store(true) // joined the group (an empty assignment counts)
			l.log.Info("partitions assigned", "partitions", as)
		}),
	)
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	l.opts = opts
	sess, err := l.newSession()
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	l.sess = sess
	return l, nil
}

func (l *Loop) newSession() (*kgo.GroupTransactSession, error) {
	opts := l.opts
	if l.cfg.NewHooks != nil {
		opts = append(append([]kgo.Opt{}, opts...), kgo.WithHooks(l.cfg.NewHooks()...))
	}
	return kgo.NewGroupTransactSession(opts...)
}

// restart replaces a session whose transaction ended in error (a broker went away
// mid-commit, or the broker timed the transaction out) with a new one. That is
// safe: the new session's InitProducerID aborts whatever the old one left open,
// its consumer starts from the committed offsets, and all partition state is
// dropped here and restored from the changelog. Only a fenced producer — another
// live instance has our transactional id — is fatal: this instance is the zombie.
func (l *Loop) restart(ctx context.Context, cause error) error {
	if errors.Is(cause, kerr.ProducerFenced) || errors.Is(cause, kerr.TransactionalIDAuthorizationFailed) {
		return cause
	}
	l.m.SessionRestarts.Inc()
	l.ready.Store(false) // until the new session joins
	l.sess.Close()
	l.mu.Lock()
	for p := range l.parts {
		l.drop[p] = true // the new session restores whatever it is assigned
	}
	clear(l.owned)
	l.mu.Unlock()
	l.applyDrops()
	l.backoff = min(max(2*l.backoff, 500*time.Millisecond), l.cfg.RetryMax)
	l.log.Warn("transaction failed; starting a new session (state is restored from the changelog)",
		"err", cause, "retry_in", l.backoff)
	_ = Sleep(ctx, l.backoff)
	sess, err := l.newSession()
	if err != nil {
		return fmt.Errorf("stream: new session: %w", err)
	}
	l.sess = sess
	l.initProducer(ctx)
	return nil
}

// initProducer initialises the session's producer id now rather than at the
// first produce. InitProducerID fences the previous incarnation of our
// transactional id and makes its coordinator abort the transaction it left
// open, whose pending offset commits hold the group's offset fetches
// (UNSTABLE_OFFSET_COMMIT) on exactly the partitions a static member gets back:
// with nothing fetched there is nothing to produce, and without this the
// restart would wait for the broker to time that transaction out. A failure
// (brokers away) is only logged: the first produce tries again.
func (l *Loop) initProducer(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, _, err := l.sess.Client().ProducerID(ictx); err != nil && ctx.Err() == nil {
		l.log.Warn("initialising the producer id failed; it is retried at the first produce", "err", err)
	}
}

// partitioner sends changelog records to the partition the caller set (the input
// partition: the changelog is co-partitioned with the input) and other records by
// key hash like Kafka's default partitioner; keyless ones follow the input
// partition.
func partitioner(changelog string) kgo.Partitioner {
	byKey := kgo.StickyKeyPartitioner(nil)
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if topic == changelog {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		tp := byKey.ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			if r.Key == nil {
				return int(r.Partition) % n
			}
			return tp.Partition(r, n)
		}
	})
}

func (l *Loop) markDrop(why string, tps map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for t, ps := range tps {
		for _, p := range ps {
			l.drop[p] = true
			delete(l.owned, tp{t, p})
		}
	}
	if len(tps) > 0 {
		l.log.Info("partitions "+why, "partitions", tps)
	}
}

// applyDrops forgets the state of revoked or lost partitions, checkpointing it
// first. It runs only between transactions, so the state is the committed one; a
// partition assigned again is restored from its checkpoint and the changelog.
func (l *Loop) applyDrops() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.drop {
		l.writeCheckpoint(p, "dropped")
		l.forget(p)
		delete(l.parts, p)
		delete(l.restored, p)
		l.m.StateEntries.DeleteLabelValues(strconv.Itoa(int(p)))
		l.m.Lag.DeletePartialMatch(prometheus.Labels{"partition": strconv.Itoa(int(p))})
		delete(l.drop, p)
	}
}

// Ready reports whether the loop's session has joined its consumer group (it
// got an assignment, possibly empty) and the state of every assigned partition
// is restored from the changelog. The loop restores newly assigned partitions
// between transactions, before its next poll.
func (l *Loop) Ready() bool {
	if !l.ready.Load() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.owned {
		if !l.restored[k.partition] {
			return false
		}
	}
	return true
}

// Alive returns an error when the loop looks hung: it has made no progress (no
// poll returned, no transaction ended, no changelog records restored) for
// longer than Config.LivenessTimeout while it owns a partition that lag reports
// behind. lag gives the group's lag of a partition as the brokers see it (see
// GroupLag.Lag); a partition whose lag is unknown (brokers not answering) does
// not count, since restarting the instance would not bring the brokers back.
// An idle loop is alive: its polls return every LivenessTimeout/4.
func (l *Loop) Alive(now time.Time, lag func(topic string, partition int32) (int64, bool)) error {
	if l.cfg.LivenessTimeout <= 0 {
		return nil
	}
	idle := now.Sub(time.Unix(0, l.progress.Load()))
	if idle <= l.cfg.LivenessTimeout {
		return nil
	}
	l.mu.Lock()
	owned := slices.Collect(maps.Keys(l.owned))
	l.mu.Unlock()
	var behind []string
	for _, k := range owned {
		if n, ok := lag(k.topic, k.partition); ok && n > 0 {
			behind = append(behind, fmt.Sprintf("%s/%d (lag %d)", k.topic, k.partition, n))
		}
	}
	if len(behind) == 0 {
		return nil
	}
	slices.Sort(behind)
	return fmt.Errorf("stream: no progress for %v (no poll returned, no transaction ended; stream.liveness_timeout %v) while owning partitions with lag: %s",
		idle.Round(time.Second), l.cfg.LivenessTimeout, strings.Join(behind, ", "))
}

// touch records progress for Alive.
func (l *Loop) touch() { l.progress.Store(time.Now().UnixNano()) }

// Run polls and scores until ctx is done, then finishes the open transaction
// (bounded by ShutdownTimeout), leaves the group and returns. It returns an error
// only when the session cannot go on (e.g. the producer was fenced).
func (l *Loop) Run(ctx context.Context) error {
	// work is never cancelled by the signal: producing and ending the transaction
	// must complete (or time out) even while shutting down.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	defer func() { l.sess.Close() }() // the session in use at the end
	l.initProducer(ctx)
	l.touch()
	for ctx.Err() == nil {
		if !l.inTxn {
			l.applyDrops()
			if l.needRestore.Swap(false) {
				l.restoreAssigned(ctx)
			}
		}
		var pollCtx context.Context
		var cancel context.CancelFunc
		switch {
		case l.inTxn:
			pollCtx, cancel = context.WithDeadline(ctx, l.txnStart.Add(l.cfg.CommitInterval))
		case l.cfg.LivenessTimeout > 0:
			pollCtx, cancel = context.WithTimeout(ctx, l.cfg.LivenessTimeout/4) // an idle loop shows it is alive
		default:
			pollCtx, cancel = context.WithCancel(ctx)
		}
		if !l.inTxn {
			l.mu.Lock()
			l.pollCancel = cancel
			if l.needRestore.Load() { // assigned since the check above
				cancel()
			}
			l.mu.Unlock()
		}
		fetches := l.sess.PollRecords(pollCtx, max(1, l.cfg.MaxRecordsPerTxn-l.txnRecords))
		l.mu.Lock()
		l.pollCancel = nil
		l.mu.Unlock()
		cancel()
		l.touch()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				l.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		hold, err := l.process(work, fetches)
		if err != nil {
			return err
		}
		if hold != nil {
			if err := l.end(work, false); err != nil {
				if err := l.restart(ctx, err); err != nil {
					return err
				}
				continue
			}
			l.wait(ctx, hold)
			continue
		}
		if l.inTxn && (l.txnRecords >= l.cfg.MaxRecordsPerTxn || time.Since(l.txnStart) >= l.cfg.CommitInterval) {
			if err := l.end(work, true); err != nil {
				if err := l.restart(ctx, err); err != nil {
					return err
				}
				continue
			}
			l.backoff = 0
		}
	}
	// Soft shutdown: finish the open transaction within the deadline, then leave.
	if l.inTxn {
		sctx, cancel := context.WithTimeout(work, l.cfg.ShutdownTimeout)
		err := l.end(sctx, true)
		cancel()
		if err != nil {
			return err
		}
	}
	for p := range l.parts {
		l.writeCheckpoint(p, "shutdown")
	}
	l.log.Info("stopped", "committed_txns", l.Stats.Committed.Load(), "aborted_txns", l.Stats.Aborted.Load())
	return nil
}

func (l *Loop) nextModels() *process.Models {
	if l.cfg.NextModels == nil {
		return nil
	}
	return l.cfg.NextModels()
}

// process scores the polled records inside the open transaction (beginning one if
// needed). It returns a non-nil hold error when the input must be held and retried
// (the registry or the changelog cannot be reached).
func (l *Loop) process(ctx context.Context, fetches kgo.Fetches) (hold error, fatal error) {
	records := fetches.Records()
	if len(records) == 0 {
		return nil, nil
	}
	if !l.inTxn {
		// The models are picked here, as the transaction begins, and not before
		// the poll: an idle loop may wait in its poll for minutes, and a model
		// swapped in meanwhile must score the records that end the wait.
		if next := l.nextModels(); next != nil {
			for _, w := range l.workers {
				w.proc.SetModels(next)
			}
		}
		if err := l.sess.Begin(); err != nil {
			return nil, fmt.Errorf("stream: begin transaction: %w", err)
		}
		l.inTxn, l.txnStart = true, time.Now()
		l.prodErr.Store(nil)
	}
	if err := l.ensureRestored(ctx, records); err != nil {
		return fmt.Errorf("restore state: %w", err), nil
	}
	l.batch = l.batch[:0]
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		n := len(p.Records)
		if n == 0 {
			return
		}
		l.m.Consumed.WithLabelValues(p.Topic).Add(float64(n))
		lag := p.HighWatermark - p.Records[n-1].Offset - 1
		l.m.Lag.WithLabelValues(p.Topic, strconv.Itoa(int(p.Partition))).Set(float64(max(0, lag)))
		// State is per partition number (one input topic when there is
		// state): records of one number from several topics share a worker.
		i := slices.IndexFunc(l.batch, func(w partWork) bool { return w.partition == p.Partition })
		if i < 0 {
			st := l.parts[p.Partition]
			l.touched[p.Partition] = st
			l.batch = append(l.batch, partWork{partition: p.Partition, st: st})
			i = len(l.batch) - 1
		}
		l.batch[i].recs = append(l.batch[i].recs, p.Records)
	})
	l.txnRecords += len(records)
	if min(len(l.workers), len(l.batch)) > 1 {
		l.Stats.ParallelPolls.Add(1)
	}
	if err := l.fanOut(func(w *worker, it *partWork) error { return w.prepare(ctx, it) },
		func(w *worker) { w.finish(ctx, l) }); err != nil {
		l.m.RegistryErrors.WithLabelValues("unavailable").Inc()
		return err, nil
	}
	return nil, nil
}

// partWork is one partition's share of a poll: its state and its records in
// offset order (one slice per input topic).
type partWork struct {
	partition int32
	st        *state.Partition
	recs      [][]*kgo.Record
}

// worker scores partitions on one goroutine with its own Processor (the
// decoder, spec and models it uses are shared and safe for concurrent use; its
// scratch, slabs and decode buffers are its own).
type worker struct {
	proc    *process.Processor
	pending []process.Pending // the poll's prepared records
	err     error             // the first Prepare failure of the poll
	changes []*kgo.Record     // changelog scratch
	// What the open transaction scored, for the metrics of its commit:
	// Finish's results alias its buffers, reused at the next Finish.
	done  []scored
	feats []float64 // the feature vectors of done, in order
}

// scored is a result kept until its transaction ends.
type scored struct {
	appended time.Time // the input record's timestamp
	res      process.Result
	nfeat    int // len(res.Features); they are in worker.feats
}

// fanOut runs each over the items of l.batch, sharing them among up to
// len(l.workers) workers (one item at a time, so a partition's records stay
// in order on one goroutine), then after on every worker that ran. With one
// item or one worker it runs on the caller's goroutine. It returns the first
// error of each.
func (l *Loop) fanOut(each func(*worker, *partWork) error, after func(*worker)) error {
	n := min(len(l.workers), len(l.batch))
	var next atomic.Int64
	run := func(w *worker) {
		w.err = nil
		for {
			i := int(next.Add(1)) - 1
			if i >= len(l.batch) {
				break
			}
			if err := each(w, &l.batch[i]); err != nil {
				w.err = err
				break
			}
		}
		if after != nil {
			after(w)
		}
	}
	if n <= 1 {
		n = 1
		run(l.workers[0])
	} else {
		var wg sync.WaitGroup
		for _, w := range l.workers[:n] {
			wg.Go(func() { run(w) })
		}
		wg.Wait()
	}
	for _, w := range l.workers[:n] {
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

// prepare prepares one partition's records (decode, features, staged state).
// A failure (ErrRetry: the registry is unreachable) drops what the worker
// prepared in this poll; the transaction then aborts, undoing the staged state.
func (w *worker) prepare(ctx context.Context, it *partWork) error {
	for _, rs := range it.recs {
		for _, r := range rs {
			pe, err := w.proc.Prepare(ctx, r, it.st)
			if err != nil {
				w.proc.Discard()
				w.pending = w.pending[:0]
				return err
			}
			w.pending = append(w.pending, pe)
		}
	}
	return nil
}

// finish scores the worker's prepared records (one batched call per model when
// the model batches) and produces their outputs into the open transaction at
// once: they are sent while the transaction goes on, so its commit does not wait
// for a burst of scoring and producing. What the commit's metrics need is kept.
func (w *worker) finish(ctx context.Context, l *Loop) {
	if w.err != nil || len(w.pending) == 0 {
		return
	}
	results := w.proc.Finish(w.pending)
	for i := range results {
		in := w.pending[i].Input()
		r := &results[i]
		for _, out := range r.Records {
			if out.Partition == 0 {
				out.Partition = in.Partition // hint for keyless records; see partitioner
			}
			l.sess.Produce(ctx, out, l.promise)
		}
		k := scored{appended: in.Timestamp, res: *r, nfeat: len(r.Features)}
		k.res.Records, k.res.Err = nil, nil
		w.feats = append(w.feats, r.Features...)
		k.res.Features = nil
		w.done = append(w.done, k)
	}
	w.pending = w.pending[:0]
}

// produceChangelog produces the open transaction's changelog: one record per
// entity changed, its final state in this transaction (or a tombstone). It
// runs as the transaction ends, after every output is produced, the partitions
// shared among the workers.
func (l *Loop) produceChangelog(ctx context.Context) {
	l.batch = l.batch[:0]
	for p, st := range l.touched {
		l.batch = append(l.batch, partWork{partition: p, st: st})
	}
	_ = l.fanOut(func(w *worker, it *partWork) error {
		w.changes = w.proc.Changelog(w.changes[:0], it.partition, it.st) // its own Processor: Changelog keeps sizing scratch
		for _, r := range w.changes {
			l.sess.Produce(ctx, r, l.promise)
		}
		clear(w.changes)
		return nil
	}, nil)
}

func (l *Loop) promise(r *kgo.Record, err error) {
	if err != nil {
		l.prodErr.CompareAndSwap(nil, &err)
		return
	}
	if r.Topic == l.cfg.ChangelogTopic {
		l.changelogProduced(r)
	}
}

// restoreAssigned restores the state of assigned partitions not restored yet,
// so that the instance is ready before their first records arrive. It runs
// between transactions. On failure the partitions are restored again before
// their records are scored (ensureRestored), where a failure holds the input.
func (l *Loop) restoreAssigned(ctx context.Context) {
	l.mu.Lock()
	var need []int32
	for k := range l.owned {
		if _, ok := l.parts[k.partition]; !ok && !slices.Contains(need, k.partition) {
			need = append(need, k.partition)
		}
	}
	l.mu.Unlock()
	if len(need) == 0 {
		return
	}
	slices.Sort(need)
	if err := l.restore(ctx, need); err != nil && ctx.Err() == nil {
		l.log.Warn("restoring assigned partitions failed; retried when their records arrive", "partitions", need, "err", err)
	}
}

// ensureRestored restores, from the changelog, every partition in records whose
// state this instance does not hold yet.
func (l *Loop) ensureRestored(ctx context.Context, records []*kgo.Record) error {
	var need []int32
	for _, r := range records {
		if _, ok := l.parts[r.Partition]; !ok && !slices.Contains(need, r.Partition) {
			need = append(need, r.Partition)
		}
	}
	if len(need) == 0 {
		return nil
	}
	return l.restore(ctx, need)
}

// restore restores partitions need from the changelog into parts.
func (l *Loop) restore(ctx context.Context, need []int32) error {
	start := time.Now()
	awaitStable(ctx, l.sess.Client(), l.cfg.ChangelogTopic, need, l.log)
	rs, err := restore(ctx, l.cfg.Conn, l.sess.Client(), l.cfg.ChangelogTopic, need, l.cfg.State, l.corruptState,
		l.pickCheckpoint(ctx, l.sess.Client()), l.touch)
	if err != nil {
		return err
	}
	parts := make(map[int32]*state.Partition, len(rs))
	for p, r := range rs {
		parts[p] = r.State
		l.ck.offset[p] = r.Offset
		if r.From == nil || r.Records > 0 {
			l.ck.written[p] = time.Time{} // the next commit writes a checkpoint
		} else {
			l.ck.written[p] = start // the checkpoint read is current
		}
	}
	fromCkpt, tail, n := l.restoreSummary(rs)
	var up state.Upgrades
	l.mu.Lock()
	for p, st := range parts {
		l.parts[p] = st
		l.restored[p] = true
		l.m.StateEntries.WithLabelValues(strconv.Itoa(int(p))).Set(float64(st.Len()))
		u := st.Upgrades()
		up.FromV1 += u.FromV1
		up.StartedEmpty += u.StartedEmpty
	}
	if up.FromV1 > 0 || up.StartedEmpty > 0 {
		l.m.StateUpgrades.WithLabelValues("from_v1").Add(float64(up.FromV1))
		l.m.StateUpgrades.WithLabelValues("aggregate_started_empty").Add(float64(up.StartedEmpty))
		l.log.Warn("restored state written by an older release or feature spec: converted what it holds; aggregates it cannot give start empty",
			"partitions", need, "records_from_v1", up.FromV1, "records_with_aggregates_started_empty", up.StartedEmpty)
	}
	l.mu.Unlock()
	l.m.RestoreSeconds.Observe(time.Since(start).Seconds())
	l.m.RestoredEntries.Add(float64(n + tail))
	l.log.Info("restored state", "partitions", need, "from_checkpoint", fromCkpt, "checkpoint_tail_records", tail,
		"full_restore_records", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// corruptState reports a changelog record that did not decode on restore; its
// entity starts empty.
func (l *Loop) corruptState(r *kgo.Record, err error) {
	l.m.CorruptState.Inc()
	l.log.Error("corrupt changelog record: its entity starts empty", "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, "key", string(r.Key), "err", err)
}

// end ends the open transaction: commit if asked and every produce succeeded,
// else abort. Staged state follows the outcome.
func (l *Loop) end(ctx context.Context, commit bool) error {
	if !l.inTxn {
		return nil
	}
	if commit {
		l.produceChangelog(ctx)
		if err := l.sess.Client().Flush(ctx); err != nil {
			commit = false
		}
		if perr := l.prodErr.Load(); perr != nil {
			l.log.Warn("aborting transaction: a produce failed", "err", *perr)
			commit = false
		}
	}
	committed, err := l.sess.End(ctx, kgo.TransactionEndTry(commit))
	l.touch()
	dur := time.Since(l.txnStart)
	n := l.txnRecords
	if committed && err == nil {
		for _, st := range l.touched {
			st.Commit()
		}
		l.record(n, dur)
		l.committedChangelog(true)
	} else {
		l.committedChangelog(false)
		for _, w := range l.workers {
			w.proc.Discard() // a poll's prepared records, if its Prepare failed
		}
		for _, st := range l.touched {
			st.Abort()
		}
		l.m.Transactions.WithLabelValues("aborted").Inc()
		l.Stats.Aborted.Add(1)
		l.log.Info("transaction aborted; its records will be polled again", "records", n, "wanted_commit", commit)
	}
	clear(l.touched)
	for _, w := range l.workers {
		w.pending, w.done, w.feats = w.pending[:0], w.done[:0], w.feats[:0]
		// The transaction's produces are complete when End returned no error
		// (flushed, or aborted and failed): their memory is reused.
		w.proc.Release(err == nil)
	}
	l.txnRecords = 0
	l.inTxn = false
	if err != nil {
		return fmt.Errorf("stream: end transaction: %w", err)
	}
	return nil
}

// record updates metrics and stats for a committed transaction.
func (l *Loop) record(n int, dur time.Duration) {
	l.m.Transactions.WithLabelValues("committed").Inc()
	l.m.TxnDuration.Observe(dur.Seconds())
	l.m.TxnRecords.Observe(float64(n))
	l.Stats.Committed.Add(1)
	now := time.Now()
	ms := l.proc.Models()
	ch := ms.Champion
	logAppend := l.m.Latency.WithLabelValues("log_append")
	eventTime := l.m.Latency.WithLabelValues("event_time")
	champScore := l.m.Score.WithLabelValues(ch.Name, ch.Version, "champion")
	var challScore prometheus.Observer
	if c := ms.Challenger; c != nil {
		challScore = l.m.Score.WithLabelValues(c.Name, c.Version, "challenger")
	}
	champDrift, challDrift := l.drift.of(l.m.Drift, ms, l.proc.Spec().Names())
	var preds, dead int64
	for _, w := range l.workers {
		feats := w.feats
		for i := range w.done {
			k := &w.done[i]
			r := &k.res
			r.Features, feats = feats[:k.nfeat:k.nfeat], feats[k.nfeat:]
			logAppend.Observe(now.Sub(k.appended).Seconds())
			if r.DeadLetter != "" {
				dead++
				l.m.DeadLetters.WithLabelValues(r.DeadLetter).Inc()
				continue
			}
			preds++
			for _, f := range r.Absent {
				l.m.FeatureAbsent.WithLabelValues(l.proc.Spec().Names()[f]).Inc()
			}
			eventTime.Observe(now.Sub(time.UnixMilli(r.EventTime)).Seconds())
			champScore.Observe(r.Score)
			champDrift.Observe(r.Score, r.Features)
			l.m.Decisions.WithLabelValues(ch.Name, ch.Version, "champion", r.Decision).Inc()
			if c := ms.Challenger; c != nil && r.ChallengerDecide != "" {
				challScore.Observe(r.ChallengerScore)
				challDrift.Observe(r.ChallengerScore, r.Features)
				l.m.Decisions.WithLabelValues(c.Name, c.Version, "challenger", r.ChallengerDecide).Inc()
				if r.ChallengerDecide != r.Decision {
					l.m.Disagreements.Inc()
				}
			}
		}
	}
	champDrift.Flush()
	challDrift.Flush()
	if preds > 0 {
		l.m.Predictions.WithLabelValues(ch.Name, ch.Version).Add(float64(preds))
	}
	l.Stats.Predictions.Add(preds)
	l.Stats.DeadLetters.Add(dead)
	for p, st := range l.touched {
		l.m.StateEntries.WithLabelValues(strconv.Itoa(int(p))).Set(float64(st.Len()))
	}
	if l.cfg.OnCommit != nil {
		l.cfg.OnCommit(n)
	}
}

// wait holds the input after a retryable failure, backing off up to RetryMax.
func (l *Loop) wait(ctx context.Context, why error) {
	l.backoff = min(max(2*l.backoff, 100*time.Millisecond), l.cfg.RetryMax)
	l.m.RegistryDown.Set(1)
	l.log.Warn("holding input: dependency unavailable, records will be retried, not dead-lettered",
		"err", why, "retry_in", l.backoff)
	_ = Sleep(ctx, l.backoff)
	l.m.RegistryDown.Set(0)
}

// SetOnCommit sets the OnCommit callback; call before Run.
func (l *Loop) SetOnCommit(fn func(records int)) { l.cfg.OnCommit = fn }

// kafkaLogger passes franz-go's warnings and errors through, and its info
// messages (several per transaction) only when debug logging is on.
type kafkaLogger struct{ *kslog.Logger }

func (k kafkaLogger) Level() kgo.LogLevel {
	if lv := k.Logger.Level(); lv >= kgo.LogLevelDebug {
		return lv
	}
	return min(k.Logger.Level(), kgo.LogLevelWarn)
}
