package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/scorestream/scorestream/config"
)

// OffsetsTopic is Kafka's internal topic of committed group offsets.
const OffsetsTopic = "__consumer_offsets"

// Hanging is a transaction open in a partition (it holds the partition's last
// stable offset: read_committed readers, and on __consumer_offsets the group's
// offset fetches, stop there) that is hanging: its coordinator has ended it
// without a marker reaching this partition, or it has been open longer than any
// transaction of the pipeline may be.
type Hanging struct {
	Topic            string
	Partition        int32
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	StartOffset      int64
	LastWrite        time.Time // the producer's last write to the partition
	// TxnID and CoordState are what the transaction coordinator says of the
	// producer: its transactional id and its transaction's state (Ongoing,
	// PrepareCommit, CompleteCommit, CompleteAbort, ...); "" when the coordinator
	// knows no transaction of the producer (expired, or lost).
	TxnID      string
	CoordState string
	// CoordMovedOn: the coordinator's state is of a later transaction of the
	// producer (its epoch is past this one's, and past the bump that ends it
	// under transaction version 2), so what it decided for this one is not known.
	// CoordState is then "".
	CoordMovedOn bool
	// Decided: the coordinator has ended this transaction (or the producer has
	// moved on to a later epoch or transaction), so no more records and no marker
	// of its own are coming here. Otherwise it is still Ongoing at the
	// coordinator and only its age makes it hanging: its producer may be alive.
	Decided bool
}

// Age is how long the producer has not written to the partition at now.
func (h Hanging) Age(now time.Time) time.Duration { return now.Sub(h.LastWrite) }

// Committed reports whether the coordinator committed the transaction: the
// records of its other partitions are visible, so this partition needs a
// COMMIT marker, not an abort (aborting drops records the rest of the
// transaction committed, and on __consumer_offsets makes the group redo work
// whose outputs are already committed).
func (h Hanging) Committed() bool {
	return h.Decided && (h.CoordState == "CompleteCommit" || h.CoordState == "PrepareCommit")
}

// HangingScope is what the hanging-transaction check looks at: the pipeline's
// input, changelog and output topics and its group's offsets partition.
type HangingScope struct {
	Topics []string
	Group  string
}

// ScopeOf is the scope of a pipeline's config: its input, output and changelog
// topics and its group.
func ScopeOf(cfg *config.Config) HangingScope {
	o := cfg.Output
	topics := slices.Clone(cfg.Stream.InputTopics)
	for _, t := range []string{o.PredictionsTopic, o.DeadLetterTopic, o.ChangelogTopic, o.ShadowTopic} {
		if t != "" && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return HangingScope{Topics: topics, Group: cfg.Stream.Group}
}

// Partitions resolves the scope to partitions: every partition of Topics and
// the partition of __consumer_offsets that holds Group's offsets.
func (sc HangingScope) Partitions(ctx context.Context, adm *kadm.Client) (kadm.TopicsSet, error) {
	topics := slices.Clone(sc.Topics)
	if sc.Group != "" {
		topics = append(topics, OffsetsTopic)
	}
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	set := kadm.TopicsSet{}
	for _, t := range td {
		if t.Err != nil {
			if t.Topic == OffsetsTopic && errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
				continue // no group has committed yet
			}
			return nil, fmt.Errorf("topic %s: %w", t.Topic, t.Err)
		}
		if t.Topic == OffsetsTopic {
			set.Add(t.Topic, OffsetsPartition(sc.Group, len(t.Partitions)))
			continue
		}
		for _, p := range t.Partitions {
			set.Add(t.Topic, p.Partition)
		}
	}
	return set, nil
}

// OffsetsPartition is the partition of __consumer_offsets (of n) that holds
// group's offsets: Kafka's abs(group.hashCode()) % n, with Java's String hash.
func OffsetsPartition(group string, n int) int32 {
	var h int32
	for _, r := range group {
		if r >= 0x10000 { // a UTF-16 surrogate pair in Java
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0 // Kafka's Utils.abs
	} else if h < 0 {
		h = -h
	}
	return h % int32(n)
}

// HangingFinder finds the hanging transactions of a set of partitions, and
// remembers since when it has seen each open transaction decided by its
// coordinator: a decided one is hanging once its marker is overdue, StableWait
// after it was first seen decided. The producer's last write to the partition
// says nothing of when the coordinator decided: a transaction whose records
// were written 15 s before its EndTxn (slow produce retries on a loaded
// cluster, or a long commit interval) is decided with an "age" of 15 s while
// its markers are still milliseconds away. The zero value is ready to use; it
// is not safe for concurrent use.
type HangingFinder struct {
	decidedAt map[txnKey]time.Time
}

// txnKey names one open transaction in one partition.
type txnKey struct {
	topic     string
	partition int32
	producer  int64
	epoch     int16
	start     int64
}

// Find returns the hanging transactions in set at now: open ones this finder
// has seen decided for at least StableWait (markers take milliseconds), and any
// open for longer than olderThan (measured from the producer's last write to
// the partition). due is when the earliest decided one not yet overdue becomes
// so if it is still open then (zero if there is none): look again then.
func (f *HangingFinder) Find(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet, olderThan time.Duration, now time.Time) (hs []Hanging, due time.Time, err error) {
	open, coord, err := describeOpen(ctx, adm, set)
	if err != nil {
		return nil, time.Time{}, err
	}
	hs, due = f.classify(open, coord, olderThan, now)
	return hs, due, nil
}

// classify is Find on what the partitions' leaders and the coordinators said.
func (f *HangingFinder) classify(open []openTxn, coord map[int64]coordTxn, olderThan time.Duration, now time.Time) ([]Hanging, time.Time) {
	dec := decided(open, coord)
	seen := make(map[txnKey]time.Time, len(dec))
	var out []Hanging
	var due time.Time
	for _, o := range open {
		isDecided := slices.Contains(dec, o)
		var decidedFor time.Duration
		if isDecided {
			k := txnKey{o.topic, o.partition, o.producer, o.epoch, o.start}
			at, ok := f.decidedAt[k]
			if !ok {
				at = now
			}
			seen[k] = at
			decidedFor = now.Sub(at)
		}
		if !hanging(isDecided, decidedFor, now.Sub(o.lastWrite), olderThan) {
			if isDecided {
				if d := now.Add(StableWait - decidedFor); due.IsZero() || d.Before(due) {
					due = d
				}
			}
			continue
		}
		c := coord[o.producer]
		h := Hanging{Topic: o.topic, Partition: o.partition, ProducerID: o.producer, ProducerEpoch: o.epoch,
			CoordinatorEpoch: o.coordEpoch, StartOffset: o.start, LastWrite: o.lastWrite,
			TxnID: c.id, CoordState: c.state, Decided: isDecided}
		if c.state != "" && c.epoch >= 0 && c.epoch != o.epoch && c.epoch != o.epoch+1 {
			h.CoordState, h.CoordMovedOn = "", true
		}
		out = append(out, h)
	}
	f.decidedAt = seen // a transaction no longer open (or no longer decided) is forgotten
	slices.SortFunc(out, func(a, b Hanging) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.StartOffset - b.StartOffset)
	})
	return out, due
}

// FindHanging returns the hanging transactions in set, looking as often as it
// takes (at most StableWait, checking every second) for every decided
// transaction it sees to be either gone — its markers landed — or overdue.
// One look would call hanging a transaction its coordinator decided a moment
// ago, or wait for nothing.
func FindHanging(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet, olderThan time.Duration) ([]Hanging, error) {
	var f HangingFinder
	for {
		hs, due, err := f.Find(ctx, adm, set, olderThan, time.Now())
		if err != nil || due.IsZero() {
			return hs, err
		}
		if err := Sleep(ctx, min(time.Until(due), time.Second)); err != nil { // poll interval: a landed marker ends the wait
			return nil, err
		}
	}
}

// hanging: an open transaction that has been decided by its coordinator for
// decidedFor is hanging once its marker is overdue (StableWait; markers take
// milliseconds); any open one is once it is older than olderThan.
func hanging(decided bool, decidedFor, age, olderThan time.Duration) bool {
	return decided && decidedFor >= StableWait || age >= olderThan
}

// ErrNotHanging: the partition has no open transaction of that producer at that
// start offset (already repaired, or never there).
var ErrNotHanging = errors.New("no such open transaction")

// WriteMarker ends h in its partition by writing the transaction marker its
// coordinator failed to write there (WriteTxnMarkers to the partition's
// leader, as kafka-transactions.sh abort does): COMMIT if commit, else ABORT.
// The epochs are h's, as DescribeProducers reported them.
func WriteMarker(ctx context.Context, cl *kgo.Client, h Hanging, commit bool) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed = h.ProducerID, h.ProducerEpoch, h.CoordinatorEpoch, commit
	t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	t.Topic, t.Partitions = h.Topic, []int32{h.Partition}
	m.Topics = append(m.Topics, t)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("write txn marker to %s/%d: %w", h.Topic, h.Partition, err)
	}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("write txn marker to %s/%d: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
	}
	return nil
}

// HangingWatch exports the hanging transactions of a scope as
// scorestream_hanging_transactions{topic,partition,producer_id} (seconds since
// the producer's last write to the partition), checking every Interval, and
// logs each one once with the command that repairs it.
type HangingWatch struct {
	Admin     *kadm.Client
	Scope     HangingScope
	OlderThan time.Duration // an open transaction older than this is hanging
	Interval  time.Duration // default 15s
	Gauge     *prometheus.GaugeVec
	Log       *slog.Logger
	Now       func() time.Time // default time.Now
}

// Run checks until ctx is done.
func (w *HangingWatch) Run(ctx context.Context) {
	if w.Interval <= 0 {
		w.Interval = 15 * time.Second
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	logged := map[Hanging]bool{}
	var f HangingFinder // remembers, across checks, since when each transaction is decided
	for {
		next := w.Interval
		due, err := w.check(ctx, &f, logged)
		if err != nil && ctx.Err() == nil {
			var ae *kadm.AuthError
			if errors.As(err, &ae) {
				w.Log.Warn("hanging transactions: not allowed to describe producers or transactions; not checking", "err", err)
				return
			}
			w.Log.Debug("hanging transactions: check failed; trying again", "err", err)
		}
		if !due.IsZero() {
			// A decided transaction is still open: look again when its
			// marker is overdue rather than a whole interval later.
			next = min(next, max(due.Sub(w.Now()), 100*time.Millisecond))
		}
		if Sleep(ctx, next) != nil {
			return
		}
	}
}

func (w *HangingWatch) check(ctx context.Context, f *HangingFinder, logged map[Hanging]bool) (due time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	set, err := w.Scope.Partitions(ctx, w.Admin)
	if err != nil {
		return time.Time{}, err
	}
	now := w.Now()
	hs, due, err := f.Find(ctx, w.Admin, set, w.OlderThan, now)
	if err != nil {
		return time.Time{}, err
	}
	w.Gauge.Reset()
	seen := map[Hanging]bool{}
	for _, h := range hs {
		w.Gauge.WithLabelValues(h.Topic, strconv.Itoa(int(h.Partition)), strconv.FormatInt(h.ProducerID, 10)).Set(h.Age(now).Seconds())
		seen[h] = true
		if !logged[h] {
			w.Log.Warn("hanging transaction: it holds the partition's last stable offset; repair: scorestream txn hanging -c CONFIG",
				"topic", h.Topic, "partition", h.Partition, "producer_id", h.ProducerID, "producer_epoch", h.ProducerEpoch,
				"start_offset", h.StartOffset, "coordinator_state", h.CoordState, "age", h.Age(now).Round(time.Second))
		}
	}
	for h := range logged {
		if !seen[h] {
			delete(logged, h)
		}
	}
	for h := range seen {
		logged[h] = true
	}
	return due, nil
}
