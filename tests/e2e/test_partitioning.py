"""Partitioners and directory layout: FieldPartitioner's Hive-style directories (escaped values,
read back by pyarrow and Spark partition discovery), TimeBasedPartitioner across a DST change,
DailyPartitioner with Kafka timestamps before 1970, `${...}` variables in topics.dir/logs.dir
with per-topic flush sizes, and partitioner settings that are wrong.

Every expectation is computed here (zoneinfo, datetime, a Python Hive escaper), never taken
from Lakesink's output."""
import collections
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import subprocess
import uuid
import zoneinfo

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import (Lakesink, committed_files_deep, connector_props, create_topic, produce, read_bytes, unique,
                      wait_until, worker_props, write_properties)

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


# A graceful stop first writes the batches already read from Kafka but still queued for the
# partition writers, then commits the open files, all within shutdown.timeout.ms (3 s by
# default); what does not make it is consumed again by the next run. Closing a file on the
# test bed's HDFS takes about half a second (the client's complete() retry), so the tests do
# not depend on the 3 s default and allow the stop a minute: `caught up` + stop must then leave
# every record committed.
STOP_BUDGET_MS = 60000


def drain_and_stop(sink, timeout=120):
    """Waits until the task has read every assigned partition to its end, then stops it
    gracefully (which writes what was read and commits every open file); the stop must succeed
    and must not have given up on any open file."""
    try:
        wait_until(lambda: "caught up" in sink.output(), timeout, "the 'caught up' log line", sink)
    finally:
        code = sink.stop()
    assert code == 0, sink.output()[-3000:]
    assert "took longer than shutdown.timeout.ms" not in sink.output(), sink.output()[-3000:]


# Characters Hive's FileUtils.escapePathName escapes (0x01-0x1F, 0x7F and this punctuation), as
# %XX with uppercase hex digits.
HIVE_SPECIAL = {chr(c) for c in range(0x01, 0x20)} | set('"#%\'*/:=?\\\x7f{[]^')


def hive_escape(value):
    return "".join(f"%{ord(c):02X}" if c in HIVE_SPECIAL else c for c in value)


def list_tree(hdfs, base):
    """Every path (directories and files) below base, relative to it."""
    out, stack = [], [base]
    while stack:
        d = stack.pop()
        for e in hdfs.list_status(d):
            out.append(e.path[len(base) + 1:])
            if e.isdir:
                stack.append(e.path)
    return sorted(out)


# ---------------------------------------------------------------------------------------------
# 1. FieldPartitioner: Hive layout, read by pyarrow and Spark

VISIT = {
    "type": "struct", "name": "com.example.Visit", "optional": False,
    "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "country", "type": "string", "optional": False},
        {"field": "device", "type": "struct", "optional": True, "fields": [
            {"field": "os", "type": "string", "optional": True},
            {"field": "model", "type": "string", "optional": False}]},
        {"field": "amount", "type": "double", "optional": False},
    ],
}
# Values that need Hive escaping ('/', ':', '\'', '=', '%'), one with a space and non-ASCII
# letters (left as they are), and plain ones.
COUNTRIES = ["US", "DE", "C:te/d'Ivoire", "a/b=c%d", "São Tomé", "x y"]
OSES = ["android", "ios", None, "linux:6.1"]


def visit(i, rng):
    country = rng.choice(COUNTRIES)
    if i % 97 == 0:
        device = None  # a null parent struct: device.os is null too
    else:
        device = {"os": rng.choice(OSES), "model": f"m{i % 7}"}
    return {"id": i, "country": country, "device": device, "amount": i / 4.0}


def test_field_partitioner_hive_layout_read_by_pyarrow_and_spark(kafka, hdfs, hdfs_url, lakesink_bin, workdir, spark):
    topic, root, partitions, flush = unique("field"), f"/{unique('lake')}", 3, 1000
    create_topic(kafka, topic, partitions)
    rng = random.Random(5)
    payloads = [visit(i, rng) for i in range(3000)]
    produced = produce(kafka, topic, [json.dumps({"schema": VISIT, "payload": p}).encode() for p in payloads],
                       partition_fn=lambda i: i % partitions)
    where = {json.loads(v)["payload"]["id"]: po for po, v in produced.items()}
    by_id = {p["id"]: p for p in payloads}

    def os_of(p):
        return None if p["device"] is None else p["device"]["os"]

    def expected_dir(p):
        os_value = os_of(p)
        return (f"country={hive_escape(p['country'])}/"
                f"device.os={'null' if os_value is None else hive_escape(os_value)}")

    connector = connector_props(unique("field"), topic, hdfs_url, root, flush__size=flush,
                                format__class="io.confluent.connect.hdfs.parquet.ParquetFormat",
                                partitioner__class="io.confluent.connect.storage.partitioner.FieldPartitioner",
                                partition__field__name="country,device.os", shutdown__timeout__ms=STOP_BUDGET_MS)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    drain_and_stop(sink)

    files = committed_files_deep(hdfs, root, topic)
    assert {rel for rel, *_ in files} == {expected_dir(p) for p in payloads}
    # The escaped names, spelled out once for the special values.
    assert "country=C%3Ate%2Fd%27Ivoire/device.os=linux%3A6.1" in {rel for rel, *_ in files}
    assert "country=a%2Fb%3Dc%25d/device.os=null" in {rel for rel, *_ in files}
    assert "country=São Tomé/device.os=ios" in {rel for rel, *_ in files}

    seen = {}
    for rel, part, start, end, path in files:
        assert path.endswith(".parquet"), path
        rows = pq.ParquetFile(io.BytesIO(read_bytes(hdfs, path))).read().to_pylist()
        assert 1 <= len(rows) <= flush, path
        offsets = []
        for row in rows:
            i = row["id"]
            assert i not in seen, f"id {i} in {path} and {seen[i]}"
            seen[i] = path
            assert row == by_id[i], path
            assert rel == expected_dir(by_id[i]), f"id {i} in {path}"
            assert where[i][0] == part, f"id {i} is from partition {where[i][0]}, not {part}"
            offsets.append(where[i][1])
        assert offsets == sorted(offsets) and (offsets[0], offsets[-1]) == (start, end), path
    assert seen.keys() == by_id.keys(), f"{len(by_id.keys() - seen.keys())} records missing"

    # -- pyarrow: a local copy of the committed tree, relative paths preserved.
    base = f"{root}/topics/{topic}"
    local = os.path.join(workdir, "tree")
    for rel, _, _, _, path in files:
        assert path == f"{base}/{rel}/{path.rsplit('/', 1)[1]}", path
        os.makedirs(os.path.join(local, rel), exist_ok=True)
        with open(os.path.join(local, rel, path.rsplit("/", 1)[1]), "wb") as f:
            f.write(read_bytes(hdfs, path))
    dataset = ds.dataset(local, format="parquet", partitioning="hive")
    # pyarrow URI-decodes the %XX escapes of hive directory values. A null field value gives
    # `device.os=null` (as in Confluent's FieldPartitioner), which pyarrow and Spark both read
    # back as the string "null", not as a null: they take only __HIVE_DEFAULT_PARTITION__ for
    # a null (pyarrow's null_fallback, Spark's default partition name). A record whose os is the
    # string "null" would share that directory.
    for fragment in dataset.get_fragments():
        keys = ds.get_partition_keys(fragment.partition_expression)
        ids = fragment.to_table(columns=["id"]).column("id").to_pylist()
        assert ids
        for i in ids:
            want_os = os_of(by_id[i])
            assert keys == {"country": by_id[i]["country"], "device.os": "null" if want_os is None else want_os}, \
                (fragment.path, i)
    table = dataset.to_table()
    assert table.num_rows == len(payloads)
    assert str(table.schema.field("device.os").type) == "string"
    for row in table.select(["id", "country", "device.os"]).to_pylist():
        want = by_id[row["id"]]
        assert row["country"] == want["country"]
        assert row["device.os"] == ("null" if os_of(want) is None else os_of(want))
    per_country = collections.Counter(p["country"] for p in payloads)
    assert collections.Counter(table.column("country").to_pylist()) == per_country

    # -- Spark: partition discovery straight from HDFS. `country` becomes a partition column
    # whose values come from the directory names, not from the files' own `country` column
    # (Spark's rule when a partition column overlaps a data column); `device.os` is a new
    # top-level column named with the dot, next to the files' struct column `device`.
    from pyspark.sql import functions as F
    df = spark.read.parquet(hdfs_url + base)
    types = dict(df.dtypes)
    assert types["country"] == "string" and types["device.os"] == "string", df.dtypes
    counts = {r["country"]: r["n"] for r in df.groupBy("country").agg(F.count("*").alias("n")).collect()}
    assert counts == dict(per_country)
    # A filter on the original value prunes to its (escaped) directories.
    for country, n in per_country.items():
        assert df.where(F.col("country") == country).count() == n, country
    assert df.where(F.col("`device.os`").isNull()).count() == 0
    assert df.where(F.col("`device.os`") == "null").count() == sum(os_of(p) is None for p in payloads)
    rows = df.select("id", "country", F.col("`device.os`").alias("os_dir"),
                     F.col("device.os").alias("os_file")).collect()
    assert len(rows) == len(payloads)
    for r in rows:
        want = by_id[r["id"]]
        assert r["country"] == want["country"], r
        assert r["os_file"] == os_of(want), r
        # As in pyarrow: the directory value `null` is the string "null", not a SQL NULL.
        assert r["os_dir"] == ("null" if os_of(want) is None else os_of(want)), r


# ---------------------------------------------------------------------------------------------
# 2. TimeBasedPartitioner on a record field, across the fall-back DST change in New York

def event_schema(ts_type):
    return {
        "type": "struct", "name": "com.example.Click", "optional": False,
        "fields": [
            {"field": "id", "type": "int64", "optional": False},
            {"field": "event", "type": "struct", "optional": False, "fields": [
                {"field": "ts", "type": ts_type, "optional": False},
                {"field": "kind", "type": "string", "optional": False}]},
        ],
    }


def ny_hour_dir(ts_ms):
    local = (EPOCH + dt.timedelta(milliseconds=ts_ms)).astimezone(NEW_YORK)
    return local.strftime("dt=%Y-%m-%d/hr=%H")


def iso_with_offset(ts_ms, i):
    """The instant ts_ms as ISO-8601 text in one of several offsets (New York local, UTC as Z,
    +05:30), so that only the instant, not the written offset, decides the directory."""
    t = EPOCH + dt.timedelta(milliseconds=ts_ms)
    zone = [NEW_YORK, UTC, dt.timezone(dt.timedelta(hours=5, minutes=30))][i % 3]
    text = t.astimezone(zone).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def test_time_partitioner_record_field_across_dst(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    prefix, root, partitions, flush = unique("dst"), f"/{unique('lake')}", 2, 50
    topics = {"int": f"{prefix}-epoch", "iso": f"{prefix}-iso"}
    start = int(dt.datetime(2024, 11, 2, 12, 0, tzinfo=NEW_YORK).timestamp() * 1000)
    stop = int(dt.datetime(2024, 11, 4, 0, 0, tzinfo=NEW_YORK).timestamp() * 1000)
    assert (stop - start) // 3_600_000 == 37  # 36 wall-clock hours plus the repeated one
    # 2024-11-03 01:00-02:00 local happens twice: 05:00-06:00 UTC (EDT) and 06:00-07:00 UTC (EST).
    edges = [dt.datetime(2024, 11, 3, h, m, s, us, tzinfo=UTC) for h, m, s, us in
             [(4, 59, 59, 999000), (5, 0, 0, 0), (5, 30, 0, 0), (5, 59, 59, 999000), (6, 0, 0, 0),
              (6, 30, 0, 0), (6, 59, 59, 999000), (7, 0, 0, 0)]]
    edge_ms = [int(e.timestamp() * 1000) for e in edges]
    assert [ny_hour_dir(ms)[-5:] for ms in edge_ms] == ["hr=00", "hr=01", "hr=01", "hr=01", "hr=01", "hr=01",
                                                         "hr=01", "hr=02"]
    rng = random.Random(3)
    # Spread over the whole range, plus a crowd in the repeated hour so that its directory
    # fills several files (without making many more commits, each of which closes HDFS files).
    repeated_start, repeated_stop = edge_ms[1], edge_ms[-1]
    spread = {"int": 1200, "iso": 600}
    crowd = {"int": 400, "iso": 100}
    stamps = {kind: edge_ms + [rng.randrange(start, stop) for _ in range(spread[kind])]
              + [rng.randrange(repeated_start, repeated_stop) for _ in range(crowd[kind])] for kind in spread}
    counts = {kind: len(s) for kind, s in stamps.items()}
    for s in stamps.values():
        rng.shuffle(s)  # out of order in every partition
    for kind, topic in topics.items():
        create_topic(kafka, topic, partitions)
    produced = {}
    for kind, topic in topics.items():
        schema = event_schema("int64" if kind == "int" else "string")
        values = [json.dumps({"schema": schema, "payload": {
            "id": i, "event": {"ts": ts if kind == "int" else iso_with_offset(ts, i), "kind": f"k{i % 3}"}}}).encode()
            for i, ts in enumerate(stamps[kind])]
        produced[kind] = produce(kafka, topic, values, partition_fn=lambda i: i % partitions)

    connector = connector_props(
        unique("dst"), ",".join(topics.values()), hdfs_url, root, flush__size=flush,
        format__class="io.confluent.connect.hdfs.json.JsonFormat",
        partitioner__class="io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
        path__format="'dt'=yyyy-MM-dd/'hr'=HH", partition__duration__ms=3600000, locale="en-US",
        timezone="America/New_York", timestamp__extractor="RecordField", timestamp__field="event.ts",
        shutdown__timeout__ms=STOP_BUDGET_MS)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    drain_and_stop(sink)

    for kind, topic in topics.items():
        where = {json.loads(v)["payload"]["id"]: po for po, v in produced[kind].items()}
        files = committed_files_deep(hdfs, root, topic)
        dirs = {rel for rel, *_ in files}
        assert dirs == {ny_hour_dir(ts) for ts in stamps[kind]}, kind
        assert len(dirs) >= 30, (kind, len(dirs))
        assert "dt=2024-11-03/hr=01" in dirs
        seen = {}
        per_dir_partition = collections.defaultdict(list)
        for rel, part, first, last, path in files:
            assert path.endswith(".json"), path
            lines = read_bytes(hdfs, path).decode().splitlines()
            assert 1 <= len(lines) <= flush, path
            offsets = []
            for line in lines:
                record = json.loads(line)
                i = record["id"]
                assert i not in seen, f"{kind} id {i} in {path} and {seen[i]}"
                seen[i] = path
                ts = stamps[kind][i]
                assert record["event"]["ts"] == (ts if kind == "int" else iso_with_offset(ts, i))
                assert rel == ny_hour_dir(ts), f"{kind} id {i} (ts {ts}) in {path}"
                assert where[i][0] == part, path
                offsets.append(where[i][1])
            assert offsets == sorted(offsets), f"{path}: lines not in offset order"
            assert (offsets[0], offsets[-1]) == (first, last), f"{path}: name's range != its records"
            per_dir_partition[(rel, part)].append((first, len(lines)))
        assert len(seen) == counts[kind], f"{kind}: {counts[kind] - len(seen)} records missing"
        for key, sizes in per_dir_partition.items():
            assert all(n == flush for _, n in sorted(sizes)[:-1]), (kind, key, sorted(sizes))
        assert any(len(sizes) > 1 for sizes in per_dir_partition.values()), kind
        # Both passes through 01:xx local went to the one hr=01 directory.
        repeated = {i for i, ts in enumerate(stamps[kind]) if ny_hour_dir(ts) == "dt=2024-11-03/hr=01"}
        assert all(f"/{topic}/dt=2024-11-03/hr=01/" in seen[i] for i in repeated)
        utc_hours = {(EPOCH + dt.timedelta(milliseconds=stamps[kind][i])).hour for i in repeated}
        assert utc_hours == {5, 6}, utc_hours


# ---------------------------------------------------------------------------------------------
# 3. DailyPartitioner on Kafka timestamps, some before 1970

def produce_with_timestamps(kafka, topic, values, stamps):
    """Produces to partition 0 with explicit CreateTime timestamps; returns {offset: value}."""
    delivered, errors = {}, []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[msg.offset()] = msg.value()

    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 20, "enable.idempotence": True})
    for v, ts in zip(values, stamps):
        producer.produce(topic, value=v, partition=0, timestamp=ts, on_delivery=on_delivery)
    assert producer.flush(60) == 0 and not errors, errors[:5]
    return delivered


def read_timestamps(kafka, topic, n):
    """{offset: Kafka timestamp} of the first n records of partition 0, as the broker keeps them."""
    c = Consumer({"bootstrap.servers": kafka, "group.id": unique("ts-check"), "enable.auto.commit": False})
    out = {}
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        for _ in range(200):
            if len(out) >= n:
                break
            for m in c.consume(1000, 1.0):
                if m.error() is None:
                    out[m.offset()] = m.timestamp()[1]
    finally:
        c.close()
    return out


def test_daily_partitioner_with_record_timestamps_before_1970(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic, root = unique("daily"), f"/{unique('lake')}"
    create_topic(kafka, topic, 1)

    def ms(*args):
        return int((dt.datetime(*args, tzinfo=UTC) - EPOCH) / dt.timedelta(milliseconds=1))

    # Not 0 and -1: librdkafka sends 0 as "now", and -1 is Kafka's "no timestamp".
    edges = [ms(1900, 1, 1), ms(1900, 1, 1) - 1, ms(1960, 2, 29, 12), ms(1969, 12, 31), ms(1969, 12, 31) - 1, -2,
             -86_400_000, -86_400_001, 1, 86_399_999, 86_400_000, ms(2024, 2, 29, 23, 59, 59, 999000),
             ms(2024, 3, 1)]
    rng = random.Random(8)
    stamps = edges + [rng.randrange(ms(1969, 12, 25), ms(1970, 1, 8)) for _ in range(300)]
    stamps = [t for t in stamps if t not in (0, -1)]
    rng.shuffle(stamps)
    values = [json.dumps({"id": i, "ts": ts}).encode() for i, ts in enumerate(stamps)]
    delivered = produce_with_timestamps(kafka, topic, values, stamps)
    offset_of = {json.loads(v)["id"]: o for o, v in delivered.items()}
    # The broker keeps negative CreateTime timestamps as they are.
    kept = read_timestamps(kafka, topic, len(stamps))
    assert {offset_of[i]: ts for i, ts in enumerate(stamps)} == kept

    connector = connector_props(unique("daily"), topic, hdfs_url, root, flush__size=1000,
                                format__class="io.confluent.connect.hdfs.json.JsonFormat",
                                partitioner__class="io.confluent.connect.storage.partitioner.DailyPartitioner",
                                locale="en-US", timezone="UTC", timestamp__extractor="Record",
                                shutdown__timeout__ms=STOP_BUDGET_MS)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    drain_and_stop(sink)

    def day_dir(ts):
        d = EPOCH + dt.timedelta(milliseconds=ts)  # floors: -2 ms is 1969-12-31T23:59:59.998
        return f"year={d.year:04d}/month={d.month:02d}/day={d.day:02d}"

    files = committed_files_deep(hdfs, root, topic)
    assert {rel for rel, *_ in files} == {day_dir(ts) for ts in stamps}
    for must in ["year=1899/month=12/day=31", "year=1900/month=01/day=01", "year=1960/month=02/day=29",
                 "year=1969/month=12/day=30", "year=1969/month=12/day=31", "year=1970/month=01/day=01",
                 "year=1970/month=01/day=02", "year=2024/month=02/day=29", "year=2024/month=03/day=01"]:
        assert must in {rel for rel, *_ in files}, must
    seen = {}
    for rel, part, first, last, path in files:
        records = [json.loads(line) for line in read_bytes(hdfs, path).decode().splitlines()]
        offsets = [offset_of[r["id"]] for r in records]
        assert offsets == sorted(offsets) and (offsets[0], offsets[-1]) == (first, last), path
        for r in records:
            assert r["id"] not in seen, r
            seen[r["id"]] = rel
            assert rel == day_dir(r["ts"]), f"id {r['id']} (Kafka timestamp {r['ts']}) in {path}"
    assert len(seen) == len(stamps)


# ---------------------------------------------------------------------------------------------
# 4. ${topic} and capture groups in topics.dir / logs.dir; per-topic flush.size

def test_topics_dir_variables_and_per_topic_flush_size(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    prefix, root = f"pt{uuid.uuid4().hex[:10]}", f"/{unique('lake')}"
    alpha, beta = f"{prefix}-alpha", f"{prefix}-beta"
    per_partition = {alpha: 450, beta: 200}
    flush = {alpha: 100, beta: 30}
    produced = {}
    for topic, n in per_partition.items():
        create_topic(kafka, topic, 2)
        produced[topic] = produce(kafka, topic, [json.dumps({"t": topic, "i": i}).encode() for i in range(2 * n)],
                                  partition_fn=lambda i: i % 2)
    connector = connector_props(unique("vars"), f"{alpha},{beta}", hdfs_url, root, flush__size=100,
                                format__class="io.confluent.connect.hdfs.json.JsonFormat",
                                shutdown__timeout__ms=STOP_BUDGET_MS)
    connector.update({"topic.capture.groups.regex": "([a-z0-9]+)-([a-z]+)", "topics.dir": "lake/${2}/data",
                      "logs.dir": "wal/${topic}", f"topic.{beta}.flush.size": "30"})
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    drain_and_stop(sink)

    assert sorted(e.path.rsplit("/", 1)[1] for e in hdfs.list_status(root)) == ["lake", "wal"]
    assert sorted(e.path.rsplit("/", 1)[1] for e in hdfs.list_status(f"{root}/lake")) == ["alpha", "beta"]
    assert sorted(e.path.rsplit("/", 1)[1] for e in hdfs.list_status(f"{root}/wal")) == sorted([alpha, beta])
    for topic, group in [(alpha, "alpha"), (beta, "beta")]:
        topics_dir = f"lake/{group}/data"
        # Only this topic's data (and the temp directory) under its topics.dir.
        assert {e.path.rsplit("/", 1)[1] for e in hdfs.list_status(f"{root}/{topics_dir}")} <= {topic, "+tmp"}
        files = committed_files_deep(hdfs, root, topic, topics_dir=topics_dir)
        assert {rel for rel, *_ in files} == {"partition=0", "partition=1"}, topic
        for p in (0, 1):
            mine = sorted((s, e, path) for rel, pp, s, e, path in files if pp == p)
            assert all(path.startswith(f"{root}/{topics_dir}/{topic}/partition={p}/{topic}+{p}+")
                       for _, _, path in mine)
            sizes = [e - s + 1 for s, e, _ in mine]
            n = per_partition[topic]
            # Complete files hold flush.size records; only the tail committed by the stop is shorter.
            full, tail = divmod(n, flush[topic])
            assert sizes == [flush[topic]] * full + ([tail] if tail else []), (topic, p, sizes)
            assert [o for s, e, _ in mine for o in range(s, e + 1)] == list(range(n))
            want = [v for (pp, o), v in sorted(produced[topic].items()) if pp == p]
            got = [line for _, _, path in mine for line in read_bytes(hdfs, path).decode().splitlines()]
            assert [json.loads(x) for x in got] == [json.loads(x) for x in want]
        # The commit logs: <logs.dir = wal/<topic>>/<topic>/<partition>/...
        tree = list_tree(hdfs, f"{root}/wal/{topic}")
        for p in (0, 1):
            assert any(re.fullmatch(rf"{re.escape(topic)}/{p}/[^/]+\.commit", x) for x in tree), (topic, tree)
        assert all(x == topic or x.startswith(f"{topic}/") for x in tree), tree


# ---------------------------------------------------------------------------------------------
# 5. Wrong partitioner settings are reported by name

def validate(lakesink_bin, workdir, connector):
    w, c = os.path.join(workdir, "v-worker.properties"), os.path.join(workdir, "v-connector.properties")
    write_properties(w, {"bootstrap.servers": "127.0.0.1:9",
                         "value.converter": "org.apache.kafka.connect.json.JsonConverter"})
    write_properties(c, connector)
    out = subprocess.run([lakesink_bin, "validate", w, c], capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout + out.stderr


def test_bad_partitioner_settings_are_named(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    base = {"name": "bad-partitioner", "connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector",
            "topics": "orders", "hdfs.url": "hdfs://127.0.0.1:9", "flush.size": "100",
            "partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
            "partition.duration.ms": "3600000", "locale": "en-US", "timezone": "UTC",
            "path.format": "'dt'=yyyy-MM-dd"}
    code, out = validate(lakesink_bin, workdir, base)
    assert code == 0 and "ok: connector 'bad-partitioner'" in out, out

    # (a) TimeBasedPartitioner without path.format.
    code, out = validate(lakesink_bin, workdir, {k: v for k, v in base.items() if k != "path.format"})
    assert code != 0 and "path.format" in out, out
    # (b) A letter that is no Joda-Time field ('Q' is java.time's quarter, not Joda's).
    code, out = validate(lakesink_bin, workdir, {**base, "path.format": "'x'=yyyy/QQ"})
    assert code != 0 and "path.format" in out and "'Q'" in out, out

    # (c) FieldPartitioner on a field the records do not all have: partition 1 switches at its
    # 20th record to a schema without `region`. The task stops at that record, naming it.
    topic, root = unique("nofield"), f"/{unique('lake')}"
    create_topic(kafka, topic, 2)
    with_region = {"type": "struct", "name": "com.example.A", "optional": False, "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "region", "type": "string", "optional": False}]}
    without = {"type": "struct", "name": "com.example.B", "optional": False, "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "zone", "type": "string", "optional": False}]}

    def value(i):
        bad = i % 2 == 1 and i // 2 >= 20
        payload = {"id": i, "zone": "z"} if bad else {"id": i, "region": f"r{i % 3}"}
        return json.dumps({"schema": without if bad else with_region, "payload": payload}).encode()

    produced = produce(kafka, topic, [value(i) for i in range(60)], partition_fn=lambda i: i % 2)
    first_bad = min(o for (p, o), v in produced.items() if "zone" in json.loads(v)["payload"])
    assert first_bad == 20 and all(p == 1 for (p, o), v in produced.items() if "zone" in json.loads(v)["payload"])
    connector = connector_props(unique("nofield"), topic, hdfs_url, root, flush__size=5,
                                format__class="io.confluent.connect.hdfs.json.JsonFormat",
                                partitioner__class="io.confluent.connect.storage.partitioner.FieldPartitioner",
                                partition__field__name="region")
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    try:
        _, trace = sink.wait_failed(connector["name"], 60)
    finally:
        sink.stop()
    log = sink.output()
    assert re.search(rf"{re.escape(topic)}-1\b.*offset {first_bad}\b.*'region'", trace), trace
    assert re.search(rf"{re.escape(topic)}-1\b.*offset {first_bad}\b.*'region'", log), log[-3000:]
    # Nothing at or after the failing offset of partition 1 was committed.
    for rel, p, first, last, path in committed_files_deep(hdfs, root, topic):
        assert rel in {"region=r0", "region=r1", "region=r2"}, rel
        assert p == 0 or last < first_bad, path
