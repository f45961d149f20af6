package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/audit"
)

// visibility measures what a downstream reader sees: for every output record,
// the time from the produce of its input (the input record's timestamp, which
// the producing client sets as it produces) to a read_committed consumer
// receiving the output. It reads the input and the outputs from their end
// offsets at the start, so only records produced after it started count.
type visibility struct {
	cl     *kgo.Client
	input  string
	cancel context.CancelFunc
	done   chan struct{}
	more   chan struct{} // signalled after each poll that matched outputs

	mu      sync.Mutex
	sent    map[src]time.Time // input record -> its timestamp
	seen    map[src]time.Time // output whose input was not read yet -> when it was read
	lat     []time.Duration
	badProv int // outputs without provenance (not counted)
}

type src struct {
	partition int32
	offset    int64
}

// watchVisibility starts reading input and outputs from their current ends.
func watchVisibility(ctx context.Context, adm *kadm.Client, brokers []string, input string, outputs ...string) (*visibility, error) {
	topics := append([]string{input}, outputs...)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("visibility: end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("visibility: end offsets: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if from[o.Topic] == nil {
			from[o.Topic] = map[int32]kgo.Offset{}
		}
		from[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(from),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	v := &visibility{cl: cl, input: input, cancel: cancel, done: make(chan struct{}), more: make(chan struct{}, 1),
		sent: map[src]time.Time{}, seen: map[src]time.Time{}}
	go v.run(rctx)
	return v, nil
}

func (v *visibility) run(ctx context.Context) {
	defer close(v.done)
	for {
		fs := v.cl.PollFetches(ctx)
		now := time.Now()
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		v.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == v.input {
				k := src{r.Partition, r.Offset}
				if at, ok := v.seen[k]; ok {
					v.lat = append(v.lat, at.Sub(r.Timestamp))
					delete(v.seen, k)
				} else {
					v.sent[k] = r.Timestamp
				}
				return
			}
			_, p, off, err := audit.Provenance(r.Headers)
			if err != nil {
				v.badProv++
				return
			}
			k := src{p, off}
			if ts, ok := v.sent[k]; ok {
				v.lat = append(v.lat, now.Sub(ts))
				delete(v.sent, k)
			} else {
				v.seen[k] = now
			}
		})
		v.mu.Unlock()
		select {
		case v.more <- struct{}{}:
		default:
		}
	}
}

// wait returns once n outputs are matched, or after timeout.
func (v *visibility) wait(n int, timeout time.Duration) {
	deadline := time.After(timeout)
	for v.count() < n {
		select {
		case <-v.more:
		case <-deadline:
			return
		}
	}
}

// count is how many outputs were matched with their input so far.
func (v *visibility) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.lat)
}

// stop ends the reading and returns the latencies seen, sorted.
func (v *visibility) stop() []time.Duration {
	v.cancel()
	<-v.done
	v.cl.Close()
	slices.Sort(v.lat)
	return v.lat
}

// percentile of sorted d (nearest rank), in ms.
func percentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := min(len(d)-1, max(0, int(q*float64(len(d))+0.5)-1))
	return float64(d[i]) / float64(time.Millisecond)
}
