"""Peer benchmark: the same topic drained into snappy Parquet files in HDFS by Apache Spark
Structured Streaming (bench/spark_job.py: local[2], trigger(availableNow=True), a checkpoint in
HDFS, from_json on the envelope's payload into typed columns, maxRecordsPerFile = flush.size)
and by Lakesink, with a raw rdkafka consumer as the baseline, all in one run. Reports wall
time, records/s, CPU seconds of each whole process tree and peak RSS, each as a ratio, plus
Spark's start-up alone; then checks both outputs hold every id exactly once.

Run by `bench/run spark` (which starts the test bed, builds release binaries and fetches the
Spark Kafka jars); see bench/README.md.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pyarrow.parquet as pq
from confluent_kafka.admin import AdminClient, NewTopic
from hdfs_native import Client

from drain import (add_load_arguments, check_load_arguments, cpu_seconds, produce, run_lakesink, run_raw,
                   warm_up)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_SECONDS = 0.05


def spark_jars():
    cache = os.environ.get("LAKESINK_CACHE") or os.path.expanduser("~/.cache/lakesink")
    jars = sorted(glob.glob(os.path.join(cache, "jars", "spark-kafka", "*.jar")))
    if len(jars) != 4:
        raise SystemExit(f"expected the four Spark Kafka jars in {cache}/jars/spark-kafka, found {jars}: "
                         "run scripts/testbed up (it fetches them)")
    return ",".join(jars)


def java_home():
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        raise SystemExit("Spark needs Java: no java on PATH and JAVA_HOME is unset")
    return os.path.dirname(os.path.dirname(os.path.realpath(java)))


class Tree:
    """A process and every process started under it, sampled from /proc: CPU seconds (the
    latest reading of each process, kept after it exits) and the largest sum of resident sets
    seen at once. A process stays counted when its parent exits and it is adopted elsewhere."""

    def __init__(self, root):
        self.pids = {root}
        self.cpu = {}
        self.peak_rss_kib = 0

    def sample(self):
        parents = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat") as f:
                        parents[int(entry.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    pass
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in self.pids and pid not in self.pids:
                    self.pids.add(pid)
                    grew = True
        rss = 0
        for pid in self.pids:
            try:
                self.cpu[pid] = cpu_seconds(pid)
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
            except OSError:
                pass  # exited: its last reading stays
        self.peak_rss_kib = max(self.peak_rss_kib, rss)

    def cpu_seconds(self):
        return sum(self.cpu.values())


def run_spark(bootstrap, hdfs_url, topic, flush_size, workdir):
    """Runs bench/spark_job.py to the end of the topic; returns its figures and output path."""
    root = f"/bench-spark-{uuid.uuid4().hex[:8]}"
    output, checkpoint = f"{hdfs_url}{root}/out", f"{hdfs_url}{root}/checkpoint"
    log_path = os.path.join(workdir, "spark.log")
    env = dict(os.environ, JAVA_HOME=java_home(), PYSPARK_PYTHON=sys.executable)
    t0 = time.time()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "spark_job.py"), bootstrap, topic, output,
                                 checkpoint, str(flush_size), spark_jars()], stdout=subprocess.PIPE, stderr=log,
                                env=env)
    tree = Tree(proc.pid)
    marks = {}
    os.set_blocking(proc.stdout.fileno(), False)
    pending = b""
    done = None
    while True:
        tree.sample()
        chunk = proc.stdout.read() or b""
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            try:
                m = json.loads(line)
                marks[m["event"]] = m["t"]
            except ValueError:
                pass
        if "done" in marks and done is None:
            done = {"seconds": marks["done"] - t0, "cpu_seconds": tree.cpu_seconds()}
        if proc.poll() is not None:
            break
        if time.time() - t0 > 3600:
            proc.kill()
            raise SystemExit(f"Spark did not drain the topic in an hour; see {log_path}")
        time.sleep(SAMPLE_SECONDS)
    tree.sample()
    if proc.returncode != 0 or done is None:
        raise SystemExit(f"the Spark job failed ({proc.returncode}); see {log_path}")
    done.update(peak_rss_kib=tree.peak_rss_kib, startup=marks["session"] - t0, output=f"{root}/out",
                processes=len(tree.pids), cpu_to_exit=tree.cpu_seconds(), exit_seconds=time.time() - t0)
    return done


def parquet_files(hdfs, base, skip=("_", ".")):
    out, stack = [], [base]
    while stack:
        for e in hdfs.list_status(stack.pop()):
            name = e.path.rsplit("/", 1)[-1]
            if name.startswith(skip) or name == "+tmp":
                continue
            if e.isdir:
                stack.append(e.path)
            elif name.endswith(".parquet"):
                out.append(e.path)
    return out


def check_ids(hdfs, base, n, who):
    """Every id 0..n-1 exactly once in the Parquet files under base (ids, not rows: Spark's
    from_json turns an unparseable value into a row of nulls)."""
    seen = bytearray(n)
    ids = duplicates = 0
    rows = 0
    files = parquet_files(hdfs, base)
    for path in files:
        with hdfs.read(path) as r:
            column = pq.read_table(r, columns=["id"]).column("id")
        rows += len(column)
        for i in column.to_pylist():
            if i is None:
                continue
            ids += 1
            if 0 <= i < n:
                duplicates += seen[i]
                seen[i] = 1
    missing = n - sum(seen)
    status = "ok" if (missing, duplicates, ids, rows) == (0, 0, n, n) else "WRONG"
    print(f"{who}: {len(files)} files, {rows} rows, {ids} ids, {missing} missing, {duplicates} duplicated: {status}")
    return status == "ok"


def main():
    ap = argparse.ArgumentParser()
    add_load_arguments(ap, records=1_000_000, flush_size=50_000)
    ap.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                    help="skip the untimed first Lakesink run that warms the test bed's JVMs")
    args = ap.parse_args()
    check_load_arguments(ap, args)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin, raw_bin = os.environ["LAKESINK_BIN"], os.environ["RAW_CONSUME_BIN"]
    hdfs = Client(hdfs_url)
    topic = f"bench-spark-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(30)
    produce_s, value_len = produce(bootstrap, topic, args.records, args.partitions, args.record_bytes)
    print(f"loaded {args.records} records of {value_len} B into {args.partitions} partitions in {produce_s:.1f} s",
          flush=True)
    raw_runs = [run_raw(raw_bin, bootstrap, topic, args.records)]
    with tempfile.TemporaryDirectory(prefix="lakesink-bench-spark-") as workdir:
        if args.warm_up:
            warm_up(lakesink_bin, bootstrap, hdfs_url, hdfs, topic, args.records, "parquet", args.flush_size, workdir)
        lake = run_lakesink(lakesink_bin, bootstrap, hdfs_url, hdfs, topic, args.records, "parquet",
                            args.flush_size, workdir)
        print(f"lakesink: {lake['seconds']:.2f} s", flush=True)
        spark = run_spark(bootstrap, hdfs_url, topic, args.flush_size, workdir)
        print(f"spark: {spark['seconds']:.2f} s (start-up {spark['startup']:.2f} s)", flush=True)
    raw_runs.append(run_raw(raw_bin, bootstrap, topic, args.records))
    raw = min(raw_runs, key=lambda r: r["seconds"])

    n = args.records
    print(f"\n{'run':<22}{'seconds':>9}{'records/s':>12}{'CPU s':>8}{'peak RSS MiB':>14}{'files':>7}")
    print(f"{'raw rdkafka':<22}{raw['seconds']:>9.2f}{n / raw['seconds']:>12,.0f}{raw['cpu_seconds']:>8.2f}"
          f"{raw['peak_rss_kib'] / 1024:>14.0f}{'':>7}")
    lake_files = len(parquet_files(hdfs, lake["base"]))
    spark_files = len(parquet_files(hdfs, spark["output"]))
    for label, r, files in (("lakesink parquet", lake, lake_files), ("spark parquet", spark, spark_files)):
        print(f"{label:<22}{r['seconds']:>9.2f}{n / r['seconds']:>12,.0f}{r['cpu_seconds']:>8.2f}"
              f"{r['peak_rss_kib'] / 1024:>14.0f}{files:>7}")
    print(f"\nSpark's start-up alone (process start to SparkSession ready): {spark['startup']:.2f} s; "
          f"its drain after that: {spark['seconds'] - spark['startup']:.2f} s; "
          f"{spark['processes']} processes; to exit: {spark['exit_seconds']:.2f} s, {spark['cpu_to_exit']:.2f} CPU s")
    print("Lakesink over Spark: "
          f"{spark['seconds'] / lake['seconds']:.2f}x faster (wall), "
          f"{(n / lake['seconds']) / (n / spark['seconds']):.2f}x the records/s, "
          f"{spark['cpu_seconds'] / lake['cpu_seconds']:.2f}x less CPU, "
          f"{spark['peak_rss_kib'] / lake['peak_rss_kib']:.2f}x less peak RSS; "
          f"without Spark's start-up: {(spark['seconds'] - spark['startup']) / lake['seconds']:.2f}x faster")
    print(f"Ratios to the raw consumer (its time over each drain's): lakesink {raw['seconds'] / lake['seconds']:.2f}, "
          f"spark {raw['seconds'] / spark['seconds']:.2f}")
    print("(Lakesink's time runs from process start to its last file commit, its RSS is the kernel's peak; "
          "Spark's runs from process start to the end of the availableNow query, its CPU and RSS are "
          f"sampled every {SAMPLE_SECONDS * 1000:.0f} ms over the Python driver, the JVM and their children)\n")
    ok = check_ids(hdfs, lake["base"], n, "lakesink") & check_ids(hdfs, spark["output"], n, "spark")
    if not ok:
        raise SystemExit("an output does not hold every id exactly once")


if __name__ == "__main__":
    main()
