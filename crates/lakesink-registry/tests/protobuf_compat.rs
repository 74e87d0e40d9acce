//! Protobuf: the data-driven compatibility cases in `data/protobuf_compat_cases.json` (each
//! `original` → `update` pair is BACKWARD-checked), plus parsing (references, well-known types,
//! base64 descriptors), the printed forms and error reporting.

use base64::Engine as _;
use lakesink_registry::compat::protobuf::incompatibilities;
use lakesink_registry::schema::protobuf::ProtobufSchema;
use prost::Message as _;
use serde_json::Value;

fn references(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap_or_default().to_owned(),
                        pair[1].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn data_driven_cases() {
    let data = include_str!("data/protobuf_compat_cases.json");
    let cases: Vec<Value> = serde_json::from_str(data).expect("cases file is JSON");
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let description = case["description"].as_str().unwrap_or("?");
        let original = ProtobufSchema::parse(
            case["original"].as_str().unwrap_or_default(),
            &references(&case["original_references"]),
        );
        let update = ProtobufSchema::parse(
            case["update"].as_str().unwrap_or_default(),
            &references(&case["update_references"]),
        );
        let (original, update) = match (original, update) {
            (Ok(o), Ok(u)) => (o, u),
            (o, u) => {
                failures.push(format!(
                    "{description}: did not parse: {:?} / {:?}",
                    o.err(),
                    u.err()
                ));
                continue;
            }
        };
        let expected = case["compatible"]
            .as_bool()
            .expect("compatible is a boolean");
        let messages = incompatibilities(&original, &update);
        if messages.is_empty() != expected {
            failures.push(format!(
                "{description}: expected compatible={expected}, got {messages:?}"
            ));
        }
        // Re-printing must not change the verdict.
        let reprinted =
            ProtobufSchema::parse(&update.canonical(), &references(&case["update_references"]));
        match reprinted {
            Ok(reprinted) => {
                if incompatibilities(&original, &reprinted).is_empty() != expected {
                    failures.push(format!("{description}: verdict changed after re-printing"));
                }
            }
            Err(e) => failures.push(format!("{description}: canonical() did not re-parse: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

const MONEY: &str = "syntax = \"proto3\";\npackage shared;\n\nmessage Money {\n  int64 units = 1;\n  string currency = 2;\n}\n";

const ORDER: &str = r#"syntax = "proto3";
package shop;

import "money.proto";
import "google/protobuf/timestamp.proto";

option java_package = "com.example.shop";
option java_multiple_files = true;

message Order {
  reserved 7, 10 to 12;
  reserved "legacy";
  int64 id = 1;
  shared.Money total = 2;
  google.protobuf.Timestamp placed_at = 3;
  map<string, Line> lines = 4;
  repeated string tags = 5;
  optional string note = 6;
  oneof payment {
    string card = 8;
    string iban = 9;
  }
  Status status = 13;

  message Line {
    string sku = 1;
    int32 quantity = 2;
  }
  enum Status {
    STATUS_UNKNOWN = 0;
    STATUS_PAID = 1;
  }
}

message Refund {
  int64 order_id = 1;
}
"#;

fn order() -> ProtobufSchema {
    ProtobufSchema::parse(ORDER, &[("money.proto".to_owned(), MONEY.to_owned())])
        .expect("order schema parses")
}

#[test]
fn reference_import_and_well_known_type_resolve() {
    let schema = order();
    assert_eq!(schema.message_names(), vec!["shop.Order", "shop.Refund"]);
    let pool = schema.pool();
    assert!(pool.get_message_by_name("shared.Money").is_some());
    assert!(
        pool.get_message_by_name("google.protobuf.Timestamp")
            .is_some()
    );
    let order = pool.get_message_by_name("shop.Order").expect("Order");
    assert_eq!(
        order.get_field(2).map(|f| f.full_name().to_owned()),
        Some("shop.Order.total".to_owned())
    );
    assert!(order.get_field(4).is_some_and(|f| f.is_map()));
    assert_eq!(schema.file().package_name(), "shop");
}

#[test]
fn canonical_prints_proto_text_that_round_trips() {
    let schema = order();
    let text = schema.canonical();
    for expected in [
        "syntax = \"proto3\";\npackage shop;\n\nimport \"money.proto\";\nimport \"google/protobuf/timestamp.proto\";\n",
        "option java_package = \"com.example.shop\";\n",
        "option java_multiple_files = true;\n",
        "message Order {\n  reserved 7;\n  reserved 10 to 12;\n  reserved \"legacy\";\n\n  int64 id = 1;\n",
        "  shared.Money total = 2;\n",
        "  map<string, Line> lines = 4;\n",
        "  repeated string tags = 5;\n",
        "  optional string note = 6;\n",
        "  oneof payment {\n    string card = 8;\n    string iban = 9;\n  }\n",
        "  enum Status {\n    STATUS_UNKNOWN = 0;\n    STATUS_PAID = 1;\n  }\n",
        "message Refund {\n  int64 order_id = 1;\n}\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let again = ProtobufSchema::parse(&text, &[("money.proto".to_owned(), MONEY.to_owned())])
        .unwrap_or_else(|e| panic!("canonical text did not parse: {e}\n{text}"));
    assert_eq!(again.canonical(), text);
    assert_eq!(again.message_names(), schema.message_names());
    assert_eq!(
        again.file().file_descriptor_proto().message_type,
        schema
            .file()
            .file_descriptor_proto()
            .message_type
            .iter()
            .map(|m| {
                // Printing groups oneof members after the other fields, as Confluent does.
                let mut m = m.clone();
                m.field
                    .sort_by_key(|f| (f.oneof_index.is_some() && !f.proto3_optional(), 0));
                m
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn captured_confluent_text_is_reproduced() {
    // CP 7.4.0 stored this for `message User { int32 id = 1; }` registered as proto3 source.
    let schema = ProtobufSchema::parse("syntax = \"proto3\";\nmessage User { int32 id = 1; }", &[])
        .expect("parses");
    assert_eq!(
        schema.canonical(),
        "syntax = \"proto3\";\n\nmessage User {\n  int32 id = 1;\n}\n"
    );
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lakesink-registry-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn base64_descriptor_parses_and_prints_as_proto_text() {
    let dir = temp_dir("b64");
    std::fs::write(dir.join("money.proto"), MONEY).expect("write");
    std::fs::write(dir.join("order.proto"), ORDER).expect("write");
    let set = protox::compile(["order.proto"], [&dir]).expect("protox compiles");
    let _ = std::fs::remove_dir_all(&dir);
    let encode = |name: &str| {
        let file = set
            .file
            .iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("{name} in set"));
        base64::engine::general_purpose::STANDARD.encode(file.encode_to_vec())
    };
    let set_with_imports = {
        let dir = temp_dir("b64-money");
        std::fs::write(dir.join("money.proto"), MONEY).expect("write");
        let set = protox::compile(["money.proto"], [&dir]).expect("protox compiles");
        let _ = std::fs::remove_dir_all(&dir);
        set
    };
    let money_b64 =
        base64::engine::general_purpose::STANDARD.encode(set_with_imports.file[0].encode_to_vec());
    // As confluent-kafka-python registers it: the schema and its reference both base64.
    let schema = ProtobufSchema::parse(
        &encode("order.proto"),
        &[("money.proto".to_owned(), money_b64)],
    )
    .expect("base64 descriptor parses");
    assert_eq!(schema.file().name(), "order.proto");
    assert_eq!(schema.message_names(), vec!["shop.Order", "shop.Refund"]);
    let text = schema.canonical();
    assert!(
        text.starts_with("syntax = \"proto3\";\npackage shop;\n"),
        "{text}"
    );
    assert!(text.contains("  .shared.Money total = 2;\n"), "{text}");
    assert!(
        text.contains("  map<string, .shop.Order.Line> lines = 4;\n"),
        "{text}"
    );
    let reparsed = ProtobufSchema::parse(&text, &[("money.proto".to_owned(), MONEY.to_owned())])
        .unwrap_or_else(|e| panic!("printed text did not parse: {e}\n{text}"));
    assert_eq!(reparsed.message_names(), schema.message_names());
    let text_form = order();
    assert!(incompatibilities(&text_form, &schema).is_empty());
    assert!(incompatibilities(&schema, &text_form).is_empty());
    assert!(incompatibilities(&reparsed, &schema).is_empty());
    assert_eq!(reparsed.normalized(), text_form.normalized());
}

#[test]
fn serialized_is_the_descriptor_in_base64() {
    let schema = order();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(schema.serialized())
        .expect("base64");
    let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor");
    assert_eq!(file.package(), "shop");
    assert!(file.source_code_info.is_none());
    let names: Vec<&str> = file.message_type.iter().map(|m| m.name()).collect();
    assert_eq!(names, vec!["Order", "Refund"]);
    let again = ProtobufSchema::parse(
        &schema.serialized(),
        &[("money.proto".to_owned(), MONEY.to_owned())],
    )
    .expect("serialized form parses");
    assert_eq!(again.message_names(), schema.message_names());
}

#[test]
fn message_names_keep_file_order() {
    let schema = ProtobufSchema::parse(
        "syntax = \"proto3\";\npackage p;\nenum E { E0 = 0; }\nmessage Zed { message Inner {} }\nmessage Alpha {}\nmessage Mid { Zed.Inner i = 1; }\n",
        &[],
    )
    .expect("parses");
    assert_eq!(schema.message_names(), vec!["p.Zed", "p.Alpha", "p.Mid"]);
    let no_package = ProtobufSchema::parse("message B {}\nmessage A {}", &[]).expect("parses");
    assert_eq!(no_package.message_names(), vec!["B", "A"]);
}

#[test]
fn normalized_ignores_order_and_spelling() {
    let a = ProtobufSchema::parse(
        "syntax = \"proto3\";\npackage p;\nimport \"google/protobuf/timestamp.proto\";\nimport \"google/protobuf/duration.proto\";\noption java_package = \"x\";\noption go_package = \"y\";\nmessage M {\n  google.protobuf.Timestamp t = 2;\n  int32 a = 1;\n  N n = 3;\n  message N {}\n}\n",
        &[],
    )
    .expect("parses");
    let b = ProtobufSchema::parse(
        "syntax = \"proto3\";\npackage p;\nimport \"google/protobuf/duration.proto\";\nimport \"google/protobuf/timestamp.proto\";\noption go_package = \"y\";\noption java_package = \"x\";\nmessage M {\n  int32 a = 1;\n  .google.protobuf.Timestamp t = 2;\n  .p.M.N n = 3;\n  message N {}\n}\n",
        &[],
    )
    .expect("parses");
    assert_ne!(a.canonical(), b.canonical());
    assert_eq!(a.normalized(), b.normalized());
    assert!(
        a.normalized()
            .contains("  .google.protobuf.Timestamp t = 2;\n")
    );
    // proto2 is the default syntax, so the normalized form leaves it out.
    let p2 = ProtobufSchema::parse(
        "syntax = \"proto2\";\nmessage M { optional int32 a = 1; }",
        &[],
    )
    .expect("parses");
    assert_eq!(
        p2.normalized(),
        "\nmessage M {\n  optional int32 a = 1;\n}\n"
    );
}

#[test]
fn proto2_features_round_trip() {
    let text = "syntax = \"proto2\";\npackage p;\n\nmessage M {\n  required int32 a = 1 [default = 5];\n  optional string s = 2 [default = \"x\\\"y\"];\n  repeated int64 r = 3 [packed = true];\n  extensions 100 to max;\n}\nextend M {\n  optional int32 ext = 100;\n}\n";
    let schema = ProtobufSchema::parse(text, &[]).expect("parses");
    let printed = schema.canonical();
    assert!(
        printed.contains("  required int32 a = 1 [default = 5];\n"),
        "{printed}"
    );
    assert!(
        printed.contains("  optional string s = 2 [default = \"x\\\"y\"];\n"),
        "{printed}"
    );
    assert!(printed.contains("  extensions 100 to max;\n"), "{printed}");
    assert!(
        printed.contains("extend M {\n  optional int32 ext = 100;\n}\n"),
        "{printed}"
    );
    let again = ProtobufSchema::parse(&printed, &[]).expect("re-parses");
    assert_eq!(again.canonical(), printed);
}

#[test]
fn errors_name_the_problem_and_place() {
    let err = ProtobufSchema::parse("syntax = \"proto3\";\nmessage A {\n  int32 a = 1\n}\n", &[])
        .expect_err("syntax error");
    assert!(err.contains("line 4, column 1"), "{err}");
    assert!(err.contains("expected ';'"), "{err}");
    let err = ProtobufSchema::parse(
        "syntax = \"proto3\";\nmessage A {\n  Missing m = 1;\n}\n",
        &[],
    )
    .expect_err("unknown type");
    assert!(
        err.contains("Missing") && err.contains("line 3, column 3"),
        "{err}"
    );
    let err = ProtobufSchema::parse(
        "syntax = \"proto3\";\nimport \"other.proto\";\nmessage A {}\n",
        &[],
    )
    .expect_err("missing import");
    assert!(err.contains("other.proto"), "{err}");
    let err = ProtobufSchema::parse(
        "syntax = \"proto3\";\nimport \"other.proto\";\nmessage A { B b = 1; }\n",
        &[(
            "other.proto".to_owned(),
            "syntax = \"proto3\";\nmessage B {\n  Nope n = 1;\n}\n".to_owned(),
        )],
    )
    .expect_err("bad reference");
    assert!(err.contains("other.proto") && err.contains("Nope"), "{err}");
    let err = ProtobufSchema::parse(
        "syntax = \"proto3\";\nmessage A {\n  int32 a = 1;\n  string b = 1;\n}\n",
        &[],
    )
    .expect_err("duplicate number");
    assert!(err.contains("line 4"), "{err}");
    assert!(ProtobufSchema::parse("", &[]).is_err());
    assert!(ProtobufSchema::parse("not a schema", &[]).is_err());
}

#[test]
fn messages_read_like_confluents() {
    let old = ProtobufSchema::parse(
        "syntax = \"proto3\";\nmessage A { int32 a = 1; }\nmessage Extra {}\n",
        &[],
    )
    .expect("parses");
    let new = ProtobufSchema::parse("syntax = \"proto3\";\nmessage A { string a = 1; }\n", &[])
        .expect("parses");
    assert_eq!(
        incompatibilities(&old, &new),
        vec![
            "{errorType:\"FIELD_SCALAR_KIND_CHANGED\", description:\"The kind of a SCALAR field at path '#/A/1' in the new schema does not match its kind in the old schema\"}".to_owned(),
            "{errorType:\"MESSAGE_REMOVED\", description:\"The new schema is missing a MESSAGE type at path '#/Extra' in the old schema\"}".to_owned(),
        ]
    );
}

#[test]
fn confluent_meta_and_decimal_resolve_without_references() {
    let text = "syntax = \"proto3\";\nimport \"confluent/meta.proto\";\nimport \"confluent/type/decimal.proto\";\n\nmessage Payment {\n  confluent.type.Decimal amount = 1 [(confluent.field_meta) = { params: [{ key: \"precision\", value: \"10\" }] }];\n  string note = 2 [(confluent.field_meta).doc = \"free text\"];\n}\n";
    let schema = ProtobufSchema::parse(text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let printed = schema.canonical();
    assert!(
        printed.contains("  string note = 2 [(confluent.field_meta) = { doc: \"free text\" }];\n"),
        "{printed}"
    );
    let again = ProtobufSchema::parse(&printed, &[]).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again.canonical(), printed);
    assert!(incompatibilities(&schema, &again).is_empty());
}
