"""The worker and connector files Kafka Connect's projects ship (tests/e2e/data/connect-examples)
start Lakesink unchanged -- only the test bed's addresses and a fresh topic name are put in --
and write what the quickstart promises: Avro files of flush.size=3 records. Keys Connect keeps
but Lakesink has no use for are listed once at start-up with the reason; a typo of a known key
still stops start-up, and so does a value Connect would take from a config provider."""
import io
import json
import os
import re
import subprocess

import fastavro
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import Lakesink, committed_files, create_topic, read_bytes, unique, wait_until
from registry_support import registries  # noqa: F401 -- the fixture, used by name

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "connect-examples")
RECORDS = 9  # three files of flush.size=3


def example(name, **replace):
    """The shipped file's text with `old=new` replacements of whole values."""
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    for old, new in replace.items():
        assert old in text, f"{name} no longer holds {old!r}"
        text = text.replace(old, new)
    return text


def quickstart(topic, hdfs_url):
    return example("quickstart-hdfs.properties", **{"topics=test_hdfs": f"topics={topic}",
                                                      "hdfs.url=hdfs://localhost:9000": f"hdfs.url={hdfs_url}"})


def read_lake(hdfs, topic):
    files = committed_files(hdfs, "", topic).get(0, [])
    records = []
    for _start, _end, path in files:
        assert path.endswith(".avro"), path
        records.extend(fastavro.reader(io.BytesIO(read_bytes(hdfs, path))))
    return files, records


def drain_quickstart(lakesink_bin, workdir, worker, topic, hdfs, hdfs_url):
    """Runs Lakesink on `worker` and the quickstart connector until RECORDS records are in the
    lake, stops it gracefully; returns (files, records, log)."""
    sink = Lakesink(lakesink_bin, workdir, worker, quickstart(topic, hdfs_url))
    try:
        wait_until(lambda: len(read_lake(hdfs, topic)[1]) == RECORDS, 90, "three files of three records", sink)
    finally:
        code = sink.stop()
    assert code == 0, sink.output()[-3000:]
    files, records = read_lake(hdfs, topic)
    return files, records, sink.output()


def produce_raw(kafka, topic, values):
    p = Producer({"bootstrap.servers": kafka, "enable.idempotence": True})
    for v in values:
        p.produce(topic, value=v, partition=0)
    assert p.flush(30) == 0


def assert_warned_once(log, key, why):
    lines = [line for line in log.splitlines() if re.search(rf"\b{re.escape(key)}\S* has no effect", line)]
    assert len(lines) == 1, f"{key}: {len(lines)} warnings\n{log[-3000:]}"
    assert why in lines[0], lines[0]


def test_connect_standalone_properties_and_the_hdfs_quickstart(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    topic = unique("quickstart")
    create_topic(kafka, topic, 1)
    schema = {"type": "struct", "optional": False, "fields": [{"field": "f1", "type": "string", "optional": False}]}
    produce_raw(kafka, topic, [json.dumps({"schema": schema, "payload": {"f1": f"value{i}"}}).encode()
                               for i in range(RECORDS)])
    worker = example("connect-standalone.properties", **{"bootstrap.servers=localhost:9092": f"bootstrap.servers={kafka}"})
    files, records, log = drain_quickstart(lakesink_bin, workdir, worker, topic, hdfs, hdfs_url)
    assert [(s, e) for s, e, _ in files] == [(0, 2), (3, 5), (6, 8)]
    assert records == [{"f1": f"value{i}"} for i in range(RECORDS)]
    assert_warned_once(log, "offset.flush.interval.ms", "Lakesink commits consumer offsets after every file commit")
    assert_warned_once(log, "offset.storage.file.filename", "used by source connectors only")


def test_connect_avro_standalone_properties_with_a_registry(kafka, hdfs, hdfs_url, lakesink_bin, workdir, registries):
    registry = registries(leader=True)
    topic = unique("quickstart-avro")
    create_topic(kafka, topic, 1)
    client = SchemaRegistryClient({"url": registry.url})
    schema = json.dumps({"type": "record", "name": "myrecord", "fields": [{"name": "f1", "type": "string"}]})
    serialize = AvroSerializer(client, schema)
    ctx = SerializationContext(topic, MessageField.VALUE)
    produce_raw(kafka, topic, [serialize({"f1": f"value{i}"}, ctx) for i in range(RECORDS)])
    worker = example("connect-avro-standalone.properties",
                     **{"bootstrap.servers=localhost:9092": f"bootstrap.servers={kafka}",
                        "schema.registry.url=http://localhost:8081": f"schema.registry.url={registry.url}"})
    assert "internal.key.converter=" in worker and "internal.value.converter.schemas.enable=false" in worker
    files, records, log = drain_quickstart(lakesink_bin, workdir, worker, topic, hdfs, hdfs_url)
    assert len(files) == 3
    assert records == [{"f1": f"value{i}"} for i in range(RECORDS)]
    for key in ("internal.key.converter", "internal.value.converter"):
        assert_warned_once(log, f"{key}=org.apache.kafka.connect.json.JsonConverter", "removed in Kafka 3.0 (KIP-738)")
        assert_warned_once(log, f"{key}.schemas.enable", "removed in Kafka 3.0 (KIP-738)")


def validate(lakesink_bin, workdir, worker_text, connector_text):
    w, c = os.path.join(workdir, "worker.properties"), os.path.join(workdir, "connector.properties")
    for path, text in ((w, worker_text), (c, connector_text)):
        with open(path, "w") as f:
            f.write(text)
    out = subprocess.run([lakesink_bin, "validate", w, c], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def test_connect_distributed_properties_validate_and_typos_still_fail(lakesink_bin, hdfs_url, workdir):
    distributed = example("connect-distributed.properties")
    code, out = validate(lakesink_bin, workdir, distributed, quickstart("orders", hdfs_url))
    assert code == 0, out
    assert "offset.storage.topic=connect-offsets has no effect: a sink's offsets live in the commit log" in out, out
    assert "config.storage.topic" not in out, out

    code, out = validate(lakesink_bin, workdir, distributed + "offset.flush.intervall.ms=1000\n",
                         quickstart("orders", hdfs_url))
    assert code == 1, out
    assert "offset.flush.intervall.ms: unknown configuration key (did you mean 'offset.flush.interval.ms'?)" in out, out

    # Connect would read the keytab's path from a file; Lakesink would take the text literally.
    code, out = validate(lakesink_bin, workdir, distributed + "config.providers=file\n"
                         "config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider\n",
                         quickstart("orders", hdfs_url) + "consumer.override.sasl.jaas.config=${file:/etc/secrets.properties:jaas}\n")
    assert code == 1, out
    assert "consumer.override.sasl.jaas.config: its value refers to the config provider 'file'" in out, out
