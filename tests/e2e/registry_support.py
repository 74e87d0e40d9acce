"""Helpers for the Schema Registry end-to-end tests: a `lakesink registry` process, a small HTTP
client that keeps every status, header and body explicit, and readers/writers of the registry's
Kafka topic."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import unique, write_properties

V1 = "application/vnd.schemaregistry.v1+json"
GENERIC = "application/vnd.schemaregistry+json"
JSON = "application/json"
CLIENT_ACCEPT = f"{V1}, {GENERIC}, {JSON}"
LEADER_LINE = "this instance is now the leader"
NOT_LEADER_LINE = "no longer the leader"
SERVING_LINE = "registry serving"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    """One HTTP exchange: the request as sent and the response as received."""

    def __init__(self, method, url, request_headers, request_body, status, headers, body):
        self.method = method
        self.url = url
        self.request_headers = request_headers
        self.request_body = request_body
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"response is not JSON:\n{self}") from None

    def __str__(self):
        sent = self.request_body
        if sent is not None and len(sent) > 600:
            sent = sent[:600] + b"...(%d bytes)" % len(self.request_body)
        got = self.body if len(self.body) <= 1500 else self.body[:1500] + b"..."
        return (f"{self.method} {self.url} headers={self.request_headers} body={sent!r}\n"
                f"  -> {self.status} content-type={self.headers.get('content-type')!r} body={got!r}")

    __repr__ = __str__


def request(base, method, path, body=None, raw=None, content_type=V1, accept=None, headers=None, timeout=60):
    """Sends one request. `body` is JSON-encoded; `raw` is sent as is; `content_type=None`
    sends no Content-Type header at all (http.client adds none of its own)."""
    parsed = urllib.parse.urlsplit(base)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {}
    if data is not None and content_type is not None:
        sent["Content-Type"] = content_type
    if accept is not None:
        sent["Accept"] = accept
    sent.update(headers or {})
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        r = conn.getresponse()
        payload = r.read()
        got = {k.lower(): v for k, v in r.getheaders()}
        return Response(method, f"{base}{path}", sent, data, r.status, got, payload)
    finally:
        conn.close()


def ok(resp, status=200):
    """The JSON body of a successful response (asserting its status)."""
    assert resp.status == status, f"expected HTTP {status}:\n{resp}"
    return resp.json()


def error(resp, code):
    """Asserts a Confluent error: HTTP status = first three digits of `code`, JSON body with
    that error_code and a message."""
    status = int(str(code)[:3])
    assert resp.status == status, f"expected HTTP {status} / error_code {code}:\n{resp}"
    body = resp.json()
    assert isinstance(body, dict) and body.get("error_code") == code, f"expected error_code {code}:\n{resp}"
    assert isinstance(body.get("message"), str) and body["message"], f"error without a message:\n{resp}"
    return body


def error_status(resp, status):
    """Asserts an HTTP-level error: the status, a JSON body whose error_code starts with the
    status' three digits, and a message."""
    assert resp.status == status, f"expected HTTP {status}:\n{resp}"
    body = resp.json()
    assert isinstance(body, dict) and str(body.get("error_code", "")).startswith(str(status)), \
        f"expected an error_code starting with {status}:\n{resp}"
    assert isinstance(body.get("message"), str), f"error without a message:\n{resp}"
    return body


class Registry:
    """A running `lakesink registry` process with its properties file and log."""

    def __init__(self, binary, workdir, kafka, topic, group, name="registry", port=None, **props):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.topic = topic
        self.group = group
        tag = f"{name}-{uuid.uuid4().hex[:6]}"
        self.config_path = os.path.join(workdir, f"{tag}.properties")
        self.log_path = os.path.join(workdir, f"{tag}.log")
        config = {
            "listeners": self.url,
            "host.name": "127.0.0.1",
            "kafkastore.bootstrap.servers": kafka,
            "kafkastore.topic": topic,
            "kafkastore.topic.replication.factor": "1",
            "schema.registry.group.id": group,
            "schema.compatibility.level": "BACKWARD",
            "mode.mutability": "true",
        }
        config.update({k.replace("__", "."): str(v) for k, v in props.items()})
        write_properties(self.config_path, config)
        environment = dict(os.environ)
        environment.setdefault("LAKESINK_LOG", "info")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "registry", "--config", self.config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=environment)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=4000):
        return f"--- {self.log_path}:\n{self.output()[-n:]}"

    def leader_lines(self):
        return self.output().count(LEADER_LINE)

    def is_leader(self):
        """The last leadership line of the log says this instance leads."""
        out = self.output()
        return out.rfind(LEADER_LINE) > out.rfind(NOT_LEADER_LINE)

    def wait_serving(self, timeout=90):
        wait_for(lambda: SERVING_LINE in self.output(), timeout, f"{self.url} to serve", self)

    def wait_leader(self, timeout=45):
        wait_for(self.is_leader, timeout, f"{self.url} to become the leader", self)

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"registry did not stop within {timeout}s of SIGTERM\n{self.tail()}")
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    # HTTP
    def call(self, method, path, body=None, **kw):
        return request(self.url, method, path, body=body, **kw)

    def get(self, path, **kw):
        return request(self.url, "GET", path, **kw)

    def get_ok(self, path, **kw):
        return ok(self.get(path, **kw))

    def write(self, method, path, body=None, timeout=20, **kw):
        """A write, retried while the instance reports an unknown leader (HTTP 500, error_code
        50004: the election is still settling); any other answer is returned."""
        deadline = time.time() + timeout
        while True:
            r = request(self.url, method, path, body=body, **kw)
            if r.status == 500 and time.time() < deadline:
                try:
                    code = json.loads(r.body).get("error_code")
                except (ValueError, AttributeError):
                    code = None
                if code == 50004:
                    time.sleep(0.25)
                    continue
            return r

    def register(self, subject, schema, schema_type=None, references=None, query="", expect=200):
        """Registers a schema (a string, or a JSON value that is encoded) and returns the body."""
        body = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
        if schema_type is not None:
            body["schemaType"] = schema_type
        if references is not None:
            body["references"] = references
        r = self.write("POST", f"/subjects/{q(subject)}/versions{query}", body)
        return ok(r, expect)


def q(s):
    return urllib.parse.quote(s, safe="")


def wait_for(predicate, timeout, what, registry=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if registry is not None and not registry.alive():
            pytest.fail(f"registry exited ({registry.proc.returncode}) while waiting for {what}\n{registry.tail()}")
        time.sleep(0.2)
    detail = f"\n{registry.tail()}" if registry is not None else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}{detail}")


@pytest.fixture
def registries(kafka, lakesink_bin, workdir):
    """Starts registry processes (`start(...)` returns a serving Registry) and stops the
    survivors at the end of the test."""
    started = []

    def start(topic=None, group=None, serve=True, leader=False, **props):
        reg = Registry(lakesink_bin, workdir, kafka, topic or unique("sr-e2e-schemas"),
                       group or unique("sr-e2e-group"), **props)
        started.append(reg)
        if serve:
            reg.wait_serving()
        if leader:
            reg.wait_leader()
        return reg

    yield start
    for reg in started:
        if reg.alive():
            reg.kill()


def create_store_topic(kafka, topic):
    """A topic shaped like `_schemas`: one partition, compacted."""
    admin = AdminClient({"bootstrap.servers": kafka})
    new = NewTopic(topic, num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"})
    admin.create_topics([new])[topic].result(30)


def compact_json(value):
    return json.dumps(value, separators=(",", ":")).encode()


def produce_records(kafka, topic, records):
    """Produces (key, value) pairs of JSON values (None = null) in order to partition 0."""
    producer = Producer({"bootstrap.servers": kafka, "enable.idempotence": True})
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    for key, value in records:
        producer.produce(topic, key=compact_json(key), value=None if value is None else compact_json(value),
                         partition=0, on_delivery=on_delivery)
    assert producer.flush(30) == 0, "undelivered records"
    assert not errors, errors


def read_topic(kafka, topic, timeout=30):
    """Every committed record of partition 0: [(key bytes, value bytes or None)]."""
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": unique("sr-e2e-reader"),
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest"})
    try:
        tp = TopicPartition(topic, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        records = []
        deadline = time.time() + timeout
        idle_since = time.time()
        # With transactions the high watermark counts the commit markers too, which are never
        # delivered: stop at the watermark or after 2 s without a record.
        while time.time() < deadline:
            msg = consumer.poll(0.3)
            if msg is None:
                if consumer.position([tp])[0].offset >= high or time.time() - idle_since > 2:
                    break
                continue
            if msg.error():
                raise AssertionError(f"reading {topic}: {msg.error()}")
            idle_since = time.time()
            records.append((msg.key(), msg.value()))
        else:
            raise AssertionError(f"reading {topic}: timed out at {len(records)} records (high watermark {high})")
        return records
    finally:
        consumer.close()
