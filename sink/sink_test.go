package sink

import (
	"math"
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
