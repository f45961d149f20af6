package sink

import (
	"math"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

func TestPredictionRoundTrip(t *testing.T) {
	codec, err := goavro.NewCodec(PredictionSchema)
	if err != nil {
		t.Fatal(err)
	}
	p := &Prediction{EventID: "e1", EntityKey: []byte("card-1"), Score: 0.25, Decision: "allow",
		ModelName: "fraud", ModelVersion: "3", ModelHash: "abc", EventTime: 1700000000123, ScoringTime: 1700000000999,
		Source:       Source{Topic: "payments", Partition: 7, Offset: 1 << 40},
		FeatureNames: []string{"a", "b"}, Features: []float64{1.5, math.NaN()}}
	b := AppendPrediction(nil, 42, p)
	if b[0] != 0 || b[4] != 42 {
		t.Fatalf("framing %x", b[:5])
	}
	native, rest, err := codec.NativeFromBinary(b[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode: %v, %d bytes left", err, len(rest))
	}
	m := native.(map[string]any)
	if m["source_offset"] != int64(1<<40) || m["source_partition"] != int32(7) || m["score"] != 0.25 || m["entity_key"] != "card-1" {
		t.Fatalf("decoded %v", m)
	}
	f := m["features"].(map[string]any)["map"].(map[string]any)
	if f["a"].(map[string]any)["double"] != 1.5 || f["b"] != nil {
		t.Fatalf("features %v: want a=1.5 and b null (missing)", f)
	}
}

// TestPredictionClassScores: class_scores is null without them (with and
// without features), an array of every class with them; and without them the
// encoding is exactly the previous schema's (the field is last) plus the null
// branch byte.
func TestPredictionClassScores(t *testing.T) {
	codec, err := goavro.NewCodec(PredictionSchema)
	if err != nil {
		t.Fatal(err)
	}
	base := Prediction{EventID: "e1", EntityKey: []byte("k"), Score: 0.5, Decision: "allow", Source: Source{Topic: "t"}}
	for _, tc := range []struct {
		name     string
		features bool
		classes  []float64
	}{{"none", false, nil}, {"none with features", true, nil}, {"three", false, []float64{0.2, 0.5, 0.3}}, {"three with features", true, []float64{0.1, 0.1, 0.8}}} {
		p := base
		if tc.features {
			p.FeatureNames, p.Features = []string{"a"}, []float64{2}
		}
		p.ClassScores = tc.classes
		native, rest, err := codec.NativeFromBinary(AppendPrediction(nil, 1, &p)[5:])
		if err != nil || len(rest) != 0 {
			t.Fatalf("%s: decode: %v, %d bytes left", tc.name, err, len(rest))
		}
		got := native.(map[string]any)["class_scores"]
		if tc.classes == nil {
			if got != nil {
				t.Fatalf("%s: class_scores %v, want null", tc.name, got)
			}
			continue
		}
		arr, _ := got.(map[string]any)["array"].([]any)
		if len(arr) != len(tc.classes) {
			t.Fatalf("%s: class_scores %v, want %v", tc.name, got, tc.classes)
		}
		for i, v := range arr {
			if v != tc.classes[i] {
				t.Fatalf("%s: class_scores %v, want %v", tc.name, got, tc.classes)
			}
		}
	}

	// The previous schema (without class_scores) reads the bytes before it.
	old := strings.Replace(PredictionSchema, `,
    {"name": "class_scores", "type": ["null", {"type": "array", "items": "double"}], "default": null,
     "doc": "a multiclass model's probability of every class, by class index (score is the one of model.class); null for other models"}`, "", 1)
	if old == PredictionSchema {
		t.Fatal("could not cut class_scores out of the schema")
	}
	oldCodec, err := goavro.NewCodec(old)
	if err != nil {
		t.Fatal(err)
	}
	p := base
	written := AppendPrediction(nil, 1, &p)
	oldBytes := written[5 : len(written)-1] // the old writer had no class_scores union byte
	if _, _, err := oldCodec.NativeFromBinary(oldBytes); err != nil {
		t.Fatalf("old schema: %v", err)
	}
}

// BenchmarkEncode: one prediction with feature logging off and on.
//
//	go test ./sink -run '^$' -bench . -benchmem
func BenchmarkEncode(b *testing.B) {
	names := []string{"amount", "log_amount", "hour", "channel_idx", "device_age_days", "count_10m", "count_1h", "sum_1h", "sum_24h", "mean_24h", "merchants_24h", "secs_since_last"}
	vals := make([]float64, len(names))
	for _, logging := range []bool{false, true} {
		p := &Prediction{EventID: "0b6f9e9c-1f7e-4bb3-a1a4-3f0c2a9c9e11", EntityKey: []byte("card-000123"), Score: 0.01,
			Decision: "allow", ModelName: "fraud", ModelVersion: "1", ModelHash: "4651b693e19c4651b693e19c4651b693e19c4651b693e19c4651b693e19c1234",
			EventTime: 1767225600000, ScoringTime: 1767225600100, Source: Source{Topic: "payments", Partition: 3, Offset: 123456}}
		name := "plain"
		if logging {
			p.FeatureNames, p.Features, name = names, vals, "feature-logging"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			for i := 0; i < b.N; i++ {
				buf = AppendPrediction(buf[:0], 1, p)
			}
		})
	}
}
