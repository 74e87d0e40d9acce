"""The Lakesink demo: produce a stream of orders to Kafka, run `lakesink standalone` with a
Confluent HDFS 3 sink config, and show what landed in HDFS.

Run by scripts/demo, which starts the test bed and builds lakesink first."""
import datetime as dt
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hdfs_native import Client

RECORDS, PARTITIONS = 10_000, 3
SCHEMA = {"type": "struct", "name": "shop.Order", "version": 1, "optional": False, "fields": [
    {"field": "order_id", "type": "int64", "optional": False},
    {"field": "customer", "type": "string", "optional": False},
    {"field": "amount", "type": "double", "optional": False},
    {"field": "items", "type": "array", "items": {"type": "string"}, "optional": False},
    {"field": "coupon", "type": "string", "optional": True},
    {"field": "ordered_at", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1,
     "optional": False}]}


def say(msg):
    print(f"\n== {msg}", flush=True)


def main():
    bootstrap, hdfs_url, binary = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"], os.environ["LAKESINK_BIN"]
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    say(f"creating topic {topic} ({PARTITIONS} partitions) and producing {RECORDS:,} orders with confluent-kafka")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    rng = random.Random(1)
    now = int(time.time() * 1000)
    for i in range(RECORDS):
        order = {"order_id": i, "customer": f"customer-{rng.randrange(500)}", "amount": round(rng.uniform(5, 500), 2),
                 "items": [rng.choice(["book", "lamp", "tea", "pen", "mug"]) for _ in range(rng.randrange(1, 4))],
                 "coupon": rng.choice([None, None, "WELCOME10"]), "ordered_at": now - (RECORDS - i) * 1000}
        producer.produce(topic, key=str(order["customer"]).encode(),
                         value=json.dumps({"schema": SCHEMA, "payload": order}).encode())
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)

    workdir = tempfile.mkdtemp(prefix="lakesink-demo-")
    with socket.socket() as s:  # a free port for the Connect REST API
        s.bind(("127.0.0.1", 0))
        rest_port = s.getsockname()[1]
    worker = os.path.join(workdir, "worker.properties")
    connector = os.path.join(workdir, "hdfs-sink.properties")
    with open(worker, "w") as f:
        f.write(f"""bootstrap.servers={bootstrap}
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=true
listeners=http://127.0.0.1:{rest_port}
""")
    with open(connector, "w") as f:
        f.write(f"""name=orders-to-hdfs
connector.class=io.confluent.connect.hdfs3.Hdfs3SinkConnector
tasks.max=1
topics={topic}
hdfs.url={hdfs_url}/demo
format.class=io.confluent.connect.hdfs3.parquet.ParquetFormat
parquet.codec=zstd
flush.size=1000
rotate.schedule.interval.ms=5000
timezone=UTC
consumer.override.auto.offset.reset=earliest
""")
    say(f"connector config ({connector}):")
    print(open(connector).read(), end="")
    say("lakesink standalone worker.properties hdfs-sink.properties")
    log_path = os.path.join(workdir, "lakesink.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([binary, "standalone", worker, connector], stdout=log, stderr=subprocess.STDOUT)
    hdfs = Client(hdfs_url)
    base = f"/demo/topics/{topic}"
    pattern = re.compile(r"\+(\d+)\+(\d+)\.parquet$")
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline:
        committed = 0
        try:
            for f in hdfs.list_status(base, recursive=True):
                m = pattern.search(f.path)
                if m:
                    committed += int(m.group(2)) - int(m.group(1)) + 1
        except FileNotFoundError:
            pass
        print(f"\r   committed {committed:,} of {RECORDS:,} records", end="", flush=True)
        if committed >= RECORDS:
            break
        if proc.poll() is not None:
            print(open(log_path).read())
            sys.exit("lakesink stopped unexpectedly")
        time.sleep(0.5)
    print()
    say(f"curl http://127.0.0.1:{rest_port}/connectors/orders-to-hdfs/status   (the Connect REST API)")
    with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/connectors/orders-to-hdfs/status", timeout=10) as r:
        print("  ", r.read().decode())
    say(f"curl http://127.0.0.1:{rest_port}/metrics   (some of the Prometheus metrics)")
    with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(("kafka_connect_sink_task_sink_record_send_total", "lakesink_files_committed_total",
                                "kafka_connect_connector_task_status", "lakesink_partition_committed_offset")):
                print("  ", line)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    if committed < RECORDS:
        print(open(log_path).read()[-3000:])
        sys.exit("not everything was committed in 2 minutes")
    print("   (the last file of each partition was committed by the 5-second wall-clock schedule "
          "although no new records arrived)")

    say(f"files in HDFS under {hdfs_url}/demo")
    for f in sorted(hdfs.list_status("/demo", recursive=True), key=lambda s: s.path):
        depth = f.path.count("/") - 2
        print(f"   {'  ' * depth}{f.path.rsplit('/', 1)[-1]}{'/' if f.isdir else f'  ({f.length:,} B)'}")

    first = sorted(f.path for f in hdfs.list_status(f"{base}/partition=0") if f.path.endswith(".parquet"))[0]
    say(f"first rows of {first.rsplit('/', 1)[-1]}, read with pyarrow")
    with hdfs.read(first) as r:
        table = pq.read_table(io.BytesIO(r.read()))
    print(f"   schema: {', '.join(f'{f.name}: {f.type}' for f in table.schema)}")
    for row in table.slice(0, 5).to_pylist():
        print(f"   {row}")
    say("lakesink's log")
    print(open(log_path).read()[-2500:])


if __name__ == "__main__":
    main()
