package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/gen"
)

// genLabels writes, with gen --labels-topic, the ground truth of every
// well-formed event as a gen.LabelSchema record (event id, label, label time =
// event time + gen.LabelDelay) to the labels topic, for scorestream monitor.
// Labels are produced as the events are: their lateness is in label_time, so
// configure the monitor with monitor.label_time_field: label_time.
type genLabels struct {
	topic    string
	schemaID int
	acked    atomic.Int64
	promise  func(*kgo.Record, error)
}

// newGenLabels registers the label schema under "<topic>-value"; failures go
// to cnt like the events'.
func newGenLabels(ctx context.Context, rcl *sr.Client, topic string, cnt *genCounters) (*genLabels, error) {
	ss, err := rcl.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: gen.LabelSchema, Type: sr.TypeAvro})
	if err != nil {
		return nil, fmt.Errorf("register the label schema under %q: %w", topic+"-value", err)
	}
	l := &genLabels{topic: topic, schemaID: ss.ID}
	l.promise = func(_ *kgo.Record, err error) {
		if err == nil {
			l.acked.Add(1)
			return
		}
		cnt.failed.Add(1)
		cnt.firstErr.CompareAndSwap(nil, &err)
	}
	return l, nil
}

// add produces the label of r, unless r is malformed (never scored, so never labelled).
func (l *genLabels) add(ctx context.Context, cl *kgo.Client, r gen.Record) {
	if l == nil || r.Malformed != "" {
		return
	}
	cl.Produce(ctx, &kgo.Record{Topic: l.topic, Key: r.Key, Value: gen.AppendLabel(nil, l.schemaID, r.Event)}, l.promise)
}

// count is the labels acknowledged.
func (l *genLabels) count() int64 {
	if l == nil {
		return 0
	}
	return l.acked.Load()
}
