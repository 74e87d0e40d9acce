"""topics.regex subscribes to every topic whose whole name matches, and only those."""
import json

from conftest import (Lakesink, committed_files, connector_props, create_topic, produce, unique, wait_until,
                      worker_props)


def test_topics_regex(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    prefix, root = unique("rx"), f"/{unique('lake')}"
    matching = [f"{prefix}-a", f"{prefix}-b"]
    other = f"{prefix}-a-not"  # matches the prefix but not the whole pattern
    for t in matching + [other]:
        create_topic(kafka, t, 2)
        produce(kafka, t, [json.dumps({"t": t, "i": i}).encode() for i in range(40)], partition_fn=lambda i: i % 2)
    connector = connector_props(unique("rx"), "unused", hdfs_url, root, flush__size=20, format__class="JsonFormat",
                                tasks__max=2)
    del connector["topics"]
    connector["topics.regex"] = f"{prefix}-[ab]"
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        wait_until(lambda: all(sum(e - s + 1 for p in (0, 1) for s, e, _ in committed_files(hdfs, root, t).get(p, []))
                               == 40 for t in matching), 90, "both matching topics committed", sink)
    finally:
        assert sink.stop() == 0, sink.output()[-2000:]
    assert committed_files(hdfs, root, other) == {}
