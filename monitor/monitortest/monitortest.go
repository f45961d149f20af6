// Package monitortest produces a deterministic stream of predictions, shadow
// predictions and labels (with planted bad input) for the monitor's tests: the
// kfake test in package monitor and the real-broker restart test in
// integration/. Not for production use.
package monitortest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/sink"
)

// Topics names where Produce writes.
type Topics struct {
	Predictions, Shadow, Labels string
}

// Summary is what Produce wrote.
type Summary struct {
	Records   int // records written to the three topics
	Labelled  int // events with a well-formed label
	Malformed int // malformed label records: BadMagic + WrongType
	BadMagic  int // dead-letter class bad_magic
	WrongType int // dead-letter class label (a label field of the wrong type)
	Unknown   int // labels naming an event id that has no prediction
}

// Add adds o to s.
func (s *Summary) Add(o Summary) {
	s.Records += o.Records
	s.Labelled += o.Labelled
	s.Malformed += o.Malformed
	s.BadMagic += o.BadMagic
	s.WrongType += o.WrongType
	s.Unknown += o.Unknown
}

// Produce writes events [from, to) of the stream of seed: for each a champion
// prediction (model fraud version 1) and a challenger one (fraud 2), scored to
// separate the generator's planted fraud imperfectly; then their labels
// (gen.AppendLabel) except for every 50th event; every 100th event also gets a
// label for an event id that was never predicted; every 37th label is malformed
// (bad magic byte, or — every 74th — a label of the wrong type). The schemas are
// registered at registryURL.
func Produce(ctx context.Context, cl *kgo.Client, registryURL string, seed int64, from, to int, t Topics) (Summary, error) {
	var sum Summary
	rcl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return sum, err
	}
	predID, err := register(ctx, rcl, t.Predictions+"-value", sink.PredictionSchema)
	if err != nil {
		return sum, err
	}
	shadowID, err := register(ctx, rcl, t.Shadow+"-value", sink.PredictionSchema)
	if err != nil {
		return sum, err
	}
	labelID, err := register(ctx, rcl, t.Labels+"-value", gen.LabelSchema)
	if err != nil {
		return sum, err
	}
	wrongID, err := register(ctx, rcl, t.Labels+"-wrong-value", `{"type":"record","name":"Label","fields":[
		{"name":"event_id","type":"string"},{"name":"label","type":"string"},{"name":"label_time","type":"long"}]}`)
	if err != nil {
		return sum, err
	}
	g, err := gen.New(gen.Config{Seed: seed, Cards: 200, FraudRate: 0.1})
	if err != nil {
		return sum, err
	}
	r := rand.New(rand.NewPCG(uint64(seed), 99))
	var recs []*kgo.Record
	var labels []*kgo.Record
	for i := range to {
		ev := g.Next()
		u, v := r.Float64(), r.Float64()
		if i < from {
			continue
		}
		score, shadow := 0.3*u, 0.4*v // genuine: low
		if gen.IsFraud(ev) {
			score, shadow = 0.2+0.8*u, 0.1+0.9*v
		}
		for _, p := range []struct {
			topic   string
			id      int
			s       float64
			version string
		}{{t.Predictions, predID, score, "1"}, {t.Shadow, shadowID, shadow, "2"}} {
			pr := &sink.Prediction{EventID: ev.EventID, EntityKey: []byte(ev.CardID), Score: p.s, Decision: "allow",
				ModelName: "fraud", ModelVersion: p.version, ModelHash: "test", EventTime: ev.EventTime.UnixMilli(),
				ScoringTime: ev.EventTime.UnixMilli(), Source: sink.Source{Topic: "payments", Offset: int64(i)}}
			recs = append(recs, &kgo.Record{Topic: p.topic, Key: []byte(ev.CardID), Value: sink.AppendPrediction(nil, p.id, pr)})
		}
		switch {
		case i%50 == 0:
			// never labelled
		case i%74 == 0:
			labels = append(labels, &kgo.Record{Topic: t.Labels, Value: wrongLabel(wrongID, ev.EventID)})
			sum.Malformed++
			sum.WrongType++
		case i%37 == 0:
			b := gen.AppendLabel(nil, labelID, ev)
			b[0] = 1
			labels = append(labels, &kgo.Record{Topic: t.Labels, Value: b})
			sum.Malformed++
			sum.BadMagic++
		default:
			labels = append(labels, &kgo.Record{Topic: t.Labels, Value: gen.AppendLabel(nil, labelID, ev)})
			sum.Labelled++
		}
		if i%100 == 1 {
			ghost := ev
			ghost.EventID = "ghost-" + strconv.Itoa(i)
			labels = append(labels, &kgo.Record{Topic: t.Labels, Value: gen.AppendLabel(nil, labelID, ghost)})
			sum.Unknown++
		}
	}
	recs = append(recs, labels...)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return sum, fmt.Errorf("produce: %w", err)
	}
	sum.Records = len(recs)
	return sum, nil
}

func register(ctx context.Context, cl *sr.Client, subject, schema string) (int, error) {
	s, err := cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("register %s: %w", subject, err)
	}
	return s.ID, nil
}

// wrongLabel is a well-framed label whose label field is a string.
func wrongLabel(id int, eventID string) []byte {
	b := []byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	b = appendString(b, eventID)
	b = appendString(b, "yes")
	return append(b, 2) // label_time 1
}

func appendString(b []byte, s string) []byte {
	n := uint64(len(s)) << 1 // zigzag of a non-negative length
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), s...)
}
