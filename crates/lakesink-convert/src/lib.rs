//! Lakesink converters.
//!
//! Owns: turning the raw value bytes of a [`RawBatch`] into typed Arrow record batches, one
//! batch per run of records sharing a value schema, with the Kafka Connect converters'
//! semantics: `JsonConverter` (with or without the schema envelope), `StringConverter`,
//! `ByteArrayConverter`. A record that does not convert is an error naming its topic,
//! partition and offset. Confluent's Schema Registry converters read the wire format (magic
//! byte, schema id, then an Avro datum ([`avro`]), a JSON document ([`json_schema`]) or
//! Protobuf message indexes and a message ([`protobuf`])) with writer schemas fetched from a
//! Schema Registry ([`registry_client`]), the only I/O here. [`project`] rewrites values of
//! one schema as values of another for `schema.compatibility`.
//!
//! Must not touch: Kafka clients, files, storage, offsets bookkeeping.

pub mod avro;
mod columns;
mod failure;
mod framing;
pub mod json_schema;
pub mod project;
pub mod protobuf;
pub mod registry_client;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use lakesink_config::{ConverterConfig, ConverterKind};
use lakesink_record::{RawBatch, RawRecord, TopicPartition};
use serde_json::Value;
use serde_json::value::RawValue;

use avro::AvroDecoder;
use columns::ColumnBuilder;
pub use columns::ReadOptions;
use framing::WriterRef;
use json_schema::JsonSchemaDecoder;
use protobuf::ProtobufFile;
use registry_client::RegistryClient;
pub use schema::{ConnectSchema, ConnectType};

/// How the values of a batch are represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Typed columns from a Connect schema.
    Typed,
    /// Schemaless JSON: one `value` column of compact JSON text.
    JsonText,
}

/// The schema shared by a run of values. Two batches with the same `id` have equal schemas.
#[derive(Debug)]
pub struct ValueSchema {
    pub id: u32,
    pub kind: ValueKind,
    /// The Connect schema (typed values only).
    pub connect: Option<ConnectSchema>,
    pub arrow: SchemaRef,
    /// `AvroConverter`: the writer schema itself, when it is self-contained (no references).
    /// Avro files of these values can carry the records' datums unchanged under it.
    pub avro_writer: Option<Arc<AvroWriterSchema>>,
}

/// An Avro writer schema as the registry holds it.
#[derive(Debug, PartialEq)]
pub struct AvroWriterSchema {
    /// The registry's text: what two value schemas are compared by, and the file header
    /// (with Connect's metadata added when configured, see `lakesink-format`).
    pub text: String,
    pub json: Value,
}

impl ValueSchema {
    /// The Avro schema of files holding these values (typed values only).
    pub fn avro_schema(&self) -> Option<Value> {
        self.connect.as_ref().map(ConnectSchema::avro_schema)
    }
}

/// Converted records: columns plus the Kafka coordinates of each row.
#[derive(Debug, Clone)]
pub struct Converted {
    pub schema: Arc<ValueSchema>,
    pub columns: RecordBatch,
    pub offsets: Vec<i64>,
    pub timestamps: Vec<Option<i64>>,
    /// Per row, where its encoded value lies in the batch it came from: Avro datums of
    /// `schema.avro_writer`, which an Avro file of that schema takes as they are. `None` when
    /// the values have no such encoding (other converters, projected rows).
    pub datums: Option<Vec<Datum>>,
}

/// The encoded value of one row: `batch.get(record).value[start..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datum {
    pub record: u32,
    pub start: u32,
}

impl Datum {
    /// The datum's bytes in `batch`, the batch the row was converted from.
    pub fn bytes<'a>(&self, batch: &'a RawBatch) -> &'a [u8] {
        let value = batch.get(self.record as usize).value.unwrap_or_default();
        value.get(self.start as usize..).unwrap_or_default()
    }
}

impl Converted {
    pub fn len(&self) -> usize {
        self.offsets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Rows `start..end` (zero-copy for the columns).
    pub fn slice(&self, start: usize, end: usize) -> Converted {
        Converted {
            schema: self.schema.clone(),
            columns: self.columns.slice(start, end - start),
            offsets: self.offsets[start..end].to_vec(),
            timestamps: self.timestamps[start..end].to_vec(),
            datums: self.datums.as_ref().map(|d| d[start..end].to_vec()),
        }
    }

    /// The rows where `keep` is true.
    pub fn filter(&self, keep: &[bool]) -> Result<Converted, arrow_schema::ArrowError> {
        fn kept<T: Copy>(values: &[T], keep: &[bool]) -> Vec<T> {
            values
                .iter()
                .zip(keep)
                .filter_map(|(v, k)| k.then_some(*v))
                .collect()
        }
        let mask = arrow_array::BooleanArray::from(keep.to_vec());
        Ok(Converted {
            schema: self.schema.clone(),
            columns: arrow_select::filter::filter_record_batch(&self.columns, &mask)?,
            offsets: kept(&self.offsets, keep),
            timestamps: kept(&self.timestamps, keep),
            datums: self.datums.as_deref().map(|d| kept(d, keep)),
        })
    }

    /// The rows but row `row`.
    pub fn without_row(&self, row: usize) -> Result<Converted, arrow_schema::ArrowError> {
        let keep: Vec<bool> = (0..self.len()).map(|i| i != row).collect();
        self.filter(&keep)
    }
}

/// Which part of a record a converter reads: Kafka Connect runs a key converter and a value
/// converter on every record (the key first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Key,
    Value,
}

impl Role {
    /// `key` or `value`, as in Connect's subject names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Key => "key",
            Role::Value => "value",
        }
    }

    fn bytes<'a>(self, record: &RawRecord<'a>) -> Option<&'a [u8]> {
        match self {
            Role::Key => record.key,
            Role::Value => record.value,
        }
    }
}

/// A record that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {topic}-{partition} offset {offset}: {} converter failed: {message}", .role.name())]
pub struct ConvertError {
    pub role: Role,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub message: String,
}

/// What to do with a record whose value is null (a tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullValues {
    Fail,
    Ignore,
}

/// Converts value bytes into Arrow columns (or, as a key converter, checks that keys convert).
pub struct ValueConverter {
    role: Role,
    config: ConverterConfig,
    nulls: NullValues,
    schemas: Vec<Arc<ValueSchema>>,
    by_text: HashMap<String, Arc<ValueSchema>>,
    /// The envelope schema text met last and its schema: records of a topic mostly repeat
    /// it, and comparing it costs less than hashing it for `by_text` (SipHash over every
    /// record's schema text showed at 3% of a JSON drain's CPU time).
    recent_text: Option<(String, Arc<ValueSchema>)>,
    /// Schema Registry converters: the client, and each id met so far with its decoder, or
    /// why records with that id cannot be read (reported at each such record).
    registry: Option<RegistryClient>,
    registered: HashMap<u32, Result<Registered, String>>,
    /// Schema GUIDs met so far (header framing), with their ids.
    guids: HashMap<[u8; 16], Result<u32, String>>,
    /// The Avro or JSON Schema id of the previous record (runs of one id are the rule).
    recent: Option<(u32, Compiled)>,
    /// How much the string and bytes builders of the last run held (see [`ValueSizes`]).
    sizes: Option<ValueSizes>,
}

/// A compiled writer schema: decodes the payload of one framed value into one row.
pub(crate) trait RowDecoder: Send + Sync {
    /// The Connect schema Confluent's converter gives values of this writer schema.
    fn connect_schema(&self) -> &ConnectSchema;
    /// Appends one value as one row: for a STRUCT schema, `columns` holds one builder per
    /// top-level field (made with `ColumnBuilder::new(field schema)`), in field order;
    /// otherwise one builder. After an error the builders may hold part of the row.
    fn decode_row(&self, payload: &[u8], columns: &mut [ColumnBuilder]) -> Result<(), String>;
}

/// The value schema and decoder of one writer schema (and Protobuf message).
type Compiled = (Arc<ValueSchema>, Arc<dyn RowDecoder>);

/// What a Schema Registry id stands for, once fetched and compiled.
enum Registered {
    /// Avro and JSON Schema: one value schema per id.
    Single(Arc<ValueSchema>, Arc<dyn RowDecoder>),
    /// Protobuf: a file of messages; the message indexes after the id pick one, and each
    /// message met so far has its own compiled decoder (or the reason it has none). The
    /// writer schema and topic give each message's version (subjects may name messages).
    Protobuf {
        file: Arc<ProtobufFile>,
        writer: Arc<registry_client::WriterSchema>,
        topic: Arc<str>,
        messages: HashMap<Vec<i32>, Result<Compiled, String>>,
    },
}

const NO_CLIENT: &str = "no Schema Registry client (see the error logged at start-up)";

/// The slice of records of one schema being accumulated.
struct Run {
    schema: Arc<ValueSchema>,
    builder: RunBuilder,
    offsets: Vec<i64>,
    timestamps: Vec<Option<i64>>,
    datums: Option<Vec<Datum>>,
}

enum RunBuilder {
    Columns(Vec<ColumnBuilder>),
    Text(StringBuilder),
    Binary(BinaryBuilder),
}

impl RunBuilder {
    /// See [`ColumnBuilder::value_bytes`].
    fn value_bytes(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        match self {
            RunBuilder::Columns(cols) => cols.iter_mut().for_each(|c| c.value_bytes(&mut out)),
            RunBuilder::Text(b) => out.push(b.values_slice().len()),
            RunBuilder::Binary(b) => out.push(b.values_slice().len()),
        }
        out
    }

    /// See [`ColumnBuilder::reserve_values`]; the builders are empty.
    fn reserve_values(&mut self, rows: usize, bytes: impl Iterator<Item = usize>) {
        let mut bytes = bytes;
        match self {
            RunBuilder::Columns(cols) => cols.iter_mut().for_each(|c| c.reserve_values(&mut bytes)),
            RunBuilder::Text(b) => {
                if let Some(n) = bytes.next() {
                    *b = StringBuilder::with_capacity(rows, n);
                }
            }
            RunBuilder::Binary(b) => {
                if let Some(n) = bytes.next() {
                    *b = BinaryBuilder::with_capacity(rows, n);
                }
            }
        }
    }
}

/// The value bytes the variable-width builders of the last run held, per row, with the
/// schema of that run: the next run of that schema reserves as much, and an eighth more,
/// where guessing a fixed size per string made the builders grow (and copy) as they filled.
struct ValueSizes {
    schema: Arc<ValueSchema>,
    rows: usize,
    bytes: Vec<usize>,
}

impl ValueSizes {
    /// `most`: the bytes of the records read, which no column's values outgrow (a run with
    /// one huge record must not make the next one reserve that much for every row).
    fn reserve(sizes: &Option<ValueSizes>, run: &mut Run, rows: usize, most: usize) {
        let Some(s) = sizes
            .as_ref()
            .filter(|s| Arc::ptr_eq(&s.schema, &run.schema))
        else {
            return;
        };
        let per_rows = s.rows.max(1);
        run.builder.reserve_values(
            rows,
            s.bytes.iter().map(|b| {
                let n = b.saturating_mul(rows) / per_rows;
                n.saturating_add(n / 8).min(most)
            }),
        );
    }

    fn measure(sizes: &mut Option<ValueSizes>, run: &mut Run) {
        let rows = run.offsets.len();
        if rows > 0 {
            *sizes = Some(ValueSizes {
                schema: run.schema.clone(),
                rows,
                bytes: run.builder.value_bytes(),
            });
        }
    }
}

/// A JsonConverter envelope, read in one pass: a typed payload is parsed while the envelope
/// is, where reading the envelope first and then its payload again scanned every payload
/// twice (a tenth of a JSON drain's CPU time). A schemaless payload (`"schema": null`) keeps
/// its text, which is written as it is.
struct Envelope<'a> {
    schema: Option<&'a RawValue>,
    /// `Some(..)` for `"payload":null` too (a null value, as Connect reads it); `None` only
    /// when the field is missing.
    payload: Option<Payload<'a>>,
}

enum Payload<'a> {
    /// Parsed with the envelope: its schema came first and is not null.
    Parsed(Value),
    /// Its text: the schema is null, or came after it.
    Text(&'a str),
}

impl<'de> serde::Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object with \"schema\" and \"payload\"")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Envelope<'de>, A::Error> {
                use serde::de::Error;
                let (mut schema, mut payload): (Option<&RawValue>, _) = (None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "schema" if schema.is_some() => {
                            return Err(A::Error::duplicate_field("schema"));
                        }
                        "payload" if payload.is_some() => {
                            return Err(A::Error::duplicate_field("payload"));
                        }
                        "schema" => schema = Some(map.next_value()?),
                        "payload" => {
                            payload = Some(match schema {
                                Some(s) if s.get() != "null" => Payload::Parsed(map.next_value()?),
                                _ => Payload::Text(map.next_value::<&RawValue>()?.get()),
                            })
                        }
                        // As Connect's JsonConverter: exactly the two fields.
                        other => {
                            return Err(A::Error::unknown_field(other, &["schema", "payload"]));
                        }
                    }
                }
                Ok(Envelope { schema, payload })
            }
        }
        d.deserialize_map(Fields)
    }
}

const ENVELOPE_HINT: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

impl ValueConverter {
    pub fn new(config: &ConverterConfig, nulls: NullValues) -> Self {
        Self::with_role(Role::Value, config, nulls)
    }

    /// A key converter. The sink writes no keys, but Connect converts them all the same, so
    /// a key that does not convert fails its record (see [`ValueConverter::check`]). Null
    /// keys convert to null.
    pub fn for_keys(config: &ConverterConfig) -> Self {
        Self::with_role(Role::Key, config, NullValues::Ignore)
    }

    fn with_role(role: Role, config: &ConverterConfig, nulls: NullValues) -> Self {
        let registry = config
            .kind
            .uses_registry()
            .then(|| {
                RegistryClient::new(
                    config.registry_urls.clone(),
                    config.registry_basic_auth.as_deref(),
                )
            })
            .and_then(|r| match r {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!("{e}");
                    None
                }
            });
        ValueConverter {
            role,
            config: config.clone(),
            nulls,
            schemas: Vec::new(),
            by_text: HashMap::new(),
            recent_text: None,
            registry,
            registered: HashMap::new(),
            guids: HashMap::new(),
            recent: None,
            sizes: None,
        }
    }

    /// The value schema of a file written earlier, from the Avro schema it keeps (an Avro
    /// file's header, a Parquet file's `parquet.avro.schema`), as Confluent's
    /// `AvroData.toConnectSchema` reads it: its `connect.version` is the version
    /// `schema.compatibility` compares. Records of this schema would be written under it.
    pub fn schema_of_file(&mut self, avro_schema: &str) -> Result<Arc<ValueSchema>, String> {
        let decoder = avro::AvroDecoder::new(avro_schema, &[])?;
        Ok(self.intern_with(
            ValueKind::Typed,
            Some(decoder.connect_schema().clone()),
            None,
        ))
    }

    /// Makes registry retries give up once `stop` is set (the process is stopping).
    pub fn give_up_when(mut self, stop: Arc<std::sync::atomic::AtomicBool>) -> Self {
        if let Some(r) = self.registry.as_mut() {
            r.give_up_when(stop);
        }
        self
    }

    /// Sets how long transient registry failures are retried (`errors.retry.timeout`, in ms;
    /// -1 forever) — never less than [`registry_client::RETRY_FOR`] — and the longest wait
    /// between retries (`errors.retry.delay.max.ms`).
    pub fn retry_transient(mut self, timeout_ms: i64, delay_max_ms: Option<i64>) -> Self {
        if let Some(r) = self.registry.as_mut() {
            let retry_for = u64::try_from(timeout_ms)
                .ok()
                .map(|ms| std::time::Duration::from_millis(ms).max(registry_client::RETRY_FOR));
            let max_delay = delay_max_ms
                .and_then(|ms| u64::try_from(ms).ok())
                .map_or(registry_client::MAX_DELAY, std::time::Duration::from_millis);
            r.retry(retry_for, max_delay);
        }
        self
    }

    /// Fetches the writer schemas of a batch's records that are not known yet (Schema
    /// Registry converters; nothing to do for the others). A registry that stays
    /// unavailable is an error at the first record needing it.
    pub async fn prepare(
        &mut self,
        tp: &TopicPartition,
        batch: &RawBatch,
    ) -> Result<(), ConvertError> {
        if !self.config.kind.uses_registry() {
            return Ok(());
        }
        let role = self.role;
        // Runs of one schema are the rule: look each run up once.
        let mut last = None;
        for record in batch.iter() {
            let Some(reference) = role
                .bytes(&record)
                .and_then(|b| framing::schema_of(role, &record, b))
            else {
                continue;
            };
            if last == Some(reference) {
                continue;
            }
            last = Some(reference);
            let unavailable = |message: String| ConvertError {
                role,
                topic: tp.topic.to_string(),
                partition: tp.partition,
                offset: record.offset,
                message,
            };
            let id = match reference {
                WriterRef::Id(id) => id,
                WriterRef::Guid(guid) => match self.guids.get(&guid) {
                    Some(Ok(id)) => *id,
                    Some(Err(_)) => continue,
                    None => {
                        let Some(client) = self.registry.as_mut() else {
                            return Err(unavailable(NO_CLIENT.into()));
                        };
                        match client.id_of_guid(&guid).await {
                            Ok(id) => {
                                self.guids.insert(guid, Ok(id));
                                id
                            }
                            Err(e @ registry_client::RegistryError::Rejected { .. }) => {
                                self.guids.insert(guid, Err(format!("{reference}: {e}")));
                                continue;
                            }
                            Err(e) => {
                                return Err(unavailable(format!("looking up {reference}: {e}")));
                            }
                        }
                    }
                },
            };
            if self.registered.contains_key(&id) {
                continue;
            }
            let Some(client) = self.registry.as_mut() else {
                return Err(unavailable(NO_CLIENT.into()));
            };
            let fetched = match client.schema(id).await {
                Ok(w) => Ok(w),
                Err(e @ registry_client::RegistryError::Rejected { .. }) => {
                    Err(format!("schema id {id}: {e}"))
                }
                Err(e) => return Err(unavailable(format!("fetching schema id {id}: {e}"))),
            };
            let entry = fetched.and_then(|w| self.compile(w, &tp.topic));
            self.registered.insert(id, entry);
        }
        Ok(())
    }

    /// The version a value schema gets: the writer schema's version under the subject of
    /// the configured subject name strategy (`schema.compatibility` compares versions).
    /// Where Connect's converter fails a record whose schema is not under that subject,
    /// the version of the schema's only subject, or none, is taken instead.
    fn version_of(
        &self,
        w: &registry_client::WriterSchema,
        topic: &str,
        record_name: Option<&str>,
    ) -> Option<i32> {
        let subject = self
            .config
            .subject_strategy
            .subject(topic, self.role.name(), record_name);
        w.version_in(subject.as_deref())
    }

    /// Compiles a fetched writer schema for this converter.
    fn compile(
        &mut self,
        w: Arc<registry_client::WriterSchema>,
        topic: &str,
    ) -> Result<Registered, String> {
        let (expected, converter) = match self.config.kind {
            ConverterKind::Avro => ("AVRO", "AvroConverter"),
            ConverterKind::JsonSchema => ("JSON", "JsonSchemaConverter"),
            _ => ("PROTOBUF", "ProtobufConverter"),
        };
        if w.schema_type != expected {
            return Err(format!(
                "schema id {} is a {} schema; {converter} reads {expected} schemas",
                w.id, w.schema_type
            ));
        }
        let mut writer = None;
        let (decoder, record_name): (Arc<dyn RowDecoder>, Option<String>) = match self.config.kind {
            ConverterKind::Avro => {
                let d = AvroDecoder::new(&w.schema, &w.references)
                    .map_err(|e| format!("schema id {}: {e}", w.id))?;
                // Only records have names (Confluent's `AvroSchema.name()`).
                let c = d.connect_schema();
                let name = matches!(c.ty, ConnectType::Struct(_))
                    .then(|| c.name.clone())
                    .flatten();
                // Only values are written: keys need no datums.
                writer = (self.role == Role::Value && w.references.is_empty())
                    .then(|| serde_json::from_str(&w.schema).ok())
                    .flatten()
                    .map(|json| {
                        Arc::new(AvroWriterSchema {
                            text: w.schema.clone(),
                            json,
                        })
                    });
                (Arc::new(d), name)
            }
            ConverterKind::JsonSchema => {
                let d = JsonSchemaDecoder::new(&w.schema, &w.references)
                    .map_err(|e| format!("schema id {}: {e}", w.id))?;
                // `JsonSchema.name()`: the title.
                let title = serde_json::from_str::<Value>(&w.schema)
                    .ok()
                    .and_then(|v| v.get("title").and_then(Value::as_str).map(String::from));
                (Arc::new(d), title)
            }
            _ => {
                let file = ProtobufFile::new(&w.schema, &w.references)
                    .map_err(|e| format!("schema id {}: {e}", w.id))?;
                return Ok(Registered::Protobuf {
                    file: Arc::new(file),
                    writer: w,
                    topic: Arc::from(topic),
                    messages: HashMap::new(),
                });
            }
        };
        let version = self.version_of(&w, topic, record_name.as_deref());
        let schema = self.intern_versioned(decoder.connect_schema(), version, writer);
        Ok(Registered::Single(schema, decoder))
    }

    /// The schema and decoder of a framed key or value, and its payload.
    fn registered_of<'a>(
        &mut self,
        record: &RawRecord<'a>,
        bytes: &'a [u8],
    ) -> Result<(Compiled, &'a [u8]), String> {
        let frame = framing::frame(self.role, record, bytes)?;
        let id = match frame.schema {
            WriterRef::Id(id) => id,
            WriterRef::Guid(guid) => match self.guids.get(&guid) {
                Some(Ok(id)) => *id,
                Some(Err(e)) => return Err(e.clone()),
                None => return Err(format!("{} was not looked up", frame.schema)),
            },
        };
        // Prefix framing: the payload follows the id (and Protobuf's indexes).
        let payload_after = |used: usize| {
            if frame.payload_is_whole {
                bytes
            } else {
                &frame.rest[used..]
            }
        };
        if let Some((recent, compiled)) = &self.recent
            && *recent == id
        {
            return Ok((compiled.clone(), payload_after(0)));
        }
        let (file, writer, topic, indexes, used) = match self.registered.get(&id) {
            Some(Ok(Registered::Single(s, d))) => {
                let compiled = (s.clone(), d.clone());
                self.recent = Some((id, compiled.clone()));
                return Ok((compiled, payload_after(0)));
            }
            Some(Ok(Registered::Protobuf {
                file,
                writer,
                topic,
                messages,
            })) => {
                // Header framing with nothing after the GUID: the first message.
                let (indexes, used) = if frame.payload_is_whole && frame.rest.is_empty() {
                    (vec![0], 0)
                } else {
                    protobuf::read_message_indexes(frame.rest)
                        .map_err(|e| format!("schema id {id}: {e}"))?
                };
                match messages.get(&indexes) {
                    Some(Ok(c)) => return Ok((c.clone(), payload_after(used))),
                    Some(Err(e)) => return Err(e.clone()),
                    None => (file.clone(), writer.clone(), topic.clone(), indexes, used),
                }
            }
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(format!("schema id {id} was not fetched")),
        };
        // First record of this Protobuf message type: compile its decoder.
        let compiled = match file.message(&indexes) {
            Ok(d) => {
                let name = file.message_name(&indexes).ok();
                let version = self.version_of(&writer, &topic, name.as_deref());
                let d: Arc<dyn RowDecoder> = Arc::new(d);
                let s = self.intern_versioned(d.connect_schema(), version, None);
                Ok((s, d))
            }
            Err(e) => Err(format!("schema id {id}, message indexes {indexes:?}: {e}")),
        };
        if let Some(Ok(Registered::Protobuf { messages, .. })) = self.registered.get_mut(&id) {
            messages.insert(indexes, compiled.clone());
        }
        compiled.map(|c| (c, payload_after(used)))
    }

    /// The typed value schema of a registry schema, with its version.
    fn intern_versioned(
        &mut self,
        connect: &ConnectSchema,
        version: Option<i32>,
        avro_writer: Option<Arc<AvroWriterSchema>>,
    ) -> Arc<ValueSchema> {
        let mut connect = connect.clone();
        connect.version = version;
        self.intern_with(ValueKind::Typed, Some(connect), avro_writer)
    }

    fn intern(&mut self, kind: ValueKind, connect: Option<ConnectSchema>) -> Arc<ValueSchema> {
        self.intern_with(kind, connect, None)
    }

    /// One value schema per (kind, Connect schema, Avro writer schema): writer schemas with
    /// equal Connect schemas may still encode differently (e.g. union branch order).
    fn intern_with(
        &mut self,
        kind: ValueKind,
        connect: Option<ConnectSchema>,
        avro_writer: Option<Arc<AvroWriterSchema>>,
    ) -> Arc<ValueSchema> {
        if let Some(s) = self.schemas.iter().find(|s| {
            s.kind == kind
                && s.connect == connect
                && s.avro_writer.as_ref().map(|w| &w.text) == avro_writer.as_ref().map(|w| &w.text)
        }) {
            return s.clone();
        }
        let arrow = match &connect {
            Some(c) => Arc::new(c.arrow_schema()),
            None => Arc::new(Schema::new(vec![Field::new("value", DataType::Utf8, true)])),
        };
        let s = Arc::new(ValueSchema {
            id: self.schemas.len() as u32,
            kind,
            connect,
            arrow,
            avro_writer,
        });
        self.schemas.push(s.clone());
        s
    }

    fn fixed_schema(&mut self) -> Arc<ValueSchema> {
        let ty = match self.config.kind {
            ConverterKind::String => ConnectType::String,
            ConverterKind::Bytes => ConnectType::Bytes,
            ConverterKind::Json => return self.intern(ValueKind::JsonText, None),
            // Not reached: every framed value names its own schema (see `registered_of`).
            ConverterKind::Avro | ConverterKind::JsonSchema | ConverterKind::Protobuf => {
                ConnectType::Bytes
            }
        };
        self.intern(
            ValueKind::Typed,
            Some(ConnectSchema {
                optional: true,
                ..ConnectSchema::of(ty)
            }),
        )
    }

    fn envelope_schema(&mut self, text: &str) -> Result<Arc<ValueSchema>, String> {
        if let Some((recent, s)) = &self.recent_text
            && recent == text
        {
            return Ok(s.clone());
        }
        let s = self.envelope_schema_by_text(text)?;
        self.recent_text = Some((text.to_string(), s.clone()));
        Ok(s)
    }

    fn envelope_schema_by_text(&mut self, text: &str) -> Result<Arc<ValueSchema>, String> {
        if let Some(s) = self.by_text.get(text) {
            return Ok(s.clone());
        }
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("invalid schema JSON: {e}"))?;
        let s = if v.is_null() {
            self.intern(ValueKind::JsonText, None)
        } else {
            let connect = ConnectSchema::from_json(&v)?;
            self.intern(ValueKind::Typed, Some(connect))
        };
        if self.by_text.len() >= 1024 {
            self.by_text.clear();
        }
        self.by_text.insert(text.to_string(), s.clone());
        Ok(s)
    }

    /// Converts a batch; records with null values are dropped only under `NullValues::Ignore`.
    /// The first record that does not convert is the error.
    pub fn convert(
        &mut self,
        tp: &TopicPartition,
        batch: &RawBatch,
    ) -> Result<Vec<Converted>, ConvertError> {
        self.convert_range(tp, batch, 0..batch.len())
    }

    /// Converts every record of a batch that converts (`errors.tolerance=all`): returns the
    /// runs and, in offset order, the records that did not convert. Fails only if a record
    /// that converted once does not convert again, which a deterministic converter never does.
    pub fn convert_tolerant(
        &mut self,
        tp: &TopicPartition,
        batch: &RawBatch,
    ) -> Result<(Vec<Converted>, Vec<ConvertError>), ConvertError> {
        let (mut out, mut failed) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < batch.len() {
            let e = match self.convert_range(tp, batch, start..batch.len()) {
                Ok(runs) => {
                    out.extend(runs);
                    break;
                }
                Err(e) => e,
            };
            let Some(i) = batch.index_of(e.offset).filter(|i| *i >= start) else {
                return Err(e);
            };
            // The builders of the failed attempt may hold part of the failed row: the
            // records before it are converted again on their own. Each record is converted
            // at most twice per failure after it, so a batch costs at most twice its size.
            match self.convert_range(tp, batch, start..i) {
                Ok(runs) => out.extend(runs),
                Err(again) => {
                    return Err(ConvertError {
                        role: self.role,
                        message: format!(
                            "converted once, then failed when converted again: {}",
                            again.message
                        ),
                        ..again
                    });
                }
            }
            failed.push(e);
            start = i + 1;
        }
        Ok((out, failed))
    }

    /// As a key converter: the records of `batch` whose keys do not convert, in offset order
    /// (the converted keys are dropped: the sink writes values only). `StringConverter` and
    /// `ByteArrayConverter` accept any bytes, as Java's decoding replaces malformed UTF-8,
    /// so they are not run at all. Call [`ValueConverter::prepare`] first.
    pub fn check(
        &mut self,
        tp: &TopicPartition,
        batch: &RawBatch,
    ) -> Result<Vec<ConvertError>, ConvertError> {
        if !self.config.kind.can_fail() || batch.iter().all(|r| self.role.bytes(&r).is_none()) {
            return Ok(Vec::new());
        }
        let (_, failed) = self.convert_tolerant(tp, batch)?;
        Ok(failed)
    }

    fn convert_range(
        &mut self,
        tp: &TopicPartition,
        batch: &RawBatch,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<Converted>, ConvertError> {
        let mut out = Vec::new();
        let mut run: Option<Run> = None;
        let opts = ReadOptions {
            replace_null_with_default: self.config.replace_null_with_default,
        };
        let capacity = range.len();
        let role = self.role;
        for index in range {
            let record = batch.get(index);
            let err = |message: String| ConvertError {
                role,
                topic: tp.topic.to_string(),
                partition: tp.partition,
                offset: record.offset,
                message,
            };
            let Some(bytes) = role.bytes(&record) else {
                match self.nulls {
                    NullValues::Ignore => continue,
                    NullValues::Fail => {
                        return Err(err(
                            "the value is null (a tombstone); set behavior.on.null.values=ignore to skip such records".into(),
                        ));
                    }
                }
            };
            // Decide the schema of this record and the payload to append.
            let mut decoder = None;
            let (schema, payload): (Arc<ValueSchema>, Option<Payload>) = match self.config.kind {
                ConverterKind::Avro | ConverterKind::JsonSchema | ConverterKind::Protobuf => {
                    let ((s, d), payload) = self.registered_of(&record, bytes).map_err(&err)?;
                    decoder = Some((d, payload));
                    (s, None)
                }
                ConverterKind::Json if self.config.schemas_enable => {
                    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| {
                        err(format!("invalid JSON envelope ({e}). {ENVELOPE_HINT}"))
                    })?;
                    let (Some(schema), Some(payload)) = (env.schema, env.payload) else {
                        return Err(err(ENVELOPE_HINT.into()));
                    };
                    let s = self.envelope_schema(schema.get()).map_err(&err)?;
                    (s, Some(payload))
                }
                _ => (self.fixed_schema(), None),
            };
            let same = run
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(&r.schema, &schema));
            if !same {
                if let Some(mut done) = run.take() {
                    ValueSizes::measure(&mut self.sizes, &mut done);
                    out.push(finish_run(done));
                }
                let mut fresh = new_run(schema.clone(), capacity);
                ValueSizes::reserve(&self.sizes, &mut fresh, capacity, batch.data_len());
                run = Some(fresh);
            }
            let Some(r) = run.as_mut() else { continue };
            match (&mut r.builder, schema.kind) {
                (RunBuilder::Columns(cols), ValueKind::Typed) if decoder.is_some() => {
                    if let Some((d, payload)) = &decoder {
                        d.decode_row(payload, cols).map_err(&err)?;
                        if let Some(datums) = r.datums.as_mut() {
                            datums.push(Datum {
                                record: index as u32,
                                start: (payload.as_ptr() as usize - bytes.as_ptr() as usize) as u32,
                            });
                        }
                    }
                }
                (RunBuilder::Columns(cols), ValueKind::Typed) => {
                    let Some(connect) = &schema.connect else {
                        continue;
                    };
                    let value: Value = match payload {
                        Some(Payload::Parsed(v)) => v,
                        Some(Payload::Text(t)) => serde_json::from_str(t)
                            .map_err(|e| err(format!("invalid payload JSON: {e}")))?,
                        None => match self.config.kind {
                            // String/bytes converters: the value is the bytes themselves.
                            ConverterKind::String => {
                                Value::String(String::from_utf8_lossy(bytes).into_owned())
                            }
                            _ => Value::Null,
                        },
                    };
                    if self.config.kind == ConverterKind::Bytes {
                        if let Some(ColumnBuilder::Binary(b)) =
                            cols.first_mut().map(|c| c as &mut ColumnBuilder)
                        {
                            b.append_value(bytes);
                        }
                    } else if let ConnectType::Struct(fields) = &connect.ty {
                        let obj = match &value {
                            Value::Object(o) => o,
                            // A null key converts to null; nothing of it is written.
                            Value::Null if connect.optional && role == Role::Key => continue,
                            Value::Null if connect.optional => {
                                return Err(err(
                                    "null struct values cannot be written as rows".into()
                                ));
                            }
                            other => {
                                return Err(err(format!(
                                    "payload: expected object (struct), found {other}"
                                )));
                            }
                        };
                        for ((name, fs), col) in fields.iter().zip(cols.iter_mut()) {
                            col.append(fs, obj.get(name), opts, name).map_err(&err)?;
                        }
                    } else if let Some(col) = cols.first_mut() {
                        col.append(connect, Some(&value), opts, "value")
                            .map_err(&err)?;
                    }
                }
                (RunBuilder::Text(b), _) => {
                    // Schemaless JSON: validate, keep compact text.
                    let text = match payload {
                        Some(Payload::Text(t)) => t.to_string(),
                        Some(Payload::Parsed(v)) => v.to_string(),
                        None => {
                            let raw: &RawValue = serde_json::from_slice(bytes)
                                .map_err(|e| err(format!("invalid JSON: {e}")))?;
                            raw.get().to_string()
                        }
                    };
                    if text.contains(['\n', '\r']) {
                        let v: Value =
                            serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
                        b.append_value(v.to_string());
                    } else {
                        b.append_value(text);
                    }
                }
                (RunBuilder::Binary(b), _) => b.append_value(bytes),
                (RunBuilder::Columns(_), ValueKind::JsonText) => {}
            }
            r.offsets.push(record.offset);
            r.timestamps.push(record.timestamp);
        }
        if let Some(mut done) = run.take() {
            ValueSizes::measure(&mut self.sizes, &mut done);
            out.push(finish_run(done));
        }
        Ok(out)
    }
}

fn new_run(schema: Arc<ValueSchema>, capacity: usize) -> Run {
    let builder = match (&schema.kind, &schema.connect) {
        (ValueKind::JsonText, _) => {
            RunBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 64))
        }
        (ValueKind::Typed, Some(c)) => match &c.ty {
            ConnectType::Struct(fields) => RunBuilder::Columns(
                fields
                    .iter()
                    .map(|(_, s)| ColumnBuilder::new(s, capacity))
                    .collect(),
            ),
            _ => RunBuilder::Columns(vec![ColumnBuilder::new(c, capacity)]),
        },
        (ValueKind::Typed, None) => RunBuilder::Binary(BinaryBuilder::new()),
    };
    Run {
        datums: schema
            .avro_writer
            .is_some()
            .then(|| Vec::with_capacity(capacity)),
        schema,
        builder,
        offsets: Vec::with_capacity(capacity),
        timestamps: Vec::with_capacity(capacity),
    }
}

fn finish_run(mut run: Run) -> Converted {
    let arrays: Vec<ArrayRef> = match &mut run.builder {
        RunBuilder::Columns(cols) => cols.iter_mut().map(|c| c.finish()).collect(),
        RunBuilder::Text(b) => vec![Arc::new(b.finish())],
        RunBuilder::Binary(b) => vec![Arc::new(b.finish())],
    };
    let options = RecordBatchOptions::new().with_row_count(Some(run.offsets.len()));
    let columns = RecordBatch::try_new_with_options(run.schema.arrow.clone(), arrays, &options)
        .unwrap_or_else(|e| unreachable!("builders follow the schema they were made from: {e}"));
    Converted {
        schema: run.schema,
        columns,
        offsets: run.offsets,
        timestamps: run.timestamps,
        datums: run.datums,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    fn json_cfg(schemas: bool) -> ConverterConfig {
        ConverterConfig {
            kind: ConverterKind::Json,
            schemas_enable: schemas,
            subject_strategy: lakesink_config::SubjectNameStrategy::Topic,
            decimal_numeric: false,
            replace_null_with_default: true,
            registry_urls: Vec::new(),
            registry_basic_auth: None,
        }
    }

    fn batch(values: &[Option<&str>]) -> RawBatch {
        let mut b = RawBatch::default();
        for (i, v) in values.iter().enumerate() {
            b.push(
                100 + i as i64,
                Some(1_700_000_000_000),
                None,
                v.map(str::as_bytes),
            );
        }
        b
    }

    const SCHEMA_A: &str = r#"{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"name","type":"string","optional":true},{"field":"n","type":"int32","optional":false,"default":7}]}"#;

    #[test]
    fn envelopes_become_typed_columns_split_by_schema() {
        let a1 = format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":1,"name":"x"}}}}"#);
        let a2 = format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":2,"name":null,"n":3}}}}"#);
        let b1 = r#"{"schema":{"type":"string"},"payload":"hello"}"#;
        let mut c = ValueConverter::new(&json_cfg(true), NullValues::Fail);
        let tp = TopicPartition::new("t", 0);
        let out = c
            .convert(&tp, &batch(&[Some(&a1), Some(&a2), Some(b1), Some(&a1)]))
            .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].offsets, vec![100, 101]);
        assert_eq!(out[0].columns.num_columns(), 3);
        let ids = out[0].columns.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values(), &[1, 2]);
        assert!(out[0].columns.column(1).is_null(1));
        // default applied to the missing field
        let n = out[0]
            .columns
            .column(2)
            .as_primitive::<arrow_array::types::Int32Type>();
        assert_eq!(n.values(), &[7, 3]);
        assert_eq!(out[1].offsets, vec![102]);
        assert_eq!(out[2].schema.id, out[0].schema.id);
    }

    #[test]
    fn an_envelope_is_read_in_either_field_order_and_holds_exactly_schema_and_payload() {
        let tp = TopicPartition::new("t", 0);
        let ids = |text: &str| {
            let mut c = ValueConverter::new(&json_cfg(true), NullValues::Fail);
            let out = c
                .convert(&tp, &batch(&[Some(text)]))
                .map_err(|e| e.message)?;
            let col = out[0].columns.column(0).as_primitive::<Int64Type>();
            Ok::<_, String>((col.values().to_vec(), out[0].columns.column(2).clone()))
        };
        let first = ids(&format!(
            r#"{{"schema":{SCHEMA_A},"payload":{{"id":5,"n":1}}}}"#
        ));
        // The payload first (its text kept, then parsed).
        let second = ids(&format!(
            r#"{{"payload":{{"id":5,"n":1}},"schema":{SCHEMA_A}}}"#
        ));
        assert_eq!(first, second);
        assert_eq!(first.as_ref().map(|(v, _)| v.clone()), Ok(vec![5]));
        // A schemaless envelope keeps the payload's text as it is.
        let mut c = ValueConverter::new(&json_cfg(true), NullValues::Fail);
        let out = c
            .convert(
                &tp,
                &batch(&[Some(r#"{"schema":null,"payload":{"b": [1, 2]}}"#)]),
            )
            .unwrap();
        assert_eq!(
            out[0].columns.column(0).as_string::<i32>().value(0),
            r#"{"b": [1, 2]}"#
        );
        // As in Connect, a field given twice, a third field, a missing payload, a payload
        // that is not JSON and an envelope that is not an object are errors.
        for bad in [
            format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":1}},"extra":1}}"#),
            format!(r#"{{"schema":{SCHEMA_A},"schema":{SCHEMA_A},"payload":{{"id":1}}}}"#),
            format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":1}},"payload":{{"id":2}}}}"#),
            format!(r#"{{"schema":{SCHEMA_A}}}"#),
            format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":1,}}}}"#),
            format!(r#"[{SCHEMA_A},{{"id":1}}]"#),
        ] {
            let e = ids(&bad).expect_err(&bad);
            assert!(e.contains("schemas.enable"), "{bad}: {e}");
        }
    }

    #[test]
    fn errors_name_the_record() {
        let mut c = ValueConverter::new(&json_cfg(true), NullValues::Fail);
        let tp = TopicPartition::new("orders", 3);
        let bad = format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":"one"}}}}"#);
        let e = c.convert(&tp, &batch(&[Some(&bad)])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "record orders-3 offset 100: value converter failed: id: expected int64, found string"
        );
        let e = c.convert(&tp, &batch(&[Some(r#"{"a":1}"#)])).unwrap_err();
        assert!(
            e.message
                .contains("JsonConverter with schemas.enable requires"),
            "{e}"
        );
        let e = c.convert(&tp, &batch(&[None])).unwrap_err();
        assert!(e.message.contains("tombstone"));
        let mut ignoring = ValueConverter::new(&json_cfg(true), NullValues::Ignore);
        assert!(ignoring.convert(&tp, &batch(&[None])).unwrap().is_empty());
    }

    #[test]
    fn tolerant_conversion_sets_failed_records_aside() {
        let a1 = format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":1}}}}"#);
        let a2 = format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":2}}}}"#);
        // Fails after `id` has been appended: a retried row must not leave it behind.
        let bad = format!(r#"{{"schema":{SCHEMA_A},"payload":{{"id":9,"n":"x"}}}}"#);
        let mut c = ValueConverter::new(&json_cfg(true), NullValues::Fail);
        let tp = TopicPartition::new("t", 0);
        let (runs, failed) = c
            .convert_tolerant(
                &tp,
                &batch(&[
                    Some(&a1),
                    Some(&bad),
                    Some("garbage"),
                    Some(&a2),
                    Some(&bad),
                ]),
            )
            .unwrap();
        let failed: Vec<i64> = failed.iter().map(|e| e.offset).collect();
        assert_eq!(failed, vec![101, 102, 104]);
        let offsets: Vec<i64> = runs.iter().flat_map(|r| r.offsets.clone()).collect();
        assert_eq!(offsets, vec![100, 103]);
        let ids: Vec<i64> = runs
            .iter()
            .flat_map(|r| {
                r.columns
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, vec![1, 2]);
        for r in &runs {
            assert_eq!(r.columns.num_rows(), r.offsets.len());
        }
    }

    #[test]
    fn key_converters_check_keys_only() {
        let tp = TopicPartition::new("t", 1);
        let mut b = RawBatch::default();
        let envelope = r#"{"schema":{"type":"struct","optional":true,"fields":[{"field":"id","type":"int64"}]},"payload":null}"#;
        b.push(
            0,
            None,
            Some(br#"{"schema":{"type":"string"},"payload":"a"}"#),
            None,
        );
        b.push(1, None, Some(b"plain text"), Some(b"{}"));
        b.push(2, None, None, Some(b"not even json"));
        b.push(3, None, Some(envelope.as_bytes()), None);
        b.push(
            4,
            None,
            Some(br#"{"schema":{"type":"int32"},"payload":"x"}"#),
            None,
        );
        let mut keys = ValueConverter::for_keys(&json_cfg(true));
        let failed = keys.check(&tp, &b).unwrap();
        assert_eq!(
            failed.iter().map(|e| e.offset).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert!(
            failed[0]
                .to_string()
                .starts_with("record t-1 offset 1: key converter failed: invalid JSON envelope"),
            "{}",
            failed[0]
        );
        // Schemaless JSON keys: any JSON document converts.
        let mut keys = ValueConverter::for_keys(&json_cfg(false));
        let failed = keys.check(&tp, &b).unwrap();
        assert_eq!(failed.iter().map(|e| e.offset).collect::<Vec<_>>(), vec![1]);
        // StringConverter and ByteArrayConverter accept anything.
        for kind in [ConverterKind::String, ConverterKind::Bytes] {
            let mut keys = ValueConverter::for_keys(&ConverterConfig {
                kind,
                ..json_cfg(false)
            });
            let mut bad = RawBatch::default();
            bad.push(0, None, Some(&[0xff, 0xfe]), None);
            assert!(keys.check(&tp, &bad).unwrap().is_empty());
        }
    }

    #[test]
    fn schemaless_json_is_kept_as_compact_text() {
        let mut c = ValueConverter::new(&json_cfg(false), NullValues::Fail);
        let tp = TopicPartition::new("t", 0);
        let out = c
            .convert(
                &tp,
                &batch(&[Some("{\"a\": 1}"), Some("{\n\"b\": [1, 2]\n}")]),
            )
            .unwrap();
        assert_eq!(out.len(), 1);
        let col = out[0].columns.column(0).as_string::<i32>();
        assert_eq!(col.value(0), "{\"a\": 1}");
        assert_eq!(col.value(1), "{\"b\":[1,2]}");
        assert!(c.convert(&tp, &batch(&[Some("{nope")])).is_err());
    }

    #[test]
    fn string_and_bytes_converters() {
        let tp = TopicPartition::new("t", 0);
        let mut s = ValueConverter::new(
            &ConverterConfig {
                kind: ConverterKind::String,
                ..json_cfg(false)
            },
            NullValues::Fail,
        );
        let out = s.convert(&tp, &batch(&[Some("héllo")])).unwrap();
        assert_eq!(
            out[0].columns.column(0).as_string::<i32>().value(0),
            "héllo"
        );
        let mut b = ValueConverter::new(
            &ConverterConfig {
                kind: ConverterKind::Bytes,
                ..json_cfg(false)
            },
            NullValues::Fail,
        );
        let out = b.convert(&tp, &batch(&[Some("\u{1}\u{2}")])).unwrap();
        assert_eq!(
            out[0].columns.column(0).as_binary::<i32>().value(0),
            &[1, 2]
        );
    }
}
