// Package sink encodes what scorestream writes: predictions (Avro, registered
// schema, Confluent framing) and dead letters (the original record untouched plus
// provenance and error headers).
package sink

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// PredictionSchema is the Avro schema of a prediction, registered under the
// predictions topic's subject ("<topic>-value") at startup.
//
// Every field is a deterministic function of the input record and the model except
// scoring_time, the wall-clock time the record was scored.
const PredictionSchema = `{
  "type": "record",
  "name": "Prediction",
  "namespace": "scorestream",
  "doc": "One model score for one input event.",
  "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "entity_key", "type": "string", "doc": "the input record key"},
    {"name": "score", "type": "double"},
    {"name": "decision", "type": "string", "doc": "from the configured thresholds"},
    {"name": "model_name", "type": "string"},
    {"name": "model_version", "type": "string"},
    {"name": "model_hash", "type": "string", "doc": "sha256 of the model file"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "scoring_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "source_topic", "type": "string"},
    {"name": "source_partition", "type": "int"},
    {"name": "source_offset", "type": "long"},
    {"name": "features", "type": ["null", {"type": "map", "values": ["null", "double"]}], "default": null,
     "doc": "the features of the event (feature logging) before defaults: null was missing, and the model got the feature's configured default for it (a missing value if none)"},
    {"name": "class_scores", "type": ["null", {"type": "array", "items": "double"}], "default": null,
     "doc": "a multiclass model's probability of every class, by class index (score is the one of model.class); null for other models"}
  ]
}`

// Source is the input record a result is for.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Prediction is one scored event.
type Prediction struct {
	EventID      string
	EntityKey    []byte
	Score        float64
	Decision     string
	ModelName    string
	ModelVersion string
	ModelHash    string
	EventTime    int64 // Unix ms
	ScoringTime  int64 // Unix ms
	Source       Source
	// FeatureNames and Features are written only when both are set. Features
	// are the values before the spec's defaults: NaN (missing) is written as null.
	FeatureNames []string
	Features     []float64
	// ClassScores, a multiclass model's probability per class; nil writes null.
	ClassScores []float64
}

// AppendPrediction appends the Confluent-framed Avro encoding of p (schema
// PredictionSchema registered as schemaID) to b.
func AppendPrediction(b []byte, schemaID int, p *Prediction) []byte {
	size := 80 + len(p.EventID) + len(p.EntityKey) + len(p.Decision) + len(p.ModelName) +
		len(p.ModelVersion) + len(p.ModelHash) + len(p.Source.Topic)
	for _, n := range p.FeatureNames {
		size += len(n) + 12
	}
	size += 8*len(p.ClassScores) + 4
	b = slices.Grow(b, size)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(schemaID))
	b = appendString(b, p.EventID)
	b = appendBytes(b, p.EntityKey)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Score))
	b = appendString(b, p.Decision)
	b = appendString(b, p.ModelName)
	b = appendString(b, p.ModelVersion)
	b = appendString(b, p.ModelHash)
	b = binary.AppendVarint(b, p.EventTime)
	b = binary.AppendVarint(b, p.ScoringTime)
	b = appendString(b, p.Source.Topic)
	b = binary.AppendVarint(b, int64(p.Source.Partition))
	b = binary.AppendVarint(b, p.Source.Offset)
	if len(p.FeatureNames) == 0 || len(p.Features) != len(p.FeatureNames) {
		return appendClassScores(binary.AppendVarint(b, 0), p.ClassScores) // features: union branch null
	}
	b = binary.AppendVarint(b, 1) // union branch map
	b = binary.AppendVarint(b, int64(len(p.Features)))
	for i, name := range p.FeatureNames {
		b = appendString(b, name)
		if math.IsNaN(p.Features[i]) {
			b = binary.AppendVarint(b, 0)
			continue
		}
		b = binary.AppendVarint(b, 1)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Features[i]))
	}
	return appendClassScores(binary.AppendVarint(b, 0), p.ClassScores) // end of map blocks
}

// appendClassScores appends the class_scores union: null, or one array block.
func appendClassScores(b []byte, cs []float64) []byte {
	if len(cs) == 0 {
		return binary.AppendVarint(b, 0) // union branch null
	}
	b = binary.AppendVarint(b, 1) // union branch array
	b = binary.AppendVarint(b, int64(len(cs)))
	for _, v := range cs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return binary.AppendVarint(b, 0) // end of array blocks
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendVarint(b, int64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendVarint(b, int64(len(s)))
	return append(b, s...)
}

// AppendProvenance appends the provenance headers for src.
func AppendProvenance(hs []kgo.RecordHeader, src Source) []kgo.RecordHeader {
	hs, _ = AppendProvenanceTo(hs, make([]byte, 0, len(src.Topic)+32), src)
	return hs
}

// AppendProvenanceTo appends the provenance headers for src, their values
// appended to buf (each header gets a capped slice of it), and returns both: a
// caller building many records can share one buffer among them.
func AppendProvenanceTo(hs []kgo.RecordHeader, buf []byte, src Source) ([]kgo.RecordHeader, []byte) {
	s := len(buf)
	buf = append(buf, src.Topic...)
	t := len(buf)
	buf = strconv.AppendInt(buf, int64(src.Partition), 10)
	p := len(buf)
	buf = strconv.AppendInt(buf, src.Offset, 10)
	return append(hs,
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: buf[s:t:t]},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: buf[t:p:p]},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: buf[p:len(buf):len(buf)]},
	), buf
}

// DeadLetter returns the dead-letter record for in: key, value and headers
// unchanged, plus provenance and error headers. The error message is cut at 1 KiB.
func DeadLetter(topic string, in *kgo.Record, class, msg string) *kgo.Record {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	hs := make([]kgo.RecordHeader, 0, len(in.Headers)+5)
	hs = append(hs, in.Headers...)
	hs = AppendProvenance(hs, Source{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset})
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderErrorClass, Value: []byte(class)},
		kgo.RecordHeader{Key: HeaderErrorMessage, Value: []byte(msg)},
	)
	return &kgo.Record{Topic: topic, Key: in.Key, Value: in.Value, Headers: hs}
}
