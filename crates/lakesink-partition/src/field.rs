//! `FieldPartitioner`: `<topic>/<f1>=<v1>/<f2>=<v2>` from fields of each record's value.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{BooleanArray, LargeStringArray, PrimitiveArray, StringArray};
use arrow_schema::DataType;

use crate::slices::SliceBuilder;
use crate::value::{self, ArrowPath, FieldPath, JsonLeaf, JsonTexts};
use crate::{PartitionInput, Partitioned, RecordPartitionError};

/// Partitions by the values of `partition.field.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPartitioner {
    fields: Vec<FieldPath>,
}

/// One field's value in a row, as it is grouped and printed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FieldValue<'a> {
    Null,
    Int(i64),
    /// Only for values above `i64::MAX`, so each number has one representation.
    UInt(u64),
    Bool(bool),
    Str(Cow<'a, str>),
}

impl FieldPartitioner {
    pub(crate) fn new(fields: Vec<FieldPath>) -> Self {
        FieldPartitioner { fields }
    }

    /// The configured field names, in directory order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    pub(crate) fn partition(
        &self,
        input: &PartitionInput<'_>,
    ) -> Result<Partitioned, RecordPartitionError> {
        let rows = input.checked_rows()?;
        let mut grouper = Grouper::new(input.topic, &self.fields);
        if input.json_text {
            let texts = JsonTexts::of(input.columns).map_err(|m| input.error(0, m))?;
            for row in 0..rows {
                let text = texts.text(row as usize);
                for field in &self.fields {
                    let v = json_value(text, field).map_err(|m| input.error(row as usize, m))?;
                    grouper.key.push(v);
                }
                grouper.assign(row);
            }
        } else {
            let columns = self
                .fields
                .iter()
                .map(|f| TypedField::new(input, f))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|m| input.error(0, m))?;
            for row in 0..rows {
                for c in &columns {
                    grouper.key.push(c.value(row as usize));
                }
                grouper.assign(row);
            }
        }
        Ok(Partitioned {
            slices: grouper.slices.finish(),
            times: None,
        })
    }
}

/// Maps each row's key (one value per field) to a slice; each distinct key's directory is
/// printed once.
struct Grouper<'a, 'f> {
    topic: &'a str,
    fields: &'f [FieldPath],
    /// The key being built for the current row.
    key: Vec<FieldValue<'a>>,
    prev: Vec<FieldValue<'a>>,
    prev_slice: Option<usize>,
    groups: HashMap<Vec<FieldValue<'a>>, usize>,
    slices: SliceBuilder,
}

impl<'a, 'f> Grouper<'a, 'f> {
    fn new(topic: &'a str, fields: &'f [FieldPath]) -> Self {
        Grouper {
            topic,
            fields,
            key: Vec::with_capacity(fields.len()),
            prev: Vec::with_capacity(fields.len()),
            prev_slice: None,
            groups: HashMap::new(),
            slices: SliceBuilder::new(),
        }
    }

    /// Assigns `row` by the key in `self.key`, then clears it for the next row.
    fn assign(&mut self, row: u32) {
        let slice = match self.prev_slice {
            // Consecutive rows usually share a key: skip the hash lookup.
            Some(s) if self.key == self.prev => s,
            _ => match self.groups.get(self.key.as_slice()) {
                Some(&s) => s,
                None => {
                    let dir = self.dir(&self.key);
                    let s = self.slices.slice_for_dir(dir, row);
                    self.groups.insert(self.key.clone(), s);
                    s
                }
            },
        };
        self.slices.push(slice, row);
        self.prev_slice = Some(slice);
        std::mem::swap(&mut self.key, &mut self.prev);
        self.key.clear();
    }

    fn dir(&self, key: &[FieldValue<'_>]) -> String {
        let mut dir = String::with_capacity(self.topic.len() + 16 * key.len());
        dir.push_str(self.topic);
        for (field, v) in self.fields.iter().zip(key) {
            dir.push('/');
            dir.push_str(&field.name);
            dir.push('=');
            match v {
                FieldValue::Null => dir.push_str("null"),
                FieldValue::Int(i) => {
                    let _ = write!(dir, "{i}");
                }
                FieldValue::UInt(u) => {
                    let _ = write!(dir, "{u}");
                }
                FieldValue::Bool(b) => dir.push_str(if *b { "true" } else { "false" }),
                FieldValue::Str(s) => push_escaped(&mut dir, s),
            }
        }
        dir
    }
}

/// Appends `s` escaped as Hive's `FileUtils.escapePathName` does (`%` + two uppercase hex
/// digits), so that `a/b` stays one path component and Hive, Spark and pyarrow read the value
/// back unchanged.
///
/// Deliberate difference from Confluent, which writes values raw: a `/` in a value there
/// creates extra directory levels and `=` or `%` break Hive-style partition discovery. NUL is
/// escaped too (Hive's list starts at 0x01) because HDFS rejects it in names.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'
            ..='\u{1F}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7F}'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

fn json_value<'a>(text: Option<&'a str>, field: &FieldPath) -> Result<FieldValue<'a>, String> {
    Ok(match value::json_leaf(text, field)? {
        None | Some(JsonLeaf::Null) => FieldValue::Null,
        Some(JsonLeaf::Int(i)) => FieldValue::Int(i),
        Some(JsonLeaf::UInt(u)) => FieldValue::UInt(u),
        Some(JsonLeaf::Bool(b)) => FieldValue::Bool(b),
        Some(JsonLeaf::Str(s)) => FieldValue::Str(s),
        Some(other) => {
            return Err(format!(
                "field '{}' is a JSON {}; only integers, strings, booleans and null can name a directory",
                field.name,
                other.kind()
            ));
        }
    })
}

/// A typed column holding a partition field.
enum Column<'a> {
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U8(&'a PrimitiveArray<UInt8Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Bool(&'a BooleanArray),
}

struct TypedField<'a> {
    path: ArrowPath<'a>,
    column: Column<'a>,
}

impl<'a> TypedField<'a> {
    fn new(input: &PartitionInput<'a>, field: &FieldPath) -> Result<TypedField<'a>, String> {
        let path = value::resolve(input.columns, field)?;
        let a = path.leaf;
        let column = match a.data_type() {
            DataType::Int8 => a.as_primitive_opt().map(Column::I8),
            DataType::Int16 => a.as_primitive_opt().map(Column::I16),
            DataType::Int32 => a.as_primitive_opt().map(Column::I32),
            DataType::Int64 => a.as_primitive_opt().map(Column::I64),
            DataType::UInt8 => a.as_primitive_opt().map(Column::U8),
            DataType::UInt16 => a.as_primitive_opt().map(Column::U16),
            DataType::UInt32 => a.as_primitive_opt().map(Column::U32),
            DataType::UInt64 => a.as_primitive_opt().map(Column::U64),
            DataType::Utf8 => a.as_string_opt().map(Column::Utf8),
            DataType::LargeUtf8 => a.as_string_opt().map(Column::LargeUtf8),
            DataType::Boolean => a.as_boolean_opt().map(Column::Bool),
            _ => None,
        };
        match column {
            Some(column) => Ok(TypedField { path, column }),
            None => Err(format!(
                "field '{}' is {}; only integer, string and boolean fields can name a directory",
                field.name,
                a.data_type()
            )),
        }
    }

    fn value(&self, row: usize) -> FieldValue<'a> {
        if self.path.is_null(row) {
            return FieldValue::Null;
        }
        match self.column {
            Column::I8(a) => FieldValue::Int(a.value(row).into()),
            Column::I16(a) => FieldValue::Int(a.value(row).into()),
            Column::I32(a) => FieldValue::Int(a.value(row).into()),
            Column::I64(a) => FieldValue::Int(a.value(row)),
            Column::U8(a) => FieldValue::Int(a.value(row).into()),
            Column::U16(a) => FieldValue::Int(a.value(row).into()),
            Column::U32(a) => FieldValue::Int(a.value(row).into()),
            Column::U64(a) => {
                let u = a.value(row);
                i64::try_from(u).map_or(FieldValue::UInt(u), FieldValue::Int)
            }
            Column::Utf8(a) => FieldValue::Str(Cow::Borrowed(a.value(row))),
            Column::LargeUtf8(a) => FieldValue::Str(Cow::Borrowed(a.value(row))),
            Column::Bool(a) => FieldValue::Bool(a.value(row)),
        }
    }
}
