"""Drain benchmark: Lakesink's end-to-end rate from Kafka into HDFS (or the local file
system), as a ratio to a raw rdkafka consumer reading the same topic in the same run.

Run by bench/run (which starts the test bed and builds release binaries); see bench/README.md.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hdfs_native import Client

# How often a run's log is read to see whether it is done.
POLL_SECONDS = 0.02
# Lakesink's debug line for each partition commit (after its files are renamed into place).
COMMIT_LINE = re.compile(rb"committed tp=(\S+) .*?next_offset=(\d+)")
COMMITTED = re.compile(r"^.+\+(\d+)\+(\d+)\+(\d+)(\.\w+)?$")
# The worker's value converter: JSON values with a schema envelope.
JSON_VALUES = {"value.converter": "org.apache.kafka.connect.json.JsonConverter",
               "value.converter.schemas.enable": "true"}

SCHEMA = {
    "type": "struct", "name": "bench.Event", "optional": False, "fields": [
        {"field": "id", "type": "int64", "optional": False},
        {"field": "user", "type": "string", "optional": False},
        {"field": "amount", "type": "double", "optional": False},
        {"field": "at", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1, "optional": False},
        {"field": "tags", "type": "array", "items": {"type": "string"}, "optional": False},
        {"field": "note", "type": "string", "optional": True},
        {"field": "body", "type": "string", "optional": False},
    ]}


def value_template(record_bytes):
    """The JSON envelope of a bench record as a %-format with (id, user, amount, at, tag,
    note, body), and the body length that makes records about `record_bytes` long."""
    schema = json.dumps(SCHEMA, separators=(",", ":"))
    head = '{"schema":' + schema + ',"payload":'
    probe = head + json.dumps({"id": 0, "user": "u0", "amount": 0.0, "at": 0, "tags": ["a", "b"], "note": None, "body": ""}) + "}"
    template = head + '{"id":%d,"user":"user-%d","amount":%d.25,"at":%d,"tags":["t%d","x"],"note":%s,"body":"%s"}}'
    return template, max(0, record_bytes - len(probe) - 10)


def produce_values(bootstrap, topic, n, partitions, value_of):
    """Produces value_of(i) for i < n round-robin over the partitions; returns the seconds it
    took and the length of the last value."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 2_000_000, "queue.buffering.max.kbytes": 2_000_000,
                         "compression.type": "lz4"})
    t0 = time.time()
    value = b""
    for i in range(n):
        value = value_of(i)
        while True:
            try:
                producer.produce(topic, value=value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 20000 == 0:
            producer.poll(0)
    assert producer.flush(300) == 0
    return time.time() - t0, len(value)


def produce(bootstrap, topic, n, partitions, record_bytes):
    template, pad_len = value_template(record_bytes)
    pad = "x" * pad_len

    def value_of(i):
        return (template % (i, i % 1000, i % 977, 1_700_000_000_000 + i, i % 7, "null" if i % 3 else '"n"', pad)).encode()
    return produce_values(bootstrap, topic, n, partitions, value_of)


class Entry:
    def __init__(self, path, isdir, length):
        self.path, self.isdir, self.length = path, isdir, length


class LocalFs:
    """The few calls of hdfs_native's Client the benchmarks make, on the local file system
    (the `file://` store), so one run can compare storing into HDFS with storing locally."""

    def __init__(self, root):
        self.root = root

    def list_status(self, path):
        full = self.root + path
        if not os.path.isdir(full):
            raise FileNotFoundError(path)
        return [Entry(f"{path}/{e.name}", e.is_dir(), 0 if e.is_dir() else e.stat().st_size)
                for e in os.scandir(full)]

    def read(self, path):
        return open(self.root + path, "rb")

    def delete(self, path, recursive=False):
        shutil.rmtree(self.root + path, ignore_errors=True)


def store(kind, hdfs_url, scratch):
    """(client, URL prefix) of the store the runs write to: HDFS, or a local directory."""
    if kind == "hdfs":
        return Client(hdfs_url), hdfs_url
    root = os.path.join(scratch, "lake")
    os.makedirs(root, exist_ok=True)
    return LocalFs(root), f"file://{root}"


def daemon_pids():
    """The test bed's JVMs on this machine by role: the broker, the NameNode, the DataNode."""
    pids = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if not cmd.split(b"\0", 1)[0].endswith(b"java"):
            continue
        for role, marker in (("datanode", b"datanode.DataNode"), ("namenode", b"namenode.NameNode"),
                             ("broker", b"kafka.Kafka")):
            if marker in cmd:
                pids[role] = int(entry.name)
    return pids


def daemons_cpu(pids):
    """CPU seconds used so far by each of `pids` (role -> pid); a daemon gone counts 0."""
    out = {}
    for role, pid in pids.items():
        try:
            out[role] = cpu_seconds(pid)
        except OSError:
            out[role] = 0.0
    return out


def covered_records(hdfs, base):
    total = 0
    try:
        dirs = list(hdfs.list_status(base))
    except FileNotFoundError:
        return 0
    for d in dirs:
        if d.isdir and not d.path.endswith("+tmp"):
            for f in hdfs.list_status(d.path):
                m = COMMITTED.match(f.path.rsplit("/", 1)[-1])
                if m:
                    total += int(m.group(3)) - int(m.group(2)) + 1
    return total


def files_and_bytes(hdfs, base):
    n, size = 0, 0
    for d in hdfs.list_status(base):
        if d.isdir and not d.path.endswith("+tmp"):
            for f in hdfs.list_status(d.path):
                n += 1
                size += f.length
    return n, size


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time the process (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_raw(raw_bin, bootstrap, topic, n, copy_to=None):
    """Runs the raw consumer; with `copy_to` = (store URL, records per file) it also copies the
    payloads into that store (see bench/raw-consume)."""
    daemons = daemon_pids()
    before = daemons_cpu(daemons)
    extra = [copy_to[0], str(copy_to[1])] if copy_to else []
    out = subprocess.run([*PINNED, raw_bin, bootstrap, topic, str(n), *extra], capture_output=True, text=True, check=True)
    after = daemons_cpu(daemons)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["daemons_cpu"] = {r: after[r] - before[r] for r in daemons}
    return result


def run_raw_copy(raw_bin, bootstrap, topic, n, fs, store_url, flush_size):
    """The second baseline: the raw consumer copying the payloads into the store Lakesink
    writes to, `flush_size` records per file and partition, files closed in the background,
    nothing converted, logged or renamed: the store's share of any sink's drain. Its files
    are deleted afterwards."""
    root = f"/bench-copy-{uuid.uuid4().hex[:8]}"
    result = run_raw(raw_bin, bootstrap, topic, n, (store_url + root, flush_size))
    fs.delete(root, True)
    return result


def print_copy_ratios(copy, results, store_kind):
    """Each Lakesink run's time as a fraction of the raw copy's (1.0: as fast as the copy)."""
    print(f"raw copy into {store_kind}: {copy['files']} files; the raw copy's time over Lakesink's: " +
          ", ".join(f"{label} {copy['seconds'] / r['seconds']:.2f}" for label, r in results))


def write_configs(workdir, bootstrap, name, topic, store_url, settings, values=JSON_VALUES):
    """Writes the worker file (`values`: the value converter's settings, JSON values with
    schemas by default) and a connector file (`settings` on top of the common keys); returns
    their paths."""
    worker = os.path.join(workdir, "worker.properties")
    connector = os.path.join(workdir, f"{name}.properties")
    with open(worker, "w") as f:
        f.write(f"bootstrap.servers={bootstrap}\n")
        for k, v in values.items():
            f.write(f"{k}={v}\n")
        f.write("key.converter=org.apache.kafka.connect.storage.StringConverter\n")
        # The REST API on a port of its own, so that runs never clash over 8083.
        f.write("listeners=http://127.0.0.1:0\n")
    with open(connector, "w") as f:
        f.write(f"name={name}\nconnector.class=io.confluent.connect.hdfs3.Hdfs3SinkConnector\ntopics={topic}\n"
                f"store.url={store_url}\nconsumer.override.auto.offset.reset=earliest\n")
        for k, v in settings.items():
            f.write(f"{k}={v}\n")
    return worker, connector


def stock_client_conf(workdir):
    """A Hadoop client configuration with the stock 128 MiB dfs.blocksize, as a Connect
    worker's `hadoop.conf.dir` would give: the test bed's NameNode defaults to 16 MiB blocks
    (its tests write hundreds of files at once, and a DataNode reserves a block's space for
    each), which would otherwise be the block size of the files Lakesink streams."""
    conf = os.path.join(workdir, "hadoop-client-conf")
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, "hdfs-site.xml"), "w") as f:
        f.write('<?xml version="1.0"?>\n<configuration>\n  <property><name>dfs.blocksize</name>'
                '<value>134217728</value></property>\n</configuration>\n')
    return conf


def run_lakesink(lakesink_bin, bootstrap, hdfs_url, hdfs, topic, n, fmt, flush_size, workdir, values=JSON_VALUES,
                 extra=None):
    """Runs `lakesink standalone` until files covering `n` records are committed; `values` are
    the worker's value converter settings (see write_configs), `extra` more connector settings
    (such as transforms that keep every record and the topic's name). `hdfs_url` and `hdfs` are the
    store's URL prefix and client (HDFS, or LocalFs for `file://`). Also measures the CPU the
    test bed's daemons used meanwhile: they share the machine's cores with Lakesink."""
    root = f"/bench-{uuid.uuid4().hex[:8]}"
    name = f"bench-{fmt}-{uuid.uuid4().hex[:6]}"
    settings = {"flush.size": flush_size, "format.class": fmt, **(extra or {})}
    if hdfs_url.startswith("hdfs://"):
        settings["hadoop.conf.dir"] = stock_client_conf(workdir)
    worker, connector = write_configs(workdir, bootstrap, name, topic, f"{hdfs_url}{root}", settings, values)
    log = open(os.path.join(workdir, f"{name}.log"), "wb")
    # Completion is read from Lakesink's commit log lines rather than by listing the store:
    # listing HDFS every few tens of milliseconds cost the NameNode a tenth of a core here,
    # taken from the two cores Lakesink runs on.
    env = dict(os.environ, LAKESINK_LOG=os.environ.get("LAKESINK_BENCH_LOG", "warn,lakesink_sink::writer=debug"))
    daemons = daemon_pids()
    daemons_before = daemons_cpu(daemons)
    t0 = time.time()
    proc = subprocess.Popen([*PINNED, lakesink_bin, "standalone", worker, connector], stdout=log, stderr=subprocess.STDOUT,
                            env=env)
    base = f"{root}/topics/{topic}"
    next_offsets = {}
    with open(log.name, "rb") as lines:
        pending = b""
        # A fresh topic's offsets start at 0: a partition's committed next offset is the
        # number of its records in committed files.
        while sum(next_offsets.values()) < n:
            if proc.poll() is not None:
                raise SystemExit(f"lakesink exited early; see {log.name}")
            if time.time() - t0 > 1800:
                raise SystemExit("lakesink did not drain the topic in 30 minutes")
            time.sleep(POLL_SECONDS)
            pending += lines.read()
            *complete, pending = pending.split(b"\n")
            for line in complete:
                m = COMMIT_LINE.search(line)
                if m:
                    next_offsets[m.group(1)] = max(next_offsets.get(m.group(1), 0), int(m.group(2)))
    seconds = time.time() - t0
    if covered_records(hdfs, base) < n:
        raise SystemExit(f"the log reports {n} records committed, but the files in {base} hold fewer")
    rss = peak_rss_kib(proc.pid)
    cpu = cpu_seconds(proc.pid)
    daemons_after = daemons_cpu(daemons)
    proc.terminate()
    proc.wait(60)
    files, size = files_and_bytes(hdfs, base)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_kib": rss, "files": files, "file_bytes": size,
            "base": base, "daemons_cpu": {r: daemons_after[r] - daemons_before[r] for r in daemons}}


def warm_up(lakesink_bin, bootstrap, hdfs_url, hdfs, topic, n, fmt, flush_size, workdir, values=JSON_VALUES):
    """An untimed run whose files are deleted: a test bed's JVMs compile their write paths
    just in time, which cost the first run into a fresh DataNode over a CPU second on these two
    cores; a production DataNode is long warm."""
    r = run_lakesink(lakesink_bin, bootstrap, hdfs_url, hdfs, topic, n, fmt, flush_size, workdir, values)
    hdfs.delete(r["base"].split("/topics/")[0], True)
    print(f"warm-up run: {r['seconds']:.2f} s (not counted)", flush=True)


# `taskset -c CPUS` when --cpus is given (see add_store_arguments), else nothing.
PINNED = []


def pin(cpus):
    """Runs the raw consumers and Lakesink on `cpus` (taskset's list syntax) from now on."""
    PINNED[:] = ["taskset", "-c", cpus] if cpus else []
    if cpus:
        print(f"the raw consumers and Lakesink run on CPUs {cpus}; the test bed's daemons on any", flush=True)


def add_load_arguments(ap, records, flush_size):
    """The topic a drain benchmark loads and the files it expects: --records, --partitions,
    --record-bytes, --flush-size."""
    ap.add_argument("--records", type=int, default=records)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--record-bytes", type=int, default=1024)
    ap.add_argument("--flush-size", type=int, default=flush_size)


def check_load_arguments(ap, args):
    if args.records % (args.partitions * args.flush_size):
        # The drain ends when the last flush.size file is committed.
        ap.error("--records must be a multiple of --partitions x --flush-size")


def add_store_arguments(ap):
    ap.add_argument("--store", choices=("hdfs", "file"), default="hdfs",
                    help="write into the test bed's HDFS or into a local directory (file://)")
    ap.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                    help="skip the untimed first run that warms the test bed's JVMs")
    ap.add_argument("--cpus", help="run the raw consumers and Lakesink on these CPUs only (taskset -c syntax, "
                    "e.g. 0): how each drain scales with cores")


def print_table(raw_runs, results, records, value_len, width):
    """Prints the baseline (the fastest of `raw_runs`: conservative ratios) and each of
    `results` ([(label, run_lakesink result)]): time, rates, peak RSS, files, the drain
    ratio, CPU seconds, the CPU ratio, and the CPU the test bed's daemons (broker, NameNode,
    DataNode) used during the run on the same cores; then each run's daemons one by one."""
    raw = min(raw_runs, key=lambda r: r["seconds"])
    mb = records * value_len / 1e6
    raw_rate = records / raw["seconds"]
    print(f"\n{'run':<{width}}{'seconds':>9}{'records/s':>12}{'MB/s':>9}{'peak RSS MiB':>14}{'files':>7}{'ratio':>7}"
          f"{'CPU s':>7}{'CPU ratio':>10}{'bed CPU s':>10}")
    print(f"{'raw rdkafka':<{width}}{raw['seconds']:>9.2f}{raw_rate:>12,.0f}{mb / raw['seconds']:>9.1f}"
          f"{raw['peak_rss_kib'] / 1024:>14.0f}{'':>7}{1.0:>7.2f}{raw['cpu_seconds']:>7.2f}{1.0:>10.2f}"
          f"{sum(raw['daemons_cpu'].values()):>10.2f}")
    for label, r in results:
        rate = records / r["seconds"]
        print(f"{label:<{width}}{r['seconds']:>9.2f}{rate:>12,.0f}{mb / r['seconds']:>9.1f}"
              f"{r['peak_rss_kib'] / 1024:>14.0f}{r['files']:>7}{rate / raw_rate:>7.2f}"
              f"{r['cpu_seconds']:>7.2f}{raw['cpu_seconds'] / r['cpu_seconds']:>10.2f}"
              f"{sum(r['daemons_cpu'].values()):>10.2f}")
    print("\nbed CPU s by daemon: " + "; ".join(
        f"{label}: " + ", ".join(f"{role} {cpu:.2f}" for role, cpu in sorted(r["daemons_cpu"].items()))
        for label, r in [("raw rdkafka", raw)] + results))


def main():
    ap = argparse.ArgumentParser()
    add_load_arguments(ap, records=2_000_000, flush_size=100_000)
    ap.add_argument("--formats", default="json,parquet")
    add_store_arguments(ap)
    args = ap.parse_args()
    pin(args.cpus)
    check_load_arguments(ap, args)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin, raw_bin = os.environ["LAKESINK_BIN"], os.environ["RAW_CONSUME_BIN"]
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(30)
    produce_s, value_len = produce(bootstrap, topic, args.records, args.partitions, args.record_bytes)
    print(f"loaded {args.records} records of {value_len} B into {args.partitions} partitions in {produce_s:.1f} s")
    results = []
    raw_runs = [run_raw(raw_bin, bootstrap, topic, args.records)]
    with tempfile.TemporaryDirectory(prefix="lakesink-bench-") as workdir:
        fs, store_url = store(args.store, hdfs_url, workdir)
        formats = args.formats.split(",")
        if args.warm_up:
            warm_up(lakesink_bin, bootstrap, store_url, fs, topic, args.records, formats[0], args.flush_size, workdir)
        copy = run_raw_copy(raw_bin, bootstrap, topic, args.records, fs, store_url, args.flush_size)
        for fmt in formats:
            r = run_lakesink(lakesink_bin, bootstrap, store_url, fs, topic, args.records, fmt, args.flush_size, workdir)
            results.append((fmt, r))
    raw_runs.append(run_raw(raw_bin, bootstrap, topic, args.records))
    results = [("lakesink " + fmt, r) for fmt, r in results]
    print_table(raw_runs, [("raw copy into " + args.store, copy)] + results, args.records, value_len, 20)
    print()
    print_copy_ratios(copy, results, args.store)
    raw_times = ", ".join("%.2f s" % r["seconds"] for r in raw_runs)
    print(f"\n(raw runs: {raw_times}; lakesink time includes process start, "
          f"group join and recovery, and ends when the last file is committed in {args.store})")


if __name__ == "__main__":
    main()
