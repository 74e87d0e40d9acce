"""Avro drain benchmark: Lakesink reading Confluent-Avro records (writer schemas from
`lakesink registry`) into Parquet and into Avro files on HDFS (Avro: the records' datums
copied under their writer schema), each as a ratio to a raw rdkafka consumer reading the same
topic in the same run, and Lakesink's peak RSS.

Run by `bench/run avro` (which starts the test bed and builds release binaries); see
bench/README.md.
"""
import argparse
import datetime
import io
import decimal
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import fastavro
import pyarrow.parquet as pq
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from drain import (COMMITTED, add_load_arguments, add_store_arguments, check_load_arguments, pin, print_copy_ratios,
                   print_table, produce_values, run_lakesink, run_raw, run_raw_copy, store, warm_up)

# 20 fields: a nested record, an array, a map, enums, nullable unions, the logical types
# decimal (bytes), date and timestamp-millis, and a padding string last (see padded_values).
SCHEMA = {
    "type": "record", "name": "Order", "namespace": "bench.avro",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "order_ref", "type": "string"},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "name", "type": "string"},
            {"name": "tier", "type": {"type": "enum", "name": "Tier", "symbols": ["GOLD", "SILVER", "BRONZE"]}},
            {"name": "country", "type": "string"},
            {"name": "score", "type": "int"},
        ]}},
        {"name": "status", "type": {"type": "enum", "name": "Status",
                                    "symbols": ["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"]}},
        {"name": "items", "type": {"type": "array", "items": "string"}},
        {"name": "attributes", "type": {"type": "map", "values": "long"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ratio", "type": "double"},
        {"name": "quantity", "type": "int"},
        {"name": "price", "type": "float"},
        {"name": "paid", "type": "boolean"},
        {"name": "channel", "type": ["null", "string"], "default": None},
        {"name": "discount", "type": ["null", "long"], "default": None},
        {"name": "referrer", "type": "string"},
        {"name": "tracking_id", "type": "string"},
        {"name": "version", "type": "int"},
        {"name": "body", "type": "string"},
    ],
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
COUNTRIES = ["DE", "FR", "US", "JP", "BR", "IN", "NG", "CA"]
STATUSES = SCHEMA["fields"][3]["type"]["symbols"]


def order(i, body):
    return {
        "id": i,
        "order_ref": f"ord-{i:08d}",
        "customer": {"name": f"customer-{i % 97}", "tier": ("GOLD", "SILVER", "BRONZE")[i % 3],
                     "country": COUNTRIES[i % len(COUNTRIES)], "score": i * 37 % 1000},
        "status": STATUSES[i % len(STATUSES)],
        "items": [f"sku-{i * 7 % 5000 + k}" for k in range(i % 5)],
        "attributes": {f"attr-{k}": i * k for k in range(i % 4)},
        "note": None if i % 3 else f"note for order {i}",
        "amount": decimal.Decimal(i * 7919 % 10_000_000).scaleb(-2),
        "day": datetime.date(2025, 1, 1) + datetime.timedelta(days=i % 365),
        "at": EPOCH + datetime.timedelta(milliseconds=1_735_689_600_000 + i * 1_013),
        "ratio": i / 8,
        "quantity": i % 50 + 1,
        "price": (i % 1000) / 4,
        "paid": i % 2 == 0,
        "channel": (None, "web", "app", "store")[i % 4],
        "discount": None if i % 5 else i % 300,
        "referrer": f"https://example.com/campaign/{i % 31}",
        "tracking_id": uuid.UUID(int=i * 2_654_435_761).hex,
        "version": 1,
        "body": body,
    }


def padded_values(url, topic, distinct, record_bytes):
    """Serializes `distinct` orders once with AvroSerializer (registering the writer schema
    as `<topic>-value`) and returns (prefixes, body_len): each prefix is a Confluent-framed
    payload (magic byte, schema id, Avro datum) without the bytes of its last field's text, so
    prefix + any `body_len` bytes of ASCII text is a valid record of about `record_bytes`."""
    serializer = AvroSerializer(SchemaRegistryClient({"url": url}), json.dumps(SCHEMA))
    ctx = SerializationContext(topic, MessageField.VALUE)
    # The other fields vary in length; a body of 128 to 8191 bytes has a 2-byte length.
    probes = [len(serializer(order(i, ""), ctx)) for i in range(distinct)]
    body_len = max(128, record_bytes - round(sum(probes) / distinct) - 2)
    filler = b"x" * body_len
    prefixes = []
    for i in range(distinct):
        payload = serializer(order(i, filler.decode()), ctx)
        assert payload.endswith(filler), "the padding must be the datum's last bytes"
        prefixes.append(payload[:-body_len])
    return prefixes, body_len


def produce(bootstrap, url, topic, n, partitions, record_bytes, distinct, seed):
    """Loads `n` records: serialized orders reused round-robin, each with its own slice of
    word text as the body, so values do not repeat (text of words compresses about 3x, like
    the other benchmarks' records)."""
    t0 = time.time()
    prefixes, body_len = padded_values(url, topic, distinct, record_bytes)
    serialize_s = time.time() - t0
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 10))) for _ in range(4000)]
    text = " ".join(rng.choices(vocabulary, k=400_000)).encode()
    lengths = 0

    def value_of(i):
        nonlocal lengths
        start = rng.randrange(len(text) - body_len)
        value = prefixes[i % distinct] + text[start:start + body_len]
        lengths += len(value)
        return value
    produce_s, _ = produce_values(bootstrap, topic, n, partitions, value_of)
    return serialize_s, produce_s, lengths / n


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(lakesink_bin, bootstrap, workdir):
    """Starts `lakesink registry` on a fresh store topic and waits until it leads (writes,
    i.e. registrations, need a leader); returns (process, url)."""
    url = f"http://127.0.0.1:{free_port()}"
    tag = uuid.uuid4().hex[:8]
    config = os.path.join(workdir, "registry.properties")
    with open(config, "w") as f:
        f.write(f"listeners={url}\nhost.name=127.0.0.1\nkafkastore.bootstrap.servers={bootstrap}\n"
                f"kafkastore.topic=_schemas-bench-{tag}\nkafkastore.topic.replication.factor=1\n"
                f"schema.registry.group.id=bench-registry-{tag}\n")
    log_path = os.path.join(workdir, "registry.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([lakesink_bin, "registry", "--config", config], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, LAKESINK_LOG="info"))
    deadline = time.time() + 90
    while True:
        with open(log_path, "rb") as f:
            out = f.read()
        if b"registry serving" in out and b"this instance is now the leader" in out:
            return proc, url
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit(f"lakesink registry did not start:\n{out[-3000:].decode('utf-8', 'replace')}")
        time.sleep(0.2)


def check_files(hdfs, base, n, fmt):
    """Counts the rows of every committed file (Parquet: from its footer, with the Arrow types
    of the logical-type columns; Avro: from its block headers, with the header schema's types)."""
    rows, types = 0, None
    for d in hdfs.list_status(base):
        if d.isdir and not d.path.endswith("+tmp"):
            for f in hdfs.list_status(d.path):
                if not COMMITTED.match(f.path.rsplit("/", 1)[-1]):
                    continue
                if fmt == "parquet":
                    with hdfs.read(f.path) as r:
                        footer = pq.ParquetFile(r)
                        rows += footer.metadata.num_rows
                        if types is None:
                            schema = footer.schema_arrow
                            types = {c: str(schema.field(c).type) for c in ("amount", "day", "at")}
                else:
                    with hdfs.read(f.path) as r:
                        data = io.BytesIO(r.read())
                    rows += sum(b.num_records for b in fastavro.block_reader(data))
                    if types is None:
                        data.seek(0)
                        fields = {x["name"]: x["type"] for x in
                                  json.loads(fastavro.reader(data).metadata["avro.schema"])["fields"]}
                        types = {c: json.dumps(fields[c]) for c in ("status", "amount", "at")}
    if rows != n:
        raise SystemExit(f"row count mismatch: {rows} in files, {n} produced")
    return rows, types


def main():
    ap = argparse.ArgumentParser()
    add_load_arguments(ap, records=1_000_000, flush_size=50_000)
    ap.add_argument("--distinct", type=int, default=500, help="orders serialized with AvroSerializer")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--formats", default="parquet,avro")
    add_store_arguments(ap)
    args = ap.parse_args()
    pin(args.cpus)
    check_load_arguments(ap, args)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin, raw_bin = os.environ["LAKESINK_BIN"], os.environ["RAW_CONSUME_BIN"]
    topic = f"bench-avro-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(30)
    with tempfile.TemporaryDirectory(prefix="lakesink-bench-") as workdir:
        registry, url = start_registry(lakesink_bin, bootstrap, workdir)
        try:
            serialize_s, produce_s, value_len = produce(bootstrap, url, topic, args.records, args.partitions,
                                                        args.record_bytes, args.distinct, args.seed)
            print(f"serialized {args.distinct} orders with AvroSerializer in {serialize_s:.1f} s; loaded "
                  f"{args.records} records of {value_len:.0f} B (mean) into {args.partitions} partitions "
                  f"in {produce_s:.1f} s")
            raw_runs = [run_raw(raw_bin, bootstrap, topic, args.records)]
            values = {"value.converter": "io.confluent.connect.avro.AvroConverter",
                      "value.converter.schema.registry.url": url}
            fs, store_url = store(args.store, hdfs_url, workdir)
            formats = args.formats.split(",")
            if args.warm_up:
                warm_up(lakesink_bin, bootstrap, store_url, fs, topic, args.records, formats[0], args.flush_size,
                        workdir, values)
            copy = run_raw_copy(raw_bin, bootstrap, topic, args.records, fs, store_url, args.flush_size)
            results = []
            for fmt in formats:
                results.append((fmt, run_lakesink(lakesink_bin, bootstrap, store_url, fs, topic, args.records, fmt,
                                                  args.flush_size, workdir, values)))
                raw_runs.append(run_raw(raw_bin, bootstrap, topic, args.records))
        finally:
            registry.send_signal(signal.SIGTERM)
            registry.wait(30)
        labelled = [("lakesink avro->" + fmt, r) for fmt, r in results]
        print_table(raw_runs, [("raw copy into " + args.store, copy)] + labelled, args.records, value_len, 24)
        print()
        print_copy_ratios(copy, labelled, args.store)
        for fmt, r in results:
            rows, types = check_files(fs, r["base"], args.records, fmt)
            print(f"{fmt}: {r['files']} files, {r['file_bytes'] / 2**20:.0f} MiB, {rows} rows (expected "
                  f"{args.records}); " + ", ".join(f"{k} {v}" for k, v in types.items()))
    print("(raw runs: " + ", ".join("%.2f s" % x["seconds"] for x in raw_runs) + "; lakesink time includes "
          "process start, group join, recovery and the writer schema fetch, and ends when the last file is "
          f"committed in {args.store})")


if __name__ == "__main__":
    main()
