//! Schema projection for `schema.compatibility` (Connect's `SchemaProjector`): converted
//! values of one schema rewritten, column by column, as values of another, so records of an
//! older schema version can join files of the newer one instead of starting new files.
//!
//! Owns: deciding whether a projection exists and performing it on Arrow arrays. Fields the
//! target adds take their default (or null when optional); fields the newer schema removed
//! are left out, as its readers would; numbers widen along Connect's promotions (INT8 →
//! INT16 → INT32 → INT64 → FLOAT32 → FLOAT64); Avro enums may gain symbols. Anything else
//! (a narrowing, a type change, a required field without default) has no projection, and
//! the caller starts a new file instead of failing the task.
//!
//! Must not touch: files, rotation decisions (the sink decides when to project).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StructArray};
use arrow_schema::{DataType, Fields};

use crate::columns::{ColumnBuilder, ReadOptions};
use crate::schema::{ConnectSchema, ConnectType};
use crate::{Converted, ValueKind, ValueSchema};

/// The values of `run` as values of `target`, or why they cannot be.
pub fn project(run: &Converted, target: &Arc<ValueSchema>) -> Result<Converted, String> {
    let (Some(source), Some(goal)) = (&run.schema.connect, &target.connect) else {
        return Err("schemaless values have no projection".into());
    };
    if run.schema.kind != ValueKind::Typed || target.kind != ValueKind::Typed {
        return Err("schemaless values have no projection".into());
    }
    let n = run.len();
    let columns: Vec<ArrayRef> = match (&source.ty, &goal.ty) {
        (ConnectType::Struct(from), ConnectType::Struct(to)) => {
            check_names(source, goal, "value")?;
            let have: Vec<ArrayRef> = run.columns.columns().to_vec();
            project_fields(from, &have, to, n, "")?
        }
        _ => {
            let column = run
                .columns
                .columns()
                .first()
                .ok_or("a value column is missing")?;
            vec![project_array(column, source, goal, "value")?]
        }
    };
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    let columns = RecordBatch::try_new_with_options(target.arrow.clone(), columns, &options)
        .map_err(|e| format!("projected columns do not match the target schema: {e}"))?;
    Ok(Converted {
        schema: target.clone(),
        columns,
        offsets: run.offsets.clone(),
        timestamps: run.timestamps.clone(),
        // Projected values are no longer the records' datums.
        datums: None,
    })
}

/// The columns of the target's fields, from the source's columns (by field name).
fn project_fields(
    from: &[(String, ConnectSchema)],
    have: &[ArrayRef],
    to: &[(String, ConnectSchema)],
    n: usize,
    path: &str,
) -> Result<Vec<ArrayRef>, String> {
    to.iter()
        .map(|(name, goal)| {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match from.iter().position(|(f, _)| f == name) {
                Some(i) => {
                    let column = have.get(i).ok_or_else(|| format!("{at}: column missing"))?;
                    project_array(column, &from[i].1, goal, &at)
                }
                None => default_column(goal, n, &at),
            }
        })
        .collect()
}

/// A column of `n` copies of the field's default (Connect: a missing field takes the
/// target's default, or null when optional; a required field without one has none).
fn default_column(goal: &ConnectSchema, n: usize, at: &str) -> Result<ArrayRef, String> {
    if goal.default.is_none() && !goal.optional {
        return Err(format!(
            "{at}: the older schema lacks this required field, which has no default"
        ));
    }
    let mut builder = ColumnBuilder::new(goal, n);
    let opts = ReadOptions {
        replace_null_with_default: true,
    };
    for _ in 0..n {
        builder.append(goal, goal.default.as_ref(), opts, at)?;
    }
    Ok(builder.finish())
}

fn check_names(source: &ConnectSchema, goal: &ConnectSchema, at: &str) -> Result<(), String> {
    if source.name != goal.name {
        return Err(format!(
            "{at}: schema name {:?} differs from {:?}",
            source.name, goal.name
        ));
    }
    if source.parameters != goal.parameters && !enum_widens(source, goal) {
        return Err(format!("{at}: schema parameters differ"));
    }
    Ok(())
}

/// An Avro enum whose symbols are all in the target's (a symbol was added).
fn enum_widens(source: &ConnectSchema, goal: &ConnectSchema) -> bool {
    let is_enum = |s: &ConnectSchema| s.parameters.contains_key(crate::avro::ENUM);
    is_enum(source)
        && is_enum(goal)
        && source.parameters.get(crate::avro::ENUM) == goal.parameters.get(crate::avro::ENUM)
        && source
            .parameters
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{}.", crate::avro::ENUM)))
            .all(|(k, v)| goal.parameters.get(k) == Some(v))
}

/// Connect's numeric promotions: the position of a type in the widening order.
fn numeric_rank(t: &ConnectType) -> Option<u8> {
    Some(match t {
        ConnectType::Int8 => 0,
        ConnectType::Int16 => 1,
        ConnectType::Int32 => 2,
        ConnectType::Int64 => 3,
        ConnectType::Float32 => 4,
        ConnectType::Float64 => 5,
        _ => return None,
    })
}

fn project_array(
    array: &ArrayRef,
    source: &ConnectSchema,
    goal: &ConnectSchema,
    at: &str,
) -> Result<ArrayRef, String> {
    if source.optional && !goal.optional && array.null_count() > 0 {
        return Err(format!("{at}: null values for a required field"));
    }
    if source.logical() != goal.logical() {
        return Err(format!("{at}: logical types differ"));
    }
    check_names(source, goal, at)?;
    match (&source.ty, &goal.ty) {
        (a, b) if a == b => Ok(array.clone()),
        (ConnectType::Struct(from), ConnectType::Struct(to)) => {
            let structs = array
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| format!("{at}: not a struct column"))?;
            let children = project_fields(from, structs.columns(), to, structs.len(), at)?;
            let DataType::Struct(fields) = goal.arrow_type() else {
                return Err(format!("{at}: the target is not a struct"));
            };
            let fields: Fields = fields;
            StructArray::try_new(fields, children, structs.nulls().cloned())
                .map(|s| Arc::new(s) as ArrayRef)
                .map_err(|e| format!("{at}: {e}"))
        }
        (a, b) => match (numeric_rank(a), numeric_rank(b)) {
            (Some(x), Some(y)) if x < y && source.logical().is_none() => {
                arrow_cast::cast(array, &goal.arrow_type()).map_err(|e| format!("{at}: {e}"))
            }
            _ => Err(format!("{at}: {a:?} cannot become {b:?}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NullValues, ValueConverter};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use lakesink_config::{ConverterConfig, ConverterKind};
    use lakesink_record::{RawBatch, TopicPartition};

    fn convert(schema: &str, payloads: &[&str]) -> Converted {
        let mut c = ValueConverter::new(
            &ConverterConfig {
                kind: ConverterKind::Json,
                schemas_enable: true,
                subject_strategy: lakesink_config::SubjectNameStrategy::Topic,
                decimal_numeric: false,
                replace_null_with_default: true,
                registry_urls: Vec::new(),
                registry_basic_auth: None,
            },
            NullValues::Fail,
        );
        let mut b = RawBatch::default();
        for (i, p) in payloads.iter().enumerate() {
            let v = format!(r#"{{"schema":{schema},"payload":{p}}}"#);
            b.push(i as i64, None, None, Some(v.as_bytes()));
        }
        let mut out = c.convert(&TopicPartition::new("t", 0), &b).unwrap();
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    const V1: &str = r#"{"type":"struct","version":1,"fields":[{"field":"id","type":"int32"},{"field":"gone","type":"string","optional":true},{"field":"inner","type":"struct","fields":[{"field":"x","type":"int32"}]}]}"#;
    const V2: &str = r#"{"type":"struct","version":2,"fields":[{"field":"id","type":"int64"},{"field":"note","type":"string","optional":true},{"field":"n","type":"int32","default":7},{"field":"inner","type":"struct","fields":[{"field":"x","type":"double"},{"field":"y","type":"string","optional":true}]}]}"#;

    #[test]
    fn older_values_take_the_newer_schema() {
        let old = convert(
            V1,
            &[
                r#"{"id":1,"gone":"a","inner":{"x":5}}"#,
                r#"{"id":2,"inner":{"x":6}}"#,
            ],
        );
        let new = convert(V2, &[r#"{"id":3,"n":1,"inner":{"x":1.5}}"#]);
        let p = project(&old, &new.schema).unwrap();
        assert!(Arc::ptr_eq(&p.schema, &new.schema));
        assert_eq!(p.columns.schema(), new.columns.schema());
        let ids = p.columns.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values(), &[1, 2]);
        assert_eq!(
            p.columns.column(1).null_count(),
            2,
            "added optional field: null"
        );
        let n = p
            .columns
            .column(2)
            .as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(n.values(), &[7, 7], "added field with a default");
        let inner = p.columns.column(3).as_struct();
        assert_eq!(
            inner.column(0).as_primitive::<Float64Type>().values(),
            &[5.0, 6.0]
        );
        assert_eq!(inner.column(1).null_count(), 2);
        assert_eq!(p.offsets, vec![0, 1]);
    }

    #[test]
    fn no_projection_that_would_lose_values() {
        let old = convert(V1, &[r#"{"id":1,"inner":{"x":5}}"#]);
        let new = convert(V2, &[r#"{"id":3,"inner":{"x":1.5}}"#]);
        // Narrowing int64 to int32, or a required field without default: none.
        let e = project(&new, &old.schema).unwrap_err();
        assert!(e.contains("cannot become") || e.contains("required"), "{e}");
        let required = r#"{"type":"struct","version":3,"fields":[{"field":"id","type":"int32"},{"field":"must","type":"string"}]}"#;
        let target = convert(required, &[r#"{"id":1,"must":"x"}"#]);
        let e = project(&old, &target.schema).unwrap_err();
        assert!(
            e.contains("must: the older schema lacks this required field"),
            "{e}"
        );
    }
}
