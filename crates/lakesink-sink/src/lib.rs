//! Lakesink sink tasks.
//!
//! Owns: the per-partition writers ([`PartitionWriter`]) — convert each batch, spread it over
//! output directories, stream each directory's rows into its own temp file, commit each file
//! on `flush.size`, record time, size, schema change, the wall-clock schedule or the
//! connector's open-file and memory limits ([`Budget`]), through the exactly-once protocol —
//! and the task loop ([`task::run_task`]) that feeds them and reports committed offsets.
//!
//! Must not touch: Kafka. Records arrive as [`lakesink_record::RawBatch`]es through
//! [`task::TaskEvent`]s; where a partition starts is answered from storage.

mod budget;
mod commits;
pub mod dead_letters;
mod schedule;
pub mod task;
pub mod telemetry;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use budget::{Budget, Peaks};
pub use dead_letters::{DeadLetter, DeadLetterQueue, ErrorReporter, Stage};
use lakesink_commit::{CommitError, Layout};
use lakesink_config::{
    Compatibility, ConverterConfig, OffsetOutOfRange, PartitionerConfig, PartitionerKind, Rotation,
    SinkConfig, TimeZoneId, TimestampExtractorKind,
};
use lakesink_convert::{ConvertError, NullValues};
use lakesink_format::{FormatError, FormatOptions};
use lakesink_partition::{Partitioner, RecordPartitionError, TimestampSource};
use lakesink_storage::{StorageError, Store};
pub use schedule::next_scheduled_rotation;
pub use task::Start;
pub use writer::PartitionWriter;

/// Everything a partition writer needs, shared by the partitions of a connector.
#[derive(Debug)]
pub struct SinkSettings {
    pub store: Store,
    pub layout: Layout,
    pub format: FormatOptions,
    pub partitioner: Partitioner,
    pub value_converter: ConverterConfig,
    /// `key.converter`: keys are not written, but a key that does not convert fails its
    /// record, as in Connect. `None` when no key converter is set.
    pub key_converter: Option<ConverterConfig>,
    pub null_values: NullValues,
    /// Rotation of topics without `topic.<topic>.*` overrides.
    pub rotation: Rotation,
    pub topic_rotation: BTreeMap<String, Rotation>,
    /// `timezone`: aligns `rotate.schedule.interval.ms`.
    pub timezone: Option<TimeZoneId>,
    /// Open-file and memory limits shared by the connector's partition writers.
    pub budget: Arc<Budget>,
    pub retry_backoff_ms: u64,
    pub shutdown_timeout_ms: u64,
    /// Set when the process is stopping: waits that would outlast a graceful stop (such as
    /// retries against an unavailable Schema Registry) give up.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
    pub offset_out_of_range: OffsetOutOfRange,
    /// Who writes: host, process and task, recorded in every commit record.
    pub owner: String,
    /// `errors.*`: what happens to records that cannot be written. The runtime adds the
    /// dead-letter queue.
    pub errors: ErrorReporter,
    /// `schema.compatibility`.
    pub compatibility: Compatibility,
    /// Java class names reported in dead letters.
    pub converter_class: &'static str,
    pub key_converter_class: &'static str,
    pub partitioner_class: &'static str,
    pub format_class: String,
    /// Where the sink's counters go; the runtime labels them with the task.
    pub metrics: telemetry::SinkMetrics,
    /// `transforms` and `predicates`: each partition writer runs its own chain of them.
    pub transforms: lakesink_config::transforms::TransformsConfig,
}

impl SinkSettings {
    /// Builds the settings; fails on a partitioner or layout setting that cannot work
    /// (e.g. an invalid `path.format` pattern), naming the key.
    pub fn from_config(
        config: &SinkConfig,
        store: Store,
        owner: String,
        budget: Arc<Budget>,
    ) -> Result<SinkSettings, String> {
        let timezone = config
            .timezone
            .as_deref()
            .and_then(lakesink_config::parse_timezone);
        Ok(SinkSettings {
            store,
            layout: Layout::new(
                &config.topics_dir,
                &config.logs_dir,
                config.zero_pad_width,
                config.topic_capture_regex.as_deref(),
            )?,
            format: FormatOptions {
                kind: config.format,
                avro_codec: config.avro_codec,
                avro_writer_schemas: config.avro_enhanced_schema,
                avro_connect_meta: config.avro_connect_meta,
                parquet_codec: config.parquet_codec,
                parquet_row_group_bytes: config.parquet_row_group_bytes,
            },
            partitioner: build_partitioner(&config.partitioner, timezone)?,
            value_converter: config.value_converter.clone(),
            key_converter: config.key_converter.clone(),
            null_values: if config.ignore_null_values {
                NullValues::Ignore
            } else {
                NullValues::Fail
            },
            rotation: config.rotation,
            topic_rotation: config.topic_rotation.clone(),
            timezone,
            budget,
            retry_backoff_ms: config.retry_backoff_ms,
            shutdown_timeout_ms: config.shutdown_timeout_ms,
            stopping: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            offset_out_of_range: config.offset_out_of_range,
            owner,
            errors: ErrorReporter {
                policy: config.errors.clone(),
                queue: None,
            },
            compatibility: config.compatibility,
            converter_class: config.value_converter.kind.java_class(),
            key_converter_class: config
                .key_converter
                .as_ref()
                .map_or("", |k| k.kind.java_class()),
            partitioner_class: config.partitioner.kind.java_class(),
            format_class: config.format_class.clone(),
            metrics: telemetry::SinkMetrics::default(),
            transforms: config.transforms.clone(),
        })
    }

    /// The rotation settings of `topic`.
    pub fn rotation_for(&self, topic: &str) -> Rotation {
        self.topic_rotation
            .get(topic)
            .copied()
            .unwrap_or(self.rotation)
    }
}

/// The partitioner `partitioner.class` and its keys describe.
pub fn build_partitioner(
    config: &PartitionerConfig,
    timezone: Option<TimeZoneId>,
) -> Result<Partitioner, String> {
    let source = match config.extractor {
        TimestampExtractorKind::Wallclock => TimestampSource::Wallclock,
        TimestampExtractorKind::Record => TimestampSource::Record,
        TimestampExtractorKind::RecordField => {
            TimestampSource::RecordField(config.timestamp_field.clone())
        }
    };
    let zone =
        || timezone.ok_or_else(|| "timezone: required by time-based partitioners".to_string());
    let built = match config.kind {
        PartitionerKind::Default => Ok(Partitioner::Default),
        PartitionerKind::Field => Partitioner::field(&config.field_names),
        PartitionerKind::TimeBased => Partitioner::time_based(
            config.duration_ms,
            &config.path_format,
            &config.locale,
            zone()?,
            source,
        ),
        PartitionerKind::Daily => Partitioner::daily(&config.locale, zone()?, source),
        PartitionerKind::Hourly => Partitioner::hourly(&config.locale, zone()?, source),
    };
    built.map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A record cannot be converted: with `errors.tolerance=none` the task stops.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// A record the partitioner cannot place (missing field, no timestamp, ...).
    #[error(transparent)]
    Partition(#[from] RecordPartitionError),
    /// A record a single message transform cannot handle.
    #[error(transparent)]
    Transform(#[from] lakesink_transform::TransformError),
    #[error(
        "{tp}: fenced by {by}: another worker owns this partition now; this worker stops writing it"
    )]
    Fenced { tp: String, by: String },
    #[error(transparent)]
    Commit(CommitError),
    /// The dead-letter queue did not take the records set aside: nothing after them is
    /// committed, and the task stops.
    #[error("{0}")]
    DeadLetterQueue(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("format: {0}")]
    Format(#[from] FormatError),
    /// A record's value cannot be written in the output format (e.g. a schema Parquet
    /// cannot hold), under `errors.tolerance=none`.
    #[error("record {tp} offset {offset}: {format_class} cannot write it: {source}")]
    Encode {
        tp: String,
        offset: i64,
        format_class: String,
        source: Box<FormatError>,
    },
    /// Encoding rows into an open file failed (an internal fault: formats check schemas
    /// when a file starts). The file's rows cannot be told apart, so the task stops.
    #[error(
        "records {tp} offsets {first} to {last} (an open file): {format_class} failed to write them: {source}"
    )]
    EncodeFile {
        tp: String,
        first: i64,
        last: i64,
        format_class: String,
        source: Box<FormatError>,
    },
    #[error("{0}")]
    Internal(String),
}

impl SinkError {
    /// Whether the error is about one record (retrying cannot help).
    pub fn is_record_error(&self) -> bool {
        matches!(
            self,
            SinkError::Convert(_)
                | SinkError::Partition(_)
                | SinkError::Transform(_)
                | SinkError::Format(_)
                | SinkError::Encode { .. }
                | SinkError::EncodeFile { .. }
        )
    }

    /// Whether storage failed to answer (down, unreachable, refusing): retrying later may
    /// succeed.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            SinkError::Storage(_) | SinkError::Commit(lakesink_commit::CommitError::Storage { .. })
        )
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
