// Package kread reads fixed offset ranges of Kafka partitions with
// read_committed isolation and stops exactly at each range's end, even when the
// last offsets before it are transaction markers or aborted records. The audit
// reads input and output topics with it; the pipeline restores state from its
// changelog with it.
package kread

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Span is one partition to read, from Next up to (not including) End. Read
// moves Next forward.
type Span struct {
	Topic     string
	Partition int32
	Next, End int64
	stalls    int // consecutive responses that carried data but moved nothing
}

// Reader reads fixed offset ranges with read_committed isolation.
//
// It issues Fetch requests itself instead of using a kgo consumer, because a
// consumer only hands out records: when the last offsets before end are a
// transaction marker or aborted records, a consumer never shows anything at
// end-1 and a reader waiting for it cannot tell "done" from "not yet". Decoding
// a fetch response with kgo.ProcessFetchPartition returns the next offset to
// fetch, which moves past control records and aborted batches, so "next >= end"
// is an exact stop condition. The price is routing: requests go to each
// partition's leader, and leadership errors trigger a metadata refresh.
type Reader struct {
	cl     *kgo.Client
	adm    *kadm.Client
	dec    kgo.Decompressor
	limits Limits
}

// New returns a Reader that sends its requests through cl. A client that also
// consumes shares its fetch connections with the reader; give the reader one
// of its own.
func New(cl *kgo.Client, limits Limits) *Reader {
	return &Reader{cl: cl, adm: kadm.NewClient(cl), dec: kgo.DefaultDecompressor(), limits: limits}
}

// Limits size the Fetch requests. A broker returns at least one batch per
// partition whatever the limits, so tiny limits still make progress.
type Limits struct {
	MaxWait                time.Duration
	MaxBytes, PartMaxBytes int32
}

// DefaultLimits are the limits for most uses.
var DefaultLimits = Limits{MaxWait: 500 * time.Millisecond, MaxBytes: 32 << 20, PartMaxBytes: 1 << 20}

const (
	retryBackoff    = 250 * time.Millisecond
	maxStalls       = 20
	maxFailedRounds = 40 // ~10s of retryBackoff without any progress
)

// Read fetches every span to its end, calling onRecord for each committed data
// record (control records and aborted records are skipped) with offset below
// the span's end, and onAdvance with how many offsets were passed. Both are
// called from read's goroutine only.
func (rr *Reader) Read(ctx context.Context, spans []*Span, onRecord func(s *Span, r *kgo.Record), onAdvance func(n int64)) error {
	pending := make([]*Span, 0, len(spans))
	for _, s := range spans {
		if s.Next < s.End {
			pending = append(pending, s)
		}
	}
	var (
		leaders map[string]map[int32]int32 // topic → partition → leader
		ids     map[string][16]byte
		names   map[[16]byte]string
		refresh = true
		failed  int   // consecutive rounds with a request error and no progress
		lastErr error // the newest request error
	)
	for len(pending) > 0 {
		if refresh {
			var err error
			if leaders, ids, names, err = rr.metadata(ctx, pending); err != nil {
				return err
			}
			refresh = false
		}

		byLeader := make(map[int32][]*Span)
		for _, s := range pending {
			l, ok := leaders[s.Topic][s.Partition]
			if !ok || l < 0 {
				refresh = true
				continue
			}
			byLeader[l] = append(byLeader[l], s)
		}
		if refresh && len(byLeader) == 0 {
			if failed++; failed > maxFailedRounds {
				s := pending[0]
				return fmt.Errorf("%s/%d: no leader (was the topic deleted?)", s.Topic, s.Partition)
			}
			if err := sleep(ctx, retryBackoff); err != nil {
				return err
			}
			continue
		}

		brokers := make([]int32, 0, len(byLeader))
		for b := range byLeader {
			brokers = append(brokers, b)
		}
		sort.Slice(brokers, func(i, j int) bool { return brokers[i] < brokers[j] })

		resps := make([]*kmsg.FetchResponse, len(brokers))
		errs := make([]error, len(brokers))
		var wg sync.WaitGroup
		for i, b := range brokers {
			req := rr.limits.request(byLeader[b], ids)
			wg.Go(func() {
				kresp, err := rr.cl.Broker(int(b)).Request(ctx, req)
				if err != nil {
					errs[i] = err
					return
				}
				resps[i] = kresp.(*kmsg.FetchResponse)
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}

		progressed := false
		advance := func(n int64) {
			progressed = true
			onAdvance(n)
		}
		for i, b := range brokers {
			if errs[i] != nil {
				// A broker that cannot be reached may have lost leadership;
				// look again rather than fail an audit that can take hours.
				refresh = true
				lastErr = fmt.Errorf("fetch from broker %d: %w", b, errs[i])
				continue
			}
			if err := kerr.ErrorForCode(resps[i].ErrorCode); err != nil {
				if !kerr.IsRetriable(err) {
					return fmt.Errorf("fetch from broker %d: %w", b, err)
				}
				refresh = true
				continue
			}
			stale, err := rr.handle(resps[i], byLeader[b], names, onRecord, advance)
			if err != nil {
				return err
			}
			refresh = refresh || stale
		}

		switch {
		case progressed:
			failed = 0
		case lastErr != nil:
			if failed++; failed > maxFailedRounds {
				return lastErr
			}
		}
		lastErr = nil

		kept := pending[:0]
		for _, s := range pending {
			if s.Next < s.End {
				kept = append(kept, s)
			}
		}
		pending = kept
		if refresh && len(pending) > 0 {
			if err := sleep(ctx, retryBackoff); err != nil {
				return err
			}
		}
	}
	return nil
}

func (fl Limits) request(spans []*Span, ids map[string][16]byte) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = int32(fl.MaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = fl.MaxBytes
	req.IsolationLevel = 1 // read_committed
	req.SessionID = 0
	req.SessionEpoch = -1 // full fetch, no session
	idx := make(map[string]int)
	for _, s := range spans {
		i, ok := idx[s.Topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = s.Topic
			t.TopicID = ids[s.Topic]
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			idx[s.Topic] = i
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = s.Partition
		p.FetchOffset = s.Next
		p.PartitionMaxBytes = fl.PartMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	return req
}

// handle decodes one fetch response. It reports stale when some partition
// needs a metadata refresh before it can be fetched again.
func (rr *Reader) handle(resp *kmsg.FetchResponse, asked []*Span, names map[[16]byte]string, onRecord func(*Span, *kgo.Record), onAdvance func(int64)) (stale bool, err error) {
	find := make(map[string]map[int32]*Span)
	for _, s := range asked {
		if find[s.Topic] == nil {
			find[s.Topic] = make(map[int32]*Span)
		}
		find[s.Topic][s.Partition] = s
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		topic := rt.Topic
		if topic == "" {
			topic = names[rt.TopicID]
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			s := find[topic][rp.Partition]
			if s == nil || s.Next >= s.End {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				if errors.Is(err, kerr.OffsetOutOfRange) {
					return false, fmt.Errorf("fetch %s/%d at offset %d: %w (log start %d: did retention delete records during the audit?)",
						topic, rp.Partition, s.Next, err, rp.LogStartOffset)
				}
				if !kerr.IsRetriable(err) {
					return false, fmt.Errorf("fetch %s/%d at offset %d: %w", topic, rp.Partition, s.Next, err)
				}
				stale = true
				continue
			}
			fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
				Offset:         s.Next,
				IsolationLevel: kgo.ReadCommitted(),
				Topic:          topic,
				Partition:      rp.Partition,
			}, rp, rr.dec, nil)
			if fp.Err != nil {
				return false, fmt.Errorf("fetch %s/%d at offset %d: %w", topic, rp.Partition, s.Next, fp.Err)
			}
			for _, r := range fp.Records {
				if r.Offset >= s.End {
					break
				}
				onRecord(s, r)
			}
			if next <= s.Next {
				if len(rp.RecordBatches) > 0 {
					if s.stalls++; s.stalls > maxStalls {
						return false, fmt.Errorf("fetch %s/%d: no progress at offset %d after %d responses with data", topic, rp.Partition, s.Next, s.stalls)
					}
				}
				continue
			}
			s.stalls = 0
			moved := min(next, s.End) - s.Next
			s.Next = next
			onAdvance(moved)
		}
	}
	return stale, nil
}

// metadata looks up the leader and topic id of every pending partition.
func (rr *Reader) metadata(ctx context.Context, pending []*Span) (map[string]map[int32]int32, map[string][16]byte, map[[16]byte]string, error) {
	seen := make(map[string]bool)
	var topics []string
	for _, s := range pending {
		if !seen[s.Topic] {
			seen[s.Topic] = true
			topics = append(topics, s.Topic)
		}
	}
	tds, err := rr.adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("metadata: %w", err)
	}
	leaders := make(map[string]map[int32]int32)
	ids := make(map[string][16]byte)
	names := make(map[[16]byte]string)
	for _, t := range topics {
		td, ok := tds[t]
		if !ok || td.Err != nil {
			continue // retried after a backoff: leaderless until it shows up
		}
		ids[t] = [16]byte(td.ID)
		names[[16]byte(td.ID)] = t
		leaders[t] = make(map[int32]int32)
		for p, pd := range td.Partitions {
			if pd.Err != nil {
				leaders[t][p] = -1
				continue
			}
			leaders[t][p] = pd.Leader
		}
	}
	return leaders, ids, names, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
