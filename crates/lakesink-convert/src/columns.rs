//! JSON values checked against a Connect schema and appended to Arrow column builders.
//!
//! Written by hand rather than with `arrow-json`: Connect's JSON encodes bytes and decimals as
//! base64, maps with non-string keys as pair arrays, and applies schema defaults to nulls,
//! none of which a generic JSON reader knows.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    Time32MillisecondBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields};
use serde_json::Value;

use crate::schema::{ConnectSchema, ConnectType, Logical};

/// Settings of JsonConverter that change how values are read.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub replace_null_with_default: bool,
}

pub(crate) enum ColumnBuilder {
    Bool(BooleanBuilder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Decimal(Decimal128Builder, i8),
    Date(Date32Builder),
    Time(Time32MillisecondBuilder),
    Timestamp(TimestampMillisecondBuilder),
    List {
        field: Arc<Field>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        items: Box<ColumnBuilder>,
    },
    Map {
        field: Arc<Field>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        keys: Box<ColumnBuilder>,
        values: Box<ColumnBuilder>,
    },
    Struct {
        fields: Fields,
        nulls: NullBufferBuilder,
        children: Vec<ColumnBuilder>,
        len: usize,
    },
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    // Standard alphabet with padding, as Jackson writes binary nodes.
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Big-endian two's-complement bytes (Java `BigInteger.toByteArray`) to i128.
fn unscaled_from_bytes(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut v: i128 = if b[0] & 0x80 != 0 { -1 } else { 0 };
    for byte in b {
        v = (v << 8) | *byte as i128;
    }
    Some(v)
}

/// A decimal number's text to its unscaled value at `scale`.
fn unscaled_from_text(text: &str, scale: i8) -> Option<i128> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let digits = mantissa.trim_start_matches(['-', '+']);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut all = format!("{int}{frac}");
    let shift = scale as i32 - frac.len() as i32 + exp;
    if shift >= 0 {
        all.extend(std::iter::repeat_n('0', shift as usize));
    } else {
        let cut = (-shift) as usize;
        if cut > all.len() || all[all.len() - cut..].bytes().any(|c| c != b'0') {
            return None; // would lose digits
        }
        all.truncate(all.len() - cut);
    }
    let v: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    Some(if negative { -v } else { v })
}

impl ColumnBuilder {
    pub(crate) fn new(schema: &ConnectSchema, capacity: usize) -> ColumnBuilder {
        if let Some(l) = schema.logical() {
            return match l {
                Logical::Decimal { scale, precision } => ColumnBuilder::Decimal(
                    Decimal128Builder::with_capacity(capacity)
                        .with_data_type(DataType::Decimal128(precision, scale)),
                    scale,
                ),
                Logical::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
                Logical::Time => {
                    ColumnBuilder::Time(Time32MillisecondBuilder::with_capacity(capacity))
                }
                Logical::Timestamp => ColumnBuilder::Timestamp(
                    TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
                ),
            };
        }
        match &schema.ty {
            ConnectType::Int8 => ColumnBuilder::I8(Int8Builder::with_capacity(capacity)),
            ConnectType::Int16 => ColumnBuilder::I16(Int16Builder::with_capacity(capacity)),
            ConnectType::Int32 => ColumnBuilder::I32(Int32Builder::with_capacity(capacity)),
            ConnectType::Int64 => ColumnBuilder::I64(Int64Builder::with_capacity(capacity)),
            ConnectType::Float32 => ColumnBuilder::F32(Float32Builder::with_capacity(capacity)),
            ConnectType::Float64 => ColumnBuilder::F64(Float64Builder::with_capacity(capacity)),
            ConnectType::Boolean => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ConnectType::String => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ConnectType::Bytes => {
                ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16))
            }
            ConnectType::Array(items) => {
                let DataType::List(field) = schema.arrow_type() else {
                    unreachable!("array schemas map to Arrow lists")
                };
                ColumnBuilder::List {
                    field,
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(capacity),
                    items: Box::new(ColumnBuilder::new(items, capacity)),
                }
            }
            ConnectType::Map(k, v) => {
                let DataType::Map(field, _) = schema.arrow_type() else {
                    unreachable!("map schemas map to Arrow maps")
                };
                ColumnBuilder::Map {
                    field,
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(capacity),
                    keys: Box::new(ColumnBuilder::new(k, capacity)),
                    values: Box::new(ColumnBuilder::new(v, capacity)),
                }
            }
            ConnectType::Struct(fields) => {
                let DataType::Struct(arrow_fields) = schema.arrow_type() else {
                    unreachable!("struct schemas map to Arrow structs")
                };
                ColumnBuilder::Struct {
                    fields: arrow_fields,
                    nulls: NullBufferBuilder::new(capacity),
                    children: fields
                        .iter()
                        .map(|(_, s)| ColumnBuilder::new(s, capacity))
                        .collect(),
                    len: 0,
                }
            }
        }
    }

    /// Calls `f` on each string and bytes builder, in pre-order: the one order
    /// [`Self::value_bytes`] and [`Self::reserve_values`] share.
    fn each_variable_width(&mut self, f: &mut impl FnMut(&mut ColumnBuilder)) {
        match self {
            ColumnBuilder::Utf8(_) | ColumnBuilder::Binary(_) => f(self),
            ColumnBuilder::List { items, .. } => items.each_variable_width(f),
            ColumnBuilder::Map { keys, values, .. } => {
                keys.each_variable_width(f);
                values.each_variable_width(f);
            }
            ColumnBuilder::Struct { children, .. } => {
                children.iter_mut().for_each(|c| c.each_variable_width(f));
            }
            _ => {}
        }
    }

    /// Each string and bytes builder's value bytes (see [`Self::reserve_values`]).
    pub(crate) fn value_bytes(&mut self, out: &mut Vec<usize>) {
        self.each_variable_width(&mut |c| match c {
            ColumnBuilder::Utf8(b) => out.push(b.values_slice().len()),
            ColumnBuilder::Binary(b) => out.push(b.values_slice().len()),
            _ => {}
        });
    }

    /// Gives each empty string and bytes builder room for the value bytes `bytes` yields, in
    /// the order of [`Self::value_bytes`]. Builders that grow as they fill copy their bytes
    /// at every doubling: a tenth of an Avro → Parquet drain's CPU time went to such copies
    /// and the page faults of the new space.
    pub(crate) fn reserve_values(&mut self, bytes: &mut impl Iterator<Item = usize>) {
        self.each_variable_width(&mut |c| {
            let Some(n) = bytes.next() else { return };
            match c {
                ColumnBuilder::Utf8(b) if b.values_slice().is_empty() => {
                    *b = StringBuilder::with_capacity(b.offsets_capacity().saturating_sub(1), n);
                }
                ColumnBuilder::Binary(b) if b.values_slice().is_empty() => {
                    *b = BinaryBuilder::with_capacity(b.offsets_capacity().saturating_sub(1), n);
                }
                _ => {}
            }
        });
    }

    pub(crate) fn append_null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::I8(b) => b.append_null(),
            ColumnBuilder::I16(b) => b.append_null(),
            ColumnBuilder::I32(b) => b.append_null(),
            ColumnBuilder::I64(b) => b.append_null(),
            ColumnBuilder::F32(b) => b.append_null(),
            ColumnBuilder::F64(b) => b.append_null(),
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Decimal(b, _) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
            ColumnBuilder::Time(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::List { offsets, nulls, .. }
            | ColumnBuilder::Map { offsets, nulls, .. } => {
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last);
                nulls.append_null();
            }
            ColumnBuilder::Struct {
                nulls,
                children,
                len,
                ..
            } => {
                // Children of a null struct still need a slot each.
                for c in children.iter_mut() {
                    c.append_null();
                }
                nulls.append_null();
                *len += 1;
            }
        }
    }

    /// Appends `value` (already resolved against defaults) checked against `schema`;
    /// `path` names the field in errors.
    pub(crate) fn append(
        &mut self,
        schema: &ConnectSchema,
        value: Option<&Value>,
        opts: ReadOptions,
        path: &str,
    ) -> Result<(), String> {
        let value = match value {
            Some(Value::Null) | None => {
                if opts.replace_null_with_default {
                    schema.default.as_ref()
                } else {
                    None
                }
            }
            Some(v) => Some(v),
        };
        let Some(value) = value else {
            if schema.optional {
                self.append_null();
                return Ok(());
            }
            return Err(format!(
                "{path}: null value for a required (non-optional) field"
            ));
        };
        let mismatch = |want: &str| format!("{path}: expected {want}, found {}", kind_of(value));
        let int = |min: i64, max: i64, want: &str| -> Result<i64, String> {
            match value.as_i64() {
                Some(n) if n >= min && n <= max => Ok(n),
                Some(n) => Err(format!("{path}: {n} is out of range for {want}")),
                None => Err(mismatch(want)),
            }
        };
        match self {
            ColumnBuilder::Bool(b) => {
                b.append_value(value.as_bool().ok_or_else(|| mismatch("boolean"))?)
            }
            ColumnBuilder::I8(b) => {
                b.append_value(int(i8::MIN as i64, i8::MAX as i64, "int8")? as i8)
            }
            ColumnBuilder::I16(b) => {
                b.append_value(int(i16::MIN as i64, i16::MAX as i64, "int16")? as i16)
            }
            ColumnBuilder::I32(b) => {
                b.append_value(int(i32::MIN as i64, i32::MAX as i64, "int32")? as i32)
            }
            ColumnBuilder::I64(b) => b.append_value(int(i64::MIN, i64::MAX, "int64")?),
            ColumnBuilder::Date(b) => {
                b.append_value(int(i32::MIN as i64, i32::MAX as i64, "Date (int32 days)")? as i32)
            }
            ColumnBuilder::Time(b) => {
                b.append_value(int(0, 86_400_000, "Time (int32 milliseconds)")? as i32)
            }
            ColumnBuilder::Timestamp(b) => {
                b.append_value(int(i64::MIN, i64::MAX, "Timestamp (int64 milliseconds)")?)
            }
            ColumnBuilder::F32(b) => {
                b.append_value(value.as_f64().ok_or_else(|| mismatch("float"))? as f32)
            }
            ColumnBuilder::F64(b) => {
                b.append_value(value.as_f64().ok_or_else(|| mismatch("double"))?)
            }
            ColumnBuilder::Utf8(b) => {
                b.append_value(value.as_str().ok_or_else(|| mismatch("string"))?)
            }
            ColumnBuilder::Binary(b) => {
                let text = value
                    .as_str()
                    .ok_or_else(|| mismatch("base64 string (bytes)"))?;
                let bytes = base64_decode(text)
                    .ok_or_else(|| format!("{path}: invalid base64 for bytes"))?;
                b.append_value(bytes);
            }
            ColumnBuilder::Decimal(b, scale) => {
                let unscaled = match value {
                    Value::Number(n) => {
                        unscaled_from_text(&n.to_string(), *scale).ok_or_else(|| {
                            format!("{path}: {n} does not fit Decimal(scale {scale})")
                        })?
                    }
                    Value::String(s) => base64_decode(s)
                        .and_then(|b| unscaled_from_bytes(&b))
                        .ok_or_else(|| {
                            format!("{path}: invalid base64 Decimal (at most 16 bytes)")
                        })?,
                    _ => return Err(mismatch("Decimal (base64 string or number)")),
                };
                b.append_value(unscaled);
            }
            ColumnBuilder::List {
                offsets,
                nulls,
                items,
                ..
            } => {
                let ConnectType::Array(item_schema) = &schema.ty else {
                    return Err(format!("{path}: internal schema mismatch"));
                };
                let arr = value.as_array().ok_or_else(|| mismatch("array"))?;
                for (i, item) in arr.iter().enumerate() {
                    items.append(item_schema, Some(item), opts, &format!("{path}[{i}]"))?;
                }
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last + arr.len() as i32);
                nulls.append_non_null();
            }
            ColumnBuilder::Map {
                offsets,
                nulls,
                keys,
                values,
                ..
            } => {
                let ConnectType::Map(ks, vs) = &schema.ty else {
                    return Err(format!("{path}: internal schema mismatch"));
                };
                let mut n = 0;
                if ks.ty == ConnectType::String {
                    let obj = value.as_object().ok_or_else(|| mismatch("object (map)"))?;
                    for (k, v) in obj {
                        keys.append(ks, Some(&Value::String(k.clone())), opts, path)?;
                        values.append(vs, Some(v), opts, &format!("{path}.{k}"))?;
                        n += 1;
                    }
                } else {
                    let arr = value
                        .as_array()
                        .ok_or_else(|| mismatch("array of [key, value] pairs (map)"))?;
                    for (i, pair) in arr.iter().enumerate() {
                        let kv = pair
                            .as_array()
                            .filter(|p| p.len() == 2)
                            .ok_or_else(|| format!("{path}[{i}]: expected a [key, value] pair"))?;
                        if kv[0].is_null() {
                            return Err(format!("{path}[{i}]: map keys cannot be null"));
                        }
                        keys.append(ks, Some(&kv[0]), opts, &format!("{path}[{i}].key"))?;
                        values.append(vs, Some(&kv[1]), opts, &format!("{path}[{i}].value"))?;
                        n += 1;
                    }
                }
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last + n);
                nulls.append_non_null();
            }
            ColumnBuilder::Struct {
                nulls,
                children,
                len,
                ..
            } => {
                let ConnectType::Struct(fields) = &schema.ty else {
                    return Err(format!("{path}: internal schema mismatch"));
                };
                let obj = value
                    .as_object()
                    .ok_or_else(|| mismatch("object (struct)"))?;
                for ((name, fs), child) in fields.iter().zip(children.iter_mut()) {
                    child.append(fs, obj.get(name), opts, &format!("{path}.{name}"))?;
                }
                nulls.append_non_null();
                *len += 1;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::I8(b) => Arc::new(b.finish()),
            ColumnBuilder::I16(b) => Arc::new(b.finish()),
            ColumnBuilder::I32(b) => Arc::new(b.finish()),
            ColumnBuilder::I64(b) => Arc::new(b.finish()),
            ColumnBuilder::F32(b) => Arc::new(b.finish()),
            ColumnBuilder::F64(b) => Arc::new(b.finish()),
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b, _) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::List {
                field,
                offsets,
                nulls,
                items,
            } => {
                let offs = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(ListArray::new(
                    field.clone(),
                    offs,
                    items.finish(),
                    nulls.finish(),
                ))
            }
            ColumnBuilder::Map {
                field,
                offsets,
                nulls,
                keys,
                values,
            } => {
                let DataType::Struct(entry_fields) = field.data_type().clone() else {
                    unreachable!("map entries are structs")
                };
                let entries =
                    StructArray::new(entry_fields, vec![keys.finish(), values.finish()], None);
                let offs = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(MapArray::new(
                    field.clone(),
                    offs,
                    entries,
                    nulls.finish(),
                    false,
                ))
            }
            ColumnBuilder::Struct {
                fields,
                nulls,
                children,
                len,
            } => {
                let arrays: Vec<ArrayRef> = children.iter_mut().map(|c| c.finish()).collect();
                let n = std::mem::take(len);
                if arrays.is_empty() {
                    Arc::new(StructArray::new_empty_fields(n, nulls.finish()))
                } else {
                    Arc::new(StructArray::new(fields.clone(), arrays, nulls.finish()))
                }
            }
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_decimals() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("AA==").unwrap(), vec![0]);
        // 12.34 at scale 2 is unscaled 1234 = 0x04D2, base64 "BNI="
        assert_eq!(
            unscaled_from_bytes(&base64_decode("BNI=").unwrap()),
            Some(1234)
        );
        assert_eq!(unscaled_from_bytes(&[0xff]), Some(-1));
        assert_eq!(unscaled_from_text("12.34", 2), Some(1234));
        assert_eq!(unscaled_from_text("-1.5", 3), Some(-1500));
        assert_eq!(unscaled_from_text("1.234", 2), None);
        assert_eq!(unscaled_from_text("1.2e1", 0), Some(12));
    }

    #[test]
    fn value_bytes_and_reserve_values_walk_the_same_builders_in_the_same_order() {
        let schema = ConnectSchema::from_json(&serde_json::json!({
            "type": "struct", "fields": [
                {"field": "id", "type": "int64"},
                {"field": "name", "type": "string"},
                {"field": "tags", "type": "array", "items": {"type": "string"}},
                {"field": "attrs", "type": "map", "keys": {"type": "string"}, "values": {"type": "bytes"}},
            ]
        }))
        .unwrap();
        let opts = ReadOptions {
            replace_null_with_default: false,
        };
        let mut filled = ColumnBuilder::new(&schema, 4);
        let row = serde_json::json!({
            "id": 1, "name": "abcde", "tags": ["x", "yz"], "attrs": {"key": "AAAA"}
        });
        filled.append(&schema, Some(&row), opts, "value").unwrap();
        let mut bytes = Vec::new();
        filled.value_bytes(&mut bytes);
        // name, tags' items, attrs' keys, attrs' values (base64 "AAAA" is 3 bytes).
        assert_eq!(bytes, vec![5, 3, 3, 3]);

        let mut fresh = ColumnBuilder::new(&schema, 4);
        fresh.reserve_values(&mut [1000, 2000, 3000, 4000].into_iter());
        let mut capacities = Vec::new();
        fresh.each_variable_width(&mut |c| match c {
            ColumnBuilder::Utf8(b) => capacities.push(b.values_capacity()),
            ColumnBuilder::Binary(b) => capacities.push(b.values_capacity()),
            _ => {}
        });
        assert_eq!(capacities.len(), 4);
        for (got, wanted) in capacities.iter().zip([1000, 2000, 3000, 4000]) {
            assert!(*got >= wanted, "capacity {got} below the {wanted} reserved");
        }
        // The reserved builders still take rows as before.
        fresh.append(&schema, Some(&row), opts, "value").unwrap();
        let (a, b) = (fresh.finish(), filled.finish());
        assert_eq!(a.to_data(), b.to_data());
    }
}
