"""Single message transforms end to end, configured with Kafka Connect's keys: a chain over
records with schemas (JsonConverter envelopes) into Parquet, read back with pyarrow, and a
chain over schemaless JSON into JSON files. Predicates select records by header; a record a
transform cannot handle goes to the dead-letter queue with Connect's TRANSFORMATION stage;
routers rename the directory while the files keep the consumed topic-partition and offsets
they hold, so every record is written exactly once whatever the routes."""
import io
import json
import re
import subprocess

import pyarrow.parquet as pq
from confluent_kafka import Producer

from conftest import Lakesink, caught_up, create_topic, read_bytes, unique, wait_until, worker_props
from test_dead_letters import context, read_topic

COMMITTED = re.compile(r"^(.+)\+(\d+)\+(\d+)\+(\d+)\.(\w+)$")

SCHEMA = {"type": "struct", "name": "com.example.User", "optional": False, "fields": [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "name", "type": "string", "optional": True},
    {"field": "ssn", "type": "string", "optional": True},
    {"field": "age", "type": "int32", "optional": True},
    {"field": "created", "type": "string", "optional": True},
    {"field": "address", "type": "struct", "optional": True, "fields": [
        {"field": "city", "type": "string", "optional": True}]}]}


def files_under(hdfs, base):
    """[(directory relative to base, name, path)] of every committed file below base."""
    out, stack = [], [base]
    while stack:
        d = stack.pop()
        try:
            entries = list(hdfs.list_status(d))
        except FileNotFoundError:
            continue
        for e in entries:
            if e.isdir:
                stack.append(e.path)
            elif COMMITTED.match(e.path.rsplit("/", 1)[-1]):
                rel = e.path[len(base) + 1:]
                out.append((rel.rsplit("/", 1)[0], rel.rsplit("/", 1)[1], e.path))
    return sorted(out)


def test_a_chain_with_schemas_writes_transformed_parquet_and_dead_letters_what_fails(
        kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    base = unique("smt")
    topic, dlq = f"{base}-raw", unique("smt-dlq")
    create_topic(kafka, topic, 2)
    producer = Producer({"bootstrap.servers": kafka})
    expected = {}  # (partition, offset) -> id of the records that must be written
    filtered, poison = set(), set()
    offsets = {0: 0, 1: 0}
    for i in range(400):
        p = i % 2
        created = "not a date" if i in (77, 301) else f"2024-03-{1 + i % 28:02d}"
        payload = {"id": i, "name": f"user{i}", "ssn": f"123-45-{i:04d}", "age": 20 + i % 50,
                   "created": created, "address": {"city": "Oslo" if i % 3 else None}}
        headers = [("test", b"1")] if i % 10 == 0 else []
        producer.produce(topic, value=json.dumps({"schema": SCHEMA, "payload": payload}).encode(),
                         partition=p, headers=headers)
        key = (p, offsets[p])
        offsets[p] += 1
        if i % 10 == 0:
            filtered.add(key)
        elif created == "not a date":
            poison.add(key)
        else:
            expected[key] = i
    producer.flush()
    connector = {
        "name": unique("smt-sink"),
        "connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector",
        "topics": topic,
        "hdfs.url": f"{hdfs_url}/{base}",
        "flush.size": "50",
        "format.class": "io.confluent.connect.hdfs3.parquet.ParquetFormat",
        "consumer.override.auto.offset.reset": "earliest",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "transforms": "dropTests,route,flat,mask,cast,meta,ts,trim",
        "transforms.dropTests.type": "org.apache.kafka.connect.transforms.Filter",
        "transforms.dropTests.predicate": "isTest",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "(.*)-raw",
        "transforms.route.replacement": "$1-clean",
        "transforms.flat.type": "org.apache.kafka.connect.transforms.Flatten$Value",
        "transforms.flat.delimiter": "_",
        "transforms.mask.type": "org.apache.kafka.connect.transforms.MaskField$Value",
        "transforms.mask.fields": "ssn",
        "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.cast.spec": "age:string",
        "transforms.meta.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.meta.offset.field": "kafka_offset",
        "transforms.meta.partition.field": "kafka_partition",
        "transforms.ts.type": "org.apache.kafka.connect.transforms.TimestampConverter$Value",
        "transforms.ts.field": "created",
        "transforms.ts.format": "yyyy-MM-dd",
        "transforms.ts.target.type": "Timestamp",
        "transforms.trim.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
        "transforms.trim.exclude": "name",
        "predicates": "isTest",
        "predicates.isTest.type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        "predicates.isTest.name": "test",
    }
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    try:
        wait_until(lambda: caught_up(sink.output(), 2), 120, "caught up", sink)
        letters = read_topic(kafka, dlq, len(poison), timeout=60)
    finally:
        sink.stop()
    assert sink.proc.returncode == 0, sink.output()[-3000:]

    # The dead letters: the two records TimestampConverter could not parse, as they were.
    assert sorted((int(context(m)["partition"]), int(context(m)["offset"])) for m in letters) == sorted(poison)
    for m in letters:
        ctx = context(m)
        assert ctx["stage"] == "TRANSFORMATION", ctx
        assert ctx["class.name"] == "org.apache.kafka.connect.transforms.TimestampConverter$Value", ctx
        assert "does not match pattern (yyyy-MM-dd)" in ctx["exception.message"], ctx
        assert json.loads(m.value())["payload"]["created"] == "not a date"

    # Files: in the routed directory, named after the consumed topic-partition and offsets.
    files = files_under(hdfs, f"/{base}/topics")
    assert files, "no files were committed"
    rows = []
    for rel, name, path in files:
        m = COMMITTED.match(name)
        assert rel == f"{base}-clean/partition={m.group(2)}", (rel, name)
        assert m.group(1) == topic, name
        table = pq.read_table(io.BytesIO(read_bytes(hdfs, path)))
        # InsertField adds its fields in Connect's order: topic, partition, offset, ...
        assert table.column_names == ["id", "ssn", "age", "created", "address_city",
                                      "kafka_partition", "kafka_offset"], table.schema
        assert str(table.schema.field("created").type).startswith("timestamp[ms"), table.schema
        assert str(table.schema.field("age").type) == "string", table.schema
        for r in table.to_pylist():
            assert int(m.group(3)) <= r["kafka_offset"] <= int(m.group(4)), (name, r)
            assert r["kafka_partition"] == int(m.group(2))
            rows.append(r)
    got = {(r["kafka_partition"], r["kafka_offset"]): r for r in rows}
    assert len(got) == len(rows), "a record was written twice"
    assert set(got) == set(expected), (sorted(set(expected) - set(got))[:10], sorted(set(got) - set(expected))[:10])
    for key, i in expected.items():
        r = got[key]
        assert r["id"] == i and r["ssn"] == "" and r["age"] == str(20 + i % 50), r
        assert r["address_city"] == ("Oslo" if i % 3 else None), r
        assert r["created"].strftime("%Y-%m-%d") == f"2024-03-{1 + i % 28:02d}", r


def test_schemaless_records_are_routed_by_timestamp_and_wrapped(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    base = unique("smt-json")
    topic = f"{base}-events"
    create_topic(kafka, topic, 1)
    producer = Producer({"bootstrap.servers": kafka})
    day1, day2 = 1_709_251_200_000, 1_709_337_600_000  # 2024-03-01 and 2024-03-02, UTC
    for i in range(30):
        doc = {"n": i, "nested": {"x": i * 2}}
        producer.produce(topic, value=json.dumps(doc).encode(), partition=0,
                         timestamp=(day1 if i < 12 else day2) + i * 1000)
    producer.flush()
    connector = {
        "name": unique("smt-json-sink"),
        "connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector",
        "topics": topic,
        "hdfs.url": f"{hdfs_url}/{base}",
        "flush.size": "5",
        "format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
        "consumer.override.auto.offset.reset": "earliest",
        "transforms": "byDay,flat,topic,wrap",
        "transforms.byDay.type": "TimestampRouter",
        "transforms.byDay.topic.format": "${topic}-${timestamp}",
        "transforms.byDay.timestamp.format": "yyyyMMdd",
        "transforms.flat.type": "Flatten$Value",
        "transforms.topic.type": "InsertField$Value",
        "transforms.topic.topic.field": "routed_to",
        "transforms.wrap.type": "HoistField$Value",
        "transforms.wrap.field": "event",
    }
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        wait_until(lambda: caught_up(sink.output(), 1), 120, "caught up", sink)
    finally:
        sink.stop()
    assert sink.proc.returncode == 0, sink.output()[-3000:]
    seen = {}
    for rel, name, path in files_under(hdfs, f"/{base}/topics"):
        assert name.startswith(f"{topic}+0+"), name
        for line in read_bytes(hdfs, path).decode().splitlines():
            doc = json.loads(line)
            seen[doc["event"]["n"]] = (rel, doc)
    assert sorted(seen) == list(range(30))
    for n, (rel, doc) in seen.items():
        day = "20240301" if n < 12 else "20240302"
        assert rel == f"{topic}-{day}/partition=0", (n, rel)
        assert doc == {"event": {"n": n, "nested.x": n * 2, "routed_to": f"{topic}-{day}"}}, doc


def test_transform_mistakes_are_reported_by_key(lakesink_bin, workdir, kafka):
    connector = {
        "name": "smt-bad", "connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector",
        "topics": "t", "hdfs.url": "file:///tmp/x", "flush.size": "3",
        "transforms": "a,b,c",
        "transforms.a.type": "org.apache.kafka.connect.transforms.NoSuch",
        "transforms.b.type": "RegexRouter", "transforms.b.regex": "(", "transforms.b.replacement": "x",
        "transforms.c.type": "TimestampRouter", "transforms.c.timestamp.format": "yyyy-QQ",
    }
    w, c = f"{workdir}/w.properties", f"{workdir}/c.properties"
    for path, props in ((w, worker_props(kafka)), (c, connector)):
        with open(path, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
    out = subprocess.run([lakesink_bin, "validate", w, c], capture_output=True, text=True)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "transforms.a.type: invalid value 'org.apache.kafka.connect.transforms.NoSuch'" in text, text
    assert "org.apache.kafka.connect.transforms.RegexRouter" in text, "the allowed classes are listed"
    assert "transforms.b.regex: invalid value '('" in text, text
    # Only building the chain shows a bad date pattern; it is reported once the rest is valid.
    connector.pop("transforms.a.type")
    connector["transforms"] = "c"
    with open(c, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in connector.items())
    out = subprocess.run([lakesink_bin, "validate", w, c], capture_output=True, text=True)
    assert out.returncode != 0
    assert "transforms.c.timestamp.format" in out.stdout + out.stderr and "'QQ'" in out.stdout + out.stderr, out
