package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// StableWait bounds how long a restore waits for changelog transactions that
// their coordinator has already decided but whose markers are not yet in the
// partition.
const StableWait = 10 * time.Second

// openTxn is a transaction open in a changelog partition, as the partition's
// leader sees it (DescribeProducers).
type openTxn struct {
	topic      string
	partition  int32
	producer   int64
	epoch      int16
	start      int64
	coordEpoch int32     // the coordinator epoch of the producer's last marker here
	lastWrite  time.Time // the producer's last write to the partition
}

// coordTxn is what the transaction coordinator says of a producer's
// transaction (ListTransactions + DescribeTransactions).
type coordTxn struct {
	id    string
	state string
	epoch int16
	parts kadm.TopicsSet // partitions of its current transaction; nil if not described
}

// decided returns the open transactions that will not get more records: their
// coordinator has ended them (or moved on to a later epoch), so a marker is on
// its way or, if it never comes, the transaction hangs. A restore must wait for
// those: a committed one holds the previous owner's last state changes. A
// transaction the coordinator still has Ongoing, at the same epoch and with
// this partition in it, is not waited for: the partition has a new owner, so
// its producer lost it and can only abort (a zombie, or an instance that
// died), and its records never count. (With transaction version 2 every
// transaction has its own epoch; with version 1 the partition set tells a
// producer's current transaction from an earlier, hanging one.)
func decided(open []openTxn, coord map[int64]coordTxn) []openTxn {
	var out []openTxn
	for _, o := range open {
		c, ok := coord[o.producer]
		if ok && c.state == "Ongoing" && c.epoch == o.epoch && (c.parts == nil || c.parts.Lookup(o.topic, o.partition)) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// awaitStable waits, before partitions ps of the changelog are restored, until
// no decided transaction is open in them, for at most StableWait. Restoring
// reads up to the last stable offset; without this wait, the previous owner's
// last committed transaction could be left out when its markers land after the
// new owner started reading. Brokers that do not answer DescribeProducers or
// ListTransactions (older versions, ACLs) skip the wait. After StableWait it
// logs the hanging transactions and lets the restore go on: their records are
// not readable until someone aborts them (deploy/README.md#scorestreamstalled).
func awaitStable(ctx context.Context, cl *kgo.Client, topic string, ps []int32, log *slog.Logger) {
	adm := kadm.NewClient(cl)
	start := time.Now()
	var lastErr error
	for {
		wait, err := decidedOpen(ctx, adm, topic, ps)
		var ae *kadm.AuthError
		switch {
		case errors.As(err, &ae):
			log.Debug("changelog transactions: not allowed to describe them; restoring without waiting", "topic", topic, "err", err)
			return
		case err != nil:
			lastErr = err // a broker or coordinator away (often right after a failure): try again
		case len(wait) == 0:
			if d := time.Since(start); d > 100*time.Millisecond {
				log.Info("changelog transactions settled before the restore", "topic", topic, "waited", d.Round(time.Millisecond))
			}
			return
		default:
			lastErr = nil
		}
		if time.Since(start) >= StableWait {
			if lastErr != nil {
				log.Warn("changelog transactions: could not describe them; restoring to the last stable offset without knowing whether a committed transaction is still to land",
					"topic", topic, "partitions", ps, "err", lastErr)
				return
			}
			for _, o := range wait {
				log.Warn("changelog partition holds a transaction its coordinator has ended without a marker here (a hanging transaction): "+
					"the restore reads up to it and the state misses what was committed after it; repair it: "+
					"scorestream txn hanging -c CONFIG, then scorestream txn abort (deploy/README.md#scorestreamhangingtransaction)",
					"topic", topic, "partition", o.partition, "producer_id", o.producer, "producer_epoch", o.epoch, "start_offset", o.start)
			}
			return
		}
		if sleep(ctx, 100*time.Millisecond) != nil { // poll interval
			return
		}
	}
}

func decidedOpen(ctx context.Context, adm *kadm.Client, topic string, ps []int32) ([]openTxn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // one round; the caller retries
	defer cancel()
	set := kadm.TopicsSet{}
	set.Add(topic, ps...)
	open, coord, err := describeOpen(ctx, adm, set)
	if err != nil {
		return nil, err
	}
	return decided(open, coord), nil
}

// describeOpen returns the transactions open in the partitions of set, as their
// leaders see them (DescribeProducers), and what the coordinators say of their
// producers (ListTransactions + DescribeTransactions).
func describeOpen(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet) ([]openTxn, map[int64]coordTxn, error) {
	dp, err := adm.DescribeProducers(ctx, set)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range dp {
		for _, p := range t.Partitions {
			if p.Err != nil {
				return nil, nil, fmt.Errorf("describe producers of %s/%d: %w", t.Topic, p.Partition, p.Err)
			}
		}
	}
	var open []openTxn
	var pids []int64
	dp.EachProducer(func(p kadm.DescribedProducer) {
		if p.CurrentTxnStartOffset >= 0 {
			open = append(open, openTxn{topic: p.Topic, partition: p.Partition, producer: p.ProducerID, epoch: p.ProducerEpoch,
				start: p.CurrentTxnStartOffset, coordEpoch: p.CoordinatorEpoch, lastWrite: time.UnixMilli(p.LastTimestamp)})
			if !slices.Contains(pids, p.ProducerID) {
				pids = append(pids, p.ProducerID)
			}
		}
	})
	if len(open) == 0 {
		return nil, nil, nil
	}
	lt, err := adm.ListTransactions(ctx, pids, nil)
	if err != nil {
		return nil, nil, err
	}
	coord := map[int64]coordTxn{}
	var ids []string
	lt.Each(func(t kadm.ListedTransaction) {
		coord[t.ProducerID] = coordTxn{id: t.TxnID, state: t.State, epoch: -1}
		ids = append(ids, t.TxnID)
	})
	if len(ids) > 0 {
		dt, err := adm.DescribeTransactions(ctx, ids...)
		if err != nil {
			return nil, nil, err
		}
		var derr error
		dt.Each(func(d kadm.DescribedTransaction) {
			if d.Err != nil {
				derr = fmt.Errorf("describe transaction %s: %w", d.TxnID, d.Err)
				return
			}
			coord[d.ProducerID] = coordTxn{id: d.TxnID, state: d.State, epoch: d.ProducerEpoch, parts: d.Topics}
		})
		if derr != nil {
			return nil, nil, derr
		}
	}
	return open, coord, nil
}
