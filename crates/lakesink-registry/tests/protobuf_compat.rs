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
    // Confluent prints a descriptor's map as the repeated entry field plus the entry message
    // (`ProtobufSchema.toMessage` keeps every nested type), not as `map<K, V>`: message
    // indexes count the entry type, so the text must declare it where the descriptor has it.
    assert!(
        text.contains("  repeated .shop.Order.LinesEntry lines = 4;\n"),
        "{text}"
    );
    assert!(
        text.contains("  message LinesEntry {\n    option map_entry = true;\n  \n    string key = 1;\n    .shop.Order.Line value = 2;\n  }\n"),
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

// Message indexes and maps. A serializer numbers nested messages by their place in its
// descriptor's `nested_type`, map entry types included (confluent-kafka-python's
// `_create_index_array`); Confluent's deserializer numbers the message elements of the
// registry's text (`ProtobufSchema.toMessageName`).

fn scalar(
    name: &str,
    number: i32,
    ty: prost_types::field_descriptor_proto::Type,
) -> prost_types::FieldDescriptorProto {
    prost_types::FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        label: Some(prost_types::field_descriptor_proto::Label::Optional as i32),
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

fn message_field(
    name: &str,
    number: i32,
    type_name: &str,
    label: prost_types::field_descriptor_proto::Label,
) -> prost_types::FieldDescriptorProto {
    prost_types::FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(prost_types::field_descriptor_proto::Type::Message as i32),
        type_name: Some(type_name.to_owned()),
        ..Default::default()
    }
}

/// `p.Header`, then `p.Outer` with a `map<string, int64>` field whose entry type comes before
/// the nested messages `First` and `Second` (where protoc puts it for a map declared first),
/// and `Second` again with a map before its nested `Deep`.
fn map_first_descriptor() -> prost_types::FileDescriptorProto {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, MessageOptions};
    let entry = |name: &str, value: Type| DescriptorProto {
        name: Some(name.to_owned()),
        field: vec![scalar("key", 1, Type::String), scalar("value", 2, value)],
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let message = |name: &str, field: Vec<prost_types::FieldDescriptorProto>| DescriptorProto {
        name: Some(name.to_owned()),
        field,
        ..Default::default()
    };
    let second = DescriptorProto {
        nested_type: vec![
            entry("LabelsEntry", Type::String),
            message("Deep", vec![scalar("flag", 1, Type::Bool)]),
        ],
        ..message(
            "Second",
            vec![
                message_field("labels", 1, ".p.Outer.Second.LabelsEntry", Label::Repeated),
                message_field("deep", 2, ".p.Outer.Second.Deep", Label::Optional),
            ],
        )
    };
    let outer = DescriptorProto {
        nested_type: vec![
            entry("AttrsEntry", Type::Int64),
            message("First", vec![scalar("name", 1, Type::String)]),
            second,
        ],
        ..message(
            "Outer",
            vec![
                message_field("attrs", 1, ".p.Outer.AttrsEntry", Label::Repeated),
                message_field("first", 2, ".p.Outer.First", Label::Optional),
                message_field("second", 3, ".p.Outer.Second", Label::Optional),
            ],
        )
    };
    prost_types::FileDescriptorProto {
        name: Some("p/outer.proto".to_owned()),
        package: Some("p".to_owned()),
        syntax: Some("proto3".to_owned()),
        message_type: vec![
            message("Header", vec![scalar("source", 1, Type::String)]),
            outer,
        ],
        ..Default::default()
    }
}

/// Every message of `file` but map entries, with the indexes a serializer writes for it.
fn producer_indexes(file: &prost_types::FileDescriptorProto) -> Vec<(String, Vec<i32>)> {
    fn walk(
        messages: &[prost_types::DescriptorProto],
        scope: &str,
        path: &[i32],
        out: &mut Vec<(String, Vec<i32>)>,
    ) {
        for (i, m) in messages.iter().enumerate() {
            let name = format!("{scope}{}", m.name());
            let mut indexes = path.to_vec();
            indexes.push(i as i32);
            walk(&m.nested_type, &format!("{name}."), &indexes, out);
            if !m.options.as_ref().is_some_and(|o| o.map_entry()) {
                out.push((name, indexes));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &file.message_type,
        &format!("{}.", file.package()),
        &[],
        &mut out,
    );
    out
}

/// The message `indexes` name in `schema`, counted as Confluent's deserializer counts them.
fn resolve(schema: &ProtobufSchema, indexes: &[i32]) -> Option<String> {
    let (first, rest) = indexes.split_first()?;
    let mut message = schema
        .file()
        .messages()
        .nth(usize::try_from(*first).ok()?)?;
    for i in rest {
        message = schema
            .nested_messages(&message)
            .get(usize::try_from(*i).ok()?)?
            .clone();
    }
    Some(message.full_name().to_owned())
}

#[test]
fn descriptor_maps_print_as_entry_messages_and_keep_message_indexes() {
    let descriptor = map_first_descriptor();
    let b64 = base64::engine::general_purpose::STANDARD.encode(descriptor.encode_to_vec());
    let schema = ProtobufSchema::parse(&b64, &[]).unwrap_or_else(|e| panic!("{e}"));
    let text = schema.canonical();
    // As Confluent prints a registered descriptor: the entry messages stay where the
    // descriptor has them, so the text counts nested messages as the producer does.
    assert_eq!(
        text,
        "syntax = \"proto3\";
package p;

message Header {
  string source = 1;
}
message Outer {
  repeated .p.Outer.AttrsEntry attrs = 1;
  .p.Outer.First first = 2;
  .p.Outer.Second second = 3;

  message AttrsEntry {
    option map_entry = true;
  
    string key = 1;
    int64 value = 2;
  }
  message First {
    string name = 1;
  }
  message Second {
    repeated .p.Outer.Second.LabelsEntry labels = 1;
    .p.Outer.Second.Deep deep = 2;
  
    message LabelsEntry {
      option map_entry = true;
    
      string key = 1;
      string value = 2;
    }
    message Deep {
      bool flag = 1;
    }
  }
}
"
    );

    // The text parses back (as a registry re-reads what it stored) and prints the same.
    let reparsed = ProtobufSchema::parse(&text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(reparsed.canonical(), text);
    let outer = reparsed
        .pool()
        .get_message_by_name("p.Outer")
        .expect("p.Outer");
    assert!(outer.get_field(1).is_some_and(|f| f.is_map()));
    assert!(incompatibilities(&schema, &reparsed).is_empty());
    assert!(incompatibilities(&reparsed, &schema).is_empty());
    // Normalized, the entry messages are hidden and the maps are `map<K, V>` again, as
    // Confluent's normalized form has them.
    let normalized = schema.normalized();
    assert!(
        normalized.contains("  map<string, int64> attrs = 1;\n") && !normalized.contains("Entry"),
        "{normalized}"
    );
    assert_eq!(reparsed.normalized(), normalized);

    let serialized =
        ProtobufSchema::parse(&reparsed.serialized(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let producer = producer_indexes(&descriptor);
    assert_eq!(
        producer,
        vec![
            ("p.Header".to_owned(), vec![0]),
            ("p.Outer.First".to_owned(), vec![1, 1]),
            ("p.Outer.Second.Deep".to_owned(), vec![1, 2, 1]),
            ("p.Outer.Second".to_owned(), vec![1, 2]),
            ("p.Outer".to_owned(), vec![1]),
        ]
    );
    for (name, indexes) in &producer {
        for (form, consumer) in [
            ("descriptor", &schema),
            ("printed text", &reparsed),
            ("serialized", &serialized),
        ] {
            assert_eq!(
                resolve(consumer, indexes).as_deref(),
                Some(name.as_str()),
                "{indexes:?} from the {form}"
            );
        }
    }
}

#[test]
fn source_maps_stay_map_fields_and_do_not_count_as_messages() {
    // Registered as source, maps print as written and their entry types are no messages of
    // the text: a serializer working from this text (Confluent's Java one) counts First as 0.
    let text = "syntax = \"proto3\";\npackage p;\n\nmessage Outer {\n  map<string, int64> attrs = 1;\n  First first = 2;\n  Second second = 3;\n\n  message First {\n    string name = 1;\n  }\n  message Second {\n    map<string, string> labels = 1;\n    Deep deep = 2;\n  \n    message Deep {\n      bool flag = 1;\n    }\n  }\n}\n";
    let schema = ProtobufSchema::parse(text, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schema.canonical(), text);
    for (indexes, name) in [
        (vec![0, 0], "p.Outer.First"),
        (vec![0, 1], "p.Outer.Second"),
        (vec![0, 1, 0], "p.Outer.Second.Deep"),
    ] {
        assert_eq!(
            resolve(&schema, &indexes).as_deref(),
            Some(name),
            "{indexes:?}"
        );
    }
    assert_eq!(resolve(&schema, &[0, 2]), None);
    // The serialized descriptor has the entry types after the declared messages, as
    // Confluent's has them, so counting its `nested_type` (confluent-kafka-python's
    // deserializer) gives the same messages.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(schema.serialized())
        .expect("base64");
    let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor");
    let outer = &file.message_type[0];
    let names: Vec<&str> = outer.nested_type.iter().map(|m| m.name()).collect();
    assert_eq!(names, vec!["First", "Second", "AttrsEntry"]);
    let second: Vec<&str> = outer.nested_type[1]
        .nested_type
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(second, vec!["Deep", "LabelsEntry"]);
    for (name, indexes) in producer_indexes(&file) {
        assert_eq!(resolve(&schema, &indexes), Some(name), "{indexes:?}");
    }

    // Text that declares an entry message (as Confluent prints a registered descriptor)
    // counts it, where it stands.
    let declared = "syntax = \"proto3\";\npackage p;\n\nmessage Outer {\n  repeated .p.Outer.AttrsEntry attrs = 1;\n  .p.Outer.First first = 2;\n\n  message AttrsEntry {\n    option map_entry = true;\n  \n    string key = 1;\n    int64 value = 2;\n  }\n  message First {\n    string name = 1;\n  }\n}\n";
    let schema = ProtobufSchema::parse(declared, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schema.canonical(), declared);
    assert_eq!(resolve(&schema, &[0, 1]).as_deref(), Some("p.Outer.First"));
    assert_eq!(
        resolve(&schema, &[0, 0]).as_deref(),
        Some("p.Outer.AttrsEntry")
    );
}
