package gen

import (
	"encoding/binary"
	"math"
)

// Kinds of malformed records, as found in Record.Malformed.
const (
	// MalformedBadMagic: the first byte is 1 instead of the magic byte 0; the
	// rest is a well-formed record.
	MalformedBadMagic = "bad_magic"
	// MalformedTruncated: correct framing, the Avro body cut short (possibly to
	// nothing).
	MalformedTruncated = "truncated"
	// MalformedUnknownSchema: correct framing and body, schema id
	// UnknownSchemaID.
	MalformedUnknownSchema = "unknown_schema"
	// MalformedGarbage: random bytes (0-64 of them; a quarter are empty) that
	// never frame Config.SchemaID.
	MalformedGarbage = "garbage"
)

// MalformedKinds returns the kinds of malformed records.
func MalformedKinds() []string {
	return []string{MalformedBadMagic, MalformedTruncated, MalformedUnknownSchema, MalformedGarbage}
}

// UnknownSchemaID is the schema id of MalformedUnknownSchema records, chosen
// so that no registry has it.
const UnknownSchemaID = 2147483000

// Record is one Kafka record: Key is the card id, Value the Confluent wire
// format (magic byte 0, 4-byte big-endian schema id, Avro binary) unless
// Malformed names how it was broken. Event is what the record carries (or
// would have carried). Key and Value share one allocation that the caller owns.
type Record struct {
	Key, Value []byte
	Event      Event
	Malformed  string // "" for a well-formed record
}

// NextRecord returns the next event encoded as a record with Config.SchemaID
// and the schema of Config.SchemaVersion; a share Config.MalformedRate of
// them deliberately malformed.
func (g *Generator) NextRecord() Record {
	ev := g.Next()
	kind := ""
	if g.cfg.MalformedRate > 0 && g.mrng.Float64() < g.cfg.MalformedRate {
		kind = MalformedKinds()[g.mrng.IntN(4)]
	}

	// One allocation for key and value: strings plus at most 10 bytes per
	// varint (at most 17 of them), 8 for the double, 5 for the framing.
	size := len(ev.CardID) + 5 + len(ev.EventID) + len(ev.CardID) + len(ev.Currency) +
		len(ev.MerchantID) + len(ev.MerchantCategory) + len(ev.MerchantCountry) + 8 + 17*10
	if ev.Channel != nil {
		size += len(*ev.Channel)
	}
	if g.cfg.SchemaVersion == 2 {
		size += 64 // risk flags
	}
	if kind == MalformedGarbage {
		size = max(size, len(ev.CardID)+64)
	}
	buf := make([]byte, len(ev.CardID), size)
	copy(buf, ev.CardID)
	key := buf[:len(ev.CardID):len(ev.CardID)]
	val := buf[len(ev.CardID):len(ev.CardID)]

	id := g.cfg.SchemaID
	if kind == MalformedUnknownSchema {
		id = UnknownSchemaID
	}
	switch kind {
	case MalformedGarbage:
		val = g.garbage(val)
	default:
		val = AppendFrame(val, id)
		if g.cfg.SchemaVersion == 2 {
			val = ev.AppendAvroV2(val)
		} else {
			val = ev.AppendAvro(val)
		}
		switch kind {
		case MalformedBadMagic:
			val[0] = 1
		case MalformedTruncated:
			body := len(val) - 5
			val = val[:5+g.mrng.IntN(body)]
		}
	}
	return Record{Key: key, Value: val[:len(val):len(val)], Event: ev, Malformed: kind}
}

func (g *Generator) garbage(dst []byte) []byte {
	if g.mrng.IntN(4) == 0 {
		return dst
	}
	n := 1 + g.mrng.IntN(64)
	for range n {
		dst = append(dst, byte(g.mrng.Uint32()))
	}
	// Never a well-formed frame of our schema: a decoder must see garbage.
	if len(dst) >= 5 && dst[0] == 0 && binary.BigEndian.Uint32(dst[1:5]) == uint32(g.cfg.SchemaID) {
		dst[0] = 0xff
	}
	return dst
}

// AppendFrame appends the Confluent wire-format header: magic byte 0 and the
// 4-byte big-endian schema id.
func AppendFrame(dst []byte, schemaID int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, 0), uint32(schemaID))
}

// AppendAvro appends the event's Avro binary encoding under Schema.
func (e Event) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, e.EventID)
	dst = appendString(dst, e.CardID)
	dst = appendLong(dst, e.EventTime.UnixMilli())
	dst = appendDouble(dst, e.Amount)
	dst = appendString(dst, e.Currency)
	dst = appendString(dst, e.MerchantID)
	dst = appendString(dst, e.MerchantCategory)
	dst = appendString(dst, e.MerchantCountry)
	dst = e.appendChannel(dst)
	return e.appendDeviceAge(dst)
}

// AppendAvroV2 appends the event's Avro binary encoding under SchemaV2.
func (e Event) AppendAvroV2(dst []byte) []byte {
	dst = appendString(dst, e.CardID)
	dst = appendString(dst, e.EventID)
	dst = appendString(dst, e.MerchantID)
	dst = appendString(dst, e.MerchantCategory)
	dst = appendString(dst, e.MerchantCountry)
	dst = appendDouble(dst, e.Amount)
	dst = appendLong(dst, e.EventTime.UnixMilli())
	var buf [4]string
	flags := e.appendRiskFlags(buf[:0])
	if len(flags) > 0 {
		dst = appendLong(dst, int64(len(flags))) // one block
		for _, f := range flags {
			dst = appendString(dst, f)
		}
	}
	dst = appendLong(dst, 0) // end of array
	dst = e.appendDeviceAge(dst)
	return e.appendChannel(dst)
}

// Unions are ["null", T]: branch 0 is null, branch 1 the value.
func (e Event) appendChannel(dst []byte) []byte {
	if e.Channel == nil {
		return appendLong(dst, 0)
	}
	return appendString(appendLong(dst, 1), *e.Channel)
}

func (e Event) appendDeviceAge(dst []byte) []byte {
	if e.DeviceAgeDays == nil {
		return appendLong(dst, 0)
	}
	return appendLong(appendLong(dst, 1), int64(*e.DeviceAgeDays))
}

// appendLong appends an Avro int or long: zigzag, then varint.
func appendLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func appendString(dst []byte, s string) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}

func appendDouble(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}
