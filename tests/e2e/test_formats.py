"""Each output format, read back from HDFS with third-party readers (fastavro, pyarrow) and
compared record by record with what confluent-kafka produced."""
import base64
import datetime as dt
import decimal
import io
import json
import signal

import fastavro
import pyarrow.parquet as pq
import pytest

from conftest import (Lakesink, committed_files, reached, connector_props, create_topic, produce, read_bytes,
                      unique, wait_until, worker_props)

SCHEMA = {
    "type": "struct", "name": "com.example.Order", "version": 1, "optional": False,
    "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "small", "type": "int8", "optional": False},
        {"field": "medium", "type": "int16", "optional": False},
        {"field": "qty", "type": "int32", "optional": False},
        {"field": "ratio", "type": "float", "optional": False},
        {"field": "price", "type": "double", "optional": False},
        {"field": "paid", "type": "boolean", "optional": False},
        {"field": "customer", "type": "string", "optional": False},
        {"field": "note", "type": "string", "optional": True},
        {"field": "blob", "type": "bytes", "optional": False},
        {"field": "tags", "type": "array", "items": {"type": "string", "optional": False}, "optional": False},
        {"field": "attrs", "type": "map", "keys": {"type": "string", "optional": False},
         "values": {"type": "int32", "optional": False}, "optional": False},
        {"field": "amount", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
         "parameters": {"scale": "2"}, "optional": False},
        {"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1, "optional": False},
        {"field": "at_time", "type": "int32", "name": "org.apache.kafka.connect.data.Time", "version": 1, "optional": False},
        {"field": "at", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1, "optional": False},
        {"field": "address", "type": "struct", "optional": True, "fields": [
            {"field": "city", "type": "string", "optional": False},
            {"field": "zip", "type": "int32", "optional": True}]},
    ],
}

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def unscaled_bytes(n):
    length = max(1, (n.bit_length() + 8) // 8)
    return n.to_bytes(length, "big", signed=True)


def payload(i):
    cents = i * 137 - 5000
    return {
        "id": i, "small": i % 100 - 50, "medium": i % 30000, "qty": i * 3, "ratio": 0.5 + (i % 4) * 0.25,
        "price": i / 8.0, "paid": i % 2 == 0, "customer": f"cust-{i % 17}-é",
        "note": None if i % 3 == 0 else f"note {i}",
        "blob": base64.b64encode(bytes([i % 256, (i * 7) % 256, 0])).decode(),
        "tags": [f"t{j}" for j in range(i % 3)],
        "attrs": {f"k{j}": j * i for j in range(i % 2 + 1)},
        "amount": base64.b64encode(unscaled_bytes(cents)).decode(),
        "day": 19000 + i % 400, "at_time": (i * 1000) % 86_400_000, "at": 1_700_000_000_000 + i * 1000,
        "address": None if i % 5 == 0 else {"city": f"city{i % 7}", "zip": None if i % 2 else 10000 + i},
    }


def expected_python(p):
    """The values a reader should give for payload p (fastavro / pyarrow conventions)."""
    return {
        "id": p["id"], "small": p["small"], "medium": p["medium"], "qty": p["qty"], "ratio": p["ratio"],
        "price": p["price"], "paid": p["paid"], "customer": p["customer"], "note": p["note"],
        "blob": base64.b64decode(p["blob"]), "tags": p["tags"], "attrs": p["attrs"],
        "amount": decimal.Decimal(int.from_bytes(base64.b64decode(p["amount"]), "big", signed=True)).scaleb(-2),
        "day": dt.date(1970, 1, 1) + dt.timedelta(days=p["day"]),
        "at_time": (dt.datetime(2000, 1, 1) + dt.timedelta(milliseconds=p["at_time"])).time(),
        "at": EPOCH + dt.timedelta(milliseconds=p["at"]),
        "address": p["address"],
    }


def run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir, fmt_class, extra, n=2500, partitions=2,
                    flush=1000, values=None, worker=None):
    topic = unique("fmt")
    root = f"/{unique('lake')}"
    create_topic(kafka, topic, partitions)
    if values is None:
        values = [json.dumps({"schema": SCHEMA, "payload": payload(i)}).encode() for i in range(n)]
    produced = produce(kafka, topic, values, partition_fn=lambda i: i % partitions)
    connector = connector_props(unique("c"), topic, hdfs_url, root, flush__size=flush, format__class=fmt_class, **extra)
    sink = Lakesink(lakesink_bin, workdir, worker or worker_props(kafka), connector)
    per_partition = {p: sum(1 for (pp, _) in produced if pp == p) for p in range(partitions)}
    full = {p: (c // flush) * flush for p, c in per_partition.items()}
    try:
        wait_until(lambda: reached(hdfs, root, topic, full), 120, "flush.size files", sink)
    finally:
        code = sink.stop()
    assert code == 0, sink.output()[-3000:]
    assert "partitions revoked" in sink.output()
    files = committed_files(hdfs, root, topic)
    # Graceful stop committed the partial files too: every offset is covered exactly once.
    for p, count in per_partition.items():
        offsets = [o for s, e, _ in files[p] for o in range(s, e + 1)]
        assert offsets == list(range(count)), f"partition {p}"
    return produced, files


def by_offset(produced, p):
    return [json.loads(v)["payload"] for (pp, o), v in sorted(produced.items()) if pp == p]


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "zstandard"])
def test_avro(kafka, hdfs, hdfs_url, lakesink_bin, workdir, codec):
    produced, files = run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                      "io.confluent.connect.hdfs3.avro.AvroFormat", {"avro__codec": codec})
    for p, fs in files.items():
        rows = []
        for start, end, path in fs:
            assert path.endswith(".avro")
            reader = fastavro.reader(io.BytesIO(read_bytes(hdfs, path)))
            assert reader.metadata["avro.codec"] == codec
            assert reader.writer_schema["name"] == "com.example.Order"
            chunk = list(reader)
            assert len(chunk) == end - start + 1
            rows.extend(chunk)
        expected = [expected_python(x) for x in by_offset(produced, p)]
        assert len(rows) == len(expected)
        for got, want in zip(rows, expected):
            assert got == want


@pytest.mark.parametrize("codec,arrow_name", [("snappy", "SNAPPY"), ("zstd", "ZSTD"), ("gzip", "GZIP"), ("none", "UNCOMPRESSED")])
def test_parquet(kafka, hdfs, hdfs_url, lakesink_bin, workdir, codec, arrow_name):
    produced, files = run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                      "io.confluent.connect.hdfs.parquet.ParquetFormat", {"parquet__codec": codec})
    for p, fs in files.items():
        rows = []
        for start, end, path in fs:
            assert path.endswith(".parquet")
            f = pq.ParquetFile(io.BytesIO(read_bytes(hdfs, path)))
            assert f.metadata.row_group(0).column(0).compression == arrow_name
            table = f.read()
            assert str(table.schema.field("at").type) == "timestamp[ms, tz=UTC]"
            chunk = table.to_pylist()
            assert len(chunk) == end - start + 1
            rows.extend(chunk)
        expected = [expected_python(x) for x in by_offset(produced, p)]
        assert len(rows) == len(expected)
        for got, want in zip(rows, expected):
            got["attrs"] = dict(got["attrs"])
            assert got == want


def test_json(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    produced, files = run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                      "io.confluent.connect.hdfs.json.JsonFormat", {})
    for p, fs in files.items():
        lines = []
        for _, _, path in fs:
            assert path.endswith(".json")
            lines.extend(read_bytes(hdfs, path).decode().splitlines())
        # Connect's JsonConverter (schemas.enable=false) form of each value equals its payload.
        assert [json.loads(line) for line in lines] == by_offset(produced, p)


def test_schemaless_json_and_string(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    values = [json.dumps({"n": i, "s": "x" * (i % 5), "nested": {"a": [i]}}).encode() for i in range(1500)]
    produced, files = run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                      "io.confluent.connect.hdfs.json.JsonFormat", {}, values=values,
                                      worker=worker_props(kafka, schemas=False), flush=500)
    for p, fs in files.items():
        lines = [line for _, _, path in fs for line in read_bytes(hdfs, path).decode().splitlines()]
        assert [json.loads(line) for line in lines] == [json.loads(v) for (pp, _), v in sorted(produced.items()) if pp == p]


def test_string_format(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    values = [f"line {i} ünïcode".encode() for i in range(1200)]
    produced, files = run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir,
                                      "io.confluent.connect.hdfs.string.StringFormat", {}, values=values,
                                      worker=worker_props(kafka, "org.apache.kafka.connect.storage.StringConverter"),
                                      flush=400)
    for p, fs in files.items():
        assert all(path.endswith(".txt") for _, _, path in fs)
        lines = [line for _, _, path in fs for line in read_bytes(hdfs, path).decode().split("\n") if line]
        assert lines == [v.decode() for (pp, _), v in sorted(produced.items()) if pp == p]
