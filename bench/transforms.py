"""Transforms benchmark: the cost of a chain of single message transforms. The same topic is
drained into Parquet by Lakesink without transforms and with a chain a platform team would
run (InsertField, MaskField, Cast, TimestampConverter to a string, ReplaceField, Flatten),
against a raw rdkafka consumer on the same topic in the same run. Prints the drain and CPU
ratios of both, and the chain's cost as the ratio of the two runs.

Run with `bench/run transforms [--records N --partitions P --record-bytes B --flush-size F
--format parquet|json --no-warm-up --cpus LIST]`.
"""
import argparse
import os
import tempfile
import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from drain import (add_load_arguments, add_store_arguments, check_load_arguments, pin, print_table, produce,
                   run_lakesink, run_raw, store, warm_up)

FORMATS = {"parquet": "io.confluent.connect.hdfs3.parquet.ParquetFormat",
           "json": "io.confluent.connect.hdfs3.json.JsonFormat"}

# Every record is kept and the topic keeps its name: the run ends when all are committed.
CHAIN = {
    "transforms": "meta,mask,cast,when,trim,flat",
    "transforms.meta.type": "org.apache.kafka.connect.transforms.InsertField$Value",
    "transforms.meta.partition.field": "kafka_partition",
    "transforms.meta.offset.field": "kafka_offset",
    "transforms.mask.type": "org.apache.kafka.connect.transforms.MaskField$Value",
    "transforms.mask.fields": "user",
    "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
    "transforms.cast.spec": "amount:float32,id:string",
    "transforms.when.type": "org.apache.kafka.connect.transforms.TimestampConverter$Value",
    "transforms.when.field": "at",
    "transforms.when.target.type": "string",
    "transforms.when.format": "yyyy-MM-dd HH:mm:ss.SSS",
    "transforms.trim.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
    "transforms.trim.exclude": "note",
    "transforms.trim.renames": "body:payload",
    "transforms.flat.type": "org.apache.kafka.connect.transforms.Flatten$Value",
}


def main():
    ap = argparse.ArgumentParser()
    add_load_arguments(ap, records=2_000_000, flush_size=100_000)
    ap.add_argument("--format", choices=sorted(FORMATS), default="parquet")
    add_store_arguments(ap)
    args = ap.parse_args()
    pin(args.cpus)
    check_load_arguments(ap, args)
    bootstrap, hdfs_url = os.environ["LAKESINK_KAFKA"], os.environ["LAKESINK_HDFS"]
    lakesink_bin, raw_bin = os.environ["LAKESINK_BIN"], os.environ["RAW_CONSUME_BIN"]
    fmt = FORMATS[args.format]
    topic = f"bench-smt-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions, replication_factor=1)])[topic].result(30)
    produce_s, value_len = produce(bootstrap, topic, args.records, args.partitions, args.record_bytes)
    print(f"loaded {args.records} records of {value_len} B into {args.partitions} partitions in {produce_s:.1f} s")
    raw_runs = [run_raw(raw_bin, bootstrap, topic, args.records)]
    with tempfile.TemporaryDirectory(prefix="lakesink-bench-") as workdir:
        fs, store_url = store(args.store, hdfs_url, workdir)
        if args.warm_up:
            warm_up(lakesink_bin, bootstrap, store_url, fs, topic, args.records, fmt, args.flush_size, workdir)
        plain = run_lakesink(lakesink_bin, bootstrap, store_url, fs, topic, args.records, fmt, args.flush_size,
                             workdir)
        chained = run_lakesink(lakesink_bin, bootstrap, store_url, fs, topic, args.records, fmt, args.flush_size,
                               workdir, extra=CHAIN)
    raw_runs.append(run_raw(raw_bin, bootstrap, topic, args.records))
    print_table(raw_runs, [("no transforms", plain), ("6 transforms", chained)], args.records, value_len, 18)
    print(f"\nthe chain's cost: {chained['seconds'] / plain['seconds']:.2f}x the time, "
          f"{chained['cpu_seconds'] / plain['cpu_seconds']:.2f}x the CPU, "
          f"{chained['peak_rss_kib'] / plain['peak_rss_kib']:.2f}x the peak RSS of the run without transforms "
          f"({args.format}, {args.records} records)")


if __name__ == "__main__":
    main()
