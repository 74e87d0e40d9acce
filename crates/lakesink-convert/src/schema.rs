//! The Kafka Connect data model (`org.apache.kafka.connect.data.Schema`) as JsonConverter
//! writes it in its envelopes, and its mapping to Arrow and to Avro (as Confluent's
//! `AvroData.fromConnectSchema` does, so Avro files carry the same schema as the anchor's).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use serde_json::{Value, json};

pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub const DATE: &str = "org.apache.kafka.connect.data.Date";
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array(Box<ConnectSchema>),
    Map(Box<ConnectSchema>, Box<ConnectSchema>),
    Struct(Vec<(String, ConnectSchema)>),
}

/// A Connect schema: type, optionality, name/version/doc, parameters and default.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSchema {
    pub ty: ConnectType,
    pub optional: bool,
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    pub parameters: BTreeMap<String, String>,
    pub default: Option<Value>,
}

/// Logical types, recognised by schema name as Connect does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logical {
    Decimal { scale: i8, precision: u8 },
    Date,
    Time,
    Timestamp,
}

impl ConnectSchema {
    /// A required schema of type `ty` with no name, parameters or default.
    pub fn of(ty: ConnectType) -> ConnectSchema {
        ConnectSchema {
            ty,
            optional: false,
            name: None,
            version: None,
            doc: None,
            parameters: BTreeMap::new(),
            default: None,
        }
    }

    /// Parses the `schema` member of a JsonConverter envelope.
    pub fn from_json(v: &Value) -> Result<ConnectSchema, String> {
        Self::parse(v, "schema")
    }

    fn parse(v: &Value, path: &str) -> Result<ConnectSchema, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{path}: a schema must be a JSON object"))?;
        let ty_name = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{path}: schema has no \"type\""))?;
        let ty = match ty_name {
            "int8" => ConnectType::Int8,
            "int16" => ConnectType::Int16,
            "int32" => ConnectType::Int32,
            "int64" => ConnectType::Int64,
            "float" => ConnectType::Float32,
            "double" => ConnectType::Float64,
            "boolean" => ConnectType::Boolean,
            "string" => ConnectType::String,
            "bytes" => ConnectType::Bytes,
            "array" => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| format!("{path}: array schema has no \"items\""))?;
                ConnectType::Array(Box::new(Self::parse(items, &format!("{path}.items"))?))
            }
            "map" => {
                let keys = obj
                    .get("keys")
                    .ok_or_else(|| format!("{path}: map schema has no \"keys\""))?;
                let values = obj
                    .get("values")
                    .ok_or_else(|| format!("{path}: map schema has no \"values\""))?;
                ConnectType::Map(
                    Box::new(Self::parse(keys, &format!("{path}.keys"))?),
                    Box::new(Self::parse(values, &format!("{path}.values"))?),
                )
            }
            "struct" => {
                let fields = obj
                    .get("fields")
                    .and_then(Value::as_array)
                    .ok_or_else(|| format!("{path}: struct schema has no \"fields\" array"))?;
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    let name = f
                        .get("field")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("{path}: struct field has no \"field\" name"))?;
                    if out.iter().any(|(n, _)| n == name) {
                        return Err(format!("{path}: duplicate field \"{name}\""));
                    }
                    out.push((name.to_string(), Self::parse(f, &format!("{path}.{name}"))?));
                }
                ConnectType::Struct(out)
            }
            other => return Err(format!("{path}: unknown schema type \"{other}\"")),
        };
        let parameters = obj
            .get("parameters")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        let text = v
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string());
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let schema = ConnectSchema {
            ty,
            optional: obj
                .get("optional")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            name: obj.get("name").and_then(Value::as_str).map(String::from),
            version: obj.get("version").and_then(Value::as_i64).map(|v| v as i32),
            doc: obj.get("doc").and_then(Value::as_str).map(String::from),
            parameters,
            default: obj.get("default").filter(|d| !d.is_null()).cloned(),
        };
        if let Some(Logical::Decimal { .. }) = schema.logical()
            && schema.ty != ConnectType::Bytes
        {
            return Err(format!("{path}: Decimal must have type bytes"));
        }
        Ok(schema)
    }

    pub fn logical(&self) -> Option<Logical> {
        match self.name.as_deref()? {
            DECIMAL => {
                let scale = self
                    .parameters
                    .get("scale")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let precision = self
                    .parameters
                    .get("connect.decimal.precision")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(38);
                Some(Logical::Decimal {
                    scale,
                    precision: precision.clamp(1, 38),
                })
            }
            DATE if self.ty == ConnectType::Int32 => Some(Logical::Date),
            TIME if self.ty == ConnectType::Int32 => Some(Logical::Time),
            TIMESTAMP if self.ty == ConnectType::Int64 => Some(Logical::Timestamp),
            _ => None,
        }
    }

    /// The Arrow type of values of this schema.
    pub fn arrow_type(&self) -> DataType {
        if let Some(l) = self.logical() {
            return match l {
                Logical::Decimal { scale, precision } => DataType::Decimal128(precision, scale),
                Logical::Date => DataType::Date32,
                Logical::Time => DataType::Time32(TimeUnit::Millisecond),
                Logical::Timestamp => {
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
                }
            };
        }
        match &self.ty {
            ConnectType::Int8 => DataType::Int8,
            ConnectType::Int16 => DataType::Int16,
            ConnectType::Int32 => DataType::Int32,
            ConnectType::Int64 => DataType::Int64,
            ConnectType::Float32 => DataType::Float32,
            ConnectType::Float64 => DataType::Float64,
            ConnectType::Boolean => DataType::Boolean,
            ConnectType::String => DataType::Utf8,
            ConnectType::Bytes => DataType::Binary,
            ConnectType::Array(items) => DataType::List(Arc::new(Field::new(
                "element",
                items.arrow_type(),
                items.optional,
            ))),
            ConnectType::Map(k, v) => {
                let entries = Fields::from(vec![
                    Field::new("key", k.arrow_type(), false),
                    Field::new("value", v.arrow_type(), v.optional),
                ]);
                DataType::Map(
                    Arc::new(Field::new("key_value", DataType::Struct(entries), false)),
                    false,
                )
            }
            ConnectType::Struct(fields) => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(n, s)| Field::new(n, s.arrow_type(), s.optional))
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// The Arrow schema of a batch of values: a struct's fields become top-level columns;
    /// any other value is one column named `value`.
    pub fn arrow_schema(&self) -> Schema {
        match &self.ty {
            ConnectType::Struct(fields) => Schema::new(
                fields
                    .iter()
                    .map(|(n, s)| Field::new(n, s.arrow_type(), s.optional))
                    .collect::<Vec<_>>(),
            ),
            _ => Schema::new(vec![Field::new("value", self.arrow_type(), self.optional)]),
        }
    }

    /// The Avro schema Confluent's `AvroData` (with `connect.meta.data=true`) gives this schema.
    pub fn avro_schema(&self) -> Value {
        let mut counter = 0;
        self.avro(&mut counter, true)
    }

    fn avro(&self, counter: &mut usize, top: bool) -> Value {
        let base = self.avro_non_optional(counter, top);
        if self.optional {
            json!(["null", base])
        } else {
            base
        }
    }

    fn connect_props(&self, out: &mut serde_json::Map<String, Value>) {
        if let Some(doc) = &self.doc {
            out.insert("connect.doc".into(), json!(doc));
        }
        if let Some(v) = self.version {
            out.insert("connect.version".into(), json!(v));
        }
        if !self.parameters.is_empty() {
            out.insert("connect.parameters".into(), json!(self.parameters));
        }
        if let Some(d) = &self.default {
            out.insert("connect.default".into(), d.clone());
        }
        if let Some(n) = &self.name {
            out.insert("connect.name".into(), json!(n));
        }
    }

    fn avro_non_optional(&self, counter: &mut usize, top: bool) -> Value {
        let mut obj = serde_json::Map::new();
        let prim = |t: &str| json!(t);
        let ty = match &self.ty {
            ConnectType::Int8 | ConnectType::Int16 => {
                obj.insert("type".into(), prim("int"));
                let ct = if self.ty == ConnectType::Int8 {
                    "int8"
                } else {
                    "int16"
                };
                obj.insert("connect.type".into(), json!(ct));
                None
            }
            ConnectType::Int32 => Some("int"),
            ConnectType::Int64 => Some("long"),
            ConnectType::Float32 => Some("float"),
            ConnectType::Float64 => Some("double"),
            ConnectType::Boolean => Some("boolean"),
            ConnectType::String => Some("string"),
            ConnectType::Bytes => Some("bytes"),
            ConnectType::Array(items) => {
                obj.insert("type".into(), json!("array"));
                obj.insert("items".into(), items.avro(counter, false));
                None
            }
            ConnectType::Map(k, v) if k.ty == ConnectType::String && !k.optional => {
                obj.insert("type".into(), json!("map"));
                obj.insert("values".into(), v.avro(counter, false));
                None
            }
            ConnectType::Map(k, v) => {
                // Non-string keys: an array of key/value records, as AvroData writes them.
                obj.insert("type".into(), json!("array"));
                obj.insert(
                    "items".into(),
                    json!({
                        "type": "record",
                        "name": "MapEntry",
                        "namespace": "io.confluent.connect.avro",
                        "fields": [
                            {"name": "key", "type": k.avro(counter, false)},
                            {"name": "value", "type": v.avro(counter, false)}
                        ]
                    }),
                );
                None
            }
            ConnectType::Struct(fields) => {
                obj.insert("type".into(), json!("record"));
                let (namespace, name) = match self.name.as_deref() {
                    Some(full) => match full.rsplit_once('.') {
                        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
                        None => (None, full.to_string()),
                    },
                    None => {
                        *counter += 1;
                        let n = if *counter == 1 {
                            "ConnectDefault".to_string()
                        } else {
                            format!("ConnectDefault{counter}")
                        };
                        (Some("io.confluent.connect.avro".to_string()), n)
                    }
                };
                obj.insert("name".into(), json!(sanitize_avro_name(&name)));
                if let Some(ns) = namespace {
                    obj.insert("namespace".into(), json!(ns));
                }
                let avro_fields: Vec<Value> = fields
                    .iter()
                    .map(|(n, s)| {
                        let mut f = serde_json::Map::new();
                        f.insert("name".into(), json!(sanitize_avro_name(n)));
                        f.insert("type".into(), s.avro(counter, false));
                        if s.optional && s.default.is_none() {
                            f.insert("default".into(), Value::Null);
                        } else if let Some(d) = &s.default {
                            f.insert("default".into(), d.clone());
                        }
                        Value::Object(f)
                    })
                    .collect();
                obj.insert("fields".into(), Value::Array(avro_fields));
                self.connect_props(&mut obj);
                return Value::Object(obj);
            }
        };
        if let Some(t) = ty {
            obj.insert("type".into(), prim(t));
        }
        match self.logical() {
            Some(Logical::Decimal { scale, precision }) => {
                obj.insert("logicalType".into(), json!("decimal"));
                obj.insert("precision".into(), json!(precision));
                obj.insert("scale".into(), json!(scale));
            }
            Some(Logical::Date) => {
                obj.insert("logicalType".into(), json!("date"));
            }
            Some(Logical::Time) => {
                obj.insert("logicalType".into(), json!("time-millis"));
            }
            Some(Logical::Timestamp) => {
                obj.insert("logicalType".into(), json!("timestamp-millis"));
            }
            None => {}
        }
        let _ = top;
        self.connect_props(&mut obj);
        if obj.len() == 1 {
            return obj.remove("type").unwrap_or(Value::Null);
        }
        Value::Object(obj)
    }
}

/// Avro names are `[A-Za-z_][A-Za-z0-9_]*`; Connect field names may hold other characters.
pub fn sanitize_avro_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_envelope_schema_and_maps_types() {
        let s = ConnectSchema::from_json(&json!({
            "type": "struct", "name": "com.example.Order", "version": 2, "optional": false,
            "fields": [
                {"field": "id", "type": "int64", "optional": false},
                {"field": "note", "type": "string", "optional": true},
                {"field": "tags", "type": "array", "items": {"type": "string"}, "optional": false},
                {"field": "amount", "type": "bytes", "name": DECIMAL, "parameters": {"scale": "2"}, "optional": false},
                {"field": "at", "type": "int64", "name": TIMESTAMP, "optional": false}
            ]
        }))
        .unwrap();
        let arrow = s.arrow_schema();
        assert_eq!(arrow.fields().len(), 5);
        assert_eq!(arrow.field(0).data_type(), &DataType::Int64);
        assert!(arrow.field(1).is_nullable());
        assert_eq!(arrow.field(3).data_type(), &DataType::Decimal128(38, 2));
        let avro = s.avro_schema();
        assert_eq!(avro["name"], "Order");
        assert_eq!(avro["namespace"], "com.example");
        assert_eq!(avro["connect.version"], 2);
        assert_eq!(avro["fields"][1]["type"], json!(["null", "string"]));
        assert_eq!(avro["fields"][1]["default"], Value::Null);
        assert_eq!(avro["fields"][3]["type"]["logicalType"], "decimal");
        assert_eq!(avro["fields"][4]["type"]["logicalType"], "timestamp-millis");
    }

    #[test]
    fn rejects_bad_schemas_with_a_path() {
        let e = ConnectSchema::from_json(
            &json!({"type": "struct", "fields": [{"field": "a", "type": "int33"}]}),
        )
        .unwrap_err();
        assert_eq!(e, "schema.a: unknown schema type \"int33\"");
    }
}
