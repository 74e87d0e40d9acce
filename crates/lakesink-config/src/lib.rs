//! Lakesink configuration.
//!
//! Owns: the table of every configuration key ([`keys::KEYS`]), reading `.properties` and
//! REST-style JSON files, validation with errors that name the key, the value and what is
//! allowed, the typed [`SinkConfig`] the rest of Lakesink runs on, and the generated
//! configuration reference (`docs/configuration.md`).
//!
//! Must not touch: Kafka, storage or any I/O beyond reading the config files it is given.

pub mod docs;
pub mod keys;
pub mod properties;
pub mod registry;
pub mod transforms;

use std::collections::BTreeMap;
use std::fmt;

use keys::{Choice, DefaultValue as KeyDefault, Kind, Scope, Support};
pub use properties::{RawConfig, parse_connector_json, parse_properties};

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}:{line}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("{key}: invalid value '{value}': expected {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    #[error("{key}: missing; {hint}")]
    Missing { key: String, hint: String },
    #[error("{key}: unknown configuration key{suggestion}")]
    Unknown { key: String, suggestion: String },
    #[error("{key}={value}: recognised but not supported by Lakesink yet{hint}")]
    NotSupportedYet {
        key: String,
        value: String,
        hint: String,
    },
    #[error("{0}")]
    Conflict(String),
}

impl ConfigError {
    /// The key the problem is about, when it is about one; a conflict names its first key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. }
            | ConfigError::Missing { key, .. }
            | ConfigError::Unknown { key, .. }
            | ConfigError::NotSupportedYet { key, .. } => Some(key),
            ConfigError::Conflict(message) => message
                .split([' ', ',', '='])
                .next()
                .filter(|first| keys::KEYS.iter().any(|k| k.name == *first)),
            ConfigError::Syntax { .. } => None,
        }
    }

    /// The problem without the key in front, as the REST API lists it under its key.
    pub fn detail(&self) -> String {
        let full = self.to_string();
        match self.key() {
            Some(key) if !matches!(self, ConfigError::Conflict(_)) => full
                .strip_prefix(key)
                .map(|rest| rest.trim_start_matches([':', ' ']).to_string())
                .unwrap_or(full),
            _ => full,
        }
    }
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatKind {
    Avro,
    Parquet,
    Json,
    String,
}

impl FormatKind {
    /// File extension, with its dot, as the Confluent sink writes it.
    pub fn extension(self) -> &'static str {
        match self {
            FormatKind::Avro => ".avro",
            FormatKind::Parquet => ".parquet",
            FormatKind::Json => ".json",
            FormatKind::String => ".txt",
        }
    }

    /// The HDFS 3 sink's class of the format.
    pub fn java_class(self) -> &'static str {
        match self {
            FormatKind::Avro => "io.confluent.connect.hdfs3.avro.AvroFormat",
            FormatKind::Parquet => "io.confluent.connect.hdfs3.parquet.ParquetFormat",
            FormatKind::Json => "io.confluent.connect.hdfs3.json.JsonFormat",
            FormatKind::String => "io.confluent.connect.hdfs3.string.StringFormat",
        }
    }

    /// Whether the format needs a schema (typed columns) to write.
    pub fn needs_schema(self) -> bool {
        matches!(self, FormatKind::Avro | FormatKind::Parquet)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvroCodec {
    Null,
    Deflate,
    Snappy,
    Zstandard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetCodec {
    Snappy,
    Zstd,
    Gzip,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConverterKind {
    /// `org.apache.kafka.connect.json.JsonConverter`.
    Json,
    String,
    Bytes,
    /// `io.confluent.connect.avro.AvroConverter`: Confluent wire format with a Schema Registry.
    Avro,
    /// `io.confluent.connect.json.JsonSchemaConverter`.
    JsonSchema,
    /// `io.confluent.connect.protobuf.ProtobufConverter`.
    Protobuf,
}

impl ConverterKind {
    /// The Java class Kafka Connect names this converter by.
    pub fn java_class(self) -> &'static str {
        match self {
            ConverterKind::Json => "org.apache.kafka.connect.json.JsonConverter",
            ConverterKind::String => "org.apache.kafka.connect.storage.StringConverter",
            ConverterKind::Bytes => "org.apache.kafka.connect.converters.ByteArrayConverter",
            ConverterKind::Avro => "io.confluent.connect.avro.AvroConverter",
            ConverterKind::JsonSchema => "io.confluent.connect.json.JsonSchemaConverter",
            ConverterKind::Protobuf => "io.confluent.connect.protobuf.ProtobufConverter",
        }
    }

    /// Whether converting some bytes can fail: `StringConverter` and `ByteArrayConverter`
    /// accept any (Java's decoding replaces malformed UTF-8).
    pub fn can_fail(self) -> bool {
        !matches!(self, ConverterKind::String | ConverterKind::Bytes)
    }

    /// Whether values carry a Schema Registry id (Confluent's wire format).
    pub fn uses_registry(self) -> bool {
        matches!(
            self,
            ConverterKind::Avro | ConverterKind::JsonSchema | ConverterKind::Protobuf
        )
    }
}

/// How Schema Registry converters name the subject of a schema
/// (`io.confluent.kafka.serializers.subject.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value`.
    #[default]
    Topic,
    /// The record's full name.
    Record,
    /// `<topic>-<full name>`.
    TopicRecord,
}

impl SubjectNameStrategy {
    /// The subject of a schema named `record_name` (Avro record, JSON Schema title, Protobuf
    /// message) in `topic`, for keys or values (`role`: `key` or `value`); `None` when the
    /// strategy needs a name and the schema has none.
    pub fn subject(self, topic: &str, role: &str, record_name: Option<&str>) -> Option<String> {
        match self {
            SubjectNameStrategy::Topic => Some(format!("{topic}-{role}")),
            SubjectNameStrategy::Record => record_name.map(String::from),
            SubjectNameStrategy::TopicRecord => record_name.map(|n| format!("{topic}-{n}")),
        }
    }
}

/// A converter and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConverterConfig {
    pub kind: ConverterKind,
    /// Schema Registry converters: `key.subject.name.strategy` for a key converter,
    /// `value.subject.name.strategy` for a value converter.
    pub subject_strategy: SubjectNameStrategy,
    pub schemas_enable: bool,
    pub decimal_numeric: bool,
    pub replace_null_with_default: bool,
    /// Schema Registry converters: the registry URLs (credentials taken out of them).
    pub registry_urls: Vec<String>,
    /// `user:password` for HTTP basic authentication against the registry.
    pub registry_basic_auth: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicSelection {
    List(Vec<String>),
    Regex(String),
}

/// What to do when the next offset to write was deleted by retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetOutOfRange {
    Earliest,
    Fail,
}

/// `partitioner.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionerKind {
    Default,
    Field,
    TimeBased,
    Daily,
    Hourly,
}

impl PartitionerKind {
    /// The Java class Kafka Connect names this partitioner by.
    pub fn java_class(self) -> &'static str {
        match self {
            PartitionerKind::Default => {
                "io.confluent.connect.storage.partitioner.DefaultPartitioner"
            }
            PartitionerKind::Field => "io.confluent.connect.storage.partitioner.FieldPartitioner",
            PartitionerKind::TimeBased => {
                "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
            }
            PartitionerKind::Daily => "io.confluent.connect.storage.partitioner.DailyPartitioner",
            PartitionerKind::Hourly => "io.confluent.connect.storage.partitioner.HourlyPartitioner",
        }
    }
}

/// `timestamp.extractor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampExtractorKind {
    Wallclock,
    Record,
    RecordField,
}

/// The partitioner keys, as given (the partitioner crate checks the pattern syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionerConfig {
    pub kind: PartitionerKind,
    pub field_names: Vec<String>,
    pub duration_ms: i64,
    pub path_format: String,
    pub locale: String,
    pub extractor: TimestampExtractorKind,
    pub timestamp_field: String,
}

/// When files of one topic are committed: the connector's rotation keys with the topic's
/// `topic.<topic>.*` overrides applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub flush_size: u64,
    pub rotate_interval_ms: Option<u64>,
    pub rotate_schedule_interval_ms: Option<u64>,
    pub rotate_size_bytes: Option<u64>,
}

/// Keys a topic may override, longest first so that suffix matching is unambiguous.
pub const TOPIC_OVERRIDABLE_KEYS: &[&str] = &[
    "lakesink.rotate.size.bytes",
    "rotate.schedule.interval.ms",
    "rotate.interval.ms",
    "flush.size",
];

/// The validated configuration of one sink connector running in a worker.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub tasks_max: usize,
    pub topics: TopicSelection,
    pub store_url: String,
    pub hadoop_conf_dir: Option<String>,
    pub topics_dir: String,
    pub logs_dir: String,
    /// `topic.capture.groups.regex`, whose groups `${n}` fill `topics.dir` and `logs.dir`.
    pub topic_capture_regex: Option<String>,
    pub format: FormatKind,
    /// `format.class` as configured (dead letters name it), or the HDFS 3 sink's class of
    /// the default format.
    pub format_class: String,
    /// Rotation of every topic without overrides.
    pub rotation: Rotation,
    /// Topics with `topic.<topic>.*` overrides.
    pub topic_rotation: BTreeMap<String, Rotation>,
    pub timezone: Option<String>,
    pub partitioner: PartitionerConfig,
    pub max_open_files: usize,
    pub max_buffered_bytes: u64,
    /// `lakesink.storage.concurrency`.
    pub storage_concurrency: usize,
    pub retry_backoff_ms: u64,
    pub shutdown_timeout_ms: u64,
    pub zero_pad_width: usize,
    pub avro_codec: AvroCodec,
    /// `enhanced.avro.schema.support`.
    pub avro_enhanced_schema: bool,
    /// `connect.meta.data`.
    pub avro_connect_meta: bool,
    pub parquet_codec: ParquetCodec,
    pub parquet_row_group_bytes: u64,
    pub offset_out_of_range: OffsetOutOfRange,
    /// `behavior.on.null.values=ignore`.
    pub ignore_null_values: bool,
    pub bootstrap_servers: String,
    /// `lakesink.worker.id`: enables static group membership.
    pub worker_id: Option<String>,
    /// Kafka consumer settings: worker `consumer.*`, then connector `consumer.override.*`.
    pub consumer: BTreeMap<String, String>,
    pub key_converter: Option<ConverterConfig>,
    pub value_converter: ConverterConfig,
    pub errors: ErrorHandling,
    pub compatibility: Compatibility,
    /// `transforms` and `predicates`: the single message transforms applied to every record.
    pub transforms: transforms::TransformsConfig,
    pub restart: RestartPolicy,
}

/// When a failed task is restarted by itself (`lakesink.task.restart.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts in a row before the task stays failed; `None` restarts forever.
    pub max_attempts: Option<u32>,
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
}

impl RestartPolicy {
    /// The wait before restart number `attempt` (0-based) in a row, or `None` once the
    /// attempts are used up.
    pub fn delay(&self, attempt: u32) -> Option<std::time::Duration> {
        if self.max_attempts.is_some_and(|max| attempt >= max) {
            return None;
        }
        let factor = 1u64 << attempt.min(32);
        let ms = self
            .backoff_ms
            .saturating_mul(factor)
            .min(self.backoff_max_ms);
        Some(std::time::Duration::from_millis(ms))
    }
}

/// `schema.compatibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compatibility {
    None,
    Backward,
    Forward,
    Full,
}

/// Kafka Connect's `errors.*` keys: what happens to a record that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorHandling {
    /// `errors.tolerance=all`: such records are set aside and the partition moves on.
    pub tolerate_all: bool,
    pub log_enable: bool,
    pub log_include_messages: bool,
    /// `errors.deadletterqueue.topic.name` (only used with `tolerate_all`).
    pub dlq_topic: Option<String>,
    pub dlq_replication_factor: i32,
    pub dlq_context_headers: bool,
    /// `errors.retry.timeout`: how long transient failures (a Schema Registry that cannot be
    /// reached) are retried, in ms; -1 forever. Lakesink retries at least five minutes.
    pub retry_timeout_ms: i64,
    /// `errors.retry.delay.max.ms` when set: the longest wait between two retries.
    pub retry_delay_max_ms: Option<i64>,
}

impl SinkConfig {
    /// The rotation settings of `topic`.
    pub fn rotation_for(&self, topic: &str) -> Rotation {
        self.topic_rotation
            .get(topic)
            .copied()
            .unwrap_or(self.rotation)
    }

    /// The consumer group, as Kafka Connect names it.
    pub fn group_id(&self) -> String {
        format!("connect-{}", self.name)
    }
}

/// A validated configuration plus the warnings worth logging at start-up.
#[derive(Debug)]
pub struct Loaded {
    pub config: SinkConfig,
    /// The connector's keys as given (what the REST API shows as its config).
    pub raw: RawConfig,
    pub warnings: Vec<String>,
}

/// The raw keys of one scope with defaults applied, for typed reads after validation.
struct Values<'a> {
    raw: &'a RawConfig,
    scope: Scope,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.raw.get(name) {
            Some(v) => Some(v.as_str()),
            None => match keys::find(self.scope, name).map(|k| k.default) {
                Some(KeyDefault::Value(v)) => Some(v),
                _ => None,
            },
        }
    }

    fn int(&self, name: &str) -> i64 {
        // Validation ran first, so a present value parses; a missing required key was reported.
        self.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    fn bool(&self, name: &str) -> bool {
        self.get(name)
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(false)
    }

    fn choice(&self, name: &str) -> Option<&'static str> {
        let def = keys::find(self.scope, name)?;
        let Kind::Choice(choices) = def.kind else {
            return None;
        };
        keys::resolve_choice(choices, self.get(name)?).map(|c| c.value)
    }
}

/// Checks one value against its key's kind.
pub fn check_value(def: &keys::KeyDef, value: &str) -> Result<(), ConfigError> {
    let invalid = |expected: String| ConfigError::Invalid {
        key: def.name.to_string(),
        value: value.to_string(),
        expected,
    };
    let v = value.trim();
    match &def.kind {
        Kind::String | Kind::List => Ok(()),
        Kind::NonEmpty => {
            if v.is_empty() {
                Err(invalid(def.kind.describe()))
            } else {
                Ok(())
            }
        }
        Kind::Int { min, max } => match v.parse::<i64>() {
            Ok(n) if n >= *min && n <= *max => Ok(()),
            _ => Err(invalid(def.kind.describe())),
        },
        Kind::Bool => {
            if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err(invalid(def.kind.describe()))
            }
        }
        Kind::Choice(choices) => match keys::resolve_choice(choices, v) {
            Some(Choice {
                available: true, ..
            }) => Ok(()),
            Some(c) => Err(ConfigError::NotSupportedYet {
                key: def.name.to_string(),
                value: value.to_string(),
                hint: format!(" ({}); supported: {}", c.value, def.kind.describe()),
            }),
            None => Err(invalid(def.kind.describe())),
        },
        Kind::TimeZone => {
            if parse_timezone(v).is_some() {
                Ok(())
            } else {
                Err(invalid(def.kind.describe()))
            }
        }
        Kind::Regex => regex::Regex::new(v)
            .map(|_| ())
            .map_err(|e| invalid(format!("a valid regular expression ({e})"))),
        Kind::StoreUrl => {
            let ok = ["hdfs://", "viewfs://", "file://"]
                .iter()
                .any(|scheme| v.starts_with(scheme) && v.len() > scheme.len());
            if ok {
                Ok(())
            } else {
                Err(invalid(def.kind.describe()))
            }
        }
    }
}

/// A time zone as the Confluent sink accepts it: an IANA id or a fixed `+hh:mm` offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeZoneId {
    Named(chrono_tz::Tz),
    /// Offset east of UTC in seconds.
    Fixed(i32),
}

pub fn parse_timezone(s: &str) -> Option<TimeZoneId> {
    let s = s.trim();
    if let Ok(tz) = s.parse::<chrono_tz::Tz>() {
        return Some(TimeZoneId::Named(tz));
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=18).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    Some(TimeZoneId::Fixed(sign * (h * 3600 + m * 60)))
}

/// The candidate closest to a mistyped `name`, when it is close enough to be meant.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|k| (strsim::levenshtein(k, name), k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| k)
}

fn suggestion(scope: Scope, name: &str) -> String {
    let known = keys::KEYS
        .iter()
        .filter(|k| k.scope == scope)
        .map(|k| k.name);
    closest(name, known)
        .map(|k| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

/// Splits a raw map of one scope into known keys, prefixed keys and problems.
struct ScopeCheck {
    prefixed: BTreeMap<&'static str, BTreeMap<String, String>>,
}

fn check_scope(
    raw: &RawConfig,
    scope: Scope,
    unknown_is_error: bool,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> ScopeCheck {
    let mut prefixed: BTreeMap<&'static str, BTreeMap<String, String>> = BTreeMap::new();
    for (name, value) in raw {
        if let Some(def) = keys::find(scope, name) {
            if let Err(e) = check_value(def, value) {
                errors.push(e);
                continue;
            }
            match def.support {
                Support::Supported => {}
                Support::NoEffect(why) => {
                    if !is_default(def, value) {
                        warnings.push(format!("{name}={value} has no effect: {why}"));
                    }
                }
                Support::NotYet => {
                    if !is_default(def, value) {
                        errors.push(ConfigError::NotSupportedYet {
                            key: name.clone(),
                            value: value.clone(),
                            hint: default_hint(def),
                        });
                    }
                }
            }
            continue;
        }
        let prefix = keys::PREFIXES
            .iter()
            .filter(|p| p.scope == scope && name.starts_with(p.prefix))
            .max_by_key(|p| p.prefix.len());
        match prefix {
            Some(p) => match p.support {
                Support::Supported => {
                    prefixed
                        .entry(p.prefix)
                        .or_default()
                        .insert(name[p.prefix.len()..].to_string(), value.clone());
                }
                Support::NoEffect(why) => {
                    warnings.push(format!("{name} has no effect: {why}"));
                }
                Support::NotYet => errors.push(ConfigError::NotSupportedYet {
                    key: name.clone(),
                    value: value.clone(),
                    hint: String::new(),
                }),
            },
            None => {
                let e = ConfigError::Unknown {
                    key: name.clone(),
                    suggestion: suggestion(scope, name),
                };
                if unknown_is_error {
                    errors.push(e);
                } else {
                    warnings.push(format!("{e}; skipped"));
                }
            }
        }
    }
    ScopeCheck { prefixed }
}

fn is_default(def: &keys::KeyDef, value: &str) -> bool {
    match def.default {
        KeyDefault::Value(d) => {
            d.trim().eq_ignore_ascii_case(value.trim())
                || matches!(&def.kind, Kind::Choice(c) if keys::resolve_choice(c, value).map(|c| c.value) == keys::resolve_choice(c, d).map(|c| c.value))
        }
        KeyDefault::Unset | KeyDefault::Required => value.trim().is_empty(),
    }
}

fn default_hint(def: &keys::KeyDef) -> String {
    match def.default {
        KeyDefault::Value(d) if !d.is_empty() => {
            format!("; remove the key or set it to '{d}'")
        }
        _ => "; remove the key".to_string(),
    }
}

fn converter_config(
    role: &str,
    kind_value: &str,
    settings: Option<&BTreeMap<String, String>>,
    unknown_is_error: bool,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> Option<ConverterConfig> {
    let kind = match keys::resolve_choice(keys::CONVERTERS, kind_value)?.value {
        "json" => ConverterKind::Json,
        "string" => ConverterKind::String,
        "bytes" => ConverterKind::Bytes,
        "avro" => ConverterKind::Avro,
        "json-schema" => ConverterKind::JsonSchema,
        "protobuf" => ConverterKind::Protobuf,
        _ => return None,
    };
    let empty = BTreeMap::new();
    let settings = settings.unwrap_or(&empty);
    for (name, value) in settings {
        match keys::find(Scope::Converter, name) {
            Some(def) => {
                if let Err(e) = check_value(def, value) {
                    errors.push(match e {
                        ConfigError::Invalid {
                            value, expected, ..
                        } => ConfigError::Invalid {
                            key: format!("{role}.{name}"),
                            value,
                            expected,
                        },
                        other => other,
                    });
                } else if let Support::NoEffect(why) = def.support {
                    warnings.push(format!("{role}.{name} has no effect: {why}"));
                }
            }
            None => {
                let e = ConfigError::Unknown {
                    key: format!("{role}.{name}"),
                    suggestion: suggestion(Scope::Converter, name)
                        .replace("'", &format!("'{role}.")),
                };
                if unknown_is_error {
                    errors.push(e);
                } else {
                    warnings.push(format!("{e}; skipped"));
                }
            }
        }
    }
    let raw: RawConfig = settings.clone();
    let values = Values {
        raw: &raw,
        scope: Scope::Converter,
    };
    let mut registry_urls = Vec::new();
    let mut registry_basic_auth = None;
    if kind.uses_registry() {
        let user_info_source = values.choice("basic.auth.credentials.source") == Some("USER_INFO");
        for url in values
            .get("schema.registry.url")
            .unwrap_or_default()
            .split(',')
        {
            let url = url.trim().trim_end_matches('/');
            if url.is_empty() {
                continue;
            }
            // http://user:password@host:port: the credentials of the URL source.
            match url.split_once("://").and_then(|(scheme, rest)| {
                rest.split_once('@')
                    .map(|(creds, host)| (format!("{scheme}://{host}"), creds.to_string()))
            }) {
                Some((plain, creds)) => {
                    if !user_info_source {
                        registry_basic_auth = Some(creds);
                    }
                    registry_urls.push(plain);
                }
                None => registry_urls.push(url.to_string()),
            }
        }
        if registry_urls.is_empty() {
            errors.push(ConfigError::Missing {
                key: format!("{role}.schema.registry.url"),
                hint: "the Schema Registry URL(s) of the converter, e.g. http://registry:8081"
                    .into(),
            });
        }
        if user_info_source {
            match values
                .get("basic.auth.user.info")
                .filter(|v| v.contains(':'))
            {
                Some(info) => registry_basic_auth = Some(info.to_string()),
                None => errors.push(ConfigError::Missing {
                    key: format!("{role}.basic.auth.user.info"),
                    hint: "user:password, required with basic.auth.credentials.source=USER_INFO"
                        .into(),
                }),
            }
        }
    }
    let strategy_key = if role == "key.converter" {
        "key.subject.name.strategy"
    } else {
        "value.subject.name.strategy"
    };
    let subject_strategy = match values.choice(strategy_key) {
        Some("RecordNameStrategy") => SubjectNameStrategy::Record,
        Some("TopicRecordNameStrategy") => SubjectNameStrategy::TopicRecord,
        _ => SubjectNameStrategy::Topic,
    };
    Some(ConverterConfig {
        kind,
        subject_strategy,
        registry_urls,
        registry_basic_auth,
        schemas_enable: values.bool("schemas.enable"),
        decimal_numeric: values.choice("decimal.format") == Some("NUMERIC"),
        replace_null_with_default: values.bool("replace.null.with.default"),
    })
}

/// The `errors.*` keys, checked against each other and against the consumed topics.
fn error_handling(
    c: &Values<'_>,
    topics: Option<&TopicSelection>,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> ErrorHandling {
    let tolerate_all = c.choice("errors.tolerance") == Some("all");
    let dlq_topic = c
        .get("errors.deadletterqueue.topic.name")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from);
    if let Some(dlq) = &dlq_topic {
        // As Connect's SinkConnectorConfig: a sink consuming its own dead letters would
        // loop on them.
        let consumed = match topics {
            Some(TopicSelection::List(list)) => list.iter().any(|t| t == dlq),
            Some(TopicSelection::Regex(r)) => {
                regex::Regex::new(&format!("^(?:{r})$")).is_ok_and(|re| re.is_match(dlq))
            }
            None => false,
        };
        if consumed {
            errors.push(ConfigError::Conflict(format!(
                "errors.deadletterqueue.topic.name={dlq} is one of the consumed topics (topics / topics.regex); the sink would consume its own dead letters"
            )));
        }
        if !tolerate_all {
            warnings.push(format!(
                "errors.deadletterqueue.topic.name={dlq} has no effect with errors.tolerance=none: a record that cannot be written stops the task"
            ));
        }
    } else if tolerate_all {
        warnings.push(
            "errors.tolerance=all without errors.deadletterqueue.topic.name: records that cannot be written are skipped, each logged with its topic, partition and offset".into(),
        );
    }
    ErrorHandling {
        tolerate_all,
        log_enable: c.bool("errors.log.enable"),
        log_include_messages: c.bool("errors.log.include.messages"),
        dlq_topic,
        dlq_replication_factor: c.int("errors.deadletterqueue.topic.replication.factor") as i32,
        dlq_context_headers: c.bool("errors.deadletterqueue.context.headers.enable"),
        retry_timeout_ms: c.int("errors.retry.timeout"),
        retry_delay_max_ms: c
            .raw
            .contains_key("errors.retry.delay.max.ms")
            .then(|| c.int("errors.retry.delay.max.ms")),
    }
}

/// Java consumer property names that librdkafka spells differently or does not have.
fn translate_consumer_key(
    name: &str,
    value: &str,
    out: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) {
    match name {
        // Deserializers are fixed: converters decode bytes.
        "key.deserializer" | "value.deserializer" => warnings.push(format!(
            "consumer {name} has no effect: converters decode records"
        )),
        // librdkafka fetches continuously; batching is Lakesink's own.
        "max.poll.records" => warnings.push(format!(
            "consumer max.poll.records={value} has no effect: records are batched by the fetcher"
        )),
        "sasl.jaas.config" => {
            // PlainLoginModule / ScramLoginModule required username="u" password="p";
            let field = |f: &str| {
                let start = value.find(&format!("{f}=\""))? + f.len() + 2;
                let end = value[start..].find('"')? + start;
                Some(value[start..end].to_string())
            };
            if let Some(u) = field("username") {
                out.insert("sasl.username".into(), u);
            }
            if let Some(p) = field("password") {
                out.insert("sasl.password".into(), p);
            }
        }
        _ => {
            out.insert(name.to_string(), value.to_string());
        }
    }
}

/// Connect replaces `${name:path:key}` in a value with what the config provider `name` (listed
/// in the worker's `config.providers`) returns. Lakesink loads no provider: such a value would
/// be taken literally (a password of `${file:...}`), so it stops start-up instead.
fn check_provider_references(
    worker: &RawConfig,
    connector: &RawConfig,
    errors: &mut Vec<ConfigError>,
) {
    let providers: Vec<&str> = worker
        .get("config.providers")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if providers.is_empty() {
        return;
    }
    for (name, value) in worker.iter().chain(connector.iter()) {
        let refers = providers
            .iter()
            .find(|p| value.contains(&format!("${{{p}:")));
        if let Some(provider) = refers {
            errors.push(ConfigError::Conflict(format!(
                "{name}: its value refers to the config provider '{provider}' (config.providers); Lakesink loads no config provider yet, so it would be taken literally: write the value itself into the file"
            )));
        }
    }
}

/// The worker's own settings: where its REST API listens and what it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// `listeners`, as `host:port` to bind (an empty host binds every interface).
    pub listeners: Vec<Listener>,
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
    pub topic_tracking: bool,
    pub topic_tracking_reset: bool,
    pub bootstrap_servers: String,
}

/// One REST listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// The address to bind: an empty host means every interface.
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            self.host.as_str()
        };
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Validates the worker file on its own (the REST API's settings).
pub fn load_worker(worker: &RawConfig) -> Result<WorkerConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    check_scope(worker, Scope::Worker, true, &mut errors, &mut warnings);
    // Unknown keys are reported by `load`, under the connector's `lakesink.config.unknown.keys`.
    errors.retain(|e| !matches!(e, ConfigError::Unknown { .. }));
    let w = Values {
        raw: worker,
        scope: Scope::Worker,
    };
    let mut listeners = Vec::new();
    for item in w
        .get("listeners")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match parse_listener(item) {
            Ok(l) => listeners.push(l),
            Err(expected) => errors.push(ConfigError::Invalid {
                key: "listeners".into(),
                value: item.into(),
                expected,
            }),
        }
    }
    let advertised_port = w
        .get("rest.advertised.port")
        .and_then(|p| p.trim().parse::<u16>().ok());
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(WorkerConfig {
        listeners,
        advertised_host: w
            .get("rest.advertised.host.name")
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(String::from),
        advertised_port,
        topic_tracking: w.bool("topic.tracking.enable"),
        topic_tracking_reset: w.bool("topic.tracking.allow.reset"),
        bootstrap_servers: w.get("bootstrap.servers").unwrap_or_default().trim().into(),
    })
}

/// The settings of `lakesink distributed`: the worker group and its internal topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedConfig {
    pub group_id: String,
    pub config_topic: String,
    pub config_replication_factor: i32,
    pub status_topic: String,
    pub status_partitions: i32,
    pub status_replication_factor: i32,
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub rebalance_timeout_ms: u64,
}

/// Validates the worker file of `lakesink distributed`: its REST settings and the keys of
/// the worker group, which are required there.
pub fn load_distributed(worker: &RawConfig) -> Result<DistributedConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    check_scope(worker, Scope::Worker, true, &mut errors, &mut warnings);
    errors.retain(|e| !matches!(e, ConfigError::Unknown { .. }));
    let w = Values {
        raw: worker,
        scope: Scope::Worker,
    };
    for required in ["group.id", "config.storage.topic", "status.storage.topic"] {
        if w.get(required).is_none_or(|v| v.trim().is_empty()) {
            errors.push(ConfigError::Missing {
                key: required.into(),
                hint: "`lakesink distributed` needs group.id, config.storage.topic and status.storage.topic, as connect-distributed does".into(),
            });
        }
    }
    let session = w.int("session.timeout.ms");
    let heartbeat = w.int("heartbeat.interval.ms");
    if errors.is_empty() && heartbeat * 3 > session {
        errors.push(ConfigError::Invalid {
            key: "heartbeat.interval.ms".into(),
            value: heartbeat.to_string(),
            expected: format!("at most a third of session.timeout.ms ({session})"),
        });
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let text = |k: &str| w.get(k).unwrap_or_default().trim().to_string();
    Ok(DistributedConfig {
        group_id: text("group.id"),
        config_topic: text("config.storage.topic"),
        config_replication_factor: w.int("config.storage.replication.factor") as i32,
        status_topic: text("status.storage.topic"),
        status_partitions: w.int("status.storage.partitions") as i32,
        status_replication_factor: w.int("status.storage.replication.factor") as i32,
        session_timeout_ms: session as u64,
        heartbeat_interval_ms: heartbeat as u64,
        rebalance_timeout_ms: w.int("rebalance.timeout.ms") as u64,
    })
}

fn parse_listener(item: &str) -> Result<Listener, String> {
    const EXPECTED: &str = "http://host:port (an empty host binds every interface)";
    let Some((scheme, rest)) = item.split_once("://") else {
        return Err(EXPECTED.into());
    };
    if scheme.eq_ignore_ascii_case("https") {
        return Err("an http:// listener: HTTPS for the REST API is not available yet".into());
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(EXPECTED.into());
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => return Err(EXPECTED.into()),
    };
    let port: u16 = port.parse().map_err(|_| EXPECTED.to_string())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(Listener {
        host: host.to_string(),
        port,
    })
}

/// Validates a worker config and a connector config together.
pub fn load(worker: &RawConfig, connector: &RawConfig) -> Result<Loaded, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let unknown_is_error = connector
        .get("lakesink.config.unknown.keys")
        .map(|v| !v.trim().eq_ignore_ascii_case("warn"))
        .unwrap_or(true);
    let wcheck = check_scope(
        worker,
        Scope::Worker,
        unknown_is_error,
        &mut errors,
        &mut warnings,
    );
    let ccheck = check_scope(
        connector,
        Scope::Connector,
        unknown_is_error,
        &mut errors,
        &mut warnings,
    );
    for def in keys::KEYS
        .iter()
        .filter(|k| k.default == KeyDefault::Required)
    {
        let raw = match def.scope {
            Scope::Worker => worker,
            Scope::Connector => connector,
            Scope::Converter | Scope::Registry => continue,
        };
        if raw.get(def.name).is_none_or(|v| v.trim().is_empty())
            && !errors
                .iter()
                .any(|e| matches!(e, ConfigError::Invalid { key, .. } if key == def.name))
        {
            errors.push(ConfigError::Missing {
                key: def.name.to_string(),
                hint: def.kind.describe(),
            });
        }
    }

    let w = Values {
        raw: worker,
        scope: Scope::Worker,
    };
    let c = Values {
        raw: connector,
        scope: Scope::Connector,
    };

    let topics = match (connector.get("topics"), connector.get("topics.regex")) {
        (Some(t), None) if !t.trim().is_empty() => {
            let list: Vec<String> = t
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            for t in &list {
                if !valid_topic_name(t) {
                    errors.push(ConfigError::Invalid {
                        key: "topics".into(),
                        value: t.clone(),
                        expected: "Kafka topic names of at most 249 characters [a-zA-Z0-9._-]"
                            .into(),
                    });
                }
            }
            Some(TopicSelection::List(list))
        }
        (None, Some(r)) if !r.trim().is_empty() => Some(TopicSelection::Regex(r.trim().into())),
        (Some(_), Some(_)) => {
            errors.push(ConfigError::Conflict(
                "topics and topics.regex are both set; set exactly one".into(),
            ));
            None
        }
        _ => {
            errors.push(ConfigError::Missing {
                key: "topics".into(),
                hint: "set topics (a comma-separated list) or topics.regex".into(),
            });
            None
        }
    };

    let store_url = c
        .get("store.url")
        .or_else(|| c.get("hdfs.url"))
        .map(|s| s.trim().trim_end_matches('/').to_string());
    if store_url.is_none() {
        errors.push(ConfigError::Missing {
            key: "store.url".into(),
            hint: "set store.url (or the older hdfs.url), e.g. hdfs://namenode:8020 or file:///data/lake".into(),
        });
    }

    let timezone = c.get("timezone").map(|s| s.trim().to_string());
    let rotation = Rotation {
        flush_size: c.int("flush.size").max(1) as u64,
        rotate_interval_ms: positive(c.int("rotate.interval.ms")),
        rotate_schedule_interval_ms: positive(c.int("rotate.schedule.interval.ms")),
        rotate_size_bytes: positive(c.int("lakesink.rotate.size.bytes")),
    };
    let topic_rotation = topic_overrides(rotation, ccheck.prefixed.get("topic."), &mut errors);
    if timezone.is_none()
        && std::iter::once(&rotation)
            .chain(topic_rotation.values())
            .any(|r| r.rotate_schedule_interval_ms.is_some())
    {
        errors.push(ConfigError::Missing {
            key: "timezone".into(),
            hint: "rotate.schedule.interval.ms needs a timezone, e.g. UTC".into(),
        });
    }
    let partitioner = partitioner_config(&c, timezone.is_some(), &mut errors);
    let topic_capture_regex = c
        .get("topic.capture.groups.regex")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from);
    for key in ["topics.dir", "logs.dir"] {
        if let Some(template) = c.get(key) {
            check_dir_template(key, template, topic_capture_regex.as_deref(), &mut errors);
        }
    }

    let format = match c.choice("format.class") {
        Some("parquet") => FormatKind::Parquet,
        Some("json") => FormatKind::Json,
        Some("string") => FormatKind::String,
        _ => FormatKind::Avro,
    };

    // Converters: a connector's converter class brings its own settings; otherwise the worker's.
    let mut pick = |role: &str| -> Option<ConverterConfig> {
        let prefix: &'static str = if role == "key.converter" {
            "key.converter."
        } else {
            "value.converter."
        };
        let (class, settings) = match connector.get(role) {
            Some(class) => (class, ccheck.prefixed.get(prefix)),
            None => (worker.get(role)?, wcheck.prefixed.get(prefix)),
        };
        converter_config(
            role,
            class,
            settings,
            unknown_is_error,
            &mut errors,
            &mut warnings,
        )
    };
    let key_converter = pick("key.converter");
    let value_converter = pick("value.converter");
    if value_converter.is_none()
        && connector.get("value.converter").is_none()
        && worker.get("value.converter").is_none()
    {
        errors.push(ConfigError::Missing {
            key: "value.converter".into(),
            hint: "set it in the worker or connector config, e.g. org.apache.kafka.connect.json.JsonConverter".into(),
        });
    }
    if let Some(vc) = &value_converter {
        let schemaless = match vc.kind {
            ConverterKind::Json => !vc.schemas_enable,
            ConverterKind::String
            | ConverterKind::Bytes
            | ConverterKind::Avro
            | ConverterKind::JsonSchema
            | ConverterKind::Protobuf => false,
        };
        if schemaless && format.needs_schema() {
            errors.push(ConfigError::Conflict(format!(
                "format.class={} needs records with a schema, but value.converter.schemas.enable=false gives schemaless JSON; use format.class=JsonFormat or StringFormat, or enable schemas",
                c.get("format.class").unwrap_or("")
            )));
        }
    }

    let mut consumer = BTreeMap::new();
    if let Some(settings) = wcheck.prefixed.get("consumer.") {
        for (k, v) in settings {
            translate_consumer_key(k, v, &mut consumer, &mut warnings);
        }
    }
    if let Some(overrides) = ccheck.prefixed.get("consumer.override.") {
        if w.choice("connector.client.config.override.policy") == Some("None") {
            errors.push(ConfigError::Conflict(format!(
                "consumer.override.* keys ({}) are forbidden by the worker's connector.client.config.override.policy=None",
                overrides.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        for (k, v) in overrides {
            translate_consumer_key(k, v, &mut consumer, &mut warnings);
        }
    }
    for reserved in [
        "group.id",
        "group.instance.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
    ] {
        if consumer.contains_key(reserved) {
            errors.push(ConfigError::Conflict(format!(
                "consumer setting {reserved} is managed by Lakesink (exactly-once needs it) and cannot be set"
            )));
        }
    }

    let transforms = transforms::parse(
        connector.get("transforms"),
        connector.get("predicates"),
        ccheck.prefixed.get("transforms."),
        ccheck.prefixed.get("predicates."),
        unknown_is_error,
        &mut errors,
        &mut warnings,
    );

    let error_handling = error_handling(&c, topics.as_ref(), &mut errors, &mut warnings);
    check_provider_references(worker, connector, &mut errors);

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let (Some(topics), Some(store_url), Some(value_converter)) =
        (topics, store_url, value_converter)
    else {
        return Err(ConfigErrors(vec![ConfigError::Conflict(
            "incomplete configuration".into(),
        )]));
    };

    let config = SinkConfig {
        name: c.get("name").unwrap_or_default().trim().to_string(),
        tasks_max: c.int("tasks.max").max(1) as usize,
        topics,
        store_url,
        hadoop_conf_dir: c
            .get("hadoop.conf.dir")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
        topics_dir: c
            .get("topics.dir")
            .unwrap_or("topics")
            .trim()
            .trim_matches('/')
            .to_string(),
        logs_dir: c
            .get("logs.dir")
            .unwrap_or("logs")
            .trim()
            .trim_matches('/')
            .to_string(),
        topic_capture_regex,
        format,
        format_class: c
            .get("format.class")
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| format.java_class().to_string()),
        rotation,
        topic_rotation,
        timezone,
        partitioner,
        max_open_files: c.int("lakesink.max.open.files").max(1) as usize,
        max_buffered_bytes: c.int("lakesink.max.buffered.bytes").max(1) as u64,
        storage_concurrency: c.int("lakesink.storage.concurrency").max(1) as usize,
        retry_backoff_ms: c.int("retry.backoff.ms") as u64,
        shutdown_timeout_ms: c.int("shutdown.timeout.ms") as u64,
        zero_pad_width: c.int("filename.offset.zero.pad.width") as usize,
        avro_codec: match c.choice("avro.codec") {
            Some("deflate") => AvroCodec::Deflate,
            Some("snappy") => AvroCodec::Snappy,
            Some("zstandard") => AvroCodec::Zstandard,
            _ => AvroCodec::Null,
        },
        avro_enhanced_schema: c.bool("enhanced.avro.schema.support"),
        avro_connect_meta: c.bool("connect.meta.data"),
        parquet_codec: match c.choice("parquet.codec") {
            Some("zstd") => ParquetCodec::Zstd,
            Some("gzip") => ParquetCodec::Gzip,
            Some("none") => ParquetCodec::None,
            _ => ParquetCodec::Snappy,
        },
        parquet_row_group_bytes: c.int("lakesink.parquet.row.group.bytes") as u64,
        offset_out_of_range: match c.choice("lakesink.offset.out.of.range") {
            Some("fail") => OffsetOutOfRange::Fail,
            _ => OffsetOutOfRange::Earliest,
        },
        ignore_null_values: c.choice("behavior.on.null.values") == Some("ignore"),
        worker_id: w
            .get("lakesink.worker.id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
        bootstrap_servers: w
            .get("bootstrap.servers")
            .unwrap_or_default()
            .trim()
            .to_string(),
        consumer,
        key_converter,
        value_converter,
        errors: error_handling,
        compatibility: match c.choice("schema.compatibility") {
            Some("BACKWARD") => Compatibility::Backward,
            Some("FORWARD") => Compatibility::Forward,
            Some("FULL") => Compatibility::Full,
            _ => Compatibility::None,
        },
        transforms,
        restart: RestartPolicy {
            max_attempts: u32::try_from(c.int("lakesink.task.restart.max.attempts")).ok(),
            backoff_ms: c.int("lakesink.task.restart.backoff.ms") as u64,
            backoff_max_ms: c.int("lakesink.task.restart.backoff.max.ms") as u64,
        },
    };
    Ok(Loaded {
        config,
        raw: connector.clone(),
        warnings,
    })
}

/// Reads `topic.<topic>.<key>` overrides (the topic may contain dots: the key is matched at
/// the end of the name).
fn topic_overrides(
    base: Rotation,
    raw: Option<&BTreeMap<String, String>>,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, Rotation> {
    let mut out: BTreeMap<String, Rotation> = BTreeMap::new();
    for (rest, value) in raw.into_iter().flatten() {
        let full = format!("topic.{rest}");
        let Some((topic, key)) = TOPIC_OVERRIDABLE_KEYS.iter().find_map(|k| {
            rest.strip_suffix(k)
                .and_then(|t| t.strip_suffix('.'))
                .map(|t| (t, *k))
        }) else {
            errors.push(ConfigError::Unknown {
                key: full,
                suggestion: format!(
                    " (per-topic overrides are topic.<topic>.<key> with <key> one of {})",
                    TOPIC_OVERRIDABLE_KEYS.join(", ")
                ),
            });
            continue;
        };
        if !valid_topic_name(topic) {
            errors.push(ConfigError::Invalid {
                key: full,
                value: value.clone(),
                expected: format!("topic.<topic>.{key} with a valid Kafka topic name"),
            });
            continue;
        }
        let Some(def) = keys::find(Scope::Connector, key) else {
            continue;
        };
        if let Err(e) = check_value(def, value) {
            errors.push(match e {
                ConfigError::Invalid {
                    value, expected, ..
                } => ConfigError::Invalid {
                    key: full,
                    value,
                    expected,
                },
                other => other,
            });
            continue;
        }
        let n: i64 = value.trim().parse().unwrap_or(-1);
        let r = out.entry(topic.to_string()).or_insert(base);
        match key {
            "flush.size" => r.flush_size = n.max(1) as u64,
            "rotate.interval.ms" => r.rotate_interval_ms = positive(n),
            "rotate.schedule.interval.ms" => r.rotate_schedule_interval_ms = positive(n),
            _ => r.rotate_size_bytes = positive(n),
        }
    }
    out
}

fn partitioner_config(
    c: &Values<'_>,
    has_timezone: bool,
    errors: &mut Vec<ConfigError>,
) -> PartitionerConfig {
    let kind = match c.choice("partitioner.class") {
        Some("field") => PartitionerKind::Field,
        Some("time") => PartitionerKind::TimeBased,
        Some("daily") => PartitionerKind::Daily,
        Some("hourly") => PartitionerKind::Hourly,
        _ => PartitionerKind::Default,
    };
    let config = PartitionerConfig {
        kind,
        field_names: c
            .get("partition.field.name")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        duration_ms: c.int("partition.duration.ms"),
        path_format: c.get("path.format").unwrap_or_default().trim().to_string(),
        locale: c.get("locale").unwrap_or_default().trim().to_string(),
        extractor: match c.choice("timestamp.extractor") {
            Some("Record") => TimestampExtractorKind::Record,
            Some("RecordField") => TimestampExtractorKind::RecordField,
            _ => TimestampExtractorKind::Wallclock,
        },
        timestamp_field: c
            .get("timestamp.field")
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    let class = c.get("partitioner.class").unwrap_or_default();
    let mut missing = |key: &str, hint: String| {
        errors.push(ConfigError::Missing {
            key: key.into(),
            hint,
        })
    };
    match kind {
        PartitionerKind::Default => {}
        PartitionerKind::Field => {
            if config.field_names.is_empty() {
                missing(
                    "partition.field.name",
                    format!("partitioner.class={class} needs the fields to partition by"),
                );
            }
        }
        PartitionerKind::TimeBased | PartitionerKind::Daily | PartitionerKind::Hourly => {
            if kind == PartitionerKind::TimeBased {
                if config.path_format.is_empty() {
                    missing(
                        "path.format",
                        "TimeBasedPartitioner needs a Joda-Time pattern, e.g. 'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH".into(),
                    );
                }
                if config.duration_ms <= 0 {
                    missing(
                        "partition.duration.ms",
                        "TimeBasedPartitioner needs the bucket width in milliseconds, e.g. 3600000"
                            .into(),
                    );
                }
            }
            if config.locale.is_empty() {
                missing(
                    "locale",
                    format!("partitioner.class={class} needs a locale, e.g. en-US"),
                );
            }
            if !has_timezone {
                missing(
                    "timezone",
                    format!("partitioner.class={class} needs a timezone, e.g. UTC"),
                );
            }
            if config.extractor == TimestampExtractorKind::RecordField
                && config.timestamp_field.is_empty()
            {
                missing(
                    "timestamp.field",
                    "timestamp.extractor=RecordField needs the field holding the time".into(),
                );
            }
        }
    }
    config
}

/// Checks the `${...}` variables of `topics.dir` / `logs.dir`: `${topic}`, and `${n}` only
/// with a `topic.capture.groups.regex` that has group `n`.
fn check_dir_template(
    key: &str,
    template: &str,
    regex: Option<&str>,
    errors: &mut Vec<ConfigError>,
) {
    let groups = regex
        .and_then(|r| regex::Regex::new(r).ok())
        .map(|r| r.captures_len() - 1);
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            errors.push(ConfigError::Invalid {
                key: key.into(),
                value: template.into(),
                expected: "a path whose variables are closed: ${topic} or ${n}".into(),
            });
            return;
        };
        let var = &rest[start + 2..start + len];
        rest = &rest[start + len + 1..];
        if var == "topic" {
            continue;
        }
        match (var.parse::<usize>(), groups) {
            (Ok(n), Some(g)) if n <= g => {}
            (Ok(n), Some(g)) => errors.push(ConfigError::Invalid {
                key: key.into(),
                value: template.into(),
                expected: format!(
                    "group numbers up to {g}, the groups of topic.capture.groups.regex (${{{n}}} is too high)"
                ),
            }),
            (Ok(_), None) => errors.push(ConfigError::Missing {
                key: "topic.capture.groups.regex".into(),
                hint: format!("{key}={template} uses ${{{var}}}, a group of that regex"),
            }),
            (Err(_), _) => errors.push(ConfigError::Invalid {
                key: key.into(),
                value: template.into(),
                expected: format!("only ${{topic}} and ${{n}} variables (not ${{{var}}})"),
            }),
        }
    }
}

fn positive(v: i64) -> Option<u64> {
    (v > 0).then_some(v as u64)
}

/// Kafka's rule for topic names.
pub fn valid_topic_name(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> RawConfig {
        parse_properties(
            "bootstrap.servers=127.0.0.1:9092\nkey.converter=org.apache.kafka.connect.storage.StringConverter\nvalue.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=true\n",
            "worker",
        )
        .unwrap()
    }

    fn connector(extra: &str) -> RawConfig {
        parse_properties(
            &format!(
                "name=hdfs-sink\nconnector.class=io.confluent.connect.hdfs.HdfsSinkConnector\ntopics=orders\nhdfs.url=hdfs://nn:8020\nflush.size=3\n{extra}"
            ),
            "connector",
        )
        .unwrap()
    }

    fn errors(extra: &str) -> Vec<String> {
        match load(&worker(), &connector(extra)) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_typical_confluent_config_loads() {
        let loaded = load(
            &worker(),
            &connector("format.class=io.confluent.connect.hdfs.parquet.ParquetFormat\nparquet.codec=zstd\nconsumer.override.auto.offset.reset=earliest\n"),
        )
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.group_id(), "connect-hdfs-sink");
        assert_eq!(c.format, FormatKind::Parquet);
        assert_eq!(c.parquet_codec, ParquetCodec::Zstd);
        assert_eq!(c.store_url, "hdfs://nn:8020");
        assert_eq!(c.topics_dir, "topics");
        assert_eq!(c.zero_pad_width, 10);
        assert_eq!(c.rotation.flush_size, 3);
        assert_eq!(c.partitioner.kind, PartitionerKind::Default);
        assert_eq!(c.consumer["auto.offset.reset"], "earliest");
        assert_eq!(c.value_converter.kind, ConverterKind::Json);
        assert!(c.value_converter.schemas_enable);
        assert_eq!(c.key_converter.unwrap().kind, ConverterKind::String);
    }

    #[test]
    fn retry_keys_are_read() {
        let c = load(
            &worker(),
            &connector("errors.retry.timeout=-1\nerrors.retry.delay.max.ms=30000\n"),
        )
        .unwrap();
        assert_eq!(c.config.errors.retry_timeout_ms, -1);
        assert_eq!(c.config.errors.retry_delay_max_ms, Some(30000));
        let c = load(&worker(), &connector("")).unwrap();
        assert_eq!(c.config.errors.retry_timeout_ms, 0);
        assert_eq!(c.config.errors.retry_delay_max_ms, None);
        let e = errors("errors.retry.timeout=-2\n");
        assert!(
            e.iter().any(|e| e.contains("errors.retry.timeout")),
            "{e:?}"
        );
    }

    #[test]
    fn subject_name_strategies_per_converter() {
        let c = load(
            &worker(),
            &connector("key.converter=io.confluent.connect.avro.AvroConverter\nkey.converter.schema.registry.url=http://r:8081\nkey.converter.key.subject.name.strategy=io.confluent.kafka.serializers.subject.TopicRecordNameStrategy\nvalue.converter=io.confluent.connect.avro.AvroConverter\nvalue.converter.schema.registry.url=http://r:8081\nvalue.converter.value.subject.name.strategy=io.confluent.kafka.serializers.subject.RecordNameStrategy\n"),
        )
        .unwrap();
        let key = c.config.key_converter.unwrap();
        assert_eq!(key.subject_strategy, SubjectNameStrategy::TopicRecord);
        assert_eq!(
            c.config.value_converter.subject_strategy,
            SubjectNameStrategy::Record
        );
        assert_eq!(
            SubjectNameStrategy::TopicRecord.subject("t", "key", Some("a.B")),
            Some("t-a.B".to_string())
        );
        assert_eq!(
            SubjectNameStrategy::Record.subject("t", "value", None),
            None
        );
        let e = errors(
            "value.converter=io.confluent.connect.avro.AvroConverter\nvalue.converter.schema.registry.url=http://r:8081\nvalue.converter.value.subject.name.strategy=ByTopic\n",
        );
        assert!(
            e.iter().any(
                |e| e.contains("value.converter.value.subject.name.strategy")
                    && e.contains("RecordNameStrategy")
            ),
            "{e:?}"
        );
    }

    #[test]
    fn error_handling_keys() {
        let c = load(
            &worker(),
            &connector("errors.tolerance=all\nerrors.deadletterqueue.topic.name=dlq\nerrors.deadletterqueue.topic.replication.factor=1\nerrors.deadletterqueue.context.headers.enable=true\nerrors.log.enable=true\n"),
        )
        .unwrap();
        assert_eq!(
            c.config.errors,
            ErrorHandling {
                tolerate_all: true,
                log_enable: true,
                log_include_messages: false,
                dlq_topic: Some("dlq".into()),
                dlq_replication_factor: 1,
                dlq_context_headers: true,
                retry_timeout_ms: 0,
                retry_delay_max_ms: None,
            }
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // The sink would consume its own dead letters.
        let e = errors("errors.tolerance=all\nerrors.deadletterqueue.topic.name=orders\n");
        assert!(
            e.iter().any(|e| e.contains(
                "errors.deadletterqueue.topic.name=orders is one of the consumed topics"
            )),
            "{e:?}"
        );
        let by_regex = parse_properties(
            "name=s\nconnector.class=io.confluent.connect.hdfs.HdfsSinkConnector\ntopics.regex=ord.*\nhdfs.url=hdfs://nn:8020\nerrors.deadletterqueue.topic.name=ord-dlq\n",
            "connector",
        )
        .unwrap();
        let e = load(&worker(), &by_regex).unwrap_err().to_string();
        assert!(e.contains("consumed topics"), "{e}");
        // A queue without tolerance, and tolerance without a queue, are allowed with a warning.
        let w = load(
            &worker(),
            &connector("errors.deadletterqueue.topic.name=dlq\n"),
        )
        .unwrap()
        .warnings;
        assert!(
            w.iter()
                .any(|w| w.contains("has no effect with errors.tolerance=none")),
            "{w:?}"
        );
        let w = load(&worker(), &connector("errors.tolerance=all\n"))
            .unwrap()
            .warnings;
        assert!(
            w.iter()
                .any(|w| w.contains("records that cannot be written are skipped")),
            "{w:?}"
        );
        let e = errors("errors.tolerance=some\n");
        assert!(
            e.iter()
                .any(|e| e.contains("errors.tolerance: invalid value 'some'")),
            "{e:?}"
        );
    }

    #[test]
    fn invalid_values_name_key_value_and_allowed() {
        let e = errors("flush.size=abc\nformat.class=Foo\n");
        assert!(
            e.iter().any(|e| e
                .contains("flush.size: invalid value 'abc': expected integer in [1, 2147483647]")),
            "{e:?}"
        );
        assert!(e.iter().any(|e| e.starts_with("format.class: invalid value 'Foo': expected one of avro (io.confluent.connect.hdfs.avro.AvroFormat), parquet")), "{e:?}");
    }

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let e = errors("flush.sise=3\n");
        assert_eq!(
            e,
            vec!["flush.sise: unknown configuration key (did you mean 'flush.size'?)"]
        );
        let ok = load(
            &worker(),
            &connector("flush.sise=3\nlakesink.config.unknown.keys=warn\n"),
        )
        .unwrap();
        assert!(ok.warnings.iter().any(|w| w.contains("flush.sise")));
    }

    #[test]
    fn not_yet_supported_is_an_error_by_name() {
        let e =
            errors("hive.integration=true\nformat.class=io.confluent.connect.hdfs.orc.OrcFormat\n");
        assert!(
            e.iter().any(|e| e.starts_with(
                "hive.integration=true: recognised but not supported by Lakesink yet"
            )),
            "{e:?}"
        );
        assert!(
            e.iter().any(|e| e.starts_with(
                "format.class=io.confluent.connect.hdfs.orc.OrcFormat: recognised but not supported"
            )),
            "{e:?}"
        );
        // The default value of a not-yet key is fine.
        assert!(errors("hive.integration=false\n").is_empty());
    }

    #[test]
    fn cross_key_rules() {
        assert!(
            errors("topics.regex=o.*\n")
                .iter()
                .any(|e| e.contains("both set"))
        );
        assert!(
            errors("rotate.schedule.interval.ms=60000\n")
                .iter()
                .any(|e| e.starts_with("timezone: missing"))
        );
        assert!(errors("rotate.schedule.interval.ms=60000\ntimezone=Europe/Berlin\n").is_empty());
        assert!(
            errors("timezone=Mars/Olympus\n")
                .iter()
                .any(|e| e.starts_with("timezone: invalid value"))
        );
        assert!(errors("timezone=+05:30\n").is_empty());
        let e = errors(
            "value.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=false\nformat.class=ParquetFormat\n",
        );
        assert!(
            e.iter().any(|e| e.contains("needs records with a schema")),
            "{e:?}"
        );
        assert!(errors("value.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=false\nformat.class=JsonFormat\n").is_empty());
        assert!(
            errors("consumer.override.group.id=x\n")
                .iter()
                .any(|e| e.contains("managed by Lakesink"))
        );
        assert!(
            errors("store.url=s3://bucket\n")
                .iter()
                .any(|e| e.starts_with("store.url: invalid value 's3://bucket'"))
        );
    }

    #[test]
    fn missing_required_keys() {
        let e = match load(&worker(), &RawConfig::new()) {
            Err(e) => e.0.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            Ok(_) => panic!("empty connector config must fail"),
        };
        for key in [
            "name",
            "connector.class",
            "flush.size",
            "topics",
            "store.url",
        ] {
            assert!(
                e.iter().any(|e| e.starts_with(&format!("{key}: missing"))),
                "{key}: {e:?}"
            );
        }
    }

    #[test]
    fn jaas_config_is_translated() {
        let c = load(
            &worker(),
            &connector("consumer.override.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";\n"),
        )
        .unwrap()
        .config;
        assert_eq!(c.consumer["sasl.username"], "u");
        assert_eq!(c.consumer["sasl.password"], "p");
    }

    #[test]
    fn time_based_partitioner_keys_load_and_missing_ones_are_named() {
        let c = load(
            &worker(),
            &connector("partitioner.class=io.confluent.connect.storage.partitioner.TimeBasedPartitioner\npath.format='year'=YYYY/'month'=MM\npartition.duration.ms=3600000\nlocale=en-US\ntimezone=Europe/Berlin\ntimestamp.extractor=RecordField\ntimestamp.field=meta.ts\n"),
        )
        .unwrap()
        .config;
        assert_eq!(c.partitioner.kind, PartitionerKind::TimeBased);
        assert_eq!(c.partitioner.path_format, "'year'=YYYY/'month'=MM");
        assert_eq!(c.partitioner.duration_ms, 3_600_000);
        assert_eq!(c.partitioner.extractor, TimestampExtractorKind::RecordField);
        assert_eq!(c.partitioner.timestamp_field, "meta.ts");
        let e = errors("partitioner.class=TimeBasedPartitioner\n");
        for key in ["path.format", "partition.duration.ms", "locale", "timezone"] {
            assert!(
                e.iter().any(|m| m.starts_with(&format!("{key}: missing"))),
                "{key}: {e:?}"
            );
        }
        let e = errors("partitioner.class=FieldPartitioner\n");
        assert!(
            e.iter()
                .any(|m| m.starts_with("partition.field.name: missing")),
            "{e:?}"
        );
        let e = errors(
            "partitioner.class=HourlyPartitioner\nlocale=en\ntimezone=UTC\ntimestamp.extractor=Sometimes\n",
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("timestamp.extractor: invalid value 'Sometimes'")),
            "{e:?}"
        );
    }

    #[test]
    fn per_topic_rotation_overrides() {
        let c = load(
            &worker(),
            &connector("topic.orders.v1.flush.size=500\ntopic.orders.v1.rotate.interval.ms=60000\ntopic.clicks.lakesink.rotate.size.bytes=1048576\n"),
        )
        .unwrap()
        .config;
        let o = c.rotation_for("orders.v1");
        assert_eq!((o.flush_size, o.rotate_interval_ms), (500, Some(60_000)));
        assert_eq!(c.rotation_for("clicks").rotate_size_bytes, Some(1_048_576));
        assert_eq!(c.rotation_for("clicks").flush_size, 3);
        assert_eq!(c.rotation_for("other"), c.rotation);
        let e = errors(
            "topic.orders.flush.sise=5\ntopic.orders.flush.size=abc\ntopic.orders.rotate.schedule.interval.ms=1000\n",
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("topic.orders.flush.sise: unknown")
                    && m.contains("flush.size")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("topic.orders.flush.size: invalid value 'abc'")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with("timezone: missing")),
            "{e:?}"
        );
    }

    #[test]
    fn directory_variables_are_checked() {
        assert!(errors("topics.dir=data/${topic}\n").is_empty());
        let e = errors("topics.dir=data/${1}\n");
        assert!(
            e.iter()
                .any(|m| m.starts_with("topic.capture.groups.regex: missing")),
            "{e:?}"
        );
        let e = errors("topics.dir=data/${2}\ntopic.capture.groups.regex=(.*)\n");
        assert!(
            e.iter()
                .any(|m| m.starts_with("topics.dir: invalid value") && m.contains("up to 1")),
            "{e:?}"
        );
        let e = errors("logs.dir=wal/${host}\n");
        assert!(
            e.iter()
                .any(|m| m.starts_with("logs.dir: invalid value") && m.contains("${host}")),
            "{e:?}"
        );
    }
}
