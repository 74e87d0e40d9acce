//! JSON Schema: the data-driven compatibility cases in `data/json_compat_cases.json` (each
//! `original` → `update` pair is BACKWARD-checked: is every document valid under `original`
//! still valid under `update`?), plus the public parsing and canonical-form behaviour.

use lakesink_registry::compat::json::incompatibilities;
use lakesink_registry::schema::json::JsonSchema;
use serde_json::Value;

fn schema_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn data_driven_cases() {
    let data = include_str!("data/json_compat_cases.json");
    let cases: Vec<Value> = serde_json::from_str(data).expect("cases file is JSON");
    assert!(cases.len() >= 25, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let description = case["description"].as_str().unwrap_or("?");
        let original = JsonSchema::parse(&schema_text(&case["original"]), &[]);
        let update = JsonSchema::parse(&schema_text(&case["update"]), &[]);
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
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn canonical_is_compact_with_order_and_numbers_kept() {
    let schema = JsonSchema::parse(
        "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"z\": {\"type\": \"number\", \"maximum\": 10.50},\n    \"a\": {\"type\": \"string\"}\n  }\n}\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        schema.canonical(),
        r#"{"type":"object","properties":{"z":{"type":"number","maximum":10.50},"a":{"type":"string"}}}"#
    );
    assert_eq!(
        schema.normalized(),
        r#"{"properties":{"a":{"type":"string"},"z":{"maximum":10.50,"type":"number"}},"type":"object"}"#
    );
}

#[test]
fn normalized_equal_for_key_order_and_whitespace() {
    let a = JsonSchema::parse(
        r#"{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}}"#,
        &[],
    )
    .unwrap();
    let b = JsonSchema::parse(
        "{ \"properties\" : { \"a\" : { \"type\" : \"string\" } }, \"required\" : [ \"a\" ], \"type\" : \"object\" }",
        &[],
    )
    .unwrap();
    assert_ne!(a.canonical(), b.canonical());
    assert_eq!(a.normalized(), b.normalized());
}

#[test]
fn invalid_schemas_are_rejected_with_the_reason() {
    let err = JsonSchema::parse("{\"type\": \"object\",", &[]).unwrap_err();
    assert!(err.starts_with("Invalid JSON"), "{err}");
    assert!(err.contains("line 1"), "{err}");
    let err = JsonSchema::parse("[1, 2]", &[]).unwrap_err();
    assert!(err.contains("must be a JSON object or a boolean"), "{err}");
    let err = JsonSchema::parse("42", &[]).unwrap_err();
    assert!(err.contains("found a number"), "{err}");
    let err = JsonSchema::parse(
        r#"{"type":"object","properties":{"a":{"type":"text"}}}"#,
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("unknown type 'text'") && err.contains("#/properties/a"),
        "{err}"
    );
    let err = JsonSchema::parse(r#"{"type":["string", 5]}"#, &[]).unwrap_err();
    assert!(err.contains("type"), "{err}");
    let err = JsonSchema::parse(r#"{"properties":{"a":"string"}}"#, &[]).unwrap_err();
    assert!(err.contains("#/properties/a"), "{err}");
    assert!(JsonSchema::parse("true", &[]).is_ok());
    assert!(JsonSchema::parse("{}", &[]).is_ok());
}

#[test]
fn references_are_resolved_by_name() {
    let address = r#"{"type":"object","properties":{"street":{"type":"string"}}}"#;
    let refs = vec![("address.json".to_owned(), address.to_owned())];
    let v1 = JsonSchema::parse(
        r#"{"type":"object","properties":{"home":{"$ref":"address.json"}}}"#,
        &refs,
    )
    .unwrap();
    // The same shape inline is equivalent to the reference.
    let v2 = JsonSchema::parse(
        r#"{"type":"object","properties":{"home":{"type":"object","properties":{"street":{"type":"string"}}}}}"#,
        &[],
    )
    .unwrap();
    assert!(incompatibilities(&v1, &v2).is_empty());
    assert!(incompatibilities(&v2, &v1).is_empty());
    // A changed referenced schema is seen through the reference.
    let changed = vec![(
        "address.json".to_owned(),
        r#"{"type":"object","properties":{"street":{"type":"integer"}}}"#.to_owned(),
    )];
    let v3 = JsonSchema::parse(
        r#"{"type":"object","properties":{"home":{"$ref":"address.json"}}}"#,
        &changed,
    )
    .unwrap();
    assert_eq!(incompatibilities(&v1, &v3).len(), 1);
    let err = JsonSchema::parse(r#"{"$ref":"missing.json"}"#, &[]).unwrap_err();
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn messages_read_like_confluents() {
    let closed = JsonSchema::parse(
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":false}"#,
        &[],
    )
    .unwrap();
    let fewer = JsonSchema::parse(
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        &[],
    )
    .unwrap();
    assert_eq!(
        incompatibilities(&closed, &fewer),
        vec![
            "{errorType:\"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL\", description:\"The new has a closed content model and is missing a property or item present at path '#/properties/b' in the old schema'}"
                .to_owned()
        ]
    );
    let narrowed = JsonSchema::parse(r#"{"type":"integer"}"#, &[]).unwrap();
    let wide = JsonSchema::parse(r#"{"type":"number"}"#, &[]).unwrap();
    assert_eq!(
        incompatibilities(&wide, &narrowed),
        vec![
            "{errorType:\"TYPE_NARROWED\", description:\"A type at path '#/' is different between the new schema and the old schema'}"
                .to_owned()
        ]
    );
}
