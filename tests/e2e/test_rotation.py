"""Wall-clock rotation fires on an idle partition (the Confluent sink's waits for a record)."""
import json
import time

from conftest import (Lakesink, committed_files, connector_props, create_topic, produce, read_bytes, unique,
                      wait_until, worker_props)


def test_scheduled_rotation_commits_an_idle_partition(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic, root = unique("idle"), f"/{unique('lake')}"
    create_topic(kafka, topic, 1)
    connector = connector_props(unique("idle"), topic, hdfs_url, root, flush__size=100000,
                                format__class="JsonFormat", rotate__schedule__interval__ms=2000, timezone="UTC")
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        wait_until(lambda: "partition recovered" in sink.output(), 60, "the partition to be assigned", sink)
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(7)])
        started = time.time()
        # Nothing else arrives; the schedule alone must commit the 7 records.
        wait_until(lambda: committed_files(hdfs, root, topic).get(0), 15, "a scheduled commit", sink)
        elapsed = time.time() - started
        files = committed_files(hdfs, root, topic)[0]
        assert [(s, e) for s, e, _ in files] == [(0, 6)]
        assert [json.loads(l)["n"] for l in read_bytes(hdfs, files[0][2]).decode().splitlines()] == list(range(7))
        assert elapsed < 10, elapsed
    finally:
        assert sink.stop() == 0, sink.output()[-2000:]
