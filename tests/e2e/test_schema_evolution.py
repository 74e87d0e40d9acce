"""schema.compatibility end to end with Confluent's AvroSerializer and `lakesink registry`: a
topic mixing schema versions. Under BACKWARD, records of an older version join the newer
version's file (a field added with a default, a field removed, int promoted to long, an enum
symbol added), so the interleaving makes no small files; a change with no projection (int to
string, accepted by the registry under NONE) starts a new file instead of failing. Under
NONE every change starts a new file. Every value is read back with pyarrow."""
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import Lakesink, caught_up, committed_files, connector_props, create_topic, read_bytes, unique, wait_until
from registry_support import registries  # noqa: F401  (fixture)
from test_avro_converter import avro_worker

TIER_V1 = {"type": "enum", "name": "Tier", "symbols": ["GOLD", "SILVER"]}
V1 = {"type": "record", "name": "Item", "namespace": "com.acme", "fields": [
    {"name": "id", "type": "long"},
    {"name": "qty", "type": "int"},
    {"name": "tier", "type": TIER_V1},
    {"name": "note", "type": ["null", "string"], "default": None},
]}
# BACKWARD-compatible with V1: qty promoted, a symbol added, note removed, channel added.
V2 = {"type": "record", "name": "Item", "namespace": "com.acme", "fields": [
    {"name": "id", "type": "long"},
    {"name": "qty", "type": "long"},
    {"name": "tier", "type": {**TIER_V1, "symbols": ["GOLD", "SILVER", "BRONZE"]}},
    {"name": "channel", "type": ["null", "string"], "default": None},
]}
# Not compatible (qty becomes a string): registered with the subject at NONE.
V3 = {"type": "record", "name": "Item", "namespace": "com.acme", "fields": [
    {"name": "id", "type": "long"},
    {"name": "qty", "type": "string"},
]}


def item(i, version):
    if version == 1:
        return {"id": i, "qty": i * 3, "tier": "GOLD" if i % 2 else "SILVER", "note": f"n{i}"}
    if version == 2:
        return {"id": i, "qty": 10_000_000_000 + i, "tier": ["GOLD", "SILVER", "BRONZE"][i % 3], "channel": f"c{i}"}
    return {"id": i, "qty": f"q{i}"}


PLAN = [1] * 5 + [2] * 5 + [1] * 5 + [2] * 5 + [3] * 3 + [2] * 2


def produce_mixed(kafka, url, topic):
    client = SchemaRegistryClient({"url": url})
    ctx = SerializationContext(topic, MessageField.VALUE)
    ser = {v: AvroSerializer(client, json.dumps(s)) for v, s in ((1, V1), (2, V2))}
    producer = Producer({"bootstrap.servers": kafka})
    # Register v1 and v2 in order under the default BACKWARD level, then allow v3.
    for i, v in enumerate(PLAN[:10]):
        producer.produce(topic, value=ser[v](item(i, v), ctx), partition=0)
    assert producer.flush(30) == 0
    client.set_compatibility(subject_name=f"{topic}-value", level="NONE")
    ser[3] = AvroSerializer(client, json.dumps(V3))
    for i, v in list(enumerate(PLAN))[10:]:
        producer.produce(topic, value=ser[v](item(i, v), ctx), partition=0)
    assert producer.flush(30) == 0
    versions = [client.lookup_schema(f"{topic}-value", Schema(json.dumps(s), "AVRO")).version for s in (V1, V2, V3)]
    assert versions == [1, 2, 3]


def run_sink(kafka, reg, hdfs, hdfs_url, lakesink_bin, workdir, topic, compatibility):
    root = f"/{unique('lake')}"
    connector = connector_props(unique("evolve"), topic, hdfs_url, root, flush__size=1000,
                                format__class="io.confluent.connect.hdfs3.parquet.ParquetFormat",
                                schema__compatibility=compatibility)
    sink = Lakesink(lakesink_bin, workdir, avro_worker(kafka, reg.url), connector, name=compatibility)
    wait_until(lambda: caught_up(sink.output(), 1), 90, "the sink to catch up", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    files = committed_files(hdfs, root, topic)[0]
    return [(s, e, pq.read_table(io.BytesIO(read_bytes(hdfs, p)))) for s, e, p in files]


def test_backward_projects_older_records_into_the_newer_files(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                              registries):  # noqa: F811
    reg = registries(leader=True)
    topic = unique("evolving")
    create_topic(kafka, topic, 1)
    produce_mixed(kafka, reg.url, topic)

    files = run_sink(kafka, reg, hdfs, hdfs_url, lakesink_bin, workdir, topic, "BACKWARD")
    assert [(s, e) for s, e, _ in files] == [(0, 4), (5, 19), (20, 22), (23, 24)]
    first, second, third, fourth = (t for _, _, t in files)
    assert first.column_names == ["id", "qty", "tier", "note"]
    assert first.to_pylist() == [item(i, 1) for i in range(5)]
    # v2 file: v1 records 10-14 projected up (qty widened, note dropped, channel null).
    assert second.column_names == ["id", "qty", "tier", "channel"]
    assert second.schema.field("qty").type == pa.int64()
    want = []
    for i in range(5, 20):
        if PLAN[i] == 2:
            want.append(item(i, 2))
        else:
            v1 = item(i, 1)
            want.append({"id": i, "qty": v1["qty"], "tier": v1["tier"], "channel": None})
    assert second.to_pylist() == want
    # No projection from long to string: v3 starts a file, and v2 after it another.
    assert third.to_pylist() == [item(i, 3) for i in range(20, 23)]
    assert fourth.schema.field("qty").type == pa.int64()
    assert fourth.to_pylist() == [item(i, 2) for i in range(23, 25)]

    # NONE: every change of schema starts a file, each holding one version's values as written.
    files = run_sink(kafka, reg, hdfs, hdfs_url, lakesink_bin, workdir, topic, "NONE")
    assert [(s, e) for s, e, _ in files] == [(0, 4), (5, 9), (10, 14), (15, 19), (20, 22), (23, 24)]
    rows = [r for _, _, t in files for r in t.to_pylist()]
    assert rows == [item(i, v) for i, v in enumerate(PLAN)]


def test_after_a_restart_older_records_join_the_schema_of_the_last_committed_file(
        kafka, hdfs, hdfs_url, lakesink_bin, workdir, registries):  # noqa: F811
    """Under BACKWARD a restarted sink takes the schema of the partition's last committed file
    as its current schema (read from the Avro header or the Parquet footer in HDFS), as the
    Confluent sink does: version-1 records arriving first after the restart are projected to
    version 2 instead of starting version-1 files."""
    import fastavro
    reg = registries(leader=True)
    client = SchemaRegistryClient({"url": reg.url})
    for fmt in ("avro", "parquet"):
        topic = unique(f"restarted-{fmt}")
        create_topic(kafka, topic, 1)
        ctx = SerializationContext(topic, MessageField.VALUE)
        ser = {v: AvroSerializer(client, json.dumps(s)) for v, s in ((1, V1), (2, V2))}
        producer = Producer({"bootstrap.servers": kafka})

        def produce(versions, first):
            for i, v in enumerate(versions, first):
                producer.produce(topic, value=ser[v](item(i, v), ctx), partition=0)
            assert producer.flush(30) == 0

        produce([1, 1, 2, 2], 0)
        root = f"/{unique('lake')}"
        connector = connector_props(unique("restart"), topic, hdfs_url, root, flush__size=2,
                                    format__class=f"io.confluent.connect.hdfs3.{fmt}.{fmt.capitalize()}Format",
                                    schema__compatibility="BACKWARD")
        sink = Lakesink(lakesink_bin, workdir, avro_worker(kafka, reg.url), connector, name=f"{fmt}-1")
        wait_until(lambda: len(committed_files(hdfs, root, topic).get(0, [])) == 2, 90, "two files", sink)
        assert sink.stop() == 0, sink.output()[-3000:]

        produce([1, 1], 4)
        again = Lakesink(lakesink_bin, workdir, avro_worker(kafka, reg.url), connector, name=f"{fmt}-2")
        wait_until(lambda: len(committed_files(hdfs, root, topic).get(0, [])) == 3, 90, "a third file", again)
        assert again.stop() == 0, again.output()[-3000:]
        files = committed_files(hdfs, root, topic)[0]
        assert [(s, e) for s, e, _ in files] == [(0, 1), (2, 3), (4, 5)], fmt
        data = read_bytes(hdfs, files[2][2])
        if fmt == "avro":
            reader = fastavro.reader(io.BytesIO(data))
            names = [f["name"] for f in reader.writer_schema["fields"]]
            rows = list(reader)
        else:
            table = pq.read_table(io.BytesIO(data))
            names, rows = table.column_names, table.to_pylist()
        assert names == ["id", "qty", "tier", "channel"], (fmt, names)
        assert rows == [{"id": i, "qty": i * 3, "tier": "GOLD" if i % 2 else "SILVER", "channel": None}
                        for i in (4, 5)], (fmt, rows)
