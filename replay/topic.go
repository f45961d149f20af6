package replay

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/sink"
)

// TopicWriter produces a replay's predictions to a Kafka topic, one record per
// event per model in the live predictions' format (sink.PredictionSchema, the
// provenance and model headers), inside transactions: a consumer reading
// read_committed sees either a whole batch or nothing of it, and a replay that
// fails leaves only aborted records behind.
type TopicWriter struct {
	cl       *kgo.Client
	topic    string
	schemaID int
	models   []ModelID
	labels   [][]byte // scorestream.model header values
	features []string // nil: no feature vector
	batch    int
	n        int // records in the open transaction
	now      func() time.Time
	ctx      context.Context // the run's, for Write (called through Sink)
	closed   bool

	mu  sync.Mutex
	err error // the first failed produce
}

// TopicConfig configures a TopicWriter.
type TopicConfig struct {
	Conn            []kgo.Opt
	Topic           string
	TransactionalID string // unique to this run
	SchemaID        int    // registry id of sink.PredictionSchema under Topic's subject
	Models          []ModelID
	Features        []string // feature names to log in each prediction; nil none
	Batch           int      // records per transaction; default 10000
}

// NewTopicWriter connects a transactional producer and opens the first
// transaction. ctx bounds every produce, flush and commit of the writer.
func NewTopicWriter(ctx context.Context, c TopicConfig) (*TopicWriter, error) {
	if c.Batch <= 0 {
		c.Batch = 10000
	}
	opts := append([]kgo.Opt{kgo.TransactionalID(c.TransactionalID), kgo.DefaultProduceTopic(c.Topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil))}, c.Conn...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("--to-topic: %w", err)
	}
	w := &TopicWriter{cl: cl, topic: c.Topic, schemaID: c.SchemaID, models: c.Models, features: c.Features, batch: c.Batch, now: time.Now, ctx: ctx}
	for _, m := range c.Models {
		h := m.Hash
		if len(h) > 12 {
			h = h[:12]
		}
		w.labels = append(w.labels, []byte(m.Name+"/"+m.Version+"/"+h))
	}
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("--to-topic: begin transaction: %w", err)
	}
	return w, nil
}

// Write produces ev's predictions (none for a model that failed on it),
// committing the transaction every Batch records.
func (w *TopicWriter) Write(ev *Event) error {
	ctx := w.ctx
	src := sink.Source{Topic: ev.Topic, Partition: ev.Partition, Offset: ev.Offset}
	now := w.now().UnixMilli()
	for k, m := range w.models {
		if math.IsNaN(ev.Scores[k]) {
			continue
		}
		p := sink.Prediction{EventID: ev.EventID, EntityKey: ev.Key, Score: ev.Scores[k], Decision: ev.Decisions[k],
			ModelName: m.Name, ModelVersion: m.Version, ModelHash: m.Hash, EventTime: ev.Time, ScoringTime: now, Source: src}
		if w.features != nil {
			p.FeatureNames, p.Features = w.features, ev.Features
		}
		hs := sink.AppendProvenance(make([]kgo.RecordHeader, 0, 4), src)
		w.cl.Produce(ctx, &kgo.Record{Key: ev.Key, Value: sink.AppendPrediction(nil, w.schemaID, &p),
			Headers: append(hs, kgo.RecordHeader{Key: sink.HeaderModel, Value: w.labels[k]})}, w.promise)
		w.n++
	}
	if w.n >= w.batch {
		return w.commit(ctx, true)
	}
	return w.failed()
}

func (w *TopicWriter) promise(_ *kgo.Record, err error) {
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
}

func (w *TopicWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return fmt.Errorf("--to-topic %s: produce: %w", w.topic, w.err)
	}
	return nil
}

// commit flushes and commits the open transaction, and opens the next one when
// again is set.
func (w *TopicWriter) commit(ctx context.Context, again bool) error {
	if err := w.cl.Flush(ctx); err != nil {
		return fmt.Errorf("--to-topic %s: flush: %w", w.topic, err)
	}
	if err := w.failed(); err != nil {
		return err
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("--to-topic %s: commit: %w", w.topic, err)
	}
	w.n = 0
	if again {
		if err := w.cl.BeginTransaction(); err != nil {
			return fmt.Errorf("--to-topic %s: begin transaction: %w", w.topic, err)
		}
	}
	return nil
}

// Close commits what is open and closes the producer.
func (w *TopicWriter) Close(ctx context.Context) error {
	if err := w.commit(ctx, false); err != nil {
		return err // Abort cleans up
	}
	w.closed = true
	w.cl.Close()
	return nil
}

// Abort aborts the open transaction and closes the producer; after Close it
// does nothing.
func (w *TopicWriter) Abort(ctx context.Context) {
	if w.closed {
		return
	}
	w.closed = true
	_ = w.cl.AbortBufferedRecords(ctx)
	_ = w.cl.EndTransaction(ctx, kgo.TryAbort)
	w.cl.Close()
}
