"""Interop with the Confluent Python client, driven by integration/interop_test.go.

  interop.py produce  --brokers B --registry URL --topic T --schema FILE --events N --prefix P
      writes N payment events with confluent-kafka's AvroSerializer (schema
      registered through SchemaRegistryClient under "<topic>-value"); prints
      {"produced": N, "event_ids": [...]} as the last line.

  interop.py consume  --brokers B --registry URL --topic T --prefix P
      reads the predictions topic read_committed to its end, decodes every
      record with fastavro using the writer schema fetched from the registry by
      the id in the Confluent framing; prints {"decoded": n, "event_ids": [...
      only those starting with P], "schema_ids": [...]} as the last line.
"""

import argparse
import datetime
import io
import json
import struct
import sys

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def produce(a):
    reg = SchemaRegistryClient({"url": a.registry})
    with open(a.schema) as f:
        schema = f.read()
    ser = AvroSerializer(reg, schema)
    p = Producer({"bootstrap.servers": a.brokers, "enable.idempotence": True, "acks": "all"})
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(str(err))

    t0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
    ids = []
    for i in range(a.events):
        card = "py-card-%03d" % (i % 37)
        ev = {
            "event_id": "%s-%06d" % (a.prefix, i),
            "card_id": card,
            "event_time": t0 + datetime.timedelta(seconds=7 * i),
            "amount": round(5.0 + (i * 7919 % 50000) / 100.0, 2),
            "currency": "EUR",
            "merchant": {"id": "m-%d" % (i % 53), "category": "grocery", "country": "DE"},
            "channel": ["pos", "ecom", None][i % 3],
            "device_age_days": None if i % 4 == 0 else i % 900,
        }
        value = ser(ev, SerializationContext(a.topic, MessageField.VALUE))
        p.produce(a.topic, key=card.encode(), value=value, on_delivery=cb)
        p.poll(0)
        ids.append(ev["event_id"])
    left = p.flush(60)
    if left or errors:
        print("produce failed: %d unflushed, errors %s" % (left, errors[:5]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"produced": len(ids), "event_ids": ids}))


def consume(a):
    reg = SchemaRegistryClient({"url": a.registry})
    c = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": "interop-reader",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })
    md = c.list_topics(a.topic, timeout=30)
    parts = sorted(md.topics[a.topic].partitions)
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])
    eof = set()
    schemas = {}
    decoded, ids = 0, []
    while len(eof) < len(parts):
        m = c.poll(10)
        if m is None:
            print("consume: timed out waiting for records", file=sys.stderr)
            sys.exit(1)
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            print("consume: %s" % m.error(), file=sys.stderr)
            sys.exit(1)
        v = m.value()
        magic, sid = struct.unpack(">bI", v[:5])
        if magic != 0:
            print("bad magic byte %d" % magic, file=sys.stderr)
            sys.exit(1)
        if sid not in schemas:
            schemas[sid] = fastavro.parse_schema(json.loads(reg.get_schema(sid).schema_str))
        rec = fastavro.schemaless_reader(io.BytesIO(v[5:]), schemas[sid])
        decoded += 1
        if rec["event_id"].startswith(a.prefix):
            ids.append(rec["event_id"])
    c.close()
    print(json.dumps({"decoded": decoded, "event_ids": ids, "schema_ids": sorted(schemas)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["produce", "consume"])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--schema")
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--prefix", default="py")
    a = ap.parse_args()
    produce(a) if a.cmd == "produce" else consume(a)


if __name__ == "__main__":
    main()
