package gen

// Schema is the Avro writer schema of a payment event, record
// scorestream.demo.Payment. Register it under "<topic>-value" and pass the id
// the registry returns in Config.SchemaID.
//
// event_time is a timestamp-millis long; goavro decodes it to a time.Time in
// UTC and encodes from a time.Time or any Go number of milliseconds.
const Schema = `{
  "type": "record",
  "name": "Payment",
  "namespace": "scorestream.demo",
  "doc": "A card payment, as produced by scorestream gen.",
  "fields": [
    {"name": "event_id", "type": "string"},
    {"name": "card_id", "type": "string"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "amount", "type": "double"},
    {"name": "currency", "type": "string"},
    {"name": "merchant", "type": {
      "type": "record",
      "name": "Merchant",
      "fields": [
        {"name": "id", "type": "string"},
        {"name": "category", "type": "string"},
        {"name": "country", "type": "string"}
      ]
    }},
    {"name": "channel", "type": ["null", "string"], "default": null},
    {"name": "device_age_days", "type": ["null", "int"], "default": null}
  ]
}`

// SchemaV2 is an evolved writer schema of the same record, for schema-evolution
// tests: the fields come in another order, currency is gone, and risk_flags (an
// array of strings, default []) is new. amount, channel and device_age_days keep
// their types. SchemaV2 is BACKWARD compatible with Schema (a SchemaV2 reader
// reads Schema data), so the registry accepts it as the next version of the same
// subject under the default compatibility level. A reader that still expects
// currency cannot read SchemaV2 data: a decoder must use the writer schema named
// by the record's schema id.
const SchemaV2 = `{
  "type": "record",
  "name": "Payment",
  "namespace": "scorestream.demo",
  "doc": "A card payment, as produced by scorestream gen --schema v2.",
  "fields": [
    {"name": "card_id", "type": "string"},
    {"name": "event_id", "type": "string"},
    {"name": "merchant", "type": {
      "type": "record",
      "name": "Merchant",
      "fields": [
        {"name": "id", "type": "string"},
        {"name": "category", "type": "string"},
        {"name": "country", "type": "string"}
      ]
    }},
    {"name": "amount", "type": "double"},
    {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "risk_flags", "type": {"type": "array", "items": "string"}, "default": []},
    {"name": "device_age_days", "type": ["null", "int"], "default": null},
    {"name": "channel", "type": ["null", "string"], "default": null}
  ]
}`
