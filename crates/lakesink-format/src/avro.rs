//! Avro object container files, written by hand.
//!
//! Not arrow-avro: the file's schema must be the records' writer schema or the
//! Connect-derived Avro schema verbatim (what Confluent's sink writes, record name and
//! namespace included), and arrow-avro regenerates the header schema from the Arrow schema
//! under a different record name. Nor can arrow-avro append datums that are already encoded,
//! which is how records read by `AvroConverter` are written: copied, not re-encoded.
//!
//! The Avro schema is compiled once per file into a [`Plan`] checked against the Arrow
//! types; each batch binds its arrays to the plan ([`Node`]) and rows are encoded from that.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, RecordBatch, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, TimeUnit};
use lakesink_config::AvroCodec;
use lakesink_convert::{ConnectType, ValueKind, ValueSchema};
use serde_json::Value;

use crate::{FileFormatWriter, FormatError, FormatOptions, Pieces, decimal_bytes, pieces_of};

/// Blocks are cut once their uncompressed size reaches this (Avro's Java writer uses 64 KiB
/// by default; larger blocks compress better and cost little memory).
const BLOCK_BYTES: usize = 256 * 1024;

const MAGIC: &[u8; 4] = b"Obj\x01";

/// Which union branches hold null and the value.
#[derive(Debug, Clone, Copy)]
struct Branches {
    null: Option<i64>,
    value: i64,
}

/// How to encode one Avro value from one Arrow array.
#[derive(Debug)]
struct Plan {
    /// Where this value sits, for errors (`field.sub[]`).
    path: String,
    union: Option<Branches>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Int,
    Long,
    Float,
    Double,
    Boolean,
    String,
    Bytes,
    Decimal,
    Array(Box<Plan>),
    /// A map with string keys; the plan is the values'.
    Map(Box<Plan>),
    /// A map with other keys, written as an array of `{key, value}` records.
    Entries(Box<Plan>, Box<Plan>),
    Record(Vec<Plan>),
    /// An Avro enum from strings: each symbol's index.
    Enum(HashMap<String, i64>),
    /// An Avro fixed of this size from bytes.
    Fixed(usize),
}

/// Named types seen so far, so references by name resolve.
struct Compiler {
    names: HashMap<String, Value>,
}

fn schema_err(path: &str, message: impl Into<String>) -> FormatError {
    FormatError::AvroSchema {
        path: if path.is_empty() {
            "value".to_string()
        } else {
            path.to_string()
        },
        message: message.into(),
    }
}

fn is_null_schema(s: &Value) -> bool {
    match s {
        Value::String(t) => t == "null",
        Value::Object(o) => o.get("type").and_then(Value::as_str) == Some("null"),
        _ => false,
    }
}

impl Compiler {
    fn compile(
        &mut self,
        schema: &Value,
        dt: &DataType,
        path: &str,
        ns: Option<&str>,
    ) -> Result<Plan, FormatError> {
        match schema {
            Value::Array(branches) => {
                let null = branches.iter().position(is_null_schema);
                let mut others = branches
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| !is_null_schema(b));
                let (Some((value, inner)), None) = (others.next(), others.next()) else {
                    return Err(schema_err(
                        path,
                        format!("only unions of null and one other type are supported: {schema}"),
                    ));
                };
                if matches!(inner, Value::Array(_)) {
                    return Err(schema_err(path, "nested unions are not valid Avro"));
                }
                let mut plan = self.compile(inner, dt, path, ns)?;
                plan.union = Some(Branches {
                    null: null.map(|n| n as i64),
                    value: value as i64,
                });
                Ok(plan)
            }
            Value::String(name) => match primitive(name, dt, path)? {
                Some(kind) => Ok(Plan {
                    path: path.to_string(),
                    union: None,
                    kind,
                }),
                None => {
                    let def = self
                        .lookup(name, ns)
                        .ok_or_else(|| schema_err(path, format!("unknown type name \"{name}\"")))?;
                    self.compile(&def, dt, path, ns)
                }
            },
            Value::Object(obj) => {
                let ty = obj
                    .get("type")
                    .ok_or_else(|| schema_err(path, "schema object without \"type\""))?;
                let Value::String(ty) = ty else {
                    // `{"type": {...}}` wraps a schema.
                    return self.compile(ty, dt, path, ns);
                };
                match ty.as_str() {
                    "record" => self.record(obj, dt, path, ns),
                    "array" => {
                        let items = obj
                            .get("items")
                            .ok_or_else(|| schema_err(path, "array schema without \"items\""))?;
                        let item_path = format!("{path}[]");
                        let kind = match dt {
                            DataType::List(f) => Kind::Array(Box::new(self.compile(
                                items,
                                f.data_type(),
                                &item_path,
                                ns,
                            )?)),
                            DataType::Map(entries, _) => {
                                let plan = self.compile(items, entries.data_type(), path, ns)?;
                                let entry = match plan.kind {
                                    Kind::Record(kv) if plan.union.is_none() => {
                                        <[Plan; 2]>::try_from(kv).ok()
                                    }
                                    _ => None,
                                };
                                match entry {
                                    Some([k, v]) => Kind::Entries(Box::new(k), Box::new(v)),
                                    None => {
                                        return Err(schema_err(
                                            path,
                                            "an Arrow map needs an Avro map or an array of {key, value} records",
                                        ));
                                    }
                                }
                            }
                            other => return Err(mismatch(path, "array", other)),
                        };
                        Ok(Plan {
                            path: path.to_string(),
                            union: None,
                            kind,
                        })
                    }
                    "map" => {
                        let values = obj
                            .get("values")
                            .ok_or_else(|| schema_err(path, "map schema without \"values\""))?;
                        let DataType::Map(entries, _) = dt else {
                            return Err(mismatch(path, "map", dt));
                        };
                        let DataType::Struct(kv) = entries.data_type() else {
                            return Err(mismatch(path, "map", dt));
                        };
                        let (Some(k), Some(v), 2) = (kv.first(), kv.get(1), kv.len()) else {
                            return Err(mismatch(path, "map", dt));
                        };
                        if k.data_type() != &DataType::Utf8 {
                            return Err(schema_err(
                                path,
                                format!(
                                    "Avro map keys are strings; the Arrow map has {} keys",
                                    k.data_type()
                                ),
                            ));
                        }
                        let value_path = format!("{path}{{}}");
                        let value = self.compile(values, v.data_type(), &value_path, ns)?;
                        Ok(Plan {
                            path: path.to_string(),
                            union: None,
                            kind: Kind::Map(Box::new(value)),
                        })
                    }
                    "enum" => {
                        if dt != &DataType::Utf8 {
                            return Err(mismatch(path, "enum", dt));
                        }
                        self.name(obj, path, ns)?;
                        let symbols = obj
                            .get("symbols")
                            .and_then(Value::as_array)
                            .ok_or_else(|| schema_err(path, "enum without \"symbols\""))?
                            .iter()
                            .enumerate()
                            .map(|(i, s)| {
                                s.as_str()
                                    .map(|s| (s.to_string(), i as i64))
                                    .ok_or_else(|| schema_err(path, "enum symbols are strings"))
                            })
                            .collect::<Result<HashMap<_, _>, _>>()?;
                        Ok(Plan {
                            path: path.to_string(),
                            union: None,
                            kind: Kind::Enum(symbols),
                        })
                    }
                    "fixed" => {
                        if dt != &DataType::Binary {
                            return Err(mismatch(path, "fixed", dt));
                        }
                        self.name(obj, path, ns)?;
                        let size = obj
                            .get("size")
                            .and_then(Value::as_u64)
                            .ok_or_else(|| schema_err(path, "fixed without a \"size\""))?;
                        Ok(Plan {
                            path: path.to_string(),
                            union: None,
                            kind: Kind::Fixed(size as usize),
                        })
                    }
                    // A primitive type with attributes (logical type, connect.* properties).
                    prim => match primitive(prim, dt, path)? {
                        Some(kind) => Ok(Plan {
                            path: path.to_string(),
                            union: None,
                            kind,
                        }),
                        None => {
                            let def = self.lookup(prim, ns).ok_or_else(|| {
                                schema_err(path, format!("unknown type name \"{prim}\""))
                            })?;
                            self.compile(&def, dt, path, ns)
                        }
                    },
                }
            }
            other => Err(schema_err(path, format!("not an Avro schema: {other}"))),
        }
    }

    /// Registers a named type so later references to it resolve.
    fn name(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        path: &str,
        ns: Option<&str>,
    ) -> Result<(), FormatError> {
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| schema_err(path, "a named type without a name"))?;
        self.names
            .insert(full_name(name, obj, ns), Value::Object(obj.clone()));
        Ok(())
    }

    fn record(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        dt: &DataType,
        path: &str,
        ns: Option<&str>,
    ) -> Result<Plan, FormatError> {
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| schema_err(path, "record without a name"))?;
        let full = full_name(name, obj, ns);
        self.names.insert(full.clone(), Value::Object(obj.clone()));
        // Names inside a record resolve against its namespace.
        let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
        let fields = obj
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| schema_err(path, "record without a \"fields\" array"))?;
        let DataType::Struct(arrow_fields) = dt else {
            return Err(mismatch(path, "record", dt));
        };
        if arrow_fields.len() != fields.len() {
            return Err(schema_err(
                path,
                format!(
                    "the record has {} fields, the Arrow struct {}",
                    fields.len(),
                    arrow_fields.len()
                ),
            ));
        }
        let mut plans = Vec::with_capacity(fields.len());
        for (f, af) in fields.iter().zip(arrow_fields.iter()) {
            // Avro names may be sanitized Connect names; fields pair up by position.
            let fpath = if path.is_empty() {
                af.name().clone()
            } else {
                format!("{path}.{}", af.name())
            };
            let ty = f
                .get("type")
                .ok_or_else(|| schema_err(&fpath, "record field without \"type\""))?;
            plans.push(self.compile(ty, af.data_type(), &fpath, inner_ns.as_deref())?);
        }
        Ok(Plan {
            path: path.to_string(),
            union: None,
            kind: Kind::Record(plans),
        })
    }

    fn lookup(&self, name: &str, ns: Option<&str>) -> Option<Value> {
        if let Some(v) = self.names.get(name) {
            return Some(v.clone());
        }
        let ns = ns?;
        self.names.get(&format!("{ns}.{name}")).cloned()
    }
}

fn full_name(name: &str, obj: &serde_json::Map<String, Value>, ns: Option<&str>) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match obj.get("namespace").and_then(Value::as_str).or(ns) {
        Some(n) if !n.is_empty() => format!("{n}.{name}"),
        _ => name.to_string(),
    }
}

fn mismatch(path: &str, avro: &str, dt: &DataType) -> FormatError {
    schema_err(
        path,
        format!("Avro {avro} cannot be written from Arrow {dt}"),
    )
}

/// The encoding of a primitive Avro type from `dt`, `None` if `name` is not a primitive.
fn primitive(name: &str, dt: &DataType, path: &str) -> Result<Option<Kind>, FormatError> {
    let kind = match (name, dt) {
        (
            "int",
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Date32
            | DataType::Time32(TimeUnit::Millisecond),
        ) => Kind::Int,
        ("long", DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _)) => Kind::Long,
        ("float", DataType::Float32) => Kind::Float,
        ("double", DataType::Float64) => Kind::Double,
        ("boolean", DataType::Boolean) => Kind::Boolean,
        ("string", DataType::Utf8) => Kind::String,
        ("bytes", DataType::Binary) => Kind::Bytes,
        ("bytes", DataType::Decimal128(_, _)) => Kind::Decimal,
        ("int" | "long" | "float" | "double" | "boolean" | "string" | "bytes", _) => {
            return Err(mismatch(path, name, dt));
        }
        ("null", _) => return Err(schema_err(path, "a bare null type cannot hold values")),
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

/// One array bound to its plan for the rows of a batch.
struct Node<'a> {
    plan: &'a Plan,
    nulls: Option<&'a NullBuffer>,
    data: Data<'a>,
}

enum Data<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Bool(&'a BooleanArray),
    Str(&'a StringArray),
    Bin(&'a BinaryArray),
    Dec(&'a [i128]),
    Array(&'a [i32], Box<Node<'a>>),
    Map(&'a [i32], &'a StringArray, Box<Node<'a>>),
    Entries(&'a [i32], Box<Node<'a>>, Box<Node<'a>>),
    Record(Vec<Node<'a>>),
    Enum(&'a StringArray, &'a HashMap<String, i64>),
    Fixed(&'a BinaryArray, usize),
}

fn batch_mismatch(path: &str, want: &str, got: &DataType) -> FormatError {
    FormatError::BatchMismatch {
        format: "avro",
        message: format!(
            "{}: expected {want}, found Arrow {got}",
            if path.is_empty() { "value" } else { path }
        ),
    }
}

fn bind<'a>(plan: &'a Plan, array: &'a dyn Array) -> Result<Node<'a>, FormatError> {
    let dt = array.data_type();
    let bad = |want: &str| batch_mismatch(&plan.path, want, dt);
    let data = match &plan.kind {
        Kind::Int => match dt {
            DataType::Int8 => Data::I8(
                array
                    .as_primitive_opt::<Int8Type>()
                    .ok_or_else(|| bad("int8"))?
                    .values(),
            ),
            DataType::Int16 => Data::I16(
                array
                    .as_primitive_opt::<Int16Type>()
                    .ok_or_else(|| bad("int16"))?
                    .values(),
            ),
            DataType::Date32 => Data::I32(
                array
                    .as_primitive_opt::<Date32Type>()
                    .ok_or_else(|| bad("date32"))?
                    .values(),
            ),
            DataType::Time32(_) => Data::I32(
                array
                    .as_primitive_opt::<Time32MillisecondType>()
                    .ok_or_else(|| bad("time32(ms)"))?
                    .values(),
            ),
            _ => Data::I32(
                array
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(|| bad("int32"))?
                    .values(),
            ),
        },
        Kind::Long => match dt {
            DataType::Timestamp(_, _) => Data::I64(
                array
                    .as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(|| bad("timestamp(ms)"))?
                    .values(),
            ),
            _ => Data::I64(
                array
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| bad("int64"))?
                    .values(),
            ),
        },
        Kind::Float => Data::F32(
            array
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(|| bad("float32"))?
                .values(),
        ),
        Kind::Double => Data::F64(
            array
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| bad("float64"))?
                .values(),
        ),
        Kind::Boolean => Data::Bool(array.as_boolean_opt().ok_or_else(|| bad("boolean"))?),
        Kind::String => Data::Str(array.as_string_opt::<i32>().ok_or_else(|| bad("utf8"))?),
        Kind::Bytes => Data::Bin(array.as_binary_opt::<i32>().ok_or_else(|| bad("binary"))?),
        Kind::Decimal => Data::Dec(
            array
                .as_primitive_opt::<Decimal128Type>()
                .ok_or_else(|| bad("decimal128"))?
                .values(),
        ),
        Kind::Array(item) => {
            let list = array.as_list_opt::<i32>().ok_or_else(|| bad("list"))?;
            Data::Array(
                list.value_offsets(),
                Box::new(bind(item, list.values().as_ref())?),
            )
        }
        Kind::Map(value) => {
            let map = array.as_map_opt().ok_or_else(|| bad("map"))?;
            let keys = map
                .keys()
                .as_string_opt::<i32>()
                .ok_or_else(|| bad("map with utf8 keys"))?;
            Data::Map(
                map.value_offsets(),
                keys,
                Box::new(bind(value, map.values().as_ref())?),
            )
        }
        Kind::Entries(key, value) => {
            let map = array.as_map_opt().ok_or_else(|| bad("map"))?;
            Data::Entries(
                map.value_offsets(),
                Box::new(bind(key, map.keys().as_ref())?),
                Box::new(bind(value, map.values().as_ref())?),
            )
        }
        Kind::Record(fields) => {
            let s = array.as_struct_opt().ok_or_else(|| bad("struct"))?;
            Data::Record(bind_fields(fields, s.columns(), &plan.path)?)
        }
        Kind::Enum(symbols) => Data::Enum(
            array.as_string_opt::<i32>().ok_or_else(|| bad("utf8"))?,
            symbols,
        ),
        Kind::Fixed(size) => Data::Fixed(
            array.as_binary_opt::<i32>().ok_or_else(|| bad("binary"))?,
            *size,
        ),
    };
    Ok(Node {
        plan,
        nulls: array.nulls(),
        data,
    })
}

fn bind_fields<'a>(
    plans: &'a [Plan],
    columns: &'a [ArrayRef],
    path: &str,
) -> Result<Vec<Node<'a>>, FormatError> {
    if plans.len() != columns.len() {
        return Err(FormatError::BatchMismatch {
            format: "avro",
            message: format!(
                "{}: expected {} columns, found {}",
                if path.is_empty() { "value" } else { path },
                plans.len(),
                columns.len()
            ),
        });
    }
    plans
        .iter()
        .zip(columns)
        .map(|(p, c)| bind(p, c.as_ref()))
        .collect()
}

/// Avro `long`/`int`: zigzag, then base-128 varint.
#[inline]
fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

impl Node<'_> {
    fn invalid(&self, message: String) -> FormatError {
        FormatError::AvroSchema {
            path: if self.plan.path.is_empty() {
                "value".to_string()
            } else {
                self.plan.path.clone()
            },
            message,
        }
    }

    fn encode(&self, i: usize, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let null = self.nulls.is_some_and(|n| n.is_null(i));
        match (self.plan.union, null) {
            (Some(Branches { null: Some(n), .. }), true) => {
                put_long(out, n);
                return Ok(());
            }
            (Some(b), false) => put_long(out, b.value),
            (_, true) => {
                return Err(FormatError::NullValue {
                    format: "avro",
                    path: if self.plan.path.is_empty() {
                        "value".to_string()
                    } else {
                        self.plan.path.clone()
                    },
                });
            }
            (None, false) => {}
        }
        match &self.data {
            Data::I8(v) => put_long(out, v[i] as i64),
            Data::I16(v) => put_long(out, v[i] as i64),
            Data::I32(v) => put_long(out, v[i] as i64),
            Data::I64(v) => put_long(out, v[i]),
            Data::F32(v) => out.extend_from_slice(&v[i].to_le_bytes()),
            Data::F64(v) => out.extend_from_slice(&v[i].to_le_bytes()),
            Data::Bool(a) => out.push(a.value(i) as u8),
            Data::Str(a) => put_bytes(out, a.value(i).as_bytes()),
            Data::Bin(a) => put_bytes(out, a.value(i)),
            Data::Dec(v) => {
                let mut buf = [0u8; 16];
                put_bytes(out, decimal_bytes(v[i], &mut buf));
            }
            Data::Array(offsets, item) => {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                // One block holding every item, then the empty block that ends the array.
                if end > start {
                    put_long(out, (end - start) as i64);
                    for j in start..end {
                        item.encode(j, out)?;
                    }
                }
                put_long(out, 0);
            }
            Data::Map(offsets, keys, value) => {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                if end > start {
                    put_long(out, (end - start) as i64);
                    for j in start..end {
                        put_bytes(out, keys.value(j).as_bytes());
                        value.encode(j, out)?;
                    }
                }
                put_long(out, 0);
            }
            Data::Entries(offsets, key, value) => {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                if end > start {
                    put_long(out, (end - start) as i64);
                    for j in start..end {
                        key.encode(j, out)?;
                        value.encode(j, out)?;
                    }
                }
                put_long(out, 0);
            }
            Data::Record(fields) => {
                for f in fields {
                    f.encode(i, out)?;
                }
            }
            Data::Enum(a, symbols) => {
                let symbol = a.value(i);
                let index = symbols.get(symbol).ok_or_else(|| {
                    self.invalid(format!("'{symbol}' is not a symbol of the enum"))
                })?;
                put_long(out, *index);
            }
            Data::Fixed(a, size) => {
                let b = a.value(i);
                if b.len() != *size {
                    return Err(self.invalid(format!("{} bytes for a fixed of {size}", b.len())));
                }
                out.extend_from_slice(b);
            }
        }
        Ok(())
    }
}

/// Block compression, keeping codec state between blocks.
enum Compressor {
    Null,
    Deflate(flate2::write::DeflateEncoder<Vec<u8>>),
    /// Boxed: the encoder carries a 2 KiB hash table.
    Snappy(Box<snap::raw::Encoder>),
    Zstandard(zstd::bulk::Compressor<'static>),
}

impl Compressor {
    fn new(codec: AvroCodec) -> Result<Self, FormatError> {
        Ok(match codec {
            AvroCodec::Null => Compressor::Null,
            // Raw deflate (no zlib header) at the default level, as Avro's Java codec writes.
            AvroCodec::Deflate => Compressor::Deflate(flate2::write::DeflateEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            AvroCodec::Snappy => Compressor::Snappy(Box::new(snap::raw::Encoder::new())),
            // Level 3: Avro's Java default for zstandard.
            AvroCodec::Zstandard => {
                Compressor::Zstandard(zstd::bulk::Compressor::new(3).map_err(|source| {
                    FormatError::Compression {
                        codec: "zstandard",
                        source,
                    }
                })?)
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Compressor::Null => "null",
            Compressor::Deflate(_) => "deflate",
            Compressor::Snappy(_) => "snappy",
            Compressor::Zstandard(_) => "zstandard",
        }
    }

    /// The block's bytes as stored: `data` itself or its compressed form in `out`.
    fn compress<'s>(&mut self, data: &'s [u8], out: &'s mut Vec<u8>) -> std::io::Result<&'s [u8]> {
        out.clear();
        match self {
            Compressor::Null => return Ok(data),
            Compressor::Deflate(enc) => {
                enc.write_all(data)?;
                // `reset` finishes the stream and hands back its output, taking `out`'s
                // allocation for the next block.
                let fresh = std::mem::take(out);
                *out = enc.reset(fresh)?;
            }
            Compressor::Snappy(enc) => {
                out.resize(snap::raw::max_compress_len(data.len()), 0);
                let n = enc.compress(data, out).map_err(std::io::Error::other)?;
                out.truncate(n);
                // Avro's snappy codec appends the CRC32 of the uncompressed block.
                out.extend_from_slice(&crc32fast::hash(data).to_be_bytes());
            }
            Compressor::Zstandard(c) => {
                out.reserve(zstd::zstd_safe::compress_bound(data.len()));
                c.compress_to_buffer(data, out)?;
            }
        }
        Ok(out)
    }
}

pub(crate) struct AvroWriter {
    plan: Plan,
    /// Whether the value is a struct whose fields are the batch's columns.
    top_struct: bool,
    compressor: Compressor,
    sync: [u8; 16],
    /// Encoded rows of the block being filled.
    block: Vec<u8>,
    block_rows: u64,
    /// Header and finished blocks not yet taken.
    ready: Vec<u8>,
    scratch: Vec<u8>,
    /// Block boundaries found while encoding a batch: end offset in `block`, row count.
    cuts: Vec<(usize, u64)>,
    /// The header schema is the values' Avro writer schema: their datums are rows as they are.
    takes_datums: bool,
}

/// The header schema of a file of values read by `AvroConverter`: the writer schema, with
/// the `connect.version` (and `connect.name`) Confluent's sink puts on the top-level record,
/// so a connector reading the last file's schema at start-up (as the Confluent sink does
/// under `schema.compatibility`) finds the version. Extra attributes do not change how
/// datums are encoded.
fn writer_header(
    schema: &ValueSchema,
    writer: &lakesink_convert::AvroWriterSchema,
    connect_meta: bool,
) -> String {
    let connect = schema.connect.as_ref();
    match (&writer.json, connect.and_then(|c| c.version)) {
        (Value::Object(record), Some(version))
            if connect_meta && record.get("type").and_then(Value::as_str) == Some("record") =>
        {
            let mut record = record.clone();
            record.insert("connect.version".into(), version.into());
            if let Some(name) = connect.and_then(|c| c.name.as_ref()) {
                record.insert("connect.name".into(), name.clone().into());
            }
            Value::Object(record).to_string()
        }
        _ => writer.text.clone(),
    }
}

impl AvroWriter {
    /// A file of `schema`'s values. Values read by `AvroConverter` keep their writer schema
    /// (enums, fixed types and names included, as Confluent's sink writes them back), and
    /// their datums are copied into blocks unchanged; rows of any other origin (other
    /// converters, projected older versions) are encoded. Where the writer schema uses what
    /// the encoder cannot write from Arrow (general unions, fixed decimals, references), the
    /// file takes the Connect-derived schema instead.
    pub(crate) fn new(
        schema: &Arc<ValueSchema>,
        opts: &FormatOptions,
    ) -> Result<Self, FormatError> {
        let codec = opts.avro_codec;
        if schema.kind != ValueKind::Typed || schema.connect.is_none() {
            return Err(FormatError::SchemaRequired { format: "avro" });
        }
        let top_struct = schema
            .connect
            .as_ref()
            .is_some_and(|c| matches!(c.ty, ConnectType::Struct(_)));
        let dt = if top_struct {
            DataType::Struct(schema.arrow.fields().clone())
        } else {
            match schema.arrow.fields().first() {
                Some(f) if schema.arrow.fields().len() == 1 => f.data_type().clone(),
                _ => {
                    return Err(FormatError::BatchMismatch {
                        format: "avro",
                        message: format!(
                            "a non-struct value needs exactly one column, the schema has {}",
                            schema.arrow.fields().len()
                        ),
                    });
                }
            }
        };
        let compile = |avro: &Value| {
            Compiler {
                names: HashMap::new(),
            }
            .compile(avro, &dt, "", None)
        };
        let writer = schema
            .avro_writer
            .as_ref()
            .filter(|_| opts.avro_writer_schemas)
            .and_then(|w| {
                compile(&w.json)
                    .ok()
                    .map(|plan| (plan, writer_header(schema, w, opts.avro_connect_meta)))
            });
        let takes_datums = writer.is_some();
        let (plan, header_schema) = match writer {
            Some(w) => w,
            None => {
                let derived = schema
                    .avro_schema()
                    .ok_or(FormatError::SchemaRequired { format: "avro" })?;
                (compile(&derived)?, derived.to_string())
            }
        };
        let compressor = Compressor::new(codec)?;

        let mut ready = Vec::with_capacity(4096);
        ready.extend_from_slice(MAGIC);
        // File metadata: a map of two entries, then the empty block ending it.
        put_long(&mut ready, 2);
        put_bytes(&mut ready, b"avro.schema");
        put_bytes(&mut ready, header_schema.as_bytes());
        put_bytes(&mut ready, b"avro.codec");
        put_bytes(&mut ready, compressor.name().as_bytes());
        put_long(&mut ready, 0);
        // A v4 UUID is 122 random bits: plenty to make the marker unlikely to occur in data.
        let sync = *uuid::Uuid::new_v4().as_bytes();
        ready.extend_from_slice(&sync);

        Ok(AvroWriter {
            plan,
            top_struct,
            compressor,
            sync,
            block: Vec::with_capacity(BLOCK_BYTES + BLOCK_BYTES / 4),
            block_rows: 0,
            ready,
            scratch: Vec::new(),
            cuts: Vec::new(),
            takes_datums,
        })
    }

    fn bind<'a>(&'a self, batch: &'a RecordBatch) -> Result<Node<'a>, FormatError> {
        if self.top_struct {
            let Kind::Record(fields) = &self.plan.kind else {
                return Err(FormatError::BatchMismatch {
                    format: "avro",
                    message: "a struct value needs a record schema".to_string(),
                });
            };
            Ok(Node {
                plan: &self.plan,
                nulls: None,
                data: Data::Record(bind_fields(fields, batch.columns(), "")?),
            })
        } else {
            let column = batch
                .columns()
                .first()
                .ok_or_else(|| FormatError::BatchMismatch {
                    format: "avro",
                    message: "the batch has no columns".to_string(),
                })?;
            bind(&self.plan, column.as_ref())
        }
    }

    /// Encodes every row of `batch` after the rows already in `block`, noting in `cuts`
    /// where blocks end (offset, rows); returns the rows after the last cut.
    fn encode_batch(
        &self,
        batch: &RecordBatch,
        block: &mut Vec<u8>,
        cuts: &mut Vec<(usize, u64)>,
    ) -> Result<u64, FormatError> {
        cuts.clear();
        let node = self.bind(batch)?;
        let mut seg_start = 0;
        let mut rows = self.block_rows;
        for i in 0..batch.num_rows() {
            node.encode(i, block)?;
            rows += 1;
            if block.len() - seg_start >= BLOCK_BYTES {
                cuts.push((block.len(), rows));
                seg_start = block.len();
                rows = 0;
            }
        }
        Ok(rows)
    }

    /// Emits `block[start..end]` as a block of `rows` rows.
    fn emit_range(&mut self, start: usize, end: usize, rows: u64) -> Result<(), FormatError> {
        let Some(data) = self.block.get(start..end) else {
            return Ok(());
        };
        let stored = self
            .compressor
            .compress(data, &mut self.scratch)
            .map_err(|source| FormatError::Compression {
                codec: self.compressor.name(),
                source,
            })?;
        put_long(&mut self.ready, rows as i64);
        put_long(&mut self.ready, stored.len() as i64);
        self.ready.extend_from_slice(stored);
        self.ready.extend_from_slice(&self.sync);
        Ok(())
    }
}

impl FileFormatWriter for AvroWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        let start_len = self.block.len();
        let mut block = std::mem::take(&mut self.block);
        let mut cuts = std::mem::take(&mut self.cuts);
        let encoded = self.encode_batch(batch, &mut block, &mut cuts);
        self.block = block;
        let tail_rows = match encoded {
            Ok(rows) => rows,
            Err(e) => {
                // Nothing of a failing batch is kept.
                self.block.truncate(start_len);
                self.cuts = cuts;
                return Err(e);
            }
        };
        let mut result = Ok(());
        let mut done = 0;
        let mut pending_rows = tail_rows;
        for (k, &(end, rows)) in cuts.iter().enumerate() {
            if let Err(e) = self.emit_range(done, end, rows) {
                // Keep the rows not emitted, so the block still holds `block_rows` rows.
                pending_rows += cuts[k..].iter().map(|c| c.1).sum::<u64>();
                result = Err(e);
                break;
            }
            done = end;
        }
        self.block.drain(..done);
        self.block_rows = pending_rows;
        self.cuts = cuts;
        result
    }

    fn takes_datums(&self) -> bool {
        self.takes_datums
    }

    fn write_datums(&mut self, datums: &[&[u8]]) -> Result<(), FormatError> {
        if !self.takes_datums {
            return Err(FormatError::BatchMismatch {
                format: "avro",
                message: "this file's schema is not the values' writer schema".into(),
            });
        }
        for d in datums {
            self.block.extend_from_slice(d);
            self.block_rows += 1;
            if self.block.len() >= BLOCK_BYTES {
                let (len, rows) = (self.block.len(), self.block_rows);
                self.emit_range(0, len, rows)?;
                self.block.clear();
                self.block_rows = 0;
            }
        }
        Ok(())
    }

    fn take_ready(&mut self) -> Pieces {
        pieces_of(std::mem::take(&mut self.ready))
    }

    fn buffered_bytes(&self) -> usize {
        self.block.len() + self.ready.len()
    }

    fn finish(mut self: Box<Self>) -> Result<Pieces, FormatError> {
        if self.block_rows > 0 {
            let (len, rows) = (self.block.len(), self.block_rows);
            self.emit_range(0, len, rows)?;
        }
        Ok(pieces_of(std::mem::take(&mut self.ready)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use apache_avro::types::Value as Avro;
    use lakesink_config::{ConverterKind, FormatKind, ParquetCodec};
    use serde_json::{Value, json};

    use super::*;
    use crate::testutil::{convert, convert_raw, everything, everything_payloads};
    use crate::{FormatOptions, new_writer};

    const CODECS: [AvroCodec; 4] = [
        AvroCodec::Null,
        AvroCodec::Deflate,
        AvroCodec::Snappy,
        AvroCodec::Zstandard,
    ];

    fn opts(codec: AvroCodec) -> FormatOptions {
        FormatOptions {
            kind: FormatKind::Avro,
            avro_codec: codec,
            avro_writer_schemas: true,
            avro_connect_meta: true,
            parquet_codec: ParquetCodec::Snappy,
            parquet_row_group_bytes: 128 << 20,
        }
    }

    /// Writes `batches`, collecting `take_ready` after each write, then `finish`.
    fn write_file(
        codec: AvroCodec,
        schema: &Arc<ValueSchema>,
        batches: &[&RecordBatch],
    ) -> Vec<u8> {
        let mut w = new_writer(&opts(codec), schema).unwrap();
        let mut file = Vec::new();
        for b in batches {
            w.write(b).unwrap();
            assert!(w.buffered_bytes() > 0);
            file.extend(w.take_ready().concat());
        }
        file.extend(w.finish().unwrap().concat());
        file
    }

    fn read_long(b: &[u8], pos: &mut usize) -> i64 {
        let (mut n, mut shift) = (0u64, 0);
        loop {
            let byte = b[*pos];
            *pos += 1;
            n |= ((byte & 0x7f) as u64) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                return (n >> 1) as i64 ^ -((n & 1) as i64);
            }
        }
    }

    fn read_bytes<'a>(b: &'a [u8], pos: &mut usize) -> &'a [u8] {
        let n = read_long(b, pos) as usize;
        *pos += n;
        &b[*pos - n..*pos]
    }

    type Metadata = HashMap<String, Vec<u8>>;

    /// The container's metadata and (row count, byte size) of each block.
    fn parse_container(b: &[u8]) -> (Metadata, Vec<(i64, i64)>) {
        assert_eq!(&b[..4], MAGIC);
        let mut pos = 4;
        let mut meta = HashMap::new();
        loop {
            let n = read_long(b, &mut pos);
            if n == 0 {
                break;
            }
            for _ in 0..n {
                let k = String::from_utf8(read_bytes(b, &mut pos).to_vec()).unwrap();
                meta.insert(k, read_bytes(b, &mut pos).to_vec());
            }
        }
        let sync = &b[pos..pos + 16];
        pos += 16;
        let mut blocks = Vec::new();
        while pos < b.len() {
            let rows = read_long(b, &mut pos);
            let size = read_long(b, &mut pos);
            pos += size as usize;
            assert_eq!(&b[pos..pos + 16], sync, "sync marker after block");
            pos += 16;
            blocks.push((rows, size));
        }
        (meta, blocks)
    }

    fn b64(data: &[u8]) -> Value {
        let mut out = Vec::new();
        crate::json::write_base64(&mut out, data);
        serde_json::from_slice(&out).unwrap()
    }

    /// An Avro value in Connect's JSON form, checking union branches on the way.
    fn to_json(v: &Avro) -> Value {
        match v {
            Avro::Null => Value::Null,
            Avro::Boolean(b) => json!(b),
            Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n) => json!(n),
            Avro::Long(n) | Avro::TimestampMillis(n) => json!(n),
            Avro::Float(f) => json!(*f as f64),
            Avro::Double(f) => json!(f),
            Avro::String(s) => json!(s),
            Avro::Bytes(b) => b64(b),
            Avro::Decimal(d) => b64(&Vec::<u8>::try_from(d).unwrap()),
            Avro::Union(i, inner) => {
                let null = matches!(**inner, Avro::Null);
                assert_eq!(*i, if null { 0 } else { 1 }, "union branch of {inner:?}");
                to_json(inner)
            }
            Avro::Array(items) => Value::Array(items.iter().map(to_json).collect()),
            Avro::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
            Avro::Record(fields) => {
                // Map entries of non-string keys come back as [key, value] pairs.
                if let [(k, key), (v, value)] = fields.as_slice()
                    && k == "key"
                    && v == "value"
                {
                    return json!([to_json(key), to_json(value)]);
                }
                Value::Object(
                    fields
                        .iter()
                        .map(|(k, v)| (k.clone(), to_json(v)))
                        .collect(),
                )
            }
            other => panic!("unexpected Avro value {other:?}"),
        }
    }

    fn read_all(file: &[u8]) -> Vec<Value> {
        let reader = apache_avro::Reader::new(file).unwrap();
        reader.map(|v| to_json(&v.unwrap())).collect()
    }

    #[test]
    fn every_type_round_trips_with_every_codec() {
        let (schema, batch) = everything();
        let mut want: Vec<Value> = everything_payloads();
        for row in &mut want {
            // Avro field names are sanitized.
            let obj = row.as_object_mut().unwrap();
            let v = obj.remove("my-field").unwrap();
            obj.insert("my_field".into(), v);
        }
        for codec in CODECS {
            let file = write_file(codec, &schema, &[&batch, &batch.slice(1, 2)]);
            let (meta, blocks) = parse_container(&file);
            let header: Value = serde_json::from_slice(&meta["avro.schema"]).unwrap();
            assert_eq!(header, schema.avro_schema().unwrap());
            assert_eq!(header["name"], "Everything");
            assert_eq!(header["namespace"], "com.example");
            let codec_name = String::from_utf8(meta["avro.codec"].clone()).unwrap();
            assert_eq!(
                codec_name,
                ["null", "deflate", "snappy", "zstandard"][codec as usize]
            );
            assert_eq!(blocks, vec![(5, blocks[0].1)]);

            let rows = read_all(&file);
            assert_eq!(rows.len(), 5, "{codec:?}");
            for (got, want) in rows.iter().zip(want.iter().chain(&want[1..])) {
                assert_eq!(got, want, "{codec:?}");
            }
        }
    }

    #[test]
    fn reader_sees_logical_types() {
        let (schema, batch) = everything();
        let file = write_file(AvroCodec::Null, &schema, &[&batch]);
        let reader = apache_avro::Reader::new(&file[..]).unwrap();
        let first = reader.into_iter().next().unwrap().unwrap();
        let Avro::Record(fields) = first else {
            panic!("not a record")
        };
        let f: HashMap<_, _> = fields.into_iter().collect();
        assert_eq!(f["i8"], Avro::Int(-8));
        assert_eq!(f["i64"], Avro::Long(6_400_000_000));
        assert_eq!(f["dec"], Avro::Decimal(vec![0x04, 0xd2].into()));
        assert_eq!(f["day"], Avro::Date(19675));
        assert_eq!(f["tod"], Avro::TimeMillis(45_296_789));
        assert_eq!(f["ts"], Avro::TimestampMillis(1_700_000_000_123));
        assert_eq!(
            f["opt_ts"],
            Avro::Union(1, Box::new(Avro::TimestampMillis(1_600_000_000_000)))
        );
        assert_eq!(f["f32"], Avro::Float(1.5));
    }

    #[test]
    fn large_files_are_cut_into_blocks() {
        let schema_json = json!({"type": "struct", "name": "com.example.Row", "fields": [
            {"field": "id", "type": "int64"},
            {"field": "pad", "type": "string", "optional": true}
        ]});
        let pad = "x".repeat(200);
        let batches: Vec<(Arc<ValueSchema>, RecordBatch)> = (0..3)
            .map(|b| {
                let rows: Vec<Value> = (0..1500)
                    .map(|i| json!({"id": b * 1500 + i, "pad": pad}))
                    .collect();
                convert(&schema_json, &rows)
            })
            .collect();
        let schema = batches[0].0.clone();
        let refs: Vec<&RecordBatch> = batches.iter().map(|(_, b)| b).collect();
        for codec in CODECS {
            let file = write_file(codec, &schema, &refs);
            let (_, blocks) = parse_container(&file);
            assert!(blocks.len() >= 3, "{codec:?}: {blocks:?}");
            assert_eq!(blocks.iter().map(|b| b.0).sum::<i64>(), 4500);
            if codec == AvroCodec::Null {
                let (last, full) = blocks.split_last().unwrap();
                for (_, size) in full {
                    let size = *size as usize;
                    assert!((BLOCK_BYTES..BLOCK_BYTES + 300).contains(&size), "{size}");
                }
                assert!(last.1 as usize <= BLOCK_BYTES);
            } else {
                assert!(blocks.iter().all(|b| (b.1 as usize) < BLOCK_BYTES / 4));
            }
            let rows = read_all(&file);
            assert_eq!(rows.len(), 4500);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(r, &json!({"id": i, "pad": pad}));
            }
        }
    }

    #[test]
    fn empty_file_is_valid() {
        let (schema, _) = everything();
        for codec in CODECS {
            let w = new_writer(&opts(codec), &schema).unwrap();
            let file = w.finish().unwrap().concat();
            assert_eq!(parse_container(&file).1, vec![]);
            assert!(read_all(&file).is_empty());
        }
    }

    #[test]
    fn non_struct_values() {
        let (schema, batch) = convert_raw(
            ConverterKind::String,
            false,
            &[b"one".to_vec(), "twö".as_bytes().to_vec()],
        );
        assert_eq!(schema.avro_schema().unwrap(), json!(["null", "string"]));
        let file = write_file(AvroCodec::Snappy, &schema, &[&batch]);
        assert_eq!(read_all(&file), vec![json!("one"), json!("twö")]);

        let (schema, batch) = convert_raw(ConverterKind::Bytes, false, &[vec![1, 2, 3]]);
        let file = write_file(AvroCodec::Deflate, &schema, &[&batch]);
        assert_eq!(read_all(&file), vec![json!("AQID")]);

        let (schema, batch) = convert(
            &json!({"type": "array", "items": {"type": "int32"}}),
            &[json!([1, 2]), json!([])],
        );
        let file = write_file(AvroCodec::Null, &schema, &[&batch]);
        assert_eq!(read_all(&file), vec![json!([1, 2]), json!([])]);
    }

    #[test]
    fn an_optional_struct_is_a_union_in_the_file() {
        let (schema, batch) = convert(
            &json!({"type": "struct", "optional": true, "fields": [
                {"field": "a", "type": "int32"}
            ]}),
            &[json!({"a": 1})],
        );
        let avro = schema.avro_schema().unwrap();
        assert_eq!(avro[0], "null");
        assert_eq!(avro[1]["name"], "ConnectDefault");
        let file = write_file(AvroCodec::Null, &schema, &[&batch]);
        let rows: Vec<Avro> = apache_avro::Reader::new(&file[..])
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            rows,
            vec![Avro::Union(
                1,
                Box::new(Avro::Record(vec![("a".into(), Avro::Int(1))]))
            )]
        );
    }

    #[test]
    fn schemaless_json_is_refused() {
        let (schema, _) = convert_raw(ConverterKind::Json, false, &[b"{\"a\":1}".to_vec()]);
        let err = new_writer(&opts(AvroCodec::Null), &schema).err().unwrap();
        assert!(
            matches!(err, FormatError::SchemaRequired { format: "avro" }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("avro files need values with a schema")
        );
    }

    #[test]
    fn a_mismatched_batch_is_refused_and_the_file_stays_valid() {
        let (schema, batch) = everything();
        let (_, other) = convert(
            &json!({"type": "struct", "fields": [{"field": "i8", "type": "string"}]}),
            &[json!({"i8": "x"})],
        );
        let mut w = new_writer(&opts(AvroCodec::Null), &schema).unwrap();
        w.write(&batch).unwrap();
        let err = w.write(&other).unwrap_err();
        assert!(
            err.to_string().contains("expected 25 columns, found 1"),
            "{err}"
        );
        let mut file = w.take_ready().concat();
        file.extend(w.finish().unwrap().concat());
        assert_eq!(read_all(&file).len(), 3);
    }

    #[test]
    fn unsupported_schemas_name_the_column() {
        let mut c = Compiler {
            names: HashMap::new(),
        };
        let err = c
            .compile(
                &json!({"type": "record", "name": "R", "fields": [
                    {"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}
                ]}),
                &DataType::Struct(arrow_schema::Fields::from(vec![arrow_schema::Field::new(
                    "a",
                    DataType::Int64,
                    false,
                )])),
                "",
                None,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "avro: a: the Avro schema cannot hold this column: Avro enum cannot be written from Arrow Int64"
        );
        let err = c
            .compile(&json!("long"), &DataType::Utf8, "value", None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "avro: value: the Avro schema cannot hold this column: Avro long cannot be written from Arrow Utf8"
        );
    }

    /// Values read by AvroConverter: the file carries their writer schema (enum and fixed
    /// kept), their datums are copied as they are, and rows encoded from Arrow (projected
    /// ones) join the same file readably.
    #[test]
    fn writer_schema_files_take_datums_and_encoded_rows() {
        let writer_text = r#"{"type":"record","name":"Reading","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["LOW","HIGH"]}},{"name":"hash","type":{"type":"fixed","name":"H4","size":4}},{"name":"note","type":["string","null"]}]}"#;
        let avro = apache_avro::Schema::parse_str(writer_text).unwrap();
        let decoder = lakesink_convert::avro::AvroDecoder::new(writer_text, &[]).unwrap();
        let connect = decoder.connect_schema().clone();
        let schema = Arc::new(ValueSchema {
            id: 0,
            kind: ValueKind::Typed,
            arrow: Arc::new(connect.arrow_schema()),
            connect: Some(connect),
            avro_writer: Some(Arc::new(lakesink_convert::AvroWriterSchema {
                text: writer_text.to_string(),
                json: serde_json::from_str(writer_text).unwrap(),
            })),
        });
        let datum = |id: i64, tier: u32, note: Option<&str>| {
            apache_avro::writer::datum::GenericDatumWriter::builder(&avro)
                .build()
                .unwrap()
                .write_value_to_vec(Avro::Record(vec![
                    ("id".into(), Avro::Long(id)),
                    (
                        "tier".into(),
                        Avro::Enum(tier, ["LOW", "HIGH"][tier as usize].into()),
                    ),
                    ("hash".into(), Avro::Fixed(4, vec![1, 2, 3, id as u8])),
                    (
                        "note".into(),
                        match note {
                            Some(n) => Avro::Union(0, Box::new(Avro::String(n.into()))),
                            None => Avro::Union(1, Box::new(Avro::Null)),
                        },
                    ),
                ]))
                .unwrap()
        };
        let datums = [datum(1, 1, Some("a")), datum(2, 0, None)];
        // One row (id 3, no note) encoded from Arrow, with the given tier.
        let row = |tier: &str| {
            RecordBatch::try_new(
                schema.arrow.clone(),
                vec![
                    Arc::new(arrow_array::Int64Array::from(vec![3])),
                    Arc::new(StringArray::from(vec![tier])),
                    Arc::new(BinaryArray::from(vec![&[1u8, 2, 3, 3][..]])),
                    Arc::new(StringArray::from(vec![None::<&str>])),
                ],
            )
            .unwrap()
        };
        let encoded = row("HIGH");
        for codec in CODECS {
            let mut w = new_writer(&opts(codec), &schema).unwrap();
            assert!(w.takes_datums());
            w.write_datums(&[&datums[0], &datums[1]]).unwrap();
            w.write(&encoded).unwrap();
            let mut file = w.take_ready().concat();
            file.extend(w.finish().unwrap().concat());
            let reader = apache_avro::Reader::new(&file[..]).unwrap();
            // The header holds the writer schema verbatim.
            assert_eq!(reader.writer_schema(), &avro);
            let rows: Vec<Avro> = reader.map(Result::unwrap).collect();
            assert_eq!(rows.len(), 3);
            let field = |r: &Avro, name: &str| match r {
                Avro::Record(f) => f.iter().find(|(n, _)| n == name).unwrap().1.clone(),
                _ => unreachable!(),
            };
            assert_eq!(field(&rows[0], "tier"), Avro::Enum(1, "HIGH".into()));
            assert_eq!(
                field(&rows[1], "note"),
                Avro::Union(1, Box::new(Avro::Null))
            );
            assert_eq!(field(&rows[2], "id"), Avro::Long(3));
            assert_eq!(field(&rows[2], "tier"), Avro::Enum(1, "HIGH".into()));
            assert_eq!(field(&rows[2], "hash"), Avro::Fixed(4, vec![1, 2, 3, 3]));
            assert_eq!(
                field(&rows[2], "note"),
                Avro::Union(1, Box::new(Avro::Null))
            );
        }
        // A symbol the enum lacks cannot be encoded.
        let bad = row("MID");
        let mut w = new_writer(&opts(AvroCodec::Null), &schema).unwrap();
        let e = w.write(&bad).unwrap_err();
        assert!(
            e.to_string().contains("'MID' is not a symbol of the enum"),
            "{e}"
        );
        // enhanced.avro.schema.support=false: the Connect-derived schema, enums as strings,
        // every row encoded.
        let plain = FormatOptions {
            avro_writer_schemas: false,
            ..opts(AvroCodec::Null)
        };
        assert!(!new_writer(&plain, &schema).unwrap().takes_datums());
        let derived = file_schema_json(&schema, &plain).to_string();
        assert!(!derived.contains("\"enum\""), "{derived}");
        // A versioned schema: connect.version and connect.name on the record, unless
        // connect.meta.data=false.
        let mut connect = schema.connect.clone().unwrap();
        connect.version = Some(3);
        let versioned = Arc::new(ValueSchema {
            id: 1,
            kind: ValueKind::Typed,
            arrow: schema.arrow.clone(),
            connect: Some(connect),
            avro_writer: schema.avro_writer.clone(),
        });
        let with_meta = file_schema_json(&versioned, &opts(AvroCodec::Null));
        assert_eq!(with_meta["connect.version"], json!(3));
        assert_eq!(with_meta["connect.name"], json!("com.acme.Reading"));
        let without = FormatOptions {
            avro_connect_meta: false,
            ..opts(AvroCodec::Null)
        };
        assert_eq!(
            file_schema_json(&versioned, &without),
            serde_json::from_str::<Value>(writer_text).unwrap()
        );
        assert!(new_writer(&without, &versioned).unwrap().takes_datums());
    }

    /// The `avro.schema` of an empty file of `schema`, as JSON.
    fn file_schema_json(schema: &Arc<ValueSchema>, o: &FormatOptions) -> Value {
        let w = new_writer(o, schema).unwrap();
        let file = w.finish().unwrap().concat();
        let (meta, _) = parse_container(&file);
        serde_json::from_slice(&meta["avro.schema"]).unwrap()
    }
}
