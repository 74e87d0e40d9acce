"""REST latency under load: status calls to `lakesink standalone` while a connector drains a
loaded topic into HDFS, against the same calls to the same worker while it is idle (the
baseline, measured in the same run). Prints p50/p99/max of each and the ratios, and checks
that the calls really overlapped the drain and that the drain wrote every record.

Run with `bench/run rest [--records N --partitions P --record-bytes B --flush-size F --calls C]`.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from drain import add_load_arguments, check_load_arguments, produce


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rest:
    """One kept-alive connection, as Connect clients (kcctl, Strimzi) hold one."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()


def connector(name, topic, hdfs_url, flush_size):
    return {"name": name, "config": {
        "name": name, "connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector", "tasks.max": "1",
        "topics": topic, "store.url": f"{hdfs_url}/bench-rest-{uuid.uuid4().hex[:8]}",
        "flush.size": str(flush_size), "format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
        "consumer.override.auto.offset.reset": "earliest"}}


def committed(rest, name):
    status, body = rest.call("GET", f"/connectors/{name}/offsets")
    assert status == 200, body
    return sum(o["offset"]["kafka_offset"] for o in json.loads(body)["offsets"])


def timed_calls(rest, paths, calls):
    """Latencies in ms of `calls` requests cycling through `paths`."""
    out = []
    for i in range(calls):
        path = paths[i % len(paths)]
        t0 = time.perf_counter()
        status, body = rest.call("GET", path)
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200, (path, status, body[:500])
    return out


def summary(ms):
    ms = sorted(ms)
    return {"p50": statistics.median(ms), "p99": ms[int(len(ms) * 0.99) - 1], "max": ms[-1]}


def main():
    ap = argparse.ArgumentParser()
    add_load_arguments(ap, records=2_000_000, flush_size=100_000)
    ap.add_argument("--calls", type=int, default=1000, help="status calls in each phase")
    args = ap.parse_args()
    check_load_arguments(ap, args)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin = os.environ["LAKESINK_BIN"]
    topic = f"bench-rest-{uuid.uuid4().hex[:8]}"
    idle_topic = f"{topic}-idle"
    print(f"producing {args.records:,} records of {args.record_bytes} B into {args.partitions} partitions",
          file=sys.stderr)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for t, p in ((topic, args.partitions), (idle_topic, 1)):
        admin.create_topics([NewTopic(t, num_partitions=p, replication_factor=1)])[t].result(30)
    produce(bootstrap, topic, args.records, args.partitions, args.record_bytes)

    workdir = tempfile.mkdtemp(prefix="lakesink-bench-rest-")
    port = free_port()
    worker = os.path.join(workdir, "worker.properties")
    with open(worker, "w") as f:
        f.write(f"bootstrap.servers={bootstrap}\nlisteners=http://127.0.0.1:{port}\n"
                "key.converter=org.apache.kafka.connect.storage.StringConverter\n"
                "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
                "value.converter.schemas.enable=false\n")
    log = open(os.path.join(workdir, "lakesink.log"), "wb")
    proc = subprocess.Popen([lakesink_bin, "standalone", worker], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, LAKESINK_LOG="warn"))
    try:
        deadline = time.time() + 30
        while True:
            try:
                rest = Rest(port)
                if rest.call("GET", "/")[0] == 200:
                    break
            except OSError:
                if time.time() > deadline:
                    sys.exit("the REST API did not answer within 30 s")
                time.sleep(0.2)
        idle, drain = "idle", f"drain-{uuid.uuid4().hex[:6]}"
        assert rest.call("POST", "/connectors", connector(idle, idle_topic, hdfs_url, args.flush_size))[0] == 201
        time.sleep(2)
        paths = [f"/connectors/{idle}/status", "/connectors?expand=status", f"/connectors/{idle}/tasks/0/status"]
        baseline = timed_calls(rest, paths, args.calls)

        t0 = time.time()
        assert rest.call("POST", "/connectors", connector(drain, topic, hdfs_url, args.flush_size))[0] == 201
        time.sleep(1)  # the drain is under way
        paths = [f"/connectors/{drain}/status", "/connectors?expand=status", f"/connectors/{drain}/tasks/0/status"]
        loaded = timed_calls(rest, paths, args.calls)
        at_end_of_calls = committed(rest, drain)
        while committed(rest, drain) < args.records:
            if time.time() - t0 > 1800:
                sys.exit("the drain did not finish in 30 minutes")
            time.sleep(0.5)
        drain_s = time.time() - t0
    finally:
        proc.terminate()
        proc.wait(120)
        log.close()

    b, l = summary(baseline), summary(loaded)
    print(f"\nREST latency, {args.calls} GET calls each (status, expanded list, task status), one kept-alive connection")
    print(f"{'':<28}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(f"{'idle worker (baseline)':<28}{b['p50']:>10.2f}{b['p99']:>10.2f}{b['max']:>10.2f}")
    print(f"{'while draining':<28}{l['p50']:>10.2f}{l['p99']:>10.2f}{l['max']:>10.2f}")
    print(f"{'ratio':<28}{l['p50'] / b['p50']:>10.2f}{l['p99'] / b['p99']:>10.2f}{l['max'] / b['max']:>10.2f}")
    overlapped = at_end_of_calls < args.records
    print(f"\nthe drain of {args.records:,} records took {drain_s:.1f} s; when the calls ended "
          f"{at_end_of_calls:,} records were committed ({'the calls overlapped the drain' if overlapped else 'NOT overlapping: use more records'})")
    if not overlapped:
        sys.exit(1)


if __name__ == "__main__":
    main()
