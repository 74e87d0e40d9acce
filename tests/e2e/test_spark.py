"""Apache Spark reads the files lakesink writes, as they are, straight from HDFS: one local
SparkSession (pyspark from the test bed's virtualenv, spark-avro from the test bed's jar cache)
loads each format's topic directory and gets back what was produced, with the `partition`
column of Spark's partition discovery equal to each record's Kafka partition.

The records carry test_formats' schema without its Connect Time field: Spark (4.2) rejects
Parquet INT32 TIME(MILLIS) columns ([PARQUET_TYPE_ILLEGAL], even with spark.sql.timeType.enabled),
the Parquet type of Connect Time, so no file with such a column loads with an inferred schema."""
import json
import os

import pytest

from test_formats import SCHEMA, payload, run_and_collect

FORMATS = {
    "parquet": "io.confluent.connect.hdfs.parquet.ParquetFormat",
    "avro": "io.confluent.connect.hdfs3.avro.AvroFormat",
    "json": "io.confluent.connect.hdfs.json.JsonFormat",
}

FIELDS = ["id", "price", "paid", "customer", "note", "tags", "at", "address"]
SMALL = dict(SCHEMA, fields=[f for f in SCHEMA["fields"] if f["field"] in FIELDS])


def value(i):
    p = payload(i)
    return json.dumps({"schema": SMALL, "payload": {k: p[k] for k in FIELDS}}).encode()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_spark_reads(kafka, hdfs, hdfs_url, lakesink_bin, workdir, spark, fmt):
    from pyspark.sql import functions as F

    produced, files = run_and_collect(kafka, hdfs, hdfs_url, lakesink_bin, workdir, FORMATS[fmt], {},
                                      values=[value(i) for i in range(2000)])
    # <root>/topics/<topic>: Spark discovers the partition=N directories below it.
    topic_dir = hdfs_url + files[0][0][2].rsplit("/partition=", 1)[0]
    df = spark.read.format(fmt).load(topic_dir)
    types = dict(df.dtypes)
    assert types["partition"] == "int"
    assert types["at"] == ("bigint" if fmt == "json" else "timestamp")
    # The instant since the epoch (ms) of `at`: a UTC timestamp in Parquet and Avro, a number in JSON.
    at_ms = F.col("at") if fmt == "json" else F.unix_millis("at")
    rows = df.select("partition", "id", "customer", "note", "price", "paid", at_ms.alias("at_ms"), "tags",
                     F.col("address.city").alias("city")).collect()
    assert len(rows) == len(produced) == df.count()
    got = {r["id"]: r for r in rows}
    want = {json.loads(v)["payload"]["id"]: (p, json.loads(v)["payload"]) for (p, _), v in produced.items()}
    assert got.keys() == want.keys()
    for i, (p, w) in want.items():
        r = got[i]
        assert (r["partition"], r["customer"], r["note"], r["price"], r["paid"], r["at_ms"], list(r["tags"]),
                r["city"]) == (p, w["customer"], w["note"], w["price"], w["paid"], w["at"], w["tags"],
                               (w["address"] or {}).get("city")), f"id {i}"
