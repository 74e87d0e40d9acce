"""JsonSchemaConverter end to end: records produced by confluent-kafka's JSONSerializer against
`lakesink registry` are written to HDFS as Parquet files whose rows, read back with pyarrow,
equal what was produced, in the Connect schema Confluent's JsonSchemaData derives (field order
included); a second schema version starts a new file; a record that does not fit its schema
stops the task naming its offset and the field."""
import io
import json

import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import (Lakesink, committed_files, connector_props, create_topic, read_bytes, unique, wait_until,
                      worker_props)
from registry_support import registries  # noqa: F401  (fixture)

# Written as a JSONSerializer user writes schemas: plain JSON Schema, a $ref to a definition,
# nullable properties as oneOf/type lists. The map needs Connect's "connect.type": "map" (an
# object with additionalProperties alone is an empty struct in Connect). The closed content
# model ("additionalProperties": false) makes adding an optional property backward compatible.
ORDER_V1 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "com.acme.Order",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "customer": {"$ref": "#/definitions/Customer"},
        "shipping": {"type": "object", "properties": {
            "city": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "string"}},
        }},
        "items": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "object", "connect.type": "map", "additionalProperties": {"type": ["integer", "null"]}},
        "note": {"oneOf": [{"type": "null"}, {"type": "string"}]},
        "ratio": {"type": "number"},
        "count": {"type": "integer", "connect.type": "int32"},
        "flag": {"type": "boolean"},
    },
    "required": ["id", "customer", "shipping", "items", "attributes", "ratio", "count", "flag"],
    "definitions": {
        "Customer": {"type": "object", "title": "com.acme.Customer", "additionalProperties": False, "properties": {
            "name": {"type": "string"},
            "tier": {"type": "string", "enum": ["GOLD", "SILVER"]},
        }},
    },
}
ORDER_V2 = {**ORDER_V1, "properties": {**ORDER_V1["properties"], "channel": {"type": ["string", "null"]}}}


def order(i, v2=False):
    o = {
        "id": i,
        "customer": {"name": f"customer-{i % 7}", "tier": "GOLD" if i % 2 else "SILVER"},
        "shipping": {"city": f"city-{i % 3}", "lines": [f"line {i}"] * (i % 3)},
        "items": [f"sku-{i}", f"sku-{i + 1}"][: i % 3],
        "attributes": {"a": i, "b": None} if i % 4 else {},
        "note": None if i % 5 else f"note {i}",
        "ratio": i / 8,
        "count": i * 1000,
        "flag": i % 3 == 0,
    }
    if i % 6 == 0:
        del o["note"]  # an absent nullable property is a null
    if v2:
        o["channel"] = "web" if i % 2 else None
    return o


def java_hash_order(names):
    """The order a Java HashMap iterates `names` inserted in this order: Connect's field order
    for properties without connect.index (everit keeps properties in a HashMap)."""
    table = 16
    while len(names) > table // 4 * 3:
        table *= 2

    def bucket(name):
        h = 0
        for unit in (int.from_bytes(name.encode("utf-16-le")[i:i + 2], "little")
                     for i in range(0, len(name.encode("utf-16-le")), 2)):
            h = (31 * h + unit) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (table - 1)

    return sorted(names, key=bucket)  # stable: ties keep the document order


def json_schema_worker(kafka, registry_url):
    worker = worker_props(kafka, converter="io.confluent.connect.json.JsonSchemaConverter")
    worker.pop("value.converter.schemas.enable")
    worker["value.converter.schema.registry.url"] = registry_url
    return worker


def serializers(url):
    client = SchemaRegistryClient({"url": url})
    return client, {1: JSONSerializer(json.dumps(ORDER_V1), client),
                    2: JSONSerializer(json.dumps(ORDER_V2), client)}


def test_json_schema_converter_writes_parquet_read_back_record_by_record(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                         workdir, registries):  # noqa: F811
    reg = registries(leader=True)
    topic = unique("jsonschema-in")
    create_topic(kafka, topic, 1)
    client, ser = serializers(reg.url)
    ctx = SerializationContext(topic, MessageField.VALUE)
    produced = [order(i) for i in range(250)] + [order(250 + i, v2=True) for i in range(250)]
    producer = Producer({"bootstrap.servers": kafka})
    for i, value in enumerate(produced):
        producer.produce(topic, value=ser[1 if i < 250 else 2](value, ctx), partition=0)
    assert producer.flush(30) == 0
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.version == 2
    # The field order Connect gives each version: Java HashMap order of the property names
    # as the registered text lists them (Python keeps the JSON text order).
    registered = {v: json.loads(client.get_version(f"{topic}-value", v).schema.schema_str) for v in (1, 2)}
    want_fields = {v: java_hash_order(list(registered[v]["properties"])) for v in (1, 2)}

    root = f"/{unique('lake')}"
    connector = connector_props(unique("jsonschema-sink"), topic, hdfs_url, root, flush__size=100,
                                format__class="io.confluent.connect.hdfs3.parquet.ParquetFormat")
    sink = Lakesink(lakesink_bin, workdir, json_schema_worker(kafka, reg.url), connector, name="jsonschema")
    wait_until(lambda: sum(e - s + 1 for s, e, _ in committed_files(hdfs, root, topic).get(0, [])) >= 450,
               120, "Parquet files of 450 records", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    files = committed_files(hdfs, root, topic)[0]
    # Two full v1 files, the v1 tail committed by the schema change at offset 250, two full
    # v2 files; the graceful stop commits the last 50.
    assert [(s, e) for s, e, _ in files] == [(0, 99), (100, 199), (200, 249), (250, 349), (350, 449),
                                              (450, 499)]
    rows = []
    for n, (start, _, path) in enumerate(files):
        assert path.endswith(".parquet"), path
        table = pq.read_table(io.BytesIO(read_bytes(hdfs, path)))
        version = 1 if start < 250 else 2
        assert table.schema.names == want_fields[version], (path, table.schema.names)
        fields = {f.name: f for f in table.schema}
        # Only nullable properties are optional in Connect; `required` changes nothing.
        assert not fields["id"].nullable and fields["note"].nullable
        assert str(fields["id"].type) == "int64" and str(fields["count"].type) == "int32"
        assert str(fields["ratio"].type) == "double"
        assert [f.name for f in fields["customer"].type] == java_hash_order(["name", "tier"])
        rows.extend(table.to_pylist())
    assert len(rows) == len(produced)
    for i, (got, want) in enumerate(zip(rows, produced)):
        assert got["id"] == want["id"], i
        assert got["customer"] == want["customer"], i
        assert got["shipping"]["city"] == want["shipping"]["city"], i
        assert list(got["shipping"]["lines"]) == want["shipping"]["lines"], i
        assert list(got["items"]) == want["items"], i
        assert dict(got["attributes"]) == want["attributes"], i
        assert got["note"] == want.get("note"), i
        assert got["ratio"] == want["ratio"], i
        assert got["count"] == want["count"], i
        assert got["flag"] == want["flag"], i
        if i >= 250:
            assert got["channel"] == want["channel"], i
        else:
            assert "channel" not in got, i


def test_a_record_that_does_not_fit_its_schema_stops_the_task_naming_it(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                        workdir, registries):  # noqa: F811
    reg = registries(leader=True)
    topic = unique("jsonschema-bad")
    create_topic(kafka, topic, 1)
    _, ser = serializers(reg.url)
    ctx = SerializationContext(topic, MessageField.VALUE)
    good = [ser[1](order(i), ctx) for i in range(10)]
    # The registered schema id of a real record, with a document whose "id" is a string: the
    # serializer would refuse it, a producer without validation would not.
    bad = good[0][:5] + json.dumps({**order(10), "id": "ten"}).encode()
    producer = Producer({"bootstrap.servers": kafka})
    for value in good + [bad]:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    connector = connector_props(unique("jsonschema-bad"), topic, hdfs_url, root, flush__size=5,
                                format__class="io.confluent.connect.hdfs3.parquet.ParquetFormat")
    sink = Lakesink(lakesink_bin, workdir, json_schema_worker(kafka, reg.url), connector)
    _, trace = sink.wait_failed(connector["name"])
    sink.stop()
    log = sink.output()
    assert f"{topic}-0 offset 10" in trace and "id: expected an integer (int64), found string" in trace, trace
    assert f"{topic}-0 offset 10" in log and "id: expected an integer (int64), found string" in log, log[-3000:]
    # Nothing at or after the bad record is committed.
    files = committed_files(hdfs, root, topic).get(0, [])
    assert all(e < 10 for _, e, _ in files), files
