//! Protobuf schemas (`schemaType: PROTOBUF`): parsing `.proto` source or a base64-encoded
//! `FileDescriptorProto` (what confluent-kafka-python's serializer registers) together with the
//! referenced files, into a `prost_reflect::DescriptorPool`; the stored `.proto` text, the
//! normalized text, and the serialized descriptor.
//!
//! Confluent re-prints every schema as `.proto` text, also when a descriptor was registered. No
//! published crate prints a `FileDescriptorProto` back as `.proto` source (`protox` and
//! `prost-reflect` parse, compile and reflect; `prost-build` generates Rust), so the printer is
//! written here. It follows Confluent's layout: `syntax`, `package`, imports, file options, then
//! messages before enums (each message: reserved, options, fields, oneofs, extension ranges,
//! extends, nested messages, nested enums), top-level extends, services; two-space indents;
//! `optional` on proto3 fields with explicit presence. For source input type names are printed
//! as written; for descriptor input fully qualified (`.pkg.Type`).
//!
//! Maps print as Confluent prints them (`ProtobufSchema.toProtoFile`/`toMessage` and
//! `ProtobufSchemaUtils.toString`): a field the source writes as `map<K, V>` stays so, with no
//! entry message; a map of a registered descriptor prints as a `repeated .pkg.M.XEntry` field
//! plus the `XEntry` message (`option map_entry = true;`) among the nested messages, where the
//! descriptor has it. Serializers' message indexes count the nested messages of a descriptor,
//! entry types included, and Confluent's deserializer (`ProtobufSchema.toMessageName`) counts
//! the messages the text declares; printing the entries keeps the two counts equal.
//! [`ProtobufSchema::nested_messages`] is that count. The serialized descriptor of a source
//! schema has the `map<K, V>` entry types after the declared nested messages, where Confluent's
//! has them, so that counting its `nested_type` agrees too.
//!
//! The normalized form (`normalize=true`) makes equivalent schemas print equally: type names
//! fully qualified, imports sorted and de-duplicated, options sorted by name, fields in number
//! order, oneofs by their first field number, reserved and extension ranges one per line in
//! number order, enum values by number, and no `syntax` line for proto2 (its default). Message
//! order is kept, because serializers' message indexes refer to it.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{
    DescriptorError, DescriptorPool, DynamicMessage, FileDescriptor, Kind, MapKey,
    MessageDescriptor, ReflectMessage as _, Value,
};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    ServiceDescriptorProto,
};

/// The file name given to a schema registered as `.proto` source (Confluent's default name).
const MAIN_FILE: &str = "default";
/// The largest field number; a range ending there prints as `to max`.
const MAX_FIELD_NUMBER: i32 = 536_870_911;

/// A parsed Protobuf schema with its dependencies.
#[derive(Debug, Clone)]
pub struct ProtobufSchema {
    pool: DescriptorPool,
    file: FileDescriptor,
    canonical: String,
    normalized: String,
    serialized: String,
    /// Full names of the main file's map entry types that its source writes as `map<K, V>`
    /// fields: printed as such, and not counted by message indexes.
    map_syntax: HashSet<String>,
}

/// One input file: source text or an encoded descriptor.
enum Input {
    Source {
        proto: FileDescriptorProto,
    },
    Encoded {
        bytes: Vec<u8>,
        proto: FileDescriptorProto,
    },
    /// A file resolved without a reference (see [`builtin`]).
    Builtin {
        proto: FileDescriptorProto,
    },
}

impl Input {
    fn proto(&self) -> &FileDescriptorProto {
        match self {
            Input::Source { proto, .. }
            | Input::Encoded { proto, .. }
            | Input::Builtin { proto } => proto,
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Names a referenced file in an error; the schema's own file (`main`) goes unnamed.
fn describe_file(name: &str, main: &str) -> String {
    if name == main || name == MAIN_FILE {
        String::new()
    } else {
        format!(" (in referenced file '{name}')")
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.as_bytes()))
        .ok()
}

/// Reads `text` as `.proto` source, or failing that as a base64 `FileDescriptorProto`.
fn read_input(name: &str, text: &str) -> Result<Input, String> {
    match protox_parse::parse(name, text) {
        Ok(proto) => Ok(Input::Source { proto }),
        Err(parse_error) => {
            if let Some(bytes) = decode_base64(text)
                && let Ok(mut proto) = FileDescriptorProto::decode(bytes.as_slice())
                && (proto.name.is_some()
                    || proto.package.is_some()
                    || !proto.message_type.is_empty()
                    || !proto.enum_type.is_empty())
            {
                let bytes = if proto.name().is_empty() {
                    proto.name = Some(name.to_owned());
                    proto.encode_to_vec()
                } else {
                    bytes
                };
                return Ok(Input::Encoded { bytes, proto });
            }
            let place = match parse_error.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    format!(" at line {line}, column {column}")
                }
                None => String::new(),
            };
            Err(format!(
                "Invalid Protobuf schema{}: {parse_error}{place}",
                describe_file(name, MAIN_FILE)
            ))
        }
    }
}

fn descriptor_error(
    error: &DescriptorError,
    inputs: &HashMap<String, Input>,
    main: &str,
) -> String {
    let file = error.file().unwrap_or(MAIN_FILE);
    let place = match (error.line(), error.column()) {
        (Some(line), Some(column)) => format!(" at line {}, column {}", line + 1, column + 1),
        _ => String::new(),
    };
    let from_source = matches!(inputs.get(file), Some(Input::Source { .. }));
    format!(
        "Invalid Protobuf schema{}: {error}{}",
        describe_file(file, main),
        if from_source { place } else { String::new() }
    )
}

/// Confluent's own option and type files, which its registry resolves without references
/// (declarations as published in its Apache-2.0 `kafka-protobuf-types`).
const CONFLUENT_META: &str = r#"syntax = "proto3";
package confluent;
import "google/protobuf/descriptor.proto";
option java_package = "io.confluent.protobuf";
option java_outer_classname = "MetaProto";
message Meta {
  string doc = 1;
  map<string, string> params = 2;
  repeated string tags = 3;
  repeated Rule rules = 4;
}
message Rule {
  string name = 1;
  string doc = 2;
  string expr = 3;
  string sql = 4;
}
extend google.protobuf.FileOptions { Meta file_meta = 1088; }
extend google.protobuf.MessageOptions { Meta message_meta = 1088; }
extend google.protobuf.FieldOptions { Meta field_meta = 1088; }
extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }
extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }
"#;

const CONFLUENT_DECIMAL: &str = r#"syntax = "proto3";
package confluent.type;
option java_package = "io.confluent.protobuf.type";
option java_multiple_files = true;
option java_outer_classname = "DecimalProto";
message Decimal {
  bytes value = 1;
  uint32 precision = 2;
  int32 scale = 3;
}
"#;

/// Files resolved without a reference: the well-known types (`google/protobuf/*.proto`) and
/// Confluent's `confluent/meta.proto` and `confluent/type/decimal.proto`.
fn builtin(name: &str) -> Option<FileDescriptorProto> {
    use protox::file::FileResolver as _;
    match name {
        "confluent/meta.proto" => protox_parse::parse(name, CONFLUENT_META).ok(),
        "confluent/type/decimal.proto" => protox_parse::parse(name, CONFLUENT_DECIMAL).ok(),
        _ if name.starts_with("google/protobuf/") => protox::file::GoogleFileResolver::new()
            .open_file(name)
            .ok()
            .map(|f| f.file_descriptor_proto().clone()),
        _ => None,
    }
}

impl ProtobufSchema {
    /// `text` is `.proto` source (proto2/proto3) or a base64-encoded serialized
    /// `FileDescriptorProto`. `references`: (import path, referenced schema text or base64)
    /// pairs, transitively resolved. Well-known types (`google/protobuf/*.proto`) and Confluent's
    /// `confluent/meta.proto` and `confluent/type/decimal.proto` resolve without references.
    pub fn parse(text: &str, references: &[(String, String)]) -> Result<ProtobufSchema, String> {
        let main = read_input(MAIN_FILE, text)?;
        let main_name = main.proto().name().to_owned();
        let mut inputs: HashMap<String, Input> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (name, reference) in references {
            if *name == main_name || inputs.contains_key(name) {
                continue;
            }
            let input = read_input(name, reference)?;
            let declared = input.proto().name().to_owned();
            if declared != *name {
                return Err(format!(
                    "Invalid Protobuf schema reference '{name}': its descriptor is named '{declared}'"
                ));
            }
            inputs.insert(name.clone(), input);
            order.push(name.clone());
        }
        inputs.insert(main_name.clone(), main);
        order.push(main_name.clone());

        // Built-in well-known imports, and a clear error for anything else missing.
        let mut i = 0;
        while i < order.len() {
            let name = order[i].clone();
            let dependencies = inputs
                .get(&name)
                .map(|input| input.proto().dependency.clone())
                .unwrap_or_default();
            for dependency in dependencies {
                if inputs.contains_key(&dependency) {
                    continue;
                }
                match builtin(&dependency) {
                    Some(proto) => {
                        inputs.insert(dependency.clone(), Input::Builtin { proto });
                        order.push(dependency);
                    }
                    None => {
                        return Err(format!(
                            "Invalid Protobuf schema{}: import '{dependency}' not found; it must be given as a schema reference",
                            describe_file(&name, &main_name)
                        ));
                    }
                }
            }
            i += 1;
        }

        // Add files to the pool, dependencies first.
        let mut pool = DescriptorPool::new();
        let mut added: HashSet<String> = HashSet::new();
        while added.len() < order.len() {
            let before = added.len();
            for name in &order {
                if added.contains(name) {
                    continue;
                }
                let Some(input) = inputs.get(name) else {
                    continue;
                };
                if !input.proto().dependency.iter().all(|d| added.contains(d)) {
                    continue;
                }
                let result = match input {
                    Input::Source { proto, .. } | Input::Builtin { proto } => {
                        pool.add_file_descriptor_proto(proto.clone())
                    }
                    Input::Encoded { bytes, .. } => {
                        pool.decode_file_descriptor_proto(bytes.as_slice())
                    }
                };
                result.map_err(|e| descriptor_error(&e, &inputs, &main_name))?;
                added.insert(name.clone());
            }
            if added.len() == before {
                return Err("Invalid Protobuf schema: the imports form a cycle".to_owned());
            }
        }
        let file = pool
            .get_file_by_name(&main_name)
            .ok_or_else(|| "Invalid Protobuf schema: the schema file is missing".to_owned())?;
        if file.messages().len() == 0
            && file.enums().len() == 0
            && file.public_dependencies().len() == 0
        {
            return Err(
                "Invalid Protobuf schema: the schema defines no message or enum types".to_owned(),
            );
        }

        let resolved = file.file_descriptor_proto().clone();
        let mut display = resolved.clone();
        let mut map_syntax = HashSet::new();
        if let Some(Input::Source { proto, .. }) = inputs.get(&main_name) {
            overlay_written_names(&mut display, proto);
            map_syntax = map_syntax_entries(proto);
        }
        let canonical = Printer::new(&file, false, &map_syntax).print(&display);
        let normalized = Printer::new(&file, true, &map_syntax).print(&resolved);
        let serialized = base64::engine::general_purpose::STANDARD
            .encode(encode_without_source_info(&file, &map_syntax));
        Ok(ProtobufSchema {
            pool,
            file,
            canonical,
            normalized,
            serialized,
            map_syntax,
        })
    }

    /// The `.proto` text Confluent stores and returns for this schema.
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The `normalize=true` form (see the module documentation for what is normalized).
    pub fn normalized(&self) -> String {
        self.normalized.clone()
    }

    /// Base64 of the serialized `FileDescriptorProto` (what `GET /schemas/ids/{id}?format=serialized`
    /// returns), without source locations; custom options are kept.
    pub fn serialized(&self) -> String {
        self.serialized.clone()
    }

    /// Fully-qualified names of the top-level messages, in file order (serializers' message
    /// indexes refer to these).
    pub fn message_names(&self) -> Vec<String> {
        self.file
            .messages()
            .map(|m| m.full_name().to_owned())
            .collect()
    }

    /// The messages nested in `message` that serializers' message indexes count, in index
    /// order: those the printed text declares, as Confluent's deserializer counts them
    /// (`ProtobufSchema.toMessageName`). Entry types of fields written as `map<K, V>` are
    /// left out; those of a registered descriptor, printed as messages, count where the
    /// descriptor has them, as in the producer's own descriptor.
    pub fn nested_messages(&self, message: &MessageDescriptor) -> Vec<MessageDescriptor> {
        message
            .child_messages()
            .filter(|m| !self.map_syntax.contains(m.full_name()))
            .collect()
    }

    /// The descriptor pool (with dependencies) for decoding.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// The schema's own file.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }
}

/// Full names of the map entry types `proto` (as parsed, options not yet interpreted) declares
/// with `map<K, V>` fields. The parser sets `map_entry` only on those; a message written with
/// `option map_entry = true;` still has it as an uninterpreted option here.
fn map_syntax_entries(proto: &FileDescriptorProto) -> HashSet<String> {
    fn walk(messages: &[DescriptorProto], scope: &str, out: &mut HashSet<String>) {
        for message in messages {
            let name = format!("{scope}{}", message.name());
            if message
                .options
                .as_ref()
                .is_some_and(|o| o.map_entry == Some(true))
            {
                out.insert(name.clone());
            }
            walk(&message.nested_type, &format!("{name}."), out);
        }
    }
    let mut out = HashSet::new();
    let scope = if proto.package().is_empty() {
        String::new()
    } else {
        format!("{}.", proto.package())
    };
    walk(&proto.message_type, &scope, &mut out);
    out
}

/// The file descriptor encoded with its options (custom ones too) but without source info,
/// and with the `map_syntax` entry types after the other nested messages (see the module
/// documentation).
fn encode_without_source_info(file: &FileDescriptor, map_syntax: &HashSet<String>) -> Vec<u8> {
    let bytes = file.encode_to_vec();
    let descriptor = FileDescriptorProto::default().descriptor();
    let scope = if file.package_name().is_empty() {
        String::new()
    } else {
        format!("{}.", file.package_name())
    };
    match DynamicMessage::decode(descriptor, bytes.as_slice()) {
        Ok(mut message) => {
            message.clear_field_by_name("source_code_info");
            if !map_syntax.is_empty()
                && let Some(Value::List(messages)) = message.get_field_by_name_mut("message_type")
            {
                entries_last_dynamic(messages, &scope, map_syntax);
            }
            message.encode_to_vec()
        }
        Err(_) => {
            let mut proto = file.file_descriptor_proto().clone();
            proto.source_code_info = None;
            entries_last(&mut proto.message_type, &scope, map_syntax);
            proto.encode_to_vec()
        }
    }
}

/// Moves the `entries` among the nested types of `messages` (recursively) after the others,
/// keeping both groups in order. Confluent builds a text's descriptor that way: the map
/// entries are added while reading the fields, after the nested messages.
fn entries_last(messages: &mut [DescriptorProto], scope: &str, entries: &HashSet<String>) {
    for message in messages {
        let inner = format!("{scope}{}.", message.name());
        let is_entry = |m: &DescriptorProto| entries.contains(&format!("{inner}{}", m.name()));
        let (mut nested, moved): (Vec<_>, Vec<_>) = std::mem::take(&mut message.nested_type)
            .into_iter()
            .partition(|m| !is_entry(m));
        nested.extend(moved);
        entries_last(&mut nested, &inner, entries);
        message.nested_type = nested;
    }
}

/// [`entries_last`] over `DescriptorProto` values of a dynamic `FileDescriptorProto`.
fn entries_last_dynamic(messages: &mut [Value], scope: &str, entries: &HashSet<String>) {
    let name = |value: &Value| match value {
        Value::Message(m) => m
            .get_field_by_name("name")
            .and_then(|n| n.as_str().map(str::to_owned))
            .unwrap_or_default(),
        _ => String::new(),
    };
    for value in messages {
        let inner = format!("{scope}{}.", name(value));
        let Value::Message(message) = value else {
            continue;
        };
        if let Some(Value::List(list)) = message.get_field_by_name_mut("nested_type") {
            let (mut nested, moved): (Vec<Value>, Vec<Value>) = std::mem::take(list)
                .into_iter()
                .partition(|m| !entries.contains(&format!("{inner}{}", name(m))));
            nested.extend(moved);
            entries_last_dynamic(&mut nested, &inner, entries);
            *list = nested;
        }
    }
}

/// Copies the type names as written in the source (`written`, unresolved) over the resolved
/// ones, so the printed text names types as the author did.
fn overlay_written_names(resolved: &mut FileDescriptorProto, written: &FileDescriptorProto) {
    fn fields(resolved: &mut [FieldDescriptorProto], written: &[FieldDescriptorProto]) {
        for (r, w) in resolved.iter_mut().zip(written) {
            if w.type_name.is_some() {
                r.type_name.clone_from(&w.type_name);
            }
            if w.extendee.is_some() {
                r.extendee.clone_from(&w.extendee);
            }
        }
    }
    fn messages(resolved: &mut [DescriptorProto], written: &[DescriptorProto]) {
        for (r, w) in resolved.iter_mut().zip(written) {
            fields(&mut r.field, &w.field);
            fields(&mut r.extension, &w.extension);
            messages(&mut r.nested_type, &w.nested_type);
        }
    }
    messages(&mut resolved.message_type, &written.message_type);
    fields(&mut resolved.extension, &written.extension);
    for (r, w) in resolved.service.iter_mut().zip(&written.service) {
        for (rm, wm) in r.method.iter_mut().zip(&w.method) {
            if wm.input_type.is_some() {
                rm.input_type.clone_from(&wm.input_type);
            }
            if wm.output_type.is_some() {
                rm.output_type.clone_from(&wm.output_type);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The printer.

fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Group => "group",
        Type::Message => "message",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Enum => "enum",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
    }
}

/// The JSON name protoc derives from a field name (`foo_bar` → `fooBar`).
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes a string for a `.proto` string literal.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out
}

fn float_text(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

/// Formats an option value (text-format style for messages).
fn option_value(value: &Value, kind: &Kind) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => float_text(f64::from(*v)),
        Value::F64(v) => float_text(*v),
        Value::String(s) => format!("\"{}\"", escape(s)),
        Value::Bytes(b) => format!("\"{}\"", escape_bytes(b)),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => e
                .get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_owned()),
            _ => n.to_string(),
        },
        Value::Message(m) => message_literal(m),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(|v| option_value(v, kind)).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Map(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        MapKey::Bool(b) => b.to_string(),
                        MapKey::I32(v) => v.to_string(),
                        MapKey::I64(v) => v.to_string(),
                        MapKey::U32(v) => v.to_string(),
                        MapKey::U64(v) => v.to_string(),
                        MapKey::String(s) => format!("\"{}\"", escape(s)),
                    };
                    let value_kind = match kind {
                        Kind::Message(entry) => entry.map_entry_value_field().kind(),
                        other => other.clone(),
                    };
                    format!("{{ key: {key} value: {} }}", option_value(v, &value_kind))
                })
                .collect();
            entries.sort();
            format!("[{}]", entries.join(", "))
        }
    }
}

/// A message value as a text-format literal: `{ a: 1 b: "x" }`.
fn message_literal(message: &DynamicMessage) -> String {
    let mut parts = Vec::new();
    for (field, value) in message.fields() {
        parts.push(format!(
            "{}: {}",
            field.name(),
            option_value(value, &field.kind())
        ));
    }
    for (extension, value) in message.extensions() {
        parts.push(format!(
            "[{}]: {}",
            extension.full_name(),
            option_value(value, &extension.kind())
        ));
    }
    if parts.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{ {} }}", parts.join(" "))
    }
}

/// `name = value` pairs for the options set in `options` (standard ones by name, custom ones
/// as `(full.name)`), skipping `skip`.
fn option_pairs(options: &DynamicMessage, skip: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (field, value) in options.fields() {
        let name = field.name();
        if name == "uninterpreted_option" || name == "features" || skip.contains(&name) {
            continue;
        }
        match value {
            Value::List(items) => {
                for item in items {
                    out.push((name.to_owned(), option_value(item, &field.kind())));
                }
            }
            v => out.push((name.to_owned(), option_value(v, &field.kind()))),
        }
    }
    for (extension, value) in options.extensions() {
        let name = format!("({})", extension.full_name());
        match value {
            Value::List(items) => {
                for item in items {
                    out.push((name.clone(), option_value(item, &extension.kind())));
                }
            }
            v => out.push((name, option_value(v, &extension.kind()))),
        }
    }
    out
}

struct Printer<'a> {
    file: &'a FileDescriptor,
    normalize: bool,
    proto3: bool,
    /// Entry types the source writes as `map<K, V>` fields.
    map_syntax: &'a HashSet<String>,
}

/// Appends `text` (one or more lines) indented by two spaces. Like Confluent, blank lines
/// inside `text` get the indent too.
fn indented(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

/// `n`, `a to b` or `a to max` (`max` being `max_value`).
fn reserved_range_text(start: i32, end_inclusive: i32, max_value: i32) -> String {
    if start == end_inclusive {
        start.to_string()
    } else if end_inclusive >= max_value {
        format!("{start} to max")
    } else {
        format!("{start} to {end_inclusive}")
    }
}

impl<'a> Printer<'a> {
    fn new(
        file: &'a FileDescriptor,
        normalize: bool,
        map_syntax: &'a HashSet<String>,
    ) -> Printer<'a> {
        let proto3 = file.file_descriptor_proto().syntax() == "proto3";
        Printer {
            file,
            normalize,
            proto3,
            map_syntax,
        }
    }

    /// Whether the nested type `entry` (full name `full_name`) prints inside a `map<K, V>`
    /// field rather than as a message: always in the normalized form (Confluent hides the
    /// synthetic map messages there), otherwise only where the source wrote `map<K, V>`.
    fn printed_as_map(&self, entry: &DescriptorProto, full_name: &str) -> bool {
        entry.options.as_ref().is_some_and(|o| o.map_entry())
            && (self.normalize || self.map_syntax.contains(full_name))
    }

    /// In the normalized form, options sorted by name (custom ones without their parentheses).
    fn sorted(&self, mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
        if self.normalize {
            pairs.sort_by(|a, b| {
                let key = |name: &str| {
                    name.trim_start_matches('(')
                        .trim_end_matches(')')
                        .to_owned()
                };
                key(&a.0).cmp(&key(&b.0)).then_with(|| a.1.cmp(&b.1))
            });
        }
        pairs
    }

    fn print(&self, proto: &FileDescriptorProto) -> String {
        let mut out = String::new();
        let syntax = proto.syntax();
        if !(syntax.is_empty() || self.normalize && syntax == "proto2") {
            let _ = writeln!(out, "syntax = \"{syntax}\";");
        }
        if !proto.package().is_empty() {
            let _ = writeln!(out, "package {};", proto.package());
        }
        if !proto.dependency.is_empty() {
            out.push('\n');
            let mut plain = Vec::new();
            let mut public = Vec::new();
            let mut weak = Vec::new();
            for (i, dependency) in proto.dependency.iter().enumerate() {
                let index = i as i32;
                if proto.public_dependency.contains(&index) {
                    public.push(dependency.clone());
                } else if proto.weak_dependency.contains(&index) {
                    weak.push(dependency.clone());
                } else {
                    plain.push(dependency.clone());
                }
            }
            for (list, prefix) in [
                (&mut plain, ""),
                (&mut public, "public "),
                (&mut weak, "weak "),
            ] {
                if self.normalize {
                    list.sort();
                    list.dedup();
                }
                for dependency in list.iter() {
                    let _ = writeln!(out, "import {prefix}\"{}\";", escape(dependency));
                }
            }
        }
        let options = self.sorted(option_pairs(&self.file.options(), &[]));
        if !options.is_empty() {
            out.push('\n');
            for (name, value) in options {
                let _ = writeln!(out, "option {name} = {value};");
            }
        }
        let package = proto.package();
        let scope = if package.is_empty() {
            String::new()
        } else {
            format!("{package}.")
        };
        if !proto.message_type.is_empty() || !proto.enum_type.is_empty() {
            out.push('\n');
            for message in &proto.message_type {
                out.push_str(&self.message(message, &scope));
            }
            for e in &proto.enum_type {
                out.push_str(&self.enumeration(e, &scope));
            }
        }
        if !proto.extension.is_empty() {
            out.push('\n');
            out.push_str(&self.extends(&proto.extension, &scope));
        }
        if !proto.service.is_empty() {
            out.push('\n');
            for service in &proto.service {
                out.push_str(&self.service(service, &scope));
            }
        }
        out
    }

    fn message(&self, message: &DescriptorProto, scope: &str) -> String {
        let full_name = format!("{scope}{}", message.name());
        let inner_scope = format!("{full_name}.");
        let descriptor = self.file.parent_pool().get_message_by_name(&full_name);
        let mut body: Vec<String> = Vec::new();

        // reserved
        let mut reserved: Vec<(i32, String)> = message
            .reserved_range
            .iter()
            .map(|r| {
                let (start, end) = (r.start(), r.end() - 1);
                (start, reserved_range_text(start, end, MAX_FIELD_NUMBER))
            })
            .collect();
        let mut names: Vec<String> = message
            .reserved_name
            .iter()
            .map(|n| format!("\"{}\"", escape(n)))
            .collect();
        if self.normalize {
            reserved.sort();
            names.sort();
        }
        if !reserved.is_empty() || !names.is_empty() {
            let mut section = String::new();
            for (_, text) in reserved {
                let _ = writeln!(section, "reserved {text};");
            }
            for name in names {
                let _ = writeln!(section, "reserved {name};");
            }
            body.push(section);
        }

        // options
        if let Some(d) = &descriptor {
            let options = self.sorted(option_pairs(&d.options(), &[]));
            if !options.is_empty() {
                let mut section = String::new();
                for (name, value) in options {
                    let _ = writeln!(section, "option {name} = {value};");
                }
                body.push(section);
            }
        }

        // fields outside real oneofs (proto3 `optional` fields included)
        let in_oneof = |f: &FieldDescriptorProto| f.oneof_index.is_some() && !f.proto3_optional();
        let mut plain: Vec<&FieldDescriptorProto> =
            message.field.iter().filter(|f| !in_oneof(f)).collect();
        if self.normalize {
            plain.sort_by_key(|f| f.number());
        }
        if !plain.is_empty() {
            let mut section = String::new();
            for field in plain {
                section.push_str(&self.field(field, message, &full_name, true));
            }
            body.push(section);
        }

        // oneofs
        let mut oneofs: Vec<(usize, Vec<&FieldDescriptorProto>)> = message
            .oneof_decl
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let mut members: Vec<&FieldDescriptorProto> = message
                    .field
                    .iter()
                    .filter(|f| in_oneof(f) && f.oneof_index == Some(i as i32))
                    .collect();
                if self.normalize {
                    members.sort_by_key(|f| f.number());
                }
                (i, members)
            })
            .filter(|(_, members)| !members.is_empty())
            .collect();
        if self.normalize {
            oneofs.sort_by_key(|(_, members)| members.first().map_or(0, |f| f.number()));
        }
        if !oneofs.is_empty() {
            let mut section = String::new();
            for (i, members) in oneofs {
                let name = message.oneof_decl[i].name();
                let mut text = format!("oneof {name} {{");
                let options = descriptor
                    .as_ref()
                    .and_then(|d| d.oneofs().find(|o| o.name() == name))
                    .map(|o| self.sorted(option_pairs(&o.options(), &[])))
                    .unwrap_or_default();
                if !options.is_empty() {
                    text.push('\n');
                    for (n, v) in options {
                        indented(&mut text, &format!("option {n} = {v};"));
                    }
                }
                text.push('\n');
                for field in members {
                    indented(&mut text, &self.field(field, message, &full_name, false));
                }
                text.push_str("}\n");
                section.push_str(&text);
            }
            body.push(section);
        }

        // extension ranges
        if !message.extension_range.is_empty() {
            let mut ranges: Vec<(i32, String)> = message
                .extension_range
                .iter()
                .map(|r| {
                    let (start, end) = (r.start(), r.end() - 1);
                    (start, reserved_range_text(start, end, MAX_FIELD_NUMBER))
                })
                .collect();
            if self.normalize {
                ranges.sort();
            }
            let mut section = String::new();
            for (_, text) in ranges {
                let _ = writeln!(section, "extensions {text};");
            }
            body.push(section);
        }

        // extends declared in this message
        if !message.extension.is_empty() {
            body.push(self.extends(&message.extension, &inner_scope));
        }

        // nested types (map entries and groups are printed with their fields)
        let groups: HashSet<String> = message
            .field
            .iter()
            .filter(|f| f.r#type() == Type::Group)
            .map(|f| {
                f.type_name()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let nested: Vec<&DescriptorProto> = message
            .nested_type
            .iter()
            .filter(|n| {
                !self.printed_as_map(n, &format!("{inner_scope}{}", n.name()))
                    && !groups.contains(n.name())
            })
            .collect();
        if !nested.is_empty() || !message.enum_type.is_empty() {
            let mut section = String::new();
            for n in nested {
                section.push_str(&self.message(n, &inner_scope));
            }
            for e in &message.enum_type {
                section.push_str(&self.enumeration(e, &inner_scope));
            }
            body.push(section);
        }

        let mut out = format!("message {} {{", message.name());
        if body.is_empty() {
            out.push_str("}\n");
            return out;
        }
        for section in body {
            out.push('\n');
            indented(&mut out, &section);
        }
        out.push_str("}\n");
        out
    }

    /// The type as printed: scalar name, `map<K, V>`, or the type name. `message`: the
    /// message declaring `field`, and its full name.
    fn type_text(
        &self,
        field: &FieldDescriptorProto,
        message: Option<(&DescriptorProto, &str)>,
    ) -> String {
        if let Some(entry) = message.and_then(|(m, name)| self.map_entry(field, m, name)) {
            let key = entry.field.iter().find(|f| f.number() == 1);
            let value = entry.field.iter().find(|f| f.number() == 2);
            if let (Some(key), Some(value)) = (key, value) {
                return format!(
                    "map<{}, {}>",
                    self.type_text(key, None),
                    self.type_text(value, None)
                );
            }
        }
        match field.type_name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => scalar_name(field.r#type()).to_owned(),
        }
    }

    /// The map entry type a repeated field of `message` (full name `message_name`) refers to,
    /// if the field prints as `map<K, V>`.
    fn map_entry<'m>(
        &self,
        field: &FieldDescriptorProto,
        message: &'m DescriptorProto,
        message_name: &str,
    ) -> Option<&'m DescriptorProto> {
        if field.label() != Label::Repeated || field.type_name.is_none() {
            return None;
        }
        let simple = field.type_name().rsplit('.').next().unwrap_or_default();
        message.nested_type.iter().find(|n| {
            n.name() == simple && self.printed_as_map(n, &format!("{message_name}.{simple}"))
        })
    }

    fn field(
        &self,
        field: &FieldDescriptorProto,
        message: &DescriptorProto,
        message_name: &str,
        with_label: bool,
    ) -> String {
        let is_map = self.map_entry(field, message, message_name).is_some();
        let mut out = String::new();
        if with_label && !is_map {
            out.push_str(self.label(field));
        }
        let group = if field.r#type() == Type::Group {
            let simple = field.type_name().rsplit('.').next().unwrap_or_default();
            message.nested_type.iter().find(|n| n.name() == simple)
        } else {
            None
        };
        if let Some(group) = group {
            let _ = write!(out, "group {} = {}", group.name(), field.number());
        } else {
            let _ = write!(
                out,
                "{} {} = {}",
                self.type_text(field, Some((message, message_name))),
                field.name(),
                field.number()
            );
        }
        let descriptor = self
            .file
            .parent_pool()
            .get_message_by_name(message_name)
            .and_then(|m| m.get_field(field.number() as u32));
        let mut options = descriptor
            .map(|d| option_pairs(&d.options(), &[]))
            .unwrap_or_default();
        if let Some(default) = &field.default_value {
            let value = match field.r#type() {
                Type::String => format!("\"{}\"", escape(default)),
                Type::Bytes => format!("\"{default}\""),
                _ => default.clone(),
            };
            options.push(("default".to_owned(), value));
        }
        if let Some(json_name) = &field.json_name
            && *json_name != default_json_name(field.name())
        {
            options.push(("json_name".to_owned(), format!("\"{}\"", escape(json_name))));
        }
        let options = self.sorted(options);
        self.append_options(&mut out, &options);
        if let Some(group) = group {
            out.push_str(" {");
            let mut fields: Vec<&FieldDescriptorProto> = group.field.iter().collect();
            if self.normalize {
                fields.sort_by_key(|f| f.number());
            }
            let group_name = format!("{message_name}.{}", group.name());
            if fields.is_empty() {
                out.push_str("}\n");
            } else {
                out.push('\n');
                for f in fields {
                    indented(&mut out, &self.field(f, group, &group_name, true));
                }
                out.push_str("}\n");
            }
            return out;
        }
        out.push_str(";\n");
        out
    }

    fn label(&self, field: &FieldDescriptorProto) -> &'static str {
        match field.label() {
            Label::Repeated => "repeated ",
            _ if self.proto3 => {
                if field.proto3_optional() {
                    "optional "
                } else {
                    ""
                }
            }
            _ if self.file.file_descriptor_proto().syntax() == "editions" => "",
            Label::Required => "required ",
            Label::Optional => "optional ",
        }
    }

    /// ` [a = b]` or a multi-line list, as Confluent writes them.
    fn append_options(&self, out: &mut String, options: &[(String, String)]) {
        match options {
            [] => {}
            [(name, value)] => {
                let _ = write!(out, " [{name} = {value}]");
            }
            many => {
                out.push_str(" [\n");
                for (i, (name, value)) in many.iter().enumerate() {
                    let comma = if i + 1 < many.len() { "," } else { "" };
                    let _ = writeln!(out, "  {name} = {value}{comma}");
                }
                out.push(']');
            }
        }
    }

    fn extends(&self, extensions: &[FieldDescriptorProto], scope: &str) -> String {
        let mut groups: Vec<(String, Vec<&FieldDescriptorProto>)> = Vec::new();
        for extension in extensions {
            let extendee = extension.extendee().to_owned();
            match groups.iter_mut().find(|(e, _)| *e == extendee) {
                Some((_, list)) => list.push(extension),
                None => groups.push((extendee, vec![extension])),
            }
        }
        let mut out = String::new();
        let pool = self.file.parent_pool();
        for (extendee, mut fields) in groups {
            if self.normalize {
                fields.sort_by_key(|f| f.number());
            }
            let _ = writeln!(out, "extend {extendee} {{");
            for field in fields {
                let mut text = String::new();
                text.push_str(self.label(field));
                let _ = write!(
                    text,
                    "{} {} = {}",
                    self.type_text(field, None),
                    field.name(),
                    field.number()
                );
                let options = pool
                    .get_extension_by_name(&format!("{scope}{}", field.name()))
                    .map(|e| option_pairs(&e.options(), &[]))
                    .unwrap_or_default();
                let options = self.sorted(options);
                self.append_options(&mut text, &options);
                text.push_str(";\n");
                indented(&mut out, &text);
            }
            out.push_str("}\n");
        }
        out
    }

    fn enumeration(&self, e: &EnumDescriptorProto, scope: &str) -> String {
        let full_name = format!("{scope}{}", e.name());
        let descriptor = self.file.parent_pool().get_enum_by_name(&full_name);
        let mut out = format!("enum {} {{", e.name());
        let mut reserved: Vec<(i32, String)> = e
            .reserved_range
            .iter()
            .map(|r| (r.start(), reserved_range_text(r.start(), r.end(), i32::MAX)))
            .collect();
        let mut names: Vec<String> = e
            .reserved_name
            .iter()
            .map(|n| format!("\"{}\"", escape(n)))
            .collect();
        if self.normalize {
            reserved.sort();
            names.sort();
        }
        let options = descriptor
            .as_ref()
            .map(|d| self.sorted(option_pairs(&d.options(), &[])))
            .unwrap_or_default();
        if reserved.is_empty() && names.is_empty() && options.is_empty() && e.value.is_empty() {
            out.push_str("}\n");
            return out;
        }
        out.push('\n');
        for (_, text) in reserved {
            indented(&mut out, &format!("reserved {text};"));
        }
        for name in names {
            indented(&mut out, &format!("reserved {name};"));
        }
        for (name, value) in options {
            indented(&mut out, &format!("option {name} = {value};"));
        }
        let mut values: Vec<_> = e.value.iter().collect();
        if self.normalize {
            values.sort_by(|a, b| a.number().cmp(&b.number()).then(a.name().cmp(b.name())));
        }
        for value in values {
            let mut text = format!("{} = {}", value.name(), value.number());
            let options = descriptor
                .as_ref()
                .and_then(|d| d.values().find(|v| v.name() == value.name()))
                .map(|v| self.sorted(option_pairs(&v.options(), &[])))
                .unwrap_or_default();
            self.append_options(&mut text, &options);
            text.push_str(";\n");
            indented(&mut out, &text);
        }
        out.push_str("}\n");
        out
    }

    fn service(&self, service: &ServiceDescriptorProto, scope: &str) -> String {
        let full_name = format!("{scope}{}", service.name());
        let descriptor = self.file.parent_pool().get_service_by_name(&full_name);
        let mut out = format!("service {} {{", service.name());
        let options = descriptor
            .as_ref()
            .map(|d| self.sorted(option_pairs(&d.options(), &[])))
            .unwrap_or_default();
        if !options.is_empty() {
            out.push('\n');
            for (name, value) in options {
                indented(&mut out, &format!("option {name} = {value};"));
            }
        }
        if !service.method.is_empty() {
            out.push('\n');
            for method in &service.method {
                let mut text = format!(
                    "rpc {} ({}{}) returns ({}{})",
                    method.name(),
                    if method.client_streaming() {
                        "stream "
                    } else {
                        ""
                    },
                    method.input_type(),
                    if method.server_streaming() {
                        "stream "
                    } else {
                        ""
                    },
                    method.output_type()
                );
                let options = descriptor
                    .as_ref()
                    .and_then(|d| d.methods().find(|m| m.name() == method.name()))
                    .map(|m| self.sorted(option_pairs(&m.options(), &[])))
                    .unwrap_or_default();
                if options.is_empty() {
                    text.push_str(";\n");
                } else {
                    text.push_str(" {\n");
                    for (name, value) in options {
                        let _ = writeln!(text, "  option {name} = {value};");
                    }
                    text.push_str("}\n");
                }
                indented(&mut out, &text);
            }
        }
        out.push_str("}\n");
        out
    }
}
