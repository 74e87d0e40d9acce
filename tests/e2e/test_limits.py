"""The open-file and memory limits under a 100-partition x 24-hourly-bucket load: every
directory of every partition is written at once; the limits hold between batches, files
are committed early instead, and no record is lost or written twice."""
import datetime
import io
import json
import random
import re

import pyarrow.parquet as pq

from conftest import (Lakesink, committed_files_deep, connector_props, create_topic, produce, read_bytes, unique,
                      wait_until, worker_props)

PARTITIONS = 100
HOURS = 24
RECORDS = 24_000
BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SCHEMA = {"type": "struct", "name": "load.Event", "optional": False, "fields": [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "at", "type": "int64", "optional": False},
    {"field": "body", "type": "string", "optional": False}]}


def test_limits_hold_under_many_open_directories(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic, root = unique("limits"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    rng = random.Random(3)
    at = [BASE_MS + rng.randrange(HOURS * 3_600_000) for _ in range(RECORDS)]
    values = [json.dumps({"schema": SCHEMA, "payload": {"id": i, "at": at[i], "body": "b" * 300}}).encode()
              for i in range(RECORDS)]
    # In four rounds: separate producer batches, fetched separately (see the fetch size below).
    quarter = RECORDS // 4
    for k in range(4):
        produce(kafka, topic, values[k * quarter:(k + 1) * quarter], partition_fn=lambda i: i % PARTITIONS)
    max_files, max_bytes = 1200, 8 << 20
    connector = connector_props(
        unique("limits"), topic, hdfs_url, root, flush__size=100000, format__class="ParquetFormat",
        partitioner__class="HourlyPartitioner", locale="en-US", timezone="UTC",
        timestamp__extractor="RecordField", timestamp__field="at", shutdown__timeout__ms=300000,
        lakesink__max__open__files=max_files, lakesink__max__buffered__bytes=max_bytes,
        # Small fetches: each partition's records arrive in several batches, so directories
        # committed early get records again (and a second file).
        consumer__override__max__partition__fetch__bytes=16384)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka), connector)
    wait_until(lambda: "caught up" in sink.output(), 180, "lakesink to read every partition", sink)
    assert sink.stop(timeout=320) == 0, sink.output()[-3000:]
    log = sink.output()
    assert "took longer than shutdown.timeout.ms" not in log, log[-3000:]

    line = next(l for l in log.splitlines() if "limits: most held between batches" in l)
    peak_files = int(re.search(r"peak_open_files=(\d+)", line).group(1))
    peak_mib = float(re.search(r"peak_buffered_mib=([\d.]+)", line).group(1))
    print(f"limits test: peak open files {peak_files} (limit {max_files}), "
          f"peak buffered {peak_mib:.1f} MiB (limit {max_bytes / 1048576:.0f} MiB)")
    # The limits are applied by each partition after each batch (and every second): writers
    # that grow at the same time can pass a limit together until their next check, by at
    # most three quarters of it (each keeps to its share once three quarters are reached).
    assert 0 < peak_files <= 1.75 * max_files, line
    assert peak_mib <= 1.75 * max_bytes / 1048576, line

    files = committed_files_deep(hdfs, root, topic)
    seen = {}
    dirs = set()
    for rel, p, start, end, path in files:
        dirs.add((p, rel))
        table = pq.ParquetFile(io.BytesIO(read_bytes(hdfs, path))).read()
        for i, t in zip(table.column("id").to_pylist(), table.column("at").to_pylist()):
            assert i not in seen, f"id {i} in {path} and {seen[i]}"
            seen[i] = path
            assert i % PARTITIONS == p, path
            hour = datetime.datetime.fromtimestamp(t / 1000, tz=datetime.timezone.utc)
            assert rel == hour.strftime("year=%Y/month=%m/day=%d/hour=%H"), f"{path}: at={t}"
    assert len(seen) == RECORDS, f"{RECORDS - len(seen)} records missing"
    expected_dirs = {(i % PARTITIONS, datetime.datetime.fromtimestamp(at[i] / 1000, tz=datetime.timezone.utc)
                      .strftime("year=%Y/month=%m/day=%d/hour=%H")) for i in range(RECORDS)}
    assert dirs == expected_dirs and len(dirs) > 0.99 * PARTITIONS * HOURS
    # ~2400 directories cannot all stay open under a 1200-file limit: files were committed early.
    assert len(files) > len(dirs), (len(files), len(dirs))
    print(f"limits test: {len(files)} files in {len(dirs)} directories")
