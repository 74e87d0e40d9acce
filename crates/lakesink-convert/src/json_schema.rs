//! JSON Schema values of Confluent's wire format (`JsonSchemaConverter`): the JSON document
//! after the 5-byte prefix, read into Arrow columns through the Connect schema that
//! Confluent's `JsonSchemaData` gives the writer schema.
//!
//! Owns: compiling a registered JSON Schema (with its referenced schemas) into the
//! [`ConnectSchema`] that `JsonSchemaData.toConnectSchema` derives under the converter's default
//! settings (`use.optional.for.nonrequired=false`, `flatten.singleton.unions=true`,
//! `generalized.sum.type.support=false`, `preserve.additional.properties=false`), and appending
//! one JSON document at a time to the column builders of that schema, as
//! `JsonSchemaData.toConnectData` reads it.
//!
//! Must not touch: the registry client, the other converters, files.
//!
//! Confluent does not map the schema text directly: it loads it with the everit JSON Schema
//! library first and maps everit's schema objects. Two of everit's traits show in the result
//! and are reproduced here. (1) A schema object whose keywords belong to several kinds (say
//! `"type": "integer"` with `"format"`) becomes a synthetic `allOf` of one schema per kind, and
//! `connect.*` annotations stay on that `allOf`, not on its parts. (2) Object properties are
//! kept in a Java `HashMap`, so struct fields without `connect.index` come out in that map's
//! iteration order, not in the order the schema text lists them ([`java_hash_order`]).
//!
//! Where Confluent silently coerces a value that does not fit the schema (Jackson reads a
//! string as integer 0, truncates 300 into an int8, drops a property that is not text into a
//! null), a record here fails with an error naming the field instead: writing a wrong value
//! is worse than stopping. Such records fail Confluent's own file writers in most cases
//! anyway (a required field left null).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::RowDecoder;
use crate::columns::{ColumnBuilder, ReadOptions};
use crate::schema::{ConnectSchema, ConnectType, DATE, DECIMAL, TIME, TIMESTAMP};

/// Connect schema name of a `oneOf`/`anyOf` that is more than "nullable X".
pub const ONE_OF: &str = "io.confluent.connect.json.OneOf";
/// Parameter marking a string with a closed set of values (`enum`, `const`); each value is
/// also a parameter `ENUM.<value>`.
pub const ENUM: &str = "io.confluent.connect.json.Enum";
/// Parameter `JsonSchemaData` puts on a struct that a `$ref` reaches a second time.
const JSON_ID: &str = "io.confluent.connect.json.Id";
/// Marks, during compilation only, the structs that stand for one everit object schema, so
/// that the `JSON_ID` parameters can be settled once the whole schema is known.
const MARK_FIRST: &str = "\u{0}lakesink.first";
const MARK_COPY: &str = "\u{0}lakesink.copy";

const NULL_MARKER: &str = "<NULL>";

/// A JSON Schema writer schema compiled for decoding.
#[derive(Debug)]
pub struct JsonSchemaDecoder {
    connect: ConnectSchema,
}

impl JsonSchemaDecoder {
    /// `schema`: the writer schema text, `references`: (name, schema text) of referenced
    /// schemas, dependencies first.
    pub fn new(schema: &str, references: &[(String, String)]) -> Result<Self, String> {
        let root: OJson =
            serde_json::from_str(schema).map_err(|e| format!("invalid JSON Schema: {e}"))?;
        let mut docs = vec![(String::new(), root)];
        for (name, text) in references {
            let doc: OJson = serde_json::from_str(text)
                .map_err(|e| format!("referenced schema \"{name}\": invalid JSON: {e}"))?;
            docs.push((name.clone(), doc));
        }
        let mut loader = Loader {
            docs: &docs,
            nodes: Vec::new(),
            targets: HashMap::new(),
        };
        let root_id = loader.load(0, &docs[0].1, "#")?;
        let mut conv = Converter {
            nodes: &loader.nodes,
            structs: HashMap::new(),
            resolving: HashSet::new(),
            id_index: 0,
            ids: HashMap::new(),
            had_parameters: HashMap::new(),
        };
        let mut connect = conv.convert(root_id, None, false)?;
        let (ids, had) = (conv.ids, conv.had_parameters);
        settle_marks(&mut connect, &ids, &had);
        check_logical(&connect, "schema")?;
        check_defaults(&connect, "schema")?;
        Ok(JsonSchemaDecoder { connect })
    }
}

impl RowDecoder for JsonSchemaDecoder {
    fn connect_schema(&self) -> &ConnectSchema {
        &self.connect
    }

    fn decode_row(&self, payload: &[u8], columns: &mut [ColumnBuilder]) -> Result<(), String> {
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| format!("invalid JSON value: {e}"))?;
        let root = &self.connect;
        let ConnectType::Struct(fields) = &root.ty else {
            let Some(col) = columns.first_mut() else {
                return Err("no column for the value".into());
            };
            return append(col, root, Some(&value), &Path::Root("value"));
        };
        if columns.len() != fields.len() {
            return Err(format!(
                "{} columns for a struct of {} fields",
                columns.len(),
                fields.len()
            ));
        }
        let value = match (&value, &root.default) {
            (Value::Null, Some(d)) => d,
            (Value::Null, None) if root.optional => {
                return Err("null struct values cannot be written as rows".into());
            }
            (Value::Null, None) => return Err("null value for a required struct".into()),
            (v, _) => v,
        };
        fill_struct(columns, root, fields, value, &Path::Root(""))
    }
}

// ---------------------------------------------------------------------------------------
// Schema text with its object keys in document order.
//
// `serde_json::Value` keeps object keys sorted, but the order of `properties` decides the
// field order (through the Java map order), so schema texts are parsed into this instead.

#[derive(Debug, Clone)]
enum OJson {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<OJson>),
    Object(Vec<(String, OJson)>),
}

impl OJson {
    fn get(&self, key: &str) -> Option<&OJson> {
        match self {
            OJson::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            OJson::String(s) => Some(s),
            _ => None,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            OJson::Null => Value::Null,
            OJson::Bool(b) => Value::Bool(*b),
            OJson::Number(n) => Value::Number(n.clone()),
            OJson::String(s) => Value::String(s.clone()),
            OJson::Array(items) => Value::Array(items.iter().map(OJson::to_value).collect()),
            OJson::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for OJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OJsonVisitor)
    }
}

struct OJsonVisitor;

impl<'de> Visitor<'de> for OJsonVisitor {
    type Value = OJson;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<OJson, E> {
        Ok(OJson::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<OJson, E> {
        Ok(OJson::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<OJson, E> {
        Ok(OJson::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<OJson, E> {
        Ok(OJson::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OJson, E> {
        Number::from_f64(v)
            .map(OJson::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<OJson, E> {
        Ok(OJson::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<OJson, E> {
        Ok(OJson::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OJson, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OJson::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OJson, A::Error> {
        let mut entries: Vec<(String, OJson)> = Vec::new();
        let mut seen = HashSet::new();
        while let Some((k, v)) = map.next_entry::<String, OJson>()? {
            // org.json (which Confluent parses schemas with) refuses duplicate keys too.
            if !seen.insert(k.clone()) {
                return Err(de::Error::custom(format!("duplicate key \"{k}\"")));
            }
            entries.push((k, v));
        }
        Ok(OJson::Object(entries))
    }
}

// ---------------------------------------------------------------------------------------
// Java's HashMap iteration order.

/// `String.hashCode` (over UTF-16 code units) spread as `java.util.HashMap.hash` does.
fn java_hash(s: &str) -> u32 {
    let h = s
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    h ^ (h >> 16)
}

/// The order a Java `HashMap` created empty and filled with `items` in the given order
/// iterates them: by bucket (`hash & (table size - 1)`), then by insertion order within a
/// bucket (resizing keeps that order). The table starts at 16 and doubles while the map is
/// more than 3/4 full.
///
/// everit passes `properties` through three such maps (org.json's object, everit's copy sized
/// to the entry count, the object schema's own map); the last one has the largest table, and
/// a stable sort on its buckets of the document order gives the same order as the three in
/// turn. Checked against everit-json-schema 1.14.6 (which Confluent ships) on 1,200 random
/// property sets of up to 100 names. Not reproduced: a bucket turned into a tree (8 or more
/// names colliding in one bucket of a table of 64 or more), which only huge objects reach.
fn java_hash_order<T>(items: Vec<(String, T)>) -> Vec<(String, T)> {
    let mut table = 16usize;
    while items.len() > table / 4 * 3 {
        table *= 2;
    }
    let mask = table - 1;
    let mut keyed: Vec<(usize, (String, T))> = items
        .into_iter()
        .map(|(k, v)| (java_hash(&k) as usize & mask, (k, v)))
        .collect();
    keyed.sort_by_key(|(bucket, _)| *bucket);
    keyed.into_iter().map(|(_, kv)| kv).collect()
}

// ---------------------------------------------------------------------------------------
// everit's view of a schema: what `SchemaLoader` makes of each schema object.

type NodeId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Criterion {
    All,
    Any,
    One,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `{}` or `true`: any value.
    Empty,
    /// `false`, `not`, `if`/`then`/`else`: kinds with no Connect mapping.
    Unsupported(&'static str),
    Null,
    Boolean,
    Number {
        integer: bool,
    },
    String,
    Enum(Vec<Value>),
    Const(Value),
    Array {
        /// `None` for tuple `items` (an array) or no `items` at all.
        items: Option<NodeId>,
    },
    Object {
        /// In everit's (Java map) order.
        properties: Vec<(String, NodeId)>,
        additional: Option<NodeId>,
    },
    Combined {
        criterion: Criterion,
        subs: Vec<NodeId>,
    },
    Ref(NodeId),
    /// A `$ref` target being loaded (references may be recursive).
    Pending,
}

/// The keywords everit does not consume that `JsonSchemaData` reads, plus the common ones.
#[derive(Debug, Clone, Default)]
struct Meta {
    title: Option<String>,
    description: Option<String>,
    /// `Some(Value::Null)` for an explicit `"default": null`.
    default: Option<Value>,
    connect_type: Option<OJson>,
    connect_version: Option<OJson>,
    connect_parameters: Option<OJson>,
    connect_index: Option<OJson>,
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    meta: Meta,
    /// Where the node is in the schema text (JSON pointer), for errors.
    at: String,
}

const ARRAY_KEYWORDS: [&str; 6] = [
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
];
const OBJECT_KEYWORDS: [&str; 8] = [
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "dependencies",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
];
const NUMBER_KEYWORDS: [&str; 5] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const STRING_KEYWORDS: [&str; 4] = ["minLength", "maxLength", "pattern", "format"];
const CONDITIONAL_KEYWORDS: [&str; 3] = ["if", "then", "else"];

struct Loader<'a> {
    /// (reference name, schema); the root schema first, with an empty name.
    docs: &'a [(String, OJson)],
    nodes: Vec<Node>,
    /// `$ref` targets loaded so far, by (document, fragment): everit loads each target once,
    /// and `JsonSchemaData` recognises a struct it has seen by that identity.
    targets: HashMap<(usize, String), NodeId>,
}

impl Loader<'_> {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn load(&mut self, doc: usize, v: &OJson, at: &str) -> Result<NodeId, String> {
        let node = self.build(doc, v, at)?;
        Ok(self.push(node))
    }

    fn build(&mut self, doc: usize, v: &OJson, at: &str) -> Result<Node, String> {
        let entries = match v {
            OJson::Bool(true) => return Ok(plain_node(Kind::Empty, at)),
            OJson::Bool(false) => {
                return Ok(plain_node(Kind::Unsupported("the false schema"), at));
            }
            OJson::Object(entries) => entries,
            _ => return Err(format!("{at}: a schema must be a JSON object or a boolean")),
        };
        let has = |k: &str| entries.iter().any(|(key, _)| key == k);
        let meta = common_meta(v, at)?;
        if let Some(r) = v.get("$ref") {
            // everit reads nothing else of a schema object with `$ref` (but the common
            // keywords, which `JsonSchemaData` ignores on a reference).
            let r = r
                .as_str()
                .ok_or_else(|| format!("{at}: \"$ref\" must be a string"))?;
            let target = self.ref_target(doc, r, at)?;
            return Ok(Node {
                kind: Kind::Ref(target),
                meta,
                at: at.to_string(),
            });
        }
        // The extractors of everit's SchemaLoader, in its order; each kind found adds one
        // schema, and several make a synthetic allOf.
        let mut kinds: Vec<Kind> = Vec::new();
        let mut consumed: HashSet<&str> = HashSet::new();
        if let Some(e) = v.get("enum") {
            let OJson::Array(values) = e else {
                return Err(format!("{at}: \"enum\" must be an array"));
            };
            kinds.push(Kind::Enum(values.iter().map(OJson::to_value).collect()));
        }
        // everit collects the combining keywords present into a Java HashSet.
        let combining: Vec<(String, Criterion)> = java_hash_order(
            [
                ("allOf", Criterion::All),
                ("anyOf", Criterion::Any),
                ("oneOf", Criterion::One),
            ]
            .into_iter()
            .filter(|(k, _)| has(k))
            .map(|(k, c)| (k.to_string(), c))
            .collect(),
        );
        for (keyword, criterion) in combining {
            let Some(OJson::Array(items)) = v.get(&keyword) else {
                return Err(format!("{at}: \"{keyword}\" must be an array"));
            };
            let mut subs = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                subs.push(self.load(doc, item, &format!("{at}/{keyword}/{i}"))?);
            }
            kinds.push(Kind::Combined { criterion, subs });
        }
        if has("not") {
            kinds.push(Kind::Unsupported("\"not\""));
        }
        if let Some(c) = v.get("const") {
            kinds.push(Kind::Const(c.to_value()));
        }
        match v.get("type") {
            None => {}
            Some(OJson::String(t)) => {
                let kind = self.explicit_type(doc, v, t, &mut consumed, at)?;
                kinds.push(kind);
            }
            Some(OJson::Array(types)) => {
                // Several types: an anyOf of one schema per type, all read from this object.
                let mut subs = Vec::with_capacity(types.len());
                for t in types {
                    let t = t
                        .as_str()
                        .ok_or_else(|| format!("{at}: \"type\" entries must be strings"))?;
                    let kind = self.explicit_type(doc, v, t, &mut consumed, at)?;
                    subs.push(self.push(plain_node(kind, at)));
                }
                kinds.push(Kind::Combined {
                    criterion: Criterion::Any,
                    subs,
                });
            }
            Some(_) => return Err(format!("{at}: \"type\" must be a string or an array")),
        }
        let left = |keywords: &[&str]| keywords.iter().any(|k| has(k) && !consumed.contains(*k));
        let (array, object, number, string, conditional) = (
            left(&ARRAY_KEYWORDS),
            left(&OBJECT_KEYWORDS),
            left(&NUMBER_KEYWORDS),
            left(&STRING_KEYWORDS),
            left(&CONDITIONAL_KEYWORDS),
        );
        if array {
            kinds.push(self.array(doc, v, at)?);
        }
        if object {
            kinds.push(self.object(doc, v, at)?);
        }
        if number {
            kinds.push(Kind::Number { integer: false });
        }
        if string {
            kinds.push(Kind::String);
        }
        if conditional {
            kinds.push(Kind::Unsupported("\"if\"/\"then\"/\"else\""));
        }
        let kind = match kinds.len() {
            0 => Kind::Empty,
            1 => kinds.remove(0),
            _ => {
                let subs = kinds
                    .into_iter()
                    .map(|k| self.push(plain_node(k, at)))
                    .collect();
                Kind::Combined {
                    criterion: Criterion::All,
                    subs,
                }
            }
        };
        Ok(Node {
            kind,
            meta,
            at: at.to_string(),
        })
    }

    fn explicit_type(
        &mut self,
        doc: usize,
        v: &OJson,
        t: &str,
        consumed: &mut HashSet<&str>,
        at: &str,
    ) -> Result<Kind, String> {
        Ok(match t {
            "string" => {
                consumed.extend(STRING_KEYWORDS);
                Kind::String
            }
            "integer" | "number" => {
                consumed.extend(NUMBER_KEYWORDS);
                Kind::Number {
                    integer: t == "integer",
                }
            }
            "boolean" => Kind::Boolean,
            "null" => Kind::Null,
            "array" => {
                consumed.extend(ARRAY_KEYWORDS);
                self.array(doc, v, at)?
            }
            "object" => {
                consumed.extend(OBJECT_KEYWORDS);
                self.object(doc, v, at)?
            }
            other => return Err(format!("{at}: unknown type \"{other}\"")),
        })
    }

    fn array(&mut self, doc: usize, v: &OJson, at: &str) -> Result<Kind, String> {
        let items = match v.get("items") {
            Some(item @ (OJson::Object(_) | OJson::Bool(_))) => {
                Some(self.load(doc, item, &format!("{at}/items"))?)
            }
            _ => None,
        };
        Ok(Kind::Array { items })
    }

    fn object(&mut self, doc: usize, v: &OJson, at: &str) -> Result<Kind, String> {
        let mut properties = Vec::new();
        match v.get("properties") {
            None => {}
            Some(OJson::Object(entries)) => {
                for (name, schema) in entries {
                    let id = self.load(doc, schema, &format!("{at}/properties/{name}"))?;
                    properties.push((name.clone(), id));
                }
            }
            Some(_) => return Err(format!("{at}: \"properties\" must be an object")),
        }
        let additional = match v.get("additionalProperties") {
            Some(schema @ OJson::Object(_)) => {
                Some(self.load(doc, schema, &format!("{at}/additionalProperties"))?)
            }
            _ => None,
        };
        Ok(Kind::Object {
            properties: java_hash_order(properties),
            additional,
        })
    }

    /// Loads (once) what a `$ref` points at: a JSON pointer into the current document, or
    /// into a referenced schema named as the registry reference names it.
    fn ref_target(&mut self, doc: usize, r: &str, at: &str) -> Result<NodeId, String> {
        let (uri, fragment) = r.split_once('#').unwrap_or((r, ""));
        let doc = if uri.is_empty() {
            doc
        } else {
            self.find_document(uri)
                .ok_or_else(|| format!("{at}: \"$ref\": \"{r}\": no referenced schema \"{uri}\""))?
        };
        let key = (doc, fragment.to_string());
        if let Some(id) = self.targets.get(&key) {
            return Ok(*id);
        }
        let docs = self.docs;
        let target = resolve_pointer(&docs[doc].1, fragment)
            .ok_or_else(|| format!("{at}: \"$ref\": \"{r}\" points at nothing"))?;
        let id = self.push(plain_node(Kind::Pending, at));
        self.targets.insert(key, id);
        let place = if uri.is_empty() {
            format!("#{fragment}")
        } else {
            format!("{uri}#{fragment}")
        };
        let node = self.build(doc, target, &place)?;
        self.nodes[id] = node;
        Ok(id)
    }

    /// The referenced schema a `$ref` URI names: by its reference name, also when both are
    /// relative to the root schema's `$id`.
    fn find_document(&self, uri: &str) -> Option<usize> {
        let trim = |s: &str| s.trim_start_matches("./").to_string();
        if let Some(i) = (1..self.docs.len()).find(|i| trim(&self.docs[*i].0) == trim(uri)) {
            return Some(i);
        }
        let base = self.docs[0].1.get("$id").and_then(OJson::as_str)?;
        let resolve = |r: &str| {
            if r.contains("://") {
                r.to_string()
            } else {
                let dir = base.rfind('/').map_or("", |i| &base[..=i]);
                format!("{dir}{}", trim(r))
            }
        };
        let want = resolve(uri);
        (1..self.docs.len()).find(|i| resolve(&self.docs[*i].0) == want)
    }
}

fn plain_node(kind: Kind, at: &str) -> Node {
    Node {
        kind,
        meta: Meta::default(),
        at: at.to_string(),
    }
}

fn common_meta(v: &OJson, at: &str) -> Result<Meta, String> {
    let text = |k: &str| -> Result<Option<String>, String> {
        match v.get(k) {
            None => Ok(None),
            Some(OJson::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{at}: \"{k}\" must be a string")),
        }
    };
    Ok(Meta {
        title: text("title")?,
        description: text("description")?,
        default: v.get("default").map(OJson::to_value),
        connect_type: v.get("connect.type").cloned(),
        connect_version: v.get("connect.version").cloned(),
        connect_parameters: v.get("connect.parameters").cloned(),
        connect_index: v.get("connect.index").cloned(),
    })
}

/// Follows a JSON pointer (a URI fragment) from a document's root. As Confluent merges a
/// document's top-level `definitions` into its `$defs` before loading it, `#/$defs/X` also
/// finds `#/definitions/X`.
fn resolve_pointer<'a>(root: &'a OJson, fragment: &str) -> Option<&'a OJson> {
    if fragment.is_empty() {
        return Some(root);
    }
    let tokens = fragment
        .strip_prefix('/')?
        .split('/')
        .map(|raw| percent_decode(raw).map(|t| t.replace("~1", "/").replace("~0", "~")))
        .collect::<Option<Vec<String>>>()?;
    let (mut cur, rest) = match tokens.as_slice() {
        [defs, name, rest @ ..] if defs == "$defs" => {
            let in_defs = root.get("$defs").and_then(|d| d.get(name));
            (
                in_defs.or_else(|| root.get("definitions")?.get(name))?,
                rest,
            )
        }
        all => (root, all),
    };
    for token in rest {
        cur = match cur {
            OJson::Object(_) => cur.get(token)?,
            OJson::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------------------------------
// JsonSchemaData.toConnectSchema over everit's view.

/// A struct `JsonSchemaData` keeps in its context (by everit schema identity): being
/// converted, or done.
enum StructState {
    InProgress,
    Done(ConnectSchema),
}

struct Converter<'a> {
    nodes: &'a [Node],
    structs: HashMap<NodeId, StructState>,
    /// `$ref` targets being converted, to refuse recursion through non-struct schemas.
    resolving: HashSet<NodeId>,
    id_index: u32,
    /// The last `JSON_ID` value given to each struct reached again through a `$ref`.
    ids: HashMap<NodeId, String>,
    /// Whether a struct had parameters when it was built: Connect's built schema then shares
    /// its builder's parameter map and sees the `JSON_ID` added later; otherwise it does not.
    had_parameters: HashMap<NodeId, bool>,
}

fn plain(ty: ConnectType) -> ConnectSchema {
    ConnectSchema::of(ty)
}

fn enum_schema(values: &[Value]) -> ConnectSchema {
    let mut s = plain(ConnectType::String);
    // JSON enums have no name: Connect's placeholder is the empty string.
    s.parameters.insert(ENUM.to_string(), String::new());
    for v in values {
        let symbol = match v {
            Value::Null => NULL_MARKER.to_string(),
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        s.parameters.insert(format!("{ENUM}.{symbol}"), symbol);
    }
    s
}

fn ojson_i32(v: &OJson) -> Option<i32> {
    match v {
        OJson::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        _ => None,
    }
}

impl Converter<'_> {
    fn convert(
        &mut self,
        id: NodeId,
        version: Option<i32>,
        force_optional: bool,
    ) -> Result<ConnectSchema, String> {
        let nodes = self.nodes;
        let node = &nodes[id];
        let at = node.at.as_str();
        let connect_type = match &node.meta.connect_type {
            None => None,
            Some(OJson::String(t)) => Some(t.as_str()),
            Some(_) => return Err(format!("{at}: \"connect.type\" must be a string")),
        };
        let mut had_parameters = false;
        let mut is_struct = false;
        let mut s = match &node.kind {
            Kind::Boolean => plain(ConnectType::Boolean),
            Kind::Number { integer } => plain(match connect_type {
                None if *integer => ConnectType::Int64,
                None => ConnectType::Float64,
                Some("int8") => ConnectType::Int8,
                Some("int16") => ConnectType::Int16,
                Some("int32") => ConnectType::Int32,
                Some("int64") => ConnectType::Int64,
                Some("float32") => ConnectType::Float32,
                Some("float64") => ConnectType::Float64,
                Some("bytes") => ConnectType::Bytes,
                Some(other) => {
                    return Err(format!("{at}: unsupported connect.type \"{other}\""));
                }
            }),
            Kind::String if connect_type == Some("bytes") => plain(ConnectType::Bytes),
            Kind::String => plain(ConnectType::String),
            Kind::Const(v) => enum_schema(std::slice::from_ref(v)),
            Kind::Enum(values) => enum_schema(values),
            Kind::Combined { criterion, subs } => {
                if subs.len() == 1 {
                    // flatten.singleton.unions; JsonSchemaData passes neither the version nor
                    // the optionality on here.
                    return self.convert(subs[0], None, false);
                }
                if *criterion == Criterion::All {
                    return self.all_of(id, subs, version, force_optional);
                }
                let is_null = |n: &NodeId| matches!(nodes[*n].kind, Kind::Null);
                if subs.len() == 2 && subs.iter().any(is_null) {
                    // "Nullable X": an optional X. The combining schema's own title, default
                    // and connect.* annotations are not read.
                    return match subs.iter().find(|n| !is_null(n)) {
                        Some(x) => self.convert(*x, version, true),
                        None => Err(format!("{at}: a union of two nulls")),
                    };
                }
                let mut s = plain(ConnectType::Struct(Vec::new()));
                s.name = Some(ONE_OF.to_string());
                let mut fields = Vec::new();
                for sub in subs {
                    if is_null(sub) {
                        s.optional = true;
                    } else {
                        let name = format!("{ONE_OF}.field.{}", fields.len());
                        fields.push((name, self.convert(*sub, None, true)?));
                    }
                }
                s.ty = ConnectType::Struct(fields);
                s
            }
            Kind::Array { items } => {
                let Some(items) = items else {
                    return Err(format!("{at}: array schema did not specify the items type"));
                };
                let entry = match &nodes[*items].kind {
                    Kind::Object { properties, .. } if connect_type == Some("map") => {
                        Some(properties)
                    }
                    _ => None,
                };
                match entry {
                    Some(properties) => {
                        let part = |name: &str| {
                            properties
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, id)| *id)
                                .ok_or_else(|| {
                                    format!("{at}: map entries (connect.type map) have no \"{name}\" property")
                                })
                        };
                        let (k, v) = (part("key")?, part("value")?);
                        let key = self.convert(k, None, false)?;
                        let value = self.convert(v, None, false)?;
                        plain(ConnectType::Map(Box::new(key), Box::new(value)))
                    }
                    None => plain(ConnectType::Array(Box::new(
                        self.convert(*items, None, false)?,
                    ))),
                }
            }
            Kind::Object {
                properties,
                additional,
            } => {
                if connect_type == Some("map") {
                    let Some(values) = additional else {
                        return Err(format!(
                            "{at}: a map (connect.type map) needs an \"additionalProperties\" schema"
                        ));
                    };
                    let values = self.convert(*values, None, false)?;
                    plain(ConnectType::Map(
                        Box::new(plain(ConnectType::String)),
                        Box::new(values),
                    ))
                } else {
                    // A struct of the properties (additionalProperties alone makes an empty
                    // struct, not a map, as in Confluent). connect.index orders the fields;
                    // a property without one takes the number of fields placed so far, and
                    // an index met twice keeps the later property only, as Java's TreeMap.
                    self.structs.insert(id, StructState::InProgress);
                    is_struct = true;
                    let mut ordered: BTreeMap<i32, (&String, NodeId)> = BTreeMap::new();
                    for (name, sub) in properties {
                        let index = match &nodes[*sub].meta.connect_index {
                            None => ordered.len() as i32,
                            Some(v) => ojson_i32(v).ok_or_else(|| {
                                format!(
                                    "{at}/properties/{name}: \"connect.index\" must be an integer"
                                )
                            })?,
                        };
                        ordered.insert(index, (name, *sub));
                    }
                    let mut fields = Vec::with_capacity(ordered.len());
                    for (name, sub) in ordered.into_values() {
                        fields.push((name.clone(), self.convert(sub, None, false)?));
                    }
                    plain(ConnectType::Struct(fields))
                }
            }
            Kind::Ref(target) => return self.reference(*target, version, force_optional),
            Kind::Empty => {
                return Err(format!(
                    "{at}: a schema allowing any value ({{}} or true) is not supported (Confluent maps it to a Variant)"
                ));
            }
            Kind::Null => return Err(format!("{at}: a null schema outside a union")),
            Kind::Unsupported(what) => {
                return Err(format!("{at}: {what} has no Connect mapping"));
            }
            Kind::Pending => return Err(format!("{at}: unresolved reference")),
        };
        had_parameters |= matches!(node.kind, Kind::Enum(_) | Kind::Const(_));
        let meta = &node.meta;
        if let (Some(title), None) = (&meta.title, &s.name) {
            s.name = Some(title.clone());
        }
        match &meta.connect_version {
            Some(v) => {
                s.version = Some(
                    ojson_i32(v)
                        .ok_or_else(|| format!("{at}: \"connect.version\" must be an integer"))?,
                );
            }
            None => s.version = version,
        }
        if let Some(doc) = &meta.description {
            s.doc = Some(doc.clone());
        }
        match &meta.connect_parameters {
            None => {}
            Some(OJson::Object(entries)) => {
                had_parameters = true;
                for (k, v) in entries {
                    let text = v
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_value().to_string());
                    s.parameters.insert(k.clone(), text);
                }
            }
            Some(_) => return Err(format!("{at}: \"connect.parameters\" must be an object")),
        }
        match &meta.default {
            None => {}
            // Connect converts the default with the schema as built so far: a null is only
            // accepted where the schema is already optional (a union with a null member).
            Some(Value::Null) if s.optional => {}
            Some(Value::Null) => {
                return Err(format!(
                    "{at}: default null for a schema that does not allow null"
                ));
            }
            Some(d) => s.default = Some(d.clone()),
        }
        if force_optional {
            s.optional = true;
        }
        if is_struct {
            self.finish_struct(id, &mut s, had_parameters);
        }
        Ok(s)
    }

    /// A struct is complete: later `$ref`s to the same schema object reuse it.
    fn finish_struct(&mut self, id: NodeId, s: &mut ConnectSchema, had_parameters: bool) {
        s.parameters.insert(MARK_FIRST.into(), id.to_string());
        self.had_parameters.insert(id, had_parameters);
        let mut copy = s.clone();
        copy.parameters.remove(MARK_FIRST);
        copy.parameters.insert(MARK_COPY.into(), id.to_string());
        self.structs.insert(id, StructState::Done(copy));
    }

    /// `$ref`: the target's conversion, or, when the target is a struct converted before, that
    /// struct again (Connect wraps the same builder and gives it a `JSON_ID` parameter).
    fn reference(
        &mut self,
        target: NodeId,
        version: Option<i32>,
        force_optional: bool,
    ) -> Result<ConnectSchema, String> {
        match self.structs.get(&target) {
            Some(StructState::Done(s)) => {
                let mut s = s.clone();
                s.optional = force_optional;
                self.id_index += 1;
                self.ids.insert(target, format!("#id{}", self.id_index));
                return Ok(s);
            }
            Some(StructState::InProgress) => {
                return Err(format!(
                    "{}: a recursive schema (it refers to itself) has no Connect mapping here",
                    self.nodes[target].at
                ));
            }
            None => {}
        }
        if !self.resolving.insert(target) {
            return Err(format!(
                "{}: a recursive schema (it refers to itself) has no Connect mapping here",
                self.nodes[target].at
            ));
        }
        let out = self.convert(target, version, force_optional);
        self.resolving.remove(&target);
        out
    }

    /// `allOf` (including everit's synthetic ones), as `allOfToConnectSchema`.
    fn all_of(
        &mut self,
        id: NodeId,
        subs: &[NodeId],
        version: Option<i32>,
        force_optional: bool,
    ) -> Result<ConnectSchema, String> {
        let nodes = self.nodes;
        let (mut constant, mut enumeration, mut number, mut string, mut combined, mut reference) =
            (None, None, None, None, None, None);
        let mut properties: Vec<(String, NodeId)> = Vec::new();
        let mut visited = HashSet::new();
        for sub in subs {
            match &nodes[*sub].kind {
                Kind::Const(_) => constant = Some(*sub),
                Kind::Enum(_) => enumeration = Some(*sub),
                Kind::Number { .. } => number = Some(*sub),
                Kind::String => string = Some(*sub),
                Kind::Combined { .. } => combined = Some(*sub),
                Kind::Ref(_) => reference = Some(*sub),
                _ => {}
            }
            self.collect_properties(*sub, &mut properties, &mut visited);
        }
        if !properties.is_empty() {
            // A struct of every property met; no name, doc or default of its own.
            self.structs.insert(id, StructState::InProgress);
            let mut fields = Vec::with_capacity(properties.len());
            for (name, sub) in properties {
                fields.push((name, self.convert(sub, None, false)?));
            }
            let mut s = plain(ConnectType::Struct(fields));
            s.optional = force_optional;
            self.finish_struct(id, &mut s, false);
            return Ok(s);
        }
        let at = &nodes[id].at;
        let unsupported =
            || format!("{at}: this combination of schemas (allOf) has no Connect mapping");
        if let Some(c) = combined {
            return self.convert(c, version, force_optional);
        }
        // The format validator of an everit string schema is never absent, so a string
        // part always counts as "a string with a format" here.
        let pick = match (constant, enumeration) {
            (Some(_), _) => string.or(number),
            (None, Some(e)) => {
                if string.is_some() {
                    Some(e)
                } else {
                    number
                }
            }
            (None, None) if string.is_some() => number.or(string),
            (None, None) => match reference {
                Some(r) => {
                    let Kind::Ref(target) = nodes[r].kind else {
                        return Err(unsupported());
                    };
                    return self.reference(target, version, force_optional);
                }
                None => None,
            },
        };
        match pick {
            Some(p) => self.convert(p, version, force_optional),
            None => Err(unsupported()),
        }
    }

    fn collect_properties(
        &self,
        id: NodeId,
        out: &mut Vec<(String, NodeId)>,
        visited: &mut HashSet<NodeId>,
    ) {
        if !visited.insert(id) {
            return;
        }
        match &self.nodes[id].kind {
            Kind::Combined {
                criterion: Criterion::All,
                subs,
            } => {
                for sub in subs {
                    self.collect_properties(*sub, out, visited);
                }
            }
            Kind::Object { properties, .. } => {
                // Java's LinkedHashMap: a name met again keeps its place, takes the new schema.
                for (name, sub) in properties {
                    match out.iter_mut().find(|(n, _)| n == name) {
                        Some(slot) => slot.1 = *sub,
                        None => out.push((name.clone(), *sub)),
                    }
                }
            }
            Kind::Ref(target) => self.collect_properties(*target, out, visited),
            _ => {}
        }
    }
}

/// Replaces the compilation marks: a struct reached again through a `$ref` carries the last
/// `JSON_ID` given to it; the first one only when its builder had parameters when built.
fn settle_marks(s: &mut ConnectSchema, ids: &HashMap<NodeId, String>, had: &HashMap<NodeId, bool>) {
    let node = |v: Option<String>| v.and_then(|t| t.parse::<NodeId>().ok());
    if let Some(n) = node(s.parameters.remove(MARK_FIRST))
        && let Some(id) = ids.get(&n)
        && had.get(&n).copied().unwrap_or(false)
    {
        s.parameters.insert(JSON_ID.into(), id.clone());
    }
    if let Some(n) = node(s.parameters.remove(MARK_COPY))
        && let Some(id) = ids.get(&n)
    {
        s.parameters.insert(JSON_ID.into(), id.clone());
    }
    match &mut s.ty {
        ConnectType::Array(items) => settle_marks(items, ids, had),
        ConnectType::Map(k, v) => {
            settle_marks(k, ids, had);
            settle_marks(v, ids, had);
        }
        ConnectType::Struct(fields) => {
            for (_, f) in fields {
                settle_marks(f, ids, had);
            }
        }
        _ => {}
    }
}

/// Connect's logical types by name, on the types they are defined for.
fn check_logical(s: &ConnectSchema, path: &str) -> Result<(), String> {
    let want = match s.name.as_deref() {
        Some(DECIMAL) => Some(ConnectType::Bytes),
        Some(DATE) | Some(TIME) => Some(ConnectType::Int32),
        Some(TIMESTAMP) => Some(ConnectType::Int64),
        _ => None,
    };
    if let Some(want) = want
        && s.ty != want
    {
        return Err(format!(
            "{path}: {} needs Connect type {want:?} (connect.type), found {:?}",
            s.name.as_deref().unwrap_or_default(),
            s.ty
        ));
    }
    if s.name.as_deref() == Some(DECIMAL) {
        let scale = s.parameters.get("scale").map(|v| v.parse::<i8>());
        if !matches!(scale, Some(Ok(_))) {
            return Err(format!(
                "{path}: Decimal needs a \"scale\" connect.parameter (a small integer)"
            ));
        }
    }
    match &s.ty {
        ConnectType::Array(items) => check_logical(items, &format!("{path}[]")),
        ConnectType::Map(k, v) => {
            check_logical(k, &format!("{path}.key"))?;
            check_logical(v, &format!("{path}.value"))
        }
        ConnectType::Struct(fields) => fields
            .iter()
            .try_for_each(|(n, f)| check_logical(f, &format!("{path}.{n}"))),
        _ => Ok(()),
    }
}

/// Each default must read as a value of its schema, as Connect converts it when it builds
/// the schema.
fn check_defaults(s: &ConnectSchema, path: &str) -> Result<(), String> {
    if let Some(d) = &s.default {
        let mut scratch = ColumnBuilder::new(s, 1);
        append(&mut scratch, s, Some(d), &Path::Root("default"))
            .map_err(|e| format!("{path}: invalid default: {e}"))?;
    }
    match &s.ty {
        ConnectType::Array(items) => check_defaults(items, &format!("{path}[]")),
        ConnectType::Map(k, v) => {
            check_defaults(k, &format!("{path}.key"))?;
            check_defaults(v, &format!("{path}.value"))
        }
        ConnectType::Struct(fields) => fields
            .iter()
            .try_for_each(|(n, f)| check_defaults(f, &format!("{path}.{n}"))),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// JsonSchemaData.toConnectData into column builders.

/// Where a value is, built without allocating and rendered only for errors.
enum Path<'a> {
    Root(&'a str),
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Path::Root("") => f.write_str("value"),
            Path::Root(name) => f.write_str(name),
            Path::Field(Path::Root(""), name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Leaves appended by [`ColumnBuilder::append`] hold no null and no missing value here, so its
/// null handling is never reached.
const LEAF: ReadOptions = ReadOptions {
    replace_null_with_default: true,
};

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Appends one value (`None`: the property is absent) under `s`.
fn append(
    col: &mut ColumnBuilder,
    s: &ConnectSchema,
    value: Option<&Value>,
    path: &Path,
) -> Result<(), String> {
    let v = match value {
        Some(Value::Null) | None => match &s.default {
            // Connect's default replaces a missing or null value, whatever the optionality.
            Some(d) => d,
            None if s.optional => {
                col.append_null();
                return Ok(());
            }
            None if value.is_none() => {
                return Err(format!(
                    "{path}: missing value for a required field (JSON Schema properties map to required Connect fields unless nullable: \"oneOf\" with {{\"type\": \"null\"}} or \"type\": [..., \"null\"])"
                ));
            }
            None => return Err(format!("{path}: null value for a required field")),
        },
        Some(v) => v,
    };
    let mismatch = |want: &str| format!("{path}: expected {want}, found {}", kind_of(v));
    if s.logical().is_some() {
        // Decimal (a JSON number, or base64 bytes as Connect writes it by default), Date and
        // Time (int32), Timestamp (int64): JsonSchemaData reads them as ColumnBuilder does.
        return col
            .append(s, Some(v), LEAF, "")
            .map_err(|e| format!("{path}{e}"));
    }
    match (&s.ty, col) {
        (ConnectType::Boolean, ColumnBuilder::Bool(b)) => {
            b.append_value(v.as_bool().ok_or_else(|| mismatch("boolean"))?);
        }
        (ConnectType::Int8, ColumnBuilder::I8(b)) => b.append_value(integer(v, "int8", path)?),
        (ConnectType::Int16, ColumnBuilder::I16(b)) => b.append_value(integer(v, "int16", path)?),
        (ConnectType::Int32, ColumnBuilder::I32(b)) => b.append_value(integer(v, "int32", path)?),
        (ConnectType::Int64, ColumnBuilder::I64(b)) => b.append_value(integer(v, "int64", path)?),
        (ConnectType::Float32, ColumnBuilder::F32(b)) => {
            b.append_value(v.as_f64().ok_or_else(|| mismatch("number"))? as f32);
        }
        (ConnectType::Float64, ColumnBuilder::F64(b)) => {
            b.append_value(v.as_f64().ok_or_else(|| mismatch("number"))?);
        }
        (ConnectType::String, ColumnBuilder::Utf8(b)) => {
            b.append_value(v.as_str().ok_or_else(|| mismatch("string"))?);
        }
        // Base64 text, as Jackson reads a binary node.
        (ConnectType::Bytes, col @ ColumnBuilder::Binary(_)) => {
            col.append(s, Some(v), LEAF, "")
                .map_err(|e| format!("{path}{e}"))?;
        }
        (
            ConnectType::Array(item_schema),
            ColumnBuilder::List {
                offsets,
                nulls,
                items,
                ..
            },
        ) => {
            let arr = v.as_array().ok_or_else(|| mismatch("array"))?;
            for (i, item) in arr.iter().enumerate() {
                append(items, item_schema, Some(item), &Path::Index(path, i))?;
            }
            let last = offsets.last().copied().unwrap_or(0);
            offsets.push(last + arr.len() as i32);
            nulls.append_non_null();
        }
        (
            ConnectType::Map(ks, vs),
            ColumnBuilder::Map {
                offsets,
                nulls,
                keys,
                values,
                ..
            },
        ) => {
            let mut n = 0;
            if ks.ty == ConnectType::String && !ks.optional {
                // A JSON object: string keys (connect.type map with additionalProperties).
                let obj = v.as_object().ok_or_else(|| mismatch("object (map)"))?;
                for (k, item) in obj {
                    let key = Value::String(k.clone());
                    append(keys, ks, Some(&key), path)?;
                    append(values, vs, Some(item), &Path::Field(path, k))?;
                    n += 1;
                }
            } else {
                // An array of {"key": ..., "value": ...} objects.
                let arr = v
                    .as_array()
                    .ok_or_else(|| mismatch("array of {\"key\", \"value\"} objects (map)"))?;
                for (i, entry) in arr.iter().enumerate() {
                    let at = Path::Index(path, i);
                    let obj = entry.as_object().filter(|o| o.len() == 2).ok_or_else(|| {
                        format!("{at}: expected a map entry {{\"key\": ..., \"value\": ...}}")
                    })?;
                    let key = obj
                        .get("key")
                        .filter(|k| !k.is_null())
                        .ok_or_else(|| format!("{at}: a map entry needs a non-null \"key\""))?;
                    append(keys, ks, Some(key), &Path::Field(&at, "key"))?;
                    append(values, vs, obj.get("value"), &Path::Field(&at, "value"))?;
                    n += 1;
                }
            }
            let last = offsets.last().copied().unwrap_or(0);
            offsets.push(last + n);
            nulls.append_non_null();
        }
        (
            ConnectType::Struct(fields),
            ColumnBuilder::Struct {
                nulls,
                children,
                len,
                ..
            },
        ) => {
            fill_struct(children, s, fields, v, path)?;
            nulls.append_non_null();
            *len += 1;
        }
        _ => {
            return Err(format!(
                "{path}: internal error: column does not match schema"
            ));
        }
    }
    Ok(())
}

/// An integer of the given Connect type. A number with a zero fraction (`5.0`) is an integer
/// in JSON Schema and Connect reads it as one; a fraction or an out-of-range value is an error
/// here where Jackson would truncate or wrap it.
fn integer<T: TryFrom<i64>>(v: &Value, want: &str, path: &Path) -> Result<T, String> {
    let n = match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(i),
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64)
                .map(|f| f as i64),
        },
        _ => None,
    };
    let Some(n) = n else {
        return Err(format!(
            "{path}: expected an integer ({want}), found {}",
            match v {
                Value::Number(n) => n.to_string(),
                other => kind_of(other).to_string(),
            }
        ));
    };
    T::try_from(n).map_err(|_| format!("{path}: {n} is out of range for {want}"))
}

/// The fields of a struct value into one builder each (the row's columns, or a struct
/// column's children).
fn fill_struct(
    children: &mut [ColumnBuilder],
    s: &ConnectSchema,
    fields: &[(String, ConnectSchema)],
    v: &Value,
    path: &Path,
) -> Result<(), String> {
    if s.name.as_deref() == Some(ONE_OF) {
        let branch = union_branch(fields, v).ok_or_else(|| {
            format!(
                "{path}: the {} value matches no member of the oneOf/anyOf",
                kind_of(v)
            )
        })?;
        for (i, ((name, fs), child)) in fields.iter().zip(children.iter_mut()).enumerate() {
            if i == branch {
                append(child, fs, Some(v), &Path::Field(path, name))?;
            } else {
                child.append_null();
            }
        }
        return Ok(());
    }
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{path}: expected object (struct), found {}", kind_of(v)))?;
    for ((name, fs), child) in fields.iter().zip(children.iter_mut()) {
        append(child, fs, obj.get(name), &Path::Field(path, name))?;
    }
    Ok(())
}

/// Which member of a Connect OneOf struct a value belongs to, as `JsonSchemaData` decides:
/// the first non-struct member whose JSON kind fits (Jackson reads every number with a
/// fraction as a BigDecimal, which also fits bytes/Decimal), else the struct member sharing
/// the most property names with the value (counting nested structs), the first on a tie.
fn union_branch(fields: &[(String, ConnectSchema)], v: &Value) -> Option<usize> {
    let mut best = None;
    let mut best_count = 0;
    for (i, (_, fs)) in fields.iter().enumerate() {
        let fits = match fs.ty {
            ConnectType::Int8 | ConnectType::Int16 | ConnectType::Int32 | ConnectType::Int64 => {
                v.as_number().is_some_and(|n| !n.is_f64())
            }
            ConnectType::Float32 | ConnectType::Float64 => v.is_number(),
            ConnectType::Boolean => v.is_boolean(),
            ConnectType::String => v.is_string(),
            ConnectType::Bytes => v.as_number().is_some_and(Number::is_f64),
            ConnectType::Array(_) => v.is_array(),
            ConnectType::Map(..) => v.is_object() || v.is_array(),
            ConnectType::Struct(_) => false,
        };
        if fits {
            return Some(i);
        }
        let count = struct_match(fs, v);
        if count > best_count {
            best_count = count;
            best = Some(i);
        }
    }
    best
}

fn struct_match(s: &ConnectSchema, v: &Value) -> usize {
    let (ConnectType::Struct(fields), Value::Object(obj)) = (&s.ty, v) else {
        return 0;
    };
    fields
        .iter()
        .filter_map(|(name, fs)| obj.get(name).map(|child| 1 + struct_match(fs, child)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Date32Type, Decimal128Type, Float64Type, Int8Type, Int32Type, Int64Type,
        TimestampMillisecondType,
    };
    use arrow_array::{Array, ArrayRef, MapArray, StructArray};
    use serde_json::json;

    /// Decodes payloads with a schema: the Connect schema and one finished array per column.
    fn decode(
        schema: &impl ToString,
        refs: &[(&str, Value)],
        rows: &[Value],
    ) -> (ConnectSchema, Vec<ArrayRef>) {
        let refs: Vec<(String, String)> = refs
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let d = JsonSchemaDecoder::new(&schema.to_string(), &refs).unwrap();
        let mut cols = columns(d.connect_schema());
        for r in rows {
            d.decode_row(r.to_string().as_bytes(), &mut cols).unwrap();
        }
        (
            d.connect.clone(),
            cols.iter_mut().map(|c| c.finish()).collect(),
        )
    }

    fn columns(s: &ConnectSchema) -> Vec<ColumnBuilder> {
        match &s.ty {
            ConnectType::Struct(fields) => fields
                .iter()
                .map(|(_, f)| ColumnBuilder::new(f, 4))
                .collect(),
            _ => vec![ColumnBuilder::new(s, 4)],
        }
    }

    fn decode_err(schema: &impl ToString, row: &str) -> String {
        let d = JsonSchemaDecoder::new(&schema.to_string(), &[]).unwrap();
        let mut cols = columns(d.connect_schema());
        d.decode_row(row.as_bytes(), &mut cols).unwrap_err()
    }

    fn names(s: &ConnectSchema) -> Vec<&str> {
        match &s.ty {
            ConnectType::Struct(f) => f.iter().map(|(n, _)| n.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn field<'a>(s: &'a ConnectSchema, name: &str) -> &'a ConnectSchema {
        match &s.ty {
            ConnectType::Struct(f) => &f.iter().find(|(n, _)| n == name).unwrap().1,
            _ => panic!("not a struct"),
        }
    }

    fn strings(a: &ArrayRef) -> Vec<Option<String>> {
        a.as_string::<i32>()
            .iter()
            .map(|s| s.map(String::from))
            .collect()
    }

    #[test]
    fn java_hash_order_matches_everit() {
        // Orders printed by everit-json-schema 1.14.6's ObjectSchema.getPropertySchemas().
        let order = |keys: &[&str]| -> Vec<String> {
            java_hash_order(keys.iter().map(|k| (k.to_string(), ())).collect())
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(
            order(&[
                "zeta", "alpha", "mid", "beta", "id", "name", "tags", "address"
            ]),
            [
                "zeta", "address", "alpha", "name", "mid", "id", "beta", "tags"
            ]
        );
        assert_eq!(
            order(&["id", "name", "email", "age", "active"]),
            ["name", "active", "id", "email", "age"]
        );
        assert_eq!(
            order(&[
                "order_id",
                "customer",
                "created_at",
                "updated_at",
                "status",
                "total",
                "currency",
                "items",
                "shipping_address",
                "billing_address",
                "notes",
                "discount",
                "tax",
                "payment_method"
            ]),
            [
                "notes",
                "created_at",
                "discount",
                "billing_address",
                "tax",
                "total",
                "updated_at",
                "currency",
                "shipping_address",
                "order_id",
                "items",
                "payment_method",
                "customer",
                "status"
            ]
        );
        assert_eq!(java_hash("é"), 0xe9);
    }

    /// A schema as a confluent-kafka JSONSerializer user writes it: no connect.* annotations.
    /// Kept as text: where two property names share a Java hash bucket (`email`, `age`), the
    /// document order decides, and `serde_json::Value` would sort the names.
    fn user_schema() -> String {
        r##"{
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "User",
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "email": {"type": ["string", "null"]},
                "age": {"oneOf": [{"type": "null"}, {"type": "integer"}]},
                "active": {"type": "boolean", "default": true},
                "score": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "address": {"$ref": "#/definitions/Address"},
                "previous": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Address"}]}
            },
            "required": ["id", "name"],
            "definitions": {
                "Address": {"type": "object", "title": "Address", "properties": {
                    "street": {"type": "string"}, "zip": {"type": "integer", "format": "int32"}}}
            }
        }"##
        .to_string()
    }

    #[test]
    fn user_written_schema_maps_like_json_schema_data() {
        let rows = [
            json!({"id": 1, "name": "ann", "email": "a@x", "age": 30, "active": false, "score": 1.5,
                   "tags": ["a", "b"], "address": {"street": "Main", "zip": 12345}, "previous": null}),
            json!({"id": 2, "name": "bob", "email": null, "score": 2, "tags": [],
                   "address": {"street": "Side", "zip": 1.0},
                   "previous": {"street": "Old", "zip": 7}}),
        ];
        let (s, cols) = decode(&user_schema(), &[], &rows);
        assert_eq!(s.name.as_deref(), Some("User"));
        // Field order: Java HashMap order of the property names (no connect.index).
        assert_eq!(
            names(&s),
            [
                "score", "address", "previous", "name", "active", "id", "email", "age", "tags"
            ]
        );
        // Only nullable properties are optional; `required` changes nothing by default.
        assert!(!field(&s, "id").optional && field(&s, "id").ty == ConnectType::Int64);
        assert!(!field(&s, "score").optional && field(&s, "score").ty == ConnectType::Float64);
        assert!(field(&s, "email").optional && field(&s, "age").optional);
        assert_eq!(field(&s, "active").default, Some(json!(true)));
        let address = field(&s, "address");
        assert_eq!(address.name.as_deref(), Some("Address"));
        // "type": "integer" with "format": a synthetic allOf, still an INT64.
        assert_eq!(field(address, "zip").ty, ConnectType::Int64);
        // The same definition reached twice: Connect marks the second use with an id.
        let previous = field(&s, "previous");
        assert!(previous.optional);
        assert_eq!(
            previous.parameters.get(JSON_ID).map(String::as_str),
            Some("#id1")
        );
        assert!(!address.parameters.contains_key(JSON_ID));

        let idx = |n: &str| names(&s).iter().position(|x| *x == n).unwrap();
        assert_eq!(
            cols[idx("id")].as_primitive::<Int64Type>().values(),
            &[1, 2]
        );
        assert_eq!(strings(&cols[idx("email")]), [Some("a@x".into()), None]);
        let age = cols[idx("age")].as_primitive::<Int64Type>();
        assert_eq!((age.value(0), age.is_null(1)), (30, true));
        // The default replaces the missing value.
        let active = cols[idx("active")].as_boolean();
        assert_eq!((active.value(0), active.value(1)), (false, true));
        assert_eq!(
            cols[idx("score")].as_primitive::<Float64Type>().values(),
            &[1.5, 2.0]
        );
        let tags = cols[idx("tags")].as_list::<i32>();
        assert_eq!(tags.value_length(0), 2);
        assert_eq!(tags.value_length(1), 0);
        let addr = cols[idx("address")].as_struct();
        let zip = addr
            .column_by_name("zip")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(zip.values(), &[12345, 1]);
        let prev = cols[idx("previous")].as_struct();
        assert!(prev.is_null(0) && prev.is_valid(1));
        assert_eq!(
            strings(prev.column_by_name("street").unwrap())[1].as_deref(),
            Some("Old")
        );
    }

    /// A schema as JsonSchemaData.fromConnectSchema writes it.
    fn connect_written_schema() -> Value {
        json!({
            "type": "object", "title": "com.acme.Order", "connect.version": 3,
            "properties": {
                "tiny": {"type": "integer", "connect.index": 0, "connect.type": "int8"},
                "count": {"type": "integer", "connect.index": 1, "connect.type": "int32"},
                "ratio": {"type": "number", "connect.index": 2, "connect.type": "float32"},
                "note": {"connect.index": 3, "oneOf": [{"type": "null"}, {"type": "string"}]},
                "blob": {"type": "string", "connect.index": 4, "connect.type": "bytes"},
                "amount": {"type": "number", "connect.index": 5, "connect.type": "bytes",
                           "title": "org.apache.kafka.connect.data.Decimal", "connect.version": 1,
                           "connect.parameters": {"scale": "2", "connect.decimal.precision": "10"}},
                "day": {"type": "integer", "connect.index": 6, "connect.type": "int32",
                        "title": "org.apache.kafka.connect.data.Date", "connect.version": 1},
                "at": {"type": "integer", "connect.index": 7, "connect.type": "int64",
                       "title": "org.apache.kafka.connect.data.Timestamp", "connect.version": 1},
                "attrs": {"type": "object", "connect.index": 8, "connect.type": "map",
                          "additionalProperties": {"oneOf": [{"type": "null"}, {"type": "integer", "connect.type": "int64"}]}},
                "by_id": {"type": "array", "connect.index": 9, "connect.type": "map",
                          "items": {"type": "object", "properties": {
                              "key": {"type": "integer", "connect.type": "int32", "connect.index": 0},
                              "value": {"type": "string", "connect.index": 1}}}},
                "level": {"type": "string", "connect.index": 10, "enum": ["LOW", "HIGH"]},
                "retries": {"type": "integer", "connect.index": 11, "connect.type": "int32", "default": 3}
            }
        })
    }

    #[test]
    fn connect_written_schema_keeps_index_order_types_and_logical_types() {
        let rows = [
            json!({
                "tiny": -5, "count": 7, "ratio": 0.5, "note": "hi", "blob": "AQI=",
                "amount": "BNI=", "day": 19000, "at": 1700000000000_i64,
                "attrs": {"a": 1, "b": null}, "by_id": [{"key": 4, "value": "four"}],
                "level": "HIGH"
            }),
            json!({
                "tiny": 5, "count": 8, "ratio": 1, "note": null, "blob": "",
                "amount": 12.3, "day": 1, "at": 0, "attrs": {}, "by_id": [], "level": "LOW", "retries": 9
            }),
        ];
        let (s, cols) = decode(&connect_written_schema(), &[], &rows);
        assert_eq!(
            names(&s),
            [
                "tiny", "count", "ratio", "note", "blob", "amount", "day", "at", "attrs", "by_id",
                "level", "retries"
            ]
        );
        assert_eq!(
            (s.name.as_deref(), s.version),
            (Some("com.acme.Order"), Some(3))
        );
        assert_eq!(
            field(&s, "level")
                .parameters
                .get(&format!("{ENUM}.HIGH"))
                .map(String::as_str),
            Some("HIGH")
        );
        assert_eq!(cols[0].as_primitive::<Int8Type>().values(), &[-5, 5]);
        assert_eq!(cols[1].as_primitive::<Int32Type>().values(), &[7, 8]);
        assert_eq!(strings(&cols[3]), [Some("hi".into()), None]);
        assert_eq!(cols[4].as_binary::<i32>().value(0), &[1, 2]);
        let amount = cols[5].as_primitive::<Decimal128Type>();
        assert_eq!(
            amount.data_type(),
            &arrow_schema::DataType::Decimal128(10, 2)
        );
        assert_eq!(amount.values(), &[1234, 1230]);
        assert_eq!(cols[6].as_primitive::<Date32Type>().values(), &[19000, 1]);
        assert_eq!(
            cols[7].as_primitive::<TimestampMillisecondType>().value(0),
            1_700_000_000_000
        );
        let attrs = cols[8].as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(attrs.value_length(0), 2);
        assert_eq!(attrs.value_length(1), 0);
        let by_id = cols[9].as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(by_id.keys().as_primitive::<Int32Type>().values(), &[4]);
        assert_eq!(strings(by_id.values())[0].as_deref(), Some("four"));
        assert_eq!(cols[11].as_primitive::<Int32Type>().values(), &[3, 9]);
    }

    #[test]
    fn general_one_of_is_a_struct_union() {
        let schema = json!({
            "type": "object", "properties": {"v": {"oneOf": [
                {"type": "null"},
                {"type": "integer"},
                {"type": "string"},
                {"type": "object", "title": "A", "properties": {"a": {"type": "integer"}, "x": {"type": "string"}}},
                {"type": "object", "title": "B", "properties": {"b": {"type": "integer"}}}
            ]}}
        });
        let rows = [
            json!({"v": 5}),
            json!({"v": "five"}),
            json!({"v": {"b": 2}}),
            json!({"v": null}),
            json!({"v": {"a": 1, "x": "y"}}),
        ];
        let (s, cols) = decode(&schema, &[], &rows);
        let v = field(&s, "v");
        assert_eq!(v.name.as_deref(), Some(ONE_OF));
        assert!(v.optional);
        assert_eq!(
            names(v),
            [0, 1, 2, 3].map(|i| format!("{ONE_OF}.field.{i}"))
        );
        assert!(names(v).iter().all(|n| field(v, n).optional));
        let u = cols[0].as_any().downcast_ref::<StructArray>().unwrap();
        assert!(u.is_null(3));
        let ints = u.column(0).as_primitive::<Int64Type>();
        assert!(ints.is_valid(0) && ints.is_null(1) && ints.is_null(2));
        assert_eq!(strings(u.column(1))[1].as_deref(), Some("five"));
        assert!(u.column(2).is_valid(4) && u.column(2).is_null(2));
        assert!(u.column(3).is_valid(2) && u.column(3).is_null(4));
        let e = decode_err(&schema, r#"{"v": true}"#);
        assert_eq!(
            e,
            "v: the boolean value matches no member of the oneOf/anyOf"
        );
    }

    #[test]
    fn references_to_other_registered_schemas() {
        let address = json!({"type": "object", "properties": {"city": {"type": "string"},
                             "geo": {"$ref": "#/definitions/Geo"}},
                             "definitions": {"Geo": {"type": "array", "items": {"type": "number"}}}});
        let schema = json!({"type": "object", "properties": {
            "home": {"$ref": "address.json"},
            "geo": {"$ref": "address.json#/definitions/Geo"},
            "item": {"$ref": "#/$defs/Item"}
        }, "definitions": {"Item": {"type": "string"}}});
        let rows = [json!({"home": {"city": "Oslo", "geo": [1.0, 2.5]}, "geo": [3], "item": "x"})];
        let (s, cols) = decode(&schema, &[("address.json", address)], &rows);
        assert!(matches!(
            field(field(&s, "home"), "geo").ty,
            ConnectType::Array(_)
        ));
        assert_eq!(field(&s, "item").ty, ConnectType::String);
        let idx = names(&s).iter().position(|n| *n == "home").unwrap();
        let home = cols[idx].as_struct();
        assert_eq!(
            strings(home.column_by_name("city").unwrap())[0].as_deref(),
            Some("Oslo")
        );
        let e = JsonSchemaDecoder::new(r#"{"$ref": "missing.json"}"#, &[]).unwrap_err();
        assert!(e.contains("no referenced schema \"missing.json\""), "{e}");
    }

    #[test]
    fn all_of_merges_object_properties() {
        let schema = json!({
            "allOf": [{"$ref": "#/definitions/Base"}, {"properties": {"extra": {"type": "boolean"}}}],
            "definitions": {"Base": {"type": "object", "properties": {"id": {"type": "string"}}}}
        });
        let (s, _) = decode(&schema, &[], &[json!({"id": "a", "extra": true})]);
        assert_eq!(names(&s), ["id", "extra"]);
    }

    #[test]
    fn map_from_additional_properties_needs_connect_type() {
        // As in Confluent, an object with additionalProperties only is an empty struct.
        let plain = json!({"type": "object", "properties": {
            "m": {"type": "object", "additionalProperties": {"type": "integer"}}}});
        let (s, _) = decode(&plain, &[], &[]);
        assert_eq!(field(&s, "m").ty, ConnectType::Struct(Vec::new()));
        let map = json!({"type": "object", "properties": {
            "m": {"type": "object", "connect.type": "map", "additionalProperties": {"type": "integer"}}}});
        let (s, cols) = decode(&map, &[], &[json!({"m": {"x": 1, "y": 2}})]);
        assert!(
            matches!(&field(&s, "m").ty, ConnectType::Map(k, _) if k.ty == ConnectType::String)
        );
        let m = cols[0].as_any().downcast_ref::<MapArray>().unwrap();
        assert_eq!(strings(m.keys()), [Some("x".into()), Some("y".into())]);
        assert_eq!(m.values().as_primitive::<Int64Type>().values(), &[1, 2]);
    }

    #[test]
    fn top_level_non_object_schemas_fill_one_column() {
        let (s, cols) = decode(
            &json!({"type": ["string", "null"]}),
            &[],
            &[json!("a"), json!(null)],
        );
        assert!(s.optional && s.ty == ConnectType::String);
        assert_eq!(strings(&cols[0]), [Some("a".into()), None]);
    }

    #[test]
    fn bad_values_are_errors_naming_the_field() {
        let s = user_schema();
        let base = json!({"id": 1, "name": "n", "score": 1, "tags": [], "address": {"street": "s", "zip": 1}});
        let with = |k: &str, v: Value| {
            let mut row = base.clone();
            match v {
                Value::Null if k.starts_with('-') => row.as_object_mut().unwrap().remove(&k[1..]),
                v => row.as_object_mut().unwrap().insert(k.to_string(), v),
            };
            row.to_string()
        };
        assert_eq!(
            decode_err(&s, &with("id", json!("one"))),
            "id: expected an integer (int64), found string"
        );
        assert_eq!(
            decode_err(&s, &with("id", json!(1.5))),
            "id: expected an integer (int64), found 1.5"
        );
        assert_eq!(
            decode_err(&s, &with("tags", json!(["a", 2]))),
            "tags[1]: expected string, found integer"
        );
        assert_eq!(
            decode_err(&s, &with("address", json!({"street": "s", "zip": "x"}))),
            "address.zip: expected an integer (int64), found string"
        );
        let e = decode_err(&s, &with("-address", Value::Null));
        assert!(
            e.starts_with("address: missing value for a required field"),
            "{e}"
        );
        assert_eq!(
            decode_err(&s, &with("name", Value::Null)),
            "name: null value for a required field"
        );
        assert!(decode_err(&s, "{nope").starts_with("invalid JSON value"));
        assert_eq!(
            decode_err(&s, "[1]"),
            "value: expected object (struct), found array"
        );
        assert_eq!(decode_err(&s, "null"), "null value for a required struct");
        let c = connect_written_schema();
        assert_eq!(
            decode_err(&c, r#"{"tiny": 300}"#),
            "tiny: 300 is out of range for int8"
        );
        let e = decode_err(
            &c,
            r#"{"tiny": 1, "count": 1, "ratio": 1, "note": null, "blob": "!!"}"#,
        );
        assert_eq!(e, "blob: invalid base64 for bytes");
        let e = decode_err(
            &c,
            r#"{"tiny": 1, "count": 1, "ratio": 1, "note": null, "blob": "", "amount": true}"#,
        );
        assert_eq!(
            e,
            "amount: expected Decimal (base64 string or number), found boolean"
        );
    }

    #[test]
    fn unsupported_schemas_are_errors() {
        let err = |s: Value| JsonSchemaDecoder::new(&s.to_string(), &[]).unwrap_err();
        let e = err(json!({"type": "object", "properties": {"any": {}}}));
        assert!(
            e.contains("#/properties/any") && e.contains("any value"),
            "{e}"
        );
        let e = err(json!({"type": "object", "properties": {"n": {"$ref": "#"}}}));
        assert!(e.contains("recursive"), "{e}");
        let e = err(json!({"type": "array"}));
        assert!(e.contains("did not specify the items type"), "{e}");
        let e = err(json!({"type": "integer", "connect.type": "int128"}));
        assert!(e.contains("unsupported connect.type \"int128\""), "{e}");
        let e = err(
            json!({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}}),
        );
        assert_eq!(
            e,
            "schema.a: invalid default: default: expected an integer (int64), found string"
        );
        let e = err(json!({"type": "string", "default": null}));
        assert!(e.contains("default null"), "{e}");
        let dup = r#"{"type": "object", "properties": {"a": {"type": "string"}, "a": {"type": "integer"}}}"#;
        let e = JsonSchemaDecoder::new(dup, &[]).unwrap_err();
        assert!(e.contains("duplicate key"), "{e}");
    }
}
