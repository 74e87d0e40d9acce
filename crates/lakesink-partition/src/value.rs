//! Finding a (possibly nested) field of the converted values: in typed Arrow columns, or in
//! each row's schemaless JSON text.

use std::borrow::Cow;
use std::fmt;

use arrow_array::cast::AsArray;
use arrow_array::{Array, LargeStringArray, RecordBatch, StringArray, StructArray};
use arrow_schema::DataType;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::PartitionerConfigError;

/// A configured field name and its dotted path (`meta.ts` → `["meta", "ts"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    pub name: String,
    pub parts: Vec<String>,
}

impl FieldPath {
    pub(crate) fn parse(name: &str, key: &str) -> Result<FieldPath, PartitionerConfigError> {
        let name = name.trim();
        let parts: Vec<String> = name.split('.').map(str::to_string).collect();
        if name.is_empty() || parts.iter().any(String::is_empty) {
            return Err(PartitionerConfigError {
                key: key.into(),
                message: format!("'{name}' is not a field name or dotted path such as 'meta.ts'"),
            });
        }
        Ok(FieldPath {
            name: name.into(),
            parts,
        })
    }
}

/// A nested column of a batch and the struct columns above it.
pub(crate) struct ArrowPath<'a> {
    pub leaf: &'a dyn Array,
    /// A null parent struct makes the field null, whatever the child array holds at that row.
    parents: Vec<&'a StructArray>,
}

impl ArrowPath<'_> {
    pub(crate) fn is_null(&self, row: usize) -> bool {
        self.leaf.is_null(row) || self.parents.iter().any(|p| p.is_null(row))
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Finds `path` in the typed columns of `batch`; the error says what exists instead.
pub(crate) fn resolve<'a>(
    batch: &'a RecordBatch,
    path: &FieldPath,
) -> Result<ArrowPath<'a>, String> {
    let first = &path.parts[0];
    let mut current: &'a dyn Array = match batch.column_by_name(first) {
        Some(c) => c.as_ref(),
        None => {
            let fields = names(batch.schema_ref().fields().iter().map(|f| f.name()));
            return Err(format!(
                "no field '{first}' in the value; fields are: {fields}"
            ));
        }
    };
    let mut parents = Vec::new();
    for (depth, part) in path.parts.iter().enumerate().skip(1) {
        let prefix = path.parts[..depth].join(".");
        let Some(parent) = current.as_struct_opt() else {
            return Err(format!(
                "field '{prefix}' is {}, not a struct, so it has no field '{part}'",
                current.data_type()
            ));
        };
        current = match parent.column_by_name(part) {
            Some(c) => c.as_ref(),
            None => {
                let fields = names(parent.fields().iter().map(|f| f.name()));
                return Err(format!(
                    "no field '{part}' in '{prefix}'; fields are: {fields}"
                ));
            }
        };
        parents.push(parent);
    }
    Ok(ArrowPath {
        leaf: current,
        parents,
    })
}

/// The per-row JSON texts of a batch converted without a schema.
#[derive(Clone, Copy)]
pub(crate) enum JsonTexts<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
}

impl<'a> JsonTexts<'a> {
    /// Finds the text column: the one named `value`, or the only column.
    pub(crate) fn of(batch: &'a RecordBatch) -> Result<JsonTexts<'a>, String> {
        let column = match batch.column_by_name("value") {
            Some(c) => c,
            None if batch.num_columns() == 1 => batch.column(0),
            None => return Err("schemaless batch has no 'value' column".into()),
        };
        match column.data_type() {
            DataType::Utf8 => column.as_string_opt().map(JsonTexts::Utf8),
            DataType::LargeUtf8 => column.as_string_opt().map(JsonTexts::LargeUtf8),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "schemaless batch column is {}, not JSON text (Utf8)",
                column.data_type()
            )
        })
    }

    pub(crate) fn text(&self, row: usize) -> Option<&'a str> {
        match *self {
            JsonTexts::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            JsonTexts::LargeUtf8(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// The JSON value of `field` in one record's text; `None` when a key on the path is absent or
/// a parent on the path is null.
pub(crate) fn json_leaf<'a>(
    text: Option<&'a str>,
    field: &FieldPath,
) -> Result<Option<JsonLeaf<'a>>, String> {
    let Some(text) = text else {
        return Err("the record value is null".into());
    };
    let walk = json_path(text, &field.parts)
        .map_err(|e| format!("the record value is not valid JSON: {e}"))?;
    match walk {
        JsonWalk::Leaf(leaf) => Ok(Some(leaf)),
        JsonWalk::Missing => Ok(None),
        JsonWalk::NotObject { depth: 0, kind } => Err(format!(
            "the record value is a JSON {kind}, not an object, so it has no field '{}'",
            field.name
        )),
        JsonWalk::NotObject { depth, kind } => Err(format!(
            "field '{}' is a JSON {kind}, not an object, so it has no field '{}'",
            field.parts[..depth].join("."),
            field.parts[depth]
        )),
    }
}

/// A JSON value at the end of a path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonLeaf<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float,
    Str(Cow<'a, str>),
    Bool(bool),
    Array,
    Object,
}

impl JsonLeaf<'_> {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            JsonLeaf::Null => "null",
            JsonLeaf::Int(_) | JsonLeaf::UInt(_) => "integer",
            JsonLeaf::Float => "floating-point number",
            JsonLeaf::Str(_) => "string",
            JsonLeaf::Bool(_) => "boolean",
            JsonLeaf::Array => "array",
            JsonLeaf::Object => "object",
        }
    }
}

/// What walking a path through one JSON document found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonWalk<'a> {
    Leaf(JsonLeaf<'a>),
    /// A key on the path is absent, or a parent on the path is JSON null.
    Missing,
    /// The value at `path[..depth]` is not an object (depth 0: the whole document).
    NotObject {
        depth: usize,
        kind: &'static str,
    },
}

/// Walks `path` through the JSON document `text` without building a tree: only the values on
/// the path are looked at, everything else is skipped by the parser.
pub(crate) fn json_path<'a>(
    text: &'a str,
    path: &[String],
) -> Result<JsonWalk<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let found = Walk { path, depth: 0 }.deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

struct Walk<'p> {
    path: &'p [String],
    depth: usize,
}

impl Walk<'_> {
    fn not_object<'a>(&self, kind: &'static str) -> JsonWalk<'a> {
        JsonWalk::NotObject {
            depth: self.depth,
            kind,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = JsonWalk<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = JsonWalk<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = self.path.get(self.depth) else {
            return Ok(self.not_object("object"));
        };
        let mut found = JsonWalk::Missing;
        // Keep reading after a hit: the parser must consume the whole object, and with
        // duplicate keys the last one wins, as in serde_json's own maps.
        while let Some(hit) = map.next_key_seed(KeyIs(key))? {
            if !hit {
                map.next_value::<IgnoredAny>()?;
            } else if self.depth + 1 == self.path.len() {
                found = JsonWalk::Leaf(map.next_value_seed(LeafSeed)?);
            } else {
                found = map.next_value_seed(Walk {
                    path: self.path,
                    depth: self.depth + 1,
                })?;
            }
        }
        Ok(found)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(if self.depth == 0 {
            self.not_object("null")
        } else {
            JsonWalk::Missing
        })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_object("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_object("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_object("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_object("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_object("string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.not_object("array"))
    }
}

/// Compares an object key with the wanted one without allocating.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

struct LeafSeed;

impl<'de> DeserializeSeed<'de> for LeafSeed {
    type Value = JsonLeaf<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LeafSeed {
    type Value = JsonLeaf<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonLeaf::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JsonLeaf::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JsonLeaf::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        // One representation per number, so equal values group together.
        Ok(match i64::try_from(v) {
            Ok(i) => JsonLeaf::Int(i),
            Err(_) => JsonLeaf::UInt(v),
        })
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(JsonLeaf::Float)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonLeaf::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        // Strings with escapes cannot be borrowed from the input.
        Ok(JsonLeaf::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonLeaf::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonLeaf::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonLeaf::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn json_walks() {
        let doc = r#"{"a":{"b":"x\"y","c":[1,{"b":2}],"n":null},"i":-5,"u":18446744073709551615,"f":1.5,"t":true}"#;
        let w = |p: &str| json_path(doc, &path(p)).unwrap();
        assert_eq!(w("a.b"), JsonWalk::Leaf(JsonLeaf::Str("x\"y".into())));
        assert_eq!(w("i"), JsonWalk::Leaf(JsonLeaf::Int(-5)));
        assert_eq!(w("u"), JsonWalk::Leaf(JsonLeaf::UInt(u64::MAX)));
        assert_eq!(w("f"), JsonWalk::Leaf(JsonLeaf::Float));
        assert_eq!(w("t"), JsonWalk::Leaf(JsonLeaf::Bool(true)));
        assert_eq!(w("a.c"), JsonWalk::Leaf(JsonLeaf::Array));
        assert_eq!(w("a"), JsonWalk::Leaf(JsonLeaf::Object));
        assert_eq!(w("a.n"), JsonWalk::Leaf(JsonLeaf::Null));
        assert_eq!(w("a.n.deeper"), JsonWalk::Missing);
        assert_eq!(w("zz"), JsonWalk::Missing);
        assert_eq!(w("a.zz"), JsonWalk::Missing);
        assert_eq!(
            w("i.x"),
            JsonWalk::NotObject {
                depth: 1,
                kind: "number"
            }
        );
        assert_eq!(
            json_path("[1]", &path("a")).unwrap(),
            JsonWalk::NotObject {
                depth: 0,
                kind: "array"
            }
        );
        assert_eq!(
            json_path("null", &path("a")).unwrap(),
            JsonWalk::NotObject {
                depth: 0,
                kind: "null"
            }
        );
        assert!(json_path("{\"a\":1", &path("a")).is_err());
        assert!(json_path("{\"a\":1} x", &path("a")).is_err());
        // The last of duplicate keys wins.
        assert_eq!(
            json_path(r#"{"a":1,"a":2}"#, &path("a")).unwrap(),
            JsonWalk::Leaf(JsonLeaf::Int(2))
        );
    }
}
