"""Schema GUIDs and subject name strategies end to end, with confluent-kafka's serializers and
`lakesink registry`:
- the registry gives every schema Confluent's GUID (the MD5 of its stored text) in its
  responses and serves `/schemas/guids/{guid}` and `/schemas/guids/{guid}/ids`;
- records whose `__value_schema_id` header names the writer schema by GUID (the serializers'
  `header_schema_id_serializer`; Protobuf message indexes in the header) are read as the
  records produced, mixed in one topic with classic id-prefixed records;
- `value.subject.name.strategy=RecordNameStrategy` gives value schemas their versions under
  the record's subject, so `schema.compatibility=BACKWARD` projects older records into the
  newer file even when a schema is registered under several subjects."""
import hashlib
import io
import json
import uuid

import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.schema_registry import (SchemaRegistryClient, header_schema_id_serializer,
                                             record_subject_name_strategy)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import Lakesink, caught_up, committed_files, connector_props, create_topic, read_bytes, unique, wait_until
from registry_support import ok, registries  # noqa: F401  (fixture)
from test_avro_converter import ORDER_V1, avro_worker, order
from test_protobuf_converter import message_classes, order as pb_order, protobuf_worker, rows_of

PARQUET = "io.confluent.connect.hdfs3.parquet.ParquetFormat"


def produce_framed(kafka, topic, framed):
    """Produces (value, headers) pairs to partition 0, in order."""
    producer = Producer({"bootstrap.servers": kafka})
    for value, headers in framed:
        producer.produce(topic, value=value, headers=headers or None, partition=0)
    assert producer.flush(30) == 0


def drain(kafka, hdfs, hdfs_url, lakesink_bin, workdir, worker, topic, **extra):
    root = f"/{unique('lake')}"
    connector = connector_props(unique("guid-sink"), topic, hdfs_url, root, format__class=PARQUET, **extra)
    sink = Lakesink(lakesink_bin, workdir, worker, connector)
    wait_until(lambda: caught_up(sink.output(), 1), 120, "the topic read to the end", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    return root


def test_avro_records_framed_by_guid_headers_are_read(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                      registries):  # noqa: F811
    reg = registries(leader=True)
    topic = unique("guid-avro")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    by_header = AvroSerializer(client, json.dumps(ORDER_V1), conf={"schema.id.serializer": header_schema_id_serializer})
    by_prefix = AvroSerializer(client, json.dumps(ORDER_V1))
    framed = []
    for i in range(40):
        headers = [("trace", f"t{i}".encode())]
        if i % 3 == 0:
            framed.append((by_prefix(order(i), SerializationContext(topic, MessageField.VALUE)), headers))
        else:
            value = by_header(order(i), SerializationContext(topic, MessageField.VALUE, headers))
            framed.append((value, headers))
    # The header form: an unprefixed datum, the GUID in the header.
    value, headers = framed[1]
    guid_header = dict(headers)["__value_schema_id"]
    assert guid_header[0] == 1 and len(guid_header) == 17, guid_header
    # The payload is the bare Avro datum: what the prefix form carries after its 5 bytes.
    assert value == by_prefix(order(1), SerializationContext(topic, MessageField.VALUE))[5:]
    produce_framed(kafka, topic, framed)

    # The registry's GUID is Confluent's: the MD5 of the stored schema text.
    guid = str(uuid.UUID(bytes=guid_header[1:17]))
    ids = ok(reg.get(f"/schemas/guids/{guid}/ids"))
    assert len(ids) == 1 and ids[0]["context"] == ".", ids
    by_id = ok(reg.get(f"/schemas/ids/{ids[0]['id']}"))
    assert by_id["guid"] == guid, by_id
    assert str(uuid.UUID(bytes=hashlib.md5(by_id["schema"].encode()).digest())) == guid
    by_guid = ok(reg.get(f"/schemas/guids/{guid}"))
    assert by_guid["schema"] == by_id["schema"] and by_guid["guid"] == guid, by_guid
    assert ok(reg.get(f"/subjects/{topic}-value/versions/1"))["guid"] == guid
    assert reg.get("/schemas/guids/00000000-0000-0000-0000-000000000000").json()["error_code"] == 40403

    root = drain(kafka, hdfs, hdfs_url, lakesink_bin, workdir, avro_worker(kafka, reg.url), topic, flush__size=100)
    files = committed_files(hdfs, root, topic)[0]
    assert [(s, e) for s, e, _ in files] == [(0, 39)], files
    table = pq.read_table(io.BytesIO(read_bytes(hdfs, files[0][2])))
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == list(range(40))
    for i, got in enumerate(rows):
        want = order(i)
        assert got["customer"] == want["customer"] and list(got["items"]) == want["items"], (i, got)
        assert got["note"] == want["note"] and got["amount"] == want["amount"] and got["at"] == want["at"], (i, got)
        assert got["ratio"] == want["ratio"] and got["flag"] == want["flag"], (i, got)


def test_protobuf_message_indexes_in_the_guid_header_pick_the_message(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                                      registries):  # noqa: F811
    reg = registries(leader=True)
    Order, Line = message_classes()
    topic = unique("guid-pb")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    ser = ProtobufSerializer(Line, client, conf={"use.deprecated.format": False,
                                                 "schema.id.serializer": header_schema_id_serializer})
    lines = [{"sku": f"g-{i}", "qty": i - 5, "price": i / 4} for i in range(25)]
    framed = []
    for line in lines:
        headers = []
        framed.append((ser(Line(**line), SerializationContext(topic, MessageField.VALUE, headers)), headers))
    header = dict(framed[0][1])["__value_schema_id"]
    assert header[0] == 1 and header[17:] == b"\x04\x02\x00", header  # GUID, then message indexes [1, 0]
    produce_framed(kafka, topic, framed)
    root = drain(kafka, hdfs, hdfs_url, lakesink_bin, workdir, protobuf_worker(kafka, reg.url), topic,
                 flush__size=100)
    files, columns, rows = rows_of(hdfs, root, topic)
    assert [(s, e) for s, e, _ in files] == [(0, 24)], files
    assert columns == ["sku", "qty", "price"], columns
    assert rows == lines


READING_V1 = {"type": "record", "name": "Reading", "namespace": "com.acme.metrics",
              "fields": [{"name": "id", "type": "long"}, {"name": "value", "type": "int"}]}
READING_V2 = {**READING_V1, "fields": [{"name": "id", "type": "long"}, {"name": "value", "type": "long"},
                                       {"name": "unit", "type": ["null", "string"], "default": None}]}


def test_record_name_strategy_gives_versions_for_backward_projection(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                                     registries):  # noqa: F811
    """v1, v2, v1 records under RecordNameStrategy (subject com.acme.metrics.Reading, versions 1
    and 2); v2's schema is also version 1 of another subject, so only the configured strategy
    says it is version 2. With it, BACKWARD projects the later v1 records into the v2 file."""
    reg = registries(leader=True)
    topic = unique("rns")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    conf = {"subject.name.strategy": record_subject_name_strategy}
    v1, v2 = AvroSerializer(client, json.dumps(READING_V1), conf=conf), AvroSerializer(client, json.dumps(READING_V2),
                                                                                        conf=conf)
    ctx = SerializationContext(topic, MessageField.VALUE)
    values = [v1({"id": i, "value": i}, ctx) for i in range(5)]
    values += [v2({"id": i, "value": 10 ** 10 + i, "unit": "mV"}, ctx) for i in range(5, 10)]
    values += [v1({"id": i, "value": i}, ctx) for i in range(10, 15)]
    versions = ok(reg.get("/subjects/com.acme.metrics.Reading/versions"))
    assert versions == [1, 2], versions
    reg.register("elsewhere-value", json.dumps(READING_V2))
    v2_id = int.from_bytes(values[5][1:5], "big")
    assert len(ok(reg.get(f"/schemas/ids/{v2_id}/versions"))) == 2
    produce_framed(kafka, topic, [(v, None) for v in values])

    worker = avro_worker(kafka, reg.url)
    worker["value.converter.value.subject.name.strategy"] = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
    root = drain(kafka, hdfs, hdfs_url, lakesink_bin, workdir, worker, topic, flush__size=100,
                 schema__compatibility="BACKWARD")
    files = committed_files(hdfs, root, topic)[0]
    assert [(s, e) for s, e, _ in files] == [(0, 4), (5, 14)], files
    rows = pq.read_table(io.BytesIO(read_bytes(hdfs, files[1][2]))).to_pylist()
    assert rows[:5] == [{"id": i, "value": 10 ** 10 + i, "unit": "mV"} for i in range(5, 10)]
    assert rows[5:] == [{"id": i, "value": i, "unit": None} for i in range(10, 15)]

    # Without the strategy, the v2 schema has no version (two subjects, neither <topic>-value):
    # every change of schema starts a new file, and nothing is lost.
    root = drain(kafka, hdfs, hdfs_url, lakesink_bin, workdir, avro_worker(kafka, reg.url), topic, flush__size=100,
                 schema__compatibility="BACKWARD")
    files = committed_files(hdfs, root, topic)[0]
    assert [(s, e) for s, e, _ in files] == [(0, 4), (5, 9), (10, 14)], files
