//! Avro reader/writer compatibility, decided exactly as Java Avro's
//! `org.apache.avro.SchemaCompatibility.checkReaderWriterCompatibility(reader, writer)` (1.12)
//! decides it, because that is what Confluent Schema Registry runs for Avro subjects.
//!
//! This module owns the verdict and the list of incompatibilities (kind, location, Java's
//! message, Confluent's description). It is written by hand because `apache-avro`'s own
//! `schema_compatibility` differs from Java: it answers `Partial` for unions and enums that
//! Java rejects, compares decimal precision/scale (Java ignores logical types), ignores the
//! reader's type aliases, and stops at the first error without Java's JSON-pointer locations.
//!
//! Java quirks reproduced on purpose, since clients compare against Confluent's answers:
//! - named types match on the unqualified name, or when a reader alias equals the writer's
//!   full name;
//! - logical types are ignored (only the underlying Avro type counts);
//! - results are memoised per (reader node, writer node) identity, so recursive types end and
//!   a pair met twice repeats the first result with its first location;
//! - a union branch is tried against the whole other side with a fresh location, and only the
//!   `MISSING_UNION_BRANCH` at the current location is kept;
//! - a reader field of enum type with an enum default, missing from the writer and without a
//!   field default, is compared with the writer record itself (a `TYPE_MISMATCH`);
//! - a reader field matching several writer fields (by name and aliases) aborts the whole check
//!   with one "unexpected exception" message, as Confluent reports Java's runtime exception.

use std::collections::{HashMap, HashSet};

use apache_avro::Schema;
use apache_avro::schema::{
    DecimalSchema, EnumSchema, FixedSchema, InnerDecimalSchema, Name, NamesRef, RecordField,
    RecordSchema, UuidSchema,
};

/// One incompatibility, as Java Avro's SchemaCompatibility reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatibility {
    /// Java's SchemaIncompatibilityType name, e.g. "READER_FIELD_MISSING_DEFAULT_VALUE",
    /// "NAME_MISMATCH", "FIXED_SIZE_MISMATCH", "MISSING_ENUM_SYMBOLS", "MISSING_UNION_BRANCH", "TYPE_MISMATCH".
    /// Two kinds exist only here: [`UNEXPECTED_EXCEPTION`] (Java throws, Confluent reports the
    /// exception) and [`UNRESOLVED_REFERENCE`] (a `Schema::Ref` with no definition given).
    pub kind: &'static str,
    /// JSON-pointer-like location in the reader schema, as Java reports it, e.g. "/fields/1/type/symbols".
    pub location: String,
    /// Human-readable description in Confluent's wording, with the reader called "new" and the
    /// writer "old" (the BACKWARD orientation); use [`Incompatibility::description`] for others.
    pub message: String,
    /// Java's "additionalInfo" (e.g. the field name, or the missing symbols "[C]").
    pub additional_info: String,
}

/// Kind of the single entry returned when Java would throw (a reader field matching several
/// writer fields); Confluent then reports only "Unexpected exception during compatibility check".
pub const UNEXPECTED_EXCEPTION: &str = "UNEXPECTED_EXCEPTION";
/// Kind reported for a `Schema::Ref` whose definition was not supplied (Java cannot get here:
/// its parser refuses such schemas).
pub const UNRESOLVED_REFERENCE: &str = "UNRESOLVED_REFERENCE";

impl Incompatibility {
    fn new(kind: &'static str, location: String, additional_info: String) -> Incompatibility {
        let mut i = Incompatibility {
            kind,
            location,
            message: String::new(),
            additional_info,
        };
        i.message = i.description("new", "old");
        i
    }

    /// Confluent's description (`Difference.java`), naming the reader schema `reader_label` and
    /// the writer schema `writer_label`: BACKWARD checks use ("new", "old"), FORWARD ("old", "new").
    pub fn description(&self, reader_label: &str, writer_label: &str) -> String {
        let path = &self.location;
        let info = &self.additional_info;
        match self.kind {
            "FIXED_SIZE_MISMATCH" => format!(
                "The size of FIXED type field at path '{path}' in the {reader_label} schema does not match with the {writer_label} schema"
            ),
            "TYPE_MISMATCH" => format!(
                "The type (path '{path}') of a field in the {reader_label} schema does not match with the {writer_label} schema"
            ),
            "NAME_MISMATCH" => format!("The name of the schema has changed (path '{path}')"),
            "MISSING_ENUM_SYMBOLS" => format!(
                "The {reader_label} schema is missing enum symbols '{info}' at path '{path}' in the {writer_label} schema"
            ),
            "MISSING_UNION_BRANCH" => format!(
                "The {reader_label} schema is missing a type inside a union field at path '{path}' in the {writer_label} schema"
            ),
            "READER_FIELD_MISSING_DEFAULT_VALUE" => format!(
                "The field '{info}' at path '{path}' in the {reader_label} schema has no default value and is missing in the {writer_label} schema"
            ),
            UNEXPECTED_EXCEPTION => {
                format!("Unexpected exception during compatibility check: {info}")
            }
            UNRESOLVED_REFERENCE => format!(
                "The type (path '{path}') is a reference to a named type that is not defined: {info}"
            ),
            _ => String::new(),
        }
    }

    /// The message string Confluent puts in its error response for this incompatibility.
    pub fn confluent_error(&self, reader_label: &str, writer_label: &str) -> String {
        if self.kind == UNEXPECTED_EXCEPTION {
            // Confluent reports the exception text alone, without the errorType wrapper.
            return self.description(reader_label, writer_label);
        }
        format!(
            "{{errorType:'{}', description:'{}', additionalInfo:'{}'}}",
            self.kind,
            self.description(reader_label, writer_label),
            self.additional_info
        )
    }
}

/// Every incompatibility found when data written with `writer` is read with `reader`
/// (empty = compatible). Mirrors Java `SchemaCompatibility.checkReaderWriterCompatibility(reader, writer)`.
pub fn check(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
    check_in_context(reader, &[], writer, &[])
}

/// Like [`check`], for schemas with references: `reader_deps` / `writer_deps` hold the other
/// schemas parsed with each side (e.g. the leading entries of `Schema::parse_list`, or the list
/// returned by `Schema::parse_str_with_list`), so `Schema::Ref`s into them resolve.
pub fn check_in_context(
    reader: &Schema,
    reader_deps: &[Schema],
    writer: &Schema,
    writer_deps: &[Schema],
) -> Vec<Incompatibility> {
    let reader_names = names_of(reader, reader_deps);
    let writer_names = names_of(writer, writer_deps);
    check_with_names(reader, &reader_names, writer, &writer_names)
}

/// Like [`check`], resolving `Schema::Ref`s through the given full name → definition maps (for
/// example `ResolvedSchema::get_names()` of each side).
pub fn check_with_names<'a>(
    reader: &'a Schema,
    reader_names: &NamesRef<'a>,
    writer: &'a Schema,
    writer_names: &NamesRef<'a>,
) -> Vec<Incompatibility> {
    let mut checker = Checker {
        reader_names,
        writer_names,
        memo: HashMap::new(),
    };
    match checker.fresh(reader, writer) {
        Ok(found) => found,
        Err(abort) => vec![abort],
    }
}

/// Full name → definition of every named type defined in `schema` and `deps` (first definition
/// wins); aliases are added last so a reference spelled with an alias still resolves.
fn names_of<'a>(schema: &'a Schema, deps: &'a [Schema]) -> NamesRef<'a> {
    let mut names = NamesRef::new();
    let mut aliases = Vec::new();
    for s in deps.iter().chain(std::iter::once(schema)) {
        collect_names(s, &mut names, &mut aliases);
    }
    for (alias, def) in aliases {
        names.entry(alias).or_insert(def);
    }
    names
}

fn collect_names<'a>(
    s: &'a Schema,
    names: &mut NamesRef<'a>,
    aliases: &mut Vec<(Name, &'a Schema)>,
) {
    let mut define = |name: &Name, type_aliases: &Option<Vec<apache_avro::schema::Alias>>| {
        names.entry(name.clone()).or_insert(s);
        for a in type_aliases.iter().flatten() {
            aliases.push((a.fully_qualified_name(name.namespace()).into_owned(), s));
        }
    };
    match s {
        Schema::Record(r) => {
            define(&r.name, &r.aliases);
            for f in &r.fields {
                collect_names(&f.schema, names, aliases);
            }
        }
        Schema::Enum(e) => define(&e.name, &e.aliases),
        Schema::Fixed(f)
        | Schema::Duration(f)
        | Schema::Uuid(UuidSchema::Fixed(f))
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Fixed(f),
            ..
        }) => define(&f.name, &f.aliases),
        Schema::Array(a) => collect_names(&a.items, names, aliases),
        Schema::Map(m) => collect_names(&m.types, names, aliases),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, names, aliases);
            }
        }
        _ => {}
    }
}

/// A schema node seen as Java sees it: references resolved, logical types dropped.
#[derive(Clone, Copy)]
enum Node<'a> {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(&'a Schema),
    Map(&'a Schema),
    Union(&'a [Schema]),
    Record(&'a RecordSchema),
    Enum(&'a EnumSchema),
    Fixed(&'a FixedSchema),
    Unresolved(&'a Name),
}

impl Node<'_> {
    /// Java's `Schema.Type` name, as it appears in Java's messages.
    fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "NULL",
            Node::Boolean => "BOOLEAN",
            Node::Int => "INT",
            Node::Long => "LONG",
            Node::Float => "FLOAT",
            Node::Double => "DOUBLE",
            Node::Bytes => "BYTES",
            Node::String => "STRING",
            Node::Array(_) => "ARRAY",
            Node::Map(_) => "MAP",
            Node::Union(_) => "UNION",
            Node::Record(_) => "RECORD",
            Node::Enum(_) => "ENUM",
            Node::Fixed(_) => "FIXED",
            Node::Unresolved(_) => "UNRESOLVED",
        }
    }
}

/// The underlying Avro type of an already resolved node (logical types are ignored, as Java's
/// checker only looks at `Schema.getType()`).
fn node_of(s: &Schema) -> Node<'_> {
    match s {
        Schema::Null => Node::Null,
        Schema::Boolean => Node::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Node::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Node::Long,
        Schema::Float => Node::Float,
        Schema::Double => Node::Double,
        Schema::Bytes
        | Schema::BigDecimal
        | Schema::Uuid(UuidSchema::Bytes)
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Bytes,
            ..
        }) => Node::Bytes,
        Schema::String | Schema::Uuid(UuidSchema::String) => Node::String,
        Schema::Array(a) => Node::Array(&a.items),
        Schema::Map(m) => Node::Map(&m.types),
        Schema::Union(u) => Node::Union(u.variants()),
        Schema::Record(r) => Node::Record(r),
        Schema::Enum(e) => Node::Enum(e),
        Schema::Fixed(f)
        | Schema::Duration(f)
        | Schema::Uuid(UuidSchema::Fixed(f))
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Fixed(f),
            ..
        }) => Node::Fixed(f),
        Schema::Ref { name } => Node::Unresolved(name),
    }
}

/// A memoised pair: still being checked (a recursive visit counts as compatible), or done.
enum Memo {
    InProgress,
    Done(Vec<Incompatibility>),
}

type Outcome = Result<Vec<Incompatibility>, Incompatibility>;

struct Checker<'a, 'n> {
    reader_names: &'n NamesRef<'a>,
    writer_names: &'n NamesRef<'a>,
    /// Keyed by node identity, as Java keys by object identity: a named type referenced twice
    /// is one node, while each inline occurrence of a primitive is its own node.
    memo: HashMap<(*const Schema, *const Schema), Memo>,
}

impl<'a> Checker<'a, '_> {
    fn resolve(&self, s: &'a Schema, names: &NamesRef<'a>) -> &'a Schema {
        let mut s = s;
        // A definition is never itself a reference; the bound only guards odd caller maps.
        for _ in 0..16 {
            match s {
                Schema::Ref { name } => match names.get(name) {
                    Some(def) => s = def,
                    None => return s,
                },
                _ => return s,
            }
        }
        s
    }

    /// Java's public `getCompatibility(reader, writer)`: a fresh location stack, same memo.
    fn fresh(&mut self, reader: &'a Schema, writer: &'a Schema) -> Outcome {
        let mut location = Vec::new();
        self.get(String::new(), reader, writer, &mut location)
    }

    fn get(
        &mut self,
        token: String,
        reader: &'a Schema,
        writer: &'a Schema,
        location: &mut Vec<String>,
    ) -> Outcome {
        let reader = self.resolve(reader, self.reader_names);
        let writer = self.resolve(writer, self.writer_names);
        location.push(token);
        let key = (reader as *const Schema, writer as *const Schema);
        let result = match self.memo.get(&key) {
            // Break the recursion: compatible unless proven otherwise elsewhere.
            Some(Memo::InProgress) => Vec::new(),
            Some(Memo::Done(found)) => found.clone(),
            None => {
                self.memo.insert(key, Memo::InProgress);
                let found = self.calculate(reader, writer, location)?;
                self.memo.insert(key, Memo::Done(found.clone()));
                found
            }
        };
        location.pop();
        Ok(result)
    }

    fn calculate(
        &mut self,
        reader: &'a Schema,
        writer: &'a Schema,
        location: &mut Vec<String>,
    ) -> Outcome {
        let r = node_of(reader);
        let w = node_of(writer);
        for node in [r, w] {
            if let Node::Unresolved(name) = node {
                return Ok(vec![Incompatibility::new(
                    UNRESOLVED_REFERENCE,
                    pointer(location),
                    name.fullname(None),
                )]);
            }
        }
        let mut found = Vec::new();
        if r.type_name() == w.type_name() {
            match (r, w) {
                (Node::Array(ri), Node::Array(wi)) => {
                    found.extend(self.get("items".into(), ri, wi, location)?);
                }
                (Node::Map(rv), Node::Map(wv)) => {
                    found.extend(self.get("values".into(), rv, wv, location)?);
                }
                (Node::Fixed(rf), Node::Fixed(wf)) => {
                    found.extend(check_names(&rf.name, &rf.aliases, &wf.name, location));
                    location.push("size".into());
                    if rf.size != wf.size {
                        found.push(Incompatibility::new(
                            "FIXED_SIZE_MISMATCH",
                            pointer(location),
                            format!("expected: {}, found: {}", wf.size, rf.size),
                        ));
                    }
                    location.pop();
                }
                (Node::Enum(re), Node::Enum(we)) => {
                    found.extend(check_names(&re.name, &re.aliases, &we.name, location));
                    found.extend(check_enum_symbols(re, we, location));
                }
                (Node::Record(rr), Node::Record(wr)) => {
                    found.extend(check_names(&rr.name, &rr.aliases, &wr.name, location));
                    found.extend(self.check_fields(rr, wr, writer, location)?);
                }
                (Node::Union(_), Node::Union(wbs)) => {
                    // Every writer branch must be readable by the reader union.
                    for (i, wb) in wbs.iter().enumerate() {
                        location.push(i.to_string());
                        if !self.fresh(reader, wb)?.is_empty() {
                            let branch = node_of(self.resolve(wb, self.writer_names));
                            found.push(Incompatibility::new(
                                "MISSING_UNION_BRANCH",
                                pointer(location),
                                format!("reader union lacking writer type: {}", branch.type_name()),
                            ));
                        }
                        location.pop();
                    }
                }
                // Same primitive type.
                _ => {}
            }
            return Ok(found);
        }

        if let Node::Union(wbs) = w {
            // A non-union reader must read every writer branch.
            for (i, wb) in wbs.iter().enumerate() {
                found.extend(self.get(i.to_string(), reader, wb, location)?);
            }
            return Ok(found);
        }

        let promoted = match r {
            Node::Long => matches!(w, Node::Int),
            Node::Float => matches!(w, Node::Int | Node::Long),
            Node::Double => matches!(w, Node::Int | Node::Long | Node::Float),
            Node::Bytes => matches!(w, Node::String),
            Node::String => matches!(w, Node::Bytes),
            Node::Union(rbs) => {
                // The first reader branch able to read the writer wins.
                for rb in rbs {
                    if self.fresh(rb, writer)?.is_empty() {
                        return Ok(found);
                    }
                }
                found.push(Incompatibility::new(
                    "MISSING_UNION_BRANCH",
                    pointer(location),
                    format!("reader union lacking writer type: {}", w.type_name()),
                ));
                return Ok(found);
            }
            _ => false,
        };
        if !promoted {
            found.push(Incompatibility::new(
                "TYPE_MISMATCH",
                pointer(location),
                format!(
                    "reader type: {} not compatible with writer type: {}",
                    r.type_name(),
                    w.type_name()
                ),
            ));
        }
        Ok(found)
    }

    fn check_fields(
        &mut self,
        reader: &'a RecordSchema,
        writer: &'a RecordSchema,
        writer_schema: &'a Schema,
        location: &mut Vec<String>,
    ) -> Outcome {
        let mut found = Vec::new();
        location.push("fields".into());
        for (pos, rf) in reader.fields.iter().enumerate() {
            location.push(pos.to_string());
            match lookup_writer_field(writer, rf, pos, writer_schema)? {
                Some(wf) => {
                    found.extend(self.get("type".into(), &rf.schema, &wf.schema, location)?)
                }
                None if rf.default.is_some() => {}
                None => {
                    let field_type = self.resolve(&rf.schema, self.reader_names);
                    let enum_default = matches!(field_type, Schema::Enum(e)
                        if e.default.as_ref().is_some_and(|d| e.symbols.contains(d)));
                    if enum_default {
                        // Java compares the enum with the writer record here.
                        found.extend(self.get(
                            "type".into(),
                            field_type,
                            writer_schema,
                            location,
                        )?);
                    } else {
                        found.push(Incompatibility::new(
                            "READER_FIELD_MISSING_DEFAULT_VALUE",
                            pointer(location),
                            rf.name.clone(),
                        ));
                    }
                }
            }
            location.pop();
        }
        location.pop();
        Ok(found)
    }
}

/// The writer field read by `reader_field`: by name, then by each reader alias. More than one
/// hit (counting the same field twice, as Java does) is Java's runtime exception.
fn lookup_writer_field<'a>(
    writer: &'a RecordSchema,
    reader_field: &RecordField,
    pos: usize,
    writer_schema: &Schema,
) -> Result<Option<&'a RecordField>, Incompatibility> {
    let by_name = |name: &str| writer.fields.iter().find(|f| f.name == name);
    let mut hits: Vec<&RecordField> = by_name(&reader_field.name).into_iter().collect();
    // Java keeps field aliases in a set.
    let mut seen = HashSet::new();
    for alias in &reader_field.aliases {
        if seen.insert(alias.as_str())
            && let Some(f) = by_name(alias)
        {
            hits.push(f);
        }
    }
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => {
            let field_type = node_of(&reader_field.schema).type_name();
            let writer_json = serde_json::to_string(writer_schema).unwrap_or_default();
            Err(Incompatibility::new(
                UNEXPECTED_EXCEPTION,
                format!("/fields/{pos}"),
                format!(
                    "Reader record field {} type:{field_type} pos:{pos} matches multiple fields in writer record schema {writer_json}",
                    reader_field.name
                ),
            ))
        }
    }
}

/// Java's `schemaNameEquals`: unqualified names equal, or a reader alias equal to the writer's
/// full name.
fn check_names(
    reader: &Name,
    reader_aliases: &Option<Vec<apache_avro::schema::Alias>>,
    writer: &Name,
    location: &mut Vec<String>,
) -> Option<Incompatibility> {
    let writer_full = writer.fullname(None);
    let alias_matches = reader_aliases.iter().flatten().any(|a| {
        // Java renders a namespace-less alias of a namespaced type as ".name", which never
        // equals a full name.
        let dotted = a.namespace().is_none() && reader.namespace().is_some();
        !dotted && a.fullname(None) == writer_full
    });
    if reader.name() == writer.name() || alias_matches {
        return None;
    }
    location.push("name".into());
    let found = Incompatibility::new(
        "NAME_MISMATCH",
        pointer(location),
        format!("expected: {writer_full}"),
    );
    location.pop();
    Some(found)
}

/// Every writer symbol must be a reader symbol, unless the reader enum has a default.
fn check_enum_symbols(
    reader: &EnumSchema,
    writer: &EnumSchema,
    location: &mut Vec<String>,
) -> Option<Incompatibility> {
    let mut missing: Vec<&str> = writer
        .symbols
        .iter()
        .filter(|s| !reader.symbols.contains(s))
        .map(String::as_str)
        .collect();
    // Java lists them from a TreeSet: sorted, without duplicates.
    missing.sort_unstable();
    missing.dedup();
    let reader_default = reader
        .default
        .as_ref()
        .is_some_and(|d| reader.symbols.contains(d));
    if missing.is_empty() || reader_default {
        return None;
    }
    location.push("symbols".into());
    let found = Incompatibility::new(
        "MISSING_ENUM_SYMBOLS",
        pointer(location),
        format!("[{}]", missing.join(", ")),
    );
    location.pop();
    Some(found)
}

/// Java's `Incompatibility.getLocation()`: the stack without its root token, JSON-pointer escaped.
fn pointer(location: &[String]) -> String {
    let tokens: Vec<String> = location
        .iter()
        .skip(1)
        .map(|t| t.replace('~', "~0").replace('/', "~1"))
        .collect();
    format!("/{}", tokens.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Schema {
        Schema::parse_str(s).unwrap()
    }

    fn one(reader: &str, writer: &str) -> Incompatibility {
        let found = check(&parse(reader), &parse(writer));
        assert_eq!(found.len(), 1, "{found:#?}");
        found.into_iter().next().unwrap()
    }

    #[test]
    fn reader_field_without_default_missing_in_writer() {
        let old = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let new = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"x","type":"string"}]}"#;
        let i = one(new, old);
        assert_eq!(i.kind, "READER_FIELD_MISSING_DEFAULT_VALUE");
        assert_eq!(i.location, "/fields/1");
        assert_eq!(i.additional_info, "x");
        assert_eq!(
            i.message,
            "The field 'x' at path '/fields/1' in the new schema has no default value and is missing in the old schema"
        );
        assert_eq!(
            i.confluent_error("new", "old"),
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'x' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'x'}"
        );
        assert!(check(&parse(old), &parse(new)).is_empty());
    }

    #[test]
    fn enum_missing_symbol() {
        let old = r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}]}"#;
        let new = r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","D","C"]}}]}"#;
        let i = one(old, new);
        assert_eq!(i.kind, "MISSING_ENUM_SYMBOLS");
        assert_eq!(i.location, "/fields/0/type/symbols");
        assert_eq!(i.additional_info, "[C, D]");
        assert_eq!(
            i.description("old", "new"),
            "The old schema is missing enum symbols '[C, D]' at path '/fields/0/type/symbols' in the new schema"
        );
    }

    #[test]
    fn enum_default_accepts_unknown_symbols() {
        let reader = r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#;
        let writer = r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#;
        assert!(check(&parse(reader), &parse(writer)).is_empty());
    }

    #[test]
    fn type_mismatch() {
        let reader = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let writer = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
        let i = one(reader, writer);
        assert_eq!(i.kind, "TYPE_MISMATCH");
        assert_eq!(i.location, "/fields/0/type");
        assert_eq!(
            i.additional_info,
            "reader type: INT not compatible with writer type: STRING"
        );
        assert_eq!(
            i.message,
            "The type (path '/fields/0/type') of a field in the new schema does not match with the old schema"
        );
    }

    #[test]
    fn union_branch_missing_in_reader_union() {
        let reader = r#"["null","string"]"#;
        let writer = r#"["null","string","int"]"#;
        let i = one(reader, writer);
        assert_eq!(i.kind, "MISSING_UNION_BRANCH");
        assert_eq!(i.location, "/2");
        assert_eq!(i.additional_info, "reader union lacking writer type: INT");
    }

    #[test]
    fn writer_union_read_by_non_union_reports_each_branch() {
        let reader = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
        let writer = r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","string","int"]}]}"#;
        let found = check(&parse(reader), &parse(writer));
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|i| (i.kind, i.location.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("TYPE_MISMATCH", "/fields/0/type/0"),
                ("TYPE_MISMATCH", "/fields/0/type/2")
            ]
        );
    }

    #[test]
    fn non_union_writer_needs_a_reader_branch() {
        let i = one(r#"["null","int"]"#, r#""string""#);
        assert_eq!(i.kind, "MISSING_UNION_BRANCH");
        assert_eq!(i.location, "/");
        assert_eq!(
            i.additional_info,
            "reader union lacking writer type: STRING"
        );
    }

    #[test]
    fn names_and_fixed_sizes() {
        let i = one(
            r#"{"type":"fixed","name":"F","size":4}"#,
            r#"{"type":"fixed","name":"a.F","size":8}"#,
        );
        assert_eq!(i.kind, "FIXED_SIZE_MISMATCH");
        assert_eq!(i.location, "/size");
        assert_eq!(i.additional_info, "expected: 8, found: 4");

        let i = one(
            r#"{"type":"fixed","name":"G","size":4}"#,
            r#"{"type":"fixed","name":"a.F","size":4}"#,
        );
        assert_eq!(i.kind, "NAME_MISMATCH");
        assert_eq!(i.location, "/name");
        assert_eq!(i.additional_info, "expected: a.F");
        assert_eq!(
            i.message,
            "The name of the schema has changed (path '/name')"
        );

        // A relative alias takes the reader's namespace; a full one matches as written.
        let writer = r#"{"type":"fixed","name":"a.F","size":4}"#;
        assert!(
            check(
                &parse(r#"{"type":"fixed","name":"a.G","aliases":["F"],"size":4}"#),
                &parse(writer)
            )
            .is_empty()
        );
        assert!(
            check(
                &parse(r#"{"type":"fixed","name":"b.G","aliases":["a.F"],"size":4}"#),
                &parse(writer)
            )
            .is_empty()
        );
        assert_eq!(
            check(
                &parse(r#"{"type":"fixed","name":"b.G","aliases":["F"],"size":4}"#),
                &parse(writer)
            )
            .len(),
            1
        );
        // Java renders this alias as ".F", which matches no writer.
        assert_eq!(
            check(
                &parse(r#"{"type":"fixed","name":"b.G","aliases":[".F"],"size":4}"#),
                &parse(r#"{"type":"fixed","name":"F","size":4}"#)
            )
            .len(),
            1
        );
    }

    #[test]
    fn recursive_types_terminate() {
        let list = |value: &str| {
            format!(
                r#"{{"type":"record","name":"Node","fields":[{{"name":"v","type":"{value}"}},{{"name":"next","type":["null","Node"],"default":null}}]}}"#
            )
        };
        assert!(check(&parse(&list("long")), &parse(&list("int"))).is_empty());
        let found = check(&parse(&list("int")), &parse(&list("long")));
        // The pair met again inside `next` is still in progress, so Java counts that branch
        // as readable: only the field itself is reported.
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].location, "/fields/0/type");
    }

    #[test]
    fn a_shared_named_type_repeats_its_first_result() {
        let rec = |t: &str| {
            format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{{"type":"record","name":"P","fields":[{{"name":"x","type":"{t}"}}]}}}},{{"name":"b","type":"P"}}]}}"#
            )
        };
        let found = check(&parse(&rec("int")), &parse(&rec("string")));
        let locations: Vec<&str> = found.iter().map(|i| i.location.as_str()).collect();
        assert_eq!(locations, ["/fields/0/type/fields/0/type"; 2]);
    }

    #[test]
    fn enum_field_with_enum_default_is_compared_with_the_writer_record() {
        let reader = r#"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"],"default":"A"}}]}"#;
        let writer = r#"{"type":"record","name":"R","fields":[]}"#;
        let i = one(reader, writer);
        assert_eq!(i.kind, "TYPE_MISMATCH");
        assert_eq!(i.location, "/fields/0/type");
        assert_eq!(
            i.additional_info,
            "reader type: ENUM not compatible with writer type: RECORD"
        );
    }

    #[test]
    fn a_field_matching_two_writer_fields_aborts() {
        let reader = r#"{"type":"record","name":"R","fields":[{"name":"a","aliases":["b"],"type":"int"},{"name":"z","type":"int"}]}"#;
        let writer = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}"#;
        let i = one(reader, writer);
        assert_eq!(i.kind, UNEXPECTED_EXCEPTION);
        assert!(
            i.confluent_error("new", "old")
                .starts_with("Unexpected exception during compatibility check: Reader record field a type:INT pos:0 matches multiple fields")
        );
    }

    #[test]
    fn references_resolve_through_the_dependencies() {
        let money = |t: &str| {
            format!(
                r#"{{"type":"record","name":"Money","namespace":"com.acme","fields":[{{"name":"cents","type":"{t}"}}]}}"#
            )
        };
        let order = r#"{"type":"record","name":"Order","fields":[{"name":"total","type":"com.acme.Money"}]}"#;
        let new_money = money("long");
        let old_money = money("int");
        let new = Schema::parse_list([new_money.as_str(), order]).unwrap();
        let old = Schema::parse_list([old_money.as_str(), order]).unwrap();
        assert!(check_in_context(&new[1], &new[..1], &old[1], &old[..1]).is_empty());
        let found = check_in_context(&old[1], &old[..1], &new[1], &new[..1]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].location, "/fields/0/type/fields/0/type");

        let (with_list, deps) = Schema::parse_str_with_list(order, [new_money.as_str()]).unwrap();
        assert!(check_in_context(&with_list, &deps, &old[1], &old[..1]).is_empty());

        // Without the dependencies the reference cannot be followed.
        assert_eq!(check(&new[1], &old[1])[0].kind, UNRESOLVED_REFERENCE);
    }

    #[test]
    fn logical_types_are_ignored() {
        let dec = |p: u32, s: u32| {
            format!(r#"{{"type":"bytes","logicalType":"decimal","precision":{p},"scale":{s}}}"#)
        };
        assert!(check(&parse(&dec(12, 4)), &parse(&dec(10, 2))).is_empty());
        assert!(
            check(
                &parse(r#""long""#),
                &parse(r#"{"type":"long","logicalType":"timestamp-millis"}"#)
            )
            .is_empty()
        );
        assert!(
            check(
                &parse(r#"{"type":"string","logicalType":"uuid"}"#),
                &parse(r#""bytes""#)
            )
            .is_empty()
        );
        let i = one(r#"{"type":"int","logicalType":"date"}"#, r#""long""#);
        assert_eq!(
            i.additional_info,
            "reader type: INT not compatible with writer type: LONG"
        );
    }
}
