//! Test batches, made the way the sink makes them: through the value converter.

use std::sync::Arc;

use arrow_array::RecordBatch;
use lakesink_config::{ConverterConfig, ConverterKind};
use lakesink_convert::{NullValues, ValueConverter, ValueSchema};
use lakesink_record::{RawBatch, TopicPartition};
use serde_json::{Value, json};

/// Converts raw values with `kind`/`schemas_enable` into one batch.
pub(crate) fn convert_raw(
    kind: ConverterKind,
    schemas_enable: bool,
    values: &[Vec<u8>],
) -> (Arc<ValueSchema>, RecordBatch) {
    let mut raw = RawBatch::default();
    for (i, v) in values.iter().enumerate() {
        raw.push(i as i64, Some(1_700_000_000_000), None, Some(v));
    }
    let mut conv = ValueConverter::new(
        &ConverterConfig {
            kind,
            schemas_enable,
            subject_strategy: lakesink_config::SubjectNameStrategy::Topic,
            decimal_numeric: false,
            replace_null_with_default: true,
            registry_urls: Vec::new(),
            registry_basic_auth: None,
        },
        NullValues::Fail,
    );
    let mut out = conv.convert(&TopicPartition::new("t", 0), &raw).unwrap();
    assert_eq!(out.len(), 1, "one schema expected");
    let c = out.remove(0);
    (c.schema, c.columns)
}

/// Converts JsonConverter envelopes of `schema` with `payloads` into one batch.
pub(crate) fn convert(schema: &Value, payloads: &[Value]) -> (Arc<ValueSchema>, RecordBatch) {
    let values: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| {
            json!({"schema": schema, "payload": p})
                .to_string()
                .into_bytes()
        })
        .collect();
    convert_raw(ConverterKind::Json, true, &values)
}

pub(crate) const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub(crate) const DATE: &str = "org.apache.kafka.connect.data.Date";
pub(crate) const TIME: &str = "org.apache.kafka.connect.data.Time";
pub(crate) const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

/// A struct schema with every Connect type, optional and not.
pub(crate) fn everything_schema() -> Value {
    json!({
        "type": "struct", "name": "com.example.Everything", "version": 3, "optional": false,
        "fields": [
            {"field": "i8", "type": "int8"},
            {"field": "i16", "type": "int16"},
            {"field": "i32", "type": "int32"},
            {"field": "i64", "type": "int64"},
            {"field": "f32", "type": "float"},
            {"field": "f64", "type": "double"},
            {"field": "flag", "type": "boolean"},
            {"field": "s", "type": "string"},
            {"field": "b", "type": "bytes"},
            {"field": "dec", "type": "bytes", "name": DECIMAL,
             "parameters": {"scale": "2", "connect.decimal.precision": "10"}},
            {"field": "day", "type": "int32", "name": DATE},
            {"field": "tod", "type": "int32", "name": TIME},
            {"field": "ts", "type": "int64", "name": TIMESTAMP},
            {"field": "opt_i32", "type": "int32", "optional": true},
            {"field": "opt_s", "type": "string", "optional": true},
            {"field": "opt_b", "type": "bytes", "optional": true},
            {"field": "opt_dec", "type": "bytes", "name": DECIMAL, "optional": true,
             "parameters": {"scale": "2"}},
            {"field": "opt_ts", "type": "int64", "name": TIMESTAMP, "optional": true},
            {"field": "my-field", "type": "double", "optional": true},
            {"field": "nested", "type": "struct", "name": "com.example.Inner", "optional": true,
             "fields": [
                {"field": "x", "type": "int32"},
                {"field": "y", "type": "string", "optional": true}
             ]},
            {"field": "tags", "type": "array", "items": {"type": "string"}},
            {"field": "opt_nums", "type": "array", "optional": true,
             "items": {"type": "int64", "optional": true}},
            {"field": "attrs", "type": "map", "keys": {"type": "string"},
             "values": {"type": "int32", "optional": true}},
            {"field": "by_id", "type": "map", "optional": true,
             "keys": {"type": "int32"}, "values": {"type": "string"}},
            {"field": "points", "type": "array",
             "items": {"type": "struct", "fields": [
                {"field": "k", "type": "string"},
                {"field": "when", "type": "int32", "name": DATE, "optional": true}
             ]}}
        ]
    })
}

/// Rows for [`everything_schema`]: all values set, optionals null, and edge values.
pub(crate) fn everything_payloads() -> Vec<Value> {
    vec![
        json!({
            "i8": -8, "i16": 1600, "i32": 32, "i64": 6_400_000_000i64,
            "f32": 1.5, "f64": -2.25e-5, "flag": true, "s": "héllo \"q\"\n",
            "b": "AQID", "dec": "BNI=", "day": 19675, "tod": 45_296_789,
            "ts": 1_700_000_000_123i64,
            "opt_i32": 7, "opt_s": "x", "opt_b": "", "opt_dec": "/2o=",
            "opt_ts": 1_600_000_000_000i64, "my-field": 1e20,
            "nested": {"x": 1, "y": "why"},
            "tags": ["a", "b"], "opt_nums": [1, null, 3],
            "attrs": {"a": 1, "b": null},
            "by_id": [[1, "one"], [2, "two"]],
            "points": [{"k": "p", "when": 1}, {"k": "q", "when": null}]
        }),
        json!({
            "i8": 127, "i16": -32768, "i32": -2_147_483_648i64, "i64": i64::MIN,
            "f32": -0.0, "f64": 1234567.0, "flag": false, "s": "",
            "b": "", "dec": "AA==", "day": -1, "tod": 0, "ts": -1,
            "opt_i32": null, "opt_s": null, "opt_b": null, "opt_dec": null,
            "opt_ts": null, "my-field": null, "nested": null,
            "tags": [], "opt_nums": null, "attrs": {}, "by_id": null, "points": []
        }),
        json!({
            "i8": 0, "i16": 0, "i32": 0, "i64": 0,
            "f32": 3.25, "f64": 0.1, "flag": true, "s": "z",
            "b": "/w==", "dec": "AIA=", "day": 0, "tod": 86_399_999, "ts": 0,
            "opt_i32": 0, "opt_s": "", "opt_b": "AA==", "opt_dec": "AA==",
            "opt_ts": 0, "my-field": 0.5, "nested": {"x": -1, "y": null},
            "tags": [""], "opt_nums": [], "attrs": {"z": 0},
            "by_id": [], "points": [{"k": "", "when": 0}]
        }),
    ]
}

/// The batch of [`everything_payloads`].
pub(crate) fn everything() -> (Arc<ValueSchema>, RecordBatch) {
    convert(&everything_schema(), &everything_payloads())
}
