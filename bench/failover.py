"""Task failover in distributed mode: three `lakesink distributed` workers drain a loaded topic
into HDFS; in each round the worker running task 0 is killed with SIGKILL mid-drain and started
again. Prints, per round, how long until every task was RUNNING on the survivors (as a ratio to
`session.timeout.ms`, the bound a consumer-group member's death cannot beat, and to Connect's
default `scheduled.rebalance.max.delay.ms` of 5 minutes) and how long the restarted worker took
to get its share back; then the drain's wall time against the same drain by the same three
workers with no kill (the baseline, measured in the same run), and checks that the committed
files hold every offset exactly once.

Run with `bench/run failover [--records N --partitions P --record-bytes B --flush-size F
--rounds R --session-timeout-ms MS]`.
"""
import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka.admin import AdminClient, NewTopic
from hdfs_native import Client

from drain import add_load_arguments, check_load_arguments, produce
from rest import free_port

CONNECT_SCHEDULED_DELAY_S = 300
COMMITTED = re.compile(r"^(.+)\+(\d+)\+(\d+)\+(\d+)(\.\w+)?$")


def call(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    except OSError:
        return None, None
    finally:
        conn.close()


class Worker:
    def __init__(self, lakesink_bin, workdir, index, props):
        self.bin, self.index = lakesink_bin, index
        self.port = free_port()
        self.id = f"127.0.0.1:{self.port}"
        self.path = os.path.join(workdir, f"w{index}.properties")
        with open(self.path, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in dict(props, listeners=f"http://127.0.0.1:{self.port}").items())
        self.log_path = os.path.join(workdir, f"w{index}.log")
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.bin, "distributed", self.path], stdout=log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, LAKESINK_LOG="info"))
        deadline = time.time() + 60
        while call(self.port, "GET", "/")[0] != 200:
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"worker {self.index} did not serve; see {self.log_path}")
            time.sleep(0.2)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(180)


def status(worker, name):
    code, body = call(worker.port, "GET", f"/connectors/{name}/status")
    return body if code == 200 else None


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return time.time()
        time.sleep(0.1)
    sys.exit(f"timed out after {timeout} s waiting for {what}")


def offsets_committed(worker, name):
    code, body = call(worker.port, "GET", f"/connectors/{name}/offsets")
    return sum(o["offset"]["kafka_offset"] for o in body["offsets"]) if code == 200 else 0


def check_files(hdfs_url, root, topic, partitions, records_per_partition):
    """Every offset of every partition in exactly one committed file."""
    client = Client(hdfs_url)
    for p in range(partitions):
        ranges = []
        for f in client.list_status(f"{root}/topics/{topic}/partition={p}"):
            m = COMMITTED.match(f.path.rsplit("/", 1)[-1])
            if m:
                ranges.append((int(m.group(3)), int(m.group(4))))
        ranges.sort()
        expected = 0
        for start, end in ranges:
            if start != expected:
                sys.exit(f"partition {p}: a {'gap' if start > expected else 'duplicate'} at offset {expected}: {ranges}")
            expected = end + 1
        if expected != records_per_partition[p]:
            sys.exit(f"partition {p}: files end at {expected}, the topic at {records_per_partition[p]}")


def drain(workers, name, topic, hdfs_url, args, rounds, records_per_partition):
    """Creates the connector, kills and restarts the worker of task 0 `rounds` times, waits for
    every record; returns (wall seconds, [(failover s, rejoin s)])."""
    root = f"/bench-failover-{uuid.uuid4().hex[:8]}"
    config = {"connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector", "tasks.max": "3",
              "topics": topic, "hdfs.url": f"{hdfs_url}{root}", "flush.size": str(args.flush_size),
              "rotate.schedule.interval.ms": "5000", "timezone": "UTC",
              "format.class": "io.confluent.connect.hdfs3.json.JsonFormat",
              "consumer.override.auto.offset.reset": "earliest"}
    t0 = time.time()
    code, body = call(workers[-1].port, "POST", "/connectors", {"name": name, "config": config})
    assert code == 201, body
    ids = {w.id for w in workers}

    def spread_over(live):
        views = [status(w, name) for w in live]
        return all(v is not None and v == views[0] for v in views) and \
            len(views[0]["tasks"]) == 3 and all(t["state"] == "RUNNING" for t in views[0]["tasks"]) and \
            {t["worker_id"] for t in views[0]["tasks"]} <= {w.id for w in live}
    wait(lambda: spread_over(workers) and {t["worker_id"] for t in status(workers[0], name)["tasks"]} == ids,
         60, "three tasks on three workers")
    times = []
    total = sum(records_per_partition.values())
    for r in range(rounds):
        # Kill while records are still to be written.
        wait(lambda: offsets_committed(workers[0], name) >= total * (r + 1) / (rounds + 2), 600, "drain progress")
        victim_id = status(workers[0], name)["tasks"][0]["worker_id"]
        victim = next(w for w in workers if w.id == victim_id)
        survivors = [w for w in workers if w is not victim]
        killed = time.time()
        victim.kill()
        moved = wait(lambda: spread_over(survivors), args.session_timeout_ms / 1000 + 60, "failover")
        victim.start()
        back = wait(lambda: spread_over(workers) and
                    {t["worker_id"] for t in status(workers[0], name)["tasks"]} == ids, 120, "the rejoin")
        times.append((moved - killed, back - moved))
        print(f"  round {r + 1}: failover {moved - killed:.1f} s, rejoin {back - moved:.1f} s", file=sys.stderr)
    wait(lambda: offsets_committed(workers[0], name) >= total, 1800, "every record committed")
    wall = time.time() - t0
    check_files(hdfs_url, root, topic, args.partitions, records_per_partition)
    call(workers[0].port, "DELETE", f"/connectors/{name}")
    return wall, times


def main():
    ap = argparse.ArgumentParser()
    add_load_arguments(ap, records=1_200_000, flush_size=20_000)
    ap.set_defaults(partitions=6, record_bytes=512)
    ap.add_argument("--rounds", type=int, default=3, help="kills of the worker running task 0")
    ap.add_argument("--session-timeout-ms", type=int, default=10000)
    args = ap.parse_args()
    check_load_arguments(ap, args)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin = os.environ["LAKESINK_BIN"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"bench-failover-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(30)
    print(f"producing {args.records:,} records of {args.record_bytes} B into {args.partitions} partitions",
          file=sys.stderr)
    produce(bootstrap, topic, args.records, args.partitions, args.record_bytes)
    per_partition = {p: args.records // args.partitions + (1 if p < args.records % args.partitions else 0)
                     for p in range(args.partitions)}

    workdir = tempfile.mkdtemp(prefix="lakesink-bench-failover-")
    group = f"bench-cluster-{uuid.uuid4().hex[:6]}"
    props = {"bootstrap.servers": bootstrap, "group.id": group,
             "config.storage.topic": f"{group}-configs", "config.storage.replication.factor": "1",
             "status.storage.topic": f"{group}-status", "status.storage.replication.factor": "1",
             "offset.storage.topic": f"{group}-offsets", "rest.advertised.host.name": "127.0.0.1",
             "session.timeout.ms": str(args.session_timeout_ms),
             "key.converter": "org.apache.kafka.connect.storage.StringConverter",
             "value.converter": "org.apache.kafka.connect.json.JsonConverter",
             "value.converter.schemas.enable": "false"}
    workers = [Worker(lakesink_bin, workdir, i, props) for i in range(3)]
    try:
        for w in workers:
            w.start()
        time.sleep(3)
        print("baseline: the drain with no kill", file=sys.stderr)
        base_wall, _ = drain(workers, "base", topic, hdfs_url, args, 0, per_partition)
        print(f"the drain with {args.rounds} kills", file=sys.stderr)
        kill_wall, times = drain(workers, "killed", topic, hdfs_url, args, args.rounds, per_partition)
    finally:
        for w in workers:
            w.stop()

    failovers = [f for f, _ in times]
    print(f"\nTask failover after SIGKILL, 3 workers, {args.partitions} partitions, "
          f"session.timeout.ms={args.session_timeout_ms}, {args.rounds} rounds")
    for i, (f, b) in enumerate(times, 1):
        print(f"  round {i}: all tasks RUNNING on the survivors {f:.1f} s after the kill "
              f"(x{f / (args.session_timeout_ms / 1000):.2f} the session timeout); "
              f"the restarted worker had its share back {b:.1f} s later")
    med = statistics.median(failovers)
    print(f"median failover {med:.1f} s = x{med / (args.session_timeout_ms / 1000):.2f} session.timeout.ms; "
          f"Connect's default wait alone (scheduled.rebalance.max.delay.ms) is {CONNECT_SCHEDULED_DELAY_S} s "
          f"= x{CONNECT_SCHEDULED_DELAY_S / med:.0f} longer")
    print(f"drain of {args.records:,} records: {base_wall:.1f} s with no kill (baseline), {kill_wall:.1f} s with "
          f"{args.rounds} kills: x{kill_wall / base_wall:.2f}; every offset in exactly one committed file, both runs")


if __name__ == "__main__":
    main()
