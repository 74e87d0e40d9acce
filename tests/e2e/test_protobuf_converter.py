"""ProtobufConverter end to end: records produced by confluent-kafka's ProtobufSerializer against
`lakesink registry` -- a top-level message (message indexes [1]) on one topic and a message
nested in it ([1, 0]) on another -- are written to HDFS as Parquet files whose rows, read back
with pyarrow, equal what was produced, in the Connect shape Confluent's ProtobufData gives
them (oneof as a `<name>_<index>` struct first, enum as its symbol, Timestamp as a UTC
timestamp, map, repeated fields, unset proto3 scalars as their defaults, unset messages and
absent `optional` fields as null); a nested message ([0, 1]) whose parent declares a map before
its nested messages is read as the message produced; a record that is not a Protobuf message of
its schema stops the task naming its offset."""
import datetime
import io
import re

import pyarrow.parquet as pq
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

from conftest import (Lakesink, caught_up, committed_files, connector_props, create_topic, read_bytes, unique,
                      wait_until, worker_props)
from registry_support import registries  # noqa: F401  (fixture)

PARQUET = "io.confluent.connect.hdfs.parquet.ParquetFormat"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
STATUS = ["NEW", "PAID", "SHIPPED"]


def sink_file_descriptor():
    """e2e/pbsink.proto (proto3), built without protoc: a top-level Header, then a top-level
    Order with a nested Line (the first nested type, so [1, 0]), a map, a nested enum, a oneof,
    a proto3 `optional` field and a google.protobuf.Timestamp."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="e2e/pbsink.proto", package="e2e.pbsink", syntax="proto3",
                                             dependency=["google/protobuf/timestamp.proto"])

    def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, **extra):
        f = msg.field.add(name=name, number=number, type=ftype, label=label, **extra)
        if type_name:
            f.type_name = type_name

    header = fdp.message_type.add(name="Header")
    field(header, "source", 1, F.TYPE_STRING)
    order = fdp.message_type.add(name="Order")
    line = order.nested_type.add(name="Line")
    field(line, "sku", 1, F.TYPE_STRING)
    field(line, "qty", 2, F.TYPE_INT32)
    field(line, "price", 3, F.TYPE_DOUBLE)
    entry = order.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_INT64)
    status = order.enum_type.add(name="Status")
    for number, name in enumerate(STATUS):
        status.value.add(name=name, number=number)
    order.oneof_decl.add(name="payment")  # index 0
    order.oneof_decl.add(name="_note")  # the synthetic oneof of `optional string note`
    field(order, "id", 1, F.TYPE_INT64)
    field(order, "customer", 2, F.TYPE_STRING)
    field(order, "lines", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".e2e.pbsink.Order.Line")
    field(order, "attrs", 4, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".e2e.pbsink.Order.AttrsEntry")
    field(order, "status", 5, F.TYPE_ENUM, type_name=".e2e.pbsink.Order.Status")
    field(order, "placed_at", 6, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    field(order, "tags", 7, F.TYPE_STRING, F.LABEL_REPEATED)
    field(order, "card", 8, F.TYPE_STRING, oneof_index=0)
    field(order, "voucher", 9, F.TYPE_INT64, oneof_index=0)
    field(order, "note", 10, F.TYPE_STRING, oneof_index=1, proto3_optional=True)
    field(order, "qty", 11, F.TYPE_UINT32)
    field(order, "header", 12, F.TYPE_MESSAGE, type_name=".e2e.pbsink.Header")
    return fdp


def message_classes():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(sink_file_descriptor())
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(name))  # noqa: E731
    return get("e2e.pbsink.Order"), get("e2e.pbsink.Order.Line")


def order(Order, i):
    """Order i, and the row ProtobufConverter + ParquetFormat should make of it."""
    o = Order(id=5_000_000_000 + i, status=i % 3, qty=4_000_000_000 + i)
    if i % 7:
        o.customer = f"customer-{i}"
    lines = [{"sku": f"sku-{i}-{k}", "qty": k, "price": 1.25 * k} for k in range(i % 3)]
    for line in lines:
        o.lines.add(**line)
    attrs = {f"k{k}": i * 10 + k for k in range(i % 4)}
    for k, v in attrs.items():
        o.attrs[k] = v
    tags = [f"t{k}" for k in range(i % 2 + 1)] if i % 5 else []
    o.tags.extend(tags)
    placed_at = None
    if i % 6:
        seconds, nanos = 1_700_000_000 + i, (i * 1_000_123) % 1_000_000_000
        o.placed_at.seconds, o.placed_at.nanos = seconds, nanos
        # Milliseconds, sub-millisecond nanos truncated (Timestamps.toMillis).
        placed_at = EPOCH + datetime.timedelta(milliseconds=seconds * 1000 + nanos // 1_000_000)
    payment = None
    if i % 3 == 1:
        o.card = f"card-{i}"
        payment = {"card": f"card-{i}", "voucher": None}
    elif i % 3 == 2:
        o.voucher = -i
        payment = {"card": None, "voucher": -i}
    note = None
    if i % 4 == 0:
        note = "" if i % 8 == 0 else f"note {i}"  # present-but-empty is not null
        o.note = note
    header = None
    if i % 2:
        o.header.source = f"src-{i}"
        header = {"source": f"src-{i}"}
    row = {
        "payment_0": payment,
        "id": 5_000_000_000 + i,
        "customer": f"customer-{i}" if i % 7 else "",  # unset proto3 string reads as ""
        "lines": lines,
        "attrs": attrs,
        "status": STATUS[i % 3],
        "placed_at": placed_at,
        "tags": tags,
        "note": note,
        "qty": 4_000_000_000 + i,  # uint32 is a Connect INT64
        "header": header,
    }
    return o, row


def protobuf_worker(kafka, registry_url):
    """Worker settings reading values with ProtobufConverter from `registry_url`."""
    worker = worker_props(kafka, converter="io.confluent.connect.protobuf.ProtobufConverter")
    worker.pop("value.converter.schemas.enable")
    worker["value.converter.schema.registry.url"] = registry_url
    return worker


def produce(kafka, url, topic, cls, messages, extra_raw=None):
    serializer = ProtobufSerializer(cls, SchemaRegistryClient({"url": url}),
                                    conf={"auto.register.schemas": True, "use.deprecated.format": False})
    ctx = SerializationContext(topic, MessageField.VALUE)
    producer = Producer({"bootstrap.servers": kafka})
    raws = [serializer(m, ctx) for m in messages]
    for raw in raws:
        producer.produce(topic, value=raw, partition=0)
    if extra_raw is not None:
        producer.produce(topic, value=extra_raw, partition=0)
    assert producer.flush(30) == 0
    return raws


def rows_of(hdfs, root, topic):
    files = committed_files(hdfs, root, topic).get(0, [])
    rows, columns = [], None
    for _, _, path in files:
        assert path.endswith(".parquet"), path
        table = pq.read_table(io.BytesIO(read_bytes(hdfs, path)))
        columns = columns or table.column_names
        rows.extend(table.to_pylist())
    return files, columns, rows


def test_protobuf_converter_writes_parquet_read_back_record_by_record(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                       workdir, registries):  # noqa: F811
    reg = registries(leader=True)
    Order, Line = message_classes()
    orders_topic, lines_topic = unique("pb-orders"), unique("pb-lines")
    for topic in (orders_topic, lines_topic):
        create_topic(kafka, topic, 1)
    orders = [order(Order, i) for i in range(120)]
    raws = produce(kafka, reg.url, orders_topic, Order, [o for o, _ in orders])
    assert raws[0][5:7] == b"\x02\x02", raws[0][:8]  # message indexes [1]
    lines = [{"sku": f"solo-{i}", "qty": i - 30, "price": i / 3} for i in range(60)]
    raws = produce(kafka, reg.url, lines_topic, Line, [Line(**line) for line in lines])
    assert raws[0][5:8] == b"\x04\x02\x00", raws[0][:8]  # message indexes [1, 0]

    root = f"/{unique('lake')}"
    connector = connector_props(unique("pb-sink"), f"{orders_topic},{lines_topic}", hdfs_url, root,
                                flush__size=50, format__class=PARQUET)
    sink = Lakesink(lakesink_bin, workdir, protobuf_worker(kafka, reg.url), connector, name="protobuf")
    wait_until(lambda: caught_up(sink.output(), 2), 120, "both topics read to the end", sink)
    assert sink.stop() == 0, sink.output()[-3000:]

    files, columns, rows = rows_of(hdfs, root, orders_topic)
    assert [(s, e) for s, e, _ in files] == [(0, 49), (50, 99), (100, 119)], files
    # ProtobufData puts the oneof first, then the other fields in declaration order.
    assert columns == ["payment_0", "id", "customer", "lines", "attrs", "status", "placed_at", "tags", "note",
                       "qty", "header"], columns
    assert len(rows) == len(orders)
    for i, (got, (_, want)) in enumerate(zip(rows, orders)):
        got["attrs"] = dict(got["attrs"]) if got["attrs"] is not None else None
        assert got == want, (i, got, want)

    files, columns, rows = rows_of(hdfs, root, lines_topic)
    assert [(s, e) for s, e, _ in files] == [(0, 49), (50, 59)], files
    assert columns == ["sku", "qty", "price"], columns
    assert rows == lines


def test_a_record_that_is_not_a_protobuf_message_stops_the_task_naming_it(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                          workdir, registries):  # noqa: F811
    reg = registries(leader=True)
    Order, _ = message_classes()
    topic = unique("pb-bad")
    create_topic(kafka, topic, 1)
    raws = produce(kafka, reg.url, topic, Order, [order(Order, i)[0] for i in range(10)])
    # The framing of a good record (magic byte, schema id, message indexes) before bytes that
    # are no Order: a field 15 with wire type 7, which does not exist.
    producer = Producer({"bootstrap.servers": kafka})
    producer.produce(topic, value=raws[0][:7] + b"\x7f\x01\x02", partition=0)
    assert producer.flush(30) == 0
    root = f"/{unique('lake')}"
    connector = connector_props(unique("pb-bad"), topic, hdfs_url, root, flush__size=5, format__class=PARQUET)
    sink = Lakesink(lakesink_bin, workdir, protobuf_worker(kafka, reg.url), connector)
    _, trace = sink.wait_failed(connector["name"])
    sink.stop()
    log = sink.output()
    assert f"{topic}-0 offset 10" in trace and "invalid Protobuf message e2e.pbsink.Order" in trace, trace
    assert f"{topic}-0 offset 10" in log and "invalid Protobuf message e2e.pbsink.Order" in log, log[-3000:]
    # Nothing at or after the bad record is committed.
    files = committed_files(hdfs, root, topic).get(0, [])
    assert all(e < 10 for _, e, _ in files), files


def map_first_file_descriptor():
    """e2e/pbmapfirst.proto (proto3), built without protoc: a top-level Envelope whose map field
    `attrs` comes before its nested messages, so its nested types are AttrsEntry, Item, Note
    (protoc puts a map's entry type where the field is declared); Item ([0, 1]) has a map
    `labels` before its nested Dim in the same way. Counting nested types without the entry
    types would take [0, 1] for Note."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="e2e/pbmapfirst.proto", package="e2e.pbmapfirst", syntax="proto3")

    def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name

    def entry(msg, name, value_type):
        e = msg.nested_type.add(name=name)
        e.options.map_entry = True
        field(e, "key", 1, F.TYPE_STRING)
        field(e, "value", 2, value_type)

    envelope = fdp.message_type.add(name="Envelope")
    entry(envelope, "AttrsEntry", F.TYPE_INT64)
    item = envelope.nested_type.add(name="Item")
    entry(item, "LabelsEntry", F.TYPE_STRING)
    dim = item.nested_type.add(name="Dim")
    field(dim, "width", 1, F.TYPE_INT32)
    field(dim, "height", 2, F.TYPE_INT32)
    field(item, "labels", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".e2e.pbmapfirst.Envelope.Item.LabelsEntry")
    field(item, "sku", 2, F.TYPE_STRING)
    field(item, "qty", 3, F.TYPE_INT32)
    field(item, "dim", 4, F.TYPE_MESSAGE, type_name=".e2e.pbmapfirst.Envelope.Item.Dim")
    note = envelope.nested_type.add(name="Note")
    field(note, "text", 1, F.TYPE_STRING)
    field(envelope, "attrs", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".e2e.pbmapfirst.Envelope.AttrsEntry")
    field(envelope, "item", 2, F.TYPE_MESSAGE, type_name=".e2e.pbmapfirst.Envelope.Item")
    field(envelope, "note", 3, F.TYPE_MESSAGE, type_name=".e2e.pbmapfirst.Envelope.Note")
    return fdp


def test_nested_message_after_a_map_is_read_as_the_message_produced(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                     workdir, registries):  # noqa: F811
    """ProtobufSerializer counts a map's entry type among the nested types of its descriptor, so
    Item, after Envelope's map, is [0, 1]; the registry prints the registered descriptor with
    the entry messages where the descriptor has them (as Confluent's does), and the sink, reading
    that text, decodes every record as an Item."""
    reg = registries(leader=True)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(map_first_file_descriptor())
    Item = message_factory.GetMessageClass(pool.FindMessageTypeByName("e2e.pbmapfirst.Envelope.Item"))
    topic = unique("pb-mapfirst")
    create_topic(kafka, topic, 1)
    items, want = [], []
    for i in range(30):
        labels = {f"l{k}": f"v{i}-{k}" for k in range(i % 3)}
        item = Item(sku=f"sku-{i}", qty=i - 10)
        for k, v in labels.items():
            item.labels[k] = v
        dim = None
        if i % 2:
            item.dim.width, item.dim.height = i, 2 * i
            dim = {"width": i, "height": 2 * i}
        items.append(item)
        # ProtobufData: fields in declaration order, an unset message as null.
        want.append({"labels": labels, "sku": f"sku-{i}", "qty": i - 10, "dim": dim})
    raws = produce(kafka, reg.url, topic, Item, items)
    assert raws[0][5:8] == b"\x04\x00\x02", raws[0][:8]  # message indexes [0, 1]

    text = reg.get_ok(f"/schemas/ids/{int.from_bytes(raws[0][1:5], 'big')}")["schema"]
    assert re.search(r"repeated\s+\.e2e\.pbmapfirst\.Envelope\.AttrsEntry\s+attrs\s*=\s*1", text), text
    assert text.index("message AttrsEntry") < text.index("message Item") < text.index("message Note"), text

    root = f"/{unique('lake')}"
    connector = connector_props(unique("pb-mapfirst"), topic, hdfs_url, root, flush__size=20, format__class=PARQUET)
    sink = Lakesink(lakesink_bin, workdir, protobuf_worker(kafka, reg.url), connector, name="protobuf-mapfirst")
    wait_until(lambda: caught_up(sink.output(), 1), 120, "the topic read to the end", sink)
    assert sink.stop() == 0, sink.output()[-3000:]

    files, columns, rows = rows_of(hdfs, root, topic)
    assert [(s, e) for s, e, _ in files] == [(0, 19), (20, 29)], files
    assert columns == ["labels", "sku", "qty", "dim"], columns
    assert len(rows) == len(want)
    for i, (got, expected) in enumerate(zip(rows, want)):
        got["labels"] = dict(got["labels"]) if got["labels"] is not None else None
        assert got == expected, (i, got, expected)
