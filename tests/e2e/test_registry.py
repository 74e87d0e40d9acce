"""End-to-end tests of `lakesink registry`, the Confluent-compatible Schema Registry whose state
lives in a Kafka topic: the REST API over raw HTTP, the confluent-kafka SchemaRegistryClient and
its Avro/JSON Schema/Protobuf serializers through a real broker, restarts, two instances with
leader forwarding and fail-over, taking over a topic written in Confluent's record format, and
Avro compatibility verdicts against a data-driven matrix."""
import base64
import concurrent.futures
import copy
import datetime
import decimal
import json
import os
import re
import threading
import time

import fastavro
import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from conftest import create_topic, produce, unique
from registry_support import (CLIENT_ACCEPT, GENERIC, JSON, V1, compact_json, create_store_topic, error,
                              error_status, free_port, ok, produce_records, q, read_topic, wait_for)
from registry_support import registries  # noqa: F401 -- the fixture, used by name

HERE = os.path.dirname(os.path.abspath(__file__))
MATRIX = os.path.join(HERE, "..", "..", "crates", "lakesink-registry", "tests", "data", "avro_compat_matrix.json")
PREFILLED = os.path.join(HERE, "data", "confluent_schemas_topic.json")
SR_TYPES = (V1, GENERIC, JSON)


def record(name, fields, namespace="e2e.reg", **extra):
    schema = {"type": "record", "name": name, "namespace": namespace, "fields": fields}
    schema.update(extra)
    return schema


def pcf(schema):
    """Avro Parsing Canonical Form of a schema given as a string or a JSON value."""
    value = json.loads(schema) if isinstance(schema, str) else copy.deepcopy(schema)
    return fastavro.schema.to_parsing_canonical_form(value)


def same_avro(a, b):
    return pcf(a) == pcf(b)


def squash(text):
    return " ".join(text.split())


READING = record("Reading", [{"name": "sensor", "type": "string"}, {"name": "value", "type": "double"}])
READING_V2 = record("Reading", READING["fields"] + [{"name": "unit", "type": "string", "default": "C"}])
READING_REQUIRED = record("Reading", READING["fields"] + [{"name": "site", "type": "string"}])
# READING reformatted: other attribute order, other whitespace.
READING_REFORMATTED = (
    '{\n  "fields" : [ {"type": "string", "name": "sensor"},\n    {"name":"value",  "type":"double"} ],\n'
    '  "namespace": "e2e.reg", "type" : "record", "name" : "Reading"\n}')

PROTO_READING = ('syntax = "proto3";\npackage e2e.reg;\n\nmessage Reading {\n  string sensor = 1;\n'
                 '  double value = 2;\n}\n')
PROTO_READING_SPACED = ('syntax = "proto3";\n\npackage e2e.reg;\nmessage Reading\n{\n    string sensor = 1;\n'
                        '    double value   =  2;\n}\n')
JSON_READING = {"type": "object", "properties": {"sensor": {"type": "string"}, "value": {"type": "number"}},
                "required": ["sensor"]}


# ---------------------------------------------------------------------------------------------
# 1. REST conformance over raw HTTP
# ---------------------------------------------------------------------------------------------

def test_rest_content_types_and_http_level_errors(registries):
    """The server accepts the three Schema Registry JSON media types and no content type on
    requests, negotiates the response type from Accept, ignores unknown body properties, and
    answers client mistakes (unknown path, malformed JSON, text/plain, missing 'schema', an
    oversized body) with JSON errors carrying the right status -- never a 5xx."""
    reg = registries(lakesink__registry__max__request__bytes=4096)
    assert ok(reg.get("/")) == {}
    types = reg.get("/schemas/types")
    assert sorted(ok(types)) == ["AVRO", "JSON", "PROTOBUF"], types

    # Response media type follows Accept.
    for accept, expected in [(None, V1), (CLIENT_ACCEPT, V1), ("*/*", V1), (V1, V1), (GENERIC, GENERIC),
                             (JSON, JSON)]:
        r = reg.get("/schemas/types", accept=accept)
        assert r.status == 200 and r.content_type == expected, f"Accept {accept!r} -> {expected}:\n{r}"

    # Every accepted request content type registers; the same schema gets the same id everywhere.
    prefix = unique("ctype")
    ids = set()
    for i, ctype in enumerate([V1, GENERIC, JSON, None]):
        r = reg.write("POST", f"/subjects/{prefix}-{i}/versions", {"schema": json.dumps(READING)}, content_type=ctype)
        body = ok(r)
        assert body.get("version") == 1, r
        ids.add(body["id"])
    assert len(ids) == 1 and isinstance(ids.pop(), int)

    # Unknown JSON properties in a request body are ignored.
    r = reg.write("POST", f"/subjects/{prefix}-0/versions",
                  {"schema": json.dumps(READING), "schemaType": "AVRO", "somethingNew": {"a": [1, 2]}, "x-y": 1})
    assert ok(r)["version"] == 1, r
    r = reg.write("PUT", f"/config/{prefix}-0", {"compatibility": "FULL", "unknownSetting": True})
    assert ok(r) == {"compatibility": "FULL"}, r
    r = reg.get(f"/config/{prefix}-0")
    assert ok(r) == {"compatibilityLevel": "FULL"}, r
    r = reg.write("PUT", f"/mode/{prefix}-0", {"mode": "READWRITE", "unknownSetting": True})
    assert ok(r) == {"mode": "READWRITE"}, r

    # Errors come as JSON with a code whose first three digits are the status.
    for path in ["/nope", "/subjects/x/versions/1/nope", "/schemas/ids/1/nope/deeper"]:
        r = reg.get(path)
        error_status(r, 404)
        assert r.content_type in SR_TYPES, r
    r = reg.call("POST", f"/subjects/{prefix}-0/versions", raw=b'{"schema": ', content_type=V1)
    error_status(r, 400)
    r = reg.call("POST", f"/subjects/{prefix}-0/versions", raw=b'{"schema": "{\\"type\\":"', content_type=JSON)
    error_status(r, 400)
    r = reg.call("POST", f"/subjects/{prefix}-0/versions", raw=json.dumps({"schema": json.dumps(READING)}).encode(),
                 content_type="text/plain")
    error_status(r, 415)
    r = reg.call("PUT", "/config", raw=b'{"compatibility": "FULL"}', content_type="text/plain")
    error_status(r, 415)
    error(reg.write("POST", f"/subjects/{prefix}-0/versions", {}), 42201)
    error(reg.write("POST", f"/subjects/{prefix}-0/versions", {"schemaType": "AVRO"}), 42201)

    # Wrongly shaped requests are the client's mistake: a 4xx with a JSON error, never a 5xx.
    for method, path, raw in [
            ("POST", f"/subjects/{prefix}-0/versions", b'"just a string"'),
            ("POST", f"/subjects/{prefix}-0/versions", b'{"schema": 5}'),
            ("POST", f"/subjects/{prefix}-0/versions", b'{"schema": null}'),
            ("POST", f"/subjects/{prefix}-0/versions", b'{"schema": "\\"int\\"", "references": "x"}'),
            ("POST", f"/subjects/{prefix}-0/versions", b'{"schema": "\\"int\\"", "schemaType": 5}'),
            ("POST", f"/subjects/{prefix}-0/versions", b''),
            ("POST", f"/subjects/{prefix}-0", b'{}'),
            ("POST", f"/compatibility/subjects/{prefix}-0/versions/latest", b'[]'),
            ("PUT", "/config", b'{"compatibility": 5}'),
            ("PUT", "/config", b'{}'),
            ("PUT", "/mode", b'{"mode": null}'),
            ("GET", "/schemas/ids/abc", None),
            ("GET", "/schemas/ids/99999999999", None),
            ("PATCH", "/config", b'{}')]:
        r = reg.call(method, path, raw=raw)
        assert 400 <= r.status < 500, r
        body = r.json()
        assert isinstance(body.get("error_code"), int) and str(body["error_code"]).startswith(str(r.status)), r

    big = record("Big", [{"name": "f", "type": "string"}], doc="d" * 8000)
    r = reg.call("POST", f"/subjects/{prefix}-big/versions", {"schema": json.dumps(big)})
    error_status(r, 413)
    # The global level is untouched by the refused PUT above, and the server still serves.
    assert ok(reg.get("/config"))["compatibilityLevel"] == "BACKWARD"


def test_rest_registration_dedupe_reads_and_schema_types(registries):
    """Registration deduplicates (same schema in another layout, with or without
    schemaType AVRO, in another subject: same id); reads by subject/version and by id return
    what was registered; Avro responses omit schemaType while JSON and PROTOBUF carry it;
    lookups, invalid schemas, incompatible schemas and invalid versions get their error codes."""
    reg = registries()
    base = unique("reg")
    s, s2, s3 = f"{base}-a", f"{base}-b", f"{base}-c"

    first = reg.register(s, READING)
    id1 = first["id"]
    assert isinstance(id1, int) and first.get("version") == 1, first
    assert "schemaType" not in first, first
    assert "schema" in first and same_avro(first["schema"], READING), first
    for body in [{"schema": READING_REFORMATTED}, {"schema": json.dumps(READING), "schemaType": "AVRO"},
                 {"schema": READING_REFORMATTED, "schemaType": "AVRO"}]:
        r = reg.write("POST", f"/subjects/{q(s)}/versions", body)
        got = ok(r)
        assert (got["id"], got.get("version")) == (id1, 1), r
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1]

    other = reg.register(s2, READING_REFORMATTED)
    assert (other["id"], other.get("version")) == (id1, 1), other

    second = reg.register(s, READING_V2)
    id2 = second["id"]
    assert id2 != id1 and second.get("version") == 2, second
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1, 2]

    # Reads by subject and version.
    v1 = ok(reg.get(f"/subjects/{s}/versions/1"))
    assert {k: v1.get(k) for k in ("subject", "version", "id")} == {"subject": s, "version": 1, "id": id1}, v1
    assert "schemaType" not in v1 and same_avro(v1["schema"], READING), v1
    for latest in ["latest", "-1", "LATEST"]:
        got = ok(reg.get(f"/subjects/{s}/versions/{latest}"))
        assert (got["subject"], got["version"], got["id"]) == (s, 2, id2), (latest, got)
        assert same_avro(got["schema"], READING_V2)
    raw = reg.get(f"/subjects/{s}/versions/1/schema")
    assert raw.status == 200 and same_avro(raw.body.decode(), READING), raw
    raw = reg.get(f"/subjects/{s}/versions/latest/schema")
    assert raw.status == 200 and same_avro(raw.body.decode(), READING_V2), raw

    # Reads by id.
    by_id = ok(reg.get(f"/schemas/ids/{id1}"))
    assert "schemaType" not in by_id and same_avro(by_id["schema"], READING), by_id
    raw = reg.get(f"/schemas/ids/{id1}/schema")
    assert raw.status == 200 and same_avro(raw.body.decode(), READING), raw
    assert sorted(ok(reg.get(f"/schemas/ids/{id1}/subjects"))) == [s, s2]
    versions = ok(reg.get(f"/schemas/ids/{id1}/versions"))
    assert sorted(versions, key=lambda x: x["subject"]) == [{"subject": s, "version": 1},
                                                            {"subject": s2, "version": 1}], versions
    listed = ok(reg.get(f"/schemas?subjectPrefix={base}"))
    assert sorted((x["subject"], x["version"], x["id"]) for x in listed) == \
        [(s, 1, id1), (s, 2, id2), (s2, 1, id1)], listed
    latest_only = ok(reg.get(f"/schemas?subjectPrefix={base}&latestOnly=true"))
    assert sorted((x["subject"], x["version"]) for x in latest_only) == [(s, 2), (s2, 1)], latest_only

    # Lookup: is this schema registered under the subject?
    r = reg.call("POST", f"/subjects/{s}", {"schema": READING_REFORMATTED})
    found = ok(r)
    assert (found["subject"], found["id"], found["version"]) == (s, id1, 1), r
    assert "schemaType" not in found, r
    error(reg.call("POST", f"/subjects/{s}", {"schema": json.dumps(READING_REQUIRED)}), 40403)
    error(reg.call("POST", f"/subjects/{base}-none", {"schema": json.dumps(READING)}), 40401)

    # JSON Schema and Protobuf carry schemaType in every response.
    js = reg.register(s3 + "-json", JSON_READING, schema_type="JSON")
    assert js.get("version") == 1, js
    if "schema" in js:
        assert js.get("schemaType") == "JSON", js
    again = reg.register(s3 + "-json", json.dumps(JSON_READING, indent=4), schema_type="JSON")
    assert (again["id"], again.get("version")) == (js["id"], 1), again
    got = ok(reg.get(f"/schemas/ids/{js['id']}"))
    assert got.get("schemaType") == "JSON" and json.loads(got["schema"]) == JSON_READING, got
    got = ok(reg.get(f"/subjects/{s3}-json/versions/1"))
    assert got.get("schemaType") == "JSON" and got["id"] == js["id"], got
    found = ok(reg.call("POST", f"/subjects/{s3}-json", {"schema": json.dumps(JSON_READING), "schemaType": "JSON"}))
    assert found["id"] == js["id"] and found.get("schemaType") == "JSON", found

    pb = reg.register(s3 + "-proto", PROTO_READING, schema_type="PROTOBUF")
    assert pb.get("version") == 1 and pb["id"] not in (id1, id2, js["id"]), pb
    if "schema" in pb:
        assert pb.get("schemaType") == "PROTOBUF", pb
    again = reg.register(s3 + "-proto", PROTO_READING_SPACED, schema_type="PROTOBUF")
    assert (again["id"], again.get("version")) == (pb["id"], 1), again
    got = ok(reg.get(f"/schemas/ids/{pb['id']}"))
    assert got.get("schemaType") == "PROTOBUF" and "message Reading" in got["schema"], got
    got = ok(reg.get(f"/subjects/{s3}-proto/versions/latest"))
    assert got.get("schemaType") == "PROTOBUF" and got["id"] == pb["id"], got
    # The same text as Avro is no Avro schema.
    error(reg.write("POST", f"/subjects/{s3}-x/versions", {"schema": PROTO_READING}), 42201)

    # Invalid schemas and schema types.
    for body in [{"schema": '{"type": "recrd", "name": "X", "fields": []}'},
                 {"schema": '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]}'},
                 {"schema": "not json at all"},
                 {"schema": json.dumps(READING), "schemaType": "XML"},
                 {"schema": "{not json", "schemaType": "JSON"},
                 {"schema": '{"type": 12}', "schemaType": "JSON"},
                 {"schema": "message { broken", "schemaType": "PROTOBUF"}]:
        error(reg.write("POST", f"/subjects/{s3}-bad/versions", body), 42201)
    error(reg.get(f"/subjects/{s3}-bad/versions"), 40401)

    # An incompatible schema (BACKWARD: a new field without default) is refused with 409.
    r = reg.write("POST", f"/subjects/{s}/versions", {"schema": json.dumps(READING_REQUIRED)})
    error(r, 409)
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1, 2]

    # normalize=true registers, idempotently.
    n1 = reg.register(f"{base}-norm", READING_REFORMATTED, query="?normalize=true")
    n2 = reg.register(f"{base}-norm", READING, query="?normalize=true")
    assert (n1["id"], n1.get("version")) == (n2["id"], n2.get("version")) == (n1["id"], 1), (n1, n2)

    # Read errors.
    error(reg.get(f"/subjects/{base}-none/versions"), 40401)
    error(reg.get(f"/subjects/{base}-none/versions/1"), 40401)
    error(reg.get(f"/subjects/{base}-none/versions/latest"), 40401)
    error(reg.get(f"/subjects/{s}/versions/99"), 40402)
    error(reg.get(f"/subjects/{s}/versions/99/schema"), 40402)
    for bad in ["abc", "0", "-2", "1.5", "2147483648"]:
        error(reg.get(f"/subjects/{s}/versions/{bad}"), 42202)
    error(reg.get("/schemas/ids/987654"), 40403)
    error(reg.get("/schemas/ids/987654/schema"), 40403)
    error(reg.get("/schemas/ids/987654/subjects"), 40403)
    error(reg.get("/schemas/ids/987654/versions"), 40403)


def test_rest_soft_and_hard_deletes(registries):
    """Soft deletes hide versions and subjects unless deleted=true while their ids stay
    resolvable; hard deletes need a soft delete first; versions are never reused; every
    delete mistake gets its own error code (40401/40402/40404/40405/40406/40407/42202)."""
    reg = registries()
    s = unique("del")
    ok(reg.write("PUT", f"/config/{s}", {"compatibility": "NONE"}))
    schemas = {i: record(f"D{i}", [{"name": f"f{i}", "type": "int"}], namespace="e2e.del") for i in range(1, 7)}
    ids = {}
    for i in (1, 2, 3):
        got = reg.register(s, schemas[i])
        assert got.get("version") == i, got
        ids[i] = got["id"]
    assert len(set(ids.values())) == 3

    # Soft-delete version 2.
    assert ok(reg.write("DELETE", f"/subjects/{s}/versions/2")) == 2
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1, 3]
    assert ok(reg.get(f"/subjects/{s}/versions?deleted=true")) == [1, 2, 3]
    error(reg.get(f"/subjects/{s}/versions/2"), 40402)
    got = ok(reg.get(f"/subjects/{s}/versions/2?deleted=true"))
    assert (got["version"], got["id"]) == (2, ids[2]) and same_avro(got["schema"], schemas[2]), got
    assert same_avro(ok(reg.get(f"/schemas/ids/{ids[2]}"))["schema"], schemas[2])
    error(reg.call("POST", f"/subjects/{s}", {"schema": json.dumps(schemas[2])}), 40403)
    found = ok(reg.call("POST", f"/subjects/{s}?deleted=true", {"schema": json.dumps(schemas[2])}))
    assert (found["id"], found["version"]) == (ids[2], 2), found
    assert ok(reg.get(f"/subjects/{s}/versions/latest"))["version"] == 3

    error(reg.write("DELETE", f"/subjects/{s}/versions/2"), 40406)
    error(reg.write("DELETE", f"/subjects/{s}/versions/3?permanent=true"), 40407)
    assert ok(reg.write("DELETE", f"/subjects/{s}/versions/2?permanent=true")) == 2
    error(reg.get(f"/subjects/{s}/versions/2?deleted=true"), 40402)
    error(reg.write("DELETE", f"/subjects/{s}/versions/2?permanent=true"), 40402)
    assert ok(reg.get(f"/subjects/{s}/versions?deleted=true")) == [1, 3]

    assert ok(reg.write("DELETE", f"/subjects/{s}/versions/latest")) == 3
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1]
    # Versions are never reused: the next one is 4, after the soft-deleted 3.
    got = reg.register(s, schemas[4])
    assert got.get("version") == 4, got
    ids[4] = got["id"]
    error(reg.write("DELETE", f"/subjects/{s}/versions/9"), 40402)
    error(reg.write("DELETE", f"/subjects/{s}/versions/abc"), 42202)
    error(reg.write("DELETE", f"/subjects/{s}-none/versions/1"), 40401)
    error(reg.write("DELETE", f"/subjects/{s}-none"), 40401)

    # Subjects: hard delete needs a soft delete first.
    error(reg.write("DELETE", f"/subjects/{s}?permanent=true"), 40405)
    assert sorted(ok(reg.write("DELETE", f"/subjects/{s}"))) == [1, 4]
    error(reg.get(f"/subjects/{s}/versions"), 40401)
    error(reg.get(f"/subjects/{s}/versions/1"), 40401)
    assert ok(reg.get(f"/subjects/{s}/versions?deleted=true")) == [1, 3, 4]
    assert ok(reg.get(f"/subjects/{s}/versions/4?deleted=true"))["id"] == ids[4]
    assert s not in ok(reg.get("/subjects"))
    assert s in ok(reg.get("/subjects?deleted=true"))
    assert s in ok(reg.get("/subjects?deletedOnly=true"))
    for i in (1, 3, 4):
        assert ok(reg.get(f"/schemas/ids/{ids[i]}"))["schema"]
    error(reg.write("DELETE", f"/subjects/{s}"), 40404)
    assert sorted(ok(reg.write("DELETE", f"/subjects/{s}?permanent=true"))) == [1, 3, 4]
    assert s not in ok(reg.get("/subjects?deleted=true"))
    error(reg.get(f"/subjects/{s}/versions?deleted=true"), 40401)
    error(reg.write("DELETE", f"/subjects/{s}"), 40401)
    error(reg.write("DELETE", f"/subjects/{s}?permanent=true"), 40401)

    # A soft-deleted subject that gets a new schema continues its version numbers.
    t = unique("del-again")
    assert reg.register(t, schemas[5]).get("version") == 1
    assert ok(reg.write("DELETE", f"/subjects/{t}")) == [1]
    assert reg.register(t, schemas[6]).get("version") == 2
    assert ok(reg.get(f"/subjects/{t}/versions")) == [2]
    assert ok(reg.get(f"/subjects/{t}/versions?deleted=true")) == [1, 2]


def test_rest_config_and_mode(registries):
    """Global and subject compatibility levels (PUT echoes 'compatibility', GET answers
    'compatibilityLevel', case-insensitive input, 40408 without defaultToGlobal, DELETE
    reverts) decide what registers; modes READONLY/IMPORT/READWRITE gate writes (42205),
    invalid levels and modes get 42203/42204."""
    reg = registries()
    s, other = unique("cfg"), unique("cfg-other")
    assert ok(reg.get("/config")) == {"compatibilityLevel": "BACKWARD"}
    r = reg.write("PUT", "/config", {"compatibility": "full"})
    assert ok(r) == {"compatibility": "FULL"}, r
    assert ok(reg.get("/config"))["compatibilityLevel"] == "FULL"
    for bad in ["SIDEWAYS", "", "backward transitive"]:
        error(reg.write("PUT", "/config", {"compatibility": bad}), 42203)
        error(reg.write("PUT", f"/config/{s}", {"compatibility": bad}), 42203)
    assert ok(reg.get("/config"))["compatibilityLevel"] == "FULL"

    error(reg.get(f"/config/{s}"), 40408)
    assert ok(reg.get(f"/config/{s}?defaultToGlobal=true"))["compatibilityLevel"] == "FULL"

    # Under FULL a new field without a default is refused; a subject level NONE allows it.
    reg.register(s, READING)
    error(reg.write("POST", f"/subjects/{s}/versions", {"schema": json.dumps(READING_REQUIRED)}), 409)
    assert ok(reg.write("PUT", f"/config/{s}", {"compatibility": "None"})) == {"compatibility": "NONE"}
    assert ok(reg.get(f"/config/{s}"))["compatibilityLevel"] == "NONE"
    assert ok(reg.get(f"/config/{s}?defaultToGlobal=true"))["compatibilityLevel"] == "NONE"
    assert reg.register(s, READING_REQUIRED).get("version") == 2
    for level in ["BACKWARD_TRANSITIVE", "forward", "Forward_Transitive", "FULL_TRANSITIVE", "backward"]:
        assert ok(reg.write("PUT", f"/config/{s}", {"compatibility": level})) == {"compatibility": level.upper()}
        assert ok(reg.get(f"/config/{s}"))["compatibilityLevel"] == level.upper()
    r = reg.write("DELETE", f"/config/{s}")
    assert ok(r)["compatibilityLevel"] == "BACKWARD", r
    error(reg.get(f"/config/{s}"), 40408)
    r = reg.write("DELETE", "/config")
    assert ok(r)["compatibilityLevel"] == "FULL", r
    assert ok(reg.get("/config"))["compatibilityLevel"] == "BACKWARD"

    # Modes.
    assert ok(reg.get("/mode")) == {"mode": "READWRITE"}
    error(reg.get(f"/mode/{s}"), 40409)
    assert ok(reg.get(f"/mode/{s}?defaultToGlobal=true"))["mode"] == "READWRITE"
    assert ok(reg.write("PUT", f"/mode/{s}", {"mode": "READONLY"})) == {"mode": "READONLY"}
    assert ok(reg.get(f"/mode/{s}"))["mode"] == "READONLY"
    v3 = record("Reading", READING_REQUIRED["fields"] + [{"name": "extra", "type": "int", "default": 0}])
    error(reg.write("POST", f"/subjects/{s}/versions", {"schema": json.dumps(v3)}), 42205)
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1, 2]
    assert reg.register(other, READING).get("version") == 1
    error(reg.write("PUT", "/mode", {"mode": "BOGUS"}), 42204)
    error(reg.write("PUT", f"/mode/{s}", {"mode": "sideways"}), 42204)

    # IMPORT needs an empty registry unless forced.
    error(reg.write("PUT", "/mode", {"mode": "IMPORT"}), 42205)
    assert ok(reg.get("/mode"))["mode"] == "READWRITE"
    assert ok(reg.write("PUT", "/mode?force=true", {"mode": "IMPORT"})) == {"mode": "IMPORT"}
    assert ok(reg.get("/mode"))["mode"] == "IMPORT"
    assert ok(reg.write("PUT", "/mode", {"mode": "READONLY"})) == {"mode": "READONLY"}
    error(reg.write("POST", f"/subjects/{other}/versions", {"schema": json.dumps(READING_V2)}), 42205)
    assert ok(reg.write("PUT", "/mode", {"mode": "READWRITE"})) == {"mode": "READWRITE"}
    assert reg.register(other, READING_V2).get("version") == 2

    r = reg.write("DELETE", f"/mode/{s}")
    assert ok(r)["mode"] == "READONLY", r
    error(reg.get(f"/mode/{s}"), 40409)
    assert reg.register(s, v3).get("version") == 3
    # Reads never depended on the mode.
    assert ok(reg.get(f"/subjects/{s}/versions")) == [1, 2, 3]


def test_rest_compatibility_endpoint(registries):
    """POST /compatibility answers {"is_compatible": bool}, with "messages" when
    verbose=true; against one version or against the versions the subject's level implies
    (latest for BACKWARD, all for BACKWARD_TRANSITIVE); and reports 40401/40402/42201/42202."""
    reg = registries()
    s = unique("compat")
    v1 = record("C", [{"name": "a", "type": "int"}])
    v2 = record("C", [{"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": "x"}])
    # Readable from v2's data but not from v1's (b has no default).
    candidate = record("C", [{"name": "a", "type": "int"}, {"name": "b", "type": "string"}])
    fine = record("C", [{"name": "a", "type": "int"}, {"name": "c", "type": "long", "default": 1}])
    reg.register(s, v1)
    reg.register(s, v2)

    def check(path, schema, query=""):
        r = reg.call("POST", f"/compatibility/subjects/{s}/versions{path}{query}", {"schema": json.dumps(schema)})
        return ok(r)

    got = check("/latest", fine)
    assert got["is_compatible"] is True, got
    got = check("/latest", fine, "?verbose=true")
    assert got["is_compatible"] is True and got.get("messages", []) == [], got
    assert check("/latest", candidate)["is_compatible"] is True
    assert check("/2", candidate)["is_compatible"] is True
    assert check("/1", candidate)["is_compatible"] is False
    got = check("/1", candidate, "?verbose=true")
    assert got["is_compatible"] is False, got
    assert isinstance(got.get("messages"), list) and got["messages"], got
    assert all(isinstance(m, str) for m in got["messages"]), got
    assert check("", candidate)["is_compatible"] is True  # BACKWARD: against the latest only

    ok(reg.write("PUT", f"/config/{s}", {"compatibility": "BACKWARD_TRANSITIVE"}))
    assert check("", candidate)["is_compatible"] is False
    got = check("", candidate, "?verbose=true")
    assert got["is_compatible"] is False and got.get("messages"), got
    assert check("", fine)["is_compatible"] is True
    ok(reg.write("PUT", f"/config/{s}", {"compatibility": "NONE"}))
    assert check("/1", candidate)["is_compatible"] is True
    ok(reg.write("PUT", f"/config/{s}", {"compatibility": "FORWARD"}))
    # FORWARD: old readers must read new data; v2 readers need b, which `fine` lacks but defaults.
    assert check("/latest", fine)["is_compatible"] is True
    assert check("/latest", record("C", [{"name": "b", "type": "string"}]))["is_compatible"] is False

    error(reg.call("POST", f"/compatibility/subjects/{s}/versions/7", {"schema": json.dumps(fine)}), 40402)
    error(reg.call("POST", f"/compatibility/subjects/{s}-none/versions/latest", {"schema": json.dumps(fine)}),
          40401)
    error(reg.call("POST", f"/compatibility/subjects/{s}/versions/latest", {"schema": "{bad"}), 42201)
    error(reg.call("POST", f"/compatibility/subjects/{s}/versions/abc", {"schema": json.dumps(fine)}), 42202)
    error(reg.call("POST", f"/compatibility/subjects/{s}/versions/latest", {}), 42201)


def test_rest_references_and_referencedby(registries):
    """An Avro schema registers with a reference to another subject's version, reads back
    with its references, dedupes, shows up in /referencedby, and makes deleting the referenced
    version or subject fail with 42206; a schema naming an unknown type without a reference
    is invalid (42201)."""
    reg = registries()
    money_subject, order_subject = unique("money-value"), unique("order-value")
    money = record("Money", [{"name": "amount", "type": "string"}, {"name": "currency", "type": "string"}],
                   namespace="com.acme")
    order = record("Order", [{"name": "id", "type": "long"}, {"name": "total", "type": "com.acme.Money"}],
                   namespace="com.acme")
    money_id = reg.register(money_subject, money)["id"]
    refs = [{"name": "com.acme.Money", "subject": money_subject, "version": 1}]

    error(reg.write("POST", f"/subjects/{order_subject}/versions", {"schema": json.dumps(order)}), 42201)
    got = reg.register(order_subject, order, references=refs)
    order_id = got["id"]
    assert order_id != money_id and got.get("version") == 1, got
    again = reg.register(order_subject, order, references=refs)
    assert (again["id"], again.get("version")) == (order_id, 1), again

    v = ok(reg.get(f"/subjects/{order_subject}/versions/1"))
    assert v["id"] == order_id and v.get("references") == refs, v
    assert json.loads(v["schema"])["name"] in ("Order", "com.acme.Order"), v
    by_id = ok(reg.get(f"/schemas/ids/{order_id}"))
    assert by_id.get("references") == refs, by_id
    assert "references" not in ok(reg.get(f"/schemas/ids/{money_id}")) or \
        ok(reg.get(f"/schemas/ids/{money_id}"))["references"] == []
    found = ok(reg.call("POST", f"/subjects/{order_subject}", {"schema": json.dumps(order), "references": refs}))
    assert (found["id"], found["version"]) == (order_id, 1), found

    assert ok(reg.get(f"/subjects/{money_subject}/versions/1/referencedby")) == [order_id]
    assert ok(reg.get(f"/subjects/{money_subject}/versions/latest/referencedby")) == [order_id]
    assert ok(reg.get(f"/subjects/{order_subject}/versions/1/referencedby")) == []
    error(reg.get(f"/subjects/{money_subject}/versions/5/referencedby"), 40402)
    error(reg.get(f"/subjects/{money_subject}-none/versions/1/referencedby"), 40401)

    error(reg.write("DELETE", f"/subjects/{money_subject}/versions/1"), 42206)
    error(reg.write("DELETE", f"/subjects/{money_subject}"), 42206)
    assert ok(reg.get(f"/subjects/{money_subject}/versions")) == [1]

    # A reference to a version that does not exist is refused.
    bad_refs = [{"name": "com.acme.Money", "subject": money_subject, "version": 9}]
    other = record("Invoice", [{"name": "total", "type": "com.acme.Money"}], namespace="com.acme")
    r = reg.write("POST", f"/subjects/{order_subject}-2/versions", {"schema": json.dumps(other),
                                                                   "references": bad_refs})
    assert r.status in (404, 422) and r.json().get("error_code") in (40401, 40402, 42201), r


def test_rest_subject_listing_and_pagination(registries):
    """GET /subjects filters by subjectPrefix, deleted and deletedOnly, returns names sorted,
    and pages with offset/limit; /contexts lists the default context."""
    reg = registries()
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(6)]
    for i, name in enumerate(names):
        reg.register(name, record(f"P{i}", [{"name": "p", "type": "int"}]))
    other = unique("elsewhere")
    reg.register(other, READING)
    everything = ok(reg.get("/subjects"))
    assert set(names + [other]) <= set(everything) and everything == sorted(everything), everything

    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}")) == names
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&offset=1&limit=2")) == names[1:3]
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&offset=4")) == names[4:]
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&limit=3")) == names[:3]
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&offset=0&limit=-1")) == names
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&offset=10&limit=5")) == []
    pages = [ok(reg.get(f"/subjects?subjectPrefix={prefix}&offset={o}&limit=4")) for o in (0, 4)]
    assert pages[0] + pages[1] == names, pages

    assert ok(reg.write("DELETE", f"/subjects/{names[2]}")) == [1]
    live = names[:2] + names[3:]
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}")) == live
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&deleted=true")) == names
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&deletedOnly=true")) == [names[2]]
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&offset=1&limit=2")) == live[1:3]
    assert ok(reg.get(f"/subjects?subjectPrefix={prefix}&deleted=true&offset=2&limit=1")) == [names[2]]
    assert ok(reg.get("/contexts")) == ["."]


# ---------------------------------------------------------------------------------------------
# 2. The confluent-kafka SchemaRegistryClient
# ---------------------------------------------------------------------------------------------

def sr_error(call):
    with pytest.raises(SchemaRegistryError) as info:
        call()
    return info.value


def test_confluent_client_api(registries):
    """confluent_kafka's SchemaRegistryClient works against the server: registration and
    lookups, reads by id/version/latest, listings, deletes (soft and permanent),
    compatibility settings and checks, and SchemaRegistryError carrying the right HTTP status
    and error code for 40401, 40403, 409 and 42201."""
    reg = registries(leader=True)
    client = SchemaRegistryClient({"url": reg.url})
    s = unique("client-value")
    v1 = Schema(json.dumps(READING), "AVRO")
    v2 = Schema(json.dumps(READING_V2), "AVRO")

    assert sorted(client.get_schema_types()) == ["AVRO", "JSON", "PROTOBUF"]
    id1 = client.register_schema(s, v1)
    assert isinstance(id1, int)
    assert SchemaRegistryClient({"url": reg.url}).register_schema(s, Schema(READING_REFORMATTED, "AVRO")) == id1
    looked = client.lookup_schema(s, v1)
    assert (looked.schema_id, looked.subject, looked.version) == (id1, s, 1)

    fresh = SchemaRegistryClient({"url": reg.url})  # no cache: every answer comes from the server
    got = fresh.get_schema(id1)
    assert got.schema_type == "AVRO" and same_avro(got.schema_str, READING)
    id2 = fresh.register_schema(s, v2)
    assert id2 != id1
    latest = fresh.get_latest_version(s)
    assert (latest.schema_id, latest.subject, latest.version) == (id2, s, 2)
    assert same_avro(latest.schema.schema_str, READING_V2)
    first = fresh.get_version(s, 1)
    assert (first.schema_id, first.version) == (id1, 1) and same_avro(first.schema.schema_str, READING)
    assert fresh.get_versions(s) == [1, 2]
    assert s in fresh.get_subjects()
    assert fresh.get_subjects_by_schema_id(id1) == [s]
    assert [(v.subject, v.version) for v in fresh.get_schema_versions(id2)] == [(s, 2)]

    # JSON Schema and Protobuf through the client.
    js = unique("client-json")
    jid = fresh.register_schema(js, Schema(json.dumps(JSON_READING), "JSON"))
    got = SchemaRegistryClient({"url": reg.url}).get_schema(jid)
    assert got.schema_type == "JSON" and json.loads(got.schema_str) == JSON_READING
    ps = unique("client-proto")
    pid = fresh.register_schema(ps, Schema(PROTO_READING, "PROTOBUF"))
    got = SchemaRegistryClient({"url": reg.url}).get_schema(pid)
    assert got.schema_type == "PROTOBUF" and "message Reading" in got.schema_str
    assert fresh.lookup_schema(ps, Schema(PROTO_READING, "PROTOBUF")).schema_id == pid

    # Compatibility.
    assert fresh.set_compatibility(s, "full") == {"compatibility": "FULL"}
    assert fresh.get_compatibility(s) == "FULL"
    assert fresh.set_compatibility(level="FORWARD") == {"compatibility": "FORWARD"}
    assert fresh.get_compatibility() == "FORWARD"
    e = sr_error(lambda: fresh.get_compatibility(js))
    assert (e.http_status_code, e.error_code) == (404, 40408), e
    incompatible = Schema(json.dumps(READING_REQUIRED), "AVRO")
    compatible = Schema(json.dumps(record("Reading", READING_V2["fields"] + [
        {"name": "site", "type": "string", "default": ""}])), "AVRO")
    assert fresh.test_compatibility(s, compatible) is True
    assert fresh.test_compatibility(s, incompatible) is False
    assert fresh.test_compatibility(s, incompatible, version=1, verbose=True) is False
    assert fresh.test_compatibility_all_versions(s, compatible) is True
    assert fresh.test_compatibility_all_versions(s, incompatible) is False

    # Errors.
    e = sr_error(lambda: fresh.get_versions(unique("missing")))
    assert (e.http_status_code, e.error_code) == (404, 40401), e
    e = sr_error(lambda: SchemaRegistryClient({"url": reg.url}).get_schema(987654))
    assert (e.http_status_code, e.error_code) == (404, 40403), e
    e = sr_error(lambda: fresh.lookup_schema(s, incompatible))
    assert (e.http_status_code, e.error_code) == (404, 40403), e
    e = sr_error(lambda: fresh.register_schema(s, incompatible))
    assert (e.http_status_code, e.error_code) == (409, 409), e
    e = sr_error(lambda: fresh.register_schema(s, Schema('{"type": "recrd"}', "AVRO")))
    assert (e.http_status_code, e.error_code) == (422, 42201), e
    e = sr_error(lambda: fresh.get_version(s, 99))
    assert (e.http_status_code, e.error_code) == (404, 40402), e

    # Deletes.
    assert fresh.delete_version(s, 2) == 2
    assert fresh.get_versions(s) == [1]
    assert SchemaRegistryClient({"url": reg.url}).get_latest_version(s).version == 1
    assert fresh.delete_subject(s) == [1]
    assert s not in fresh.get_subjects()
    e = sr_error(lambda: fresh.get_versions(s))
    assert (e.http_status_code, e.error_code) == (404, 40401), e
    assert sorted(fresh.delete_subject(s, permanent=True)) == [1, 2]
    e = sr_error(lambda: fresh.delete_subject(s))
    assert (e.http_status_code, e.error_code) == (404, 40401), e
    # Ids of permanently deleted schemas are not reused.
    assert fresh.register_schema(unique("client-after"), Schema(json.dumps(
        record("After", [{"name": "x", "type": "int"}])), "AVRO")) > max(id1, id2, jid, pid)


# ---------------------------------------------------------------------------------------------
# 3. Serializers end to end through Kafka
# ---------------------------------------------------------------------------------------------

def consume_values(kafka, topic, count, timeout=60):
    consumer = Consumer({"bootstrap.servers": kafka, "group.id": unique("sr-e2e-consumer"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < count and time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert not msg.error(), msg.error()
            out.append(msg.value())
    finally:
        consumer.close()
    assert len(out) == count, f"consumed {len(out)} of {count} records of {topic}"
    return out


def framed_id(raw):
    assert raw[0] == 0, f"magic byte {raw[0]} (payload {raw[:16]!r})"
    return int.from_bytes(raw[1:5], "big")


ORDER_AVRO = {
    "type": "record", "name": "Order", "namespace": "e2e.serde",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "name", "type": "string"},
            {"name": "email", "type": ["null", "string"], "default": None}]}},
        {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "attributes", "type": {"type": "map", "values": "string"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "due", "type": {"type": "int", "logicalType": "date"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "ratio", "type": "double"},
        {"name": "gift", "type": "boolean"},
        {"name": "blob", "type": "bytes"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
    ]}


def avro_orders(n):
    base = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
    return [{
        "id": 1_000_000_000_000 + i,
        "customer": {"name": f"customer {i} \u00e9", "email": None if i % 3 == 0 else f"c{i}@example.com"},
        "items": [{"sku": f"sku-{i}-{k}", "qty": k + 1} for k in range(i % 4)],
        "attributes": {f"k{k}": f"v{i}-{k}" for k in range(i % 3)},
        "status": ["NEW", "PAID", "SHIPPED"][i % 3],
        "note": None if i % 2 else f"note {i}",
        "created": base + datetime.timedelta(milliseconds=i * 1234567),
        "due": datetime.date(2025, 3, 1) + datetime.timedelta(days=i),
        "amount": decimal.Decimal(f"{i * 17}.{i % 100:02d}") * (-1 if i % 5 == 4 else 1),
        "ratio": i / 7.0,
        "gift": i % 2 == 0,
        "blob": bytes(range(i % 7)),
        "hash": i.to_bytes(4, "big"),
    } for i in range(25)]


def test_avro_serde_through_kafka(registries, kafka):
    """AvroSerializer auto-registers a schema with a nested record, array, map, enum,
    nullable unions, fixed and logical types (timestamp-millis, date, decimal); records go
    through Kafka framed with magic 0 + the registered id; AvroDeserializer with a fresh client
    fetches the writer schema by id and returns the same values."""
    reg = registries(leader=True)
    topic = unique("sr-avro")
    create_topic(kafka, topic, 1)
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = AvroSerializer(SchemaRegistryClient({"url": reg.url}), json.dumps(ORDER_AVRO),
                                conf={"auto.register.schemas": True})
    values = avro_orders(25)
    produce(kafka, topic, [serializer(v, ctx) for v in values])

    registered = ok(reg.get(f"/subjects/{topic}-value/versions/latest"))
    assert registered["version"] == 1 and same_avro(registered["schema"], ORDER_AVRO), registered
    fetched = json.loads(ok(reg.get(f"/schemas/ids/{registered['id']}"))["schema"])
    amount = next(f for f in fetched["fields"] if f["name"] == "amount")["type"]
    assert (amount.get("logicalType"), amount.get("precision"), amount.get("scale")) == ("decimal", 10, 2), fetched
    created = next(f for f in fetched["fields"] if f["name"] == "created")["type"]
    assert created.get("logicalType") == "timestamp-millis", fetched

    raws = consume_values(kafka, topic, len(values))
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": reg.url}))
    for i, (raw, expected) in enumerate(zip(raws, values)):
        assert framed_id(raw) == registered["id"], i
        assert deserializer(raw, ctx) == expected, f"record {i}"


SHIPMENT_JSON = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Shipment",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "destination": {"type": "object", "properties": {
            "city": {"type": "string"}, "zip": {"type": "string"},
            "geo": {"type": "object", "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}}}},
            "required": ["city"]},
        "parcels": {"type": "array", "items": {"type": "object", "properties": {
            "weight": {"type": "number"}, "fragile": {"type": "boolean"},
            "labels": {"type": "array", "items": {"type": "string"}}}, "required": ["weight"]}},
        "note": {"type": ["string", "null"]},
    },
    "required": ["id", "destination", "parcels"],
}


def test_json_schema_serde_through_kafka(registries, kafka):
    """JSONSerializer auto-registers a JSON Schema with nested objects and arrays; records go
    through Kafka framed with the registered id; JSONDeserializer with a fresh client and no
    local schema fetches the writer schema by id and returns the same values."""
    reg = registries(leader=True)
    topic = unique("sr-json")
    create_topic(kafka, topic, 1)
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = JSONSerializer(json.dumps(SHIPMENT_JSON), SchemaRegistryClient({"url": reg.url}),
                                conf={"auto.register.schemas": True})
    values = [{
        "id": i,
        "destination": {"city": f"City {i}", **({"zip": f"{10000 + i}"} if i % 2 else {}),
                        **({"geo": {"lat": 48.1 + i / 100, "lon": -11.5 - i / 100}} if i % 3 == 0 else {})},
        "parcels": [{"weight": 0.5 * (k + 1), "fragile": k % 2 == 0, "labels": [f"l{k}"] * k}
                    for k in range(i % 4)],
        "note": None if i % 2 else f"note {i}",
    } for i in range(20)]
    produce(kafka, topic, [serializer(v, ctx) for v in values])

    registered = ok(reg.get(f"/subjects/{topic}-value/versions/latest"))
    assert registered.get("schemaType") == "JSON" and json.loads(registered["schema"]) == SHIPMENT_JSON, registered
    raws = consume_values(kafka, topic, len(values))
    deserializer = JSONDeserializer(None, schema_registry_client=SchemaRegistryClient({"url": reg.url}))
    for i, (raw, expected) in enumerate(zip(raws, values)):
        assert framed_id(raw) == registered["id"], i
        assert deserializer(raw, ctx) == expected, f"record {i}"


def shop_file_descriptor():
    """e2e/shop.proto: a top-level Header and a top-level Order holding a nested Line
    message, a nested enum and a map, built without protoc."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="e2e/shop.proto", package="e2e.shop", syntax="proto3")

    def field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name

    header = fdp.message_type.add(name="Header")
    field(header, "source", 1, F.TYPE_STRING)
    field(header, "at_ms", 2, F.TYPE_INT64)
    order = fdp.message_type.add(name="Order")
    line = order.nested_type.add(name="Line")
    field(line, "sku", 1, F.TYPE_STRING)
    field(line, "qty", 2, F.TYPE_INT32)
    field(line, "price", 3, F.TYPE_DOUBLE)
    entry = order.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_STRING)
    status = order.enum_type.add(name="Status")
    for number, name in enumerate(["NEW", "PAID", "SHIPPED"]):
        status.value.add(name=name, number=number)
    field(order, "id", 1, F.TYPE_INT64)
    field(order, "header", 2, F.TYPE_MESSAGE, type_name=".e2e.shop.Header")
    field(order, "lines", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".e2e.shop.Order.Line")
    field(order, "attrs", 4, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".e2e.shop.Order.AttrsEntry")
    field(order, "status", 5, F.TYPE_ENUM, type_name=".e2e.shop.Order.Status")
    field(order, "gift", 6, F.TYPE_BOOL)
    field(order, "blob", 7, F.TYPE_BYTES)
    field(order, "codes", 8, F.TYPE_SINT32, F.LABEL_REPEATED)
    return fdp


def message_shapes(fdp):
    """{message full name: sorted [(field name, number, type, label, type name)]}."""
    shapes = {}

    def walk(prefix, messages):
        for m in messages:
            name = f"{prefix}.{m.name}"
            shapes[name] = sorted((f.name, f.number, f.type, f.label, f.type_name.lstrip(".")) for f in m.field)
            walk(name, m.nested_type)

    walk(fdp.package, fdp.message_type)
    return shapes


def test_protobuf_serde_through_kafka(registries, kafka):
    """ProtobufSerializer registers a base64 FileDescriptorProto (two top-level messages, a
    nested message, enum and map) for a top-level message (index [1]) and a nested one
    ([1, 0]); both subjects get the same id; the server answers the schema as .proto text and,
    with format=serialized, as a FileDescriptorProto describing the same messages;
    ProtobufDeserializer with a fresh client decodes every record to the same message."""
    reg = registries(leader=True)
    fdp = shop_file_descriptor()
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    Order = message_factory.GetMessageClass(pool.FindMessageTypeByName("e2e.shop.Order"))
    Line = message_factory.GetMessageClass(pool.FindMessageTypeByName("e2e.shop.Order.Line"))
    Header = message_factory.GetMessageClass(pool.FindMessageTypeByName("e2e.shop.Header"))

    orders = []
    for i in range(20):
        o = Order(id=5_000_000_000 + i, header=Header(source=f"src-{i}", at_ms=1_700_000_000_000 + i),
                  status=i % 3, gift=i % 2 == 0, blob=bytes(range(i % 5)), codes=[-i, i, 0])
        for k in range(i % 3):
            o.lines.add(sku=f"sku-{i}-{k}", qty=k + 1, price=9.99 * (k + 1))
        for k in range(i % 4):
            o.attrs[f"k{k}"] = f"v{k}"
        orders.append(o)
    lines = [Line(sku=f"solo-{i}", qty=i, price=i / 3) for i in range(10)]

    results = {}
    for name, cls, values, index_bytes in [("order", Order, orders, b"\x02\x02"),
                                           ("line", Line, lines, b"\x04\x02\x00")]:
        topic = unique(f"sr-proto-{name}")
        create_topic(kafka, topic, 1)
        ctx = SerializationContext(topic, MessageField.VALUE)
        serializer = ProtobufSerializer(cls, SchemaRegistryClient({"url": reg.url}),
                                        conf={"auto.register.schemas": True, "use.deprecated.format": False})
        produce(kafka, topic, [serializer(v, ctx) for v in values])
        registered = ok(reg.get(f"/subjects/{topic}-value/versions/latest"))
        assert registered.get("schemaType") == "PROTOBUF" and registered["version"] == 1, registered
        raws = consume_values(kafka, topic, len(values))
        deserializer = ProtobufDeserializer(cls, {"use.deprecated.format": False},
                                            schema_registry_client=SchemaRegistryClient({"url": reg.url}))
        for i, (raw, expected) in enumerate(zip(raws, values)):
            assert framed_id(raw) == registered["id"], i
            assert raw[5:5 + len(index_bytes)] == index_bytes, (i, raw[:8])
            got = deserializer(raw, ctx)
            assert json_format.MessageToDict(got) == json_format.MessageToDict(expected), f"{name} record {i}"
        results[name] = registered["id"]
    assert results["order"] == results["line"], results
    schema_id = results["order"]

    text = ok(reg.get(f"/schemas/ids/{schema_id}"))
    assert text.get("schemaType") == "PROTOBUF", text
    # A map registered as a descriptor prints as Confluent prints it: a repeated field of the
    # entry message, which stays in place among the nested messages (message indexes count it).
    for fragment in [r"message\s+Header\b", r"message\s+Order\b", r"message\s+Line\b", r"enum\s+Status\b",
                     r"repeated\s+\.e2e\.shop\.Order\.AttrsEntry\s+attrs\s*=\s*4", r"message\s+AttrsEntry\b"]:
        assert re.search(fragment, text["schema"]), (fragment, text)
    serialized = ok(reg.get(f"/schemas/ids/{schema_id}?format=serialized"))
    assert serialized.get("schemaType") == "PROTOBUF", serialized
    back = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized["schema"], validate=True))
    assert back.package == "e2e.shop" and back.syntax in ("proto3", "")
    assert [m.name for m in back.message_type] == ["Header", "Order"], back
    assert message_shapes(back) == message_shapes(fdp), back


# ---------------------------------------------------------------------------------------------
# 4. Restart and the stored records
# ---------------------------------------------------------------------------------------------

def build_history(reg):
    """Registers subjects, versions, configs, modes and deletes of every kind; returns
    {name: subject} and the ids registered, highest last."""
    base = unique("hist")
    s = {k: f"{base}-{k}" for k in ("avro", "json", "proto", "soft", "gone", "hard", "cfg")}
    ids = []
    ids.append(reg.register(s["avro"], READING)["id"])
    ids.append(reg.register(s["avro"], READING_V2)["id"])
    ids.append(reg.register(s["json"], JSON_READING, schema_type="JSON")["id"])
    ids.append(reg.register(s["hard"], record("Hard", [{"name": "h", "type": "int"}]))["id"])
    ok(reg.write("DELETE", f"/subjects/{s['hard']}"))
    ok(reg.write("DELETE", f"/subjects/{s['hard']}?permanent=true"))
    ok(reg.write("PUT", f"/config/{s['soft']}", {"compatibility": "NONE"}))
    for i in range(3):
        ids.append(reg.register(s["soft"], record(f"Soft{i}", [{"name": "s", "type": "int"}]))["id"])
    ok(reg.write("DELETE", f"/subjects/{s['soft']}/versions/2"))
    ids.append(reg.register(s["gone"], record("Gone", [{"name": "g", "type": "long"}]))["id"])
    ok(reg.write("DELETE", f"/subjects/{s['gone']}"))
    ids.append(reg.register(s["proto"], PROTO_READING, schema_type="PROTOBUF")["id"])
    ids.append(reg.register(s["cfg"], READING)["id"])  # reuses the first id
    ok(reg.write("PUT", f"/config/{s['avro']}", {"compatibility": "FULL"}))
    ok(reg.write("PUT", "/config", {"compatibility": "FORWARD_TRANSITIVE"}))
    ok(reg.write("PUT", f"/mode/{s['json']}", {"mode": "READONLY"}))
    ok(reg.write("PUT", f"/config/{s['cfg']}", {"compatibility": "FULL"}))
    ok(reg.write("DELETE", f"/config/{s['cfg']}"))
    return s, ids


def snapshot(reg, subjects, ids):
    """The answers to every read that shows the registry's state."""
    paths = ["/subjects", "/subjects?deleted=true", "/subjects?deletedOnly=true", "/config", "/mode",
             "/schemas?subjectPrefix=hist", "/schemas?subjectPrefix=hist&deleted=true"]
    for subject in subjects.values():
        paths += [f"/subjects/{subject}/versions", f"/subjects/{subject}/versions?deleted=true",
                  f"/config/{subject}", f"/mode/{subject}", f"/config/{subject}?defaultToGlobal=true"]
        for v in range(1, 5):
            paths += [f"/subjects/{subject}/versions/{v}?deleted=true", f"/subjects/{subject}/versions/{v}"]
    for i in sorted(set(ids)) + [max(ids) + 1]:
        paths += [f"/schemas/ids/{i}", f"/schemas/ids/{i}/subjects?deleted=true", f"/schemas/ids/{i}/versions"]
    out = {}
    for p in paths:
        r = reg.get(p)
        out[p] = (r.status, r.json())
    return out


def test_restart_recovers_identical_state(registries):
    """After SIGTERM (exit 0) a new process on the same topic answers every read exactly as
    before -- subjects, versions, soft and hard deletes, configs, modes, ids -- keeps
    deduplicating, continues version numbers, and gives a new schema max id + 1."""
    reg = registries(leader=True)
    subjects, ids = build_history(reg)
    assert ids[-1] == ids[0] and len(set(ids)) == len(ids) - 1, ids
    before = snapshot(reg, subjects, ids)
    assert before[f"/subjects/{subjects['soft']}/versions"] == (200, [1, 3])
    assert before["/config"] == (200, {"compatibilityLevel": "FORWARD_TRANSITIVE"})
    assert before[f"/schemas/ids/{max(ids) + 1}"][0] == 404
    assert reg.stop() == 0, reg.tail()

    again = registries(topic=reg.topic, group=reg.group, leader=True)
    after = snapshot(again, subjects, ids)
    diff = {p: (before[p], after[p]) for p in before if before[p] != after[p]}
    assert not diff, json.dumps(diff, indent=1)[:6000]

    # Dedupe and numbering continue from the replayed state.
    got = again.register(subjects["avro"], READING_V2)
    assert (got["id"], got.get("version")) == (ids[1], 2), got
    ok(again.write("PUT", f"/config/{subjects['avro']}", {"compatibility": "NONE"}))
    new = again.register(subjects["avro"], record("Fresh", [{"name": "f", "type": "string"}]))
    assert (new["id"], new.get("version")) == (max(ids) + 1, 3), (new, ids)
    assert again.register(subjects["soft"], record("Soft9", [{"name": "s", "type": "int"}])).get("version") == 4
    error(again.write("POST", f"/subjects/{subjects['json']}/versions",
                      {"schema": json.dumps(JSON_READING), "schemaType": "JSON"}), 42205)


def test_storage_records_use_confluent_format(registries, kafka):
    """What the server writes to its topic (read with read_committed) is Confluent's format:
    compact JSON keys in Confluent's field order for SCHEMA/CONFIG/MODE/DELETE_SUBJECT, SCHEMA
    values with subject/version/id/schema/deleted (schemaType only for JSON and PROTOBUF,
    references when present), tombstones for hard deletes; and the topic is one compacted
    partition."""
    reg = registries(leader=True)
    base = unique("store")
    a, j, p, gone, hard, ref = (f"{base}-{k}" for k in ("avro", "json", "proto", "gone", "hard", "ref"))
    ida = reg.register(a, READING)["id"]
    ida2 = reg.register(a, READING_V2)["id"]
    idj = reg.register(j, JSON_READING, schema_type="JSON")["id"]
    idp = reg.register(p, PROTO_READING, schema_type="PROTOBUF")["id"]
    money = record("Money", [{"name": "amount", "type": "string"}], namespace="com.store")
    idm = reg.register(gone, money)["id"]
    refs = [{"name": "com.store.Money", "subject": gone, "version": 1}]
    idr = reg.register(ref, record("Bill", [{"name": "m", "type": "com.store.Money"}], namespace="com.store"),
                       references=refs)["id"]
    ok(reg.write("DELETE", f"/subjects/{ref}"))
    ok(reg.write("DELETE", f"/subjects/{ref}?permanent=true"))
    ok(reg.write("DELETE", f"/subjects/{gone}"))
    idh = reg.register(hard, record("Hard", [{"name": "h", "type": "int"}]))["id"]
    ok(reg.write("DELETE", f"/subjects/{hard}/versions/1"))
    ok(reg.write("DELETE", f"/subjects/{hard}/versions/1?permanent=true"))
    ok(reg.write("DELETE", f"/subjects/{a}/versions/1"))
    ok(reg.write("PUT", "/config", {"compatibility": "FULL"}))
    ok(reg.write("PUT", f"/config/{a}", {"compatibility": "NONE"}))
    ok(reg.write("PUT", f"/mode/{j}", {"mode": "READONLY"}))

    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient({"bootstrap.servers": kafka})
    meta = admin.list_topics(reg.topic, timeout=10).topics[reg.topic]
    assert len(meta.partitions) == 1, meta.partitions
    resource = ConfigResource(ConfigResource.Type.TOPIC, reg.topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["cleanup.policy"].value == "compact", configs["cleanup.policy"].value

    records = read_topic(kafka, reg.topic)
    latest = {}
    for key, value in records:
        parsed = json.loads(key)
        assert key == compact_json(parsed), f"key is not compact JSON: {key!r}"
        assert parsed.get("keytype") in ("SCHEMA", "CONFIG", "MODE", "DELETE_SUBJECT", "CLEAR_SUBJECT", "NOOP"), key
        if parsed["keytype"] == "NOOP":
            assert parsed == {"keytype": "NOOP", "magic": 0} and value is None, (key, value)
        latest[key] = None if value is None else json.loads(value)

    def schema_key(subject, version):
        return compact_json({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})

    def expect_schema(subject, version, sid, deleted, schema_type=None, references=None):
        key = schema_key(subject, version)
        assert key in latest, f"no record with key {key!r}; keys: {sorted(latest)}"
        v = latest[key]
        assert v is not None, f"{key!r} is a tombstone"
        assert (v.get("subject"), v.get("version"), v.get("id"), v.get("deleted")) == \
            (subject, version, sid, deleted), v
        assert isinstance(v.get("schema"), str), v
        if schema_type is None:
            assert v.get("schemaType") in (None, "AVRO"), v
        else:
            assert v.get("schemaType") == schema_type, v
        if references is not None:
            assert v.get("references") == references, v
        else:
            assert not v.get("references"), v
        return v

    assert same_avro(expect_schema(a, 1, ida, True)["schema"], READING)
    assert same_avro(expect_schema(a, 2, ida2, False)["schema"], READING_V2)
    assert json.loads(expect_schema(j, 1, idj, False, "JSON")["schema"]) == JSON_READING
    assert "message Reading" in expect_schema(p, 1, idp, False, "PROTOBUF")["schema"]
    # The soft-deleted subject: a DELETE_SUBJECT record (the version may also be rewritten).
    expect_schema(gone, 1, idm, latest.get(schema_key(gone, 1), {}).get("deleted"))
    dkey = compact_json({"keytype": "DELETE_SUBJECT", "subject": gone, "magic": 0})
    assert latest.get(dkey) == {"subject": gone, "version": 1}, (dkey, latest.get(dkey))
    # Hard deletes end in tombstones.
    assert schema_key(hard, 1) in latest and latest[schema_key(hard, 1)] is None
    assert schema_key(ref, 1) in latest and latest[schema_key(ref, 1)] is None
    history = [json.loads(v) for k, v in records if k == schema_key(ref, 1) and v is not None]
    assert history and all(h.get("references") == refs and h.get("id") == idr for h in history), history
    assert idh not in (ida, ida2, idj, idp, idm, idr)

    ckey = compact_json({"keytype": "CONFIG", "subject": a, "magic": 0})
    assert latest.get(ckey, {}).get("compatibilityLevel") == "NONE", (ckey, latest.get(ckey))
    assert latest[ckey].get("subject") == a, latest[ckey]
    globals_ = [k for k in latest if json.loads(k) in ({"keytype": "CONFIG", "magic": 0},
                                                      {"keytype": "CONFIG", "subject": None, "magic": 0})]
    assert len(globals_) == 1, sorted(latest)
    assert latest[globals_[0]].get("compatibilityLevel") == "FULL", latest[globals_[0]]
    assert "subject" not in latest[globals_[0]] or latest[globals_[0]]["subject"] is None
    mkey = compact_json({"keytype": "MODE", "subject": j, "magic": 0})
    assert latest.get(mkey) == {"subject": j, "mode": "READONLY"}, (mkey, latest.get(mkey))


# ---------------------------------------------------------------------------------------------
# 5. Two instances: leader election, forwarding, fail-over
# ---------------------------------------------------------------------------------------------

def test_two_instances_forward_writes_and_fail_over(registries):
    """Two instances on one topic and group have exactly one leader: the first one up stays
    the leader when the second joins; writes sent to the follower are forwarded and succeed;
    concurrent registrations through both get distinct ids and read the same from both; after
    SIGKILL of the leader the other takes over and accepts writes with fresh ids."""
    topic, group = unique("sr-e2e-schemas"), unique("sr-e2e-group")
    # The second instance gets the lower URL, the one an election from scratch would pick.
    high, low = sorted([free_port(), free_port()], key=lambda p: f"http://127.0.0.1:{p}", reverse=True)
    a = registries(topic=topic, group=group, port=high, leader=True)
    first = a.register(unique("first"), READING_V2)
    b = registries(topic=topic, group=group, port=low)
    time.sleep(3)  # the second instance's join, and any election it causes, is over by now
    wait_for(lambda: a.is_leader() != b.is_leader(), 30, "exactly one leader")
    # Checked at the end, so that forwarding and fail-over are exercised either way.
    elected = {"instances": sum(1 for r in (a, b) if r.leader_lines() > 0),
               "logs": f"{a.tail(1500)}\n{b.tail(1500)}"}
    leader, follower = (a, b) if a.is_leader() else (b, a)
    assert ok(follower.get(f"/schemas/ids/{first['id']}"))["schema"]

    # A write through the follower is forwarded to the leader.
    s = unique("fwd")
    got = follower.register(s, READING)
    assert got.get("version") == 1
    reply = follower.write("PUT", f"/config/{s}", {"compatibility": "FULL"})
    assert ok(reply) == {"compatibility": "FULL"}, reply
    for reg in (leader, follower):
        wait_for(lambda reg=reg: reg.get(f"/subjects/{s}/versions/1").status == 200, 10, f"{s} on {reg.url}")
        assert ok(reg.get(f"/subjects/{s}/versions/1"))["id"] == got["id"]
        wait_for(lambda reg=reg: reg.get(f"/config/{s}").status == 200, 10, f"config of {s} on {reg.url}")
        assert ok(reg.get(f"/config/{s}"))["compatibilityLevel"] == "FULL"
    error(follower.write("POST", f"/subjects/{s}/versions", {"schema": json.dumps(READING_REQUIRED)}), 409)

    # Concurrent registrations of distinct schemas through both instances.
    prefix = unique("conc")
    results, failures, lock = {}, [], threading.Lock()

    def work(i):
        reg = (a, b)[i % 2]
        subject = f"{prefix}-{i:02d}"
        r = reg.write("POST", f"/subjects/{subject}/versions",
                      {"schema": json.dumps(record(f"Conc{i}", [{"name": f"f{i}", "type": "string"}]))})
        with lock:
            if r.status == 200:
                results[subject] = r.json()["id"]
            else:
                failures.append(str(r))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, "\n".join(failures)
    assert len(results) == 20 and len(set(results.values())) == 20, results
    assert got["id"] not in results.values()
    for reg in (a, b):
        wait_for(lambda reg=reg: len(ok(reg.get(f"/subjects?subjectPrefix={prefix}"))) == 20, 10,
                 f"every subject on {reg.url}")
        for subject, sid in results.items():
            v = ok(reg.get(f"/subjects/{subject}/versions/1"))
            assert v["id"] == sid, (reg.url, subject, v, sid)
            assert ok(reg.get(f"/schemas/ids/{sid}/subjects")) == [subject]

    # Fail-over.
    leader.kill()
    started = time.time()
    follower.wait_leader(timeout=30)
    takeover = time.time() - started
    assert takeover < 25, f"takeover took {takeover:.1f}s"
    after = follower.register(unique("after"), record("After", [{"name": "x", "type": "int"}]))
    assert after["id"] > max(list(results.values()) + [got["id"], first["id"]]), after
    more = follower.register(s, READING_V2)
    assert more.get("version") == 2 and more["id"] not in results.values()
    assert ok(follower.get(f"/subjects/{s}/versions")) == [1, 2]
    print(f"two instances: takeover after leader SIGKILL in {takeover:.1f}s")
    assert elected["instances"] == 1, "both instances logged that they became the leader before the " \
        "fail-over (leadership moved to the instance that joined second):\n" + elected["logs"]


def no_retry_client(url):
    """confluent-kafka's client without its own retries of 5xx answers, so that every answer
    of the server is seen as it was."""
    return SchemaRegistryClient({"url": url, "max.retries": 0})


def test_fresh_registry_takes_writes_as_soon_as_it_answers(registries):
    """Twenty times: a fresh registry on a fresh topic and group is polled with GET /subjects
    until it answers 200; a registration sent at once, by confluent-kafka's client with its
    retries off, succeeds (nothing is served before the election is decided)."""
    for attempt in range(20):
        reg = registries(serve=False)
        deadline = time.time() + 90
        while True:
            try:
                if reg.get("/subjects", timeout=5).status == 200:
                    break
            except OSError:
                pass  # not listening yet
            assert reg.alive(), reg.tail()
            assert time.time() < deadline, f"attempt {attempt}: no answer in 90 s\n{reg.tail()}"
            time.sleep(0.02)
        # Nothing is served before the election is decided.
        assert "leader election decided" in reg.output(), f"attempt {attempt}: served before the election\n{reg.tail()}"
        started = time.time()
        try:
            sid = no_retry_client(reg.url).register_schema(unique("ready"), Schema(json.dumps(READING), "AVRO"))
        except SchemaRegistryError as e:
            raise AssertionError(f"attempt {attempt}: the first write failed: {e}\n{reg.tail()}") from None
        assert isinstance(sid, int) and sid >= 1
        # The writer was readied before serving: the first write does not wait for an election.
        assert time.time() - started < 5, f"attempt {attempt}: the first write took {time.time() - started:.1f} s"
        reg.kill()


def test_writes_wait_for_the_next_leader_within_the_bound(registries):
    """A leader killed with SIGKILL: a write sent to the other instance right away waits for
    that instance to be elected and succeeds, with no retry by the client; an instance that
    no eligible instance leads answers 50004 after lakesink.registry.leader.wait.ms, naming
    the key."""
    topic, group = unique("sr-e2e-schemas"), unique("sr-e2e-group")
    a = registries(topic=topic, group=group, leader=True)
    b = registries(topic=topic, group=group)
    time.sleep(2)
    wait_for(lambda: a.is_leader() != b.is_leader(), 30, "exactly one leader")
    leader, follower = (a, b) if a.is_leader() else (b, a)
    client = no_retry_client(follower.url)
    client.register_schema(unique("before"), Schema(json.dumps(READING), "AVRO"))
    leader.kill()
    started = time.time()
    try:
        sid = client.register_schema(unique("during"), Schema(json.dumps(READING_V2), "AVRO"))
    except SchemaRegistryError as e:
        raise AssertionError(f"a write during the leader change failed after {time.time() - started:.1f} s: "
                             f"{e}\n{follower.tail()}") from None
    waited = time.time() - started
    assert isinstance(sid, int) and follower.is_leader()
    assert waited < 20, f"the write waited {waited:.1f} s, past the default bound of 20 s"
    print(f"a write during a leader change waited {waited:.1f} s")

    # No eligible instance at all: reads are served, a write fails after the bound.
    lonely = registries(group=unique("sr-e2e-group"), leader__eligibility="false",
                        kafkastore__init__timeout__ms=3000, lakesink__registry__leader__wait__ms=2000)
    assert ok(lonely.get("/subjects")) == []
    started = time.time()
    r = lonely.call("POST", f"/subjects/{q(unique('nobody'))}/versions", {"schema": json.dumps(READING)})
    waited = time.time() - started
    body = error(r, 50004)
    assert "lakesink.registry.leader.wait.ms" in body["message"], body
    assert 2.0 <= waited < 8, f"50004 after {waited:.1f} s with a bound of 2 s"


# ---------------------------------------------------------------------------------------------
# 6. Taking over a topic written in Confluent's format
# ---------------------------------------------------------------------------------------------

def test_prefilled_confluent_topic(registries, kafka):
    """A topic written the way Confluent Schema Registry and Karapace write it -- NOOPs, Avro
    with and without schemaType, PROTOBUF and JSON, unknown value properties, soft deletes by
    'deleted': true and by DELETE_SUBJECT, a hard-delete tombstone, global CONFIG keys with and
    without a null subject, subject CONFIG (one removed by a tombstone) and MODE -- is served
    exactly, and the next new schema gets max id + 1."""
    with open(PREFILLED) as f:
        entries = json.load(f)
    topic = unique("sr-e2e-prefilled")
    create_store_topic(kafka, topic)
    produce_records(kafka, topic, [(e["key"], e["value"]) for e in entries])
    schemas = {(e["value"]["subject"], e["value"]["version"]): e["value"] for e in entries
               if e["key"]["keytype"] == "SCHEMA" and e["value"] is not None}

    reg = registries(topic=topic, leader=True)
    assert ok(reg.get("/subjects")) == ["pre-avro", "pre-json", "pre-proto"]
    assert ok(reg.get("/subjects?deleted=true")) == ["pre-avro", "pre-gone", "pre-json", "pre-proto"]
    assert ok(reg.get("/subjects?deletedOnly=true")) == ["pre-gone"]

    assert ok(reg.get("/subjects/pre-avro/versions")) == [1, 2]
    assert ok(reg.get("/subjects/pre-avro/versions?deleted=true")) == [1, 2, 3]
    for version, sid in [(1, 1), (2, 2)]:
        got = ok(reg.get(f"/subjects/pre-avro/versions/{version}"))
        assert (got["subject"], got["version"], got["id"]) == ("pre-avro", version, sid), got
        assert "schemaType" not in got and same_avro(got["schema"], schemas[("pre-avro", version)]["schema"]), got
    assert ok(reg.get("/subjects/pre-avro/versions/latest"))["version"] == 2
    error(reg.get("/subjects/pre-avro/versions/3"), 40402)
    assert ok(reg.get("/subjects/pre-avro/versions/3?deleted=true"))["id"] == 9

    got = ok(reg.get("/subjects/pre-proto/versions/1"))
    assert (got["id"], got.get("schemaType")) == (3, "PROTOBUF"), got
    assert squash(got["schema"]) == squash(schemas[("pre-proto", 1)]["schema"]), got
    got = ok(reg.get("/subjects/pre-json/versions/1"))
    assert (got["id"], got.get("schemaType")) == (4, "JSON"), got
    assert json.loads(got["schema"]) == json.loads(schemas[("pre-json", 1)]["schema"]), got
    error(reg.get("/subjects/pre-gone/versions"), 40401)
    assert ok(reg.get("/subjects/pre-gone/versions?deleted=true")) == [1]
    error(reg.get("/subjects/pre-hard/versions?deleted=true"), 40401)

    # By id: soft-deleted ids resolve, the hard-deleted one does not.
    for sid, (subject, version) in {1: ("pre-avro", 1), 2: ("pre-avro", 2), 5: ("pre-gone", 1),
                                    9: ("pre-avro", 3)}.items():
        got = ok(reg.get(f"/schemas/ids/{sid}"))
        assert "schemaType" not in got and same_avro(got["schema"], schemas[(subject, version)]["schema"]), got
    assert ok(reg.get("/schemas/ids/3")).get("schemaType") == "PROTOBUF"
    assert ok(reg.get("/schemas/ids/4")).get("schemaType") == "JSON"
    error(reg.get("/schemas/ids/6"), 40403)
    serialized = ok(reg.get("/schemas/ids/3?format=serialized"))
    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(serialized["schema"], validate=True))
    assert fdp.package == "e2e.pre" and [m.name for m in fdp.message_type] == ["User"], fdp
    assert [(f.name, f.number, f.type) for f in fdp.message_type[0].field] == \
        [("id", 1, descriptor_pb2.FieldDescriptorProto.TYPE_INT32),
         ("name", 2, descriptor_pb2.FieldDescriptorProto.TYPE_STRING)], fdp

    # Config and mode.
    assert ok(reg.get("/config"))["compatibilityLevel"] == "FORWARD"
    assert ok(reg.get("/config/pre-avro"))["compatibilityLevel"] == "NONE"
    error(reg.get("/config/pre-proto"), 40408)
    assert ok(reg.get("/config/pre-proto?defaultToGlobal=true"))["compatibilityLevel"] == "FORWARD"
    assert ok(reg.get("/mode/pre-json"))["mode"] == "READONLY"
    assert ok(reg.get("/mode"))["mode"] == "READWRITE"
    error(reg.write("POST", "/subjects/pre-json/versions",
                    {"schema": json.dumps({"type": "object"}), "schemaType": "JSON"}), 42205)

    # Replayed schemas are found by lookup, in the form they were stored.
    for (subject, version), value in schemas.items():
        if subject in ("pre-gone", "pre-hard") or version == 3:
            continue
        body = {"schema": value["schema"]}
        if value.get("schemaType") not in (None, "AVRO"):
            body["schemaType"] = value["schemaType"]
        r = reg.call("POST", f"/subjects/{subject}", body)
        found = ok(r)
        assert (found["id"], found["version"]) == (value["id"], version), r
    # New ids continue after the highest replayed id (9); replayed schemas dedupe.
    new = reg.register("pre-avro", record("Other", [{"name": "o", "type": "string"}], namespace="e2e.pre"))
    assert (new["id"], new.get("version")) == (10, 4), new
    assert reg.register("pre-copy", schemas[("pre-avro", 1)]["schema"])["id"] == 1
    assert reg.register("pre-copy-json", schemas[("pre-json", 1)]["schema"], schema_type="JSON")["id"] == 4
    assert reg.register("pre-copy-proto", schemas[("pre-proto", 1)]["schema"], schema_type="PROTOBUF")["id"] == 3
    assert reg.register("pre-copy-gone", schemas[("pre-gone", 1)]["schema"])["id"] == 5


# ---------------------------------------------------------------------------------------------
# 7. Avro compatibility matrix over HTTP
# ---------------------------------------------------------------------------------------------

LEVELS = ("BACKWARD", "FORWARD", "FULL")


def load_matrix():
    if not os.path.exists(MATRIX):
        pytest.fail(f"the Avro compatibility matrix {MATRIX} does not exist")
    with open(MATRIX) as f:
        cases = json.load(f)
    assert cases and all({"name", "old", "new", *LEVELS} <= set(c) for c in cases), MATRIX
    return cases


def test_avro_compatibility_matrix_over_http(registries):
    """For every case of the Avro compatibility matrix and every level BACKWARD, FORWARD and
    FULL, a fresh subject set to that level with `old` registered answers POST
    /compatibility/.../versions/latest for `new` with the matrix's verdict."""
    cases = load_matrix()
    reg = registries(leader=True)
    prefix = unique("matrix")

    def run(index, case):
        subject = f"{prefix}-{index:03d}"
        problems = []
        r = reg.write("POST", f"/subjects/{q(subject)}/versions", {"schema": json.dumps(case["old"])})
        if r.status != 200:
            return [f"{case['name']}: registering old failed:\n{r}"]
        for level in LEVELS:
            r = reg.write("PUT", f"/config/{q(subject)}", {"compatibility": level})
            if r.status != 200:
                problems.append(f"{case['name']} {level}: PUT config failed:\n{r}")
                continue
            r = reg.call("POST", f"/compatibility/subjects/{q(subject)}/versions/latest?verbose=true",
                         {"schema": json.dumps(case["new"])})
            if r.status != 200:
                problems.append(f"{case['name']} {level}: expected is_compatible={case[level]}, got:\n{r}")
                continue
            body = r.json()
            if body.get("is_compatible") is not case[level]:
                problems.append(f"{case['name']} {level}: expected is_compatible={case[level]}, got {body}\n"
                                f"  old={json.dumps(case['old'])}\n  new={json.dumps(case['new'])}")
        return problems

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda ic: run(*ic), enumerate(cases)))
    problems = [p for case_problems in outcomes for p in case_problems]
    assert not problems, f"{len(problems)} mismatches of {len(cases) * len(LEVELS)} verdicts:\n" + "\n".join(problems)
