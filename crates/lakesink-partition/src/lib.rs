//! Lakesink partitioners: which output directory each record goes to.
//!
//! Owns: turning the rows of one converted batch into output directories (relative to
//! `topics.dir`), with the layouts of Confluent's storage-common partitioners:
//! `DefaultPartitioner` (`<topic>/partition=<p>`), `FieldPartitioner`
//! (`<topic>/<field>=<value>/...`), and `TimeBasedPartitioner` with its `Daily`/`Hourly`
//! presets (`<topic>/<Joda path.format of the time bucket>`). This includes reading partition
//! fields and record timestamps out of the converted values, and Joda pattern formatting.
//!
//! Must not touch: files, storage, offsets bookkeeping, Kafka. A partitioner only looks at a
//! batch and names directories; what is written where, and when it is committed, belongs to
//! the sink.
//!
//! Deliberate differences from Confluent, each documented where it lives: field values are
//! escaped like Hive's `escapePathName`; time buckets before 1970 are floored rather than
//! truncated toward zero; ISO timestamps without an offset are UTC, not the host's zone; an
//! unterminated quote in `path.format` is an error.

mod field;
mod iso;
mod joda;
mod slices;
mod time;
mod value;
mod zone;

#[cfg(test)]
mod tests;

use arrow_array::RecordBatch;

pub use field::FieldPartitioner;
pub use lakesink_config::TimeZoneId;
pub use time::TimePartitioner;

use value::FieldPath;

/// Where time-based partitioners take each record's time from.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampSource {
    /// `timestamp.extractor=Wallclock`: the sink's clock when the batch is partitioned.
    Wallclock,
    /// `timestamp.extractor=Record`: the Kafka record timestamp.
    Record,
    /// `timestamp.extractor=RecordField`: a field of the value, as a dotted path (`meta.ts`).
    RecordField(String),
}

/// The partitioner of a connector.
#[derive(Debug, Clone)]
pub enum Partitioner {
    /// `DefaultPartitioner`: `<topic>/partition=<p>`.
    Default,
    /// `FieldPartitioner`.
    Field(FieldPartitioner),
    /// `TimeBasedPartitioner`, `DailyPartitioner`, `HourlyPartitioner`.
    Time(TimePartitioner),
}

/// One converted batch of a topic-partition, to be spread over directories.
#[derive(Debug, Clone, Copy)]
pub struct PartitionInput<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// The converted values: typed columns (a Connect struct value = one column per field;
    /// nested structs are Arrow Struct columns), or — when `json_text` is true — a single Utf8
    /// column named "value" holding each record's schemaless JSON text (compact).
    pub columns: &'a RecordBatch,
    pub json_text: bool,
    /// Kafka offset of each row.
    pub offsets: &'a [i64],
    /// Kafka record timestamp (epoch ms) of each row.
    pub kafka_timestamps: &'a [Option<i64>],
    /// Wall clock for [`TimestampSource::Wallclock`].
    pub now_ms: i64,
}

/// Rows of a batch that go to one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Directory under `topics.dir`, `/`-separated, starting with `<topic>/`.
    pub dir: String,
    /// Row indices in increasing order; `None` means every row.
    pub rows: Option<Vec<u32>>,
}

/// A batch spread over directories.
#[derive(Debug, Clone, PartialEq)]
pub struct Partitioned {
    /// Slices in order of their first row; each directory appears once. One slice with
    /// `rows: None` when all rows share a directory (the common, fast case); no slice for a
    /// batch without rows.
    pub slices: Vec<Slice>,
    /// For time-based partitioners: the time (epoch ms) each row was bucketed by, one per row.
    /// `None` for Default/Field.
    pub times: Option<Vec<i64>>,
}

/// One record that cannot be partitioned (missing/null/unsupported field, no timestamp...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {topic}-{partition} offset {offset}: partitioner failed: {message}")]
pub struct RecordPartitionError {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub message: String,
}

/// A configuration the partitioner cannot work with; `key` names the configuration key (e.g.
/// "path.format", "partition.field.name", "partition.duration.ms", "locale", "timestamp.field").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PartitionerConfigError {
    pub key: String,
    pub message: String,
}

const HOUR_MS: i64 = 3_600_000;

impl Partitioner {
    /// `FieldPartitioner` on the `partition.field.name` values (already split on commas,
    /// trimmed). Error if empty or if a name is not a field name or dotted path.
    pub fn field(fields: &[String]) -> Result<Partitioner, PartitionerConfigError> {
        const KEY: &str = "partition.field.name";
        if fields.is_empty() {
            return Err(PartitionerConfigError {
                key: KEY.into(),
                message: "FieldPartitioner needs at least one field name".into(),
            });
        }
        let paths = fields
            .iter()
            .map(|f| FieldPath::parse(f, KEY))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Partitioner::Field(FieldPartitioner::new(paths)))
    }

    /// `TimeBasedPartitioner`: `duration_ms` must be > 0, `path_format` a valid non-empty Joda
    /// pattern (one trailing '/' stripped as Confluent does), `locale` non-blank.
    pub fn time_based(
        duration_ms: i64,
        path_format: &str,
        locale: &str,
        zone: TimeZoneId,
        source: TimestampSource,
    ) -> Result<Partitioner, PartitionerConfigError> {
        TimePartitioner::new(duration_ms, path_format, locale, zone, source).map(Partitioner::Time)
    }

    /// `DailyPartitioner`: 24 h buckets, `'year'=YYYY/'month'=MM/'day'=dd`.
    pub fn daily(
        locale: &str,
        zone: TimeZoneId,
        source: TimestampSource,
    ) -> Result<Partitioner, PartitionerConfigError> {
        Self::time_based(
            24 * HOUR_MS,
            "'year'=YYYY/'month'=MM/'day'=dd",
            locale,
            zone,
            source,
        )
    }

    /// `HourlyPartitioner`: 1 h buckets, `'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH`.
    pub fn hourly(
        locale: &str,
        zone: TimeZoneId,
        source: TimestampSource,
    ) -> Result<Partitioner, PartitionerConfigError> {
        Self::time_based(
            HOUR_MS,
            "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH",
            locale,
            zone,
            source,
        )
    }

    /// True for time-based partitioners with [`TimestampSource::Wallclock`].
    pub fn uses_wallclock(&self) -> bool {
        matches!(self, Partitioner::Time(t) if *t.timestamp_source() == TimestampSource::Wallclock)
    }

    /// Spreads the rows of one converted batch over output directories. Fails on the first
    /// record that cannot be partitioned, naming its offset.
    pub fn partition(
        &self,
        input: &PartitionInput<'_>,
    ) -> Result<Partitioned, RecordPartitionError> {
        match self {
            Partitioner::Default => {
                let slices = if input.columns.num_rows() == 0 {
                    Vec::new()
                } else {
                    vec![Slice {
                        dir: format!("{}/partition={}", input.topic, input.partition),
                        rows: None,
                    }]
                };
                Ok(Partitioned {
                    slices,
                    times: None,
                })
            }
            Partitioner::Field(f) => f.partition(input),
            Partitioner::Time(t) => t.partition(input),
        }
    }
}

impl PartitionInput<'_> {
    /// The error for `row`; the offset is -1 only if the caller passed too few offsets.
    fn error(&self, row: usize, message: impl Into<String>) -> RecordPartitionError {
        RecordPartitionError {
            topic: self.topic.into(),
            partition: self.partition,
            offset: self.offsets.get(row).copied().unwrap_or(-1),
            message: message.into(),
        }
    }

    /// The row count, checked against the offsets (errors must name offsets) and against
    /// `u32` (slice row indices).
    fn checked_rows(&self) -> Result<u32, RecordPartitionError> {
        let rows = self.columns.num_rows();
        if self.offsets.len() != rows {
            return Err(self.error(
                0,
                format!("batch has {rows} rows but {} offsets", self.offsets.len()),
            ));
        }
        u32::try_from(rows)
            .map_err(|_| self.error(0, format!("batch of {rows} rows is too large to partition")))
    }
}
