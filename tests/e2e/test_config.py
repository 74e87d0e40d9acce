"""Invalid configurations produce the documented errors (see docs/configuration.md)."""
import json
import os
import subprocess

from conftest import write_properties

WORKER = {"bootstrap.servers": "127.0.0.1:9", "value.converter": "org.apache.kafka.connect.json.JsonConverter"}
BASE = {"name": "hdfs-sink", "connector.class": "io.confluent.connect.hdfs.HdfsSinkConnector", "topics": "orders",
        "hdfs.url": "hdfs://127.0.0.1:9", "flush.size": "100"}


def validate(lakesink_bin, workdir, connector, worker=WORKER, json_form=False):
    w = os.path.join(workdir, "worker.properties")
    write_properties(w, worker)
    c = os.path.join(workdir, "connector.json" if json_form else "connector.properties")
    if json_form:
        with open(c, "w") as f:
            json.dump(connector, f)
    else:
        write_properties(c, connector)
    out = subprocess.run([lakesink_bin, "validate", w, c], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def test_valid_properties_and_json(lakesink_bin, workdir):
    code, out = validate(lakesink_bin, workdir, BASE)
    assert code == 0 and "ok: connector 'hdfs-sink'" in out, out
    code, out = validate(lakesink_bin, workdir, {"name": "hdfs-sink", "config": {**BASE, "flush.size": 100}}, json_form=True)
    assert code == 0, out


def test_invalid_values_name_key_value_and_allowed(lakesink_bin, workdir):
    code, out = validate(lakesink_bin, workdir, {**BASE, "flush.size": "abc", "format.class": "CsvFormat",
                                                 "avro.codec": "lz4"})
    assert code == 1
    assert "flush.size: invalid value 'abc': expected integer in [1, 2147483647]" in out, out
    assert "format.class: invalid value 'CsvFormat': expected one of avro (io.confluent.connect.hdfs.avro.AvroFormat)" in out, out
    assert "avro.codec: invalid value 'lz4': expected one of null (none), deflate, snappy, zstandard (zstd)" in out, out


def test_unknown_and_unsupported_keys_are_reported_by_name(lakesink_bin, workdir):
    code, out = validate(lakesink_bin, workdir, {**BASE, "flush.sise": "10", "hive.integration": "true",
                                                 "format.class": "io.confluent.connect.hdfs.orc.OrcFormat"})
    assert code == 1
    assert "flush.sise: unknown configuration key (did you mean 'flush.size'?)" in out, out
    assert "hive.integration=true: recognised but not supported by Lakesink yet; remove the key or set it to 'false'" in out, out
    assert "format.class=io.confluent.connect.hdfs.orc.OrcFormat: recognised but not supported by Lakesink yet" in out, out
    # Keys that change nothing are accepted with a warning that says why.
    code, out = validate(lakesink_bin, workdir, {**BASE, "hadoop.home": "/opt/hadoop"})
    assert code == 0 and "hadoop.home=/opt/hadoop has no effect" in out, out


def test_missing_and_conflicting_keys(lakesink_bin, workdir):
    connector = {k: v for k, v in BASE.items() if k not in ("hdfs.url", "flush.size")}
    code, out = validate(lakesink_bin, workdir, {**connector, "topics.regex": "o.*", "rotate.schedule.interval.ms": "60000"})
    assert code == 1
    for expected in ["flush.size: missing", "store.url: missing", "topics and topics.regex are both set",
                     "timezone: missing; rotate.schedule.interval.ms needs a timezone"]:
        assert expected in out, (expected, out)
    code, out = validate(lakesink_bin, workdir, {**BASE, "format.class": "ParquetFormat"},
                         worker={**WORKER, "value.converter.schemas.enable": "false"})
    assert code == 1 and "format.class=ParquetFormat needs records with a schema" in out, out


def test_bad_consumer_setting_stops_start_up_with_its_name(lakesink_bin, workdir):
    w, c = os.path.join(workdir, "w.properties"), os.path.join(workdir, "c.properties")
    write_properties(w, WORKER)
    write_properties(c, {**BASE, "hdfs.url": f"file://{workdir}/lake", "consumer.override.fetch.wait.max.mss": "5"})
    out = subprocess.run([lakesink_bin, "standalone", w, c], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "Kafka consumer setting fetch.wait.max.mss=5" in out.stderr, out.stderr
