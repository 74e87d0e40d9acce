"""HDFS unavailable in the middle of a stream: retried for as long as it lasts, nothing lost,
nothing repeated, nothing sent to the dead-letter queue."""
import contextlib
import json
import os
import signal
import subprocess
import time

from confluent_kafka import Consumer, TopicPartition

from conftest import (Lakesink, caught_up, committed_files, connector_props, create_topic, produce,
                      read_bytes, unique, wait_until, worker_props)

PARTITIONS = 2


def datanode():
    """This test bed's DataNode (found by the marker `scripts/testbed` gives its daemons): pid,
    command line, environment and working directory."""
    state = os.path.dirname(os.environ["LAKESINK_TESTBED_LOGS"].rstrip("/"))
    marker = f"-Dlakesink.testbed.daemon=datanode@{state}"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if marker in args:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = dict(e.decode().split("=", 1) for e in f.read().split(b"\0") if b"=" in e)
            return int(pid), args, environ, os.readlink(f"/proc/{pid}/cwd")
    raise AssertionError(f"no DataNode process with {marker}")


def restart_datanode(args, environ, cwd):
    """Starts the DataNode again as the test bed did (its own session, log appended)."""
    log = open(os.path.join(os.environ["LAKESINK_TESTBED_LOGS"], "datanode.log"), "ab")
    subprocess.Popen(args, env=environ, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                     stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def datanode_down():
    """The test bed's DataNode killed (SIGKILL) for the block's duration, then started again."""
    pid, args, environ, cwd = datanode()
    os.kill(pid, signal.SIGKILL)
    try:
        yield
    finally:
        restart_datanode(args, environ, cwd)


def still_running_after(sink, seconds):
    """The connector is still up `seconds` later: an outage does not stop it."""
    time.sleep(seconds)
    assert sink.proc.poll() is None, sink.output()[-3000:]


def assert_recovers_and_commits_once(sink, hdfs, root, topic, produced, files):
    """Once storage is back, `files` files are committed, the connector stops cleanly, and every
    produced record is in exactly one of them (see assert_committed_once)."""
    wait_until(lambda: sum(len(v) for v in committed_files(hdfs, root, topic).values()) >= files, 180,
               "every record committed after the DataNode came back", sink)
    assert sink.stop() == 0, sink.output()[-3000:]
    assert_committed_once(hdfs, root, topic, produced)


def high_watermarks(kafka, topic, partitions):
    c = Consumer({"bootstrap.servers": kafka, "group.id": unique("outage-reader")})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        c.close()


def assert_committed_once(hdfs, root, topic, produced):
    """Every produced record is in exactly one committed file, in offset order, unchanged."""
    files = committed_files(hdfs, root, topic)
    for p in range(PARTITIONS):
        expected = sorted(o for (pp, o) in produced if pp == p)
        seen = []
        for start, end, path in files.get(p, []):
            lines = read_bytes(hdfs, path).decode().splitlines()
            assert len(lines) == end - start + 1, path
            for offset, line in zip(range(start, end + 1), lines):
                assert json.loads(line) == json.loads(produced[(p, offset)]), f"{path} offset {offset}"
                seen.append(offset)
        assert seen == expected, f"partition {p}: {len(seen)} records in order, {len(expected)} produced"


def test_datanode_down_for_20_s_loses_and_repeats_nothing(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic, dlq, root = unique("outage"), unique("outage-dlq"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    create_topic(kafka, dlq, 1)
    values = [json.dumps({"seq": i, "pad": "x" * 40}).encode() for i in range(20000)]
    produced = produce(kafka, topic, values[:10000], partition_fn=lambda i: i % PARTITIONS)
    connector = connector_props(unique("outage"), topic, hdfs_url, root, flush__size=1000,
                                format__class="JsonFormat", retry__backoff__ms=1000,
                                errors__tolerance="all", errors__deadletterqueue__topic__name=dlq,
                                errors__deadletterqueue__topic__replication__factor=1)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector, name="outage")
    wait_until(lambda: caught_up(sink.output(), PARTITIONS), 120, "the first half written", sink)
    with datanode_down():
        # Records arrive while the DataNode is down: their files cannot be written, nor can
        # a partition be recovered (its commit log cannot be read).
        produced.update(produce(kafka, topic, values[10000:], partition_fn=lambda i: i % PARTITIONS))
        wait_until(lambda: "recovered again in" in sink.output(), 60,
                   "a recovery that failed and waits to be retried", sink)
        still_running_after(sink, 20)
    assert_recovers_and_commits_once(sink, hdfs, root, topic, produced, 20)
    # A storage failure is not a record's fault: nothing went to the dead-letter queue.
    assert high_watermarks(kafka, dlq, 1) == [0]


def test_datanode_down_from_the_start_reads_again_what_it_could_not_write(kafka, hdfs, hdfs_url,
                                                                            lakesink_bin, workdir):
    """Nothing committed yet when writes start failing: the records read since the partition
    started are read again once storage is back (there is no committed offset to go back to)."""
    topic, root = unique("outage-start"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    values = [json.dumps({"seq": i, "pad": "y" * 40}).encode() for i in range(6000)]
    produced = produce(kafka, topic, values, partition_fn=lambda i: i % PARTITIONS)
    connector = connector_props(unique("outage-start"), topic, hdfs_url, root, flush__size=1000,
                                format__class="JsonFormat", retry__backoff__ms=1000)
    with datanode_down():
        sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector,
                        name="outage-start")
        wait_until(lambda: "recovered again" in sink.output() or "recovering the partition again"
                   in sink.output(), 90, "a partition that failed and is recovered again", sink)
        still_running_after(sink, 10)
    assert_recovers_and_commits_once(sink, hdfs, root, topic, produced, 6)
