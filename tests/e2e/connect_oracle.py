"""Apache Kafka's own Connect worker (4.1.1, the bed broker's version) as a REST oracle: tests
ask it what Kafka Connect answers to a request and compare with Lakesink.

    from connect_oracle import connect_oracle  # noqa: F401 -- the fixture, used by name

    def test_something(connect_oracle, kafka):
        r = connect_oracle.call("POST", "/connectors", {"name": unique("fs"), "config": {...}})
        assert r.status == 201, r

`connect_oracle` is one standalone worker per test module (it takes a few seconds to start):
connectors created by one test stay for the next, so give them unique names (a sink connector's
consumer group `connect-<name>` also outlives the worker on the bed's broker). The
`connect_oracles` fixture starts workers of a test's own (`start(distributed=True)` for
ConnectDistributed) and stops them after the test.

The classpath is `scripts/testbed jars connect` (scripts/testbed.d/connect-pom.xml: connect-runtime,
connect-file, connect-json, connect-transforms, log4j2), or $LAKESINK_CONNECT_JARS; java is
$LAKESINK_JAVA or java on PATH. The FileStream connectors
(org.apache.kafka.connect.file.FileStreamSinkConnector / FileStreamSourceConnector) are on it.
"""
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import env, unique, write_properties
from registry_support import free_port, request

JSON = "application/json"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TESTBED = os.path.join(REPO, "scripts", "testbed")
LOG4J2 = os.path.join(REPO, "scripts", "testbed.d", "connect-log4j2.xml")
STANDALONE = "org.apache.kafka.connect.cli.ConnectStandalone"
DISTRIBUTED = "org.apache.kafka.connect.cli.ConnectDistributed"
FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"

_jars_dir = None


def connect_jars():
    """The directory of the Connect worker's jars (fetched once into the cache)."""
    global _jars_dir
    if _jars_dir is None:
        given = os.environ.get("LAKESINK_CONNECT_JARS")
        if given:
            _jars_dir = given
        else:
            r = subprocess.run([TESTBED, "jars", "connect"], capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                pytest.fail(f"scripts/testbed jars connect failed ({r.returncode}):\n{r.stderr[-4000:]}")
            _jars_dir = r.stdout.strip().splitlines()[-1]
        if not os.path.isfile(os.path.join(_jars_dir, "connect-runtime-4.1.1.jar")):
            pytest.fail(f"no connect-runtime-4.1.1.jar in {_jars_dir}")
    return _jars_dir


class ConnectOracle:
    """One Kafka Connect worker JVM (standalone, or distributed with `distributed=True`) with
    its REST listener on a free port of 127.0.0.1. Its files -- worker.properties, the log,
    the standalone offsets file -- are in `self.dir`, a new directory under `workdir`.

    `worker` overrides or adds worker properties (None removes one). Distributed workers get
    a unique group.id and unique config/offset/status topics (replication factor 1) unless
    given: pass the same `group` (and `topics_prefix`) to start several workers of one
    cluster."""

    def __init__(self, kafka, workdir, distributed=False, name=None, port=None, group=None,
                 topics_prefix=None, worker=None, java=None, heap="384m"):
        self.kafka = kafka
        self.distributed = distributed
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        tag = name or f"connect-{'distributed' if distributed else 'standalone'}-{uuid.uuid4().hex[:6]}"
        self.dir = os.path.join(workdir, tag)
        os.makedirs(self.dir, exist_ok=True)
        self.worker_path = os.path.join(self.dir, "worker.properties")
        self.log_path = os.path.join(self.dir, "connect.log")
        self.java = java or os.environ.get("LAKESINK_JAVA") or "java"
        self.heap = heap
        props = {
            "bootstrap.servers": kafka,
            "listeners": self.url,
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.port),
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            # No plugin.path: the plugins are those on the classpath. (An empty `plugin.path=`
            # is not "none": Connect then scans the working directory.) They all have
            # ServiceLoader manifests, so service_load finds the same set as the default
            # hybrid_warn, without its ~3.5 s reflection scan.
            "plugin.discovery": "service_load",
            # Commit sink offsets (and flush source offsets) every second, not every 10 s.
            "offset.flush.interval.ms": "1000",
        }
        if distributed:
            self.group = group or unique("connect-oracle")
            prefix = topics_prefix or self.group
            self.config_topic = f"{prefix}-configs"
            self.offset_topic = f"{prefix}-offsets"
            self.status_topic = f"{prefix}-status"
            props.update({
                "group.id": self.group,
                "config.storage.topic": self.config_topic,
                "offset.storage.topic": self.offset_topic,
                "status.storage.topic": self.status_topic,
                "config.storage.replication.factor": "1",
                "offset.storage.replication.factor": "1",
                "status.storage.replication.factor": "1",
            })
        else:
            self.group = None
            props["offset.storage.file.filename"] = os.path.join(self.dir, "connect.offsets")
        for k, v in (worker or {}).items():
            if v is None:
                props.pop(k, None)
            else:
                props[k] = str(v)
        self.worker = props
        write_properties(self.worker_path, props)
        self.proc = None
        self.log = None
        self.started_in = None  # seconds from spawn to serving

    def command(self):
        return [self.java, "-Xms64m", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
                f"-Dlog4j2.configurationFile={LOG4J2}",
                f"-Dlakesink.e2e.connect-oracle={self.dir}",
                "-cp", os.path.join(connect_jars(), "*"),
                DISTRIBUTED if self.distributed else STANDALONE, self.worker_path]

    def start(self, timeout=120):
        """Spawns the worker and waits until GET / answers 200 and the herder is ready
        (GET /health 200); fails the test with the log tail if the JVM exits first."""
        cmd = self.command()
        t0 = time.time()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.dir)
        deadline = t0 + timeout
        for path in ("/", "/health"):
            last = None
            while True:
                if not self.alive():
                    pytest.fail(f"the Connect worker exited ({self.proc.returncode}) during start-up\n{self.tail()}")
                try:
                    r = self.call("GET", path, timeout=5)
                    if r.status == 200:
                        break
                    last = f"{r.status} {r.body[:300]!r}"
                except OSError as e:
                    last = repr(e)
                if time.time() > deadline:
                    self.stop()
                    pytest.fail(f"the Connect worker did not answer 200 to GET {path} within {timeout}s "
                                f"(last: {last})\n{self.tail()}")
                time.sleep(0.2)
        self.started_in = time.time() - t0
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit code."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log and not self.log.closed:
            self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        if self.log and not self.log.closed:
            self.log.close()

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, n=4000):
        return f"--- {self.log_path}:\n{self.output()[-n:]}"

    # HTTP: registry_support.Response (status, headers with lower-cased names, body bytes, .json())
    def call(self, method, path, body=None, raw=None, content_type=JSON, **kw):
        """One request; `body` is sent as JSON, `raw` (bytes) as is; content_type=None sends
        no Content-Type."""
        return request(self.url, method, path, body=body, raw=raw, content_type=content_type, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def wait_for(self, predicate, timeout=30, what="a condition", interval=0.2):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            if not self.alive():
                pytest.fail(f"the Connect worker exited ({self.proc.returncode}) while waiting for {what}\n"
                            f"{self.tail()}")
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout}s waiting for {what}\n{self.tail()}")

    def wait_state(self, connector, state="RUNNING", tasks=None, timeout=30):
        """Waits until GET /connectors/<c>/status shows the connector (and, with `tasks` = n,
        n tasks) in `state`; returns that status."""
        got = {}

        def check():
            r = self.get(f"/connectors/{connector}/status")
            if r.status != 200:
                return False
            got["s"] = s = r.json()
            if s["connector"]["state"] != state:
                return False
            return tasks is None or (len(s["tasks"]) == tasks and all(t["state"] == state for t in s["tasks"]))

        self.wait_for(check, timeout, f"connector {connector} to be {state}")
        return got["s"]


def start_connect_oracle(kafka, workdir, timeout=120, **kw):
    """A started ConnectOracle (see its arguments)."""
    return ConnectOracle(kafka, workdir, **kw).start(timeout)


@pytest.fixture(scope="module")
def connect_oracle(tmp_path_factory):
    """One standalone Connect worker for the test module, against the bed's Kafka."""
    oracle = start_connect_oracle(env("LAKESINK_KAFKA"), str(tmp_path_factory.mktemp("connect-oracle")))
    yield oracle
    oracle.stop()


@pytest.fixture
def connect_oracles(kafka, tmp_path_factory):
    """Starts Connect workers for one test -- `start(distributed=False, **kw)` returns a serving
    ConnectOracle -- and stops them (SIGTERM, then SIGKILL) after the test."""
    started = []
    workdir = str(tmp_path_factory.mktemp("connect-oracles"))

    def start(timeout=120, **kw):
        oracle = ConnectOracle(kafka, workdir, **kw)
        started.append(oracle)
        return oracle.start(timeout)

    yield start
    for oracle in started:
        oracle.stop()
