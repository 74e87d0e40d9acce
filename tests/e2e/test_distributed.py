"""Distributed mode: three `lakesink distributed` workers of one group on the real bed share a
connector created through a follower with a third-party client (kafka-connect-py); the config and
status topics hold Connect's records; a worker killed with SIGKILL while data flows has its tasks
running elsewhere within the session timeout, and the files still hold every record exactly once;
offsets altered through a follower while STOPPED move where the next files start; requests are
forwarded at most twice and errors relayed verbatim; bad internal topics and missing keys are
refused by name."""
import json
import re
import subprocess
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_connect import KafkaConnect

from conftest import (Lakesink, committed_files, create_topic, produce, read_bytes, reached, unique,
                      wait_until, worker_props)
from connect_oracle import FILE_SINK, connect_oracles  # noqa: F401 -- the fixture, used by name

SESSION_MS = 10000
HDFS_SINK = "io.confluent.connect.hdfs3.Hdfs3SinkConnector"


def cluster_props(kafka, group, **extra):
    props = worker_props(kafka, schemas=False)
    props.update({
        "group.id": group,
        "config.storage.topic": f"{group}-configs",
        "config.storage.replication.factor": "1",
        "status.storage.topic": f"{group}-status",
        "status.storage.replication.factor": "1",
        "offset.storage.topic": f"{group}-offsets",
        "session.timeout.ms": str(SESSION_MS),
        "rest.advertised.host.name": "127.0.0.1",
    })
    props.update(extra)
    return props


def members_seen(worker):
    """The members the worker last logged for its group."""
    lines = [line for line in worker.output().splitlines() if "the worker group changed" in line]
    return len(re.findall(r"http://", lines[-1])) if lines else 0


def start_cluster(lakesink_bin, workdir, kafka, n=3):
    """n workers of a new group, started one after the other (the first leads)."""
    group = unique("cluster")
    workers = []
    for i in range(n):
        w = Lakesink(lakesink_bin, workdir, cluster_props(kafka, group), None, name=f"w{i}",
                     command="distributed")
        workers.append(w)
        w.wait_rest(60)
    for w in workers:
        wait_until(lambda: members_seen(w) == n, 60, f"{w.rest_url} to see {n} members", w)
    return group, workers


def connector(name, topic, hdfs_url, root, **extra):
    config = {
        "connector.class": HDFS_SINK,
        "name": name,
        "topics": topic,
        "hdfs.url": f"{hdfs_url}{root}",
        "format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
        "consumer.override.auto.offset.reset": "earliest",
    }
    config.update(extra)
    return config


def read_topic(kafka, topic, partitions):
    """[(key, value or None)] of every record of an internal topic."""
    c = Consumer({"bootstrap.servers": kafka, "group.id": unique("peek"), "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, idle = [], 0
    while idle < 3:
        m = c.poll(1)
        if m is None:
            idle += 1
            continue
        if m.error():
            continue
        out.append((m.key().decode(), json.loads(m.value()) if m.value() is not None else None))
    c.close()
    return out


def status(worker, name):
    r = worker.rest("GET", f"/connectors/{name}/status", timeout=10)
    return r.json() if r.status == 200 else None


def stop_all(workers):
    for w in workers:
        if w.alive():
            w.stop()


def test_three_workers_share_a_connector_and_survive_a_sigkill(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    group, workers = start_cluster(lakesink_bin, workdir, kafka)
    try:
        topic, root, name = unique("dist"), f"/{unique('lake')}", unique("dist")
        create_topic(kafka, topic, 6)
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(6000)], partition_fn=lambda i: i % 6)
        follower = workers[2]
        kc = KafkaConnect(url=follower.rest_url)
        config = connector(name, topic, hdfs_url, root, **{
            "tasks.max": "3", "flush.size": "100",
            "rotate.schedule.interval.ms": "3000", "timezone": "UTC"})
        info = kc.create_connector({"name": name, "config": config})
        assert info["name"] == name and len(info["tasks"]) == 3, info
        # Every worker serves the same connector, from the config topic.
        for w in workers:
            wait_until(lambda: KafkaConnect(url=w.rest_url).list_connectors() == [name], 5,
                       f"{w.rest_url} to list the connector", w)

        # Connect's config records, in the order Connect writes them.
        records = [(k, v) for k, v in read_topic(kafka, f"{group}-configs", 1) if name in k]
        keys = [k for k, _ in records]
        # No target state for a connector created without one (it is started), as Connect.
        assert keys == [f"connector-{name}", f"task-{name}-0", f"task-{name}-1",
                        f"task-{name}-2", f"commit-{name}"], keys
        assert records[0][1] == {"properties": config}
        assert records[4][1] == {"tasks": 3}

        # The three tasks run on three workers, and every worker tells the same.
        ids = {w.rest_url.removeprefix("http://") for w in workers}

        def spread():
            views = [status(w, name) for w in workers]
            if any(v is None for v in views):
                return False
            tasks = views[0]["tasks"]
            return (all(v == views[0] for v in views) and len(tasks) == 3
                    and all(t["state"] == "RUNNING" for t in tasks)
                    and {t["worker_id"] for t in tasks} == ids)
        wait_until(spread, 60, "three RUNNING tasks, one per worker, seen alike by all", follower)
        statuses = dict(read_topic(kafka, f"{group}-status", 5))
        task0 = statuses[f"status-task-{name}-0"]
        assert set(task0) == {"state", "trace", "worker_id", "generation", "version"}, task0
        assert statuses[f"status-topic-{topic}:connector-{name}"]["topic"]["name"] == topic
        wait_until(lambda: reached(hdfs, root, topic, {p: 1000 for p in range(6)}), 120,
                   "the first 6000 records in files", follower)

        # SIGKILL the worker running task 0 (and the connector) while records flow.
        victim_id = status(follower, name)["tasks"][0]["worker_id"]
        victim = next(w for w in workers if w.rest_url.endswith(victim_id))
        survivors = [w for w in workers if w is not victim]
        flowing = threading.Thread(target=lambda: [
            (produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(b, b + 600)],
                     partition_fn=lambda i: i % 6), time.sleep(0.5)) for b in range(6000, 12000, 600)])
        flowing.start()
        time.sleep(1)
        killed_at = time.time()
        victim.kill()

        def moved():
            views = [status(w, name) for w in survivors]
            st = views[0]
            return st is not None and views[1] == st and all(
                t["state"] == "RUNNING" and t["worker_id"] != victim_id for t in st["tasks"]) \
                and st["connector"]["worker_id"] != victim_id
        wait_until(moved, SESSION_MS / 1000 + 20, "the killed worker's tasks to run elsewhere", survivors[0])
        failover = time.time() - killed_at
        print(f"task failover after SIGKILL: {failover:.1f} s (session.timeout.ms={SESSION_MS})")
        assert failover < SESSION_MS / 1000 + 10, failover
        flowing.join()

        # Every record exactly once: contiguous ranges per partition and each value once.
        wait_until(lambda: reached(hdfs, root, topic, {p: 2000 for p in range(6)}), 180,
                   "all 12000 records in files", survivors[0])
        files = committed_files(hdfs, root, topic)
        seen = []
        for p in range(6):
            expected = 0
            for start, end, path in files[p]:
                assert start == expected, (p, files[p])
                expected = end + 1
                rows = [json.loads(line) for line in read_bytes(hdfs, path).splitlines() if line.strip()]
                assert len(rows) == end - start + 1, path
                seen.extend(r["n"] for r in rows)
            assert expected == 2000, (p, files[p])
        assert sorted(seen) == list(range(12000))
    finally:
        stop_all(workers)


def test_offsets_altered_through_a_follower_while_stopped_move_the_next_files(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                              workdir):
    group, workers = start_cluster(lakesink_bin, workdir, kafka)
    try:
        topic, root, name = unique("dofs"), f"/{unique('lake')}", unique("dofs")
        create_topic(kafka, topic, 2)
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(200)], partition_fn=lambda i: i % 2)
        follower, other = workers[2], workers[1]
        r = follower.rest("POST", "/connectors", body={
            "name": name, "config": connector(name, topic, hdfs_url, root, **{"tasks.max": "2", "flush.size": "50"})})
        assert r.status == 201, r.body
        wait_until(lambda: reached(hdfs, root, topic, {0: 100, 1: 100}), 90, "200 records in files", follower)
        assert follower.rest("PUT", f"/connectors/{name}/stop").status == 204

        def stopped_everywhere():
            return all((status(w, name) or {}).get("connector", {}).get("state") == "STOPPED"
                       and status(w, name)["tasks"] == [] for w in workers)
        wait_until(stopped_everywhere, 30, "STOPPED on every worker", follower)
        # The committed offsets come from the files, whichever worker is asked.
        before = other.rest("GET", f"/connectors/{name}/offsets").json()["offsets"]
        assert sorted((o["partition"]["kafka_partition"], o["offset"]["kafka_offset"]) for o in before) == \
            [(0, 100), (1, 100)], before
        body = {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0},
                             "offset": {"kafka_offset": 150}}]}
        answer = {}

        def altered():
            r = follower.rest("PATCH", f"/connectors/{name}/offsets", body=body)
            answer["r"] = r
            # 409 while a worker is still committing the stopped tasks' files.
            return r.status != 409
        wait_until(altered, 60, "the offsets to be altered", follower)
        assert answer["r"].status == 200, answer["r"].body
        assert answer["r"].json() == {"message": "The offsets for this connector have been altered successfully"}
        after = other.rest("GET", f"/connectors/{name}/offsets").json()["offsets"]
        assert sorted((o["partition"]["kafka_partition"], o["offset"]["kafka_offset"]) for o in after) == \
            [(0, 150), (1, 100)], after

        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(200, 400)], partition_fn=lambda i: i % 2)
        assert follower.rest("PUT", f"/connectors/{name}/resume").status == 202
        wait_until(lambda: reached(hdfs, root, topic, {0: 150, 1: 200}), 90, "the records after the offsets",
                   follower)
        files = committed_files(hdfs, root, topic)
        assert [(s, e) for s, e, _ in files[0]] == [(0, 49), (50, 99), (150, 199)], files[0]
        assert [(s, e) for s, e, _ in files[1]] == [(0, 49), (50, 99), (100, 149), (150, 199)], files[1]
    finally:
        stop_all(workers)


def test_requests_are_forwarded_at_most_twice_and_errors_relayed(kafka, hdfs_url, lakesink_bin, workdir):
    group, workers = start_cluster(lakesink_bin, workdir, kafka, n=2)
    try:
        follower = workers[1]
        # A request that was forwarded twice is not forwarded again: 409, with a retry hint.
        r = follower.rest("POST", "/connectors?forward=false", body={"name": "x", "config": {}})
        assert r.status == 409 and r.headers.get("retry-after") == "1", (r.status, r.body)
        assert r.json()["message"] == \
            "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
        # The leader's answers come back verbatim through the follower.
        r = follower.rest("DELETE", "/connectors/nope")
        assert (r.status, r.json()) == (404, {"error_code": 404, "message": "Connector nope not found"})
        bad = follower.rest("POST", "/connectors", body={"name": "bad", "config": {
            "connector.class": HDFS_SINK, "topics": "t", "hdfs.url": "hdfs://h:1/x", "flush.size": "zero"}})
        assert bad.status == 400 and "flush.size" in bad.json()["message"], bad.body
        name = unique("fwd")
        config = connector(name, unique("t"), hdfs_url, f"/{unique('lake')}", **{"flush.size": "10"})
        assert follower.rest("POST", "/connectors", body={"name": name, "config": config}).status == 201
        again = follower.rest("POST", "/connectors", body={"name": name, "config": config})
        assert (again.status, again.json()["message"]) == (409, f"Connector {name} already exists")
        assert "retry-after" not in again.headers
        # A config change through the follower is seen by the leader at once (read back first).
        r = follower.rest("PUT", f"/connectors/{name}/config", body=dict(config, **{"flush.size": "20"}))
        assert r.status == 200, r.body
        assert workers[0].rest("GET", f"/connectors/{name}/config").json()["flush.size"] == "20"
        assert follower.rest("DELETE", f"/connectors/{name}").status == 204
        assert workers[0].rest("GET", f"/connectors/{name}").status == 404
        # The leader dies: a write through the follower waits for the next leader (this
        # worker, once the group drops the dead one) instead of failing.
        workers[0].kill()
        t0 = time.time()
        r = follower.rest("POST", "/connectors", body={"name": name, "config": config})
        waited = time.time() - t0
        assert r.status == 201, (r.status, r.body, waited)
        print(f"a create through the follower while the leader was dead waited {waited:.1f} s")
        assert follower.rest("GET", f"/connectors/{name}").status == 200
    finally:
        stop_all(workers)


def test_bad_internal_topics_and_missing_keys_are_refused_by_name(kafka, lakesink_bin, workdir):
    group = unique("badcluster")
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(f"{group}-configs", 2, 1, config={"cleanup.policy": "compact"})])[
        f"{group}-configs"].result()
    w = f"{workdir}/bad-worker.properties"

    def run(props):
        with open(w, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in props.items())
        return subprocess.run([lakesink_bin, "distributed", w], capture_output=True, text=True, timeout=120)

    props = cluster_props(kafka, group, listeners="http://127.0.0.1:0")
    out = run(props)
    assert out.returncode != 0
    assert f"config.storage.topic={group}-configs: has 2 partitions; it must have exactly 1" in out.stderr, out.stderr
    del props["group.id"]
    out = run(props)
    assert out.returncode != 0 and "group.id: missing" in out.stderr, out.stderr
    props = cluster_props(kafka, unique("deleting"), listeners="http://127.0.0.1:0")
    admin.create_topics([NewTopic(props["status.storage.topic"], 1, 1, config={"cleanup.policy": "delete"})])[
        props["status.storage.topic"]].result()
    out = run(props)
    assert out.returncode != 0
    assert "cleanup.policy is 'delete'; it must be 'compact'" in out.stderr, out.stderr


def canonical(records, name, topic):
    """[(key with the names replaced, value)] of an internal topic's records about one connector."""
    out = []
    for k, v in records:
        if name not in k:
            continue
        out.append((k.replace(name, "{c}").replace(topic, "{t}"), v))
    return out


def value_shape(v):
    """Top-level keys and value types; a connector's properties compared by presence only."""
    if v is None:
        return None
    return {k: ("object" if isinstance(x, dict) else type(x).__name__) for k, x in v.items()}


def test_internal_topics_and_answers_match_apache_connect_distributed(connect_oracles, kafka, hdfs_url,
                                                                      lakesink_bin, workdir):
    """The same life of a connector on a Kafka 4.1.1 distributed worker and on a Lakesink one:
    the same status codes, and the config and status topics hold the same kinds of records with
    the same value shapes and the same target states."""
    oracle = connect_oracles(distributed=True, worker={"session.timeout.ms": str(SESSION_MS)})
    group, workers = start_cluster(lakesink_bin, workdir, kafka, n=1)
    sink = workers[0]
    try:
        sides = []
        for side in (oracle, sink):
            topic, name = unique("cmp"), unique("cmp")
            create_topic(kafka, topic, 1)
            produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(5)])
            if side is oracle:
                config = {"connector.class": FILE_SINK, "tasks.max": "1", "topics": topic,
                          "file": f"{workdir}/{name}.out",
                          "value.converter": "org.apache.kafka.connect.storage.StringConverter"}
                call = side.call
            else:
                config = connector(name, topic, hdfs_url, f"/{unique('lake')}", **{"tasks.max": "1",
                                                                                    "flush.size": "5"})
                call = side.rest
            codes = []

            def running():
                r = call("GET", f"/connectors/{name}/status")
                return r.status == 200 and r.json()["connector"]["state"] == "RUNNING" and \
                    [t["state"] for t in r.json()["tasks"]] == ["RUNNING"]
            codes.append(call("POST", "/connectors", body={"name": name, "config": config}).status)
            wait_until(running, 60, f"{name} RUNNING")
            # Topic tracking has seen the topic on both sides before the connector changes.
            wait_until(lambda: call("GET", f"/connectors/{name}/topics").json()[name]["topics"] == [topic], 60,
                       "the topic tracked")
            for method, path in (("PUT", "pause"), ("PUT", "resume"), ("PUT", "stop"), ("PUT", "resume")):
                codes.append(call(method, f"/connectors/{name}/{path}").status)
                time.sleep(1)
            wait_until(running, 60, f"{name} RUNNING again")
            codes.append(call("POST", f"/connectors/{name}/restart?includeTasks=true").status)
            wait_until(running, 60, f"{name} RUNNING after the restart")
            codes.append(call("DELETE", f"/connectors/{name}").status)
            codes.append(call("GET", f"/connectors/{name}").status)
            time.sleep(2)
            cfg = side.config_topic if side is oracle else f"{group}-configs"
            st = side.status_topic if side is oracle else f"{group}-status"
            sides.append((codes, canonical(read_topic(kafka, cfg, 1), name, topic),
                          canonical(read_topic(kafka, st, 5), name, topic)))
        (o_codes, o_config, o_status), (l_codes, l_config, l_status) = sides
        assert l_codes == o_codes == [201, 202, 202, 204, 202, 202, 204, 404], (o_codes, l_codes)

        # The same kinds of config records, with the same value shapes.
        def kinds(records):
            shapes = {}
            for k, v in records:
                if v is not None:
                    shapes.setdefault(k, value_shape(v))
            return shapes
        assert kinds(l_config) == kinds(o_config), (o_config, l_config)
        # The same target states in the same order, and the same tombstones at the end.
        targets = [v for k, v in o_config if k == "target-state-{c}"], [v for k, v in l_config if k == "target-state-{c}"]
        assert targets[1] == targets[0], targets
        for records in (o_config, l_config):
            last = {k: v for k, v in records}
            assert last["connector-{c}"] is None and last["target-state-{c}"] is None, records
        # Statuses and tracked topics: the same keys and value shapes.
        assert kinds(l_status) == kinds(o_status), json.dumps([kinds(o_status), kinds(l_status)])
        task_states = [v["state"] for k, v in l_status if k == "status-task-{c}-0" and v]
        assert "RUNNING" in task_states and "PAUSED" in task_states, task_states
    finally:
        stop_all(workers)
