//! Protobuf values of Confluent's wire format (`ProtobufConverter`): message indexes, then the
//! message, read into Arrow columns through the Connect schema that Confluent's
//! `ProtobufData` gives the message type.
//!
//! Owns: reading the message indexes after the schema id; compiling one message type of a
//! registered `.proto` file into the [`ConnectSchema`] that `ProtobufData.toConnectSchema`
//! gives it under `ProtobufConverter`'s default settings (`enhanced.protobuf.schema.support`,
//! `int.for.enums`, `optional.for.nullables`, `wrapper.for.nullables`,
//! `generate.struct.for.nulls` and `flatten.unions` off; `optional.for.proto2`,
//! `wrapper.for.raw.primitives` and `generate.index.for.unions` on), plus a decode plan; and
//! appending one message at a time to the column builders of that schema, with the values
//! `ProtobufData.toConnectData` gives.
//!
//! Parsing the schema text and resolving its imports is the registry crate's
//! `ProtobufSchema::parse`; this module only reads the resulting descriptors. Messages are
//! decoded with `prost_reflect::DynamicMessage`, which already implements the wire rules
//! (last value wins, repeated embedded messages merge, packed and unpacked lists, oneof
//! members replacing each other, unknown fields skipped), then walked into the builders.
//!
//! Must not touch: the Schema Registry (schemas arrive as text), Kafka, storage.

use std::collections::BTreeMap;

use lakesink_schema::protobuf::ProtobufSchema;
use prost_reflect::{
    Cardinality, DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    Value,
};

use crate::RowDecoder;
use crate::columns::ColumnBuilder;
use crate::failure::{Fail, Seg, fail, push_offset};
use crate::schema::{ConnectSchema, ConnectType, DATE, DECIMAL, Logical, TIME, TIMESTAMP};

/// Connect schema name prefix of a oneof's struct.
pub const UNION_PREFIX: &str = "io.confluent.connect.protobuf.Union.";
/// Parameter naming a Protobuf enum; `ENUM.<symbol>` parameters give each symbol's number.
pub const ENUM: &str = "io.confluent.connect.protobuf.Enum";
/// Parameter giving a field's number.
pub const TAG: &str = "io.confluent.connect.protobuf.Tag";
/// Parameter giving the Protobuf type of an integer that is not plain `int32`/`int64`.
pub const TYPE: &str = "io.confluent.connect.protobuf.Type";
const DECIMAL_PRECISION: &str = "connect.decimal.precision";
/// More indexes than this cannot be a real nesting path; a count this large is corrupt data.
const MAX_INDEXES: usize = 100;

/// A registered Protobuf schema: a `.proto` file whose messages the message indexes pick.
#[derive(Debug)]
pub struct ProtobufFile {
    schema: ProtobufSchema,
}

impl ProtobufFile {
    /// `schema`: the schema text (`.proto` or base64 descriptor), `references`: (import
    /// name, schema text) of imported files, dependencies first.
    pub fn new(schema: &str, references: &[(String, String)]) -> Result<Self, String> {
        Ok(ProtobufFile {
            schema: ProtobufSchema::parse(schema, references)?,
        })
    }

    /// The decoder of the message the indexes name (`[0]`: the file's first message).
    pub fn message(&self, indexes: &[i32]) -> Result<ProtobufDecoder, String> {
        ProtobufDecoder::new(self.message_type(indexes)?)
    }

    /// The full name of the message the indexes name (`package.Outer.Inner`).
    pub fn message_name(&self, indexes: &[i32]) -> Result<String, String> {
        self.message_type(indexes)
            .map(|m| m.full_name().to_string())
    }

    /// Follows the indexes: the first picks a top-level message in file order, each next one
    /// a message nested in the previous, in declaration order.
    ///
    /// Nested messages count as Confluent's deserializer (`ProtobufSchema.toMessageName`)
    /// counts the message elements of the registry's `.proto` text: entry types of fields
    /// written as `map<K, V>` do not count, entry messages the text declares (as the registry
    /// prints a registered descriptor's maps) do, where they stand
    /// ([`ProtobufSchema::nested_messages`]).
    fn message_type(&self, indexes: &[i32]) -> Result<MessageDescriptor, String> {
        let indexes = if indexes.is_empty() {
            &[0][..]
        } else {
            indexes
        };
        let pick = |candidates: Vec<MessageDescriptor>, i: i32, within: &str| {
            usize::try_from(i)
                .ok()
                .and_then(|i| candidates.get(i).cloned())
                .ok_or_else(|| {
                    format!(
                        "message index {i} does not name a message: {within} has {} message type(s)",
                        candidates.len()
                    )
                })
        };
        let mut message = pick(
            self.schema.file().messages().collect(),
            indexes[0],
            "the schema file",
        )?;
        for &i in &indexes[1..] {
            let within = format!("message {}", message.full_name());
            message = pick(self.schema.nested_messages(&message), i, &within)?;
        }
        Ok(message)
    }
}

/// Reads the message indexes that follow the schema id: returns them and the bytes used.
///
/// A zig-zag varint count, then that many zig-zag varint indexes; a count of 0 (the single
/// byte 0 serializers write for the first message) stands for `[0]`.
pub fn read_message_indexes(bytes: &[u8]) -> Result<(Vec<i32>, usize), String> {
    let mut pos = 0;
    let count = read_zigzag(bytes, &mut pos).map_err(|e| format!("message index count: {e}"))?;
    if count == 0 {
        return Ok((vec![0], pos));
    }
    let count = usize::try_from(count)
        .map_err(|_| format!("negative message index count {count} (corrupt data?)"))?;
    // Each index takes at least one byte.
    if count > MAX_INDEXES || count > bytes.len() - pos {
        return Err(format!(
            "message index count {count} is impossible: {} byte(s) follow it (corrupt data?)",
            bytes.len() - pos
        ));
    }
    let mut indexes = Vec::with_capacity(count);
    for n in 0..count {
        let i = read_zigzag(bytes, &mut pos).map_err(|e| format!("message index {n}: {e}"))?;
        if i < 0 {
            return Err(format!("negative message index {i} (corrupt data?)"));
        }
        indexes.push(i);
    }
    Ok((indexes, pos))
}

/// One zig-zag varint of at most 32 bits (Java `ByteUtils.readVarint`).
fn read_zigzag(bytes: &[u8], pos: &mut usize) -> Result<i32, String> {
    let mut raw: u32 = 0;
    for shift in (0..35).step_by(7) {
        let Some(&b) = bytes.get(*pos) else {
            return Err("truncated varint (the value ends before the message indexes do)".into());
        };
        *pos += 1;
        raw |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i32 ^ -((raw & 1) as i32));
        }
    }
    Err("varint longer than 5 bytes (corrupt data?)".into())
}

/// One Protobuf message type compiled for decoding.
#[derive(Debug)]
pub struct ProtobufDecoder {
    connect: ConnectSchema,
    message: MessageDescriptor,
    top: Top,
}

/// How a message spreads over the row's columns.
#[derive(Debug)]
enum Top {
    /// One column per Connect field.
    Fields(Vec<Slot>),
    /// A wrapper message (`google.protobuf.StringValue`...) at the top: its `value` field is
    /// the whole value (`wrapper.for.raw.primitives=true`).
    Unwrapped(FieldDescriptor, Node),
}

/// One Connect field of a message struct.
#[derive(Debug)]
enum Slot {
    /// A field outside any oneof. `if_set`: null unless present on the wire (message fields
    /// and fields with explicit presence); otherwise unset reads as the default value.
    Field {
        field: FieldDescriptor,
        node: Node,
        if_set: bool,
    },
    /// A oneof: a struct with one optional field per member, at most one of them set.
    Oneof(Vec<(FieldDescriptor, Node)>),
}

/// How one Protobuf value is appended; each node appends to the builder made from its
/// Connect schema.
#[derive(Debug)]
enum Node {
    /// A scalar the Value variant and the builder determine (integers, floats, bool, string,
    /// bytes).
    Scalar,
    Enum(EnumDescriptor),
    Timestamp,
    Date,
    Time,
    /// `confluent.type.Decimal`: `scale` of the Connect schema, `limit` = 10^precision of the
    /// Arrow type.
    Decimal {
        scale: i32,
        limit: i128,
    },
    Message(Vec<Slot>),
    List(Box<Node>),
    Map {
        key: Box<Node>,
        value: Box<Node>,
    },
}

impl ProtobufDecoder {
    fn new(message: MessageDescriptor) -> Result<ProtobufDecoder, String> {
        let mut c = Compiler::default();
        let (connect, top) = match unwrapped_schema(&message) {
            Some(connect) => {
                let field = message
                    .get_field_by_name("value")
                    .ok_or_else(|| format!("{} has no field 'value'", message.full_name()))?;
                (connect, Top::Unwrapped(field, Node::Scalar))
            }
            None => {
                let (connect, slots) = c.message(&message)?;
                (connect, Top::Fields(slots))
            }
        };
        Ok(ProtobufDecoder {
            connect,
            message,
            top,
        })
    }
}

impl RowDecoder for ProtobufDecoder {
    fn connect_schema(&self) -> &ConnectSchema {
        &self.connect
    }

    fn decode_row(&self, payload: &[u8], columns: &mut [ColumnBuilder]) -> Result<(), String> {
        let message = DynamicMessage::decode(self.message.clone(), payload).map_err(|e| {
            format!(
                "invalid Protobuf message {}: {e} (wrong schema id or message indexes, or corrupt data)",
                self.message.full_name()
            )
        })?;
        match &self.top {
            Top::Fields(slots) => {
                if columns.len() != slots.len() {
                    return Err(format!(
                        "{} column builders for {} fields",
                        columns.len(),
                        slots.len()
                    ));
                }
                append_slots(slots, &message, columns)
            }
            Top::Unwrapped(field, node) => {
                let [col] = columns else {
                    return Err(format!("{} column builders for one value", columns.len()));
                };
                append(node, &message.get_field(field), col)
            }
        }
        .map_err(|f| f.to_string())
    }
}

// ---------------------------------------------------------------------------------------
// Connect schemas (ProtobufData.toConnectSchema)

fn schema(ty: ConnectType) -> ConnectSchema {
    ConnectSchema::of(ty)
}

/// The primitive a wrapper message stands for at the top level (`toUnwrappedSchema`).
fn unwrapped_schema(message: &MessageDescriptor) -> Option<ConnectSchema> {
    let ty = match message.full_name() {
        "google.protobuf.DoubleValue" => ConnectType::Float64,
        "google.protobuf.FloatValue" => ConnectType::Float32,
        "google.protobuf.Int64Value"
        | "google.protobuf.UInt64Value"
        | "google.protobuf.UInt32Value" => ConnectType::Int64,
        "google.protobuf.Int32Value" => ConnectType::Int32,
        "google.protobuf.BoolValue" => ConnectType::Boolean,
        "google.protobuf.StringValue" => ConnectType::String,
        "google.protobuf.BytesValue" => ConnectType::Bytes,
        _ => return None,
    };
    Some(schema(ty))
}

/// Guava's `UPPER_CAMEL.to(LOWER_UNDERSCORE, s)`: every upper-case letter starts a word.
fn lower_underscore(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `ProtobufSchema.toMapField`: the Connect name of a map, from its entry type's name.
fn map_name(entry: &str) -> String {
    match entry.strip_suffix("Entry") {
        Some(base) => lower_underscore(base),
        None => entry.to_string(),
    }
}

/// ProtobufData's `isMapDescriptor`: a repeated `...Entry` message of exactly the fields
/// `key` and `value`, neither repeated (by shape, not by the `map_entry` option).
fn map_entry(field: &FieldDescriptor) -> Option<(FieldDescriptor, FieldDescriptor)> {
    if !field.is_list() && !field.is_map() {
        return None;
    }
    let Kind::Message(entry) = field.kind() else {
        return None;
    };
    let fields = declared_fields(&entry);
    match fields.as_slice() {
        [k, v]
            if entry.name().ends_with("Entry")
                && k.name() == "key"
                && v.name() == "value"
                && !k.is_list()
                && !v.is_list() =>
        {
            Some((k.clone(), v.clone()))
        }
        _ => None,
    }
}

/// A message's fields in declaration order (Java's `getFields()`; prost-reflect's `fields()`
/// goes by number).
fn declared_fields(message: &MessageDescriptor) -> Vec<FieldDescriptor> {
    message
        .descriptor_proto()
        .field
        .iter()
        .filter_map(|f| u32::try_from(f.number()).ok())
        .filter_map(|n| message.get_field(n))
        .collect()
}

/// Whether the field is in a oneof written by the user (not proto3 `optional`'s synthetic one).
fn in_real_oneof(field: &FieldDescriptor) -> bool {
    field.containing_oneof().is_some_and(|o| !o.is_synthetic())
}

/// ProtobufData's `isOptional` with `optional.for.proto2=true`: declared `optional` in proto3,
/// or an optional proto2 field outside a oneof.
fn has_optional_keyword(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    if proto.proto3_optional() {
        return true;
    }
    let syntax = field
        .parent_file()
        .file_descriptor_proto()
        .syntax()
        .to_string();
    (syntax.is_empty() || syntax == "proto2")
        && field.cardinality() == Cardinality::Optional
        && field.containing_oneof().is_none()
}

/// The `params` of a field's `(confluent.field_meta)` option (the pool resolves custom
/// options, from `.proto` source too, when `confluent/meta.proto` is imported).
fn field_meta_params(field: &FieldDescriptor) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let Some(ext) = field
        .parent_pool()
        .get_extension_by_name("confluent.field_meta")
    else {
        return params;
    };
    let options = field.options();
    if options.has_extension(&ext)
        && let Value::Message(meta) = options.get_extension(&ext).as_ref()
        && let Some(map) = meta.get_field_by_name("params")
        && let Value::Map(map) = map.as_ref()
    {
        for (k, v) in map {
            if let (MapKey::String(k), Some(v)) = (k, v.as_str()) {
                params.insert(k.clone(), v.to_string());
            }
        }
    }
    params
}

/// The fields of a Connect struct schema, in order.
type StructFields = Vec<(String, ConnectSchema)>;

/// Compiles message types into Connect schemas and decode plans.
#[derive(Default)]
struct Compiler {
    /// Full names of the messages being compiled, outermost first: meeting one again is a
    /// recursive type.
    open: Vec<String>,
}

impl Compiler {
    /// A message as a (required) Connect struct named with its simple name: the real oneofs
    /// first, each as a union struct, then the other fields in declaration order.
    fn message(
        &mut self,
        message: &MessageDescriptor,
    ) -> Result<(ConnectSchema, Vec<Slot>), String> {
        let name = message.full_name().to_string();
        if self.open.contains(&name) {
            return Err(format!(
                "message type {name} is recursive ({} -> {name}); Connect schemas cannot express recursive types",
                self.open.join(" -> ")
            ));
        }
        self.open.push(name);
        let compiled = self.message_fields(message);
        self.open.pop();
        let (fields, slots) = compiled?;
        let mut connect = schema(ConnectType::Struct(fields));
        connect.name = Some(message.name().to_string());
        Ok((connect, slots))
    }

    fn message_fields(
        &mut self,
        message: &MessageDescriptor,
    ) -> Result<(StructFields, Vec<Slot>), String> {
        let mut fields = StructFields::new();
        let mut slots = Vec::new();
        let add = |fields: &mut StructFields, name: String, s| {
            if fields.iter().any(|(n, _)| *n == name) {
                return Err(format!(
                    "message {}: two Connect fields named '{name}' (a field and a oneof's '<name>_<index>')",
                    message.full_name()
                ));
            }
            fields.push((name, s));
            Ok(())
        };
        // The oneof's index counts all oneofs, the synthetic ones of proto3 `optional` too.
        for (index, oneof) in message.oneofs().enumerate() {
            if oneof.is_synthetic() {
                continue;
            }
            let mut members = Vec::new();
            let mut member_fields = Vec::new();
            for field in oneof.fields() {
                let (s, node) = self
                    .field(&field)
                    .map_err(|e| format!("{}.{}", oneof.name(), e))?;
                member_fields.push((field.name().to_string(), s));
                members.push((field, node));
            }
            let mut union = schema(ConnectType::Struct(member_fields));
            union.name = Some(format!("{UNION_PREFIX}{}", oneof.name()));
            union.optional = true;
            add(&mut fields, format!("{}_{index}", oneof.name()), union)?;
            slots.push(Slot::Oneof(members));
        }
        for field in declared_fields(message) {
            if in_real_oneof(&field) {
                continue;
            }
            let (s, node) = self.field(&field)?;
            // ProtobufData's setStructField: scalars and repeated fields without explicit
            // presence always have a value; the others only when present.
            let scalar_or_repeated =
                !matches!(field.kind(), Kind::Message(_)) || field.is_list() || field.is_map();
            let if_set = !scalar_or_repeated || has_optional_keyword(&field);
            add(&mut fields, field.name().to_string(), s)?;
            slots.push(Slot::Field {
                field,
                node,
                if_set,
            });
        }
        Ok((fields, slots))
    }

    /// A field's Connect schema (always optional, with its number as the `Tag` parameter)
    /// and plan. Errors start with the field's name.
    fn field(&mut self, field: &FieldDescriptor) -> Result<(ConnectSchema, Node), String> {
        let at = |e: String| format!("{}: {e}", field.name());
        if field.is_group() {
            return Err(at("proto2 groups have no Connect schema".into()));
        }
        let (mut s, node) = if let Some((k, v)) = map_entry(field) {
            let entry = match field.kind() {
                Kind::Message(m) => m.name().to_string(),
                _ => String::new(),
            };
            let (ks, kn) = self.field(&k).map_err(at)?;
            let (vs, vn) = self.field(&v).map_err(at)?;
            let mut s = schema(ConnectType::Map(Box::new(ks), Box::new(vs)));
            s.name = Some(map_name(&entry));
            let node = Node::Map {
                key: Box::new(kn),
                value: Box::new(vn),
            };
            (s, node)
        } else {
            let (s, node) = self.kind(field).map_err(at)?;
            if field.is_list() {
                let mut items = s;
                items.optional = true;
                (
                    schema(ConnectType::Array(Box::new(items))),
                    Node::List(Box::new(node)),
                )
            } else {
                (s, node)
            }
        };
        s.optional = true;
        s.parameters.insert(TAG.into(), field.number().to_string());
        Ok((s, node))
    }

    /// The schema of one value of a field's type (`toConnectSchema(FieldDescriptor)`'s switch).
    fn kind(&mut self, field: &FieldDescriptor) -> Result<(ConnectSchema, Node), String> {
        let with_type = |ty, proto: &str| {
            let mut s = schema(ty);
            s.parameters.insert(TYPE.into(), proto.into());
            (s, Node::Scalar)
        };
        let plain = |ty| (schema(ty), Node::Scalar);
        Ok(match field.kind() {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                let params = field_meta_params(field);
                match params.get("connect.type").map(String::as_str) {
                    Some("int8") => plain(ConnectType::Int8),
                    Some("int16") => plain(ConnectType::Int16),
                    _ => match field.kind() {
                        Kind::Sint32 => with_type(ConnectType::Int32, "sint32"),
                        Kind::Sfixed32 => with_type(ConnectType::Int32, "sfixed32"),
                        _ => plain(ConnectType::Int32),
                    },
                }
            }
            Kind::Int64 => plain(ConnectType::Int64),
            Kind::Uint32 => with_type(ConnectType::Int64, "uint32"),
            Kind::Fixed32 => with_type(ConnectType::Int64, "fixed32"),
            Kind::Uint64 => with_type(ConnectType::Int64, "uint64"),
            Kind::Sint64 => with_type(ConnectType::Int64, "sint64"),
            Kind::Fixed64 => with_type(ConnectType::Int64, "fixed64"),
            Kind::Sfixed64 => with_type(ConnectType::Int64, "sfixed64"),
            Kind::Float => plain(ConnectType::Float32),
            Kind::Double => plain(ConnectType::Float64),
            Kind::Bool => plain(ConnectType::Boolean),
            Kind::String => plain(ConnectType::String),
            Kind::Bytes => plain(ConnectType::Bytes),
            Kind::Enum(e) => {
                // Enums are strings of the symbol's name (`int.for.enums=false`).
                let mut s = schema(ConnectType::String);
                s.name = Some(e.name().to_string());
                s.parameters.insert(ENUM.into(), e.name().to_string());
                for v in e.values() {
                    s.parameters
                        .insert(format!("{ENUM}.{}", v.name()), v.number().to_string());
                }
                (s, Node::Enum(e))
            }
            Kind::Message(m) => match m.full_name() {
                "confluent.type.Decimal" => {
                    let params = field_meta_params(field);
                    let scale = params
                        .get("scale")
                        .and_then(|s| s.parse::<i32>().ok())
                        .unwrap_or(0);
                    let mut s = logical(ConnectType::Bytes, DECIMAL);
                    s.parameters.insert("scale".into(), scale.to_string());
                    if let Some(p) = params.get("precision").and_then(|p| p.parse::<i32>().ok()) {
                        s.parameters.insert(DECIMAL_PRECISION.into(), p.to_string());
                    }
                    let node = decimal_node(&s, scale)?;
                    (s, node)
                }
                "google.type.Date" => (logical(ConnectType::Int32, DATE), Node::Date),
                "google.type.TimeOfDay" => (logical(ConnectType::Int32, TIME), Node::Time),
                "google.protobuf.Timestamp" => {
                    (logical(ConnectType::Int64, TIMESTAMP), Node::Timestamp)
                }
                "confluent.type.Variant" => {
                    return Err("confluent.type.Variant values are not supported".into());
                }
                // Wrapper types stay structs with a `value` field (`wrapper.for.nullables=false`).
                _ => {
                    let (s, slots) = self.message(&m)?;
                    (s, Node::Message(slots))
                }
            },
        })
    }
}

/// A Connect logical type's schema (`Timestamp.builder()`...: named, version 1).
fn logical(ty: ConnectType, name: &str) -> ConnectSchema {
    let mut s = schema(ty);
    s.name = Some(name.into());
    s.version = Some(1);
    s
}

/// The plan of a Decimal schema, refusing scales Arrow cannot hold.
fn decimal_node(s: &ConnectSchema, declared: i32) -> Result<Node, String> {
    let Some(Logical::Decimal { scale, precision }) = s.logical() else {
        return Err("internal: Decimal schema without Decimal logical type".into());
    };
    if declared < 0 || declared != i32::from(scale) || scale as u8 > precision {
        return Err(format!(
            "Decimal scale {declared} must be between 0 and the precision {precision}"
        ));
    }
    Ok(Node::Decimal {
        scale: declared,
        limit: 10i128.pow(u32::from(precision)),
    })
}

// ---------------------------------------------------------------------------------------
// Values (ProtobufData.toConnectData)

fn mismatch(value: &Value) -> Fail {
    fail(format!(
        "internal: value {value:?} does not match the column builder"
    ))
}

/// Appends a message's fields, one column per slot.
fn append_slots(
    slots: &[Slot],
    message: &DynamicMessage,
    columns: &mut [ColumnBuilder],
) -> Result<(), Fail> {
    for (slot, col) in slots.iter().zip(columns.iter_mut()) {
        match slot {
            Slot::Field {
                field,
                node,
                if_set,
            } => {
                if *if_set && !message.has_field(field) {
                    col.append_null();
                } else {
                    append(node, &message.get_field(field), col)
                        .map_err(|e| e.at(Seg::Field(field.name().into())))?;
                }
            }
            Slot::Oneof(members) => {
                let set = members.iter().position(|(f, _)| message.has_field(f));
                let (
                    Some(set),
                    ColumnBuilder::Struct {
                        children,
                        nulls,
                        len,
                        ..
                    },
                ) = (set, &mut *col)
                else {
                    col.append_null();
                    continue;
                };
                for (i, ((field, node), child)) in
                    members.iter().zip(children.iter_mut()).enumerate()
                {
                    if i == set {
                        append(node, &message.get_field(field), child)
                            .map_err(|e| e.at(Seg::Field(field.name().into())))?;
                    } else {
                        child.append_null();
                    }
                }
                nulls.append_non_null();
                *len += 1;
            }
        }
    }
    Ok(())
}

/// An integer field of a well-known message, read by name as ProtobufData does (0 if unset).
fn int_field(message: &DynamicMessage, name: &str) -> i64 {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::I32(v)) => i64::from(*v),
        Some(Value::I64(v)) => *v,
        Some(Value::U32(v)) => i64::from(*v),
        Some(Value::U64(v)) => *v as i64,
        _ => 0,
    }
}

/// `Timestamps.toMillis`: a valid Timestamp (0001-01-01 to 9999-12-31, nanos within the
/// second) in milliseconds, nanos truncated.
fn timestamp_millis(m: &DynamicMessage) -> Result<i64, Fail> {
    let (seconds, nanos) = (int_field(m, "seconds"), int_field(m, "nanos"));
    if !(-62_135_596_800..=253_402_300_799).contains(&seconds)
        || !(0..1_000_000_000).contains(&nanos)
    {
        return Err(fail(format!(
            "invalid Timestamp (seconds {seconds}, nanos {nanos}): seconds must be within years 1 to 9999 and nanos within 0..999999999"
        )));
    }
    Ok(seconds * 1000 + nanos / 1_000_000)
}

/// Days since the epoch of a `google.type.Date`, as Java's non-lenient `GregorianCalendar`
/// in UTC reads it: the Julian calendar before 1582-10-15, and invalid dates refused (also
/// year 0, which google.type.Date allows for "no year").
fn date_days(m: &DynamicMessage) -> Result<i32, Fail> {
    let (y, mo, d) = (
        int_field(m, "year"),
        int_field(m, "month"),
        int_field(m, "day"),
    );
    let bad = || fail(format!("invalid Date {y}-{mo}-{d}"));
    if y < 1 || !(1..=12).contains(&mo) || d < 1 {
        return Err(bad());
    }
    let julian = (y, mo, d) < (1582, 10, 15);
    if (y, mo) == (1582, 10) && (5..15).contains(&d) {
        return Err(bad()); // skipped by the switch to the Gregorian calendar
    }
    let leap = if julian {
        y % 4 == 0
    } else {
        y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
    };
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > month_days[(mo - 1) as usize] {
        return Err(bad());
    }
    // Julian day number (Fliegel–Van Flandern), then days from 1970-01-01 (JDN 2440588).
    let a = (14 - mo) / 12;
    let yy = y + 4800 - a;
    let mm = mo + 12 * a - 3;
    let mut jdn = d + (153 * mm + 2) / 5 + 365 * yy + yy / 4;
    jdn += if julian {
        -32083
    } else {
        -yy / 100 + yy / 400 - 32045
    };
    i32::try_from(jdn - 2_440_588).map_err(|_| bad())
}

/// Milliseconds of the day of a `google.type.TimeOfDay` (`LocalTime.of` refuses out-of-range
/// parts, 24:00 included).
fn time_millis(m: &DynamicMessage) -> Result<i32, Fail> {
    let (h, mi, s, n) = (
        int_field(m, "hours"),
        int_field(m, "minutes"),
        int_field(m, "seconds"),
        int_field(m, "nanos"),
    );
    if !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0..60).contains(&s)
        || !(0..1_000_000_000).contains(&n)
    {
        return Err(fail(format!("invalid TimeOfDay {h}:{mi}:{s}.{n:09}")));
    }
    Ok(((h * 3600 + mi * 60 + s) * 1000 + n / 1_000_000) as i32)
}

/// The unscaled value of a `confluent.type.Decimal` at the schema's scale. Connect refuses a
/// value whose scale differs from the schema's (`Decimal.fromLogical`), and a `precision`
/// smaller than the digits makes `DecimalUtils` round to a different scale, so both are errors.
fn decimal_unscaled(m: &DynamicMessage, scale: i32, limit: i128) -> Result<i128, Fail> {
    let bytes = match m.get_field_by_name("value").as_deref() {
        Some(Value::Bytes(b)) => b.clone(),
        _ => Default::default(),
    };
    let Some(&first) = bytes.first() else {
        return Err(fail("a Decimal needs at least one byte of value".into()));
    };
    if bytes.len() > 16 {
        return Err(fail(format!(
            "a Decimal of {} bytes does not fit 128 bits",
            bytes.len()
        )));
    }
    let mut v: i128 = if first & 0x80 != 0 { -1 } else { 0 };
    for b in bytes.iter() {
        v = (v << 8) | i128::from(*b);
    }
    let own_scale = int_field(m, "scale");
    if own_scale != i64::from(scale) {
        return Err(fail(format!(
            "Decimal value has scale {own_scale}, the field's schema scale {scale}"
        )));
    }
    let digits = v.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
    let precision = int_field(m, "precision");
    if precision > 0 && i64::from(digits) > precision {
        return Err(fail(format!(
            "Decimal value {v} has more digits than its precision {precision}"
        )));
    }
    if v.unsigned_abs() >= limit.unsigned_abs() {
        return Err(fail(format!(
            "unscaled Decimal {v} has more digits than the column's precision"
        )));
    }
    Ok(v)
}

/// The enum's symbol; numbers the enum does not declare (open proto3 enums) read as Java's
/// `UNKNOWN_ENUM_VALUE_<Enum>_<number>`.
fn enum_name(e: &EnumDescriptor, n: i32) -> String {
    match e.get_value(n) {
        Some(v) => v.name().to_string(),
        None => format!("UNKNOWN_ENUM_VALUE_{}_{n}", e.name()),
    }
}

/// Appends one (non-null) value.
fn append(node: &Node, value: &Value, col: &mut ColumnBuilder) -> Result<(), Fail> {
    match (node, value, col) {
        (Node::Scalar, Value::I32(v), ColumnBuilder::I32(b)) => b.append_value(*v),
        // `connect.type` int8/int16: Java's `byteValue()`/`shortValue()` truncate.
        (Node::Scalar, Value::I32(v), ColumnBuilder::I8(b)) => b.append_value(*v as i8),
        (Node::Scalar, Value::I32(v), ColumnBuilder::I16(b)) => b.append_value(*v as i16),
        (Node::Scalar, Value::U32(v), ColumnBuilder::I64(b)) => b.append_value(i64::from(*v)),
        (Node::Scalar, Value::I64(v), ColumnBuilder::I64(b)) => b.append_value(*v),
        // uint64 and fixed64 are Java longs: values above 2^63-1 read negative.
        (Node::Scalar, Value::U64(v), ColumnBuilder::I64(b)) => b.append_value(*v as i64),
        (Node::Scalar, Value::F32(v), ColumnBuilder::F32(b)) => b.append_value(*v),
        (Node::Scalar, Value::F64(v), ColumnBuilder::F64(b)) => b.append_value(*v),
        (Node::Scalar, Value::Bool(v), ColumnBuilder::Bool(b)) => b.append_value(*v),
        (Node::Scalar, Value::String(v), ColumnBuilder::Utf8(b)) => b.append_value(v),
        (Node::Scalar, Value::Bytes(v), ColumnBuilder::Binary(b)) => b.append_value(v),
        (Node::Enum(e), Value::EnumNumber(n), ColumnBuilder::Utf8(b)) => {
            b.append_value(enum_name(e, *n))
        }
        (Node::Timestamp, Value::Message(m), ColumnBuilder::Timestamp(b)) => {
            b.append_value(timestamp_millis(m)?)
        }
        (Node::Date, Value::Message(m), ColumnBuilder::Date(b)) => b.append_value(date_days(m)?),
        (Node::Time, Value::Message(m), ColumnBuilder::Time(b)) => b.append_value(time_millis(m)?),
        (Node::Decimal { scale, limit }, Value::Message(m), ColumnBuilder::Decimal(b, _)) => {
            b.append_value(decimal_unscaled(m, *scale, *limit)?)
        }
        (
            Node::Message(slots),
            Value::Message(m),
            ColumnBuilder::Struct {
                children,
                nulls,
                len,
                ..
            },
        ) => {
            append_slots(slots, m, children)?;
            nulls.append_non_null();
            *len += 1;
        }
        (
            Node::List(item),
            Value::List(values),
            ColumnBuilder::List {
                offsets,
                nulls,
                items,
                ..
            },
        ) => {
            for (i, v) in values.iter().enumerate() {
                append(item, v, items).map_err(|e| e.at(Seg::Index(i)))?;
            }
            push_offset(offsets, values.len())?;
            nulls.append_non_null();
        }
        (
            Node::Map { key, value: vnode },
            value,
            ColumnBuilder::Map {
                offsets,
                nulls,
                keys,
                values,
                ..
            },
        ) => {
            let entries = map_entries(value)?;
            for (k, v) in &entries {
                let shown = || Seg::Key(format!("{k:?}"));
                append(key, &Value::from(k.clone()), keys).map_err(|e| e.at(shown()))?;
                append(vnode, v, values).map_err(|e| e.at(shown()))?;
            }
            push_offset(offsets, entries.len())?;
            nulls.append_non_null();
        }
        (_, value, _) => return Err(mismatch(value)),
    }
    Ok(())
}

/// A map's entries sorted by key. Protobuf leaves map order unspecified and Connect's map is a
/// `HashMap`; sorting makes equal maps write equal files. A repeated `...Entry` message that
/// ProtobufData reads as a map comes as a list: later keys replace earlier ones, as
/// `Map.put` does.
fn map_entries(value: &Value) -> Result<Vec<(MapKey, Value)>, Fail> {
    let mut out: Vec<(MapKey, Value)> = match value {
        Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::List(items) => {
            let mut map = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Message(entry) = item else {
                    return Err(mismatch(item));
                };
                let key = entry
                    .get_field_by_name("key")
                    .and_then(|k| k.into_owned().into_map_key())
                    .ok_or_else(|| {
                        fail("map keys must be integers, strings or booleans".into())
                            .at(Seg::Index(i))
                    })?;
                let v = entry
                    .get_field_by_name("value")
                    .map(|v| v.into_owned())
                    .ok_or_else(|| mismatch(item))?;
                map.insert(key, v);
            }
            return Ok(map.into_iter().collect());
        }
        other => return Err(mismatch(other)),
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, Time32MillisecondType,
        TimestampMillisecondType,
    };
    use arrow_array::{Array, ArrayRef};
    use prost::Message as _;

    const SCHEMA: &str = r#"
syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

message Order {
  int64 id = 1;
  string customer = 2;
  repeated Line lines = 3;
  map<string, int32> attrs = 4;
  Status status = 5;
  oneof payment {
    string card = 6;
    int64 voucher = 7;
  }
  google.protobuf.Timestamp placed_at = 8;
  google.protobuf.StringValue note = 9;
  Address address = 10;
  optional int32 priority = 11;
  uint32 u32 = 12;
  uint64 u64 = 13;
  sint32 s32 = 14;
  float ratio = 15;
  double total = 16;
  bool gift = 17;
  bytes blob = 18;
  repeated Status history = 19;

  message Address {
    string city = 1;
    message Geo { double lat = 1; double lon = 2; }
    Geo geo = 2;
  }
}

message Line {
  string sku = 1;
  int32 qty = 2;
}

enum Status {
  STATUS_UNSPECIFIED = 0;
  PAID = 1;
  SHIPPED = 2;
}
"#;

    fn file() -> ProtobufFile {
        ProtobufFile::new(SCHEMA, &[]).unwrap()
    }

    fn builders(d: &ProtobufDecoder) -> Vec<ColumnBuilder> {
        match &d.connect_schema().ty {
            ConnectType::Struct(fields) => fields
                .iter()
                .map(|(_, s)| ColumnBuilder::new(s, 4))
                .collect(),
            _ => vec![ColumnBuilder::new(d.connect_schema(), 4)],
        }
    }

    fn field<'a>(s: &'a ConnectSchema, name: &str) -> &'a ConnectSchema {
        match &s.ty {
            ConnectType::Struct(fields) => &fields.iter().find(|(n, _)| n == name).unwrap().1,
            other => panic!("not a struct: {other:?}"),
        }
    }

    fn names(s: &ConnectSchema) -> Vec<&str> {
        match &s.ty {
            ConnectType::Struct(fields) => fields.iter().map(|(n, _)| n.as_str()).collect(),
            _ => vec![],
        }
    }

    fn message(f: &ProtobufFile, indexes: &[i32]) -> DynamicMessage {
        DynamicMessage::new(f.message_type(indexes).unwrap())
    }

    fn set(m: &mut DynamicMessage, name: &str, v: Value) {
        m.set_field_by_name(name, v);
    }

    /// Decodes the encoded messages and returns the finished columns by name.
    fn decode_all(d: &ProtobufDecoder, payloads: &[Vec<u8>]) -> Vec<(String, ArrayRef)> {
        let mut cols = builders(d);
        for p in payloads {
            d.decode_row(p, &mut cols).unwrap();
        }
        let names: Vec<String> = match &d.connect_schema().ty {
            ConnectType::Struct(fields) => fields.iter().map(|(n, _)| n.clone()).collect(),
            _ => vec!["value".into()],
        };
        names
            .into_iter()
            .zip(cols.iter_mut().map(|c| c.finish()))
            .collect()
    }

    fn col<'a>(cols: &'a [(String, ArrayRef)], name: &str) -> &'a ArrayRef {
        &cols.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn reads_message_indexes() {
        assert_eq!(read_message_indexes(&[0, 0xAA]).unwrap(), (vec![0], 1));
        // count 2 (zig-zag 4), indexes 1 (2) and 0 (0)
        assert_eq!(
            read_message_indexes(&[4, 2, 0, 9]).unwrap(),
            (vec![1, 0], 3)
        );
        // count 1, index 200 (zig-zag 400 = 0x90 0x03)
        assert_eq!(
            read_message_indexes(&[2, 0x90, 0x03]).unwrap(),
            (vec![200], 3)
        );
        let e = read_message_indexes(&[]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = read_message_indexes(&[1]).unwrap_err();
        assert!(e.contains("negative message index count -1"), "{e}");
        let e = read_message_indexes(&[2, 3]).unwrap_err();
        assert!(e.contains("negative message index -2"), "{e}");
        let e = read_message_indexes(&[4, 2]).unwrap_err();
        assert!(e.contains("impossible"), "{e}");
        let e = read_message_indexes(&[0xfe, 0xff, 0xff, 0xff, 0x0f]).unwrap_err();
        assert!(e.contains("impossible"), "{e}");
        let e = read_message_indexes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).unwrap_err();
        assert!(e.contains("longer than 5 bytes"), "{e}");
        let e = read_message_indexes(&[4, 2, 0x80]).unwrap_err();
        assert!(e.contains("message index 1: truncated"), "{e}");
    }

    #[test]
    fn picks_messages_by_index_path() {
        let f = file();
        assert_eq!(f.message_type(&[]).unwrap().full_name(), "shop.v1.Order");
        assert_eq!(f.message_type(&[0]).unwrap().full_name(), "shop.v1.Order");
        assert_eq!(f.message_type(&[1]).unwrap().full_name(), "shop.v1.Line");
        // Order's map entry type AttrsEntry does not count.
        assert_eq!(
            f.message_type(&[0, 0]).unwrap().full_name(),
            "shop.v1.Order.Address"
        );
        assert!(f.message(&[0, 1]).is_err());
        assert_eq!(
            f.message_type(&[0, 0, 0]).unwrap().full_name(),
            "shop.v1.Order.Address.Geo"
        );
        let e = f.message(&[2]).unwrap_err();
        assert!(e.contains("the schema file has 2 message type(s)"), "{e}");
        let e = f.message(&[1, 0]).unwrap_err();
        assert!(e.contains("message shop.v1.Line has 0"), "{e}");
    }

    #[test]
    fn maps_the_schema_as_protobuf_data_does() {
        let d = file().message(&[0]).unwrap();
        let s = d.connect_schema();
        assert_eq!(s.name.as_deref(), Some("Order"));
        assert!(!s.optional);
        // The oneof comes first, named <oneof>_<index>.
        assert_eq!(
            names(s),
            vec![
                "payment_0",
                "id",
                "customer",
                "lines",
                "attrs",
                "status",
                "placed_at",
                "note",
                "address",
                "priority",
                "u32",
                "u64",
                "s32",
                "ratio",
                "total",
                "gift",
                "blob",
                "history"
            ]
        );
        let id = field(s, "id");
        assert!(id.optional);
        assert_eq!(id.ty, ConnectType::Int64);
        assert_eq!(id.parameters.get(TAG).map(String::as_str), Some("1"));
        assert!(!id.parameters.contains_key(TYPE));

        let payment = field(s, "payment_0");
        assert_eq!(
            payment.name.as_deref(),
            Some("io.confluent.connect.protobuf.Union.payment")
        );
        assert!(payment.optional);
        assert_eq!(names(payment), vec!["card", "voucher"]);
        assert_eq!(field(payment, "voucher").parameters[TAG], "7");

        let lines = field(s, "lines");
        let ConnectType::Array(line) = &lines.ty else {
            panic!("{lines:?}")
        };
        assert!(line.optional);
        assert_eq!(line.name.as_deref(), Some("Line"));
        assert!(!line.parameters.contains_key(TAG));
        assert_eq!(lines.parameters[TAG], "3");

        let attrs = field(s, "attrs");
        assert_eq!(attrs.name.as_deref(), Some("attrs"));
        let ConnectType::Map(k, v) = &attrs.ty else {
            panic!("{attrs:?}")
        };
        assert_eq!(
            (k.ty.clone(), v.ty.clone()),
            (ConnectType::String, ConnectType::Int32)
        );
        assert_eq!(
            (k.parameters[TAG].as_str(), v.parameters[TAG].as_str()),
            ("1", "2")
        );

        let status = field(s, "status");
        assert_eq!(status.ty, ConnectType::String);
        assert_eq!(status.name.as_deref(), Some("Status"));
        assert_eq!(status.parameters[ENUM], "Status");
        assert_eq!(status.parameters[&format!("{ENUM}.SHIPPED")], "2");

        let placed = field(s, "placed_at");
        assert_eq!(placed.logical(), Some(Logical::Timestamp));
        assert_eq!(placed.version, Some(1));
        assert!(placed.optional);

        // Wrappers stay structs by default (wrapper.for.nullables=false).
        let note = field(s, "note");
        assert_eq!(note.name.as_deref(), Some("StringValue"));
        assert_eq!(field(note, "value").ty, ConnectType::String);

        let geo = field(field(s, "address"), "geo");
        assert_eq!(geo.name.as_deref(), Some("Geo"));

        assert_eq!(field(s, "u32").ty, ConnectType::Int64);
        assert_eq!(field(s, "u32").parameters[TYPE], "uint32");
        assert_eq!(field(s, "u64").parameters[TYPE], "uint64");
        assert_eq!(field(s, "s32").ty, ConnectType::Int32);
        assert_eq!(field(s, "s32").parameters[TYPE], "sint32");
        assert_eq!(field(s, "ratio").ty, ConnectType::Float32);
        assert_eq!(field(s, "blob").ty, ConnectType::Bytes);
    }

    #[test]
    fn decodes_rows_into_columns() {
        let f = file();
        let d = f.message(&[0]).unwrap();
        let mut full = message(&f, &[0]);
        set(&mut full, "id", Value::I64(7));
        set(&mut full, "customer", Value::String("ada".into()));
        let mut line = message(&f, &[1]);
        set(&mut line, "sku", Value::String("A-1".into()));
        set(&mut line, "qty", Value::I32(3));
        let line2 = message(&f, &[1]); // all defaults
        set(
            &mut full,
            "lines",
            Value::List(vec![Value::Message(line), Value::Message(line2)]),
        );
        let attrs = [("b", 2), ("a", 1)]
            .iter()
            .map(|(k, v)| (MapKey::String((*k).into()), Value::I32(*v)))
            .collect();
        set(&mut full, "attrs", Value::Map(attrs));
        set(&mut full, "status", Value::EnumNumber(2));
        set(&mut full, "voucher", Value::I64(99));
        let ts_desc = f
            .schema
            .pool()
            .get_message_by_name("google.protobuf.Timestamp")
            .unwrap();
        let mut ts = DynamicMessage::new(ts_desc);
        set(&mut ts, "seconds", Value::I64(1_700_000_000));
        set(&mut ts, "nanos", Value::I32(123_456_789));
        set(&mut full, "placed_at", Value::Message(ts));
        let sv = f
            .schema
            .pool()
            .get_message_by_name("google.protobuf.StringValue")
            .unwrap();
        let mut note = DynamicMessage::new(sv);
        set(&mut note, "value", Value::String("ring twice".into()));
        set(&mut full, "note", Value::Message(note));
        let mut address = message(&f, &[0, 0]);
        set(&mut address, "city", Value::String("Oslo".into()));
        set(&mut full, "address", Value::Message(address));
        set(&mut full, "priority", Value::I32(0));
        set(&mut full, "u32", Value::U32(u32::MAX));
        set(&mut full, "u64", Value::U64(u64::MAX));
        set(&mut full, "s32", Value::I32(-5));
        set(&mut full, "ratio", Value::F32(0.5));
        set(&mut full, "total", Value::F64(12.25));
        set(&mut full, "gift", Value::Bool(true));
        set(&mut full, "blob", Value::Bytes(vec![1, 2].into()));
        set(
            &mut full,
            "history",
            Value::List(vec![Value::EnumNumber(1), Value::EnumNumber(7)]),
        );
        let empty = message(&f, &[0]);
        let cols = decode_all(&d, &[full.encode_to_vec(), empty.encode_to_vec()]);

        let id = col(&cols, "id").as_primitive::<Int64Type>();
        assert_eq!(id.values(), &[7, 0]); // unset proto3 scalars read as defaults
        assert!(!id.is_null(1));
        let customer = col(&cols, "customer").as_string::<i32>();
        assert_eq!((customer.value(0), customer.value(1)), ("ada", ""));

        let lines = col(&cols, "lines").as_list::<i32>();
        assert_eq!(lines.value_length(0), 2);
        assert_eq!(lines.value_length(1), 0);
        assert!(!lines.is_null(1)); // repeated fields are never null
        let items = lines.values().as_struct();
        let skus = items.column_by_name("sku").unwrap().as_string::<i32>();
        assert_eq!((skus.value(0), skus.value(1)), ("A-1", ""));
        let qty = items
            .column_by_name("qty")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(qty.values(), &[3, 0]);

        let attrs = col(&cols, "attrs").as_map();
        let keys = attrs.keys().as_string::<i32>();
        assert_eq!((keys.value(0), keys.value(1)), ("a", "b"));
        assert_eq!(attrs.values().as_primitive::<Int32Type>().values(), &[1, 2]);
        assert_eq!(attrs.value_length(1), 0);

        let status = col(&cols, "status").as_string::<i32>();
        assert_eq!(
            (status.value(0), status.value(1)),
            ("SHIPPED", "STATUS_UNSPECIFIED")
        );
        let history = col(&cols, "history").as_list::<i32>();
        let h = history.values().as_string::<i32>();
        assert_eq!(
            (h.value(0), h.value(1)),
            ("PAID", "UNKNOWN_ENUM_VALUE_Status_7")
        );

        let payment = col(&cols, "payment_0").as_struct();
        assert!(payment.is_valid(0));
        assert!(payment.is_null(1)); // no member set: the union is null
        assert!(payment.column(0).is_null(0));
        assert_eq!(payment.column(1).as_primitive::<Int64Type>().value(0), 99);

        let placed = col(&cols, "placed_at").as_primitive::<TimestampMillisecondType>();
        assert_eq!(placed.value(0), 1_700_000_000_123);
        assert!(placed.is_null(1)); // unset message fields are null

        let note = col(&cols, "note").as_struct();
        assert_eq!(note.column(0).as_string::<i32>().value(0), "ring twice");
        assert!(note.is_null(1));

        let address = col(&cols, "address").as_struct();
        assert_eq!(
            address
                .column_by_name("city")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "Oslo"
        );
        assert!(address.column_by_name("geo").unwrap().is_null(0));

        // proto3 `optional`: null unless present, even when present with the default.
        let priority = col(&cols, "priority").as_primitive::<Int32Type>();
        assert!(priority.is_valid(0) && priority.value(0) == 0);
        assert!(priority.is_null(1));

        assert_eq!(
            col(&cols, "u32").as_primitive::<Int64Type>().value(0),
            i64::from(u32::MAX)
        );
        assert_eq!(col(&cols, "u64").as_primitive::<Int64Type>().value(0), -1);
        assert_eq!(col(&cols, "s32").as_primitive::<Int32Type>().value(0), -5);
        assert_eq!(
            col(&cols, "ratio").as_primitive::<Float32Type>().value(0),
            0.5
        );
        assert_eq!(
            col(&cols, "total").as_primitive::<Float64Type>().value(0),
            12.25
        );
        assert!(col(&cols, "gift").as_boolean().value(0));
        assert_eq!(col(&cols, "blob").as_binary::<i32>().value(0), &[1, 2]);
        assert_eq!(col(&cols, "blob").as_binary::<i32>().value(1), b"");
    }

    #[test]
    fn decodes_nested_message_types() {
        let f = file();
        let d = f.message(&[0, 0, 0]).unwrap();
        assert_eq!(d.connect_schema().name.as_deref(), Some("Geo"));
        let mut geo = message(&f, &[0, 0, 0]);
        set(&mut geo, "lat", Value::F64(59.9));
        set(&mut geo, "lon", Value::F64(10.7));
        let cols = decode_all(&d, &[geo.encode_to_vec()]);
        assert_eq!(
            col(&cols, "lat").as_primitive::<Float64Type>().value(0),
            59.9
        );
        assert_eq!(
            col(&cols, "lon").as_primitive::<Float64Type>().value(0),
            10.7
        );
    }

    #[test]
    fn message_indexes_count_the_entry_messages_the_text_declares() {
        // The registry's text of a registered descriptor whose map comes before the nested
        // messages: the entry message counts where it stands, as in the producer's descriptor.
        let declared = r#"syntax = "proto3";
package p;

message Outer {
  repeated .p.Outer.AttrsEntry attrs = 1;
  .p.Outer.First first = 2;
  .p.Outer.Second second = 3;

  message AttrsEntry {
    option map_entry = true;

    string key = 1;
    int64 value = 2;
  }
  message First {
    string name = 1;
  }
  message Second {
    int32 n = 1;
  }
}
"#;
        let f = ProtobufFile::new(declared, &[]).unwrap();
        assert_eq!(
            f.message_type(&[0, 1]).unwrap().full_name(),
            "p.Outer.First"
        );
        assert_eq!(
            f.message_type(&[0, 2]).unwrap().full_name(),
            "p.Outer.Second"
        );
        let d = f.message(&[0]).unwrap();
        assert_eq!(names(d.connect_schema()), vec!["attrs", "first", "second"]);
        assert!(matches!(
            field(d.connect_schema(), "attrs").ty,
            ConnectType::Map(..)
        ));
        // Written as `map<K, V>`, the entry type is no message of the text and does not count.
        let map_syntax = r#"syntax = "proto3";
package p;
message Outer {
  map<string, int64> attrs = 1;
  First first = 2;
  Second second = 3;
  message First { string name = 1; }
  message Second { int32 n = 1; }
}
"#;
        let f = ProtobufFile::new(map_syntax, &[]).unwrap();
        assert_eq!(
            f.message_type(&[0, 0]).unwrap().full_name(),
            "p.Outer.First"
        );
        assert_eq!(
            f.message_type(&[0, 1]).unwrap().full_name(),
            "p.Outer.Second"
        );
        let e = f.message(&[0, 2]).unwrap_err();
        assert!(e.contains("message p.Outer has 2 message type(s)"), "{e}");
    }

    #[test]
    fn bad_payloads_are_errors() {
        let f = file();
        let d = f.message(&[0]).unwrap();
        let mut full = message(&f, &[0]);
        set(
            &mut full,
            "customer",
            Value::String("a long enough name".into()),
        );
        let bytes = full.encode_to_vec();
        let mut cols = builders(&d);
        let e = d
            .decode_row(&bytes[..bytes.len() - 3], &mut cols)
            .unwrap_err();
        assert!(
            e.starts_with("invalid Protobuf message shop.v1.Order:"),
            "{e}"
        );
        let e = d
            .decode_row(&[0xff, 0xff, 0xff, 0xff], &mut builders(&d))
            .unwrap_err();
        assert!(e.contains("invalid Protobuf message"), "{e}");
        // A timestamp out of range names the field.
        let ts_desc = f
            .schema
            .pool()
            .get_message_by_name("google.protobuf.Timestamp")
            .unwrap();
        let mut ts = DynamicMessage::new(ts_desc);
        set(&mut ts, "nanos", Value::I32(-1));
        let mut m = message(&f, &[0]);
        set(&mut m, "placed_at", Value::Message(ts));
        let e = d
            .decode_row(&m.encode_to_vec(), &mut builders(&d))
            .unwrap_err();
        assert!(e.starts_with("placed_at: invalid Timestamp"), "{e}");
    }

    #[test]
    fn refuses_what_connect_cannot_express() {
        let recursive = r#"syntax = "proto3";
message Node { string name = 1; repeated Node children = 2; }"#;
        let f = ProtobufFile::new(recursive, &[]).unwrap();
        let e = f.message(&[0]).unwrap_err();
        assert!(e.contains("Node is recursive"), "{e}");
        let clash = r#"syntax = "proto3";
message M { oneof o { int32 a = 1; } string o_0 = 2; }"#;
        let e = ProtobufFile::new(clash, &[])
            .unwrap()
            .message(&[])
            .unwrap_err();
        assert!(e.contains("two Connect fields named 'o_0'"), "{e}");
        assert!(ProtobufFile::new("not a schema", &[]).is_err());
    }

    #[test]
    fn proto2_optionals_and_logical_types() {
        let date = r#"syntax = "proto3";
package google.type;
message Date { int32 year = 1; int32 month = 2; int32 day = 3; }
"#;
        let time = r#"syntax = "proto3";
package google.type;
message TimeOfDay { int32 hours = 1; int32 minutes = 2; int32 seconds = 3; int32 nanos = 4; }
"#;
        let main = r#"syntax = "proto2";
import "google/type/date.proto";
import "google/type/timeofday.proto";
import "confluent/meta.proto";
import "confluent/type/decimal.proto";
message Event {
  optional int32 a = 1;
  required int32 b = 2;
  optional google.type.Date day = 3;
  optional google.type.TimeOfDay at = 4;
  optional confluent.type.Decimal price = 5 [(confluent.field_meta).params = {key: "precision", value: "6"}, (confluent.field_meta).params = {key: "scale", value: "2"}];
  optional int32 small = 6 [(confluent.field_meta) = { params: [{key: "connect.type", value: "int16"}] }];
}
"#;
        let refs = vec![
            ("google/type/date.proto".to_string(), date.to_string()),
            ("google/type/timeofday.proto".to_string(), time.to_string()),
        ];
        let f = ProtobufFile::new(main, &refs).unwrap();
        let d = f.message(&[0]).unwrap();
        let s = d.connect_schema();
        assert_eq!(field(s, "day").logical(), Some(Logical::Date));
        assert_eq!(field(s, "at").logical(), Some(Logical::Time));
        assert_eq!(
            field(s, "price").logical(),
            Some(Logical::Decimal {
                scale: 2,
                precision: 6
            })
        );
        assert_eq!(field(s, "small").ty, ConnectType::Int16);

        let pool = f.schema.pool();
        let new = |name: &str| DynamicMessage::new(pool.get_message_by_name(name).unwrap());
        let mut day = new("google.type.Date");
        set(&mut day, "year", Value::I32(2024));
        set(&mut day, "month", Value::I32(2));
        set(&mut day, "day", Value::I32(29));
        let mut at = new("google.type.TimeOfDay");
        set(&mut at, "hours", Value::I32(13));
        set(&mut at, "minutes", Value::I32(5));
        set(&mut at, "nanos", Value::I32(7_000_000));
        let mut price = new("confluent.type.Decimal");
        set(&mut price, "value", Value::Bytes(vec![0x04, 0xd2].into())); // 1234
        set(&mut price, "precision", Value::U32(4));
        set(&mut price, "scale", Value::I32(2));
        let mut m = message(&f, &[0]);
        set(&mut m, "b", Value::I32(0));
        set(&mut m, "day", Value::Message(day));
        set(&mut m, "at", Value::Message(at));
        set(&mut m, "price", Value::Message(price));
        set(&mut m, "small", Value::I32(70_000));
        let cols = decode_all(&d, &[m.encode_to_vec()]);
        assert!(col(&cols, "a").is_null(0)); // proto2 optional, absent
        assert_eq!(col(&cols, "b").as_primitive::<Int32Type>().value(0), 0);
        assert_eq!(
            col(&cols, "day").as_primitive::<Date32Type>().value(0),
            19_782
        );
        assert_eq!(
            col(&cols, "at")
                .as_primitive::<Time32MillisecondType>()
                .value(0),
            (13 * 3600 + 5 * 60) * 1000 + 7
        );
        let price = col(&cols, "price").as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(price.value(0), 1234);
        assert_eq!(
            col(&cols, "small")
                .as_primitive::<arrow_array::types::Int16Type>()
                .value(0),
            70_000i32 as i16
        );

        // Dates as Java's calendar reads them, and scale mismatches refused.
        let mut old = new("google.type.Date");
        set(&mut old, "year", Value::I32(1582));
        set(&mut old, "month", Value::I32(10));
        set(&mut old, "day", Value::I32(4));
        assert_eq!(date_days(&old).ok(), Some(-141_428));
        set(&mut old, "day", Value::I32(15));
        assert_eq!(date_days(&old).ok(), Some(-141_427));
        set(&mut old, "day", Value::I32(10));
        assert!(date_days(&old).is_err());
        set(&mut old, "year", Value::I32(0));
        assert!(date_days(&old).is_err());
        let mut bad = new("confluent.type.Decimal");
        set(&mut bad, "value", Value::Bytes(vec![1].into()));
        set(&mut bad, "scale", Value::I32(3));
        let mut m = message(&f, &[0]);
        set(&mut m, "price", Value::Message(bad));
        let e = d
            .decode_row(&m.encode_to_vec(), &mut builders(&d))
            .unwrap_err();
        assert!(e.starts_with("price: Decimal value has scale 3"), "{e}");
    }

    #[test]
    fn top_level_wrappers_are_raw_primitives() {
        let wrappers = r#"syntax = "proto3";
package google.protobuf;
message StringValue { string value = 1; }
"#;
        let f = ProtobufFile::new(wrappers, &[]).unwrap();
        let d = f.message(&[0]).unwrap();
        assert_eq!(d.connect_schema().ty, ConnectType::String);
        assert!(!d.connect_schema().optional);
        let mut m = message(&f, &[0]);
        set(&mut m, "value", Value::String("hi".into()));
        let cols = decode_all(&d, &[m.encode_to_vec(), Vec::new()]);
        let v = cols[0].1.as_string::<i32>();
        assert_eq!((v.value(0), v.value(1)), ("hi", ""));
    }

    #[test]
    fn repeated_entry_messages_read_as_maps() {
        // Not a `map<>` field, but shaped like one: ProtobufData's isMapDescriptor makes it a
        // Connect map; a repeated key keeps its last value, as Map.put does.
        let text = r#"syntax = "proto3";
message M {
  message PairEntry { string key = 1; Inner value = 2; }
  message Inner { int32 n = 1; }
  repeated PairEntry pair = 1;
}"#;
        let f = ProtobufFile::new(text, &[]).unwrap();
        let d = f.message(&[0]).unwrap();
        let pair = field(d.connect_schema(), "pair");
        assert_eq!(pair.name.as_deref(), Some("pair"));
        assert!(matches!(pair.ty, ConnectType::Map(..)));
        let entry = |k: &str, n: Option<i32>| {
            let mut e = message(&f, &[0, 0]);
            set(&mut e, "key", Value::String(k.into()));
            if let Some(n) = n {
                let mut inner = message(&f, &[0, 1]);
                set(&mut inner, "n", Value::I32(n));
                set(&mut e, "value", Value::Message(inner));
            }
            Value::Message(e)
        };
        let mut m = message(&f, &[0]);
        set(
            &mut m,
            "pair",
            Value::List(vec![
                entry("b", Some(1)),
                entry("a", None),
                entry("b", Some(2)),
            ]),
        );
        let cols = decode_all(&d, &[m.encode_to_vec()]);
        let map = col(&cols, "pair").as_map();
        let keys = map.keys().as_string::<i32>();
        assert_eq!(
            (map.value_length(0), keys.value(0), keys.value(1)),
            (2, "a", "b")
        );
        let n = map
            .values()
            .as_struct()
            .column(0)
            .as_primitive::<Int32Type>();
        // An entry without a value holds the default message, not null.
        assert!(map.values().is_valid(0));
        assert_eq!(n.values(), &[0, 2]);
    }

    #[test]
    fn names_maps_as_protobuf_schema_does() {
        assert_eq!(map_name("TagsEntry"), "tags");
        assert_eq!(map_name("MyHTTPMapEntry"), "my_h_t_t_p_map");
    }
}
