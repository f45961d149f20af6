package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/state/checkpoint"
)

// Checkpoints configures local state checkpoints (see package checkpoint). With
// Dir nil they are off and every assignment restores the whole changelog.
//
// A partition's checkpoint is written between transactions: after a commit
// when the last one is at least Interval old, when the partition is revoked or
// lost (its state then is the last committed one), and on graceful shutdown.
// A write stops the loop for as long as it takes (encode, write, fsync:
// scorestream_state_checkpoint_write_seconds), so Interval trades that time
// against the changelog tail the next restore reads.
type Checkpoints struct {
	Dir      *checkpoint.Dir
	Interval time.Duration
}

// ckptState is the loop's checkpoint bookkeeping, owned by Run except txnCl.
type ckptState struct {
	offset  map[int32]int64     // changelog offset each held partition's committed state reflects
	written map[int32]time.Time // last checkpoint write per partition
	topicID [16]byte            // the changelog's, as of the last restore

	txnMu sync.Mutex
	txnCl map[int32]int64 // open transaction: 1 + the highest changelog offset produced, per partition
}

func newCkptState() ckptState {
	return ckptState{offset: map[int32]int64{}, written: map[int32]time.Time{}, txnCl: map[int32]int64{}}
}

// changelogProduced notes a changelog record's offset (from its promise).
func (l *Loop) changelogProduced(r *kgo.Record) {
	l.ck.txnMu.Lock()
	l.ck.txnCl[r.Partition] = max(l.ck.txnCl[r.Partition], r.Offset+1)
	l.ck.txnMu.Unlock()
}

// committedChangelog moves the partitions' checkpoint offsets past the
// committed transaction's changelog records, then writes the checkpoints that
// are due. With commit false (the transaction aborted) it only forgets them.
func (l *Loop) committedChangelog(commit bool) {
	l.ck.txnMu.Lock()
	if commit {
		for p, off := range l.ck.txnCl {
			l.ck.offset[p] = off
		}
	}
	clear(l.ck.txnCl)
	l.ck.txnMu.Unlock()
	if !commit || l.cfg.Checkpoints.Dir == nil {
		return
	}
	now := time.Now()
	for p := range l.touched {
		if now.Sub(l.ck.written[p]) >= l.cfg.Checkpoints.Interval {
			l.writeCheckpoint(p, "interval")
		}
	}
}

// writeCheckpoint saves partition p's committed state. A failure is logged and
// counted, never fatal: the changelog still holds the state.
func (l *Loop) writeCheckpoint(p int32, why string) {
	st, ok := l.parts[p]
	off, known := l.ck.offset[p]
	if l.cfg.Checkpoints.Dir == nil || !ok || !known {
		return
	}
	start := time.Now()
	id := checkpoint.Identity{Topic: l.cfg.ChangelogTopic, TopicID: l.ck.topicID, Partition: p}
	n, err := l.cfg.Checkpoints.Dir.Write(id, off, st, start)
	l.ck.written[p] = start
	if err != nil {
		l.m.CheckpointErrors.Inc()
		l.log.Error("checkpoint write failed; the next restore of this partition reads more of the changelog", "partition", p, "err", err)
		return
	}
	l.m.CheckpointSeconds.Observe(time.Since(start).Seconds())
	l.m.CheckpointBytes.Add(float64(n))
	l.log.Debug("checkpoint written", "partition", p, "offset", off, "entities", st.Len(), "bytes", n, "why", why,
		"took", time.Since(start).Round(time.Microsecond))
}

// forget drops p's checkpoint bookkeeping (its state was dropped).
func (l *Loop) forget(p int32) {
	delete(l.ck.offset, p)
	delete(l.ck.written, p)
}

// pickCheckpoint returns the restore's pick function for the loop: refusals
// are counted by reason and logged.
func (l *Loop) pickCheckpoint(ctx context.Context, admin *kgo.Client) func(p int32, logStart, end int64) (*checkpoint.Checkpoint, string) {
	if l.cfg.Checkpoints.Dir == nil {
		return nil
	}
	pick, id, idErr := checkpointPicker(ctx, admin, l.cfg.ChangelogTopic, l.cfg.Checkpoints.Dir, l.cfg.State,
		func(p int32, reason string, err error) {
			l.m.CheckpointRefused.WithLabelValues(reason).Inc()
			l.log.Warn("checkpoint refused: restoring the whole changelog", "partition", p, "reason", reason, "err", err)
		},
		func(p int32, cp *checkpoint.Checkpoint) {
			if cp.Corrupt > 0 {
				l.m.CorruptState.Add(float64(cp.Corrupt))
				l.log.Error("checkpoint entities that did not decode start empty", "partition", p, "entities", cp.Corrupt)
			}
		})
	if idErr != nil {
		l.log.Warn("changelog topic id unknown: checkpoints are matched by topic name and partition only", "err", idErr)
	}
	l.ck.topicID = id
	return pick
}

// RestoreFromCheckpoints is Restore starting every partition from its
// checkpoint in dir where one is usable (corrupt, foreign or stale ones are
// refused: a full restore). The loop restores this way; tests compare its
// result with a fault-free pass.
func RestoreFromCheckpoints(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, ps []int32, cfg state.Config, dir *checkpoint.Dir) (map[int32]*Restored, error) {
	pick, _, _ := checkpointPicker(ctx, admin, topic, dir, cfg, func(int32, string, error) {}, func(int32, *checkpoint.Checkpoint) {})
	return restore(ctx, conn, admin, topic, ps, cfg, nil, pick, func() {})
}

// checkpointPicker looks the changelog's topic id and delete.retention.ms up
// and returns a pick function that loads each partition's checkpoint from dir,
// refusing (refused is called with the reason: corrupt, foreign, stale) one that
// must not be used. idErr says why the topic id is unknown (then checkpoints are
// matched by topic name and partition).
func checkpointPicker(ctx context.Context, admin *kgo.Client, topic string, dir *checkpoint.Dir, cfg state.Config,
	refused func(p int32, reason string, err error), loaded func(p int32, cp *checkpoint.Checkpoint),
) (pick func(p int32, logStart, end int64) (*checkpoint.Checkpoint, string), id [16]byte, idErr error) {
	adm := kadm.NewClient(admin)
	if td, err := adm.ListTopics(ctx, topic); err != nil {
		idErr = err
	} else if d, ok := td[topic]; ok && d.Err == nil {
		id = d.ID
	} else {
		idErr = fmt.Errorf("topic %q not in metadata", topic)
	}
	maxAge := changelogDeleteRetention(ctx, adm, topic)
	return func(p int32, logStart, end int64) (*checkpoint.Checkpoint, string) {
		cp, err := dir.Load(checkpoint.Identity{Topic: topic, TopicID: id, Partition: p}, cfg)
		reason := ""
		switch {
		case errors.Is(err, checkpoint.ErrMissing):
			return nil, ""
		case errors.Is(err, checkpoint.ErrForeign):
			reason = "foreign"
		case err != nil:
			reason = "corrupt"
		default:
			if why := cp.Stale(logStart, end, maxAge, time.Now()); why != "" {
				err, reason = errors.New(why), "stale"
			}
		}
		if reason != "" {
			refused(p, reason, err)
			return nil, reason
		}
		loaded(p, cp)
		return cp, ""
	}, id, idErr
}

// changelogDeleteRetention is the changelog's delete.retention.ms: how long
// compaction keeps tombstones, and so the age past which a checkpoint may miss
// one. When it cannot be read, the value topics are created with.
func changelogDeleteRetention(ctx context.Context, adm *kadm.Client, topic string) time.Duration {
	def, _ := strconv.ParseInt(changelogTopicConfig["delete.retention.ms"], 10, 64)
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return time.Duration(def) * time.Millisecond
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return time.Duration(def) * time.Millisecond
	}
	for _, c := range rc.Configs {
		if c.Key == "delete.retention.ms" && c.Value != nil {
			if v, err := strconv.ParseInt(*c.Value, 10, 64); err == nil {
				return time.Duration(v) * time.Millisecond
			}
		}
	}
	return time.Duration(def) * time.Millisecond
}

// restoreSummary updates the restore metrics for one restore.
func (l *Loop) restoreSummary(rs map[int32]*Restored) (fromCheckpoint, tail, full int) {
	for _, r := range rs {
		if r.From != nil {
			fromCheckpoint++
			tail += r.Records
			l.m.Restores.WithLabelValues("checkpoint").Inc()
			l.m.TailRecords.Add(float64(r.Records))
		} else {
			full += r.Records
			l.m.Restores.WithLabelValues("full").Inc()
		}
	}
	return fromCheckpoint, tail, full
}
