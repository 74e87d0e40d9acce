"""errors.tolerance and the dead-letter queue end to end: poison records in the middle of good
ones go to the dead-letter topic with their original key, value and headers and Connect's
`__connect.errors.*` context headers; every good record is written once; a restart neither
writes nor dead-letters anything again. Failures in the converter (wrong magic byte, unknown
schema id, truncated frame, corrupt datum) and in the partitioner (no timestamp) both count."""
import io
import json

import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import (Lakesink, caught_up, committed_files, committed_files_deep, connector_props, create_topic,
                      read_bytes, unique, wait_until, worker_props)
from registry_support import registries  # noqa: F401  (fixture)
from test_avro_converter import ORDER_V1, avro_worker, order

PARQUET = "io.confluent.connect.hdfs3.parquet.ParquetFormat"


def read_topic(kafka, topic, expected, timeout=60):
    """Every record of `topic` (partition order), waiting until there are `expected`."""
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": unique("dlq-reader"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out = []
    import time
    deadline = time.time() + timeout
    while time.time() < deadline and len(out) < expected:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        out.append(m)
    # A little longer: more than expected is a failure too.
    end = time.time() + 3
    while time.time() < end:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            out.append(m)
    consumer.close()
    return out


def headers_of(msg):
    return [(k, v) for k, v in (msg.headers() or [])]


def context(msg):
    return {k[len("__connect.errors."):]: v.decode() for k, v in headers_of(msg) if k.startswith("__connect.errors.")}


def test_poison_records_go_to_the_dead_letter_queue_and_good_ones_to_hdfs(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                          workdir, registries):  # noqa: F811
    reg = registries(leader=True)
    topic, dlq = unique("poisoned"), unique("dlq")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    ser = AvroSerializer(client, json.dumps(ORDER_V1))
    ctx = SerializationContext(topic, MessageField.VALUE)
    good = ser(order(999), ctx)
    poison = {
        30: (b"\x01garbage", "magic byte 1 (a schema GUID) needs 17 bytes"),
        31: (b"\x00\x00\x01\x86\xa0rest", "schema id 100000"),
        32: (b"\x00\x00", "too short for the Confluent wire format"),
        33: (good[:12], "truncated input"),
        64: (b"\xffthe end", "unknown magic byte 255"),
    }
    producer = Producer({"bootstrap.servers": kafka})
    expected_ids = []
    offset, i = 0, 0
    while offset <= 64:
        if offset in poison:
            producer.produce(topic, key=f"key-{offset}".encode(), value=poison[offset][0], partition=0,
                             headers=[("trace", f"t-{offset}".encode()), ("empty", None)])
        else:
            producer.produce(topic, key=f"key-{offset}".encode(), value=ser(order(i), ctx), partition=0)
            expected_ids.append(i)
            i += 1
        offset += 1
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    name = unique("dlq-sink")
    connector = connector_props(name, topic, hdfs_url, root, flush__size=10, format__class=PARQUET,
                                errors__tolerance="all",
                                errors__deadletterqueue__topic__name=dlq,
                                errors__deadletterqueue__topic__replication__factor=1,
                                errors__deadletterqueue__context__headers__enable="true",
                                errors__log__enable="true", errors__log__include__messages="true")
    worker = avro_worker(kafka, reg.url)
    sink = Lakesink(lakesink_bin, workdir, worker, connector)
    letters = read_topic(kafka, dlq, len(poison), timeout=90)
    assert sink.alive(), sink.output()[-3000:]
    assert sink.stop() == 0, sink.output()[-3000:]
    log = sink.output()

    # Dead letters: exactly the poison records, in order, as they were produced.
    assert [int(context(m)["offset"]) for m in letters] == sorted(poison), [context(m) for m in letters]
    for m in letters:
        c = context(m)
        o = int(c["offset"])
        assert m.value() == poison[o][0], o
        assert m.key() == f"key-{o}".encode(), o
        assert headers_of(m)[:2] == [("trace", f"t-{o}".encode()), ("empty", None)], headers_of(m)
        assert c["topic"] == topic and c["partition"] == "0", c
        assert c["connector.name"] == name and c["task.id"] == "0", c
        assert c["stage"] == "VALUE_CONVERTER", c
        assert c["class.name"] == "io.confluent.connect.avro.AvroConverter", c
        assert c["exception.class.name"] == "org.apache.kafka.connect.errors.DataException", c
        assert poison[o][1] in c["exception.message"], (o, c["exception.message"])
        assert f"offset={o}" in log, o  # errors.log.enable with include.messages

    # Every good record once, in order, typed.
    files = committed_files(hdfs, root, topic)[0]
    ids = []
    for _, _, path in files:
        ids.extend(pq.read_table(io.BytesIO(read_bytes(hdfs, path))).column("id").to_pylist())
    assert ids == expected_ids
    assert files[-1][1] == 63, files

    # A restart reads nothing again: no new files, no new dead letters.
    again = Lakesink(lakesink_bin, workdir, worker, connector, name="again")
    wait_until(lambda: caught_up(again.output(), 1), 60, "the restarted sink to catch up", again)
    assert again.stop() == 0, again.output()[-3000:]
    assert committed_files(hdfs, root, topic)[0] == files
    assert len(read_topic(kafka, dlq, len(poison) + 1, timeout=5)) == len(poison)


def test_a_record_the_partitioner_cannot_place_is_a_dead_letter(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    """TimeBasedPartitioner on a field that is null in some records: those records go to the
    dead-letter queue (stage TASK_PUT, the partitioner's class), the others to their hours."""
    topic, dlq = unique("untimed"), unique("dlq")
    create_topic(kafka, topic, 1)
    schema = {"type": "struct", "fields": [{"field": "id", "type": "int64"},
                                           {"field": "ts", "type": "int64", "optional": True}]}
    producer = Producer({"bootstrap.servers": kafka})
    base = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    nulls = {3, 4, 11}
    for i in range(15):
        ts = None if i in nulls else base + i * 600_000
        producer.produce(topic, value=json.dumps({"schema": schema, "payload": {"id": i, "ts": ts}}).encode(),
                         partition=0)
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    connector = connector_props(unique("dlq-part"), topic, hdfs_url, root, flush__size=100, format__class=PARQUET,
                                partitioner__class="io.confluent.connect.storage.partitioner.HourlyPartitioner",
                                timestamp__extractor="RecordField", timestamp__field="ts", timezone="UTC",
                                locale="en", errors__tolerance="all",
                                errors__deadletterqueue__topic__name=dlq,
                                errors__deadletterqueue__topic__replication__factor=1,
                                errors__deadletterqueue__context__headers__enable="true")
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    letters = read_topic(kafka, dlq, len(nulls), timeout=90)
    assert sink.stop() == 0, sink.output()[-3000:]
    assert sorted(int(context(m)["offset"]) for m in letters) == sorted(nulls)
    for m in letters:
        c = context(m)
        assert c["stage"] == "TASK_PUT", c
        assert c["class.name"] == "io.confluent.connect.storage.partitioner.HourlyPartitioner", c
        assert c["exception.class.name"] == "io.confluent.connect.storage.errors.PartitionException", c
        assert "ts" in c["exception.message"], c
        assert json.loads(m.value())["payload"]["ts"] is None
    files = committed_files_deep(hdfs, root, topic)
    ids = []
    for f in files:
        path = f[-1]
        assert "/hour=" in path, path
        ids.extend(pq.read_table(io.BytesIO(read_bytes(hdfs, path))).column("id").to_pylist())
    assert sorted(ids) == [i for i in range(15) if i not in nulls]


def test_tolerated_records_without_a_queue_are_logged_one_by_one(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic = unique("skipped")
    create_topic(kafka, topic, 1)
    schema = {"type": "struct", "fields": [{"field": "id", "type": "int64"}]}
    producer = Producer({"bootstrap.servers": kafka})
    for i in range(10):
        value = b"{not json" if i in (2, 7) else json.dumps({"schema": schema, "payload": {"id": i}}).encode()
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    connector = connector_props(unique("skip"), topic, hdfs_url, root, flush__size=100, format__class=PARQUET,
                                errors__tolerance="all")
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    wait_until(lambda: caught_up(sink.output(), 1), 60, "the sink to catch up", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    log = sink.output()
    for o in (2, 7):
        assert f"record skipped (errors.tolerance=all, no dead-letter queue): topic={topic} partition=0 offset={o}" \
            in log, log[-3000:]
    files = committed_files(hdfs, root, topic)[0]
    ids = []
    for _, _, path in files:
        ids.extend(pq.read_table(io.BytesIO(read_bytes(hdfs, path))).column("id").to_pylist())
    assert ids == [0, 1, 3, 4, 5, 6, 8, 9]


KEY_SCHEMA = {"type": "record", "name": "OrderKey", "namespace": "com.acme",
              "fields": [{"name": "region", "type": "string"}, {"name": "n", "type": "long"}]}


def test_keys_are_converted_and_a_bad_key_fails_its_record(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                           registries):  # noqa: F811
    """key.converter=AvroConverter: keys are not written, but as in Connect each is converted
    first. A key that does not convert (wrong magic byte, unknown schema id, corrupt datum)
    is a KEY_CONVERTER dead letter under errors.tolerance=all, its value never read; null
    keys convert to null. Under errors.tolerance=none the task stops naming the record."""
    reg = registries(leader=True)
    topic, dlq = unique("badkeys"), unique("dlq")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    value_ser = AvroSerializer(client, json.dumps(ORDER_V1))
    key_ser = AvroSerializer(client, json.dumps(KEY_SCHEMA))
    vctx = SerializationContext(topic, MessageField.VALUE)
    kctx = SerializationContext(topic, MessageField.KEY)
    good_key = key_ser({"region": "eu", "n": 1}, kctx)
    poison = {
        5: (b"\x07not avro", "unknown magic byte 7"),
        6: (b"\x00\x00\x01\x86\xa0", "schema id 100000"),
        12: (good_key[:6], "region: truncated input"),
    }
    producer = Producer({"bootstrap.servers": kafka})
    for o in range(20):
        if o in poison:
            key = poison[o][0]
        elif o % 4 == 3:
            key = None
        else:
            key = key_ser({"region": "eu" if o % 2 else "us", "n": o}, kctx)
        producer.produce(topic, key=key, value=value_ser(order(o), vctx), partition=0)
    assert producer.flush(30) == 0
    worker = avro_worker(kafka, reg.url)
    worker["key.converter"] = "io.confluent.connect.avro.AvroConverter"
    worker["key.converter.schema.registry.url"] = reg.url

    # errors.tolerance=none: the task stops at the first bad key; nothing after it commits.
    root = f"/{unique('lake')}"
    strict = connector_props(unique("keys-strict"), topic, hdfs_url, root, flush__size=5, format__class=PARQUET)
    sink = Lakesink(lakesink_bin, workdir, worker, strict, name="strict")
    _, trace = sink.wait_failed(strict["name"])
    sink.stop()
    log = sink.output()
    assert f"record {topic}-0 offset 5: key converter failed" in trace, trace
    assert f"record {topic}-0 offset 5: key converter failed" in log, log[-3000:]
    assert "unknown magic byte 7" in log, log[-3000:]
    files = committed_files(hdfs, root, topic).get(0, [])
    assert all(end < 5 for _, end, _ in files), files

    # errors.tolerance=all: the bad keys' records are dead letters; every other value is written.
    root = f"/{unique('lake')}"
    tolerant = connector_props(unique("keys-dlq"), topic, hdfs_url, root, flush__size=5, format__class=PARQUET,
                               errors__tolerance="all", errors__deadletterqueue__topic__name=dlq,
                               errors__deadletterqueue__topic__replication__factor=1,
                               errors__deadletterqueue__context__headers__enable="true")
    sink = Lakesink(lakesink_bin, workdir, worker, tolerant, name="tolerant")
    letters = read_topic(kafka, dlq, len(poison), timeout=90)
    wait_until(lambda: caught_up(sink.output(), 1), 60, "the sink to catch up", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    assert [int(context(m)["offset"]) for m in letters] == sorted(poison), [context(m) for m in letters]
    for m in letters:
        c = context(m)
        o = int(c["offset"])
        assert m.key() == poison[o][0], o
        assert c["stage"] == "KEY_CONVERTER", c
        assert c["class.name"] == "io.confluent.connect.avro.AvroConverter", c
        assert c["exception.class.name"] == "org.apache.kafka.connect.errors.DataException", c
        assert poison[o][1] in c["exception.message"], (o, c["exception.message"])
    ids = []
    for _, _, path in committed_files(hdfs, root, topic)[0]:
        ids.extend(pq.read_table(io.BytesIO(read_bytes(hdfs, path))).column("id").to_pylist())
    assert ids == [o for o in range(20) if o not in poison]


# A record with an empty nested record: valid Avro, but Parquet cannot hold an empty struct.
HOLLOW = {"type": "record", "name": "Hollow", "namespace": "lakesink.test",
          "fields": [{"name": "id", "type": "long"},
                     {"name": "nothing", "type": {"type": "record", "name": "Nothing", "fields": []}}]}


def test_a_schema_the_format_cannot_hold_sends_its_records_to_the_dead_letter_queue(
        kafka, hdfs, hdfs_url, lakesink_bin, workdir, registries):  # noqa: F811
    """Records whose schema Parquet cannot write (an empty nested record) become dead letters at
    stage TASK_PUT naming the format's class; the records around them are written. Under
    errors.tolerance=none the same topic stops the task with an error naming the first of them."""
    from confluent_kafka.schema_registry import record_subject_name_strategy
    reg = registries(leader=True)
    topic, dlq = unique("hollow"), unique("dlq")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    ctx = SerializationContext(topic, MessageField.VALUE)
    orders = AvroSerializer(client, json.dumps(ORDER_V1))
    hollow = AvroSerializer(client, json.dumps(HOLLOW), conf={"subject.name.strategy": record_subject_name_strategy})
    hollow_offsets = {10, 11, 12}
    producer = Producer({"bootstrap.servers": kafka})
    expected_ids = []
    for offset in range(20):
        if offset in hollow_offsets:
            value = hollow({"id": offset, "nothing": {}}, ctx)
        else:
            value = orders(order(offset), ctx)
            expected_ids.append(offset)
        producer.produce(topic, key=f"key-{offset}".encode(), value=value, partition=0)
    assert producer.flush(30) == 0
    worker = avro_worker(kafka, reg.url)

    # errors.tolerance=none: the task stops at the first such record, committing nothing after it.
    root = f"/{unique('lake')}"
    strict = Lakesink(lakesink_bin, workdir, worker,
                      connector_props(unique("strict"), topic, hdfs_url, root, flush__size=5, format__class=PARQUET),
                      name="strict")
    wait_until(lambda: "task stopped" in strict.output(), 90, "the task to stop", strict)
    strict.stop()
    assert (f"record {topic}-0 offset 10: {PARQUET} cannot write it: " in strict.output()
            and "empty struct" in strict.output()), strict.output()[-3000:]
    assert all(end < 10 for _, end, _ in committed_files(hdfs, root, topic).get(0, [])), "nothing after it commits"

    # errors.tolerance=all: dead letters, and every other record written once.
    root = f"/{unique('lake')}"
    connector = connector_props(unique("dlq-format"), topic, hdfs_url, root, flush__size=5, format__class=PARQUET,
                                errors__tolerance="all",
                                errors__deadletterqueue__topic__name=dlq,
                                errors__deadletterqueue__topic__replication__factor=1,
                                errors__deadletterqueue__context__headers__enable="true")
    sink = Lakesink(lakesink_bin, workdir, worker, connector)
    letters = read_topic(kafka, dlq, len(hollow_offsets), timeout=90)
    wait_until(lambda: caught_up(sink.output(), 1), 60, "the sink to catch up", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    assert sorted(int(context(m)["offset"]) for m in letters) == sorted(hollow_offsets)
    for m in letters:
        c = context(m)
        assert c["stage"] == "TASK_PUT", c
        assert c["class.name"] == PARQUET, c
        assert c["exception.class.name"] == "org.apache.kafka.connect.errors.DataException", c
        assert "empty struct" in c["exception.message"], c
        assert m.key() == f"key-{c['offset']}".encode()
    ids = []
    for _, _, path in committed_files(hdfs, root, topic)[0]:
        ids.extend(pq.read_table(io.BytesIO(read_bytes(hdfs, path))).column("id").to_pylist())
    assert ids == expected_ids
