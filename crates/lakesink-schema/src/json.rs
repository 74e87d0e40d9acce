//! JSON Schema (`schemaType: JSON`): reading and validating a schema and the schemas it
//! references, its stored (canonical) and normalized forms, and `$ref` resolution for the
//! compatibility checker ([`crate::compat::json`]).
//!
//! Confluent keeps the schema's JSON tree as written and stores a compact re-serialisation of
//! it (Jackson: key order kept, numbers kept as exact decimals); `normalize` additionally sorts
//! object keys. The JSON is read by a small reader here rather than into `serde_json::Value`,
//! because this workspace's `serde_json` sorts object keys and rounds numbers to `f64`, and the
//! stored form must keep both as written.
//!
//! Drafts 4, 6, 7, 2019-09 and 2020-12 are accepted (from `$schema`; anything else is read as
//! draft 7, as Confluent does).

use std::collections::HashSet;
use std::fmt::Write as _;

/// A JSON value that keeps object member order and each number's exact decimal text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(JsonNumber),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; a repeated key keeps its first position and last value.
    Object(Vec<(String, Json)>),
}

/// A JSON number: its canonical text (Java `BigDecimal`/`BigInteger` rendering, which is what
/// Confluent writes back) and its value as `f64` for comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonNumber {
    pub text: String,
    pub value: f64,
    pub integral: bool,
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(n.value),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Value equality as JSON data: object member order is irrelevant, numbers compare by value.
    pub fn same(&self, other: &Json) -> bool {
        match (self, other) {
            (Json::Null, Json::Null) => true,
            (Json::Bool(a), Json::Bool(b)) => a == b,
            (Json::Number(a), Json::Number(b)) => a.value == b.value,
            (Json::String(a), Json::String(b)) => a == b,
            (Json::Array(a), Json::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Json::Object(a), Json::Object(b)) => {
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter()
                            .find(|(k2, _)| k2 == k)
                            .is_some_and(|(_, v2)| v.same(v2))
                    })
            }
            _ => false,
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Compact JSON text; with `sorted`, object keys in ascending order at every level.
    pub fn write(&self, out: &mut String, sorted: bool) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&n.text),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out, sorted);
                }
                out.push(']');
            }
            Json::Object(members) => {
                let mut refs: Vec<&(String, Json)> = members.iter().collect();
                if sorted {
                    refs.sort_by(|a, b| a.0.cmp(&b.0));
                }
                out.push('{');
                for (i, (k, v)) in refs.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, k);
                    out.push(':');
                    v.write(out, sorted);
                }
                out.push('}');
            }
        }
    }

    pub fn to_compact(&self, sorted: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, sorted);
        out
    }
}

/// Escapes like Jackson: `"` and `\`, the short escapes for \b \t \n \f \r, `\u00XX` (upper-case
/// hex) for other control characters; everything else (also non-ASCII and `/`) as is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------------
// Reading JSON text.

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 512;

/// Reads one JSON document (RFC 8259, plus `NaN`/`Infinity`/`-Infinity` number literals, which
/// Confluent's reader allows). Errors name the line and column.
pub fn read_json(text: &str) -> Result<Json, String> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    reader.skip_ws();
    if reader.pos >= reader.bytes.len() {
        return Err("Invalid JSON: the text is empty".to_owned());
    }
    let value = reader.value()?;
    reader.skip_ws();
    if reader.pos < reader.bytes.len() {
        return Err(reader.error("unexpected text after the JSON value"));
    }
    Ok(value)
}

impl Reader<'_> {
    fn error(&self, what: &str) -> String {
        let upto = &self.text[..self.pos.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("Invalid JSON: {what} at line {line} column {column}")
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_word(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected token"))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.expect_word("true", Json::Bool(true)),
            Some(b'f') => self.expect_word("false", Json::Bool(false)),
            Some(b'n') => self.expect_word("null", Json::Null),
            Some(b'N') => self.special_number("NaN", f64::NAN),
            Some(b'I') => self.special_number("Infinity", f64::INFINITY),
            Some(b'-') if self.text[self.pos..].starts_with("-Infinity") => {
                self.special_number("-Infinity", f64::NEG_INFINITY)
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end of text")),
        }
    }

    /// `NaN`/`Infinity`: Confluent's writer puts these in quotes.
    fn special_number(&mut self, word: &str, value: f64) -> Result<Json, String> {
        let number = Json::Number(JsonNumber {
            text: format!("\"{word}\""),
            value,
            integral: false,
        });
        self.expect_word(word, number)
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Json, String> {
        self.enter()?;
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string as object key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            if let Some(slot) = members.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else {
                members.push((key, value));
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("incomplete \\u escape"))?;
        let value =
            u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.pos += 4;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.pos += 1;
                    match escaped {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first)
                                && self.text[self.pos..].starts_with("\\u")
                            {
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(self.error("invalid surrogate pair"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| self.error("invalid unicode escape"))?;
                            out.push(c);
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                Some(_) => return Err(self.error("control character in string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_len = self.digits();
        if int_len == 0 {
            return Err(self.error("invalid number"));
        }
        if int_len > 1 && self.bytes[int_start] == b'0' {
            return Err(self.error("leading zeros in number"));
        }
        let int_part = &self.text[int_start..self.pos];
        let mut frac_part = "";
        let mut exponent: i64 = 0;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            frac_part = &self.text[frac_start..self.pos];
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            let mut exp_negative = false;
            if let Some(sign @ (b'+' | b'-')) = self.peek() {
                exp_negative = sign == b'-';
                self.pos += 1;
            }
            let exp_start = self.pos;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            exponent = self.text[exp_start..self.pos]
                .parse::<i64>()
                .ok()
                .filter(|e| *e < 1_000_000_000)
                .ok_or_else(|| self.error("number exponent out of range"))?;
            if exp_negative {
                exponent = -exponent;
            }
            is_float = true;
        }
        let source = &self.text[start..self.pos];
        let value = source.parse::<f64>().unwrap_or(f64::NAN);
        let text = if is_float {
            decimal_text(negative, int_part, frac_part, exponent)
        } else {
            let digits = int_part.trim_start_matches('0');
            if digits.is_empty() {
                "0".to_owned()
            } else if negative {
                format!("-{digits}")
            } else {
                digits.to_owned()
            }
        };
        let integral = value.fract() == 0.0 && value.is_finite();
        Ok(Json::Number(JsonNumber {
            text,
            value,
            integral,
        }))
    }
}

/// Renders a decimal as Java's `BigDecimal.toString()` does: the unscaled digits with the
/// scale as written (`1.50` stays `1.50`), scientific notation when the exponent is positive or
/// the adjusted exponent is below -6 (`1e2` → `1E+2`, `1.5e-7` → `1.5E-7`).
fn decimal_text(negative: bool, int_part: &str, frac_part: &str, exponent: i64) -> String {
    let all: String = format!("{int_part}{frac_part}");
    let coefficient = all.trim_start_matches('0');
    let coefficient = if coefficient.is_empty() {
        "0"
    } else {
        coefficient
    };
    let scale = frac_part.len() as i64 - exponent;
    let len = coefficient.len() as i64;
    let adjusted = -scale + (len - 1);
    let mut out = String::new();
    if negative && coefficient != "0" {
        out.push('-');
    }
    if scale >= 0 && adjusted >= -6 {
        if scale == 0 {
            out.push_str(coefficient);
        } else if len > scale {
            let split = (len - scale) as usize;
            out.push_str(&coefficient[..split]);
            out.push('.');
            out.push_str(&coefficient[split..]);
        } else {
            out.push_str("0.");
            for _ in 0..(scale - len) {
                out.push('0');
            }
            out.push_str(coefficient);
        }
    } else {
        out.push_str(&coefficient[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&coefficient[1..]);
        }
        out.push('E');
        if adjusted > 0 {
            out.push('+');
        }
        let _ = write!(out, "{adjusted}");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Schemas.

/// The JSON Schema draft a document is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Draft {
    Draft4,
    Draft6,
    Draft7,
    Draft2019,
    Draft2020,
}

impl Draft {
    fn of(root: &Json) -> Result<Draft, String> {
        let Some(value) = root.get("$schema") else {
            return Ok(Draft::Draft7);
        };
        let url = value
            .as_str()
            .ok_or_else(|| "Invalid JSON Schema: '$schema' must be a string".to_owned())?;
        let url = url.trim_end_matches('#');
        let url = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url);
        Ok(match url {
            "json-schema.org/draft-04/schema" => Draft::Draft4,
            "json-schema.org/draft-06/schema" => Draft::Draft6,
            "json-schema.org/draft-07/schema" => Draft::Draft7,
            "json-schema.org/draft/2019-09/schema" => Draft::Draft2019,
            "json-schema.org/draft/2020-12/schema" => Draft::Draft2020,
            // Confluent reads an unknown `$schema` as draft 7.
            _ => Draft::Draft7,
        })
    }
}

/// One schema document: the registered schema (index 0) or a referenced one.
#[derive(Debug, Clone)]
pub struct Document {
    /// The reference name (how `$ref` names it); empty for the registered schema.
    pub name: String,
    pub root: Json,
    pub draft: Draft,
    /// The document's `$id` (`id` in draft 4), its base URI for relative references.
    pub base: Option<String>,
}

/// A location in one of a schema's documents: (document index, JSON pointer tokens).
pub type Location = (usize, Vec<String>);

/// A parsed, validated JSON Schema with its referenced schemas.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    documents: Vec<Document>,
    canonical: String,
}

const TYPE_NAMES: [&str; 7] = [
    "array", "boolean", "integer", "null", "number", "object", "string",
];

impl JsonSchema {
    /// `references`: (name as used in `$ref`, referenced schema text) pairs, already resolved
    /// transitively.
    pub fn parse(text: &str, references: &[(String, String)]) -> Result<JsonSchema, String> {
        let root = read_json(text)?;
        let main = Self::document(String::new(), root)?;
        let mut documents = vec![main];
        for (name, reference) in references {
            let root = read_json(reference)
                .map_err(|e| format!("Invalid referenced schema '{name}': {e}"))?;
            let document = Self::document(name.clone(), root)
                .map_err(|e| format!("Invalid referenced schema '{name}': {e}"))?;
            documents.push(document);
        }
        let canonical = documents[0].root.to_compact(false);
        let schema = JsonSchema {
            documents,
            canonical,
        };
        for index in 0..schema.documents.len() {
            let mut validator = Validator {
                schema: &schema,
                visited: HashSet::new(),
            };
            validator.check(index, Vec::new()).map_err(|e| {
                if index == 0 {
                    e
                } else {
                    format!(
                        "Invalid referenced schema '{}': {e}",
                        schema.documents[index].name
                    )
                }
            })?;
        }
        Ok(schema)
    }

    fn document(name: String, root: Json) -> Result<Document, String> {
        match root {
            Json::Object(_) | Json::Bool(_) => {}
            ref other => {
                return Err(format!(
                    "Invalid JSON Schema: a schema must be a JSON object or a boolean, found {}",
                    other.kind_name()
                ));
            }
        }
        let draft = Draft::of(&root)?;
        let id_key = if draft == Draft::Draft4 { "id" } else { "$id" };
        let base = root
            .get(id_key)
            .and_then(Json::as_str)
            .map(|s| s.split('#').next().unwrap_or_default().to_owned())
            .filter(|s| !s.is_empty());
        Ok(Document {
            name,
            root,
            draft,
            base,
        })
    }

    /// The string the registry stores and returns: the schema re-serialised compactly, key
    /// order and numbers as written.
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The `normalize=true` form: like [`canonical`](Self::canonical) with every object's keys
    /// sorted, so schemas that differ only in key order or whitespace are equal strings.
    pub fn normalized(&self) -> String {
        self.documents[0].root.to_compact(true)
    }

    /// The registered schema (index 0) and its referenced schemas.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// The JSON at `location`, if any.
    pub fn at(&self, location: &Location) -> Option<&Json> {
        let mut node = &self.documents.get(location.0)?.root;
        for token in &location.1 {
            node = match node {
                Json::Object(_) => node.get(token)?,
                Json::Array(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Resolves a `$ref` value found in document `doc` to a location: local pointers and
    /// anchors, registered references by name (as written or resolved against the `$id` base),
    /// and embedded `$id`s.
    pub fn resolve_ref(&self, doc: usize, reference: &str) -> Option<Location> {
        let (uri, fragment) = match reference.split_once('#') {
            Some((uri, fragment)) => (uri, fragment),
            None => (reference, ""),
        };
        let (target_doc, base_path) = if uri.is_empty() {
            (doc, Vec::new())
        } else {
            self.find_document(doc, uri, reference)?
        };
        let fragment = percent_decode(fragment);
        if fragment.is_empty() {
            return Some((target_doc, base_path));
        }
        if let Some(pointer) = fragment.strip_prefix('/') {
            let mut path = base_path;
            path.extend(
                pointer
                    .split('/')
                    .map(|t| t.replace("~1", "/").replace("~0", "~")),
            );
            return self
                .at(&(target_doc, path.clone()))
                .map(|_| (target_doc, path));
        }
        // A plain-name fragment: `$anchor` (2019-09+) or an `$id`/`id` of `#name`.
        let start = self.at(&(target_doc, base_path.clone()))?;
        let mut path = base_path;
        find_anchor(start, &fragment, &mut path).then_some((target_doc, path))
    }

    fn find_document(&self, doc: usize, uri: &str, whole: &str) -> Option<Location> {
        for (i, d) in self.documents.iter().enumerate().skip(1) {
            if d.name == uri || d.name == whole {
                return Some((i, Vec::new()));
            }
        }
        let base = self.documents.get(doc)?.base.as_deref();
        let main_base = self.documents[0].base.as_deref();
        let target = resolve_uri(base, uri);
        for (i, d) in self.documents.iter().enumerate() {
            if i > 0 && resolve_uri(main_base, &d.name) == target {
                return Some((i, Vec::new()));
            }
            if d.base.as_deref() == Some(target.as_str()) {
                return Some((i, Vec::new()));
            }
        }
        let trimmed = uri.trim_start_matches("./");
        for (i, d) in self.documents.iter().enumerate().skip(1) {
            if d.name.trim_start_matches("./") == trimmed {
                return Some((i, Vec::new()));
            }
        }
        // An embedded `$id` anywhere in the documents.
        for (i, d) in self.documents.iter().enumerate() {
            let mut path = Vec::new();
            if find_embedded_id(&d.root, d.draft, uri, &target, &mut path) {
                return Some((i, path));
            }
        }
        None
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolves `reference` against `base` (RFC 3986, enough for `$id`/`$ref` URIs).
fn resolve_uri(base: Option<&str>, reference: &str) -> String {
    let has_scheme = |s: &str| {
        s.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
    };
    let Some(base) = base else {
        return reference.to_owned();
    };
    if has_scheme(reference) {
        return reference.to_owned();
    }
    if reference.starts_with("//") {
        let scheme = base.split_once(':').map_or("", |(s, _)| s);
        return format!("{scheme}:{reference}");
    }
    let (prefix, path) = match base.find("://") {
        Some(i) => {
            let rest = &base[i + 3..];
            let slash = rest.find('/').map_or(base.len(), |j| i + 3 + j);
            (&base[..slash], &base[slash..])
        }
        None => ("", base),
    };
    let joined = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let dir = path.rfind('/').map_or("", |j| &path[..=j]);
        format!("{dir}{reference}")
    };
    let mut segments: Vec<&str> = Vec::new();
    let absolute = joined.starts_with('/');
    for segment in joined.split('/') {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut path = segments.join("/");
    if absolute && !path.starts_with('/') {
        path.insert(0, '/');
    }
    format!("{prefix}{path}")
}

/// Subschema-valued keywords (a schema each).
const SCHEMA_KEYWORDS: [&str; 11] = [
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];
/// Keywords holding an array of subschemas.
const SCHEMA_ARRAY_KEYWORDS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords holding an object of subschemas.
const SCHEMA_MAP_KEYWORDS: [&str; 5] = [
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
];

/// Calls `f` for every direct subschema of `schema` (object form) with its pointer tokens.
fn for_each_subschema<'a>(schema: &'a Json, mut f: impl FnMut(Vec<String>, &'a Json)) {
    let Json::Object(members) = schema else {
        return;
    };
    for (key, value) in members {
        let k = key.as_str();
        if SCHEMA_KEYWORDS.contains(&k) {
            f(vec![key.clone()], value);
        } else if SCHEMA_ARRAY_KEYWORDS.contains(&k) || k == "items" {
            match value {
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        f(vec![key.clone(), i.to_string()], item);
                    }
                }
                _ if k == "items" => f(vec![key.clone()], value),
                _ => {}
            }
        } else if (SCHEMA_MAP_KEYWORDS.contains(&k) || k == "dependencies")
            && let Json::Object(entries) = value
        {
            for (name, sub) in entries {
                if k == "dependencies" && matches!(sub, Json::Array(_)) {
                    continue;
                }
                f(vec![key.clone(), name.clone()], sub);
            }
        }
    }
}

fn find_anchor(node: &Json, name: &str, path: &mut Vec<String>) -> bool {
    if let Json::Object(_) = node {
        let anchor = node.get("$anchor").and_then(Json::as_str);
        let id = node
            .get("$id")
            .or_else(|| node.get("id"))
            .and_then(Json::as_str);
        let hash_name = format!("#{name}");
        if anchor == Some(name) || id.is_some_and(|id| id.ends_with(&hash_name)) {
            return true;
        }
    }
    let mut found = false;
    for_each_subschema(node, |tokens, sub| {
        if found {
            return;
        }
        let len = path.len();
        path.extend(tokens);
        if find_anchor(sub, name, path) {
            found = true;
        } else {
            path.truncate(len);
        }
    });
    found
}

fn find_embedded_id(
    node: &Json,
    draft: Draft,
    uri: &str,
    resolved: &str,
    path: &mut Vec<String>,
) -> bool {
    if !path.is_empty() {
        let key = if draft == Draft::Draft4 { "id" } else { "$id" };
        if let Some(id) = node.get(key).and_then(Json::as_str) {
            let id = id.split('#').next().unwrap_or_default();
            if !id.is_empty() && (id == uri || id == resolved) {
                return true;
            }
        }
    }
    let mut found = false;
    for_each_subschema(node, |tokens, sub| {
        if found {
            return;
        }
        let len = path.len();
        path.extend(tokens);
        if find_embedded_id(sub, draft, uri, resolved, path) {
            found = true;
        } else {
            path.truncate(len);
        }
    });
    found
}

/// Checks the keywords Confluent's loader checks: schema shapes, `type` names, keyword value
/// types, and that every `$ref` resolves.
struct Validator<'a> {
    schema: &'a JsonSchema,
    visited: HashSet<(usize, Vec<String>)>,
}

fn pointer_text(path: &[String]) -> String {
    let mut out = String::from("#");
    for token in path {
        out.push('/');
        out.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// What is wrong with `value` for keyword `key`, if anything.
fn keyword_problem(key: &str, value: &Json) -> Option<String> {
    let found = value.kind_name();
    match key {
        "type" => {
            let names: Vec<&Json> = match value {
                Json::String(_) => vec![value],
                Json::Array(items) => items.iter().collect(),
                _ => {
                    return Some(format!(
                        "'type' must be a string or an array of strings, found {found}"
                    ));
                }
            };
            names.into_iter().find_map(|name| match name.as_str() {
                Some(n) if TYPE_NAMES.contains(&n) => None,
                Some(n) => Some(format!(
                    "unknown type '{n}' (expected one of {})",
                    TYPE_NAMES.join(", ")
                )),
                None => Some(format!(
                    "'type' entries must be strings, found {}",
                    name.kind_name()
                )),
            })
        }
        "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties"
        | "minContains" | "maxContains" => match value {
            Json::Number(n) if n.integral && n.value >= 0.0 => None,
            _ => Some(format!(
                "'{key}' must be a non-negative integer, found {found}"
            )),
        },
        "minimum" | "maximum" => (!matches!(value, Json::Number(_)))
            .then(|| format!("'{key}' must be a number, found {found}")),
        "exclusiveMinimum" | "exclusiveMaximum" => {
            (!matches!(value, Json::Number(_) | Json::Bool(_))).then(|| {
                format!("'{key}' must be a number (or a boolean in draft 4), found {found}")
            })
        }
        "multipleOf" => match value {
            Json::Number(n) if n.value > 0.0 => None,
            _ => Some("'multipleOf' must be a number greater than 0".to_owned()),
        },
        "required" => (!value
            .as_array()
            .is_some_and(|items| items.iter().all(|i| i.as_str().is_some())))
        .then(|| "'required' must be an array of strings".to_owned()),
        "enum" => value
            .as_array()
            .is_none()
            .then(|| format!("'enum' must be an array, found {found}")),
        "pattern" | "title" | "description" | "$ref" | "$anchor" => value
            .as_str()
            .is_none()
            .then(|| format!("'{key}' must be a string, found {found}")),
        "uniqueItems" => value
            .as_bool()
            .is_none()
            .then(|| "'uniqueItems' must be a boolean".to_owned()),
        "allOf" | "anyOf" | "oneOf" | "prefixItems" => value
            .as_array()
            .is_none_or(|a| a.is_empty())
            .then(|| format!("'{key}' must be a non-empty array of schemas")),
        "properties" | "patternProperties" | "definitions" | "$defs" | "dependentSchemas"
        | "dependencies" | "dependentRequired" => value
            .as_object()
            .is_none()
            .then(|| format!("'{key}' must be an object, found {found}")),
        "items" => (!matches!(value, Json::Object(_) | Json::Bool(_) | Json::Array(_)))
            .then(|| format!("'items' must be a schema or an array of schemas, found {found}")),
        _ => None,
    }
}

impl Validator<'_> {
    fn check(&mut self, doc: usize, path: Vec<String>) -> Result<(), String> {
        if !self.visited.insert((doc, path.clone())) {
            return Ok(());
        }
        let schema = self.schema;
        let Some(node) = schema.at(&(doc, path.clone())) else {
            return Ok(());
        };
        let here = pointer_text(&path);
        let fail = |what: String| Err(format!("Invalid JSON Schema: {here}: {what}"));
        let members = match node {
            Json::Bool(_) => return Ok(()),
            Json::Object(members) => members,
            other => {
                return fail(format!(
                    "a schema must be a JSON object or a boolean, found {}",
                    other.kind_name()
                ));
            }
        };
        for (key, value) in members {
            if let Some(problem) = keyword_problem(key, value) {
                return fail(problem);
            }
        }
        if let Some(Json::Object(entries)) = node.get("dependencies") {
            for (name, dep) in entries {
                if let Json::Array(items) = dep
                    && !items.iter().all(|i| i.as_str().is_some())
                {
                    return fail(format!("'dependencies/{name}' must list property names"));
                }
            }
        }
        if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
            match schema.resolve_ref(doc, reference) {
                Some((target_doc, target_path)) => self.check(target_doc, target_path)?,
                None => return fail(format!("unresolved $ref '{reference}'")),
            }
        }
        let mut children = Vec::new();
        for_each_subschema(node, |tokens, _| children.push(tokens));
        for tokens in children {
            let mut child = path.clone();
            child.extend(tokens);
            self.check(doc, child)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        JsonSchema::parse(text, &[]).unwrap().canonical()
    }

    #[test]
    fn canonical_keeps_order_and_numbers() {
        assert_eq!(
            canonical(
                "{ \"type\" : \"object\",\n \"properties\": {\"b\": {\"type\":\"number\", \"maximum\": 1.50}, \"a\": {\"minimum\": 1e2, \"maximum\": -0}}}"
            ),
            r#"{"type":"object","properties":{"b":{"type":"number","maximum":1.50},"a":{"minimum":1E+2,"maximum":0}}}"#
        );
        assert_eq!(
            canonical(r#"{"x": 0.0000015, "y": 0.000001, "z": 123456789012345678901234567890}"#),
            r#"{"x":0.0000015,"y":0.000001,"z":123456789012345678901234567890}"#
        );
        assert_eq!(
            canonical(r#"{"x": 1.5e-7, "y": 25e-1, "z": "a\u0001\/é\n"}"#),
            "{\"x\":1.5E-7,\"y\":2.5,\"z\":\"a\\u0001/é\\n\"}"
        );
        assert_eq!(canonical("true"), "true");
    }

    #[test]
    fn normalized_sorts_keys() {
        let a = JsonSchema::parse(
            r#"{"type":"object","properties":{"b":{},"a":{"type":"string","title":"t"}}}"#,
            &[],
        )
        .unwrap();
        let b = JsonSchema::parse(
            r#"{"properties":{"a":{"title":"t","type":"string"},"b":{}},"type":"object"}"#,
            &[],
        )
        .unwrap();
        assert_ne!(a.canonical(), b.canonical());
        assert_eq!(a.normalized(), b.normalized());
        assert_eq!(
            a.normalized(),
            r#"{"properties":{"a":{"title":"t","type":"string"},"b":{}},"type":"object"}"#
        );
    }

    #[test]
    fn duplicate_keys_keep_first_position_last_value() {
        assert_eq!(canonical(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = JsonSchema::parse("{\"type\": \"object\",\n \"properties\": }", &[]).unwrap_err();
        assert!(err.contains("line 2 column 16"), "{err}");
        let err = JsonSchema::parse("\"string\"", &[]).unwrap_err();
        assert!(err.contains("must be a JSON object or a boolean"), "{err}");
        let err = JsonSchema::parse(r#"{"properties":{"a":{"type":"strin"}}}"#, &[]).unwrap_err();
        assert!(
            err.contains("#/properties/a") && err.contains("unknown type 'strin'"),
            "{err}"
        );
        let err = JsonSchema::parse(r##"{"$ref":"#/definitions/missing"}"##, &[]).unwrap_err();
        assert!(err.contains("unresolved $ref"), "{err}");
        let err = JsonSchema::parse(r#"{"maxLength":"5"}"#, &[]).unwrap_err();
        assert!(err.contains("maxLength"), "{err}");
        assert!(JsonSchema::parse("", &[]).is_err());
        assert!(JsonSchema::parse("{} {}", &[]).is_err());
    }

    #[test]
    fn drafts_are_accepted() {
        for url in [
            "http://json-schema.org/draft-04/schema#",
            "http://json-schema.org/draft-06/schema#",
            "http://json-schema.org/draft-07/schema#",
            "https://json-schema.org/draft/2019-09/schema",
            "https://json-schema.org/draft/2020-12/schema",
        ] {
            let text = format!(
                r#"{{"$schema":"{url}","type":"object","properties":{{"a":{{"type":"string"}}}}}}"#
            );
            JsonSchema::parse(&text, &[]).unwrap();
        }
        let s = JsonSchema::parse(
            r#"{"$schema":"http://json-schema.org/draft-04/schema#"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(s.documents()[0].draft, Draft::Draft4);
    }

    #[test]
    fn references_resolve() {
        let refs = vec![(
            "address.json".to_owned(),
            r##"{"type":"object","definitions":{"zip":{"type":"string"}},"properties":{"zip":{"$ref":"#/definitions/zip"}}}"##.to_owned(),
        )];
        let s = JsonSchema::parse(
            r##"{"$id":"http://example.com/person.json","properties":{"a":{"$ref":"address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}"##,
            &refs,
        )
        .unwrap();
        assert_eq!(s.resolve_ref(0, "address.json"), Some((1, vec![])));
        assert_eq!(
            s.resolve_ref(0, "http://example.com/address.json#/definitions/zip"),
            Some((1, vec!["definitions".to_owned(), "zip".to_owned()]))
        );
        assert!(JsonSchema::parse(r#"{"$ref":"other.json"}"#, &[]).is_err());
        let anchored = JsonSchema::parse(
            r##"{"$defs":{"a":{"$anchor":"thing","type":"string"}},"$ref":"#thing"}"##,
            &[],
        )
        .unwrap();
        assert_eq!(
            anchored.resolve_ref(0, "#thing"),
            Some((0, vec!["$defs".to_owned(), "a".to_owned()]))
        );
    }
}
