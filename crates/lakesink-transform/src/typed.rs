//! The value transformations, on typed Arrow columns and their Connect schema. The output
//! schema depends on the input schema only, so it is worked out once per batch; columns are
//! rewritten with Arrow kernels (cast, take, struct children) rather than row by row.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int64Type, Time32MillisecondType,
    TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Int32Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, Time32MillisecondArray, TimestampMillisecondArray, UInt32Array,
    make_array, new_empty_array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Fields};
use base64::Engine as _;
use lakesink_config::transforms::{Builtin, TransformSpec};
use lakesink_convert::schema::{DATE, TIME, TIMESTAMP};
use lakesink_convert::{ConnectSchema, ConnectType, ValueSchema};

use crate::date_format::DateFormat;
use crate::{ChainConfigError, RowContext, RowError};

/// What a value transformation made of a batch.
pub(crate) struct Output {
    /// The new schema; `None` keeps the input's.
    pub connect: Option<ConnectSchema>,
    pub columns: Vec<ArrayRef>,
    /// Rows whose whole value became null (`ExtractField` of a null field).
    pub null_rows: Option<Vec<bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
}

impl CastType {
    fn parse(s: &str) -> Option<CastType> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "int8" => CastType::Int8,
            "int16" => CastType::Int16,
            "int32" => CastType::Int32,
            "int64" => CastType::Int64,
            "float32" => CastType::Float32,
            "float64" => CastType::Float64,
            "boolean" => CastType::Boolean,
            "string" => CastType::String,
            _ => return None,
        })
    }

    fn connect(self) -> ConnectType {
        match self {
            CastType::Int8 => ConnectType::Int8,
            CastType::Int16 => ConnectType::Int16,
            CastType::Int32 => ConnectType::Int32,
            CastType::Int64 => ConnectType::Int64,
            CastType::Float32 => ConnectType::Float32,
            CastType::Float64 => ConnectType::Float64,
            CastType::Boolean => ConnectType::Boolean,
            CastType::String => ConnectType::String,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        type_name(&self.connect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeTarget {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    Seconds,
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

impl Precision {
    pub(crate) fn unit_to_ms(self, v: i64) -> i64 {
        match self {
            Precision::Seconds => v.saturating_mul(1000),
            Precision::Milliseconds => v,
            Precision::Microseconds => v / 1000,
            Precision::Nanoseconds => v / 1_000_000,
        }
    }
    pub(crate) fn ms_to_unit(self, ms: i64) -> i64 {
        match self {
            Precision::Seconds => ms / 1000,
            Precision::Milliseconds => ms,
            Precision::Microseconds => ms.saturating_mul(1000),
            Precision::Nanoseconds => ms.saturating_mul(1_000_000),
        }
    }
}

/// A field added by `InsertField`: its name and whether it is required (`name!`).
#[derive(Debug, Clone)]
pub(crate) struct Inserted {
    pub name: String,
    pub required: bool,
}

fn inserted(t: &TransformSpec, key: &str) -> Option<Inserted> {
    let v = t.get(key)?.trim();
    Some(match v.strip_suffix('!') {
        Some(name) => Inserted {
            name: name.into(),
            required: true,
        },
        None => Inserted {
            name: v.strip_suffix('?').unwrap_or(v).into(),
            required: false,
        },
    })
}

pub(crate) enum ValueOp {
    Cast {
        whole: Option<CastType>,
        fields: Vec<(String, CastType)>,
    },
    ExtractField {
        path: Vec<String>,
    },
    Flatten {
        delimiter: String,
    },
    HeaderFrom {
        fields: Vec<String>,
        headers: Vec<String>,
        moving: bool,
    },
    HoistField {
        field: String,
    },
    InsertField {
        topic: Option<Inserted>,
        partition: Option<Inserted>,
        offset: Option<Inserted>,
        timestamp: Option<Inserted>,
        fixed: Option<(Inserted, String)>,
    },
    MaskField {
        fields: Vec<String>,
        replacement: Option<String>,
    },
    ReplaceField {
        exclude: Vec<String>,
        include: Vec<String>,
        renames: Vec<(String, String)>,
    },
    SetSchemaMetadata {
        name: Option<String>,
        version: Option<i32>,
    },
    TimestampConverter {
        field: Option<String>,
        target: TimeTarget,
        format: Option<DateFormat>,
        precision: Precision,
    },
}

/// A KIP-821 field path: dots separate names, backticks quote a name with dots, a
/// backslash escapes a backtick.
pub(crate) fn field_path(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted && chars.peek() == Some(&'`') => {
                current.push('`');
                chars.next();
            }
            '`' if !quoted && current.is_empty() => quoted = true,
            '`' if quoted && matches!(chars.peek(), None | Some('.')) => quoted = false,
            '.' if !quoted => out.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    if quoted {
        return Err(format!("'{path}': a backtick is not closed"));
    }
    out.push(current);
    if out.iter().any(String::is_empty) {
        return Err(format!("'{path}': empty field name in the path"));
    }
    Ok(out)
}

impl ValueOp {
    pub(crate) fn new(t: &TransformSpec) -> Result<ValueOp, ChainConfigError> {
        let bad = |key: &str, message: String| ChainConfigError {
            key: t.key(key),
            value: t.get(key).unwrap_or_default().to_string(),
            message,
        };
        Ok(match t.plugin.builtin {
            Builtin::Cast => {
                let items = t.list("spec");
                let mut fields = Vec::new();
                let mut whole = None;
                for item in &items {
                    match item.split_once(':') {
                        Some((f, ty)) => fields.push((
                            f.trim().to_string(),
                            CastType::parse(ty)
                                .ok_or_else(|| bad("spec", format!("unknown type in '{item}'")))?,
                        )),
                        None => {
                            whole = Some(
                                CastType::parse(item)
                                    .ok_or_else(|| bad("spec", format!("unknown type '{item}'")))?,
                            )
                        }
                    }
                }
                ValueOp::Cast { whole, fields }
            }
            Builtin::ExtractField => {
                let field = t.get("field").unwrap_or_default();
                let path = if t.get("field.syntax.version") == Some("V2") {
                    field_path(field).map_err(|m| bad("field", m))?
                } else {
                    vec![field.to_string()]
                };
                ValueOp::ExtractField { path }
            }
            Builtin::Flatten => ValueOp::Flatten {
                delimiter: t
                    .settings
                    .get("delimiter")
                    .cloned()
                    .unwrap_or_else(|| ".".into()),
            },
            Builtin::HeaderFrom => ValueOp::HeaderFrom {
                fields: t.list("fields"),
                headers: t.list("headers"),
                moving: t.get("operation") == Some("move"),
            },
            Builtin::HoistField => ValueOp::HoistField {
                field: t.get("field").unwrap_or_default().to_string(),
            },
            Builtin::InsertField => ValueOp::InsertField {
                topic: inserted(t, "topic.field"),
                partition: inserted(t, "partition.field"),
                offset: inserted(t, "offset.field"),
                timestamp: inserted(t, "timestamp.field"),
                fixed: inserted(t, "static.field").map(|f| {
                    (
                        f,
                        t.settings.get("static.value").cloned().unwrap_or_default(),
                    )
                }),
            },
            Builtin::MaskField => ValueOp::MaskField {
                fields: t.list("fields"),
                replacement: t.settings.get("replacement").cloned(),
            },
            Builtin::ReplaceField => ValueOp::ReplaceField {
                exclude: t.list("exclude"),
                include: t.list("include"),
                renames: t
                    .list("renames")
                    .iter()
                    .filter_map(|r| r.split_once(':'))
                    .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                    .collect(),
            },
            Builtin::SetSchemaMetadata => ValueOp::SetSchemaMetadata {
                name: t.get("schema.name").map(str::to_string),
                version: t.get("schema.version").and_then(|v| v.trim().parse().ok()),
            },
            Builtin::TimestampConverter => ValueOp::TimestampConverter {
                field: t.get("field").map(str::to_string),
                target: match t.get("target.type").unwrap_or_default() {
                    "string" => TimeTarget::String,
                    "unix" => TimeTarget::Unix,
                    "Date" => TimeTarget::Date,
                    "Time" => TimeTarget::Time,
                    _ => TimeTarget::Timestamp,
                },
                format: match t.get("format") {
                    Some(f) => Some(DateFormat::new(f).map_err(|m| bad("format", m))?),
                    None => None,
                },
                precision: match t.get("unix.precision").unwrap_or_default() {
                    "seconds" => Precision::Seconds,
                    "microseconds" => Precision::Microseconds,
                    "nanoseconds" => Precision::Nanoseconds,
                    _ => Precision::Milliseconds,
                },
            },
            other => {
                return Err(bad(
                    "type",
                    format!("{other:?} is not a value transformation"),
                ));
            }
        })
    }

    /// The header names this transformation adds.
    pub(crate) fn header_names(&self) -> Option<&Vec<String>> {
        match self {
            ValueOp::HeaderFrom { headers, .. } => Some(headers),
            _ => None,
        }
    }

    /// Applies the transformation to typed columns of `input`.
    pub(crate) fn typed(
        &self,
        input: &ValueSchema,
        batch: &RecordBatch,
        ctx: &RowContext<'_>,
    ) -> Result<Output, RowError> {
        let Some(schema) = input.connect.as_ref() else {
            return Err(RowError::new(0, "typed values without a Connect schema"));
        };
        let columns = batch.columns();
        let keep = |connect: ConnectSchema, columns: Vec<ArrayRef>| Output {
            connect: Some(connect),
            columns,
            null_rows: None,
        };
        match self {
            ValueOp::SetSchemaMetadata { name, version } => {
                let mut out = schema.clone();
                if let Some(n) = name {
                    out.name = Some(n.clone());
                }
                if let Some(v) = version {
                    out.version = Some(*v);
                }
                Ok(keep(out, columns.to_vec()))
            }
            ValueOp::ReplaceField {
                exclude,
                include,
                renames,
            } => {
                let fields = struct_fields(schema, "field replacement")?;
                let mut out_fields = Vec::new();
                let mut out_columns = Vec::new();
                for (i, (name, s)) in fields.iter().enumerate() {
                    let kept =
                        !exclude.contains(name) && (include.is_empty() || include.contains(name));
                    if !kept {
                        continue;
                    }
                    let renamed = renames
                        .iter()
                        .find(|(from, _)| from == name)
                        .map_or(name.clone(), |(_, to)| to.clone());
                    out_fields.push((renamed, s.clone()));
                    out_columns.push(columns[i].clone());
                }
                Ok(keep(with_fields(schema, out_fields), out_columns))
            }
            ValueOp::HeaderFrom {
                fields: wanted,
                moving,
                ..
            } => {
                let fields = struct_fields(schema, "header from field")?;
                if let Some(missing) = wanted.iter().find(|w| !fields.iter().any(|(n, _)| n == *w))
                {
                    return Err(RowError::new(
                        0,
                        format!("{missing} is not a valid field name"),
                    ));
                }
                if !moving {
                    return Ok(Output {
                        connect: None,
                        columns: columns.to_vec(),
                        null_rows: None,
                    });
                }
                let (out_fields, out_columns): (Vec<_>, Vec<_>) = fields
                    .iter()
                    .zip(columns)
                    .filter(|((n, _), _)| !wanted.contains(n))
                    .map(|(f, c)| (f.clone(), c.clone()))
                    .unzip();
                Ok(keep(with_fields(schema, out_fields), out_columns))
            }
            ValueOp::InsertField {
                topic,
                partition,
                offset,
                timestamp,
                fixed,
            } => {
                let fields = struct_fields(schema, "field insertion")?;
                let n = batch.num_rows();
                let mut out_fields = fields.to_vec();
                let mut out_columns = columns.to_vec();
                let mut add = |f: &Inserted, ty: ConnectSchema, column: ArrayRef| {
                    out_fields.push((
                        f.name.clone(),
                        ConnectSchema {
                            optional: !f.required,
                            ..ty
                        },
                    ));
                    out_columns.push(column);
                };
                if let Some(f) = topic {
                    add(
                        f,
                        ConnectSchema::of(ConnectType::String),
                        Arc::new(StringArray::from(vec![ctx.topic; n])),
                    );
                }
                if let Some(f) = partition {
                    add(
                        f,
                        ConnectSchema::of(ConnectType::Int32),
                        Arc::new(Int32Array::from(vec![ctx.partition; n])),
                    );
                }
                if let Some(f) = offset {
                    add(
                        f,
                        ConnectSchema::of(ConnectType::Int64),
                        Arc::new(Int64Array::from(ctx.offsets.to_vec())),
                    );
                }
                if let Some(f) = timestamp {
                    if f.required
                        && let Some(row) = ctx.timestamps.iter().position(Option::is_none)
                    {
                        return Err(RowError::new(
                            row,
                            format!(
                                "the record has no timestamp for the required field {}",
                                f.name
                            ),
                        ));
                    }
                    add(
                        f,
                        logical(ConnectType::Int64, TIMESTAMP),
                        Arc::new(
                            TimestampMillisecondArray::from(ctx.timestamps.to_vec())
                                .with_timezone("UTC"),
                        ),
                    );
                }
                if let Some((f, value)) = fixed {
                    add(
                        f,
                        ConnectSchema::of(ConnectType::String),
                        Arc::new(StringArray::from(vec![value.as_str(); n])),
                    );
                }
                Ok(keep(with_fields(schema, out_fields), out_columns))
            }
            ValueOp::MaskField {
                fields: masked,
                replacement,
            } => {
                let fields = struct_fields(schema, "masking")?;
                let mut out_columns = columns.to_vec();
                for (i, (name, s)) in fields.iter().enumerate() {
                    if masked.contains(name) {
                        out_columns[i] = mask(&columns[i], s, replacement.as_deref())?;
                    }
                }
                Ok(keep(schema.clone(), out_columns))
            }
            ValueOp::Cast {
                whole,
                fields: casts,
            } => {
                if let Some(to) = whole {
                    if matches!(schema.ty, ConnectType::Struct(_)) {
                        return Err(RowError::new(
                            0,
                            "Cast: a whole-value cast needs a primitive value, found STRUCT",
                        ));
                    }
                    let column = cast(&columns[0], schema, *to)?;
                    let out = ConnectSchema {
                        optional: schema.optional,
                        ..ConnectSchema::of(to.connect())
                    };
                    return Ok(keep(out, vec![column]));
                }
                let fields = struct_fields(schema, "casting")?;
                let mut out_fields = fields.to_vec();
                let mut out_columns = columns.to_vec();
                for (i, (name, s)) in fields.iter().enumerate() {
                    if let Some((_, to)) = casts.iter().find(|(f, _)| f == name) {
                        out_columns[i] = cast(&columns[i], s, *to)?;
                        out_fields[i].1 = ConnectSchema {
                            optional: s.optional,
                            ..ConnectSchema::of(to.connect())
                        };
                    }
                }
                Ok(keep(with_fields(schema, out_fields), out_columns))
            }
            ValueOp::ExtractField { path } => {
                let mut current_schema = schema;
                let mut current: Option<ArrayRef> = None;
                let mut nulls: Option<NullBuffer> = None;
                for name in path {
                    let fields = struct_fields(current_schema, "field extraction")?;
                    let Some(i) = fields.iter().position(|(n, _)| n == name) else {
                        return Err(RowError::new(
                            0,
                            format!("Unknown field: {}", path.join(".")),
                        ));
                    };
                    let child = match &current {
                        None => columns[i].clone(),
                        Some(parent) => {
                            let s = parent.as_struct();
                            nulls = NullBuffer::union(nulls.as_ref(), s.nulls());
                            s.column(i).clone()
                        }
                    };
                    current = Some(child);
                    current_schema = &fields[i].1;
                }
                let Some(extracted) = current else {
                    return Err(RowError::new(0, "an empty field path"));
                };
                let extracted = with_nulls(&extracted, nulls.as_ref());
                let null_rows: Vec<bool> =
                    (0..extracted.len()).map(|r| extracted.is_null(r)).collect();
                let out_columns = match &current_schema.ty {
                    ConnectType::Struct(_) => {
                        let s = extracted.as_struct();
                        s.columns()
                            .iter()
                            .map(|c| with_nulls(c, s.nulls()))
                            .collect()
                    }
                    _ => vec![extracted.clone()],
                };
                Ok(Output {
                    connect: Some(current_schema.clone()),
                    columns: out_columns,
                    null_rows: null_rows.contains(&true).then_some(null_rows),
                })
            }
            ValueOp::HoistField { field } => {
                let column: ArrayRef = match &schema.ty {
                    ConnectType::Struct(_) => {
                        let fields: Fields = input.arrow.fields().clone();
                        Arc::new(
                            StructArray::try_new(fields, columns.to_vec(), None).map_err(|e| {
                                RowError::new(0, format!("cannot wrap the value: {e}"))
                            })?,
                        )
                    }
                    _ => columns[0].clone(),
                };
                let out =
                    ConnectSchema::of(ConnectType::Struct(vec![(field.clone(), schema.clone())]));
                Ok(keep(out, vec![column]))
            }
            ValueOp::Flatten { delimiter } => {
                let fields = struct_fields(schema, "flattening")?;
                let mut out_fields = Vec::new();
                let mut out_columns = Vec::new();
                for (i, (name, s)) in fields.iter().enumerate() {
                    flatten(
                        name,
                        s,
                        &columns[i],
                        false,
                        delimiter,
                        &mut out_fields,
                        &mut out_columns,
                    )?;
                }
                Ok(keep(with_fields(schema, out_fields), out_columns))
            }
            ValueOp::TimestampConverter {
                field,
                target,
                format,
                precision,
            } => {
                let convert = |column: &ArrayRef, s: &ConnectSchema| {
                    convert_time(column, s, *target, format.as_ref(), *precision)
                };
                match field {
                    None => {
                        if matches!(schema.ty, ConnectType::Struct(_)) {
                            return Err(RowError::new(
                                0,
                                "TimestampConverter without a field needs a timestamp value, found STRUCT",
                            ));
                        }
                        let (column, out) = convert(&columns[0], schema)?;
                        Ok(keep(out, vec![column]))
                    }
                    Some(f) => {
                        let fields = struct_fields(schema, "converting timestamp formats")?;
                        let Some(i) = fields.iter().position(|(n, _)| n == f) else {
                            return Err(RowError::new(0, format!("Unknown field: {f}")));
                        };
                        let (column, out) = convert(&columns[i], &fields[i].1)?;
                        let mut out_fields = fields.to_vec();
                        let mut out_columns = columns.to_vec();
                        out_fields[i].1 = out;
                        out_columns[i] = column;
                        Ok(keep(with_fields(schema, out_fields), out_columns))
                    }
                }
            }
        }
    }

    /// Applies the transformation to schemaless JSON documents.
    pub(crate) fn json(
        &self,
        batch: &RecordBatch,
        ctx: &RowContext<'_>,
    ) -> Result<Output, RowError> {
        let Some(texts) = batch
            .columns()
            .first()
            .and_then(|c| c.as_string_opt::<i32>())
        else {
            return Err(RowError::new(0, "schemaless values are not JSON text"));
        };
        let mut out = StringBuilder::with_capacity(texts.len(), texts.value_data().len());
        let mut null_rows = vec![false; texts.len()];
        for (row, is_null) in null_rows.iter_mut().enumerate() {
            if texts.is_null(row) {
                out.append_null();
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(texts.value(row))
                .map_err(|e| RowError::new(row, format!("the value is not JSON: {e}")))?;
            let result =
                crate::json::apply(self, value, ctx, row).map_err(|m| RowError::new(row, m))?;
            if result.is_null() {
                *is_null = true;
                out.append_null();
            } else {
                out.append_value(result.to_string());
            }
        }
        Ok(Output {
            connect: None,
            columns: vec![Arc::new(out.finish())],
            null_rows: null_rows.contains(&true).then_some(null_rows),
        })
    }
}

/// Connect's name of a type (`Schema.Type`), as its messages print it.
fn type_name(ty: &ConnectType) -> &'static str {
    match ty {
        ConnectType::Int8 => "INT8",
        ConnectType::Int16 => "INT16",
        ConnectType::Int32 => "INT32",
        ConnectType::Int64 => "INT64",
        ConnectType::Float32 => "FLOAT32",
        ConnectType::Float64 => "FLOAT64",
        ConnectType::Boolean => "BOOLEAN",
        ConnectType::String => "STRING",
        ConnectType::Bytes => "BYTES",
        ConnectType::Array(_) => "ARRAY",
        ConnectType::Map(..) => "MAP",
        ConnectType::Struct(_) => "STRUCT",
    }
}

fn struct_fields<'a>(
    schema: &'a ConnectSchema,
    purpose: &str,
) -> Result<&'a [(String, ConnectSchema)], RowError> {
    match &schema.ty {
        ConnectType::Struct(fields) => Ok(fields),
        _ => Err(RowError::new(
            0,
            format!(
                "Only Struct objects supported for [{purpose}], found: {}",
                type_name(&schema.ty)
            ),
        )),
    }
}

/// A struct schema with the name, version, doc and parameters of `base` and new fields.
fn with_fields(base: &ConnectSchema, fields: Vec<(String, ConnectSchema)>) -> ConnectSchema {
    ConnectSchema {
        ty: ConnectType::Struct(fields),
        default: None,
        ..base.clone()
    }
}

fn logical(ty: ConnectType, name: &str) -> ConnectSchema {
    ConnectSchema {
        name: Some(name.to_string()),
        version: Some(1),
        ..ConnectSchema::of(ty)
    }
}

/// `array` with its nulls and `extra`'s: a struct child is null where its parent is.
fn with_nulls(array: &ArrayRef, extra: Option<&NullBuffer>) -> ArrayRef {
    let Some(extra) = extra else {
        return array.clone();
    };
    let nulls = NullBuffer::union(array.nulls(), Some(extra));
    match array.to_data().into_builder().nulls(nulls).build() {
        Ok(data) => make_array(data),
        Err(_) => array.clone(),
    }
}

fn flatten(
    name: &str,
    schema: &ConnectSchema,
    column: &ArrayRef,
    parent_optional: bool,
    delimiter: &str,
    out_fields: &mut Vec<(String, ConnectSchema)>,
    out_columns: &mut Vec<ArrayRef>,
) -> Result<(), RowError> {
    match &schema.ty {
        ConnectType::Struct(children) => {
            let s = column.as_struct();
            for (i, (child, child_schema)) in children.iter().enumerate() {
                let c = with_nulls(s.column(i), s.nulls());
                flatten(
                    &format!("{name}{delimiter}{child}"),
                    child_schema,
                    &c,
                    parent_optional || schema.optional,
                    delimiter,
                    out_fields,
                    out_columns,
                )?;
            }
            Ok(())
        }
        ConnectType::Map(..) => Err(RowError::new(
            0,
            format!(
                "Flatten transformation does not support MAP for record with schemas (for field {name})."
            ),
        )),
        _ => {
            out_fields.push((
                name.to_string(),
                ConnectSchema {
                    optional: parent_optional || schema.optional,
                    ..schema.clone()
                },
            ));
            out_columns.push(column.clone());
            Ok(())
        }
    }
}

/// One value repeated where `column` has values, null where it has none.
fn repeat_where_set(one: &ArrayRef, column: &ArrayRef) -> Result<ArrayRef, RowError> {
    let indices: UInt32Array = (0..column.len())
        .map(|r| (!column.is_null(r)).then_some(0u32))
        .collect();
    arrow_select::take::take(one.as_ref(), &indices, None)
        .map_err(|e| RowError::new(0, format!("cannot mask: {e}")))
}

fn first_set(column: &ArrayRef) -> usize {
    (0..column.len()).find(|r| !column.is_null(*r)).unwrap_or(0)
}

fn mask(
    column: &ArrayRef,
    schema: &ConnectSchema,
    replacement: Option<&str>,
) -> Result<ArrayRef, RowError> {
    let ty = column.data_type().clone();
    let numeric = ty.is_numeric() || matches!(ty, DataType::Decimal128(..));
    let one: ArrayRef = match (replacement, &ty) {
        (Some(r), DataType::Utf8) => Arc::new(StringArray::from(vec![r])),
        (Some(r), _) if numeric => {
            let text: ArrayRef = Arc::new(StringArray::from(vec![r.trim()]));
            let options = arrow_cast::CastOptions {
                safe: false,
                ..Default::default()
            };
            arrow_cast::cast_with_options(&text, &ty, &options).map_err(|e| {
                RowError::new(
                    first_set(column),
                    format!(
                        "Unable to convert {r} ({}) to number: {e}",
                        type_name(&schema.ty)
                    ),
                )
            })?
        }
        (Some(_), _) => {
            return Err(RowError::new(
                first_set(column),
                format!(
                    "Cannot mask value of type {} with custom replacement",
                    type_name(&schema.ty)
                ),
            ));
        }
        (None, DataType::Boolean) => Arc::new(BooleanArray::from(vec![false])),
        (None, DataType::Utf8) => Arc::new(StringArray::from(vec![""])),
        // Numbers, and dates and times as their epoch: zero cast from an integer.
        (None, _)
            if numeric
                || matches!(
                    ty,
                    DataType::Date32 | DataType::Time32(_) | DataType::Timestamp(..)
                ) =>
        {
            let zero: ArrayRef = match ty {
                DataType::Date32 | DataType::Time32(_) => Arc::new(Int32Array::from(vec![0])),
                _ => Arc::new(Int64Array::from(vec![0])),
            };
            arrow_cast::cast(&zero, &ty).map_err(|e| RowError::new(0, e.to_string()))?
        }
        (None, DataType::List(item)) => Arc::new(ListArray::new(
            item.clone(),
            OffsetBuffer::new(vec![0i32, 0].into()),
            new_empty_array(item.data_type()),
            None,
        )),
        _ => {
            if column.null_count() == column.len() {
                return Ok(column.clone());
            }
            return Err(RowError::new(
                first_set(column),
                format!("Cannot mask value of type {}", type_name(&schema.ty)),
            ));
        }
    };
    repeat_where_set(&one, column)
}

/// Java's `Double.toString`/`Float.toString`: a decimal point always, `E` notation outside
/// [10^-3, 10^7).
pub(crate) fn java_float_string(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = if single {
            format!("{:?}", v as f32)
        } else {
            format!("{v:?}")
        };
        return s;
    }
    let s = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => format!("{m}E{e}"),
        Some((m, e)) => format!("{m}.0E{e}"),
        None => s,
    }
}

fn cast(column: &ArrayRef, from: &ConnectSchema, to: CastType) -> Result<ArrayRef, RowError> {
    let unsupported = || {
        RowError::new(
            0,
            format!(
                "Cast transformation does not support casting from {}; supported types are INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES",
                type_name(&from.ty)
            ),
        )
    };
    // Connect casts a Date, Time or Timestamp as its encoded integer.
    let raw: ArrayRef = match column.data_type() {
        DataType::Date32 | DataType::Time32(_) => arrow_cast::cast(column, &DataType::Int32)
            .map_err(|e| RowError::new(0, e.to_string()))?,
        DataType::Timestamp(..) => arrow_cast::cast(column, &DataType::Int64)
            .map_err(|e| RowError::new(0, e.to_string()))?,
        DataType::Struct(_) | DataType::List(_) | DataType::Map(..) => return Err(unsupported()),
        _ => column.clone(),
    };
    match (raw.data_type(), to) {
        (DataType::Binary, CastType::String) => {
            let b = raw.as_binary::<i32>();
            let e = base64::engine::general_purpose::STANDARD;
            let out: StringArray = b.iter().map(|v| v.map(|v| e.encode(v))).collect();
            return Ok(Arc::new(out));
        }
        (DataType::Binary, _) => {
            return Err(RowError::new(
                0,
                format!(
                    "Cast transformation does not support casting BYTES to {}",
                    to.name()
                ),
            ));
        }
        (DataType::Float64, CastType::String) => {
            let f = raw.as_primitive::<Float64Type>();
            let out: StringArray = f
                .iter()
                .map(|v| v.map(|v| java_float_string(v, false)))
                .collect();
            return Ok(Arc::new(out));
        }
        (DataType::Float32, CastType::String) => {
            let f = raw.as_primitive::<Float32Type>();
            let out: StringArray = f
                .iter()
                .map(|v| v.map(|v| java_float_string(v as f64, true)))
                .collect();
            return Ok(Arc::new(out));
        }
        (DataType::Utf8, CastType::Boolean) => {
            let s = raw.as_string::<i32>();
            let out: BooleanArray = s
                .iter()
                .map(|v| v.map(|v| v.trim().eq_ignore_ascii_case("true")))
                .collect();
            return Ok(Arc::new(out));
        }
        _ => {}
    }
    let target = ConnectSchema::of(to.connect()).arrow_type();
    let options = arrow_cast::CastOptions {
        safe: true,
        ..Default::default()
    };
    let out = arrow_cast::cast_with_options(&raw, &target, &options).map_err(|_| unsupported())?;
    if let Some(row) = (0..raw.len()).find(|r| !raw.is_null(*r) && out.is_null(*r)) {
        let shown = arrow_cast::display::array_value_to_string(&raw, row).unwrap_or_default();
        return Err(RowError::new(
            row,
            format!(
                "Cast: {} value {shown} cannot be cast to {} (out of range or not a number)",
                type_name(&from.ty),
                to.name()
            ),
        ));
    }
    Ok(out)
}

/// A timestamp column's values as epoch milliseconds.
fn time_values(
    column: &ArrayRef,
    schema: &ConnectSchema,
    format: Option<&DateFormat>,
    precision: Precision,
) -> Result<Vec<Option<i64>>, RowError> {
    Ok(match column.data_type() {
        DataType::Timestamp(..) => {
            let c = arrow_cast::cast(
                column,
                &DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None),
            )
            .map_err(|e| RowError::new(0, e.to_string()))?;
            c.as_primitive::<TimestampMillisecondType>()
                .iter()
                .collect()
        }
        DataType::Date32 => column
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.map(|d| d as i64 * 86_400_000))
            .collect(),
        DataType::Time32(_) => column
            .as_primitive::<Time32MillisecondType>()
            .iter()
            .map(|t| t.map(i64::from))
            .collect(),
        DataType::Int64 => column
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|v| precision.unit_to_ms(v)))
            .collect(),
        DataType::Utf8 => {
            let Some(format) = format else {
                return Err(RowError::new(
                    0,
                    "TimestampConverter requires format option to be specified when using string timestamps",
                ));
            };
            let s = column.as_string::<i32>();
            let mut out = Vec::with_capacity(s.len());
            for (row, v) in s.iter().enumerate() {
                out.push(match v {
                    None => None,
                    Some(v) => Some(format.parse(v).map_err(|m| RowError::new(row, m))?),
                });
            }
            out
        }
        _ => {
            return Err(RowError::new(
                0,
                format!(
                    "Schema {} does not correspond to a known timestamp type format",
                    type_name(&schema.ty)
                ),
            ));
        }
    })
}

fn convert_time(
    column: &ArrayRef,
    schema: &ConnectSchema,
    target: TimeTarget,
    format: Option<&DateFormat>,
    precision: Precision,
) -> Result<(ArrayRef, ConnectSchema), RowError> {
    let ms = time_values(column, schema, format, precision)?;
    let optional = schema.optional;
    let (array, out): (ArrayRef, ConnectSchema) = match target {
        TimeTarget::String => {
            let Some(format) = format else {
                return Err(RowError::new(
                    0,
                    "TimestampConverter requires a format for string output",
                ));
            };
            let mut b = StringBuilder::new();
            for (row, v) in ms.iter().enumerate() {
                match v {
                    None => b.append_null(),
                    Some(v) => {
                        b.append_value(format.format(*v).map_err(|m| RowError::new(row, m))?)
                    }
                }
            }
            (Arc::new(b.finish()), ConnectSchema::of(ConnectType::String))
        }
        TimeTarget::Unix => (
            Arc::new(Int64Array::from(
                ms.iter()
                    .map(|v| v.map(|v| precision.ms_to_unit(v)))
                    .collect::<Vec<_>>(),
            )),
            ConnectSchema::of(ConnectType::Int64),
        ),
        TimeTarget::Date => (
            Arc::new(Date32Array::from(
                ms.iter()
                    .map(|v| v.map(|v| v.div_euclid(86_400_000) as i32))
                    .collect::<Vec<_>>(),
            )),
            logical(ConnectType::Int32, DATE),
        ),
        TimeTarget::Time => (
            Arc::new(Time32MillisecondArray::from(
                ms.iter()
                    .map(|v| v.map(|v| v.rem_euclid(86_400_000) as i32))
                    .collect::<Vec<_>>(),
            )),
            logical(ConnectType::Int32, TIME),
        ),
        TimeTarget::Timestamp => (
            Arc::new(TimestampMillisecondArray::from(ms).with_timezone("UTC")),
            logical(ConnectType::Int64, TIMESTAMP),
        ),
    };
    Ok((array, ConnectSchema { optional, ..out }))
}
