package gen

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"time"
)

// LabelSchema is the Avro writer schema of a fraud label, record
// scorestream.demo.Label: what a chargeback feed or an analyst's decision says
// of one scored event, later. Register it under "<labels topic>-value".
const LabelSchema = `{
  "type": "record",
  "name": "Label",
  "namespace": "scorestream.demo",
  "doc": "The ground truth for one payment, known at label_time.",
  "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "label", "type": "boolean", "doc": "true: fraud"},
    {"name": "label_time", "type": {"type": "long", "logicalType": "timestamp-millis"}}
  ]
}`

// IsFraud is the ground truth of a generated event: the one definition of "is
// this event fraud" that every writer of labels uses.
func IsFraud(ev Event) bool { return ev.Fraud }

// LabelDelay is how long after the event its label is known: a fraud's
// chargeback 1 hour to 15 days later, a genuine payment's confirmation 1 to 8
// days later (log-uniform). It is a function of the event id only, so that it
// does not disturb the event stream of a seed.
func LabelDelay(ev Event) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(ev.EventID))
	u := float64(h.Sum64()>>11) / (1 << 53) // [0, 1)
	lo, hi := 24*time.Hour, 8*24*time.Hour
	if IsFraud(ev) {
		lo, hi = time.Hour, 15*24*time.Hour
	}
	return time.Duration(float64(lo) * math.Pow(float64(hi)/float64(lo), u)).Round(time.Millisecond)
}

// AppendLabel appends the Confluent-framed LabelSchema record for ev (schema id
// schemaID), known LabelDelay(ev) after the event, to dst.
func AppendLabel(dst []byte, schemaID int, ev Event) []byte {
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(schemaID))
	dst = appendString(dst, ev.EventID)
	if IsFraud(ev) {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	return binary.AppendVarint(dst, ev.EventTime.Add(LabelDelay(ev)).UnixMilli())
}
