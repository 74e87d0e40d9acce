//! Lakesink sink tasks.
//!
//! Owns: the per-partition writers ([`PartitionWriter`]) — convert each batch, spread it over
//! output directories, stream it into temp files, rotate on `flush.size`, record time, schema
//! change and the wall-clock schedule, and commit through the exactly-once protocol — and the
//! task loop ([`task::run_task`]) that feeds them and reports committed offsets.
//!
//! Must not touch: Kafka. Records arrive as [`lakesink_record::RawBatch`]es through
//! [`task::TaskEvent`]s; where a partition starts is answered from storage.

mod schedule;
pub mod task;
mod writer;

use std::time::{SystemTime, UNIX_EPOCH};

use lakesink_commit::{CommitError, Layout};
use lakesink_config::{ConverterConfig, OffsetOutOfRange, SinkConfig, TimeZoneId};
use lakesink_convert::{ConvertError, NullValues};
use lakesink_format::{FormatError, FormatOptions};
use lakesink_partition::Partitioner;
use lakesink_storage::{StorageError, Store};
pub use schedule::next_scheduled_rotation;
pub use writer::PartitionWriter;

/// Everything a partition writer needs, shared by the partitions of a connector.
#[derive(Debug)]
pub struct SinkSettings {
    pub store: Store,
    pub layout: Layout,
    pub format: FormatOptions,
    pub partitioner: Partitioner,
    pub value_converter: ConverterConfig,
    pub null_values: NullValues,
    pub flush_size: u64,
    pub rotate_interval_ms: Option<u64>,
    pub rotate_schedule: Option<(u64, TimeZoneId)>,
    pub retry_backoff_ms: u64,
    pub shutdown_timeout_ms: u64,
    pub offset_out_of_range: OffsetOutOfRange,
    /// Who writes: host, process and task, recorded in every commit record.
    pub owner: String,
}

impl SinkSettings {
    pub fn from_config(config: &SinkConfig, store: Store, owner: String) -> SinkSettings {
        SinkSettings {
            store,
            layout: Layout {
                topics_dir: config.topics_dir.clone(),
                logs_dir: config.logs_dir.clone(),
                zero_pad_width: config.zero_pad_width,
            },
            format: FormatOptions {
                kind: config.format,
                avro_codec: config.avro_codec,
                parquet_codec: config.parquet_codec,
                parquet_row_group_bytes: config.parquet_row_group_bytes,
            },
            partitioner: Partitioner::Default,
            value_converter: config.value_converter.clone(),
            null_values: if config.ignore_null_values {
                NullValues::Ignore
            } else {
                NullValues::Fail
            },
            flush_size: config.flush_size,
            rotate_interval_ms: config.rotate_interval_ms,
            rotate_schedule: config.rotate_schedule_interval_ms.and_then(|i| {
                config
                    .timezone
                    .as_deref()
                    .and_then(lakesink_config::parse_timezone)
                    .map(|tz| (i, tz))
            }),
            retry_backoff_ms: config.retry_backoff_ms,
            shutdown_timeout_ms: config.shutdown_timeout_ms,
            offset_out_of_range: config.offset_out_of_range,
            owner,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A record cannot be converted: with `errors.tolerance=none` the task stops.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(
        "{tp}: fenced by {by}: another worker owns this partition now; this worker stops writing it"
    )]
    Fenced { tp: String, by: String },
    #[error(transparent)]
    Commit(CommitError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("format: {0}")]
    Format(#[from] FormatError),
    #[error("{0}")]
    Internal(String),
}

impl SinkError {
    /// Whether the error is about one record (retrying cannot help).
    pub fn is_record_error(&self) -> bool {
        matches!(self, SinkError::Convert(_) | SinkError::Format(_))
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
