"""Exactly-once under crashes and rebalances, proved over all committed files."""
import json
import os
import random
import signal
import time

from conftest import (GroupOwnership, Lakesink, caught_up, caught_up_partitions, committed_files, reached, connector_props, create_topic, kill_repeatedly, produce,
                      read_bytes, unique, wait_until, worker_props)

N_RECORDS = int(os.environ.get("LAKESINK_CRASH_RECORDS", "200000"))
N_KILLS = int(os.environ.get("LAKESINK_CRASH_KILLS", "20"))
PARTITIONS = 4
SESSION_MS = 6000
# Every partition has a live owner again this long after any kill, start or freeze: the
# session timeout and a few seconds.
OWNED_WITHIN_S = SESSION_MS / 1000 + 5


def value(i):
    # Schemaless JSON (JSON lines output) carries the sequence number to check contents.
    return json.dumps({"seq": i, "pad": "x" * 40}).encode()


def verify(hdfs, root, topic, produced):
    """Every produced record is in exactly one committed file, at its offset; no gap."""
    files = committed_files(hdfs, root, topic)
    duplicates = gaps = 0
    total = 0
    for p in range(PARTITIONS):
        expected = {o: v for (pp, o), v in produced.items() if pp == p}
        seen = {}
        next_start = 0
        for start, end, path in files.get(p, []):
            if start < next_start:
                duplicates += next_start - start
            elif start > next_start:
                gaps += start - next_start
            next_start = max(next_start, end + 1)
            lines = read_bytes(hdfs, path).decode().splitlines()
            assert len(lines) == end - start + 1, f"{path}: {len(lines)} lines"
            for offset, line in zip(range(start, end + 1), lines):
                if offset in seen:
                    duplicates += 1
                seen[offset] = line
        assert set(seen) == set(expected), f"partition {p}: {len(set(expected) - set(seen))} missing"
        for o, line in seen.items():
            assert json.loads(line) == json.loads(expected[o]), f"partition {p} offset {o}"
        total += len(seen)
    return total, duplicates, gaps


def test_sigkill_at_random_moments(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic, root = unique("crash"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    # A fifth of the records now, and a fifth before each failpoint run (runs 1, 6, 11, 16):
    # however fast the runs before it drained the topic, a failpoint run has records to
    # commit, and it dies at its first commit that reaches its failpoint.
    values = [value(i) for i in range(N_RECORDS)]
    portion = N_RECORDS // 5
    produced = produce(kafka, topic, values[:portion], partition_fn=lambda i: i % PARTITIONS)

    def next_portion(run):
        if run % 5 == 1:
            k = run // 5 + 1
            produced.update(produce(kafka, topic, values[k * portion:(k + 1) * portion],
                                    partition_fn=lambda i: i % PARTITIONS))

    # Static membership: a restarted worker takes its partitions back at once. A run killed
    # between the two rounds of a cooperative rebalance (its two tasks join one after the
    # other) comes back to a stale assignment; the ownership watch must give the partitions
    # it gave up an owner again within the session timeout and a few seconds.
    name = unique("crash")
    connector = connector_props(name, topic, hdfs_url, root, flush__size=2500,
                                format__class="JsonFormat", tasks__max=2,
                                consumer__override__session__timeout__ms=SESSION_MS,
                                consumer__override__heartbeat__interval__ms=1000)
    worker = {**worker_props(kafka, schemas=False), "lakesink.worker.id": "w1"}
    ownership = GroupOwnership(kafka, f"connect-{name}", topic, PARTITIONS)
    rng = random.Random(int(os.environ.get("LAKESINK_CRASH_SEED", "7")))
    started = time.time()
    # Every fifth run dies at a failpoint between closing temp files and renaming them.
    kills, failpoint_kills = kill_repeatedly(
        lakesink_bin, workdir, worker, connector, N_KILLS, rng,
        failpoints=["before-commit", "after-publish", "before-publish"], failpoint_every=5,
        pause=(1.0, 6.0), before_run=next_portion, ownership=ownership)
    assert failpoint_kills >= 1, "no run stopped between closing temp files and renaming them"
    # A last run to the end, then a graceful stop that commits the tail.
    sink = Lakesink(lakesink_bin, workdir, worker, connector, name="final")
    ownership.event("final run started")
    wait_until(lambda: caught_up(sink.output(), PARTITIONS), 300, "every partition read to the end", sink)
    worst = ownership.assert_owned_within(OWNED_WITHIN_S)
    assert sink.stop() == 0, sink.output()[-3000:]
    elapsed = time.time() - started
    total, duplicates, gaps = verify(hdfs, root, topic, produced)
    print(f"crash test: {elapsed:.0f} s, kills={kills} (failpoint kills={failpoint_kills}) records={total} "
          f"duplicates={duplicates} gaps={gaps}; longest without an owner after a kill or start: {worst:.1f} s")
    assert (total, duplicates, gaps) == (N_RECORDS, 0, 0)
    # Each restart got its partitions back within a session timeout.
    assert elapsed < N_KILLS * 20, f"{elapsed:.0f} s for {N_KILLS} restarts"
    # Nothing is left in the temp directory after the final recovery and graceful stop.
    leftovers = [f.path for d in hdfs.list_status(f"{root}/topics/+tmp/{topic}") for f in hdfs.list_status(d.path)] \
        if _exists(hdfs, f"{root}/topics/+tmp/{topic}") else []
    assert leftovers == []


def _exists(hdfs, path):
    try:
        hdfs.get_file_info(path)
        return True
    except FileNotFoundError:
        return False


def test_frozen_worker_is_fenced(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    """Two workers in one group; one is frozen (SIGSTOP) until its partitions move, then
    resumed: no duplicate, no loss, and the stale worker stops writing with a clear log line."""
    topic, root = unique("fence"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    first = produce(kafka, topic, [value(i) for i in range(20400)], partition_fn=lambda i: i % PARTITIONS)
    name = unique("fence")
    connector = connector_props(name, topic, hdfs_url, root, flush__size=1000,
                                format__class="JsonFormat",
                                consumer__override__session__timeout__ms=SESSION_MS,
                                consumer__override__heartbeat__interval__ms=1000)
    worker = worker_props(kafka, schemas=False)
    ownership = GroupOwnership(kafka, f"connect-{name}", topic, PARTITIONS)
    a = Lakesink(lakesink_bin, os.path.join(workdir), {**worker, "lakesink.worker.id": "a"}, connector, name="a")
    ownership.event("a started")
    wait_until(lambda: "partitions assigned" in a.output(), 60, "worker a to join", a)
    b = Lakesink(lakesink_bin, workdir, {**worker, "lakesink.worker.id": "b"}, connector, name="b")
    ownership.event("b started")
    wait_until(lambda: "partitions assigned" in b.output() and a.output().count("partitions") >= 2, 60,
               "both workers to share the partitions", b)
    a.signal(signal.SIGSTOP)
    ownership.event("a frozen", gone="a")
    # More data while a is frozen; b takes all partitions once a's session expires.
    second = produce(kafka, topic, [value(20400 + i) for i in range(20000)], partition_fn=lambda i: i % PARTITIONS)
    produced = {**first, **second}
    wait_until(lambda: b.output().count("partitions assigned") >= 2, 60, "b to take over a's partitions", b)
    wait_until(lambda: caught_up(b.output(), PARTITIONS), 120, "b to read everything", b)
    a.signal(signal.SIGCONT)
    ownership.event("a resumed", back="a")
    wait_until(lambda: "fenced" in a.output() or "revoked" in a.output(), 60, "a to notice it lost its partitions", a)
    time.sleep(3)
    worst = ownership.assert_owned_within(OWNED_WITHIN_S)
    print(f"frozen worker: longest without a live owner after a start, freeze or resume: {worst:.1f} s")
    assert b.stop() == 0, b.output()[-3000:]
    assert a.stop() == 0, a.output()[-3000:]
    # b's graceful stop committed its tail; a third worker finds nothing left to write.
    c = Lakesink(lakesink_bin, workdir, worker, {**connector, "flush.size": "100"}, name="c")
    counts = {p: sum(1 for (pp, _) in produced if pp == p) for p in range(PARTITIONS)}
    wait_until(lambda: reached(hdfs, root, topic, counts), 120, "the rest to be committed", c)
    assert c.stop() == 0, c.output()[-3000:]
    try:
        total, duplicates, gaps = verify(hdfs, root, topic, produced)
    except AssertionError:
        print("--- a:\n" + a.output()[-6000:] + "\n--- b:\n" + b.output()[-6000:] + "\n--- c:\n" + c.output()[-3000:])
        raise
    assert (total, duplicates, gaps) == (len(produced), 0, 0)
    log = a.output()
    # a was frozen with open files (100 records per partition past the last flush): on resume
    # it learns it lost its partitions and its commit attempt is fenced by b.
    assert "stops writing" in log, log[-3000:]
    assert "fenced" in log, log[-3000:]


def test_static_member_killed_between_rebalance_rounds(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    """Worker a (static member) owns every partition; worker b joins, and a cooperative
    rebalance's first round takes two partitions from a, which a commits while revoking them.
    a dies inside that commit (a failpoint) -- before the second round hands the partitions
    to b -- and comes back at once with its static id: the broker gives it its stored
    assignment and starts no rebalance, so the two partitions are nobody's. The ownership
    watch finds them and makes the group rebalance: every partition has a live owner again
    within the session timeout and a few seconds, and every record is written exactly once."""
    topic, root = unique("rounds"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    produced = produce(kafka, topic, [value(i) for i in range(8000)], partition_fn=lambda i: i % PARTITIONS)
    name = unique("rounds")
    # Nothing commits before the revoke: the first commit of a is the one inside it.
    # One task per worker: a's own tasks cannot rebalance among themselves first.
    connector = connector_props(name, topic, hdfs_url, root, flush__size=1000000, format__class="JsonFormat",
                                tasks__max=1, consumer__override__session__timeout__ms=SESSION_MS,
                                consumer__override__heartbeat__interval__ms=1000)
    worker = worker_props(kafka, schemas=False)
    worker_a, worker_b = {**worker, "lakesink.worker.id": "a"}, {**worker, "lakesink.worker.id": "b"}
    ownership = GroupOwnership(kafka, f"connect-{name}", topic, PARTITIONS)
    os.makedirs(os.path.join(workdir, "a"))
    os.makedirs(os.path.join(workdir, "b"))
    a = Lakesink(lakesink_bin, os.path.join(workdir, "a"), worker_a, connector, name="a",
                 env_extra={"LAKESINK_FAILPOINT": "before-commit"})
    ownership.event("a started")
    wait_until(lambda: caught_up(a.output(), PARTITIONS), 60, "a to read every partition", a)
    b = Lakesink(lakesink_bin, os.path.join(workdir, "b"), worker_b, connector, name="b")
    ownership.event("b started")
    deadline = time.time() + 60
    while a.alive() and time.time() < deadline:
        time.sleep(0.01)
    assert not a.alive(), "a did not die in the commit of its revoke:\n" + a.output()[-3000:]
    a.kill()
    assert "partitions revoked" in a.output() and "failpoint" in a.output(), a.output()[-3000:]
    ownership.event("a died revoking")
    a = Lakesink(lakesink_bin, os.path.join(workdir, "a"), worker_a, connector, name="a-again")
    ownership.event("a restarted")
    logs = lambda: a.output() + b.output()  # noqa: E731
    wait_until(lambda: "have no owner" in logs(), 30, "the ownership watch to find the unowned partitions", a)
    wait_until(lambda: (caught_up_partitions(a.output()) or 0) + (caught_up_partitions(b.output()) or 0) == PARTITIONS
               and None not in (caught_up_partitions(a.output()), caught_up_partitions(b.output())),
               60, "a and b to read every partition", a)
    worst = ownership.assert_owned_within(OWNED_WITHIN_S)
    print(f"static member killed between rounds: every partition owned again {worst:.1f} s after the last event")
    assert b.stop() == 0, b.output()[-3000:]
    assert a.stop() == 0, a.output()[-3000:]
    total, duplicates, gaps = verify(hdfs, root, topic, produced)
    assert (total, duplicates, gaps) == (len(produced), 0, 0)


def test_stop_during_start_up_is_graceful(kafka, hdfs_url, lakesink_bin, workdir):
    """A SIGTERM that arrives while the connector is still starting stops the process cleanly
    (exit 0, "stopped"), not by the signal's default action."""
    topic, root = unique("early-stop"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    connector = connector_props(unique("early-stop"), topic, hdfs_url, root, flush__size=10,
                                format__class="JsonFormat")
    for attempt in range(3):
        sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector,
                        name=f"early-{attempt}")
        deadline = time.time() + 30
        while "starting connector" not in sink.output() and sink.alive() and time.time() < deadline:
            time.sleep(0.002)
        assert sink.stop() == 0, sink.output()[-3000:]
        assert "stopped" in sink.output(), sink.output()[-3000:]
