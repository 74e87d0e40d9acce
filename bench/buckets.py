"""Many-directories benchmark: 100 Kafka partitions x 24 hourly buckets open at once, Parquet.

Reports Lakesink's peak RSS with default limits, its drain rate as a ratio to a raw rdkafka
consumer reading the same topic in the same run, and the number and sizes of the files.
Run by `bench/run buckets` (which starts the test bed and builds release binaries).
"""
import argparse
import io
import json
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid

import pyarrow.parquet as pq
from confluent_kafka.admin import AdminClient, NewTopic
from hdfs_native import Client

from drain import produce_values, run_raw, value_template, write_configs

BASE_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def produce(bootstrap, topic, n, partitions, hours, record_bytes, seed):
    """Records whose `at` is spread at random over `hours` hours, so that every partition has
    a record for every hour bucket in flight at once (out of order)."""
    rng = random.Random(seed)
    # Bodies of words from a vocabulary: text that compresses about 3x, like real events
    # (a run of one letter would compress 100x and make Kafka's compressed fetch sizes
    # meaningless).
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(4000)]
    text = " ".join(rng.choices(vocabulary, k=400_000))
    template, pad_len = value_template(record_bytes)
    span = hours * 3_600_000

    def value_of(i):
        at = BASE_MS + rng.randrange(span)
        start = rng.randrange(len(text) - pad_len)
        pad = text[start:start + pad_len]
        return (template % (i, i % 1000, i % 977, at, i % 7, "null" if i % 3 else '"n"', pad)).encode()
    return produce_values(bootstrap, topic, n, partitions, value_of)


def run_lakesink(lakesink_bin, bootstrap, hdfs_url, topic, workdir, extra):
    root = f"/bench-{uuid.uuid4().hex[:8]}"
    name = f"buckets-{uuid.uuid4().hex[:6]}"
    settings = {
        "flush.size": 1000000, "format.class": "ParquetFormat",
        "partitioner.class": "io.confluent.connect.storage.partitioner.HourlyPartitioner",
        "locale": "en-US", "timezone": "UTC", "timestamp.extractor": "RecordField", "timestamp.field": "at",
        # The graceful stop that ends the drain commits every open file: give it time.
        "shutdown.timeout.ms": 300000,
        **extra}
    worker, connector = write_configs(workdir, bootstrap, name, topic, f"{hdfs_url}{root}", settings)
    log_path = os.path.join(workdir, f"{name}.log")
    log = open(log_path, "wb")
    env = dict(os.environ, LAKESINK_LOG="info")
    t0 = time.time()
    proc = subprocess.Popen([lakesink_bin, "standalone", worker, connector], stdout=log, stderr=subprocess.STDOUT, env=env)
    # Drained = read to the end (the consumer says so), then a graceful stop that commits
    # every open file; the time ends when the process has exited, all files committed.
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"lakesink exited early; see {log_path}")
        with open(log_path, "rb") as f:
            if b"caught up" in f.read():
                break
        if time.time() - t0 > 1800:
            raise SystemExit("lakesink did not drain the topic in 30 minutes")
        time.sleep(0.2)
    caught_up = time.time() - t0
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.time() - t0
    if status != 0:
        raise SystemExit(f"lakesink exited with status {status}; see {log_path}")
    return {"seconds": seconds, "caught_up": caught_up, "peak_rss_kib": usage.ru_maxrss,
            "root": root, "log": log_path}


def committed(hdfs, base):
    files, stack = [], [base]
    while stack:
        d = stack.pop()
        for e in hdfs.list_status(d):
            if e.isdir:
                if not e.path.endswith("+tmp"):
                    stack.append(e.path)
            elif "+" in e.path.rsplit("/", 1)[-1]:
                files.append((e.path, e.length))
    return files


def rows_in(hdfs, path):
    with hdfs.read(path) as r:
        data = r.read()
    return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows


def pct(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_200_000)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--record-bytes", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra connector setting, e.g. --set lakesink.max.buffered.bytes=100000000")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.set)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin, raw_bin = os.environ["LAKESINK_BIN"], os.environ["RAW_CONSUME_BIN"]
    hdfs = Client(hdfs_url)
    topic = f"buckets-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(30)
    produce_s, value_len = produce(bootstrap, topic, args.records, args.partitions, args.hours, args.record_bytes, args.seed)
    print(f"loaded {args.records} records of {value_len} B into {args.partitions} partitions, "
          f"times spread over {args.hours} h, in {produce_s:.1f} s")
    raw_runs = [run_raw(raw_bin, bootstrap, topic, args.records)]
    with tempfile.TemporaryDirectory(prefix="lakesink-bench-") as workdir:
        r = run_lakesink(lakesink_bin, bootstrap, hdfs_url, topic, workdir, extra)
        with open(r["log"]) as f:
            lines = f.readlines()
        errors = [line for line in lines if " ERROR " in line]
        limits = [line.split("limits: ", 1)[1].strip() for line in lines if "limits: most held" in line]
    raw_runs.append(run_raw(raw_bin, bootstrap, topic, args.records))
    raw = min(raw_runs, key=lambda x: x["seconds"])
    files = committed(hdfs, f"{r['root']}/topics/{topic}")
    rows = sum(rows_in(hdfs, p) for p, _ in files)
    # Directories are shared by the partitions (<topic>/year=../hour=..); each partition
    # writes its own files into each of them.
    dirs = {p.rsplit("/", 1)[0] for p, _ in files}
    writers = {(p.rsplit("/", 1)[0], p.rsplit("/", 1)[1].split("+")[1]) for p, _ in files}
    sizes = sorted(n for _, n in files)
    raw_rate = args.records / raw["seconds"]
    rate = args.records / r["seconds"]
    mib = 1024 * 1024
    print(f"\n{'run':<20}{'seconds':>9}{'records/s':>12}{'peak RSS MiB':>14}{'ratio':>7}")
    print(f"{'raw rdkafka':<20}{raw['seconds']:>9.2f}{raw_rate:>12,.0f}{raw['peak_rss_kib'] / 1024:>14.0f}{1.0:>7.2f}")
    print(f"{'lakesink parquet':<20}{r['seconds']:>9.2f}{rate:>12,.0f}{r['peak_rss_kib'] / 1024:>14.0f}{rate / raw_rate:>7.2f}")
    print(f"\nfiles: {len(files)} in {len(dirs)} directories, from {len(writers)} (directory, Kafka partition) pairs "
          f"({len(files) / max(1, len(writers)):.2f} files per pair); rows in them: {rows} (expected {args.records})")
    print(f"file size: min {sizes[0] / 1024:.0f} KiB, p10 {pct(sizes, 0.1) / 1024:.0f} KiB, "
          f"median {pct(sizes, 0.5) / 1024:.0f} KiB, p90 {pct(sizes, 0.9) / 1024:.0f} KiB, "
          f"max {sizes[-1] / 1024:.0f} KiB, total {sum(sizes) / mib:.0f} MiB")
    print(f"(lakesink read everything after {r['caught_up']:.2f} s; its time ends when the graceful stop "
          f"that commits the open files has exited; raw runs: "
          + ", ".join("%.2f s" % x["seconds"] for x in raw_runs) + ")")
    for line in limits:
        print(f"lakesink limits: {line}")
    if errors:
        print(f"lakesink logged {len(errors)} errors, first: {errors[0].strip()}")
    if rows != args.records:
        raise SystemExit(f"row count mismatch: {rows} in files, {args.records} produced")


if __name__ == "__main__":
    main()
