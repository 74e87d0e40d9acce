"""Exactly-once with many output directories per partition: a time-partitioned topic with
out-of-order timestamps (12 hourly directories per Kafka partition, each committed on its
own), SIGKILLed at random moments and at the commit failpoints."""
import datetime
import json
import os
import random
import time

from conftest import (GroupOwnership, Lakesink, committed_files_deep, connector_props, create_topic, group_offsets, kill_repeatedly,
                      produce, read_bytes, unique, wait_until, worker_props)

N_RECORDS = int(os.environ.get("LAKESINK_TIME_CRASH_RECORDS", "60000"))
N_KILLS = int(os.environ.get("LAKESINK_TIME_CRASH_KILLS", "10"))
PARTITIONS = 4
BASE_MS = 1709251200000  # 2024-03-01T00:00:00Z
HOURS = 12


def hour_dir(ts_ms):
    t = datetime.datetime.fromtimestamp(ts_ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("dt=%Y-%m-%d/hr=%H")


def test_sigkill_with_many_directories_per_partition(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic, root = unique("tcrash"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    rng = random.Random(int(os.environ.get("LAKESINK_CRASH_SEED", "11")))
    stamps = [BASE_MS + rng.randrange(HOURS * 3600 * 1000) for _ in range(N_RECORDS)]
    values = [json.dumps({"seq": i, "ts": stamps[i], "pad": "y" * 30}).encode() for i in range(N_RECORDS)]
    # Half the records now, half after the fifth run, so that later runs (and their
    # failpoints) still have records to commit.
    half = N_RECORDS // 2
    produced = produce(kafka, topic, values[:half], partition_fn=lambda i: i % PARTITIONS)
    name = unique("tcrash")
    connector = connector_props(
        name, topic, hdfs_url, root, flush__size=400, format__class="JsonFormat", tasks__max=2,
        partitioner__class="io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
        path__format="'dt'=yyyy-MM-dd/'hr'=HH", partition__duration__ms=3600000, locale="en-US",
        timezone="UTC", timestamp__extractor="RecordField", timestamp__field="ts",
        consumer__override__session__timeout__ms=6000, consumer__override__heartbeat__interval__ms=1000)
    # Static membership: restarts take the partitions back at once (see test_exactly_once).
    worker = {**worker_props(kafka, schemas=False), "lakesink.worker.id": "w1"}
    ownership = GroupOwnership(kafka, f"connect-{name}", topic, PARTITIONS)

    def second_half(run):
        if run == N_KILLS // 2:
            produced.update(produce(kafka, topic, values[half:], partition_fn=lambda i: i % PARTITIONS))

    # A failpoint run dies at its first commit that reaches the point.
    kills, failpoint_kills = kill_repeatedly(
        lakesink_bin, workdir, worker, connector, N_KILLS, rng,
        failpoints=["before-commit", "after-publish", "before-publish"], failpoint_every=3,
        pause=(1.0, 5.0), before_run=second_half, ownership=ownership)
    assert failpoint_kills >= 1, "no run stopped inside a commit"
    where = {json.loads(v)["seq"]: (p, o) for (p, o), v in produced.items()}
    # The last run commits the tails on a 2-second schedule; it is done when the group's
    # offsets (committed only for durable records) reach the end of every partition.
    final = {**connector, f"topic.{topic}.rotate.schedule.interval.ms": "2000"}
    sink = Lakesink(lakesink_bin, workdir, worker, final, name="final")
    ownership.event("final run started")
    ends = {p: 1 + max(o for (pp, o) in produced if pp == p) for p in range(PARTITIONS)}
    wait_until(lambda: group_offsets(kafka, f"connect-{name}", topic, PARTITIONS) == ends, 300,
               "every record to be committed", sink)
    # Within the session timeout (6 s) and a few seconds of every kill and start.
    worst = ownership.assert_owned_within(11)
    assert sink.stop() == 0, sink.output()[-3000:]

    files = committed_files_deep(hdfs, root, topic)
    seen = {}
    dirs_per_partition = {}
    for rel, p, start, end, path in files:
        dirs_per_partition.setdefault(p, set()).add(rel)
        lines = read_bytes(hdfs, path).decode().splitlines()
        offsets = []
        for line in lines:
            record = json.loads(line)
            seq = record["seq"]
            assert seq not in seen, f"seq {seq} in {path} and {seen[seq]}"
            seen[seq] = path
            rp, ro = where[seq]
            assert rp == p, f"{path}: seq {seq} is from partition {rp}"
            assert start <= ro <= end, f"{path}: offset {ro} outside the name's range"
            assert rel == hour_dir(record["ts"]), f"{path}: ts {record['ts']} belongs in {hour_dir(record['ts'])}"
            offsets.append(ro)
        assert offsets == sorted(offsets) and offsets[0] == start and offsets[-1] == end, path
    missing = set(range(N_RECORDS)) - set(seen)
    print(f"time-partitioned crash test: kills={kills} (failpoint kills={failpoint_kills}) files={len(files)} "
          f"records={len(seen)} missing={len(missing)} longest without an owner={worst:.1f} s directories/partition="
          f"{sorted(len(d) for d in dirs_per_partition.values())}")
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    assert all(len(d) >= 10 for d in dirs_per_partition.values())
    # Directories were committed on their own: some file ends above another open file's start.
    by_partition = {}
    for rel, p, start, end, _ in files:
        by_partition.setdefault(p, []).append((start, end))
    assert any(any(s2 < e1 and s1 < s2 for s1, e1 in ranges for s2, _ in ranges) for ranges in by_partition.values())
