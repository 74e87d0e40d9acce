"""The Spark side of `bench/run spark`: Apache Spark Structured Streaming drains a Kafka topic of
JSON-envelope records into snappy Parquet files in HDFS, as Lakesink does, then exits.

Run as its own process by bench/spark.py, which measures its whole process tree (this Python
driver and the JVM it starts). Arguments: BOOTSTRAP TOPIC OUTPUT_URL CHECKPOINT_URL
RECORDS_PER_FILE JARS (comma-separated). Prints one JSON line per milestone with the wall time.
"""
import json
import sys
import time


def mark(event):
    print(json.dumps({"event": event, "t": time.time()}), flush=True)


def main():
    bootstrap, topic, output, checkpoint, per_file, jars = sys.argv[1:7]
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = (SparkSession.builder.master("local[2]").appName("lakesink-bench-spark-peer")
             .config("spark.jars", jars)
             .config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.parquet.compression.codec", "snappy")
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MILLIS")
             # The Java client's defaults would write 3 replicas (the bed has one DataNode)
             # and take the bed's 16 MiB blocks; Lakesink writes 1 replica of 128 MiB blocks.
             .config("spark.hadoop.dfs.replication", "1")
             .config("spark.hadoop.dfs.blocksize", "134217728")
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    mark("session")
    payload = T.StructType([
        T.StructField("id", T.LongType(), False),
        T.StructField("user", T.StringType(), False),
        T.StructField("amount", T.DoubleType(), False),
        T.StructField("at", T.LongType(), False),
        T.StructField("tags", T.ArrayType(T.StringType()), False),
        T.StructField("note", T.StringType(), True),
        T.StructField("body", T.StringType(), False),
    ])
    envelope = T.StructType([T.StructField("payload", payload)])
    records = (spark.readStream.format("kafka")
               .option("kafka.bootstrap.servers", bootstrap)
               .option("subscribe", topic)
               .option("startingOffsets", "earliest")
               .load())
    # The same typed columns as Lakesink's Parquet files: the Connect Timestamp field `at`
    # becomes a timestamp in milliseconds.
    rows = (records.select(F.from_json(F.col("value").cast("string"), envelope).alias("e"))
            .select("e.payload.*")
            .withColumn("at", F.timestamp_millis("at")))
    query = (rows.writeStream.format("parquet")
             .option("path", output)
             .option("checkpointLocation", checkpoint)
             .option("maxRecordsPerFile", per_file)
             .trigger(availableNow=True)
             .start())
    mark("started")
    query.awaitTermination()
    mark("done")
    spark.stop()


if __name__ == "__main__":
    main()
