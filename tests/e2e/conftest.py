"""Shared fixtures for end-to-end tests: a real Kafka broker and a real HDFS (scripts/testbed),
the lakesink binary, and third-party clients (confluent-kafka, hdfs-native, fastavro, pyarrow)
to produce and verify data."""
import glob
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hdfs_native import Client as HdfsClient

COMMITTED = re.compile(r"^(.+)\+(\d+)\+(\d+)\+(\d+)(\.\w+)?$")


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with scripts/test (it starts the test bed)")
    return value


@pytest.fixture(scope="session")
def kafka():
    return env("LAKESINK_KAFKA")


@pytest.fixture(scope="session")
def hdfs_url():
    return env("LAKESINK_HDFS")


@pytest.fixture(scope="session")
def hdfs(hdfs_url):
    return HdfsClient(hdfs_url)


@pytest.fixture(scope="session")
def lakesink_bin():
    path = env("LAKESINK_BIN")
    if not os.path.exists(path):
        pytest.fail(f"lakesink binary not found at {path}")
    return path


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(kafka, topic, partitions):
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)


def produce(kafka, topic, values, key_fn=None, partition_fn=None):
    """Produces values (bytes or None); returns {(partition, offset): value}."""
    delivered = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[(msg.partition(), msg.offset())] = msg.value()

    producer = Producer({"bootstrap.servers": kafka, "linger.ms": 20, "enable.idempotence": True,
                         "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000})
    for i, v in enumerate(values):
        kwargs = {}
        if key_fn:
            kwargs["key"] = key_fn(i)
        if partition_fn:
            kwargs["partition"] = partition_fn(i)
        while True:
            try:
                producer.produce(topic, value=v, on_delivery=on_delivery, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "undelivered records"
    assert not errors, errors[:5]
    return delivered


def with_rest_listener(worker):
    """The worker config with a REST listener on a free 127.0.0.1 port (unless it names its
    own `listeners`), and the API's base URL (None when the config chose its own)."""
    from registry_support import free_port
    port = free_port()
    if isinstance(worker, str):
        if re.search(r"^\s*listeners\s*[=:]", worker, re.M):
            return worker, None
        return worker.rstrip("\n") + f"\nlisteners=http://127.0.0.1:{port}\n", f"http://127.0.0.1:{port}"
    if "listeners" in worker:
        return worker, None
    return dict(worker, listeners=f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{port}"


class Lakesink:
    """A running `lakesink standalone` process (or, with command="distributed", one worker of
    a cluster) with its config files, log and REST API."""

    def __init__(self, binary, workdir, worker, connector, env_extra=None, name="lakesink",
                 command="standalone"):
        self.workdir = workdir
        worker, self.rest_url = with_rest_listener(worker)
        self.log_path = os.path.join(workdir, f"{name}-{uuid.uuid4().hex[:6]}.log")
        self.worker_path = os.path.join(
            workdir, "worker.properties" if command == "standalone" else f"{name}-worker.properties")
        self.connector_path = os.path.join(workdir, "connector.properties")
        # A dict is written as key=value lines, a string as the file's text.
        for path, config in ((self.worker_path, worker), (self.connector_path, connector)):
            if config is None:
                continue
            if isinstance(config, str):
                with open(path, "w") as f:
                    f.write(config)
            else:
                write_properties(path, config)
        environment = dict(os.environ)
        environment.setdefault("LAKESINK_LOG", "info")
        environment.update(env_extra or {})
        self.log = open(self.log_path, "wb")
        connectors = [self.connector_path] if connector is not None else []
        self.proc = subprocess.Popen([binary, command, self.worker_path, *connectors],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=environment)

    def rest(self, method, path, body=None, raw=None, content_type="application/json", timeout=60):
        """One request to the worker's REST API (a registry_support.Response)."""
        from registry_support import request
        return request(self.rest_url, method, path, body=body, raw=raw, content_type=content_type,
                       accept="application/json", timeout=timeout)

    def wait_rest(self, timeout=30):
        """Waits until the REST API answers."""
        def answers():
            try:
                return self.rest("GET", "/", timeout=5).status == 200
            except OSError:
                return False
        wait_until(answers, timeout, "the REST API to answer", self)

    def wait_failed(self, connector, timeout=90):
        """Waits until the connector or one of its tasks is FAILED; returns (status, trace)."""
        found = {}

        def failed():
            try:
                r = self.rest("GET", f"/connectors/{connector}/status", timeout=5)
            except OSError:
                return False
            if r.status != 200:
                return False
            st = r.json()
            for part in [st["connector"], *st["tasks"]]:
                if part["state"] == "FAILED":
                    found["status"], found["trace"] = st, part.get("trace", "")
                    return True
            return False
        wait_until(failed, timeout, f"connector {connector} or a task of it to fail", self)
        return found["status"], found["trace"]

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=60):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def write_properties(path, props):
    with open(path, "w") as f:
        for k, v in props.items():
            f.write(f"{k}={v}\n")


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="lakesink-e2e-") as d:
        yield d


def worker_props(kafka, converter="org.apache.kafka.connect.json.JsonConverter", schemas=True):
    return {
        "bootstrap.servers": kafka,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": converter,
        "value.converter.schemas.enable": "true" if schemas else "false",
        "offset.storage.file.filename": "/tmp/connect.offsets",
    }


def connector_props(name, topic, hdfs_url, root, **extra):
    props = {
        "name": name,
        "connector.class": "io.confluent.connect.hdfs3.Hdfs3SinkConnector",
        "topics": topic,
        "hdfs.url": f"{hdfs_url}{root}",
        "flush.size": "1000",
        "consumer.override.auto.offset.reset": "earliest",
    }
    props.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    return props


def committed_files(hdfs, root, topic):
    """{partition: [(start, end, path)]} of committed files under <root>/topics/<topic>."""
    out = {}
    base = f"{root}/topics/{topic}"
    try:
        dirs = list(hdfs.list_status(base))
    except FileNotFoundError:
        return out
    for d in dirs:
        if not d.isdir:
            continue
        for f in hdfs.list_status(d.path):
            name = f.path.rsplit("/", 1)[-1]
            m = COMMITTED.match(name)
            if not m:
                continue
            t, p, start, end = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
            assert t == topic, name
            out.setdefault(p, []).append((start, end, f.path))
    for files in out.values():
        files.sort()
    return out


def caught_up(output, partitions):
    """True when every task of the log is caught up on its latest assignment and the tasks
    together own `partitions` partitions: all that is assigned has been read, so a graceful
    stop now commits every record. (Counting committed records instead would assume that
    files align with flush.size, which a revoke -- it commits the open files -- breaks.)"""
    return caught_up_partitions(output) == partitions


def caught_up_partitions(output):
    """The partitions the tasks of one process's log have read to the end of, or None while
    a task is still catching up (see caught_up)."""
    owned = {}  # task -> partitions read to the end; None while catching up
    for line in output.splitlines():
        task = re.search(r"task\{connector=\S+ task=(\d+)\}", line)
        if not task:
            continue
        if "partitions assigned" in line:
            # An incremental assignment of nothing changes nothing (no new "caught up" line).
            if "partitions=[]" not in line:
                owned[task.group(1)] = None
        elif "partitions revoked" in line or "partitions lost" in line:
            owned[task.group(1)] = 0  # a task left with some partitions reports again
        elif "caught up:" in line:
            owned[task.group(1)] = int(re.search(r"partitions=(\d+)", line).group(1))
    if not owned or None in owned.values():
        return None
    return sum(owned.values())


def read_bytes(hdfs, path):
    with hdfs.read(path) as r:
        return r.read()


def wait_until(predicate, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and not proc.alive():
            pytest.fail(f"lakesink exited ({proc.proc.returncode}) while waiting for {what}:\n{proc.output()[-4000:]}")
        time.sleep(0.5)
    detail = f"\n--- lakesink log:\n{proc.output()[-4000:]}" if proc else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}{detail}")


def reached(hdfs, root, topic, counts):
    """True when, for each partition p, the committed files of `topic` hold at least counts[p] records."""
    files = committed_files(hdfs, root, topic)
    return all(sum(e - s + 1 for s, e, _ in files.get(p, [])) >= n for p, n in counts.items())


def committed_files_deep(hdfs, root, topic, topics_dir="topics"):
    """[(directory relative to the topic, partition, start, end, path)] of every committed
    file at any depth under <root>/<topics_dir>/<topic>."""
    out = []
    base = f"{root}/{topics_dir}/{topic}"
    stack = [base]
    while stack:
        d = stack.pop()
        try:
            entries = list(hdfs.list_status(d))
        except FileNotFoundError:
            continue
        for e in entries:
            if e.isdir:
                stack.append(e.path)
                continue
            name = e.path.rsplit("/", 1)[-1]
            m = COMMITTED.match(name)
            if not m:
                continue
            assert m.group(1) == topic, name
            rel = e.path[len(base) + 1:].rsplit("/", 1)[0] if "/" in e.path[len(base) + 1:] else ""
            out.append((rel, int(m.group(2)), int(m.group(3)), int(m.group(4)), e.path))
    out.sort()
    return out


def group_offsets(kafka, group, topic, partitions):
    """The consumer group's committed next offset per partition (-1001 when none)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": kafka, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def spark_avro_jar(version):
    cache = os.environ.get("LAKESINK_CACHE") or os.path.expanduser("~/.cache/lakesink")
    jars = glob.glob(os.path.join(cache, "jars", "spark", "spark-avro_*.jar"))
    if not jars:
        pytest.fail(f"no spark-avro jar in {cache}/jars/spark: run scripts/testbed up (it fetches it)")
    jar = jars[0]
    if not os.path.basename(jar).endswith(f"-{version}.jar"):
        pytest.fail(f"{jar} does not match pyspark {version}: keep scripts/testbed.d/spark-pom.xml "
                    "and requirements.txt on the same Spark version")
    return jar


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for all tests: Spark's JVM starts once per process, with its
    classpath (spark-avro) fixed at that moment."""
    try:
        import pyspark
        from pyspark.sql import SparkSession
    except ImportError as e:
        pytest.fail(f"pyspark is not importable ({e}): it is in scripts/testbed.d/requirements.txt, "
                    "run scripts/testbed up to rebuild the virtualenv")
    if not os.environ.get("JAVA_HOME"):
        java = shutil.which("java")
        if java is None:
            pytest.fail("Spark needs Java: no java on PATH and JAVA_HOME is unset")
        os.environ["JAVA_HOME"] = os.path.dirname(os.path.dirname(os.path.realpath(java)))
    session = (SparkSession.builder.master("local[1]").appName("lakesink-e2e")
               .config("spark.driver.memory", "512m")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.jars", spark_avro_jar(pyspark.__version__))
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def kill_repeatedly(lakesink_bin, workdir, worker, connector, runs, rng, failpoints, failpoint_every,
                    pause, before_run=None, ownership=None):
    """Starts lakesink `runs` times and SIGKILLs every run. A run k with k % failpoint_every == 1
    gets LAKESINK_FAILPOINT (the next of `failpoints`) and is killed once it died there (or
    after 150 s); the others after a random pause of `pause` = (min, max) seconds.
    `before_run(k)` runs before run k starts; each start and kill is an event of the
    `ownership` GroupOwnership, if given. Returns (kills, kills at a failpoint)."""
    kills = failpoint_kills = 0
    for run in range(runs):
        if before_run is not None:
            before_run(run)
        extra = {}
        if run % failpoint_every == 1:
            extra["LAKESINK_FAILPOINT"] = failpoints[(run // failpoint_every) % len(failpoints)]
        sink = Lakesink(lakesink_bin, workdir, worker, connector, env_extra=extra, name=f"run{run}")
        if ownership is not None:
            ownership.event(f"run {run} started")
        if extra:
            # Generous: in some full-suite runs a restarted worker has written nothing for a
            # minute after catching up (not understood yet; see the log tail printed below).
            deadline = time.time() + 150
            while sink.alive() and time.time() < deadline:
                time.sleep(0.1)
            if not sink.alive():
                assert "failpoint" in sink.output(), sink.output()[-2000:]
                failpoint_kills += 1
            else:
                # Shown when the test fails for lack of failpoint kills: why no commit came.
                print(f"run {run}: no failpoint reached in 150 s; log tail:\n{sink.output()[-4000:]}")
        else:
            time.sleep(rng.uniform(*pause))
        sink.kill()  # SIGKILL
        if ownership is not None:
            ownership.event(f"run {run} killed")
        kills += 1
    return kills, failpoint_kills


class GroupOwnership:
    """Samples a consumer group's description (confluent-kafka's AdminClient) every `interval`
    seconds in a background thread, to check that no partition stays without an owner: after
    each event the test marks (a worker started, killed or frozen), every partition of `topic`
    must be assigned again to a live member of a stable group within a bound.

    Workers are told apart by their static member ids (`lakesink.worker.id`): a member whose
    `group.instance.id` starts with a worker marked gone (killed and not restarted, or frozen)
    owns nothing, whatever the group still says."""

    def __init__(self, kafka, group, topic, partitions, interval=0.2):
        import threading
        from confluent_kafka.admin import AdminClient
        self.admin = AdminClient({"bootstrap.servers": kafka})
        self.group, self.topic, self.partitions = group, topic, partitions
        self.interval = interval
        self.events = []  # (time, what)
        self.samples = []  # (time, unowned partitions or None when not stable, state)
        self.gone = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def event(self, what, gone=None, back=None):
        with self._lock:
            self.events.append((time.time(), what))
            if gone:
                self.gone.add(gone)
            if back:
                self.gone.discard(back)

    def _run(self):
        while not self._stop.is_set():
            at = time.time()
            try:
                desc = self.admin.describe_consumer_groups([self.group], request_timeout=5)[self.group].result(10)
                state = str(desc.state).rsplit(".", 1)[-1]
                with self._lock:
                    gone = set(self.gone)
                owned = set()
                for m in desc.members:
                    if any((m.group_instance_id or "").startswith(f"{g}.") for g in gone):
                        continue
                    for tp in (m.assignment.topic_partitions if m.assignment else []):
                        if tp.topic == self.topic:
                            owned.add(tp.partition)
                unowned = sorted(set(range(self.partitions)) - owned) if state == "STABLE" else None
                self.samples.append((at, unowned, state))
            except Exception as e:  # the broker is there; a failed look is recorded, not hidden
                self.samples.append((at, None, f"describe failed: {e}"))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def longest_without_owner(self):
        """(seconds, detail): the longest time from the latest event to a sample in which
        some partition had no live owner (or the group was not stable)."""
        worst, detail = 0.0, "every sample fully owned"
        for at, unowned, state in self.samples:
            if unowned == []:
                continue
            before = [(t, w) for t, w in self.events if t <= at]
            if not before:
                continue
            t, what = before[-1]
            if at - t > worst:
                worst = at - t
                detail = (f"{at - t:.1f} s after '{what}': state {state}, "
                          f"partitions without an owner: {unowned if unowned is not None else 'all (not stable)'}")
        return worst, detail

    def assert_owned_within(self, bound):
        self.stop()
        worst, detail = self.longest_without_owner()
        assert self.samples, "no sample of the group's description was taken"
        assert worst <= bound, f"a partition had no owner for longer than {bound} s: {detail}"
        return worst
