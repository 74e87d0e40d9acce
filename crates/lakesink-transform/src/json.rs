//! The value transformations on schemaless JSON documents (Connect's `Map` values), with
//! the semantics of each SMT's `applySchemaless`.

use serde_json::{Map, Number, Value};

use crate::RowContext;
use crate::typed::{CastType, TimeTarget, ValueOp, java_float_string};

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Number(n) if n.is_f64() => "java.lang.Double",
        Value::Number(_) => "java.lang.Long",
        Value::String(_) => "java.lang.String",
        Value::Array(_) => "java.util.ArrayList",
        Value::Object(_) => "java.util.HashMap",
    }
}

fn object(value: Value, purpose: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(m) => Ok(m),
        other => Err(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {}",
            kind(&other)
        )),
    }
}

pub(crate) fn apply(
    op: &ValueOp,
    value: Value,
    ctx: &RowContext<'_>,
    row: usize,
) -> Result<Value, String> {
    match op {
        // Schemaless records pass through SetSchemaMetadata.
        ValueOp::SetSchemaMetadata { .. } => Ok(value),
        ValueOp::ReplaceField {
            exclude,
            include,
            renames,
        } => {
            let m = object(value, "field replacement")?;
            let out: Map<String, Value> = m
                .into_iter()
                .filter(|(k, _)| {
                    !exclude.contains(k) && (include.is_empty() || include.contains(k))
                })
                .map(|(k, v)| {
                    let k = renames
                        .iter()
                        .find(|(from, _)| *from == k)
                        .map_or(k, |(_, to)| to.clone());
                    (k, v)
                })
                .collect();
            Ok(Value::Object(out))
        }
        ValueOp::HeaderFrom { fields, moving, .. } => {
            let mut m = object(value, "header from field")?;
            if *moving {
                for f in fields {
                    m.remove(f);
                }
            }
            Ok(Value::Object(m))
        }
        ValueOp::InsertField {
            topic,
            partition,
            offset,
            timestamp,
            fixed,
        } => {
            let mut m = object(value, "field insertion")?;
            if let Some(f) = topic {
                m.insert(f.name.clone(), Value::String(ctx.topic.to_string()));
            }
            if let Some(f) = partition {
                m.insert(f.name.clone(), Value::from(ctx.partition));
            }
            if let Some(f) = offset {
                m.insert(f.name.clone(), Value::from(ctx.offsets[row]));
            }
            if let Some(f) = timestamp {
                m.insert(
                    f.name.clone(),
                    ctx.timestamps[row].map_or(Value::Null, Value::from),
                );
            }
            if let Some((f, v)) = fixed {
                m.insert(f.name.clone(), Value::String(v.clone()));
            }
            Ok(Value::Object(m))
        }
        ValueOp::MaskField {
            fields,
            replacement,
        } => {
            let mut m = object(value, "masking")?;
            for f in fields {
                if let Some(v) = m.get_mut(f) {
                    *v = mask(v, replacement.as_deref())?;
                }
            }
            Ok(Value::Object(m))
        }
        ValueOp::Cast { whole, fields } => {
            if let Some(to) = whole {
                return cast(&value, *to);
            }
            let mut m = object(value, "casting")?;
            for (f, to) in fields {
                if let Some(v) = m.get_mut(f) {
                    *v = cast(v, *to)?;
                }
            }
            Ok(Value::Object(m))
        }
        ValueOp::ExtractField { path } => {
            let mut current = value;
            for name in path {
                let mut m = object(current, "field extraction")?;
                current = m.remove(name).unwrap_or(Value::Null);
                if current.is_null() {
                    break;
                }
            }
            Ok(current)
        }
        ValueOp::HoistField { field } => {
            let mut m = Map::new();
            m.insert(field.clone(), value);
            Ok(Value::Object(m))
        }
        ValueOp::Flatten { delimiter } => {
            let m = object(value, "flattening")?;
            let mut out = Map::new();
            flatten("", m, delimiter, &mut out);
            Ok(Value::Object(out))
        }
        ValueOp::TimestampConverter {
            field,
            target,
            format,
            precision,
        } => {
            let convert = |v: &Value| -> Result<Value, String> {
                let ms = match v {
                    Value::Null => return Ok(Value::Null),
                    Value::Number(n) => precision
                        .unit_to_ms(n.as_i64().ok_or_else(|| {
                            format!("TimestampConverter: {n} is not a unix time")
                        })?),
                    Value::String(s) => match format {
                        Some(f) => f.parse(s)?,
                        None => {
                            return Err("TimestampConverter requires format option to be specified when using string timestamps".into());
                        }
                    },
                    other => {
                        return Err(format!(
                            "TimestampConverter does not support {} objects as timestamps",
                            kind(other)
                        ));
                    }
                };
                Ok(match target {
                    TimeTarget::String => match format {
                        Some(f) => Value::String(f.format(ms)?),
                        None => {
                            return Err(
                                "TimestampConverter requires a format for string output".into()
                            );
                        }
                    },
                    TimeTarget::Unix => Value::from(precision.ms_to_unit(ms)),
                    // Schemaless Date, Time and Timestamp values are written as epoch
                    // milliseconds (JSON has no date type).
                    TimeTarget::Date => Value::from(ms.div_euclid(86_400_000) * 86_400_000),
                    TimeTarget::Time => Value::from(ms.rem_euclid(86_400_000)),
                    TimeTarget::Timestamp => Value::from(ms),
                })
            };
            match field {
                None => convert(&value),
                Some(f) => {
                    let mut m = object(value, "converting timestamp formats")?;
                    if let Some(v) = m.get_mut(f) {
                        *v = convert(v)?;
                    }
                    Ok(Value::Object(m))
                }
            }
        }
    }
}

fn flatten(prefix: &str, m: Map<String, Value>, delimiter: &str, out: &mut Map<String, Value>) {
    for (k, v) in m {
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}{delimiter}{k}")
        };
        match v {
            Value::Object(inner) => flatten(&name, inner, delimiter, out),
            other => {
                out.insert(name, other);
            }
        }
    }
}

fn mask(v: &Value, replacement: Option<&str>) -> Result<Value, String> {
    Ok(match (v, replacement) {
        (Value::Null, _) => Value::Null,
        (Value::String(_), Some(r)) => Value::String(r.to_string()),
        (Value::Number(n), Some(r)) => {
            let r = r.trim();
            let parsed = if n.is_f64() {
                r.parse::<f64>().ok().and_then(Number::from_f64)
            } else {
                r.parse::<i64>().ok().map(Number::from)
            };
            Value::Number(
                parsed.ok_or_else(|| format!("Unable to convert {r} ({}) to number", kind(v)))?,
            )
        }
        (other, Some(_)) => {
            return Err(format!(
                "Cannot mask value of type {} with custom replacement",
                kind(other)
            ));
        }
        (Value::Bool(_), None) => Value::Bool(false),
        (Value::Number(n), None) if n.is_f64() => Value::from(0.0),
        (Value::Number(_), None) => Value::from(0),
        (Value::String(_), None) => Value::String(String::new()),
        (Value::Array(_), None) => Value::Array(Vec::new()),
        (Value::Object(_), None) => Value::Object(Map::new()),
    })
}

fn cast(v: &Value, to: CastType) -> Result<Value, String> {
    let fail = || {
        format!(
            "Cast: {} value {v} cannot be cast to {}",
            kind(v),
            to.name()
        )
    };
    let integer = |min: i64, max: i64| -> Result<Value, String> {
        let i = match v {
            Value::Bool(b) => i64::from(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => i,
                None => {
                    let f = n.as_f64().ok_or_else(fail)?.trunc();
                    if f < min as f64 || f > max as f64 {
                        return Err(fail());
                    }
                    f as i64
                }
            },
            Value::String(s) => s.parse().map_err(|_| fail())?,
            _ => return Err(fail()),
        };
        if i < min || i > max {
            return Err(fail());
        }
        Ok(Value::from(i))
    };
    match v {
        Value::Null => return Ok(Value::Null),
        Value::Array(_) | Value::Object(_) => {
            return Err(format!(
                "Cast transformation does not support casting from {}",
                kind(v)
            ));
        }
        _ => {}
    }
    match to {
        CastType::Int8 => integer(i8::MIN.into(), i8::MAX.into()),
        CastType::Int16 => integer(i16::MIN.into(), i16::MAX.into()),
        CastType::Int32 => integer(i32::MIN.into(), i32::MAX.into()),
        CastType::Int64 => integer(i64::MIN, i64::MAX),
        CastType::Float32 | CastType::Float64 => {
            let f = match v {
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::Number(n) => n.as_f64().ok_or_else(fail)?,
                Value::String(s) => s.trim().parse().map_err(|_| fail())?,
                _ => return Err(fail()),
            };
            let f = if to == CastType::Float32 {
                f as f32 as f64
            } else {
                f
            };
            Number::from_f64(f).map(Value::Number).ok_or_else(fail)
        }
        CastType::Boolean => Ok(Value::Bool(match v {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
            _ => return Err(fail()),
        })),
        CastType::String => Ok(Value::String(match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) if n.is_f64() => {
                java_float_string(n.as_f64().unwrap_or_default(), false)
            }
            Value::Number(n) => n.to_string(),
            _ => return Err(fail()),
        })),
    }
}
