"""AvroConverter end to end: records produced by confluent-kafka's AvroSerializer against
`lakesink registry` are written to HDFS as Parquet and Avro files whose values, read back
with pyarrow and fastavro, equal what was produced; a schema change starts a new file; a
record that is not in the Confluent wire format stops the task naming its offset."""
import datetime
import decimal
import io
import json
import time

import fastavro
import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import (Lakesink, caught_up, committed_files, connector_props, create_topic, read_bytes, unique, wait_until,
                      worker_props)
from registry_support import registries  # noqa: F401  (fixture)

ORDER_V1 = {
    "type": "record", "name": "Order", "namespace": "com.acme",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "name", "type": "string"},
            {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["GOLD", "SILVER"]}},
        ]}},
        {"name": "items", "type": {"type": "array", "items": "string"}},
        {"name": "attributes", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ratio", "type": "double"},
        {"name": "flag", "type": "boolean"},
    ],
}
# Version 2 adds an optional field: BACKWARD compatible, a new writer schema id.
ORDER_V2 = {**ORDER_V1, "fields": ORDER_V1["fields"] + [{"name": "channel", "type": ["null", "string"], "default": None}]}

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def order(i, v2=False):
    o = {
        "id": i,
        "customer": {"name": f"customer-{i % 7}", "tier": "GOLD" if i % 2 else "SILVER"},
        "items": [f"sku-{i}", f"sku-{i + 1}"][: i % 3],
        "attributes": {"a": i, "b": None} if i % 4 else {},
        "note": None if i % 5 else f"note {i}",
        "amount": decimal.Decimal(i * 7 % 100000) / 100,
        "day": datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 300),
        "at": EPOCH + datetime.timedelta(milliseconds=1_700_000_000_000 + i * 1000),
        "ratio": i / 8,
        "flag": i % 3 == 0,
    }
    if v2:
        o["channel"] = "web" if i % 2 else None
    return o


def avro_worker(kafka, registry_url):
    """Worker settings reading values with AvroConverter from `registry_url`."""
    worker = worker_props(kafka, converter="io.confluent.connect.avro.AvroConverter")
    worker.pop("value.converter.schemas.enable")
    worker["value.converter.schema.registry.url"] = registry_url
    return worker


def produce_orders(kafka, url, topic, orders_v1, orders_v2, extra_raw=None):
    """Produces v1 then v2 records to partition 0 and returns [(offset, value)]."""
    client = SchemaRegistryClient({"url": url})
    ser = {1: AvroSerializer(client, json.dumps(ORDER_V1)),
           2: AvroSerializer(client, json.dumps(ORDER_V2))}
    producer = Producer({"bootstrap.servers": kafka})
    ctx = SerializationContext(topic, MessageField.VALUE)
    produced = []
    for version, values in ((1, orders_v1), (2, orders_v2)):
        for v in values:
            producer.produce(topic, value=ser[version](v, ctx), partition=0)
            produced.append(v)
    if extra_raw is not None:
        producer.produce(topic, value=extra_raw, partition=0)
    assert producer.flush(30) == 0
    return produced, client


def test_avro_converter_writes_parquet_and_avro_read_back_record_by_record(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                             workdir, registries):  # noqa: F811
    reg = registries(leader=True)
    topic = unique("avro-in")
    create_topic(kafka, topic, 1)
    v1 = [order(i) for i in range(250)]
    v2 = [order(250 + i, v2=True) for i in range(250)]
    produced, client = produce_orders(kafka, reg.url, topic, v1, v2)
    assert client.get_latest_version(f"{topic}-value").version == 2
    worker = avro_worker(kafka, reg.url)
    for fmt, ext in (("io.confluent.connect.hdfs3.parquet.ParquetFormat", "parquet"),
                     ("io.confluent.connect.hdfs3.avro.AvroFormat", "avro")):
        root = f"/{unique('lake')}"
        connector = connector_props(unique("avro-sink"), topic, hdfs_url, root, flush__size=100,
                                    format__class=fmt)
        sink = Lakesink(lakesink_bin, workdir, worker, connector, name=f"avro-{ext}")
        # Two full v1 files, the v1 tail committed by the schema change at offset 250, two
        # full v2 files; the graceful stop commits the last 50.
        wait_until(lambda: sum(e - s + 1 for s, e, _ in committed_files(hdfs, root, topic).get(0, [])) >= 450,
                   120, f"{ext} files of 450 records", sink)
        assert sink.stop() == 0, sink.output()[-3000:]
        files = committed_files(hdfs, root, topic)[0]
        assert [(s, e) for s, e, _ in files] == [(0, 99), (100, 199), (200, 249), (250, 349), (350, 449),
                                                  (450, 499)]
        rows = []
        for _, _, path in files:
            assert path.endswith("." + ext), path
            data = read_bytes(hdfs, path)
            if ext == "parquet":
                table = pq.read_table(io.BytesIO(data))
                rows.extend(table.to_pylist())
            else:
                reader = fastavro.reader(io.BytesIO(data))
                rows.extend(reader)
        assert len(rows) == len(produced)
        for i, (got, want) in enumerate(zip(rows, produced)):
            assert got["id"] == want["id"], i
            assert got["customer"]["name"] == want["customer"]["name"], i
            assert got["customer"]["tier"] == want["customer"]["tier"], i
            assert list(got["items"]) == want["items"], i
            got_attrs = dict(got["attributes"]) if got["attributes"] is not None else {}
            assert got_attrs == want["attributes"], i
            assert got["note"] == want["note"], i
            # Logical types arrive typed: decimal, date and UTC timestamp, not strings or numbers.
            assert isinstance(got["amount"], decimal.Decimal) and got["amount"] == want["amount"], (i, got["amount"])
            assert type(got["day"]) is datetime.date and got["day"] == want["day"], (i, got["day"])
            assert isinstance(got["at"], datetime.datetime) and got["at"] == want["at"], (i, got["at"])
            assert got["ratio"] == want["ratio"], i
            assert got["flag"] == want["flag"], i
            if i >= 250:
                assert got["channel"] == want["channel"], i
            else:
                assert "channel" not in got, i


def test_a_record_outside_the_wire_format_stops_the_task_naming_it(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                                   registries):  # noqa: F811
    reg = registries(leader=True)
    topic = unique("avro-bad")
    create_topic(kafka, topic, 1)
    produce_orders(kafka, reg.url, topic, [order(i) for i in range(10)], [], extra_raw=b"\x07garbage")
    root = f"/{unique('lake')}"
    worker = avro_worker(kafka, reg.url)
    connector = connector_props(unique("avro-bad"), topic, hdfs_url, root, flush__size=5,
                                format__class="io.confluent.connect.hdfs3.parquet.ParquetFormat")
    sink = Lakesink(lakesink_bin, workdir, worker, connector)
    # The task fails and stays FAILED; its REST status names the record, as Connect's trace does.
    _, trace = sink.wait_failed(connector["name"])
    sink.stop()
    log = sink.output()
    assert f"{topic}-0 offset 10" in trace and "unknown magic byte 7" in trace, trace
    assert f"{topic}-0 offset 10" in log and "unknown magic byte 7" in log, log[-3000:]
    # Nothing at or after the bad record is committed.
    files = committed_files(hdfs, root, topic).get(0, [])
    assert all(e < 10 for _, e, _ in files), files


def test_registry_down_for_30_s_loses_nothing(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                              registries):  # noqa: F811
    """Records whose writer schema the sink has not fetched yet arrive while the registry is
    down for 30 s: the sink retries (logging each retry), then writes every record once, and
    no record is reported as bad: with errors.tolerance=all and a dead-letter queue, the
    queue stays empty (a transient failure is never a bad record)."""
    reg = registries(leader=True)
    topic = unique("avro-down")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    ctx = SerializationContext(topic, MessageField.VALUE)
    v1, v2 = AvroSerializer(client, json.dumps(ORDER_V1)), AvroSerializer(client, json.dumps(ORDER_V2))
    first = [v1(order(i), ctx) for i in range(100)]
    # v2 is registered now, but its records are produced only once the registry is down.
    second = [v2(order(100 + i, v2=True), ctx) for i in range(100)]
    producer = Producer({"bootstrap.servers": kafka})
    for value in first:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    worker = avro_worker(kafka, reg.url)
    dlq = unique("avro-down-dlq")
    connector = connector_props(unique("avro-down"), topic, hdfs_url, root, flush__size=50,
                                format__class="io.confluent.connect.hdfs3.parquet.ParquetFormat",
                                errors__tolerance="all", errors__deadletterqueue__topic__name=dlq,
                                errors__deadletterqueue__topic__replication__factor=1)
    sink = Lakesink(lakesink_bin, workdir, worker, connector)
    covered = lambda: sum(e - s + 1 for s, e, _ in committed_files(hdfs, root, topic).get(0, []))  # noqa: E731
    wait_until(lambda: covered() >= 100, 90, "the first 100 records", sink)
    port, store_topic, group = reg.port, reg.topic, reg.group
    assert reg.stop() == 0
    down_at = time.time()
    for value in second:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0
    wait_until(lambda: "Schema Registry unavailable, retrying" in sink.output(), 60, "a logged retry", sink)
    time.sleep(max(0.0, 30 - (time.time() - down_at)))
    assert covered() == 100, "records were written without their schema"
    registries(topic=store_topic, group=group, port=port, leader=True)
    wait_until(lambda: covered() >= 200, 120, "the records after the outage", sink)
    assert sink.alive(), "the task stopped during the outage"
    # /metrics counts the retries and the failed and successful fetches.
    from prometheus_client.parser import text_string_to_metric_families
    samples = {(s.name, s.labels.get("result")): s.value
               for f in text_string_to_metric_families(sink.rest("GET", "/metrics").body.decode())
               for s in f.samples}
    retries = sink.output().count("Schema Registry unavailable, retrying")
    assert samples[("lakesink_registry_retries_total", None)] == retries, (samples, retries)
    assert samples[("lakesink_registry_requests_total", "unreachable")] >= retries
    assert samples[("lakesink_registry_requests_total", "ok")] >= 1
    assert sink.stop() == 0, sink.output()[-3000:]
    files = committed_files(hdfs, root, topic)[0]
    assert [(s, e) for s, e, _ in files] == [(0, 49), (50, 99), (100, 149), (150, 199)], files
    ids = []
    for _, _, path in files:
        ids.extend(pq.read_table(io.BytesIO(read_bytes(hdfs, path))).column("id").to_pylist())
    assert ids == list(range(200))
    dead = Consumer({"bootstrap.servers": kafka, "group.id": unique("dlq-check"), "auto.offset.reset": "earliest"})
    low, high = dead.get_watermark_offsets(TopicPartition(dlq, 0), timeout=10)
    dead.close()
    assert (low, high) == (0, 0), "records went to the dead-letter queue"


def test_a_stop_during_a_registry_outage_is_prompt(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                                   registries):  # noqa: F811
    """SIGTERM while the sink retries an unreachable registry ends the process within
    seconds, not after the retry window, and commits nothing it could not decode."""
    reg = registries(leader=True)
    topic = unique("avro-stop")
    create_topic(kafka, topic, 1)
    produce_orders(kafka, reg.url, topic, [order(i) for i in range(20)], [])
    assert reg.stop() == 0
    root = f"/{unique('lake')}"
    connector = connector_props(unique("avro-stop"), topic, hdfs_url, root, flush__size=5,
                                format__class="io.confluent.connect.hdfs3.parquet.ParquetFormat")
    sink = Lakesink(lakesink_bin, workdir, avro_worker(kafka, reg.url), connector)
    wait_until(lambda: "Schema Registry unavailable, retrying" in sink.output(), 60, "a logged retry", sink)
    started = time.time()
    sink.stop(timeout=60)
    assert time.time() - started < 30, sink.output()[-3000:]
    assert committed_files(hdfs, root, topic).get(0, []) == []


def test_avro_files_carry_the_writer_schema_and_the_records_datums_unchanged(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                              workdir, registries):  # noqa: F811
    """AvroConverter into AvroFormat: each file's header is the writer schema as the registry
    holds it (the enum stays an enum) with Connect's version and name on the record, its blocks hold the Kafka payloads after their 5-byte
    prefix byte for byte (no decoding and re-encoding), and under BACKWARD the v1 records that
    follow v2 ones are projected and encoded into the v2 file, readable with it."""
    reg = registries(leader=True)
    topic = unique("avro-copy")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": reg.url})
    ser = {1: AvroSerializer(client, json.dumps(ORDER_V1)), 2: AvroSerializer(client, json.dumps(ORDER_V2))}
    ctx = SerializationContext(topic, MessageField.VALUE)
    plan = [(1, i) for i in range(30)] + [(2, i) for i in range(30, 60)] + [(1, i) for i in range(60, 70)]
    payloads = [ser[v](order(i, v2=v == 2), ctx) for v, i in plan]
    producer = Producer({"bootstrap.servers": kafka})
    for p in payloads:
        producer.produce(topic, value=p, partition=0)
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    connector = connector_props(unique("avro-copy"), topic, hdfs_url, root, flush__size=1000,
                                format__class="io.confluent.connect.hdfs3.avro.AvroFormat",
                                schema__compatibility="BACKWARD", avro__codec="null")
    sink = Lakesink(lakesink_bin, workdir, avro_worker(kafka, reg.url), connector, name="avro-copy")
    wait_until(lambda: caught_up(sink.output(), 1), 120, "the topic read to the end", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    files = committed_files(hdfs, root, topic)[0]
    assert [(s, e) for s, e, _ in files] == [(0, 29), (30, 69)], files

    for (start, end, path), version in zip(files, (1, 2)):
        data = read_bytes(hdfs, path)
        schema_id = int.from_bytes(payloads[start][1:5], "big")
        registered = client.get_schema(schema_id).schema_str
        header = json.loads(fastavro.reader(io.BytesIO(data)).metadata["avro.schema"])
        # The writer schema, with the version and name Confluent's sink puts on the record.
        assert header.pop("connect.version") == version and header.pop("connect.name") == "com.acme.Order", header
        assert header == json.loads(registered), (header, registered)
        tier = [f for f in header["fields"] if f["name"] == "customer"][0]["type"]["fields"][1]
        assert tier["type"]["type"] == "enum", tier
        blocks = b"".join(b.bytes_.getvalue() for b in fastavro.block_reader(io.BytesIO(data)))
        copied = [p[5:] for p in payloads[start:end + 1] if int.from_bytes(p[1:5], "big") == schema_id]
        assert len(copied) == 30, len(copied)
        # The file's first 30 rows are the records' datums, byte for byte.
        assert blocks.startswith(b"".join(copied)), version
        rows = list(fastavro.reader(io.BytesIO(data)))
        assert [r["id"] for r in rows] == list(range(start, end + 1))
        for r in rows:
            i = r["id"]
            want = order(i, v2=30 <= i < 60)
            assert r["customer"] == want["customer"] and r["items"] == want["items"], (i, r)
            assert r["note"] == want["note"] and r["amount"] == want["amount"] and r["at"] == want["at"], (i, r)
            assert dict(r["attributes"]) == want["attributes"], (i, r)
            if version == 2:
                # Projected v1 records take the new field's default.
                assert r["channel"] == (want["channel"] if i < 60 else None), (i, r)
