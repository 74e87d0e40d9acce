//! Avro values of Confluent's wire format (the binary datum after the 5-byte prefix) decoded
//! into Arrow columns through the Connect data model.
//!
//! Owns: compiling a writer schema (with its referenced named types) into the [`ConnectSchema`]
//! that Confluent's `AvroData.toConnectSchema` gives it under `AvroConverter`'s default settings
//! (`connect.meta.data=true`, `enhanced.avro.schema.support=false`,
//! `discard.type.doc.default=false`, `flatten.singleton.unions=true`, no generalized sum types),
//! plus a decode plan; and decoding one datum at a time into the column builders of that schema.
//!
//! The decoder is written by hand instead of reading each record into an `apache_avro`
//! `types::Value`: one `Value` tree per record, with an allocation per string, array and map,
//! was the slow path in the crate evaluation (`rust-crates.md` §4.3: 0.31–0.62 M records/s,
//! against 0.93 M for a columnar decoder). Walking a precompiled plan straight from the bytes
//! into the builders allocates nothing per record. `apache_avro` still parses and validates
//! the schema.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::RowDecoder;
use crate::columns::ColumnBuilder;
use crate::failure::{Fail, fail, push_offset};
use crate::schema::{ConnectSchema, ConnectType, DATE, DECIMAL, Logical, TIME, TIMESTAMP};

/// Connect schema name of a general Avro union.
pub const UNION: &str = "io.confluent.connect.avro.Union";
/// Parameter naming an Avro enum; `ENUM.<symbol>` parameters list its symbols.
pub const ENUM: &str = "io.confluent.connect.avro.Enum";
const RECORD_DOC: &str = "io.confluent.connect.avro.record.doc";
const FIELD_DOC_PREFIX: &str = "io.confluent.connect.avro.field.doc.";
const ENUM_DOC_PREFIX: &str = "io.confluent.connect.avro.enum.doc.";
const ENUM_DEFAULT_PREFIX: &str = "io.confluent.connect.avro.enum.default.";
const FIELD_DEFAULT_FLAG: &str = "io.confluent.connect.avro.field.default";
const MAP_ENTRY: &str = "io.confluent.connect.avro.MapEntry";
const DEFAULT_NAME: &str = "io.confluent.connect.avro.ConnectDefault";
const FIXED_SIZE: &str = "connect.fixed.size";
const DECIMAL_PRECISION: &str = "connect.decimal.precision";
/// AvroData leaves `connect.decimal.precision` out when the Avro precision is this.
const DECIMAL_PRECISION_DEFAULT: i64 = 64;
/// Most items an array or map may claim when its items take no bytes at all (empty records),
/// so a corrupt count cannot make one row allocate without bound.
const MAX_EMPTY_ITEMS: u64 = 1 << 20;

/// A writer schema compiled for decoding: its Connect schema and a decode plan.
#[derive(Debug)]
pub struct AvroDecoder {
    connect: ConnectSchema,
    top: Top,
}

/// How a datum spreads over the row's columns.
#[derive(Debug)]
enum Top {
    /// One column per record field.
    Fields(Vec<(String, Step)>),
    /// A nullable record: a null datum has no row to become.
    NullableFields(i64, Vec<(String, Step)>),
    /// A general union: one column per branch, exactly one set.
    Branches(Vec<Branch>),
    /// Any other schema: one column.
    Single(Step),
}

/// One node of the decode plan; each appends to the builder made from its Connect schema.
#[derive(Debug)]
enum Step {
    Bool,
    /// int into an Int32, Int8, Int16, Date or Time builder.
    Int,
    /// long into an Int64 or Timestamp builder.
    Long,
    Float,
    Double,
    Str,
    Bytes,
    Fixed(usize),
    /// Unscaled two's-complement bytes; `limit` is 10^precision of the Arrow type.
    DecimalBytes {
        limit: i128,
    },
    DecimalFixed {
        size: usize,
        limit: i128,
    },
    Enum(Vec<String>),
    Array {
        items: Box<Step>,
        min: usize,
    },
    Map {
        values: Box<Step>,
    },
    /// A Connect map with non-string keys, written by AvroData as an array of
    /// `io.confluent.connect.avro.MapEntry` records.
    Entries {
        key: Box<Step>,
        value: Box<Step>,
        key_first: bool,
        min: usize,
    },
    Record(Vec<(String, Step)>),
    /// `["null", T]` or `[T, "null"]`.
    Nullable {
        null_index: i64,
        inner: Box<Step>,
    },
    /// A general union, decoded into a Connect union struct.
    Union(Vec<Branch>),
}

#[derive(Debug)]
enum Branch {
    Null,
    /// Child (field) index in the union struct, its name, and how to read it.
    Field(usize, String, Step),
}

impl Step {
    /// The fewest bytes one value takes, to bound the item counts a block may claim.
    fn min_size(&self) -> usize {
        match self {
            Step::Float => 4,
            Step::Double => 8,
            Step::Fixed(n) | Step::DecimalFixed { size: n, .. } => *n,
            Step::Record(fields) => fields.iter().map(|(_, s)| s.min_size()).sum(),
            _ => 1,
        }
    }
}

impl AvroDecoder {
    /// `schema`: the writer schema (as returned by `GET /schemas/ids/{id}`), `references`: (name, schema text)
    /// of referenced named types, dependencies first (parse with `apache_avro::Schema::parse_str_with_list`).
    pub fn new(schema: &str, references: &[(String, String)]) -> Result<AvroDecoder, String> {
        apache_avro::Schema::parse_str_with_list(schema, references.iter().map(|(_, s)| s))
            .map_err(|e| format!("invalid Avro schema: {e}"))?;
        let mut texts = Vec::with_capacity(references.len());
        for (name, text) in references {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("invalid schema reference {name}: {e}"))?;
            texts.push(v);
        }
        let root: Value =
            serde_json::from_str(schema).map_err(|e| format!("invalid Avro schema: {e}"))?;
        let mut c = Compiler::default();
        for v in &texts {
            c.register(v, "");
        }
        c.register(&root, "");
        let (connect, step) = c.compile(&root, "", false, None, "")?;
        let top = match step {
            Step::Record(fields) => Top::Fields(fields),
            Step::Union(branches) => Top::Branches(branches),
            Step::Nullable { null_index, inner } => match *inner {
                Step::Record(fields) => Top::NullableFields(null_index, fields),
                inner => Top::Single(Step::Nullable {
                    null_index,
                    inner: Box::new(inner),
                }),
            },
            step => Top::Single(step),
        };
        Ok(AvroDecoder { connect, top })
    }

    /// The Connect schema Confluent's AvroData gives this Avro schema.
    pub fn connect_schema(&self) -> &ConnectSchema {
        &self.connect
    }

    /// Decodes one datum and appends it as one row (see [`RowDecoder::decode_row`]). Errors
    /// name the field path and what was wrong (truncated input, bad union index, trailing
    /// bytes...).
    pub(crate) fn decode_row(
        &self,
        payload: &[u8],
        columns: &mut [ColumnBuilder],
    ) -> Result<(), String> {
        let mut r = Reader {
            buf: payload,
            pos: 0,
        };
        self.decode_top(&mut r, columns)
            .map_err(|f| f.to_string())?;
        if r.pos != payload.len() {
            return Err(format!(
                "{} trailing byte(s) after the datum, which ends at offset {} (wrong schema id, or corrupt data)",
                payload.len() - r.pos,
                r.pos
            ));
        }
        Ok(())
    }

    fn decode_top(&self, r: &mut Reader<'_>, columns: &mut [ColumnBuilder]) -> Result<(), Fail> {
        let want = match &self.top {
            Top::Fields(f) | Top::NullableFields(_, f) => f.len(),
            Top::Branches(b) => b.iter().filter(|b| matches!(b, Branch::Field(..))).count(),
            Top::Single(_) => 1,
        };
        if columns.len() != want {
            return Err(fail(format!(
                "{} column builders given for a schema of {want} column(s)",
                columns.len()
            )));
        }
        match &self.top {
            Top::Fields(fields) => decode_fields(fields, r, columns),
            Top::NullableFields(null_index, fields) => {
                let i = r.long()?;
                if i == *null_index {
                    Err(fail("a null record cannot be written as a row".into()))
                } else if i == 1 - null_index {
                    decode_fields(fields, r, columns)
                } else {
                    Err(bad_union(i, 2))
                }
            }
            Top::Branches(branches) => {
                let i = r.long()?;
                match usize::try_from(i).ok().and_then(|i| branches.get(i)) {
                    None => Err(bad_union(i, branches.len())),
                    Some(Branch::Null) => {
                        Err(fail("a null union cannot be written as a row".into()))
                    }
                    Some(Branch::Field(child, name, step)) => {
                        for (j, col) in columns.iter_mut().enumerate() {
                            if j == *child {
                                decode(step, r, col).map_err(|e| e.field(name))?;
                            } else {
                                col.append_null();
                            }
                        }
                        Ok(())
                    }
                }
            }
            Top::Single(step) => match columns.first_mut() {
                Some(col) => decode(step, r, col),
                None => Err(fail("no column builder given".into())),
            },
        }
    }
}

impl RowDecoder for AvroDecoder {
    fn connect_schema(&self) -> &ConnectSchema {
        &self.connect
    }
    fn decode_row(&self, payload: &[u8], columns: &mut [ColumnBuilder]) -> Result<(), String> {
        AvroDecoder::decode_row(self, payload, columns)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

fn bad_union(index: i64, branches: usize) -> Fail {
    fail(format!(
        "bad union index {index} (the union has {branches} branches)"
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn truncated(&self, need: usize) -> Fail {
        fail(format!(
            "truncated input: {need} more byte(s) needed at offset {}, {} left",
            self.pos,
            self.left()
        ))
    }

    /// A zig-zag varint long.
    #[inline]
    fn long(&mut self) -> Result<i64, Fail> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated(1));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err(fail(format!(
                    "invalid varint ending at offset {}: longer than 10 bytes",
                    self.pos
                )));
            }
        }
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    #[inline]
    fn int(&mut self) -> Result<i32, Fail> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| fail(format!("{v} is out of range for an Avro int")))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fail> {
        if self.left() < n {
            return Err(self.truncated(n));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fail> {
        match self.buf[self.pos..].first_chunk::<N>() {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(self.truncated(N)),
        }
    }

    /// A length-prefixed string or bytes value.
    #[inline]
    fn sized(&mut self) -> Result<&'a [u8], Fail> {
        let n = self.long()?;
        let n = usize::try_from(n).map_err(|_| fail(format!("negative length {n}")))?;
        self.take(n)
    }

    fn boolean(&mut self) -> Result<bool, Fail> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [b] => Err(fail(format!("invalid boolean byte {b:#04x}"))),
        }
    }

    /// The item count of the next array or map block; `None` at the end marker. A negative
    /// count is followed by the block's size in bytes, which a decoder reading every item
    /// does not need. `so_far`: items already read for this value.
    fn block(&mut self, min_item: usize, so_far: usize) -> Result<Option<usize>, Fail> {
        let n = self.long()?;
        if n == 0 {
            return Ok(None);
        }
        if n < 0 {
            let size = self.long()?;
            if size < 0 {
                return Err(fail(format!("negative block size {size}")));
            }
        }
        let count = n.unsigned_abs();
        let left = self.left() as u64;
        if min_item == 0 {
            if count.saturating_add(so_far as u64) > MAX_EMPTY_ITEMS {
                return Err(fail(format!(
                    "implausible count of {} empty items",
                    count.saturating_add(so_far as u64)
                )));
            }
        } else if count > left / min_item as u64 {
            return Err(fail(format!(
                "truncated input: a block of {count} item(s) needs at least {} bytes at offset {}, {left} left",
                count.saturating_mul(min_item as u64),
                self.pos
            )));
        }
        usize::try_from(count)
            .map_err(|_| fail(format!("block of {count} items")))
            .map(Some)
    }
}

fn mismatch() -> Fail {
    fail("column builder does not match the schema".into())
}

fn decode_fields(
    fields: &[(String, Step)],
    r: &mut Reader<'_>,
    columns: &mut [ColumnBuilder],
) -> Result<(), Fail> {
    for ((name, step), col) in fields.iter().zip(columns.iter_mut()) {
        decode(step, r, col).map_err(|e| e.field(name))?;
    }
    Ok(())
}

/// Big-endian two's-complement bytes to an unscaled value below `limit` in magnitude.
fn unscaled(bytes: &[u8], limit: i128) -> Result<i128, Fail> {
    let Some(&first) = bytes.first() else {
        return Err(fail("a decimal needs at least one byte".into()));
    };
    let negative = first & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    // Fixed-size decimals may carry sign-extension bytes beyond 16.
    let mut b = bytes;
    while b.len() > 16 && b[0] == fill && (b[1] & 0x80 != 0) == negative {
        b = &b[1..];
    }
    if b.len() > 16 {
        return Err(fail(format!(
            "a decimal of {} bytes does not fit 128 bits",
            bytes.len()
        )));
    }
    let mut v: i128 = if negative { -1 } else { 0 };
    for byte in b {
        v = (v << 8) | i128::from(*byte);
    }
    if v.unsigned_abs() >= limit.unsigned_abs() {
        return Err(fail(format!(
            "unscaled decimal {v} has more digits than the column's precision"
        )));
    }
    Ok(v)
}

fn decode(step: &Step, r: &mut Reader<'_>, col: &mut ColumnBuilder) -> Result<(), Fail> {
    match step {
        Step::Nullable { null_index, inner } => {
            let i = r.long()?;
            if i == *null_index {
                col.append_null();
                return Ok(());
            }
            if i != 1 - null_index {
                return Err(bad_union(i, 2));
            }
            return decode(inner, r, col);
        }
        Step::Union(branches) => return decode_union(branches, r, col, true),
        _ => {}
    }
    match (step, col) {
        (Step::Bool, ColumnBuilder::Bool(b)) => b.append_value(r.boolean()?),
        (Step::Int, ColumnBuilder::I32(b)) => b.append_value(r.int()?),
        (Step::Int, ColumnBuilder::Date(b)) => b.append_value(r.int()?),
        // AvroData narrows connect.type int8/int16 with Java's byteValue()/shortValue().
        (Step::Int, ColumnBuilder::I8(b)) => b.append_value(r.int()? as i8),
        (Step::Int, ColumnBuilder::I16(b)) => b.append_value(r.int()? as i16),
        (Step::Int, ColumnBuilder::Time(b)) => {
            let v = r.int()?;
            // Connect's Time.toLogical rejects values outside a day.
            if !(0..=86_400_000).contains(&v) {
                return Err(fail(format!(
                    "time-millis {v} is not within a day (0..=86400000)"
                )));
            }
            b.append_value(v)
        }
        (Step::Long, ColumnBuilder::I64(b)) => b.append_value(r.long()?),
        (Step::Long, ColumnBuilder::Timestamp(b)) => b.append_value(r.long()?),
        (Step::Float, ColumnBuilder::F32(b)) => b.append_value(f32::from_le_bytes(r.array()?)),
        (Step::Double, ColumnBuilder::F64(b)) => b.append_value(f64::from_le_bytes(r.array()?)),
        (Step::Str, ColumnBuilder::Utf8(b)) => {
            let bytes = r.sized()?;
            // SIMD validation: every string of every record passes here.
            match simdutf8::basic::from_utf8(bytes) {
                Ok(s) => b.append_value(s),
                // Java's Utf8.toString replaces malformed sequences rather than failing.
                Err(_) => b.append_value(String::from_utf8_lossy(bytes)),
            }
        }
        (Step::Bytes, ColumnBuilder::Binary(b)) => b.append_value(r.sized()?),
        (Step::Fixed(n), ColumnBuilder::Binary(b)) => b.append_value(r.take(*n)?),
        (Step::DecimalBytes { limit }, ColumnBuilder::Decimal(b, _)) => {
            b.append_value(unscaled(r.sized()?, *limit)?)
        }
        (Step::DecimalFixed { size, limit }, ColumnBuilder::Decimal(b, _)) => {
            b.append_value(unscaled(r.take(*size)?, *limit)?)
        }
        (Step::Enum(symbols), ColumnBuilder::Utf8(b)) => {
            let i = r.long()?;
            match usize::try_from(i).ok().and_then(|i| symbols.get(i)) {
                Some(s) => b.append_value(s),
                None => {
                    return Err(fail(format!(
                        "bad enum index {i} (the enum has {} symbols)",
                        symbols.len()
                    )));
                }
            }
        }
        (
            Step::Array { items, min },
            ColumnBuilder::List {
                offsets,
                nulls,
                items: child,
                ..
            },
        ) => {
            let mut n = 0;
            while let Some(count) = r.block(*min, n)? {
                for _ in 0..count {
                    decode(items, r, child).map_err(|e| e.index(n))?;
                    n += 1;
                }
            }
            push_offset(offsets, n)?;
            nulls.append_non_null();
        }
        (
            Step::Map { values: step },
            ColumnBuilder::Map {
                offsets,
                nulls,
                keys,
                values,
                ..
            },
        ) => {
            let ColumnBuilder::Utf8(keys) = keys.as_mut() else {
                return Err(mismatch());
            };
            let mut n = 0;
            // A string key and at least one byte of value.
            while let Some(count) = r.block(1 + step.min_size(), n)? {
                for _ in 0..count {
                    let k = r.sized()?;
                    let key = String::from_utf8_lossy(k);
                    decode(step, r, values).map_err(|e| e.field(&key))?;
                    keys.append_value(key);
                    n += 1;
                }
            }
            push_offset(offsets, n)?;
            nulls.append_non_null();
        }
        (
            Step::Entries {
                key,
                value,
                key_first,
                min,
            },
            ColumnBuilder::Map {
                offsets,
                nulls,
                keys,
                values,
                ..
            },
        ) => {
            let mut n = 0;
            while let Some(count) = r.block(*min, n)? {
                for _ in 0..count {
                    let at = |e: Fail, part: &str| e.field(part).index(n);
                    if *key_first {
                        decode_key(key, r, keys).map_err(|e| at(e, "key"))?;
                        decode(value, r, values).map_err(|e| at(e, "value"))?;
                    } else {
                        decode(value, r, values).map_err(|e| at(e, "value"))?;
                        decode_key(key, r, keys).map_err(|e| at(e, "key"))?;
                    }
                    n += 1;
                }
            }
            push_offset(offsets, n)?;
            nulls.append_non_null();
        }
        (
            Step::Record(fields),
            ColumnBuilder::Struct {
                nulls,
                children,
                len,
                ..
            },
        ) => {
            if children.len() != fields.len() {
                return Err(mismatch());
            }
            decode_fields(fields, r, children)?;
            nulls.append_non_null();
            *len += 1;
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// Map keys become a non-nullable Arrow column, so a null key is an error, not a null.
fn decode_key(step: &Step, r: &mut Reader<'_>, col: &mut ColumnBuilder) -> Result<(), Fail> {
    match step {
        Step::Nullable { null_index, inner } => {
            let i = r.long()?;
            if i == *null_index {
                Err(fail("map keys cannot be null".into()))
            } else if i == 1 - null_index {
                decode(inner, r, col)
            } else {
                Err(bad_union(i, 2))
            }
        }
        Step::Union(branches) => decode_union(branches, r, col, false),
        _ => decode(step, r, col),
    }
}

fn decode_union(
    branches: &[Branch],
    r: &mut Reader<'_>,
    col: &mut ColumnBuilder,
    null_ok: bool,
) -> Result<(), Fail> {
    let i = r.long()?;
    let branch = usize::try_from(i)
        .ok()
        .and_then(|i| branches.get(i))
        .ok_or_else(|| bad_union(i, branches.len()))?;
    let (child, name, step) = match branch {
        Branch::Null if null_ok => {
            col.append_null();
            return Ok(());
        }
        Branch::Null => return Err(fail("map keys cannot be null".into())),
        Branch::Field(child, name, step) => (*child, name, step),
    };
    let ColumnBuilder::Struct {
        nulls,
        children,
        len,
        ..
    } = col
    else {
        return Err(mismatch());
    };
    if child >= children.len() {
        return Err(mismatch());
    }
    for (j, c) in children.iter_mut().enumerate() {
        if j == child {
            decode(step, r, c).map_err(|e| e.field(name))?;
        } else {
            c.append_null();
        }
    }
    nulls.append_non_null();
    *len += 1;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Schema compilation

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn plain(ty: ConnectType) -> ConnectSchema {
    ConnectSchema::of(ty)
}

/// Java's `Object.toString()` of a JSON property value: strings bare, the rest as JSON.
fn prop_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn namespace_of(full: &str) -> &str {
    full.rsplit_once('.').map_or("", |(ns, _)| ns)
}

fn simple_name(full: &str) -> &str {
    full.rsplit_once('.').map_or(full, |(_, n)| n)
}

fn is_null_schema(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "null",
        Value::Object(o) => o.get("type").and_then(Value::as_str) == Some("null"),
        _ => false,
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

fn place(at: &str) -> &str {
    if at.is_empty() { "schema" } else { at }
}

/// The full name a named type's definition gives itself inside namespace `ns`.
fn definition_name(obj: &Map<String, Value>, ns: &str) -> Result<String, String> {
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a named type has no \"name\"")?;
    if name.contains('.') {
        return Ok(name.to_string());
    }
    let ns = match obj.get("namespace") {
        Some(Value::String(s)) => s.as_str(),
        _ => ns,
    };
    Ok(if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}.{name}")
    })
}

#[derive(Default)]
struct Compiler<'a> {
    /// Every named type definition, by full name.
    named: HashMap<String, &'a Map<String, Value>>,
    /// Records being compiled, to refuse recursion the Connect model cannot express.
    stack: Vec<String>,
}

impl<'a> Compiler<'a> {
    /// Collects the named types a schema defines, so references resolve in any order.
    fn register(&mut self, node: &'a Value, ns: &str) {
        match node {
            Value::Array(members) => {
                for m in members {
                    self.register(m, ns);
                }
            }
            Value::Object(obj) => match obj.get("type") {
                Some(Value::String(t)) => match t.as_str() {
                    "record" | "error" | "enum" | "fixed" => {
                        let Ok(full) = definition_name(obj, ns) else {
                            return;
                        };
                        if t == "record" || t == "error" {
                            let inner = namespace_of(&full).to_string();
                            for f in obj
                                .get("fields")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                            {
                                if let Some(ty) = f.get("type") {
                                    self.register(ty, &inner);
                                }
                            }
                        }
                        self.named.entry(full).or_insert(obj);
                    }
                    "array" => {
                        if let Some(items) = obj.get("items") {
                            self.register(items, ns);
                        }
                    }
                    "map" => {
                        if let Some(values) = obj.get("values") {
                            self.register(values, ns);
                        }
                    }
                    _ => {}
                },
                Some(inner) => self.register(inner, ns),
                None => {}
            },
            _ => {}
        }
    }

    /// A reference to a named type, resolved as Avro does: dotted names are full, others
    /// belong to the enclosing namespace (or, failing that, to none).
    fn lookup(&self, name: &str, ns: &str) -> Option<(String, &'a Map<String, Value>)> {
        if !name.contains('.') && !ns.is_empty() {
            let full = format!("{ns}.{name}");
            if let Some(def) = self.named.get(&full) {
                return Some((full, def));
            }
        }
        self.named.get(name).map(|def| (name.to_string(), *def))
    }

    /// The Connect union field name of a member: its type name, or a named type's simple name.
    fn member_name(&self, node: &'a Value, ns: &str) -> Result<String, String> {
        let (kind, obj) = match node {
            Value::String(s) => (s.as_str(), None),
            Value::Object(o) => match o.get("type") {
                Some(Value::String(t)) => (t.as_str(), Some(o)),
                Some(inner) => return self.member_name(inner, ns),
                None => return Err("a schema object has no \"type\"".into()),
            },
            _ => return Err(format!("not a schema: {node}")),
        };
        match kind {
            "record" | "error" | "enum" | "fixed" => {
                let full = definition_name(obj.ok_or("a named type has no definition")?, ns)?;
                Ok(simple_name(&full).to_string())
            }
            k if PRIMITIVES.contains(&k) || k == "array" || k == "map" => Ok(k.to_string()),
            reference => match self.lookup(reference, ns) {
                Some((full, _)) => Ok(simple_name(&full).to_string()),
                None => Err(format!("unknown type \"{reference}\"")),
            },
        }
    }

    /// Compiles `node` (within namespace `ns`) as AvroData's `toConnectSchema` converts it:
    /// `optional` forces optionality (union members), `field_default` is the enclosing record
    /// field's default, `at` the field path for errors.
    fn compile(
        &mut self,
        node: &'a Value,
        ns: &str,
        optional: bool,
        field_default: Option<&'a Value>,
        at: &str,
    ) -> Result<(ConnectSchema, Step), String> {
        match node {
            Value::String(name) if PRIMITIVES.contains(&name.as_str()) => {
                self.typed(name, None, None, optional, field_default, at)
            }
            Value::String(name) => self.named_type(name, ns, optional, field_default, at),
            Value::Array(members) => self.union(members, ns, optional, field_default, at),
            Value::Object(obj) => match obj.get("type") {
                Some(Value::String(t)) => match t.as_str() {
                    "record" | "error" | "enum" | "fixed" => {
                        let full =
                            definition_name(obj, ns).map_err(|e| format!("{}: {e}", place(at)))?;
                        self.definition(&full, obj, optional, field_default, at)
                    }
                    "array" | "map" => {
                        self.typed(t, Some(obj), Some(ns), optional, field_default, at)
                    }
                    k if PRIMITIVES.contains(&k) => {
                        self.typed(k, Some(obj), None, optional, field_default, at)
                    }
                    reference => self.named_type(reference, ns, optional, field_default, at),
                },
                Some(inner @ (Value::Object(_) | Value::Array(_))) => {
                    self.compile(inner, ns, optional, field_default, at)
                }
                _ => Err(format!("{}: a schema object has no \"type\"", place(at))),
            },
            other => Err(format!("{}: not a schema: {other}", place(at))),
        }
    }

    fn named_type(
        &mut self,
        name: &str,
        ns: &str,
        optional: bool,
        field_default: Option<&'a Value>,
        at: &str,
    ) -> Result<(ConnectSchema, Step), String> {
        let (full, def) = self
            .lookup(name, ns)
            .ok_or_else(|| format!("{}: unknown type \"{name}\"", place(at)))?;
        self.definition(&full, def, optional, field_default, at)
    }

    fn definition(
        &mut self,
        full: &str,
        obj: &'a Map<String, Value>,
        optional: bool,
        field_default: Option<&'a Value>,
        at: &str,
    ) -> Result<(ConnectSchema, Step), String> {
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("record");
        let kind = if kind == "error" { "record" } else { kind };
        if self.stack.iter().any(|s| s == full) {
            return Err(format!(
                "{}: record {full} contains itself; recursive types cannot be expressed as a Connect schema",
                place(at)
            ));
        }
        self.stack.push(full.to_string());
        let out = self.typed(kind, Some(obj), Some(full), optional, field_default, at);
        self.stack.pop();
        out
    }

    fn union(
        &mut self,
        members: &'a [Value],
        ns: &str,
        optional: bool,
        field_default: Option<&'a Value>,
        at: &str,
    ) -> Result<(ConnectSchema, Step), String> {
        if let [only] = members {
            // flatten.singleton.unions; the field default does not carry over, as in AvroData.
            return self.compile(only, ns, optional, None, at);
        }
        if let [a, b] = members {
            let null_index = match (is_null_schema(a), is_null_schema(b)) {
                (true, false) => Some(0),
                (false, true) => Some(1),
                _ => None,
            };
            if let Some(null_index) = null_index {
                let other = if null_index == 0 { b } else { a };
                // AvroData drops the field default of an optional field.
                let (schema, inner) = self.compile(other, ns, true, None, at)?;
                let step = Step::Nullable {
                    null_index,
                    inner: Box::new(inner),
                };
                return Ok((schema, step));
            }
        }
        let mut fields: Vec<(String, ConnectSchema)> = Vec::new();
        let mut branches = Vec::with_capacity(members.len());
        let mut has_null = false;
        for m in members {
            if is_null_schema(m) {
                has_null = true;
                branches.push(Branch::Null);
                continue;
            }
            let name = self
                .member_name(m, ns)
                .map_err(|e| format!("{}: {e}", place(at)))?;
            if fields.iter().any(|(n, _)| *n == name) {
                return Err(format!(
                    "{}: several union members map to the Connect union field \"{name}\"",
                    place(at)
                ));
            }
            let (schema, step) = self.compile(m, ns, true, None, &join(at, &name))?;
            branches.push(Branch::Field(fields.len(), name.clone(), step));
            fields.push((name, schema));
        }
        let mut schema = plain(ConnectType::Struct(fields));
        schema.name = Some(UNION.to_string());
        schema.optional = optional || has_null;
        let step = Step::Union(branches);
        if let Some(d) = field_default {
            schema
                .parameters
                .insert(FIELD_DEFAULT_FLAG.into(), "true".into());
            schema.default = connect_default(&step, &schema, d).filter(|v| !v.is_null());
        }
        Ok((schema, step))
    }

    /// A non-union schema of Avro type `kind`, with the properties of `obj` if it is an
    /// object. `full` is a named type's full name; for arrays and maps, the namespace.
    fn typed(
        &mut self,
        kind: &str,
        obj: Option<&'a Map<String, Value>>,
        full: Option<&str>,
        optional: bool,
        field_default: Option<&'a Value>,
        at: &str,
    ) -> Result<(ConnectSchema, Step), String> {
        let here = place(at);
        let prop = |k: &str| obj.and_then(|o| o.get(k));
        let logical = prop("logicalType")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let logical = logical.as_deref();
        let mut schema = plain(ConnectType::Int32);
        let mut fixed_size = None;
        let mut step = None;
        let mut name_from_definition = false;
        let set_logical = |schema: &mut ConnectSchema, ty: ConnectType, name: &str| {
            schema.ty = ty;
            schema.name = Some(name.to_string());
            schema.version = Some(1);
        };
        match kind {
            "null" => {
                return Err(format!(
                    "{here}: a standalone null schema is not supported (only inside a union)"
                ));
            }
            "boolean" => schema.ty = ConnectType::Boolean,
            "int" => match (logical, prop("connect.type").and_then(Value::as_str)) {
                (Some("date"), _) => set_logical(&mut schema, ConnectType::Int32, DATE),
                (Some("time-millis"), _) => set_logical(&mut schema, ConnectType::Int32, TIME),
                (Some(_), _) | (None, None) => schema.ty = ConnectType::Int32,
                (None, Some("int8")) => schema.ty = ConnectType::Int8,
                (None, Some("int16")) => schema.ty = ConnectType::Int16,
                (None, Some(other)) => {
                    return Err(format!(
                        "{here}: unknown Connect type annotation \"{other}\" for an Avro int"
                    ));
                }
            },
            // timestamp-micros, local-timestamp-* and time-micros stay plain int64, as in AvroData.
            "long" => match logical {
                Some("timestamp-millis") => set_logical(&mut schema, ConnectType::Int64, TIMESTAMP),
                _ => schema.ty = ConnectType::Int64,
            },
            "float" => schema.ty = ConnectType::Float32,
            "double" => schema.ty = ConnectType::Float64,
            "string" => schema.ty = ConnectType::String,
            "bytes" | "fixed" => {
                if logical == Some("decimal") {
                    set_logical(&mut schema, ConnectType::Bytes, DECIMAL);
                    let scale = match prop("scale") {
                        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                        _ => 0,
                    };
                    schema.parameters.insert("scale".into(), scale.to_string());
                    match prop("precision") {
                        None => {}
                        Some(Value::Number(n)) => {
                            let p = n.as_i64().unwrap_or(DECIMAL_PRECISION_DEFAULT);
                            if p != DECIMAL_PRECISION_DEFAULT {
                                schema
                                    .parameters
                                    .insert(DECIMAL_PRECISION.into(), p.to_string());
                            }
                        }
                        Some(_) => {
                            return Err(format!("{here}: decimal precision must be a number"));
                        }
                    }
                } else {
                    schema.ty = ConnectType::Bytes;
                }
                if kind == "fixed" {
                    let size = prop("size")
                        .and_then(Value::as_u64)
                        .and_then(|s| usize::try_from(s).ok())
                        .ok_or_else(|| format!("{here}: fixed type without a valid \"size\""))?;
                    fixed_size = Some(size);
                    schema
                        .parameters
                        .insert(FIXED_SIZE.into(), size.to_string());
                    name_from_definition = schema.name.is_none();
                }
            }
            "enum" => {
                let full = full.unwrap_or_default();
                let simple = simple_name(full);
                schema.ty = ConnectType::String;
                if let Some(doc) = prop("doc").and_then(Value::as_str) {
                    schema
                        .parameters
                        .insert(format!("{ENUM_DOC_PREFIX}{simple}"), doc.into());
                }
                if let Some(d) = prop("default").and_then(Value::as_str) {
                    schema
                        .parameters
                        .insert(format!("{ENUM_DEFAULT_PREFIX}{simple}"), d.into());
                }
                schema.parameters.insert(ENUM.into(), full.into());
                let mut symbols = Vec::new();
                for s in prop("symbols")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let s = s
                        .as_str()
                        .ok_or_else(|| format!("{here}: enum symbols must be strings"))?;
                    schema
                        .parameters
                        .insert(format!("{ENUM}.{s}"), s.to_string());
                    symbols.push(s.to_string());
                }
                step = Some(Step::Enum(symbols));
                name_from_definition = true;
            }
            "array" => {
                let ns = full.unwrap_or_default();
                let items =
                    prop("items").ok_or_else(|| format!("{here}: array without \"items\""))?;
                let (s, st) = match self.map_entry(items, ns) {
                    Some((entry_ns, fields)) => self.entries(fields, &entry_ns, at)?,
                    None => {
                        let (items, st) = self.compile(items, ns, false, None, at)?;
                        let min = st.min_size();
                        (
                            plain(ConnectType::Array(Box::new(items))),
                            Step::Array {
                                items: Box::new(st),
                                min,
                            },
                        )
                    }
                };
                schema = s;
                step = Some(st);
            }
            "map" => {
                let ns = full.unwrap_or_default();
                let values =
                    prop("values").ok_or_else(|| format!("{here}: map without \"values\""))?;
                let (values, st) = self.compile(values, ns, false, None, at)?;
                schema.ty =
                    ConnectType::Map(Box::new(plain(ConnectType::String)), Box::new(values));
                step = Some(Step::Map {
                    values: Box::new(st),
                });
            }
            "record" => {
                let full = full.unwrap_or_default();
                let inner_ns = namespace_of(full);
                if let Some(doc) = prop("doc").and_then(Value::as_str) {
                    schema.parameters.insert(RECORD_DOC.into(), doc.into());
                }
                let mut fields = Vec::new();
                let mut steps = Vec::new();
                for f in prop("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let fname = f.get("name").and_then(Value::as_str).ok_or_else(|| {
                        format!("{here}: record {full} has a field without a name")
                    })?;
                    let path = join(at, fname);
                    let ftype = f
                        .get("type")
                        .ok_or_else(|| format!("{path}: field without a \"type\""))?;
                    if let Some(doc) = f.get("doc").and_then(Value::as_str) {
                        schema
                            .parameters
                            .insert(format!("{FIELD_DOC_PREFIX}{fname}"), doc.into());
                    }
                    let (mut fs, st) =
                        self.compile(ftype, inner_ns, false, f.get("default"), &path)?;
                    // Field-level connect.parameters override the type's (newer AvroData).
                    if let Some(Value::Object(p)) = f.get("connect.parameters") {
                        for (k, v) in p {
                            fs.parameters.insert(k.clone(), prop_text(v));
                        }
                    }
                    fields.push((fname.to_string(), fs));
                    steps.push((fname.to_string(), st));
                }
                schema.ty = ConnectType::Struct(fields);
                step = Some(Step::Record(steps));
                name_from_definition = true;
            }
            other => return Err(format!("{here}: unsupported Avro type \"{other}\"")),
        }

        // Properties every type may carry (AvroData with connect.meta.data=true).
        if let Some(doc) = prop("connect.doc").and_then(Value::as_str) {
            schema.doc = Some(doc.to_string());
        }
        match prop("connect.version") {
            None => {}
            Some(Value::Number(n)) => {
                let v = n.as_i64().and_then(|v| i32::try_from(v).ok()).unwrap_or(-1);
                match schema.version {
                    Some(have) if v >= 0 && have != v => {
                        return Err(format!(
                            "{here}: connect.version {v} differs from the logical type's version {have}"
                        ));
                    }
                    _ if v >= 0 => schema.version = Some(v),
                    _ => {}
                }
            }
            Some(other) => return Err(format!("{here}: invalid connect.version {other}")),
        }
        match prop("connect.parameters") {
            None => {}
            Some(Value::Object(p)) => {
                for (k, v) in p {
                    let v = v.as_str().ok_or_else(|| {
                        format!("{here}: connect.parameters values must be strings, found {v}")
                    })?;
                    schema.parameters.insert(k.clone(), v.to_string());
                }
            }
            Some(other) => {
                return Err(format!(
                    "{here}: connect.parameters must be an object, found {other}"
                ));
            }
        }
        for (k, v) in obj.into_iter().flatten() {
            if k.starts_with("avro") {
                schema.parameters.insert(k.clone(), prop_text(v));
            }
        }
        let name = match prop("connect.name") {
            Some(Value::String(n)) => Some(n.as_str()),
            Some(other) => return Err(format!("{here}: invalid connect.name {other}")),
            None if name_from_definition => full,
            None => None,
        };
        if let Some(n) = name.filter(|n| !n.starts_with(DEFAULT_NAME)) {
            match &schema.name {
                Some(have) if have != n => {
                    return Err(format!(
                        "{here}: connect.name {n} differs from the logical type {have}"
                    ));
                }
                _ => schema.name = Some(n.to_string()),
            }
        }
        schema.optional = optional;

        // The plan for scalars follows the final schema, whose name may make it logical.
        let step = match step {
            Some(s) => s,
            None => match (&schema.ty, schema.logical()) {
                (ConnectType::Bytes, Some(Logical::Decimal { scale, precision })) => {
                    if scale < 0 || scale as u8 > precision {
                        return Err(format!(
                            "{here}: decimal scale {scale} must be between 0 and the precision {precision}"
                        ));
                    }
                    let limit = 10i128.pow(u32::from(precision));
                    match fixed_size {
                        Some(size) => Step::DecimalFixed { size, limit },
                        None => Step::DecimalBytes { limit },
                    }
                }
                (_, Some(Logical::Decimal { .. })) => {
                    return Err(format!(
                        "{here}: a Decimal must have Avro type bytes or fixed"
                    ));
                }
                (ConnectType::Boolean, _) => Step::Bool,
                (ConnectType::Int8 | ConnectType::Int16 | ConnectType::Int32, _) => Step::Int,
                (ConnectType::Int64, _) => Step::Long,
                (ConnectType::Float32, _) => Step::Float,
                (ConnectType::Float64, _) => Step::Double,
                (ConnectType::String, _) => Step::Str,
                (ConnectType::Bytes, _) => match fixed_size {
                    Some(n) => Step::Fixed(n),
                    None => Step::Bytes,
                },
                _ => return Err(format!("{here}: internal error: no plan for {kind}")),
            },
        };
        if let Some(Logical::Decimal { scale, .. }) = schema.logical()
            && schema
                .parameters
                .get("scale")
                .is_some_and(|s| s.parse::<i8>().ok() != Some(scale))
        {
            return Err(format!("{here}: decimal scale must be between 0 and 38"));
        }

        let connect_default_prop = prop("connect.default");
        let default = match field_default {
            Some(d) => {
                if connect_default_prop.is_none() {
                    schema
                        .parameters
                        .insert(FIELD_DEFAULT_FLAG.into(), "true".into());
                }
                Some(d)
            }
            None => connect_default_prop,
        };
        if let Some(d) = default {
            // AvroData ignores defaults it cannot convert.
            schema.default = connect_default(&step, &schema, d).filter(|v| !v.is_null());
        }
        Ok((schema, step))
    }

    /// The record of an array's items, if AvroData's map-entry encoding (a Connect map with
    /// non-string keys): its namespace and fields.
    fn map_entry(&self, items: &'a Value, ns: &str) -> Option<(String, &'a Vec<Value>)> {
        let (full, obj) = match items {
            Value::String(name) => self.lookup(name, ns)?,
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("record") => {
                (definition_name(o, ns).ok()?, o)
            }
            _ => return None,
        };
        let tagged = obj.get("connect.internal.type").and_then(Value::as_str) == Some("MapEntry");
        if full != MAP_ENTRY && !tagged {
            return None;
        }
        let fields = obj.get("fields")?.as_array()?;
        Some((namespace_of(&full).to_string(), fields))
    }

    fn entries(
        &mut self,
        fields: &'a [Value],
        ns: &str,
        at: &str,
    ) -> Result<(ConnectSchema, Step), String> {
        let field = |name: &str| {
            fields
                .iter()
                .position(|f| f.get("name").and_then(Value::as_str) == Some(name))
        };
        let (Some(k), Some(v), 2) = (field("key"), field("value"), fields.len()) else {
            return Err(format!(
                "{}: a map encoded as an array of key/value records needs exactly the fields \"key\" and \"value\"",
                place(at)
            ));
        };
        let ty = |i: usize| {
            fields[i]
                .get("type")
                .ok_or_else(|| format!("{}: map entry field without a type", place(at)))
        };
        let (ks, kst) = self.compile(ty(k)?, ns, false, None, &join(at, "key"))?;
        let (vs, vst) = self.compile(ty(v)?, ns, false, None, &join(at, "value"))?;
        let min = kst.min_size() + vst.min_size();
        Ok((
            plain(ConnectType::Map(Box::new(ks), Box::new(vs))),
            Step::Entries {
                key: Box::new(kst),
                value: Box::new(vst),
                key_first: k < v,
                min,
            },
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Defaults

/// An Avro default (JSON as in the schema) as a Connect default in the JSON form the rest of
/// the crate uses (JsonConverter's: bytes and decimals base64). `None` when it does not fit.
fn connect_default(step: &Step, schema: &ConnectSchema, v: &Value) -> Option<Value> {
    if v.is_null() {
        return Some(Value::Null);
    }
    let bytes = |v: &Value| -> Option<Value> {
        // Avro writes bytes defaults as strings of code points 0-255.
        let s = v.as_str()?;
        let b = s
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Value::String(base64(&b)))
    };
    match step {
        Step::Bool => v.as_bool().map(Value::Bool),
        Step::Int | Step::Long => v.as_i64().map(Value::from),
        Step::Float | Step::Double => v.as_f64().map(Value::from),
        Step::Str | Step::Enum(_) => v.as_str().map(Value::from),
        Step::Bytes | Step::Fixed(_) | Step::DecimalBytes { .. } | Step::DecimalFixed { .. } => {
            bytes(v)
        }
        Step::Nullable { inner, .. } => connect_default(inner, schema, v),
        Step::Array { items, .. } => {
            let ConnectType::Array(item_schema) = &schema.ty else {
                return None;
            };
            let out = v
                .as_array()?
                .iter()
                .map(|x| connect_default(items, item_schema, x))
                .collect::<Option<Vec<_>>>()?;
            Some(Value::Array(out))
        }
        Step::Map { values } => {
            let ConnectType::Map(_, value_schema) = &schema.ty else {
                return None;
            };
            let mut out = Map::new();
            for (k, x) in v.as_object()? {
                out.insert(k.clone(), connect_default(values, value_schema, x)?);
            }
            Some(Value::Object(out))
        }
        // Connect maps with non-string keys have no JSON object form to default to.
        Step::Entries { .. } => None,
        Step::Record(steps) => {
            let ConnectType::Struct(fields) = &schema.ty else {
                return None;
            };
            let obj = v.as_object()?;
            let mut out = Map::new();
            for ((name, st), (_, fs)) in steps.iter().zip(fields) {
                let x = connect_default(st, fs, obj.get(name).unwrap_or(&Value::Null))?;
                if x.is_null() && !fs.optional {
                    return None;
                }
                out.insert(name.clone(), x);
            }
            Some(Value::Object(out))
        }
        // A union's default is of its first member.
        Step::Union(branches) => match branches.first()? {
            Branch::Null => Some(Value::Null),
            Branch::Field(child, name, st) => {
                let ConnectType::Struct(fields) = &schema.ty else {
                    return None;
                };
                let x = connect_default(st, &fields.get(*child)?.1, v)?;
                let mut out = Map::new();
                out.insert(name.clone(), x);
                Some(Value::Object(out))
            }
        },
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::types::Value as AV;
    use apache_avro::writer::datum::GenericDatumWriter;
    use apache_avro::{Decimal, Schema};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
        Time32MillisecondType, TimestampMillisecondType,
    };
    use arrow_array::{Array, ArrayRef};
    use std::collections::HashMap;

    const ORDER: &str = r#"{
      "type": "record", "name": "Order", "namespace": "com.acme", "doc": "An order",
      "fields": [
        {"name": "id", "type": "long", "doc": "the id"},
        {"name": "flag", "type": "boolean", "default": true},
        {"name": "qty", "type": "int", "default": 1},
        {"name": "ratio", "type": "float"},
        {"name": "score", "type": "double"},
        {"name": "note", "type": {"type": "string", "avro.java.string": "String"}},
        {"name": "blob", "type": "bytes", "default": "\u00ff"},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "namespace": "com.acme.people",
          "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": ["null", "int"], "default": null}]}},
        {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line",
          "fields": [{"name": "sku", "type": "string"}, {"name": "n", "type": "int"}]}}},
        {"name": "attrs", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "doc": "lifecycle",
          "symbols": ["NEW", "PAID", "SHIPPED"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "total", "type": {"type": "fixed", "name": "Total", "size": 9, "logicalType": "decimal",
          "precision": 18, "scale": 3}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "updated", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "maybe", "type": ["null", "string"], "default": null},
        {"name": "later", "type": ["string", "null"], "default": "x"},
        {"name": "choice", "type": ["int", "string", {"type": "record", "name": "Point",
          "fields": [{"name": "x", "type": "int"}]}]},
        {"name": "small", "type": {"type": "int", "connect.type": "int16"}},
        {"name": "again", "type": ["null", "com.acme.people.Customer"], "default": null}
      ]}"#;

    fn encode(schema: &str, value: AV) -> Vec<u8> {
        let schema = Schema::parse_str(schema).unwrap();
        GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .unwrap()
    }

    fn builders(d: &AvroDecoder) -> Vec<ColumnBuilder> {
        let s = d.connect_schema();
        match &s.ty {
            ConnectType::Struct(fields) => fields
                .iter()
                .map(|(_, f)| ColumnBuilder::new(f, 4))
                .collect(),
            _ => vec![ColumnBuilder::new(s, 4)],
        }
    }

    fn rec(fields: Vec<(&str, AV)>) -> AV {
        AV::Record(
            fields
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
        )
    }

    fn s(v: &str) -> AV {
        AV::String(v.to_string())
    }

    fn order(i: i64, customer_age: AV, lines: Vec<AV>, attr: (&str, AV), choice: AV) -> AV {
        let mut attrs = HashMap::new();
        attrs.insert(attr.0.to_string(), attr.1);
        rec(vec![
            ("id", AV::Long(i)),
            ("flag", AV::Boolean(i % 2 == 0)),
            ("qty", AV::Int(-5 * i as i32)),
            ("ratio", AV::Float(1.5)),
            ("score", AV::Double(-2.25)),
            ("note", s("héllo")),
            ("blob", AV::Bytes(vec![0, 1, i as u8])),
            (
                "customer",
                rec(vec![("name", s("ann")), ("age", customer_age)]),
            ),
            ("lines", AV::Array(lines)),
            ("attrs", AV::Map(attrs)),
            (
                "status",
                AV::Enum(i as u32, ["NEW", "PAID", "SHIPPED"][i as usize].into()),
            ),
            ("hash", AV::Fixed(4, vec![1, 2, 3, i as u8])),
            ("price", AV::Decimal(Decimal::from(vec![0x04, 0xD2]))), // 12.34
            ("total", AV::Decimal(Decimal::from(vec![0xEC, 0x78]))), // -5.000
            ("day", AV::Date(19_000 + i as i32)),
            ("at", AV::TimeMillis(3_600_000)),
            ("created", AV::TimestampMillis(1_700_000_000_000 + i)),
            ("updated", AV::TimestampMicros(1_700_000_000_000_000)),
            ("local", AV::LocalTimestampMillis(5)),
            ("uid", s("550e8400-e29b-41d4-a716-446655440000")),
            (
                "maybe",
                if i == 1 {
                    AV::Union(0, Box::new(AV::Null))
                } else {
                    AV::Union(1, Box::new(s("m")))
                },
            ),
            (
                "later",
                if i == 1 {
                    AV::Union(1, Box::new(AV::Null))
                } else {
                    AV::Union(0, Box::new(s("l")))
                },
            ),
            ("choice", choice),
            ("small", AV::Int(-3)),
            (
                "again",
                if i == 1 {
                    AV::Union(
                        1,
                        Box::new(rec(vec![
                            ("name", s("bob")),
                            ("age", AV::Union(0, Box::new(AV::Null))),
                        ])),
                    )
                } else {
                    AV::Union(0, Box::new(AV::Null))
                },
            ),
        ])
    }

    fn line(sku: &str, n: i32) -> AV {
        rec(vec![("sku", s(sku)), ("n", AV::Int(n))])
    }

    fn field<'a>(s: &'a ConnectSchema, name: &str) -> &'a ConnectSchema {
        let ConnectType::Struct(fields) = &s.ty else {
            panic!("not a struct")
        };
        &fields.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn param<'a>(s: &'a ConnectSchema, key: &str) -> Option<&'a str> {
        s.parameters.get(key).map(String::as_str)
    }

    #[test]
    fn maps_the_schema_as_avro_data_does() {
        let d = AvroDecoder::new(ORDER, &[]).unwrap();
        let c = d.connect_schema();
        assert_eq!(c.name.as_deref(), Some("com.acme.Order"));
        assert!(!c.optional);
        assert_eq!(param(c, RECORD_DOC), Some("An order"));
        assert_eq!(
            param(c, "io.confluent.connect.avro.field.doc.id"),
            Some("the id")
        );
        let ConnectType::Struct(fields) = &c.ty else {
            panic!()
        };
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..4], ["id", "flag", "qty", "ratio"]);
        assert_eq!(names.len(), 25);

        let flag = field(c, "flag");
        assert_eq!(flag.default, Some(Value::Bool(true)));
        assert_eq!(param(flag, FIELD_DEFAULT_FLAG), Some("true"));
        assert_eq!(field(c, "qty").default, Some(Value::from(1)));
        assert_eq!(field(c, "blob").default, Some(Value::from("/w==")));
        assert_eq!(param(field(c, "note"), "avro.java.string"), Some("String"));
        assert!(field(c, "id").default.is_none() && field(c, "id").parameters.is_empty());

        let customer = field(c, "customer");
        assert_eq!(customer.name.as_deref(), Some("com.acme.people.Customer"));
        let age = field(customer, "age");
        assert!(age.optional && age.ty == ConnectType::Int32 && age.default.is_none());
        let ConnectType::Array(line) = &field(c, "lines").ty else {
            panic!()
        };
        assert_eq!(line.name.as_deref(), Some("com.acme.Line"));
        let ConnectType::Map(k, v) = &field(c, "attrs").ty else {
            panic!()
        };
        assert!(k.ty == ConnectType::String && !k.optional);
        assert!(v.ty == ConnectType::Int64 && v.optional);

        let status = field(c, "status");
        assert_eq!(status.ty, ConnectType::String);
        assert_eq!(status.name.as_deref(), Some("com.acme.Status"));
        assert_eq!(param(status, ENUM), Some("com.acme.Status"));
        assert_eq!(
            param(status, "io.confluent.connect.avro.Enum.PAID"),
            Some("PAID")
        );
        assert_eq!(
            param(status, "io.confluent.connect.avro.enum.doc.Status"),
            Some("lifecycle")
        );
        let hash = field(c, "hash");
        assert_eq!(hash.ty, ConnectType::Bytes);
        assert_eq!(hash.name.as_deref(), Some("com.acme.Hash"));
        assert_eq!(param(hash, FIXED_SIZE), Some("4"));

        let price = field(c, "price");
        assert_eq!(
            (price.name.as_deref(), price.version),
            (Some(DECIMAL), Some(1))
        );
        assert_eq!(param(price, "scale"), Some("2"));
        assert_eq!(param(price, DECIMAL_PRECISION), Some("10"));
        let total = field(c, "total");
        assert_eq!(total.name.as_deref(), Some(DECIMAL));
        assert_eq!(param(total, FIXED_SIZE), Some("9"));
        assert_eq!(
            total.logical(),
            Some(Logical::Decimal {
                scale: 3,
                precision: 18
            })
        );
        assert_eq!(field(c, "day").name.as_deref(), Some(DATE));
        assert_eq!(field(c, "at").name.as_deref(), Some(TIME));
        assert_eq!(field(c, "created").name.as_deref(), Some(TIMESTAMP));
        for plain_long in ["updated", "local"] {
            let f = field(c, plain_long);
            assert!(f.ty == ConnectType::Int64 && f.name.is_none());
        }
        assert_eq!(field(c, "uid").ty, ConnectType::String);
        assert_eq!(field(c, "small").ty, ConnectType::Int16);

        let maybe = field(c, "maybe");
        assert!(maybe.optional && maybe.ty == ConnectType::String && maybe.default.is_none());
        let later = field(c, "later");
        assert!(later.optional && later.ty == ConnectType::String);
        assert!(
            later.default.is_none(),
            "AvroData drops optional fields' defaults"
        );
        let again = field(c, "again");
        assert!(again.optional && again.name.as_deref() == Some("com.acme.people.Customer"));

        let choice = field(c, "choice");
        assert_eq!(choice.name.as_deref(), Some(UNION));
        assert!(!choice.optional);
        let ConnectType::Struct(members) = &choice.ty else {
            panic!()
        };
        let members: Vec<(&str, bool)> = members
            .iter()
            .map(|(n, s)| (n.as_str(), s.optional))
            .collect();
        assert_eq!(members, [("int", true), ("string", true), ("Point", true)]);
        assert_eq!(
            field(choice, "Point").name.as_deref(),
            Some("com.acme.Point")
        );
    }

    #[test]
    fn decodes_rows_into_columns() {
        let d = AvroDecoder::new(ORDER, &[]).unwrap();
        let rows = [
            order(
                0,
                AV::Union(1, Box::new(AV::Int(30))),
                vec![line("a", 1), line("b", 2)],
                ("x", AV::Union(1, Box::new(AV::Long(7)))),
                AV::Union(0, Box::new(AV::Int(42))),
            ),
            order(
                1,
                AV::Union(0, Box::new(AV::Null)),
                vec![],
                ("y", AV::Union(0, Box::new(AV::Null))),
                AV::Union(1, Box::new(s("s"))),
            ),
            order(
                2,
                AV::Union(1, Box::new(AV::Int(31))),
                vec![line("c", 3)],
                ("z", AV::Union(1, Box::new(AV::Long(-1)))),
                AV::Union(2, Box::new(rec(vec![("x", AV::Int(9))]))),
            ),
        ];
        let mut cols = builders(&d);
        for row in rows {
            d.decode_row(&encode(ORDER, row), &mut cols).unwrap();
        }
        let arrays: Vec<ArrayRef> = cols.iter_mut().map(|c| c.finish()).collect();
        let ConnectType::Struct(fields) = &d.connect_schema().ty else {
            panic!()
        };
        let mut by_name = HashMap::new();
        for ((name, fs), a) in fields.iter().zip(&arrays) {
            assert_eq!(a.data_type(), &fs.arrow_type(), "{name}");
            assert_eq!(a.len(), 3, "{name}");
            by_name.insert(name.as_str(), a.clone());
        }
        let col = |n: &str| by_name[n].clone();

        assert_eq!(col("id").as_primitive::<Int64Type>().values(), &[0, 1, 2]);
        let flag = col("flag");
        let flag = flag.as_boolean();
        assert!(flag.value(0) && !flag.value(1) && flag.value(2));
        assert_eq!(
            col("qty").as_primitive::<Int32Type>().values(),
            &[0, -5, -10]
        );
        assert_eq!(col("ratio").as_primitive::<Float32Type>().value(0), 1.5);
        assert_eq!(col("score").as_primitive::<Float64Type>().value(2), -2.25);
        assert_eq!(col("note").as_string::<i32>().value(1), "héllo");
        assert_eq!(col("blob").as_binary::<i32>().value(2), &[0, 1, 2]);

        let customer = col("customer");
        let customer = customer.as_struct();
        assert_eq!(customer.column(0).as_string::<i32>().value(1), "ann");
        let age = customer.column(1).as_primitive::<Int32Type>();
        assert_eq!((age.value(0), age.is_null(1), age.value(2)), (30, true, 31));

        let lines = col("lines");
        let lines = lines.as_list::<i32>();
        assert_eq!(lines.value_offsets(), &[0, 2, 2, 3]);
        let items = lines.values().as_struct();
        let skus = items.column(0).as_string::<i32>();
        assert_eq!(
            (skus.value(0), skus.value(1), skus.value(2)),
            ("a", "b", "c")
        );
        assert_eq!(
            items.column(1).as_primitive::<Int32Type>().values(),
            &[1, 2, 3]
        );

        let attrs = col("attrs");
        let attrs = attrs.as_map();
        assert_eq!(attrs.value_offsets(), &[0, 1, 2, 3]);
        let keys = attrs.keys().as_string::<i32>();
        assert_eq!(
            (keys.value(0), keys.value(1), keys.value(2)),
            ("x", "y", "z")
        );
        let vals = attrs.values().as_primitive::<Int64Type>();
        assert_eq!(
            (vals.value(0), vals.is_null(1), vals.value(2)),
            (7, true, -1)
        );

        let status = col("status");
        let status = status.as_string::<i32>();
        assert_eq!(
            (status.value(0), status.value(1), status.value(2)),
            ("NEW", "PAID", "SHIPPED")
        );
        assert_eq!(col("hash").as_binary::<i32>().value(1), &[1, 2, 3, 1]);
        let price = col("price");
        let price = price.as_primitive::<Decimal128Type>();
        assert_eq!(price.value(0), 1234);
        assert_eq!(price.value_as_string(0), "12.34");
        let total = col("total");
        let total = total.as_primitive::<Decimal128Type>();
        assert_eq!(total.value_as_string(2), "-5.000");
        assert_eq!(col("day").as_primitive::<Date32Type>().value(1), 19_001);
        assert_eq!(
            col("at").as_primitive::<Time32MillisecondType>().value(0),
            3_600_000
        );
        assert_eq!(
            col("created")
                .as_primitive::<TimestampMillisecondType>()
                .value(2),
            1_700_000_000_002
        );
        assert_eq!(
            col("updated").as_primitive::<Int64Type>().value(0),
            1_700_000_000_000_000
        );
        assert_eq!(
            col("uid").as_string::<i32>().value(0),
            "550e8400-e29b-41d4-a716-446655440000"
        );
        let maybe = col("maybe");
        let maybe = maybe.as_string::<i32>();
        assert_eq!(
            (maybe.value(0), maybe.is_null(1), maybe.value(2)),
            ("m", true, "m")
        );
        let later = col("later");
        let later = later.as_string::<i32>();
        assert_eq!(
            (later.value(0), later.is_null(1), later.value(2)),
            ("l", true, "l")
        );
        assert_eq!(col("small").as_primitive::<Int16Type>().value(0), -3);
        let again = col("again");
        let again = again.as_struct();
        assert_eq!(again.null_count(), 2);
        assert!(again.is_valid(1));
        assert_eq!(again.column(0).as_string::<i32>().value(1), "bob");

        // The general union: a struct with exactly one member set per row.
        let choice = col("choice");
        let choice = choice.as_struct();
        assert_eq!(choice.null_count(), 0);
        let int = choice
            .column_by_name("int")
            .unwrap()
            .as_primitive::<Int32Type>();
        let string = choice.column_by_name("string").unwrap().as_string::<i32>();
        let point = choice.column_by_name("Point").unwrap().as_struct();
        assert_eq!(
            (int.value(0), int.is_null(1), int.is_null(2)),
            (42, true, true)
        );
        assert_eq!(
            (string.is_null(0), string.value(1), string.is_null(2)),
            (true, "s", true)
        );
        assert_eq!(
            (point.is_null(0), point.is_null(1), point.is_valid(2)),
            (true, true, true)
        );
        assert_eq!(point.column(0).as_primitive::<Int32Type>().value(2), 9);
    }

    const SMALL: &str = r#"{"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "int"},
        {"name": "inner", "type": {"type": "record", "name": "I", "fields": [
            {"name": "s", "type": "string"},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}}]}},
        {"name": "u", "type": ["null", "long"]},
        {"name": "xs", "type": {"type": "array", "items": "long"}}]}"#;

    fn small(bytes: &[u8]) -> Result<Vec<ArrayRef>, String> {
        let d = AvroDecoder::new(SMALL, &[])?;
        let mut cols = builders(&d);
        d.decode_row(bytes, &mut cols)?;
        Ok(cols.iter_mut().map(|c| c.finish()).collect())
    }

    #[test]
    fn reads_blocks_with_negative_counts() {
        // a=1, inner={s:"abc", e:B}, u=5, xs: a block of -2 items with its byte size (2), a block
        // of 1 item, the end marker.
        let bytes = [
            0x02, 0x06, b'a', b'b', b'c', 0x02, 0x02, 0x0A, 0x03, 0x04, 0x02, 0x04, 0x02, 0x06,
            0x00,
        ];
        let cols = small(&bytes).unwrap();
        let xs = cols[3].as_list::<i32>();
        assert_eq!(xs.value_offsets(), &[0, 3]);
        assert_eq!(xs.values().as_primitive::<Int64Type>().values(), &[1, 2, 3]);
        let inner = cols[1].as_struct();
        assert_eq!(inner.column(1).as_string::<i32>().value(0), "B");
        assert_eq!(cols[2].as_primitive::<Int64Type>().value(0), 5);
    }

    #[test]
    fn errors_name_the_field_path() {
        let valid = [
            0x02, 0x06, b'a', b'b', b'c', 0x00, 0x02, 0x0A, 0x02, 0x04, 0x00,
        ];
        assert!(small(&valid).is_ok());
        let e = small(&valid[..3]).unwrap_err();
        assert_eq!(
            e,
            "inner.s: truncated input: 3 more byte(s) needed at offset 2, 1 left"
        );
        let e = small(&[0x02, 0x02, b'a', 0x04]).unwrap_err();
        assert_eq!(e, "inner.e: bad enum index 2 (the enum has 2 symbols)");
        let e = small(&[0x02, 0x02, b'a', 0x00, 0x04]).unwrap_err();
        assert_eq!(e, "u: bad union index 2 (the union has 2 branches)");
        let e = small(&[0x02, 0x02, b'a', 0x00, 0x00, 0x04, 0x02, 0x80]).unwrap_err();
        assert!(e.starts_with("xs[1]: truncated input"), "{e}");
        let e = small(&[0x02, 0x02, b'a', 0x00, 0x00, 0x7E, 0x02]).unwrap_err();
        assert!(
            e.starts_with("xs: truncated input: a block of 63 item(s)"),
            "{e}"
        );
        let mut trailing = valid.to_vec();
        trailing.push(0x00);
        let e = small(&trailing).unwrap_err();
        assert!(e.starts_with("1 trailing byte(s) after the datum"), "{e}");
        let e = small(&[
            0x02, 0x02, b'a', 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0x01,
        ])
        .unwrap_err();
        assert!(e.starts_with("xs: invalid varint"), "{e}");
    }

    #[test]
    fn other_top_level_values_and_map_entries() {
        let d = AvroDecoder::new(r#"["null", "string"]"#, &[]).unwrap();
        assert!(d.connect_schema().optional);
        let mut cols = builders(&d);
        d.decode_row(&[0x02, 0x02, b'z'], &mut cols).unwrap();
        d.decode_row(&[0x00], &mut cols).unwrap();
        let a = cols[0].finish();
        assert_eq!((a.as_string::<i32>().value(0), a.is_null(1)), ("z", true));
        let e = d.decode_row(&[0x02, 0x04, b'z'], &mut cols).unwrap_err();
        assert!(e.starts_with("value: truncated input"), "{e}");

        // A Connect map with int keys, as AvroData writes it.
        let entries = r#"{"type": "array", "items": {"type": "record", "name": "MapEntry",
            "namespace": "io.confluent.connect.avro", "fields": [
            {"name": "key", "type": "int"}, {"name": "value", "type": ["null", "string"]}]}}"#;
        let d = AvroDecoder::new(entries, &[]).unwrap();
        let ConnectType::Map(k, v) = &d.connect_schema().ty else {
            panic!("{:?}", d.connect_schema())
        };
        assert!(k.ty == ConnectType::Int32 && v.optional);
        let mut cols = builders(&d);
        // two entries: 3 -> "c", -1 -> null
        d.decode_row(&[0x04, 0x06, 0x02, 0x02, b'c', 0x01, 0x00, 0x00], &mut cols)
            .unwrap();
        let m = cols[0].finish();
        assert_eq!(m.data_type(), &d.connect_schema().arrow_type());
        let m = m.as_map();
        assert_eq!(m.keys().as_primitive::<Int32Type>().values(), &[3, -1]);
        assert!(m.values().is_null(1));
    }

    #[test]
    fn malformed_utf8_in_strings_and_map_keys_is_replaced_as_java_reads_it() {
        // Java's Utf8.toString (and so AvroConverter) decodes with replacement, never fails.
        let d = AvroDecoder::new(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "s", "type": "string"},
                {"name": "m", "type": {"type": "map", "values": "int"}}]}"#,
            &[],
        )
        .unwrap();
        let mut cols = builders(&d);
        // s = "a\xffb" (a byte that starts no character); m = {"k\xc3": 1} (a two-byte
        // sequence cut short).
        let row = [0x06, b'a', 0xff, b'b', 0x02, 0x04, b'k', 0xc3, 0x02, 0x00];
        d.decode_row(&row, &mut cols).unwrap();
        // A valid row after it is read as it is.
        let ok = [0x08, b'o', b'k', 0xc3, 0xa9, 0x00];
        d.decode_row(&ok, &mut cols).unwrap();
        let s = cols[0].finish();
        let s = s.as_string::<i32>();
        assert_eq!((s.value(0), s.value(1)), ("a\u{fffd}b", "oké"));
        let m = cols[1].finish();
        let keys = m.as_map().keys().as_string::<i32>().value(0).to_string();
        assert_eq!(keys, "k\u{fffd}");
    }

    #[test]
    fn resolves_references_and_connect_properties() {
        let address = r#"{"type": "record", "name": "Address", "namespace": "com.acme",
            "fields": [{"name": "city", "type": "string"}]}"#;
        let main = r#"{"type": "record", "name": "Person", "namespace": "com.acme", "fields": [
            {"name": "home", "type": "Address"},
            {"name": "born", "type": {"type": "int", "connect.version": 1,
              "connect.name": "io.debezium.time.Date"}},
            {"name": "tiny", "type": {"type": "int", "connect.type": "int8",
              "connect.doc": "a byte", "connect.parameters": {"k": "v"}}},
            {"name": "amount", "type": {"type": "bytes", "scale": 2, "precision": 64,
              "connect.version": 1, "connect.parameters": {"scale": "2"},
              "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"}}]}"#;
        let refs = [("com.acme.Address".to_string(), address.to_string())];
        let d = AvroDecoder::new(main, &refs).unwrap();
        let c = d.connect_schema();
        assert_eq!(field(c, "home").name.as_deref(), Some("com.acme.Address"));
        let born = field(c, "born");
        assert_eq!(
            (born.name.as_deref(), born.version, &born.ty),
            (Some("io.debezium.time.Date"), Some(1), &ConnectType::Int32)
        );
        let tiny = field(c, "tiny");
        assert_eq!(
            (tiny.doc.as_deref(), param(tiny, "k")),
            (Some("a byte"), Some("v"))
        );
        let amount = field(c, "amount");
        assert_eq!(param(amount, DECIMAL_PRECISION), None);
        let mut cols = builders(&d);
        // home.city="x", born=3, tiny=-2, amount=-1 (0xff)
        d.decode_row(&[0x02, b'x', 0x06, 0x03, 0x02, 0xff], &mut cols)
            .unwrap();
        let arrays: Vec<ArrayRef> = cols.iter_mut().map(|c| c.finish()).collect();
        assert_eq!(
            arrays[2]
                .as_primitive::<arrow_array::types::Int8Type>()
                .value(0),
            -2
        );
        assert_eq!(
            arrays[3]
                .as_primitive::<Decimal128Type>()
                .value_as_string(0),
            "-0.01"
        );
    }

    #[test]
    fn refuses_what_connect_cannot_express() {
        let e = AvroDecoder::new(r#""null""#, &[]).unwrap_err();
        assert!(e.contains("standalone null"), "{e}");
        let list = r#"{"type": "record", "name": "Node", "fields": [
            {"name": "next", "type": ["null", "Node"]}]}"#;
        let e = AvroDecoder::new(list, &[]).unwrap_err();
        assert!(e.starts_with("next: record Node contains itself"), "{e}");
        let e = AvroDecoder::new(r#"{"type": "record", "name": "R""#, &[]).unwrap_err();
        assert!(e.starts_with("invalid Avro schema"), "{e}");
    }

    #[test]
    fn round_trips_schemas_written_from_connect() {
        let connect = ConnectSchema::from_json(&serde_json::json!({
            "type": "struct", "name": "com.example.Order", "version": 3, "fields": [
                {"field": "id", "type": "int64"},
                {"field": "note", "type": "string", "optional": true},
                {"field": "tiny", "type": "int8"},
                {"field": "at", "type": "int64", "name": TIMESTAMP, "version": 1},
                {"field": "tags", "type": "array", "items": {"type": "string"}},
                {"field": "counts", "type": "map", "keys": {"type": "int32"}, "values": {"type": "int64"}},
                {"field": "inner", "type": "struct", "optional": true,
                 "fields": [{"field": "b", "type": "boolean"}]}
            ]
        }))
        .unwrap();
        let avro = connect.avro_schema().to_string();
        let d = AvroDecoder::new(&avro, &[]).unwrap();
        assert_eq!(d.connect_schema(), &connect);
    }
}
