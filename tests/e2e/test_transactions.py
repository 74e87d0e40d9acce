"""Kafka transactions: records of aborted transactions never land in the lake, records behind
an open transaction land only once it ends, and every committed record lands exactly once --
for JSON and Parquet files, with a transactional producer (confluent-kafka) and a plain
idempotent producer writing the same partitions in turn."""
import io
import json
import time

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from conftest import (Lakesink, committed_files, connector_props, create_topic, read_bytes, unique,
                      wait_until, worker_props)

PARTITIONS = 3
SCHEMA = {"type": "struct", "optional": False, "fields": [
    {"field": "seq", "type": "int64", "optional": False},
    {"field": "kind", "type": "string", "optional": False}]}


def encode(seq, kind, envelope):
    body = {"seq": seq, "kind": kind}
    return json.dumps({"schema": SCHEMA, "payload": body} if envelope else body).encode()


class Writers:
    """The two producers; every record is sent to partition seq % PARTITIONS."""

    def __init__(self, kafka, topic, envelope):
        self.topic, self.envelope, self.seq = topic, envelope, 0
        self.tx = Producer({"bootstrap.servers": kafka, "transactional.id": unique("tx"), "linger.ms": 5})
        self.tx.init_transactions(30)
        self.plain = Producer({"bootstrap.servers": kafka, "enable.idempotence": True, "linger.ms": 5})
        self.kinds = {}  # seq -> committed | aborted | plain | open

    def _send(self, producer, n, kind):
        for _ in range(n):
            seq = self.seq
            self.seq += 1
            producer.produce(self.topic, value=encode(seq, kind, self.envelope), partition=seq % PARTITIONS)
            self.kinds[seq] = kind
        producer.poll(0)

    def plain_records(self, n):
        self._send(self.plain, n, "plain")
        assert self.plain.flush(30) == 0

    def transaction(self, n, commit):
        self.tx.begin_transaction()
        self._send(self.tx, n, "committed" if commit else "aborted")
        # Delivered first: an abort purges what the producer has not sent yet, and the
        # aborted records must be in the log for the test to mean anything.
        assert self.tx.flush(30) == 0
        if commit:
            self.tx.commit_transaction(30)
        else:
            self.tx.abort_transaction(30)

    def open_transaction(self, n):
        self.tx.begin_transaction()
        self._send(self.tx, n, "open")
        assert self.tx.flush(30) == 0  # in the log, behind no commit marker yet

    def expected(self, kinds):
        return {s for s, k in self.kinds.items() if k in kinds}


def lake_seqs(hdfs, root, topic, fmt):
    """Every (seq, kind) of every committed file, duplicates kept."""
    out = []
    for files in committed_files(hdfs, root, topic).values():
        for _start, _end, path in files:
            data = read_bytes(hdfs, path)
            if fmt == "parquet":
                table = pq.read_table(io.BytesIO(data))
                out.extend(zip(table.column("seq").to_pylist(), table.column("kind").to_pylist()))
            else:
                out.extend((r["seq"], r["kind"]) for r in map(json.loads, data.decode().splitlines()))
    return out


@pytest.mark.parametrize("fmt", ["json", "parquet"])
def test_aborted_transactions_are_skipped_and_open_ones_wait(kafka, hdfs, hdfs_url, lakesink_bin, workdir, fmt):
    topic, root = unique(f"tx-{fmt}"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    envelope = fmt == "parquet"
    writers = Writers(kafka, topic, envelope)
    for round_ in range(6):
        writers.plain_records(40)
        writers.transaction(60, commit=round_ % 2 == 0)
        writers.transaction(30, commit=round_ % 3 == 1)
    writers.plain_records(25)
    # The logs end with commit markers: "caught up" must still come (a marker is never
    # delivered, so the last record's offset + 1 is one short of the end of the log).
    writers.transaction(15, commit=True)
    # Commits by the wall clock, every second: nothing waits for a count to fill up.
    connector = connector_props(unique(f"tx-{fmt}"), topic, hdfs_url, root, flush__size=100000,
                                format__class="ParquetFormat" if envelope else "JsonFormat",
                                rotate__schedule__interval__ms=1000, timezone="UTC")
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=envelope), connector, name=fmt)
    try:
        done = writers.expected({"committed", "plain"})
        assert writers.expected({"aborted"}), "the test aborted no transaction"
        wait_until(lambda: {s for s, _ in lake_seqs(hdfs, root, topic, fmt)} >= done, 120,
                   "every committed record to land", sink)
        wait_until(lambda: "caught up" in sink.output(), 60, "the sink to report it caught up", sink)

        # An open transaction holds back everything behind it on its partitions: its own
        # records and the plain producer's after them.
        writers.open_transaction(45)
        writers.plain_records(30)
        held_back = writers.expected({"open"}) | (writers.expected({"plain"}) - done)
        time.sleep(6)  # six scheduled rotations
        early = {s for s, _ in lake_seqs(hdfs, root, topic, fmt)} & held_back
        assert sink.alive(), sink.output()[-3000:]
        assert not early, f"{len(early)} records behind the open transaction were written before it ended"

        writers.tx.commit_transaction(30)
        writers.plain_records(20)
        want = writers.expected({"committed", "plain", "open"})
        wait_until(lambda: {s for s, _ in lake_seqs(hdfs, root, topic, fmt)} >= want, 120,
                   "the records of the ended transaction and after it to land", sink)
    finally:
        code = sink.stop()
    assert code == 0, sink.output()[-3000:]

    landed = lake_seqs(hdfs, root, topic, fmt)
    seqs = [s for s, _ in landed]
    aborted = set(seqs) & writers.expected({"aborted"})
    assert not aborted, f"{len(aborted)} records of aborted transactions landed"
    assert sorted(seqs) == sorted(want), (
        f"{len(seqs) - len(set(seqs))} duplicates, {len(want - set(seqs))} missing")
    assert all(writers.kinds[s] == k for s, k in landed)


def test_read_uncommitted_stays_an_explicit_choice(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    """consumer.override.isolation.level=read_uncommitted reads as Connect does: the records of
    an aborted transaction are written too."""
    topic, root = unique("tx-uncommitted"), f"/{unique('lake')}"
    create_topic(kafka, topic, PARTITIONS)
    writers = Writers(kafka, topic, envelope=False)
    writers.transaction(30, commit=False)
    writers.plain_records(30)
    connector = connector_props(unique("tx-uncommitted"), topic, hdfs_url, root, flush__size=100000,
                                format__class="JsonFormat", rotate__schedule__interval__ms=1000,
                                timezone="UTC", consumer__override__isolation__level="read_uncommitted")
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        every = writers.expected({"aborted", "plain"})
        wait_until(lambda: {s for s, _ in lake_seqs(hdfs, root, topic, "json")} >= every, 120,
                   "the aborted and the plain records to land", sink)
    finally:
        code = sink.stop()
    assert code == 0, sink.output()[-3000:]
