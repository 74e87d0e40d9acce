//! Compatibility checks between schema versions, per Confluent's levels.

/// Defines `DifferenceType`, the difference kinds a checker reports under Confluent's names,
/// with `as_str` giving the name (shared by the JSON Schema and Protobuf checkers).
macro_rules! difference_types {
    ($doc:literal, $($name:ident),* $(,)?) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum DifferenceType { $($name),* }

        impl DifferenceType {
            pub fn as_str(self) -> &'static str {
                match self { $(DifferenceType::$name => stringify!($name)),* }
            }
        }
    };
}

pub mod avro;
pub mod json;
pub mod protobuf;

use crate::schema::ParsedSchema;

/// A compatibility level (`schema.compatibility.level`, `PUT /config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::None,
        Level::Backward,
        Level::BackwardTransitive,
        Level::Forward,
        Level::ForwardTransitive,
        Level::Full,
        Level::FullTransitive,
    ];

    /// Case-insensitive, as Confluent accepts it.
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Checked against every earlier version, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

/// An earlier version to check a new schema against.
pub struct Previous<'a> {
    pub version: i32,
    pub schema: &'a ParsedSchema,
    /// The stored schema text, quoted in messages as Confluent does.
    pub text: &'a str,
}

/// The messages explaining why `new` is not compatible under `level` with `previous`
/// (newest first; all of them for transitive levels, else only the first is used). Empty =
/// compatible. Like Confluent, checking stops at the first incompatible version.
pub fn check(level: Level, new: &ParsedSchema, previous: &[Previous<'_>]) -> Vec<String> {
    if level == Level::None {
        return Vec::new();
    }
    let against = if level.transitive() {
        previous
    } else {
        &previous[..previous.len().min(1)]
    };
    for old in against {
        let mut messages = differences(level, new, old.schema);
        if !messages.is_empty() {
            messages.push(format!("{{oldSchemaVersion: {}}}", old.version));
            messages.push(format!("{{oldSchema: '{}'}}", old.text));
            messages.push(format!(
                "{{validateFields: 'false', compatibility: '{}'}}",
                level.as_str()
            ));
            return messages;
        }
    }
    Vec::new()
}

fn differences(level: Level, new: &ParsedSchema, old: &ParsedSchema) -> Vec<String> {
    let mut out = Vec::new();
    match (new, old) {
        (ParsedSchema::Avro(n), ParsedSchema::Avro(o)) => {
            // Confluent lists the FORWARD problems (old schema reading new data) first.
            if level.forward() {
                for i in
                    avro::check_in_context(&o.schema, &o.dependencies, &n.schema, &n.dependencies)
                {
                    out.push(i.confluent_error("old", "new"));
                }
            }
            if level.backward() {
                for i in
                    avro::check_in_context(&n.schema, &n.dependencies, &o.schema, &o.dependencies)
                {
                    out.push(i.confluent_error("new", "old"));
                }
            }
        }
        (ParsedSchema::Json(n), ParsedSchema::Json(o)) => {
            if level.forward() {
                out.extend(json::incompatibilities_named(n, o, "old", "new"));
            }
            if level.backward() {
                out.extend(json::incompatibilities_named(o, n, "new", "old"));
            }
        }
        (ParsedSchema::Protobuf(n), ParsedSchema::Protobuf(o)) => {
            if level.forward() {
                out.extend(protobuf::incompatibilities_named(n, o, "old", "new"));
            }
            if level.backward() {
                out.extend(protobuf::incompatibilities_named(o, n, "new", "old"));
            }
        }
        _ => out.push(format!(
            "Incompatible because of different schema type: {} vs {}",
            new.schema_type().as_str(),
            old.schema_type().as_str()
        )),
    }
    out
}
