//! Runs the Avro compatibility matrix (`tests/data/avro_compat_matrix.json`): pairs of old/new
//! schemas with the BACKWARD, FORWARD and FULL verdicts that the Avro specification and Java's
//! `SchemaCompatibility` (used by Confluent Schema Registry) give. Every mismatch is listed
//! before the test fails, so one run shows the whole picture.

use apache_avro::Schema;
use lakesink_registry::compat::avro::{Incompatibility, check};
use serde_json::Value;

const MIN_CASES: usize = 60;

fn parse(case: &str, side: &str, json: &Value) -> Result<Schema, String> {
    Schema::parse_str(&json.to_string())
        .map_err(|e| format!("{case}: the {side} schema does not parse: {e}"))
}

fn describe(found: &[Incompatibility], reader: &str, writer: &str) -> String {
    if found.is_empty() {
        return "(no incompatibility)".into();
    }
    found
        .iter()
        .map(|i| format!("\n      {}", i.confluent_error(reader, writer)))
        .collect()
}

#[test]
fn avro_compatibility_matrix() {
    // Relative to the package root, where `cargo test` runs tests.
    let path = "tests/data/avro_compat_matrix.json";
    let text = std::fs::read_to_string(path).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(
        cases.len() >= MIN_CASES,
        "the matrix holds {} cases, fewer than {MIN_CASES}",
        cases.len()
    );

    let mut problems = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>");
        if !names.insert(name) {
            problems.push(format!("{name}: duplicate case name"));
        }
        if case["rule"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{name}: no rule cited"));
        }
        let (old, new) = match (
            parse(name, "old", &case["old"]),
            parse(name, "new", &case["new"]),
        ) {
            (Ok(old), Ok(new)) => (old, new),
            (old, new) => {
                problems.extend(old.err());
                problems.extend(new.err());
                continue;
            }
        };
        // BACKWARD: the new schema reads data written with the old one; FORWARD: the reverse.
        let backward = check(&new, &old);
        let forward = check(&old, &new);
        let got = [
            (
                "BACKWARD",
                backward.is_empty(),
                describe(&backward, "new", "old"),
            ),
            (
                "FORWARD",
                forward.is_empty(),
                describe(&forward, "old", "new"),
            ),
            (
                "FULL",
                backward.is_empty() && forward.is_empty(),
                String::from("(see BACKWARD and FORWARD)"),
            ),
        ];
        for (level, compatible, messages) in got {
            match case[level].as_bool() {
                Some(expected) if expected == compatible => {}
                Some(expected) => problems.push(format!(
                    "{name}: {level} expected {expected}, got {compatible}; messages: {messages}"
                )),
                None => problems.push(format!("{name}: {level} verdict missing")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches over {} cases:\n  {}",
        problems.len(),
        cases.len(),
        problems.join("\n  ")
    );
}
