//! The transforms against the examples of Kafka Connect's documentation, with records
//! converted by the real JsonConverter (with and without schemas).

use std::sync::Arc;

use lakesink_config::{ConverterConfig, ConverterKind, RawConfig, SubjectNameStrategy};
use lakesink_convert::{ConnectType, Converted, NullValues as ConverterNulls, ValueConverter};
use lakesink_record::{RawBatch, TopicPartition};
use serde_json::{Value, json};

use super::*;

fn converter(schemas: bool) -> ValueConverter {
    ValueConverter::new(
        &ConverterConfig {
            kind: ConverterKind::Json,
            schemas_enable: schemas,
            subject_strategy: SubjectNameStrategy::Topic,
            decimal_numeric: false,
            replace_null_with_default: true,
            registry_urls: Vec::new(),
            registry_basic_auth: None,
        },
        ConverterNulls::Ignore,
    )
}

const SCHEMA: &str = r#"{"type":"struct","name":"com.example.User","version":3,"optional":false,"fields":[
  {"field":"id","type":"int64","optional":false},
  {"field":"name","type":"string","optional":true},
  {"field":"ssn","type":"string","optional":true},
  {"field":"age","type":"int32","optional":true},
  {"field":"score","type":"double","optional":true},
  {"field":"created","type":"string","optional":true},
  {"field":"address","type":"struct","optional":true,"fields":[
     {"field":"city","type":"string","optional":true},
     {"field":"geo","type":"struct","optional":true,"fields":[{"field":"lat","type":"double","optional":true}]}]}]}"#;

fn user(id: i64, age: i64) -> String {
    let payload = json!({
        "id": id, "name": format!("user{id}"), "ssn": "123-45-6789", "age": age,
        "score": 1.5, "created": "2024-03-01 12:34:56",
        "address": {"city": "Oslo", "geo": {"lat": 59.9}}
    });
    format!(r#"{{"schema":{SCHEMA},"payload":{payload}}}"#)
}

/// Records at offsets 100.. with timestamps 1,709,296,496,789 + i days.
fn batch(values: &[String], headers: &[&[&str]]) -> RawBatch {
    let mut b = RawBatch::default();
    for (i, v) in values.iter().enumerate() {
        let names = headers.get(i).copied().unwrap_or(&[]);
        b.push_with_headers(
            100 + i as i64,
            Some(1_709_296_496_789 + i as i64 * 86_400_000),
            None,
            Some(v.as_bytes()),
            names.iter().map(|n| (*n, Some(&b"1"[..]))),
        );
    }
    b
}

fn tp() -> TopicPartition {
    TopicPartition::new("users-raw", 2)
}

fn convert(schemas: bool, b: &RawBatch) -> Converted {
    let mut runs = converter(schemas).convert(&tp(), b).unwrap();
    assert_eq!(runs.len(), 1);
    runs.remove(0)
}

fn chain(pairs: &[(&str, &str)]) -> Chain {
    let raw: RawConfig = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = lakesink_config::transforms::from_connector(&raw).unwrap();
    Chain::new(&config, NullValues::Drop).unwrap()
}

/// The rows of a run as JSON objects (schemaless runs: their documents).
fn rows(run: &Converted) -> Vec<Value> {
    if run.schema.kind == ValueKind::JsonText {
        let texts = arrow_array::cast::AsArray::as_string::<i32>(run.columns.column(0));
        return texts
            .iter()
            .map(|t| serde_json::from_str(t.unwrap()).unwrap())
            .collect();
    }
    // Timestamps as their epoch milliseconds (arrow-json here knows no zone names).
    let columns: Vec<arrow_array::ArrayRef> = run
        .columns
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow_schema::DataType::Timestamp(..) => {
                arrow_cast::cast(c, &arrow_schema::DataType::Int64).unwrap()
            }
            _ => c.clone(),
        })
        .collect();
    let fields: Vec<arrow_schema::Field> = run
        .columns
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| arrow_schema::Field::new(f.name(), c.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns).unwrap();
    let mut w = arrow_json::ArrayWriter::new(Vec::new());
    w.write(&batch).unwrap();
    w.finish().unwrap();
    serde_json::from_slice(&w.into_inner()).unwrap()
}

fn run_one(c: &mut Chain, b: &RawBatch, schemas: bool) -> Vec<Routed> {
    let (out, failed) = c.apply(&tp(), convert(schemas, b), b, false).unwrap();
    assert!(failed.is_empty());
    out
}

fn field_names(run: &Converted) -> Vec<String> {
    match &run.schema.connect.as_ref().unwrap().ty {
        ConnectType::Struct(f) => f.iter().map(|(n, _)| n.clone()).collect(),
        other => vec![format!("{other:?}")],
    }
}

#[test]
fn replace_field_excludes_and_renames_with_schema_and_without() {
    let mut c = chain(&[
        ("transforms", "r"),
        (
            "transforms.r.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        ),
        ("transforms.r.exclude", "ssn,address,created,score"),
        ("transforms.r.renames", "name:full_name,age:years"),
    ]);
    let b = batch(&[user(1, 30), user(2, 40)], &[]);
    let out = run_one(&mut c, &b, true);
    assert_eq!(out.len(), 1);
    assert_eq!(field_names(&out[0].run), ["id", "full_name", "years"]);
    assert_eq!(
        out[0].run.schema.connect.as_ref().unwrap().name.as_deref(),
        Some("com.example.User")
    );
    assert_eq!(
        rows(&out[0].run)[1],
        json!({"id": 2, "full_name": "user2", "years": 40})
    );
    assert_eq!(&*out[0].topic, "users-raw");

    let docs = [r#"{"id":1,"name":"a","ssn":"x"}"#.to_string()];
    let b = batch(&docs, &[]);
    let out = run_one(&mut c, &b, false);
    assert_eq!(rows(&out[0].run), [json!({"id": 1, "full_name": "a"})]);
}

#[test]
fn the_output_schema_is_made_once_per_input_schema() {
    let mut c = chain(&[
        ("transforms", "r"),
        ("transforms.r.type", "ReplaceField$Value"),
        ("transforms.r.include", "id"),
    ]);
    let mut conv = converter(true);
    let b1 = batch(&[user(1, 1)], &[]);
    let b2 = batch(&[user(2, 2)], &[]);
    let r1 = conv.convert(&tp(), &b1).unwrap().remove(0);
    let r2 = conv.convert(&tp(), &b2).unwrap().remove(0);
    let o1 = c.apply(&tp(), r1, &b1, false).unwrap().0.remove(0);
    let o2 = c.apply(&tp(), r2, &b2, false).unwrap().0.remove(0);
    assert!(Arc::ptr_eq(&o1.run.schema, &o2.run.schema));
    assert!(o1.run.datums.is_none());
}

#[test]
fn mask_field_uses_type_zeros_or_a_replacement() {
    let mut c = chain(&[
        ("transforms", "m,n"),
        ("transforms.m.type", "MaskField$Value"),
        ("transforms.m.fields", "ssn,age,score"),
        ("transforms.n.type", "MaskField$Value"),
        ("transforms.n.fields", "name"),
        ("transforms.n.replacement", "****"),
    ]);
    let b = batch(&[user(1, 30)], &[]);
    let row = &rows(&run_one(&mut c, &b, true)[0].run)[0];
    assert_eq!(row["ssn"], json!(""));
    assert_eq!(row["age"], json!(0));
    assert_eq!(row["score"], json!(0.0));
    assert_eq!(row["name"], json!("****"));

    let mut bad = chain(&[
        ("transforms", "m"),
        ("transforms.m.type", "MaskField$Value"),
        ("transforms.m.fields", "address"),
    ]);
    let e = bad.apply(&tp(), convert(true, &b), &b, false).unwrap_err();
    assert_eq!(e.offset, 100);
    assert!(
        e.to_string().contains("Cannot mask value of type STRUCT"),
        "{e}"
    );

    let docs = [r#"{"ssn":"x","n":5,"f":2.5,"ok":true,"tags":["a"]}"#.to_string()];
    let mut c = chain(&[
        ("transforms", "m"),
        ("transforms.m.type", "MaskField$Value"),
        ("transforms.m.fields", "ssn,n,f,ok,tags"),
    ]);
    let b = batch(&docs, &[]);
    assert_eq!(
        rows(&run_one(&mut c, &b, false)[0].run),
        [json!({"ssn":"","n":0,"f":0.0,"ok":false,"tags":[]})]
    );
}

#[test]
fn insert_field_adds_record_metadata() {
    let mut c = chain(&[
        ("transforms", "i"),
        (
            "transforms.i.type",
            "org.apache.kafka.connect.transforms.InsertField$Value",
        ),
        ("transforms.i.topic.field", "kafka_topic!"),
        ("transforms.i.partition.field", "kafka_partition"),
        ("transforms.i.offset.field", "kafka_offset"),
        ("transforms.i.timestamp.field", "kafka_ts"),
        ("transforms.i.static.field", "source"),
        ("transforms.i.static.value", "crm"),
    ]);
    let b = batch(&[user(1, 30), user(2, 31)], &[]);
    let out = run_one(&mut c, &b, true);
    let schema = out[0].run.schema.connect.clone().unwrap();
    let ConnectType::Struct(fields) = &schema.ty else {
        panic!("not a struct");
    };
    let added: Vec<(&str, bool)> = fields[7..]
        .iter()
        .map(|(n, s)| (n.as_str(), s.optional))
        .collect();
    assert_eq!(
        added,
        [
            ("kafka_topic", false),
            ("kafka_partition", true),
            ("kafka_offset", true),
            ("kafka_ts", true),
            ("source", true)
        ]
    );
    assert_eq!(
        fields[10].1.name.as_deref(),
        Some(lakesink_convert::schema::TIMESTAMP)
    );
    let r = &rows(&out[0].run)[1];
    assert_eq!(r["kafka_topic"], json!("users-raw"));
    assert_eq!(r["kafka_partition"], json!(2));
    assert_eq!(r["kafka_offset"], json!(101));
    assert_eq!(r["source"], json!("crm"));

    let docs = [r#"{"a":1}"#.to_string()];
    let b = batch(&docs, &[]);
    let r = &rows(&run_one(&mut c, &b, false)[0].run)[0];
    assert_eq!(
        r,
        &json!({"a":1,"kafka_topic":"users-raw","kafka_partition":2,"kafka_offset":100,"kafka_ts":1_709_296_496_789_i64,"source":"crm"})
    );
}

#[test]
fn cast_converts_fields_and_names_the_record_it_cannot() {
    let mut c = chain(&[
        ("transforms", "c"),
        ("transforms.c.type", "Cast$Value"),
        ("transforms.c.spec", "id:string,age:int8,score:string"),
    ]);
    let b = batch(&[user(1, 30)], &[]);
    let out = run_one(&mut c, &b, true);
    let r = &rows(&out[0].run)[0];
    assert_eq!(r["id"], json!("1"));
    assert_eq!(r["age"], json!(30));
    assert_eq!(r["score"], json!("1.5"));
    let b = batch(&[user(1, 30), user(2, 300)], &[]);
    let e = c.apply(&tp(), convert(true, &b), &b, false).unwrap_err();
    assert_eq!(e.offset, 101);
    assert!(
        e.message.contains("INT32 value 300 cannot be cast to INT8"),
        "{e}"
    );
    assert!(e.to_string().starts_with("record users-raw-2 offset 101: transform 'c' (org.apache.kafka.connect.transforms.Cast$Value) failed"), "{e}");
    // Tolerated: the other record goes on.
    let (out, failed) = c.apply(&tp(), convert(true, &b), &b, true).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(out[0].run.offsets, [100]);

    let docs = [r#"{"a":"12","b":3.9,"c":1,"d":1e10}"#.to_string()];
    let mut c = chain(&[
        ("transforms", "c"),
        ("transforms.c.type", "Cast$Value"),
        ("transforms.c.spec", "a:int32,b:int64,c:boolean,d:string"),
    ]);
    let b = batch(&docs, &[]);
    assert_eq!(
        rows(&run_one(&mut c, &b, false)[0].run),
        [json!({"a":12,"b":3,"c":true,"d":"1.0E10"})]
    );
}

#[test]
fn extract_field_takes_a_field_or_a_nested_path() {
    let mut c = chain(&[
        ("transforms", "e"),
        ("transforms.e.type", "ExtractField$Value"),
        ("transforms.e.field", "address"),
    ]);
    let b = batch(&[user(1, 30)], &[]);
    let out = run_one(&mut c, &b, true);
    assert_eq!(field_names(&out[0].run), ["city", "geo"]);
    assert_eq!(
        rows(&out[0].run)[0],
        json!({"city":"Oslo","geo":{"lat":59.9}})
    );

    let mut v2 = chain(&[
        ("transforms", "e"),
        ("transforms.e.type", "ExtractField$Value"),
        ("transforms.e.field", "address.geo.lat"),
        ("transforms.e.field.syntax.version", "V2"),
    ]);
    let out = run_one(&mut v2, &b, true);
    assert_eq!(rows(&out[0].run)[0], json!({"value": 59.9}));

    // A null field makes a null value, which behavior.on.null.values=ignore drops.
    let no_city = user(2, 1).replace(r#""city":"Oslo""#, r#""city":null"#);
    let b = batch(&[no_city, user(3, 1)], &[]);
    let mut city = chain(&[
        ("transforms", "e"),
        ("transforms.e.type", "ExtractField$Value"),
        ("transforms.e.field", "address.city"),
        ("transforms.e.field.syntax.version", "V2"),
    ]);
    let out = run_one(&mut city, &b, true);
    assert_eq!(out[0].run.offsets, [101]);

    let docs = [r#"{"a":{"b.c":{"d":7}}}"#.to_string()];
    let mut quoted = chain(&[
        ("transforms", "e"),
        ("transforms.e.type", "ExtractField$Value"),
        ("transforms.e.field", "a.`b.c`.d"),
        ("transforms.e.field.syntax.version", "V2"),
    ]);
    let b = batch(&docs, &[]);
    assert_eq!(rows(&run_one(&mut quoted, &b, false)[0].run), [json!(7)]);
}

#[test]
fn hoist_and_flatten() {
    let mut c = chain(&[
        ("transforms", "f,h"),
        ("transforms.f.type", "Flatten$Value"),
        ("transforms.f.delimiter", "_"),
        ("transforms.h.type", "HoistField$Value"),
        ("transforms.h.field", "user"),
    ]);
    let b = batch(&[user(1, 30)], &[]);
    let out = run_one(&mut c, &b, true);
    let r = &rows(&out[0].run)[0];
    assert_eq!(r["user"]["address_city"], json!("Oslo"));
    assert_eq!(r["user"]["address_geo_lat"], json!(59.9));
    assert_eq!(field_names(&out[0].run), ["user"]);

    let docs = [r#"{"a":{"b":{"c":1}},"l":[{"x":1}]}"#.to_string()];
    let b = batch(&docs, &[]);
    assert_eq!(
        rows(&run_one(&mut c, &b, false)[0].run),
        [json!({"user":{"a_b_c":1,"l":[{"x":1}]}})]
    );
}

#[test]
fn timestamp_converter_parses_and_formats_in_utc() {
    let mut c = chain(&[
        ("transforms", "t,u"),
        ("transforms.t.type", "TimestampConverter$Value"),
        ("transforms.t.field", "created"),
        ("transforms.t.target.type", "Timestamp"),
        ("transforms.t.format", "yyyy-MM-dd HH:mm:ss"),
        ("transforms.u.type", "TimestampConverter$Value"),
        ("transforms.u.field", "created"),
        ("transforms.u.target.type", "unix"),
        ("transforms.u.unix.precision", "seconds"),
    ]);
    let b = batch(&[user(1, 30)], &[]);
    let out = run_one(&mut c, &b, true);
    assert_eq!(rows(&out[0].run)[0]["created"], json!(1_709_296_496_i64));

    let mut s = chain(&[
        ("transforms", "t"),
        ("transforms.t.type", "TimestampConverter$Value"),
        ("transforms.t.field", "created"),
        ("transforms.t.target.type", "Date"),
        ("transforms.t.format", "yyyy-MM-dd HH:mm:ss"),
    ]);
    let out = run_one(&mut s, &b, true);
    let schema = out[0].run.schema.connect.clone().unwrap();
    let ConnectType::Struct(fields) = &schema.ty else {
        panic!()
    };
    assert_eq!(
        fields[5].1.name.as_deref(),
        Some(lakesink_convert::schema::DATE)
    );
    assert_eq!(rows(&out[0].run)[0]["created"], json!("2024-03-01"));

    let bad = user(2, 1).replace("2024-03-01 12:34:56", "March 1st");
    let b = batch(&[bad], &[]);
    let e = s.apply(&tp(), convert(true, &b), &b, false).unwrap_err();
    assert!(
        e.message
            .contains("does not match pattern (yyyy-MM-dd HH:mm:ss)"),
        "{e}"
    );
}

#[test]
fn routers_rename_the_topic() {
    let mut c = chain(&[
        ("transforms", "r"),
        ("transforms.r.type", "RegexRouter"),
        ("transforms.r.regex", "(.*)-raw"),
        ("transforms.r.replacement", "$1_clean"),
    ]);
    let b = batch(&[user(1, 30)], &[]);
    let out = run_one(&mut c, &b, true);
    assert_eq!(&*out[0].topic, "users_clean");
    // Datums stay: only the topic changed.
    let mut partial = chain(&[
        ("transforms", "r"),
        ("transforms.r.type", "RegexRouter"),
        ("transforms.r.regex", "users"),
        ("transforms.r.replacement", "x"),
    ]);
    assert_eq!(
        &*run_one(&mut partial, &b, true)[0].topic,
        "users-raw",
        "a full match is needed"
    );

    let mut t = chain(&[
        ("transforms", "t"),
        (
            "transforms.t.type",
            "org.apache.kafka.connect.transforms.TimestampRouter",
        ),
        ("transforms.t.topic.format", "${topic}-${timestamp}"),
        ("transforms.t.timestamp.format", "yyyyMMdd"),
    ]);
    let b = batch(&[user(1, 1), user(2, 2), user(3, 3)], &[]);
    let out = run_one(&mut t, &b, true);
    let topics: Vec<&str> = out.iter().map(|r| &*r.topic).collect();
    assert_eq!(
        topics,
        [
            "users-raw-20240301",
            "users-raw-20240302",
            "users-raw-20240303"
        ]
    );
}

#[test]
fn filter_with_header_and_topic_predicates() {
    let mut c = chain(&[
        ("transforms", "tag,drop"),
        ("transforms.tag.type", "InsertHeader"),
        ("transforms.tag.header", "seen"),
        ("transforms.tag.value.literal", "yes"),
        ("transforms.tag.predicate", "isTest"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "hasSeen"),
        ("predicates", "isTest,hasSeen"),
        ("predicates.isTest.type", "HasHeaderKey"),
        ("predicates.isTest.name", "test"),
        (
            "predicates.hasSeen.type",
            "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        ),
        ("predicates.hasSeen.name", "seen"),
    ]);
    let b = batch(
        &[user(1, 1), user(2, 2), user(3, 3), user(4, 4)],
        &[&[], &["test"], &["test"], &["other"]],
    );
    let out = run_one(&mut c, &b, true);
    let offsets: Vec<i64> = out.iter().flat_map(|r| r.run.offsets.clone()).collect();
    assert_eq!(offsets, [100, 103]);

    let mut keep_only = chain(&[
        ("transforms", "drop,strip"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "isUsers"),
        ("transforms.drop.negate", "true"),
        ("transforms.strip.type", "DropHeaders"),
        ("transforms.strip.headers", "test"),
        ("predicates", "isUsers"),
        ("predicates.isUsers.type", "TopicNameMatches"),
        ("predicates.isUsers.pattern", "users-.*"),
    ]);
    assert_eq!(
        run_one(&mut keep_only, &b, true)
            .iter()
            .map(|r| r.run.len())
            .sum::<usize>(),
        4
    );
    let other = TopicPartition::new("orders", 0);
    let (out, _) = keep_only
        .apply(&other, convert(true, &b), &b, false)
        .unwrap();
    assert!(out.is_empty());

    // DropHeaders hides a header from a later predicate.
    let mut dropped = chain(&[
        ("transforms", "strip,drop"),
        ("transforms.strip.type", "DropHeaders"),
        ("transforms.strip.headers", "test"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "isTest"),
        ("predicates", "isTest"),
        ("predicates.isTest.type", "HasHeaderKey"),
        ("predicates.isTest.name", "test"),
    ]);
    assert_eq!(
        run_one(&mut dropped, &b, true)
            .iter()
            .map(|r| r.run.len())
            .sum::<usize>(),
        4
    );
}

#[test]
fn header_from_moves_fields_out_of_the_value() {
    let mut c = chain(&[
        ("transforms", "h,drop"),
        ("transforms.h.type", "HeaderFrom$Value"),
        ("transforms.h.fields", "ssn"),
        ("transforms.h.headers", "pii"),
        ("transforms.h.operation", "move"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "noPii"),
        ("transforms.drop.negate", "true"),
        ("predicates", "noPii"),
        ("predicates.noPii.type", "HasHeaderKey"),
        ("predicates.noPii.name", "pii"),
    ]);
    let b = batch(&[user(1, 1)], &[]);
    let out = run_one(&mut c, &b, true);
    assert_eq!(
        out[0].run.len(),
        1,
        "the header was added, so the negated filter keeps it"
    );
    assert!(!field_names(&out[0].run).contains(&"ssn".to_string()));
}

#[test]
fn set_schema_metadata_and_key_variants() {
    let mut c = chain(&[
        ("transforms", "s,k,v"),
        ("transforms.s.type", "SetSchemaMetadata$Value"),
        ("transforms.s.schema.name", "com.example.Renamed"),
        ("transforms.s.schema.version", "7"),
        ("transforms.k.type", "ExtractField$Key"),
        ("transforms.k.field", "id"),
        ("transforms.v.type", "ValueToKey"),
        ("transforms.v.fields", "id"),
    ]);
    let b = batch(&[user(1, 1)], &[]);
    let out = run_one(&mut c, &b, true);
    let connect = out[0].run.schema.connect.clone().unwrap();
    assert_eq!(connect.name.as_deref(), Some("com.example.Renamed"));
    assert_eq!(connect.version, Some(7));
    assert_eq!(rows(&out[0].run)[0]["id"], json!(1));
}

#[test]
fn chains_over_schemaless_values_fail_on_non_objects() {
    let mut c = chain(&[
        ("transforms", "r"),
        ("transforms.r.type", "ReplaceField$Value"),
        ("transforms.r.exclude", "a"),
    ]);
    let docs = [r#"{"a":1}"#.to_string(), "[1,2]".to_string()];
    let b = batch(&docs, &[]);
    let e = c.apply(&tp(), convert(false, &b), &b, false).unwrap_err();
    assert_eq!(e.offset, 101);
    assert!(e.message.contains("Only Map objects supported in absence of schema for [field replacement], found: java.util.ArrayList"), "{e}");
}
