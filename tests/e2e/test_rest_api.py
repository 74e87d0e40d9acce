"""The Connect REST API of `lakesink standalone`: the same requests against Apache Kafka's own
Connect worker (the oracle, 4.1.1) and against Lakesink, compared by status code, content type,
JSON shape and, where they must agree, the message; a third-party client (kafka-connect-py);
pause, stop and offsets over real data in HDFS; the restart policy; and /metrics read with the
prometheus-client parser."""
import json
import re
import time

import pytest
from kafka_connect import KafkaConnect
from prometheus_client.parser import text_string_to_metric_families

from conftest import (Lakesink, committed_files, create_topic, produce, read_bytes, unique, wait_until,
                      worker_props)
from connect_oracle import FILE_SINK, connect_oracle  # noqa: F401 -- the fixture, used by name

HDFS_SINK = "io.confluent.connect.hdfs3.Hdfs3SinkConnector"


def lakesink_connector(name, topic, hdfs_url, root, **extra):
    config = {
        "connector.class": HDFS_SINK,
        "name": name,
        "tasks.max": "1",
        "topics": topic,
        "hdfs.url": f"{hdfs_url}{root}",
        "flush.size": "5",
        "format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
        "consumer.override.auto.offset.reset": "earliest",
    }
    config.update(extra)
    return config


def start_worker(lakesink_bin, workdir, kafka, connector=None, name="rest"):
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector, name=name)
    sink.wait_rest()
    return sink


def shape(value, free=(), path=()):
    """The structure of a JSON value: dict keys (except for maps whose keys are data, named
    by their path in `free`, "*" matching any key), list element shape, scalar type names."""
    def fullest(shapes):  # of the elements' shapes, the one with the most structure
        return max(shapes, key=lambda x: len(json.dumps(x, sort_keys=True)))
    if isinstance(value, dict):
        if path in free:
            return {"*": fullest([shape(v, free, path + ("*",)) for v in value.values()])} if value else {}
        return {k: shape(v, free, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [fullest([shape(v, free, path + ("[]",)) for v in value])] if value else []
    return type(value).__name__


class Pair:
    """One request sent to both workers; `{c}` in paths and bodies is each side's connector."""

    def __init__(self, oracle, sink):
        self.oracle, self.sink = oracle, sink
        self.names = {}

    def name(self, key):
        if key not in self.names:
            self.names[key] = (unique(f"o-{key}"), unique(f"l-{key}"))
        return self.names[key]

    def send(self, method, path, body=None, key="c", content_type="application/json", raw=None):
        o_name, l_name = self.name(key)
        out = []
        for side, name in ((self.oracle, o_name), (self.sink, l_name)):
            p = path.replace("{c}", name)
            b = body(side, name) if callable(body) else body
            r = (side.call if side is self.oracle else side.rest)(method, p, body=b, raw=raw,
                                                                 content_type=content_type)
            out.append(r)
        return out

    def same(self, method, path, body=None, status=None, free=(), message=False, key="c", **kw):
        """Sends the request; asserts equal status codes (and `status` when given), JSON on
        both sides with the same shape and, with `message`, the same error message once the
        connector names are replaced. Returns both bodies (None for an empty one)."""
        ro, rl = self.send(method, path, body, key=key, **kw)
        assert ro.status == rl.status, f"status differs\noracle: {ro}\nlakesink: {rl}"
        if status is not None:
            assert ro.status == status, ro
        if not ro.body:
            assert not rl.body, rl
            return None, None
        jo, jl = ro.json(), rl.json()
        assert rl.content_type == "application/json", rl
        assert shape(jo, free) == shape(jl, free), f"shape differs\noracle: {ro}\nlakesink: {rl}"
        if message:
            o_name, l_name = self.name(key)
            assert jo["error_code"] == ro.status and jl["error_code"] == rl.status
            assert jo["message"].replace(o_name, "<c>") == jl["message"].replace(l_name, "<c>"), \
                f"message differs\noracle: {ro}\nlakesink: {rl}"
        return jo, jl


def test_rest_api_matches_apache_kafka_connect(connect_oracle, kafka, hdfs_url, lakesink_bin,  # noqa: F811
                                               workdir, tmp_path):
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        pair = Pair(connect_oracle, sink)
        o_topic, l_topic = unique("oracle-t"), unique("rest-t")
        for t in (o_topic, l_topic):
            create_topic(kafka, t, 1)
        root = f"/{unique('lake')}"

        def config(side, name, **extra):
            if side is connect_oracle:
                c = {"connector.class": FILE_SINK, "name": name, "tasks.max": "1", "topics": o_topic,
                     "file": str(tmp_path / f"{name}.txt"),
                     "value.converter": "org.apache.kafka.connect.storage.StringConverter"}
                c.update(extra)
                return c
            return lakesink_connector(name, l_topic, hdfs_url, f"{root}/{name}", **extra)

        def create(side, name):
            return {"name": name, "config": config(side, name)}

        # The worker.
        jo, jl = pair.same("GET", "/", status=200)
        assert jl["kafka_cluster_id"] == jo["kafka_cluster_id"], (jo, jl)
        pair.same("GET", "/health", status=200)
        pair.same("GET", "/connectors", status=200)

        # Create, and the client mistakes around it.
        ro, rl = pair.send("POST", "/connectors", create)
        assert ro.status == rl.status == 201, (ro, rl)
        o_name, l_name = pair.name("c")
        assert ro.headers["location"].endswith(f"/connectors/{o_name}"), ro
        assert rl.headers["location"] == f"{sink.rest_url}/connectors/{l_name}", rl
        assert shape(ro.json(), [("config",)]) == shape(rl.json(), [("config",)]), (ro, rl)
        pair.same("POST", "/connectors", create, status=409, message=True)
        pair.same("POST", "/connectors",
                  lambda side, name: {"name": name, "config": dict(config(side, name), name="other")},
                  key="mismatch", status=400, message=True)
        pair.same("POST", "/connectors", create, key="text", content_type="text/plain", status=415,
                  message=True)
        ro, rl = pair.send("POST", "/connectors",
                           lambda side, name: dict(create(side, name), initial_state="PAUSED"), key="paused")
        assert ro.status == rl.status == 201, (ro, rl)
        connect_oracle.wait_state(o_name, "RUNNING", tasks=1)
        wait_until(lambda: sink.rest("GET", f"/connectors/{l_name}/status").json()["tasks"][0]["state"]
                   == "RUNNING", 60, "the connector's task to run", sink)
        o_paused, l_paused = pair.name("paused")
        # Connect's standalone worker lists no task for a connector created PAUSED; Lakesink
        # starts its tasks paused (their consumers hold the partitions, reading nothing).
        connect_oracle.wait_state(o_paused, "PAUSED")
        wait_until(lambda: sink.rest("GET", f"/connectors/{l_paused}/status").json()["tasks"][0]["state"]
                   == "PAUSED", 60, "the paused connector's task", sink)

        # Reading connectors.
        free_info = [("config",), ("*", "info", "config")]
        pair.same("GET", "/connectors?expand=status", status=200, free=[()])
        pair.same("GET", "/connectors?expand=info", status=200, free=[(), *free_info])
        pair.same("GET", "/connectors?expand=status&expand=info", status=200, free=[(), *free_info])
        pair.same("GET", "/connectors/{c}", status=200, free=[("config",)])
        pair.same("GET", "/connectors/{c}/config", status=200, free=[()])
        pair.same("GET", "/connectors/{c}/status", status=200)
        pair.same("GET", "/connectors/{c}/tasks", status=200, free=[("[]", "config")])
        pair.same("GET", "/connectors/{c}/tasks/0/status", status=200)
        pair.same("GET", "/connectors/{c}/tasks/7/status", status=404, message=True)
        pair.same("GET", "/connectors/nosuch-connector", status=404, message=True)
        pair.same("GET", "/connectors/nosuch-connector/status", status=404, message=True)

        # Changing configs.
        pair.same("PUT", "/connectors/{c}/config", lambda side, name: config(side, name), status=200,
                  free=[("config",)])
        pair.same("PUT", "/connectors/{c}/config", lambda side, name: config(side, name), key="put-new",
                  status=201, free=[("config",)])
        pair.same("PUT", "/connectors/{c}/config", lambda side, name: dict(config(side, name), name="other"),
                  status=400, message=True)
        pair.same("PATCH", "/connectors/{c}/config", {"tasks.max": "1"}, status=200, free=[("config",)])
        pair.same("PATCH", "/connectors/nosuch-connector/config", {"tasks.max": "1"}, status=404, message=True)

        # Lifecycle.
        connect_oracle.wait_state(o_name, "RUNNING", tasks=1)
        wait_until(lambda: sink.rest("GET", f"/connectors/{l_name}/status").json()["tasks"][0]["state"]
                   == "RUNNING", 60, "the task to run after the config change", sink)
        pair.same("POST", "/connectors/{c}/tasks/0/restart", status=204)
        pair.same("POST", "/connectors/{c}/restart", status=204)
        pair.same("POST", "/connectors/{c}/restart?includeTasks=true&onlyFailed=false", status=202)
        pair.same("POST", "/connectors/{c}/restart?includeTasks=true&onlyFailed=true", status=202)
        # Deliberate difference: Connect's standalone worker answers 500 (a NullPointerException).
        ro, rl = pair.send("POST", "/connectors/nosuch-connector/restart")
        assert ro.status == 500 and rl.status == 404, (ro, rl)
        assert rl.json() == {"error_code": 404, "message": "Connector nosuch-connector not found"}, rl
        # Connect's task misses its offset commits for good when paused within moments of a
        # restart (seen with 4.1.1); let it settle first.
        connect_oracle.wait_state(o_name, "RUNNING", tasks=1)
        time.sleep(3)
        pair.same("PUT", "/connectors/{c}/pause", status=202)
        connect_oracle.wait_state(o_name, "PAUSED", tasks=1)
        wait_until(lambda: sink.rest("GET", f"/connectors/{l_name}/status").json()["connector"]["state"]
                   == "PAUSED", 30, "the pause", sink)
        pair.same("PUT", "/connectors/{c}/resume", status=202)
        connect_oracle.wait_state(o_name, "RUNNING", tasks=1)
        time.sleep(2)

        # Offsets: data on both sides first.
        for t in (o_topic, l_topic):
            produce(kafka, t, [json.dumps({"n": i}).encode() for i in range(10)])
        wait_until(lambda: sink.rest("GET", f"/connectors/{l_name}/offsets").json()["offsets"], 90,
                   "Lakesink's first commit", sink)
        connect_oracle.wait_for(lambda: connect_oracle.get(f"/connectors/{o_name}/offsets").json()["offsets"],
                                60, "the oracle's first offset commit")
        jo, jl = pair.same("GET", "/connectors/{c}/offsets", status=200)
        assert jl == {"offsets": [{"partition": {"kafka_topic": l_topic, "kafka_partition": 0},
                                   "offset": {"kafka_offset": 10}}]}, jl
        alter = {"offsets": [{"partition": {"kafka_topic": "{t}", "kafka_partition": 0},
                              "offset": {"kafka_offset": 12}}]}

        def altered(side, name):
            return json.loads(json.dumps(alter).replace("{t}", o_topic if side is connect_oracle else l_topic))
        pair.same("PATCH", "/connectors/{c}/offsets", altered, status=400, message=True)
        pair.same("DELETE", "/connectors/{c}/offsets", status=400, message=True)
        pair.same("PUT", "/connectors/{c}/stop", status=204)
        connect_oracle.wait_state(o_name, "STOPPED")
        wait_until(lambda: not sink.rest("GET", f"/connectors/{l_name}/status").json()["tasks"], 30,
                   "the stop", sink)
        pair.same("GET", "/connectors/{c}/status", status=200)
        pair.same("GET", "/connectors/{c}/tasks", status=200)
        # Lakesink answers 409 while the stopped task still commits its files.
        wait_until(lambda: sink.rest("PATCH", f"/connectors/{l_name}/offsets", {}).status != 409, 30,
                   "the stopped task to finish", sink)
        pair.same("PATCH", "/connectors/{c}/offsets", {}, status=400, message=True)
        pair.same("PATCH", "/connectors/{c}/offsets", {"offsets": []}, status=400, message=True)
        pair.same("PATCH", "/connectors/{c}/offsets",
                  {"offsets": [{"partition": {"kafka_topic": "x"}, "offset": {"kafka_offset": 5}}]},
                  status=400, message=True)
        pair.same("PATCH", "/connectors/{c}/offsets",
                  {"offsets": [{"partition": {"kafka_topic": "x", "kafka_partition": 0},
                                "offset": {"kafka_offset": "abc"}}]}, status=400, message=True)
        pair.same("PATCH", "/connectors/{c}/offsets", altered, status=200, message=False)
        jo, jl = pair.same("GET", "/connectors/{c}/offsets", status=200)
        assert jo["offsets"][0]["offset"] == jl["offsets"][0]["offset"] == {"kafka_offset": 12}, (jo, jl)
        # Deliberate difference: moving a storage sink back would write committed records twice.
        ro, rl = pair.send("DELETE", "/connectors/{c}/offsets")
        assert ro.status == 200 and ro.json()["message"] == \
            "The offsets for this connector have been reset successfully", ro
        assert rl.status == 400 and "would write them again" in rl.json()["message"], rl
        pair.same("PUT", "/connectors/{c}/resume", status=202)

        # Topics, plugins, loggers.
        pair.same("GET", "/connectors/{c}/topics", status=200, free=[()])
        pair.same("PUT", "/connectors/{c}/topics/reset", status=202)
        pair.same("GET", "/connector-plugins", status=200)
        ro, rl = pair.send("GET", "/connector-plugins?connectorsOnly=false")
        assert ro.status == rl.status == 200 and shape(ro.json()) == shape(rl.json()), (ro, rl)
        assert {p["type"] for p in rl.json()} <= {p["type"] for p in ro.json()}, rl
        # The same transformations and predicates, each with the same keys.
        kinds = ("transformation", "predicate")
        theirs = {p["class"] for p in ro.json() if p["type"] in kinds}
        ours = {p["class"] for p in rl.json() if p["type"] in kinds}
        assert ours == theirs, sorted(ours ^ theirs)
        for cls in sorted(ours):
            do = connect_oracle.get(f"/connector-plugins/{cls}/config")
            dl = sink.rest("GET", f"/connector-plugins/{cls}/config")
            assert do.status == dl.status == 200, (cls, do, dl)
            keys_of = lambda r: {(d["name"], d["required"], d["type"]) for d in r.json()}  # noqa: E731
            assert keys_of(do) == keys_of(dl), (cls, keys_of(do) ^ keys_of(dl))
            assert {frozenset(d) for d in do.json()} == {frozenset(d) for d in dl.json()}, cls
        ro = connect_oracle.get("/connector-plugins/FileStreamSinkConnector/config")
        rl = sink.rest("GET", "/connector-plugins/Hdfs3SinkConnector/config")
        assert ro.status == rl.status == 200, (ro, rl)
        # Every definition has Connect's keys (the values' types vary: group may be null).
        assert {frozenset(d) for d in ro.json()} == {frozenset(d) for d in rl.json()}, (ro, rl)
        pair.same("GET", "/connector-plugins/NoSuch/config", status=404, message=True)
        ro = connect_oracle.call("PUT", "/connector-plugins/FileStreamSinkConnector/config/validate",
                                 config(connect_oracle, "v", **{"tasks.max": "x"}))
        rl = sink.rest("PUT", "/connector-plugins/Hdfs3SinkConnector/config/validate",
                       config(sink, "v", **{"tasks.max": "x"}))
        assert ro.status == rl.status == 200, (ro, rl)
        jo, jl = ro.json(), rl.json()
        assert set(jo) == set(jl), (jo, jl)
        assert {frozenset(c) for c in jo["configs"]} == {frozenset(c) for c in jl["configs"]}, (jo, jl)
        assert {frozenset(c["value"]) for c in jo["configs"]} == {frozenset(c["value"]) for c in jl["configs"]}
        assert {frozenset(c["definition"]) for c in jo["configs"]} == \
            {frozenset(c["definition"]) for c in jl["configs"]}
        bad = [c["value"] for c in jl["configs"] if c["value"]["errors"]]
        assert [v["name"] for v in bad] == ["tasks.max"] and jl["error_count"] == 1, bad
        assert jl["name"] == HDFS_SINK, jl
        ro = connect_oracle.call("PUT", "/connector-plugins/FileStreamSinkConnector/config/validate",
                                 {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector"})
        rl = sink.rest("PUT", "/connector-plugins/Hdfs3SinkConnector/config/validate",
                       {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector"})
        assert ro.status == rl.status == 400, (ro, rl)
        pair.same("GET", "/admin/loggers", status=200, free=[()])
        pair.same("GET", "/admin/loggers/no.such", status=404, message=True)
        pair.same("PUT", "/admin/loggers/root", {"level": "NOPE"}, status=404, message=True)
        pair.same("PUT", "/admin/loggers/root", {}, status=400, message=True)
        pair.same("PUT", "/admin/loggers/root", {"level": "INFO"}, status=200)
        pair.same("PUT", "/admin/loggers/root?scope=cluster", {"level": "info"}, status=204)

        # An invalid config: 400 listing the problems (the texts are each side's own).
        ro, rl = pair.send("POST", "/connectors",
                           lambda side, name: {"name": name, "config": config(side, name, **{"tasks.max": "x"})},
                           key="invalid")
        assert ro.status == rl.status == 400, (ro, rl)
        # (Connect counts two errors for tasks.max=x: not a number, and then null.)
        prefix = "Connector configuration is invalid and contains the following "
        assert ro.json()["message"].startswith(prefix) and rl.json()["message"].startswith(prefix + "1 error(s):\n")
        suffix = "You can also find the above list of errors at the endpoint " \
            "`/connector-plugins/{connectorType}/config/validate`"
        assert ro.json()["message"].endswith(suffix) and rl.json()["message"].endswith(suffix), (ro, rl)
        assert "tasks.max" in rl.json()["message"], rl

        # A failed task: FAILED with a trace, in the same shape.
        poison_o, poison_l = unique("oracle-poison"), unique("rest-poison")
        for t in (poison_o, poison_l):
            create_topic(kafka, t, 1)
            produce(kafka, t, [b"\x00not json"])

        def failing(side, name):
            c = config(side, name, topics=poison_o if side is connect_oracle else poison_l)
            if side is connect_oracle:
                c["value.converter"] = "org.apache.kafka.connect.json.JsonConverter"
            else:
                c["lakesink.task.restart.max.attempts"] = "0"
            return {"name": name, "config": c}
        ro, rl = pair.send("POST", "/connectors", failing, key="failing")
        assert ro.status == rl.status == 201, (ro, rl)
        o_failing, l_failing = pair.name("failing")
        connect_oracle.wait_for(lambda: connect_oracle.get(f"/connectors/{o_failing}/status").json()["tasks"][0]
                                ["state"] == "FAILED", 60, "the oracle's task to fail")
        _, trace = sink.wait_failed(l_failing)
        assert f"{poison_l}-0 offset 0" in trace, trace
        jo, jl = pair.same("GET", "/connectors/{c}/status", key="failing", status=200)
        assert "trace" in jo["tasks"][0] and "trace" in jl["tasks"][0], (jo, jl)
        pair.same("GET", "/connectors/{c}/tasks/0/status", key="failing", status=200)
        jo, jl = pair.same("POST", "/connectors/{c}/restart?includeTasks=true&onlyFailed=true", key="failing",
                           status=202)
        assert jo["tasks"][0]["state"] == jl["tasks"][0]["state"] == "RESTARTING", (jo, jl)
        pair.same("DELETE", "/connectors/{c}", key="failing", status=204)

        # Delete, and wrong paths and methods.
        pair.same("DELETE", "/connectors/{c}", status=204)
        pair.same("DELETE", "/connectors/{c}", status=404, message=True)
        pair.same("GET", "/connectors/{c}", status=404, message=True)
        pair.same("GET", "/connectors/{c}/status", status=404, message=True)
        pair.same("POST", "/connectors/{c}", {}, status=405, message=True)
        pair.same("GET", "/no/such/path", status=404, message=True)
        for key in ("paused", "put-new"):
            pair.same("DELETE", "/connectors/{c}", key=key, status=204)
    finally:
        sink.stop()


def test_kafka_connect_py_drives_a_connector_through_its_life(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    """A third-party client (kafka-connect-py) creates, inspects, pauses, resumes, restarts and
    deletes a connector that writes real data to HDFS."""
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        topic, root, name = unique("kcp"), f"/{unique('lake')}", unique("kcp")
        create_topic(kafka, topic, 2)
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(20)], partition_fn=lambda i: i % 2)
        kc = KafkaConnect(url=sink.rest_url)
        assert kc.get_cluster_info()["kafka_cluster_id"]
        info = kc.create_connector({"name": name, "config": lakesink_connector(name, topic, hdfs_url, root)})
        assert info["name"] == name and info["type"] == "sink", info
        assert kc.list_connectors() == [name]
        wait_until(lambda: kc.get_connector_status(name)["tasks"][0]["state"] == "RUNNING", 60, "RUNNING", sink)
        wait_until(lambda: sum(len(f) for f in committed_files(hdfs, root, topic).values()) == 4, 90,
                   "20 records in 4 files", sink)
        kc.pause_connector(name)
        wait_until(lambda: kc.get_connector_status(name)["connector"]["state"] == "PAUSED", 30, "PAUSED", sink)
        # Nothing is written while paused, though the records are there to read.
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(20, 30)], partition_fn=lambda i: i % 2)
        time.sleep(6)
        assert sum(len(f) for f in committed_files(hdfs, root, topic).values()) == 4
        kc.resume_connector(name)
        wait_until(lambda: sum(len(f) for f in committed_files(hdfs, root, topic).values()) == 6, 90,
                   "the 10 records produced while paused", sink)
        kc.restart_connector(name, include_tasks=True, only_failed=False)
        wait_until(lambda: kc.get_connector_status(name)["tasks"][0]["state"] == "RUNNING", 60,
                   "RUNNING after the restart", sink)
        statuses = kc.list_connectors(expand="status")
        assert statuses[name]["status"]["connector"]["state"] == "RUNNING", statuses
        kc.delete_connector(name)
        assert kc.list_connectors() == []
        offsets = sorted((s, e) for files in committed_files(hdfs, root, topic).values() for s, e, _ in files)
        assert len(offsets) == 6 and sum(e - s + 1 for s, e in offsets) == 30, offsets
    finally:
        sink.stop()


POISON = b"\x00not json"


def test_a_poison_record_is_skipped_by_altering_the_offset_while_stopped(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                        workdir):
    """errors.tolerance=none stops the task at a bad record and its REST status names it; the
    operator stops the connector, moves its offset past the record through the API (a move
    back is refused, naming why), resumes, and every other record lands exactly once."""
    topic, root, name = unique("poison"), f"/{unique('lake')}", unique("poison")
    create_topic(kafka, topic, 1)
    config = lakesink_connector(name, topic, hdfs_url, root, **{"lakesink.task.restart.max.attempts": "0"})
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        assert sink.rest("POST", "/connectors", {"name": name, "config": config}).status == 201
        # Records 0..9 are committed (two files of flush.size 5) before the poison record comes.
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(10)])
        wait_until(lambda: sum(len(f) for f in committed_files(hdfs, root, topic).values()) == 2, 60,
                   "the records before the poison record", sink)
        produce(kafka, topic, [POISON] + [json.dumps({"n": i}).encode() for i in range(11, 20)])
        status, trace = sink.wait_failed(name)
        assert f"{topic}-0 offset 10" in trace, trace
        assert status["connector"]["state"] == "RUNNING" and status["tasks"][0]["state"] == "FAILED", status
        r = sink.rest("PATCH", f"/connectors/{name}/offsets",
                      {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0},
                                    "offset": {"kafka_offset": 11}}]})
        assert r.status == 400 and "STOPPED" in r.json()["message"], r
        assert sink.rest("PUT", f"/connectors/{name}/stop").status == 204
        got = {}

        def alter(offset):
            r = sink.rest("PATCH", f"/connectors/{name}/offsets",
                          {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": "0"},
                                        "offset": {"kafka_offset": str(offset)}}]})
            got["r"] = r
            return r.status != 409
        wait_until(lambda: alter(3), 30, "the stopped task to finish", sink)
        r = got["r"]
        assert r.status == 400 and "before offset 10" in r.json()["message"], r
        assert r.json()["message"].startswith(f"{topic}-0: kafka_offset 3"), r
        alter(11)
        assert got["r"].status == 200, got["r"]
        assert got["r"].json() == {"message": "The offsets for this connector have been altered successfully"}
        offsets = sink.rest("GET", f"/connectors/{name}/offsets").json()
        assert offsets == {"offsets": [{"partition": {"kafka_topic": topic, "kafka_partition": 0},
                                        "offset": {"kafka_offset": 11}}]}, offsets
        assert sink.rest("PUT", f"/connectors/{name}/resume").status == 202
        # 11..19 is 9 records: one file of 5, and 4 more committed once 1 more arrives.
        produce(kafka, topic, [json.dumps({"n": 20}).encode()])
        wait_until(lambda: sum(len(f) for f in committed_files(hdfs, root, topic).values()) == 4, 90,
                   "the records after the poison record", sink)
        files = sorted(f for fs in committed_files(hdfs, root, topic).values() for f in fs)
        assert [(s, e) for s, e, _ in files] == [(0, 4), (5, 9), (11, 15), (16, 20)], files
        status = sink.rest("GET", f"/connectors/{name}/status").json()
        assert status["tasks"][0]["state"] == "RUNNING", status
    finally:
        sink.stop()


def scrape(sink):
    r = sink.rest("GET", "/metrics")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4"), r
    samples = {}
    for family in text_string_to_metric_families(r.body.decode()):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def value(samples, name, **labels):
    found = [v for l, v in samples.get(name, []) if all(l.get(k) == str(w) for k, w in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_failed_task_is_restarted_by_the_policy_then_stays_failed(kafka, hdfs_url, lakesink_bin, workdir):
    """lakesink.task.restart.*: a task failing on every start is restarted twice with growing
    waits, then stays FAILED; the restarts show in /metrics and in the log."""
    topic, root, name = unique("restarts"), f"/{unique('lake')}", unique("restarts")
    create_topic(kafka, topic, 1)
    produce(kafka, topic, [POISON])
    config = lakesink_connector(name, topic, hdfs_url, root, **{
        "lakesink.task.restart.max.attempts": "2", "lakesink.task.restart.backoff.ms": "1000",
        "lakesink.task.restart.backoff.max.ms": "1500"})
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        assert sink.rest("POST", "/connectors", {"name": name, "config": config}).status == 201
        wait_until(lambda: value(scrape(sink), "lakesink_task_restarts_total", connector=name) == 2, 60,
                   "two restarts", sink)
        _, trace = sink.wait_failed(name)
        assert f"{topic}-0 offset 0" in trace, trace
        time.sleep(4)  # longer than the longest backoff: no third restart
        samples = scrape(sink)
        assert value(samples, "lakesink_task_restarts_total", connector=name) == 2
        assert value(samples, "kafka_connect_connector_task_status", connector=name, task=0, status="failed") == 1
        assert value(samples, "kafka_connect_worker_connector_failed_task_count", connector=name) == 1
        log = sink.output()
        assert log.count("restarting the failed task") == 2, log[-3000:]
        assert "it stays FAILED" in log, log[-3000:]
        # A restart through the API starts the count again.
        assert sink.rest("POST", f"/connectors/{name}/tasks/0/restart").status == 204
        wait_until(lambda: sink.output().count("task failed; restarting it by the restart policy") == 3, 30,
                   "the policy to take over again after the manual restart", sink)
    finally:
        sink.stop()


def test_metrics_report_what_was_written(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    """/metrics, parsed with prometheus-client: Connect's names (Strimzi's JMX-exporter form)
    and Lakesink's own, with the values of what was read and committed."""
    topic, root, name = unique("metrics"), f"/{unique('lake')}", unique("metrics")
    create_topic(kafka, topic, 3)
    produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(300)], partition_fn=lambda i: i % 3)
    config = lakesink_connector(name, topic, hdfs_url, root, **{"flush.size": "20", "tasks.max": "2"})
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        assert sink.rest("POST", "/connectors", {"name": name, "config": config}).status == 201
        wait_until(lambda: sum(len(f) for f in committed_files(hdfs, root, topic).values()) == 15, 90,
                   "300 records in 15 files", sink)

        def settled():
            s = scrape(sink)
            return sum(v for l, v in s.get("kafka_connect_sink_task_sink_record_send_total", [])
                       if l["connector"] == name) == 300 and \
                len([1 for l, v in s.get("lakesink_partition_committed_offset", []) if l["connector"] == name]) == 3
        wait_until(settled, 30, "the metrics to show every commit", sink)
        s = scrape(sink)
        mine = lambda n: [(l, v) for l, v in s.get(n, []) if l.get("connector") == name]  # noqa: E731
        assert sum(v for _, v in mine("kafka_connect_sink_task_sink_record_read_total")) == 300
        assert sum(v for _, v in mine("lakesink_files_committed_total")) == 15
        assert {l["format"] for l, _ in mine("lakesink_files_committed_total")} == {"json"}
        written = sum(len(read_bytes(hdfs, p)) for fs in committed_files(hdfs, root, topic).values()
                      for _, _, p in fs)
        assert sum(v for _, v in mine("lakesink_bytes_committed_total")) == written
        assert {(l["topic"], l["partition"]): v for l, v in mine("lakesink_partition_committed_offset")} == \
            {(topic, str(p)): 100 for p in range(3)}
        assert all(v == 0 for _, v in mine("lakesink_partition_lag_records"))
        assert sum(v for _, v in mine("kafka_connect_sink_task_partition_count")) == 3
        assert value(s, "kafka_connect_connector_status", connector=name, status="running") == 1
        assert value(s, "kafka_connect_worker_connector_running_task_count", connector=name) == 2
        assert value(s, "kafka_connect_worker_connector_count") >= 1
        commits = [v for l, v in mine("lakesink_commit_duration_seconds_count")]
        assert sum(commits) >= 3, commits  # at least one per partition (a commit may hold many files)
        assert value(s, "lakesink_open_files_limit", connector=name) > 0
    finally:
        sink.stop()


def test_a_connector_stuck_starting_does_not_hold_up_the_api(kafka, hdfs_url, lakesink_bin, workdir):
    """A connector whose start waits on Kafka (its dead-letter topic is created over TLS with a
    plain-text broker, so the request hangs until it times out) stays UNASSIGNED; meanwhile
    every request about the worker and the other connector is answered at once."""
    topic, root = unique("stuck"), f"/{unique('lake')}"
    create_topic(kafka, topic, 1)
    stuck, fine = unique("stuck"), unique("fine")
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        stuck_config = lakesink_connector(stuck, topic, hdfs_url, root, **{
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": unique("dlq"),
            "errors.deadletterqueue.topic.replication.factor": "1",
            "consumer.override.security.protocol": "SSL"})
        assert sink.rest("POST", "/connectors", {"name": stuck, "config": stuck_config}).status == 201
        assert sink.rest("POST", "/connectors", {"name": fine, "config": lakesink_connector(
            fine, topic, hdfs_url, f"/{unique('lake')}")}).status == 201
        wait_until(lambda: sink.rest("GET", f"/connectors/{fine}/status").json()["tasks"][0]["state"]
                   == "RUNNING", 60, "the other connector to run", sink)
        slowest = 0.0
        for _ in range(50):
            for path in ("/connectors", f"/connectors/{stuck}/status", f"/connectors/{fine}/status",
                         "/connectors?expand=status", "/metrics"):
                t0 = time.monotonic()
                r = sink.rest("GET", path, timeout=10)
                slowest = max(slowest, time.monotonic() - t0)
                assert r.status == 200, r
        assert slowest < 1.0, slowest
        st = sink.rest("GET", f"/connectors/{stuck}/status").json()
        assert st["connector"]["state"] == "UNASSIGNED", st
        # Deleting it does not wait for its start either.
        t0 = time.monotonic()
        assert sink.rest("DELETE", f"/connectors/{stuck}").status == 204
        assert time.monotonic() - t0 < 1.0
        assert sink.rest("GET", "/connectors").json() == [fine]
    finally:
        sink.stop(timeout=120)


def test_connectors_from_files_are_served_and_a_bad_listener_is_refused(kafka, hdfs_url, lakesink_bin, workdir):
    """Connectors given on the command line show in the API; `listeners` is checked at start-up."""
    import subprocess
    topic, name = unique("files"), unique("files")
    create_topic(kafka, topic, 1)
    sink = start_worker(lakesink_bin, workdir, kafka,
                        connector=lakesink_connector(name, topic, hdfs_url, f"/{unique('lake')}"))
    try:
        assert sink.rest("GET", "/connectors").json() == [name]
        wait_until(lambda: sink.rest("GET", f"/connectors/{name}/status").json()["tasks"][0]["state"]
                   == "RUNNING", 60, "the file's connector to run", sink)
        status = sink.rest("GET", f"/connectors/{name}/status").json()
        assert re.fullmatch(r"127\.0\.0\.1:\d+", status["connector"]["worker_id"]), status
    finally:
        sink.stop()
    w = f"{workdir}/bad-worker.properties"
    with open(w, "w") as f:
        f.write(f"bootstrap.servers={kafka}\nlisteners=https://127.0.0.1:8443\n")
    out = subprocess.run([lakesink_bin, "standalone", w], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out
    assert "listeners: invalid value 'https://127.0.0.1:8443'" in out.stderr, out.stderr


@pytest.mark.parametrize("attempt", [0])
def test_tolerance_for_clients_that_send_numbers_and_trailing_slashes(attempt, kafka, hdfs_url, lakesink_bin,
                                                                     workdir):
    """Config values sent as JSON numbers are taken as their text (as Connect's Jackson does);
    `/connectors/` answers as `/connectors`."""
    topic, name = unique("numbers"), unique("numbers")
    create_topic(kafka, topic, 1)
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        config = lakesink_connector(name, topic, hdfs_url, f"/{unique('lake')}")
        config["tasks.max"], config["flush.size"] = 2, 5
        r = sink.rest("POST", "/connectors/", {"name": name, "config": config})
        assert r.status == 201, r
        assert r.json()["config"]["tasks.max"] == "2" and len(r.json()["tasks"]) == 2, r
        assert sink.rest("GET", "/connectors/").json() == [name]
    finally:
        sink.stop()


def test_log_levels_change_at_run_time(kafka, hdfs_url, lakesink_bin, workdir):
    """PUT /admin/loggers/<target> turns a tracing target's debug lines on and off without a
    restart; GET shows the level with when it was set."""
    topic, name = unique("loggers"), unique("loggers")
    create_topic(kafka, topic, 1)
    sink = start_worker(lakesink_bin, workdir, kafka)
    try:
        assert sink.rest("POST", "/connectors", {"name": name, "config": lakesink_connector(
            name, topic, hdfs_url, f"/{unique('lake')}")}).status == 201
        wait_until(lambda: sink.rest("GET", f"/connectors/{name}/status").json()["tasks"][0]["state"]
                   == "RUNNING", 60, "the task to run", sink)
        # The sink's writers log each commit at DEBUG only.
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(5)])
        wait_until(lambda: sink.rest("GET", f"/connectors/{name}/offsets").json()["offsets"], 60, "a commit", sink)
        assert not re.search(r"DEBUG.*lakesink_sink::writer", sink.output())
        before = int(time.time() * 1000)
        r = sink.rest("PUT", "/admin/loggers/lakesink_sink::writer", {"level": "DEBUG"})
        assert r.status == 200 and r.json() == ["lakesink_sink::writer"], r
        got = sink.rest("GET", "/admin/loggers/lakesink_sink::writer").json()
        assert got["level"] == "DEBUG" and got["last_modified"] >= before, got
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(5, 10)])
        wait_until(lambda: re.search(r"DEBUG.*lakesink_sink::writer.*committed", sink.output()), 60,
                   "a DEBUG line of the writer", sink)
        r = sink.rest("PUT", "/admin/loggers/lakesink_sink::writer", {"level": "INFO"})
        assert r.status == 200, r
        lines_before = len(re.findall(r"DEBUG.*lakesink_sink::writer", sink.output()))
        produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(10, 15)])
        wait_until(lambda: sink.rest("GET", f"/connectors/{name}/offsets").json()["offsets"][0]["offset"]
                   ["kafka_offset"] == 15, 60, "the third commit", sink)
        assert len(re.findall(r"DEBUG.*lakesink_sink::writer", sink.output())) == lines_before
        assert sink.rest("GET", "/admin/loggers").json()["root"]["level"] == "INFO"
    finally:
        sink.stop()
