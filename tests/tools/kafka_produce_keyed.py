"""Creates a topic and produces keyed records with the confluent-kafka client.

usage: kafka_produce_keyed.py BOOTSTRAP TOPIC PARTITIONS COUNT

Record i has key "key-<i % 97>" and value "<i>"; the default partitioner spreads keys over
partitions, so each partition holds an increasing subsequence of 0..COUNT.
Prints one JSON line: {"produced": COUNT, "per_partition": {...}}.
"""
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    bootstrap, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=30)
    per_partition = {}
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            per_partition[msg.partition()] = per_partition.get(msg.partition(), 0) + 1

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, key=f"key-{i % 97}".encode(), value=str(i).encode(), on_delivery=delivered)
        if i % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors:
        sys.exit(f"produce failed: {remaining} undelivered, errors: {errors[:5]}")
    print(json.dumps({"produced": count, "per_partition": per_partition}))


if __name__ == "__main__":
    main()
