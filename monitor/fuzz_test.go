package monitor

import (
	"context"
	"fmt"
	"testing"

	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream/decode"
)

// stubRegistry serves the label schema as id 1, the prediction schema as 2.
type stubRegistry struct{}

func (stubRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	switch id {
	case 1:
		return gen.LabelSchema, nil
	case 2:
		return sink.PredictionSchema, nil
	}
	return "", fmt.Errorf("schema %d: %w", id, decode.ErrSchemaNotFound)
}

// FuzzRecordValue: any label or prediction value decodes to a label, a
// prediction, or a refusal with a dead-letter class — never a panic.
//
//	go test ./monitor -run '^$' -fuzz FuzzRecordValue -fuzztime 30000x
func FuzzRecordValue(f *testing.F) {
	g, err := gen.New(gen.Config{Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	ev := g.Next()
	f.Add(gen.AppendLabel(nil, 1, ev))
	f.Add(sink.AppendPrediction(nil, 2, &sink.Prediction{EventID: ev.EventID, Score: 0.3, ModelName: "fraud", ModelVersion: "1"}))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{1, 2, 3})
	dec, err := decode.New(stubRegistry{}, decode.Config{})
	if err != nil {
		f.Fatal(err)
	}
	m := &Monitor{cfg: Config{EventIDField: "event_id", LabelField: "label", LabelTimeField: "label_time"}, dec: dec}
	f.Fuzz(func(t *testing.T, v []byte) {
		rec, _, err := dec.Decode(context.Background(), v)
		if err != nil {
			return
		}
		if _, err := m.labelOf(rec, 0); err == nil {
			return
		}
		_, _ = predictionOf(rec, RoleChampion)
	})
}
