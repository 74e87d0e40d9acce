//! `TimeBasedPartitioner` (and the Daily/Hourly presets): `<topic>/<path.format of the bucket>`.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{LargeStringArray, StringArray};
use arrow_schema::{DataType, TimeUnit};
use chrono::DateTime;
use lakesink_config::TimeZoneId;

use crate::joda::JodaPattern;
use crate::slices::SliceBuilder;
use crate::value::{self, ArrowPath, FieldPath, JsonLeaf, JsonTexts};
use crate::{
    PartitionInput, Partitioned, PartitionerConfigError, RecordPartitionError, TimestampSource,
    iso, zone,
};

/// Buckets records by time and names each bucket's directory with a Joda pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct TimePartitioner {
    duration_ms: i64,
    path_format: String,
    pattern: JodaPattern,
    zone: TimeZoneId,
    source: TimestampSource,
    /// The parsed `timestamp.field` when `source` is `RecordField`.
    field: Option<FieldPath>,
}

fn config_err(key: &str, message: String) -> PartitionerConfigError {
    PartitionerConfigError {
        key: key.into(),
        message,
    }
}

impl TimePartitioner {
    pub(crate) fn new(
        duration_ms: i64,
        path_format: &str,
        locale: &str,
        zone: TimeZoneId,
        source: TimestampSource,
    ) -> Result<TimePartitioner, PartitionerConfigError> {
        if duration_ms <= 0 {
            return Err(config_err(
                "partition.duration.ms",
                format!("must be a positive number of milliseconds, got {duration_ms}"),
            ));
        }
        // As Confluent: blank or just the delimiter is empty; one trailing '/' is dropped.
        if path_format.trim().is_empty() || path_format == "/" {
            return Err(config_err("path.format", "must not be empty".into()));
        }
        let path_format = path_format.strip_suffix('/').unwrap_or(path_format);
        let pattern = JodaPattern::parse(path_format)?;
        let locale = locale.trim();
        if locale.is_empty() {
            return Err(config_err(
                "locale",
                "'locale' is required by time-based partitioners; set it, e.g. locale=en-US".into(),
            ));
        }
        let english = locale
            .get(..2)
            .is_some_and(|lang| lang.eq_ignore_ascii_case("en"));
        if pattern.has_text_fields() && !english {
            return Err(config_err(
                "locale",
                format!(
                    "'{locale}' is not English, but path.format '{path_format}' prints month, \
                     weekday, era or AM/PM names, which are only available in English; use an \
                     English locale (e.g. en-US) or numeric fields"
                ),
            ));
        }
        let field = match &source {
            TimestampSource::RecordField(path) => Some(FieldPath::parse(path, "timestamp.field")?),
            TimestampSource::Wallclock | TimestampSource::Record => None,
        };
        Ok(TimePartitioner {
            duration_ms,
            path_format: path_format.into(),
            pattern,
            zone,
            source,
            field,
        })
    }

    /// Bucket width in milliseconds (`partition.duration.ms`).
    pub fn duration_ms(&self) -> i64 {
        self.duration_ms
    }

    /// The Joda pattern of the directories, trailing `/` removed.
    pub fn path_format(&self) -> &str {
        &self.path_format
    }

    pub fn zone(&self) -> TimeZoneId {
        self.zone
    }

    pub fn timestamp_source(&self) -> &TimestampSource {
        &self.source
    }

    pub(crate) fn partition(
        &self,
        input: &PartitionInput<'_>,
    ) -> Result<Partitioned, RecordPartitionError> {
        let times = self.times(input)?;
        let mut slices = SliceBuilder::new();
        let mut by_bucket: HashMap<i64, usize> = HashMap::new();
        // (time, bucket, slice) of the previous row: consecutive rows usually share a bucket,
        // often the very same timestamp.
        let mut prev: Option<(i64, i64, usize)> = None;
        for (row, &t) in times.iter().enumerate() {
            let row32 = row as u32; // `times` has `checked_rows()` rows, which fit in u32.
            let slice = match prev {
                Some((pt, _, s)) if pt == t => s,
                _ => {
                    let bucket = self.bucket_of(t).map_err(|m| input.error(row, m))?;
                    let s = match prev {
                        Some((_, pb, s)) if pb == bucket => s,
                        _ => match by_bucket.get(&bucket) {
                            Some(&s) => s,
                            None => {
                                let dir = self
                                    .dir_of(input.topic, bucket)
                                    .map_err(|m| input.error(row, m))?;
                                let s = slices.slice_for_dir(dir, row32);
                                by_bucket.insert(bucket, s);
                                s
                            }
                        },
                    };
                    prev = Some((t, bucket, s));
                    s
                }
            };
            slices.push(slice, row32);
        }
        Ok(Partitioned {
            slices: slices.finish(),
            times: Some(times),
        })
    }

    /// The start of the bucket holding `t` (epoch ms), as local time in "epoch ms" form
    /// (the local date-time read as if it were UTC).
    ///
    /// Fixes Confluent's bug for times before 1970: Java's `/` truncates toward zero, so a
    /// negative local time there rounds *up* into the next bucket. `div_euclid` floors.
    pub(crate) fn bucket_of(&self, t: i64) -> Result<i64, String> {
        let out_of_range = || format!("timestamp {t} ms is outside the supported range");
        let offset_secs = match &self.zone {
            TimeZoneId::Fixed(secs) => *secs,
            named => {
                let utc = DateTime::from_timestamp_millis(t)
                    .ok_or_else(out_of_range)?
                    .naive_utc();
                zone::offset_at_utc(named, &utc)
            }
        };
        let local = t
            .checked_add(i64::from(offset_secs) * 1000)
            .ok_or_else(out_of_range)?;
        local
            .div_euclid(self.duration_ms)
            .checked_mul(self.duration_ms)
            .ok_or_else(out_of_range)
    }

    /// `<topic>/` + the pattern printed for the local bucket start.
    fn dir_of(&self, topic: &str, bucket: i64) -> Result<String, String> {
        let local = DateTime::from_timestamp_millis(bucket)
            .ok_or_else(|| format!("time bucket {bucket} ms is outside the supported range"))?
            .naive_utc();
        let zone_at = self
            .pattern
            .uses_zone()
            .then(|| zone::zone_at_local(&self.zone, &local));
        let mut dir = String::with_capacity(topic.len() + 1 + 2 * self.path_format.len());
        dir.push_str(topic);
        dir.push('/');
        self.pattern.format_into(&local, zone_at.as_ref(), &mut dir);
        Ok(dir)
    }

    /// The time of every row, from the configured source.
    fn times(&self, input: &PartitionInput<'_>) -> Result<Vec<i64>, RecordPartitionError> {
        let rows = input.checked_rows()? as usize;
        let field = match (&self.source, &self.field) {
            (TimestampSource::Wallclock, _) => return Ok(vec![input.now_ms; rows]),
            (TimestampSource::Record, _) => {
                if input.kafka_timestamps.len() != rows {
                    return Err(input.error(
                        0,
                        format!(
                            "batch has {rows} rows but {} Kafka timestamps",
                            input.kafka_timestamps.len()
                        ),
                    ));
                }
                return input
                    .kafka_timestamps
                    .iter()
                    .enumerate()
                    .map(|(row, t)| t.ok_or_else(|| input.error(row, "record has no timestamp")))
                    .collect();
            }
            (TimestampSource::RecordField(_), Some(field)) => field,
            (TimestampSource::RecordField(path), None) => {
                // `new` always parses the path; this only guards against a future refactor.
                return Err(input.error(0, format!("timestamp field '{path}' was not parsed")));
            }
        };
        if input.json_text {
            let texts = JsonTexts::of(input.columns).map_err(|m| input.error(0, m))?;
            (0..rows)
                .map(|row| json_time(texts.text(row), field).map_err(|m| input.error(row, m)))
                .collect()
        } else {
            let column = TimeColumn::new(input, field).map_err(|m| input.error(0, m))?;
            (0..rows)
                .map(|row| column.time_at(row).map_err(|m| input.error(row, m)))
                .collect()
        }
    }
}

fn json_time(text: Option<&str>, field: &FieldPath) -> Result<i64, String> {
    let name = &field.name;
    match value::json_leaf(text, field)? {
        None => Err(format!(
            "no timestamp field '{name}' in the record value (or a parent of it is null)"
        )),
        Some(JsonLeaf::Null) => Err(format!("timestamp field '{name}' is null")),
        Some(JsonLeaf::Int(ms)) => Ok(ms),
        Some(JsonLeaf::UInt(u)) => Err(format!(
            "timestamp field '{name}' value {u} is outside the supported range"
        )),
        Some(JsonLeaf::Str(s)) => parse_time_text(&s, name),
        Some(other) => Err(format!(
            "timestamp field '{name}' is a JSON {}; expected epoch milliseconds or an ISO-8601 string",
            other.kind()
        )),
    }
}

/// A string timestamp, as Confluent's `RecordFieldTimestampExtractor`: all digits → epoch
/// milliseconds, anything else → ISO-8601.
fn parse_time_text(s: &str, name: &str) -> Result<i64, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| {
            format!("timestamp field '{name}' value {s} is outside the supported range")
        });
    }
    iso::parse_iso_millis(s).ok_or_else(|| {
        // Keep the message short whatever the record holds.
        let shown: String = s.chars().take(64).collect();
        let more = if shown.len() < s.len() { "..." } else { "" };
        format!(
            "timestamp field '{name}' value {shown:?}{more} is neither epoch milliseconds nor an \
             ISO-8601 date-time"
        )
    })
}

/// The raw values of a typed timestamp column.
enum Raw<'a> {
    I64(&'a [i64]),
    I32(&'a [i32]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
}

/// How raw numbers convert to epoch milliseconds.
#[derive(Clone, Copy)]
enum Scale {
    Millis,
    Seconds,
    Micros,
    Nanos,
    Days,
}

struct TimeColumn<'a> {
    path: ArrowPath<'a>,
    raw: Raw<'a>,
    scale: Scale,
    name: &'a str,
}

impl<'a> TimeColumn<'a> {
    fn new(input: &PartitionInput<'a>, field: &'a FieldPath) -> Result<TimeColumn<'a>, String> {
        let path = value::resolve(input.columns, field)?;
        let a = path.leaf;
        let raw_scale = match a.data_type() {
            DataType::Int64 => a
                .as_primitive_opt::<Int64Type>()
                .map(|p| (Raw::I64(p.values()), Scale::Millis)),
            DataType::Int32 => a
                .as_primitive_opt::<Int32Type>()
                .map(|p| (Raw::I32(p.values()), Scale::Millis)),
            DataType::UInt8 => a
                .as_primitive_opt::<UInt8Type>()
                .map(|p| (Raw::U8(p.values()), Scale::Millis)),
            DataType::UInt16 => a
                .as_primitive_opt::<UInt16Type>()
                .map(|p| (Raw::U16(p.values()), Scale::Millis)),
            DataType::UInt32 => a
                .as_primitive_opt::<UInt32Type>()
                .map(|p| (Raw::U32(p.values()), Scale::Millis)),
            DataType::UInt64 => a
                .as_primitive_opt::<UInt64Type>()
                .map(|p| (Raw::U64(p.values()), Scale::Millis)),
            DataType::Timestamp(TimeUnit::Second, _) => a
                .as_primitive_opt::<TimestampSecondType>()
                .map(|p| (Raw::I64(p.values()), Scale::Seconds)),
            DataType::Timestamp(TimeUnit::Millisecond, _) => a
                .as_primitive_opt::<TimestampMillisecondType>()
                .map(|p| (Raw::I64(p.values()), Scale::Millis)),
            DataType::Timestamp(TimeUnit::Microsecond, _) => a
                .as_primitive_opt::<TimestampMicrosecondType>()
                .map(|p| (Raw::I64(p.values()), Scale::Micros)),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => a
                .as_primitive_opt::<TimestampNanosecondType>()
                .map(|p| (Raw::I64(p.values()), Scale::Nanos)),
            DataType::Date32 => a
                .as_primitive_opt::<Date32Type>()
                .map(|p| (Raw::I32(p.values()), Scale::Days)),
            DataType::Date64 => a
                .as_primitive_opt::<Date64Type>()
                .map(|p| (Raw::I64(p.values()), Scale::Millis)),
            DataType::Utf8 => a
                .as_string_opt::<i32>()
                .map(|s| (Raw::Utf8(s), Scale::Millis)),
            DataType::LargeUtf8 => a
                .as_string_opt::<i64>()
                .map(|s| (Raw::LargeUtf8(s), Scale::Millis)),
            _ => None,
        };
        let Some((raw, scale)) = raw_scale else {
            return Err(format!(
                "timestamp field '{}' is {}; expected an integer (epoch milliseconds), a \
                 timestamp, a date or a string",
                field.name,
                a.data_type()
            ));
        };
        Ok(TimeColumn {
            path,
            raw,
            scale,
            name: &field.name,
        })
    }

    fn time_at(&self, row: usize) -> Result<i64, String> {
        let name = self.name;
        if self.path.is_null(row) {
            return Err(format!("timestamp field '{name}' is null"));
        }
        let out_of_range =
            || format!("timestamp field '{name}' at row {row} is outside the supported range");
        let missing = || format!("timestamp field '{name}' has no row {row}");
        let v: i64 = match self.raw {
            Raw::I64(v) => *v.get(row).ok_or_else(missing)?,
            Raw::I32(v) => i64::from(*v.get(row).ok_or_else(missing)?),
            Raw::U8(v) => i64::from(*v.get(row).ok_or_else(missing)?),
            Raw::U16(v) => i64::from(*v.get(row).ok_or_else(missing)?),
            Raw::U32(v) => i64::from(*v.get(row).ok_or_else(missing)?),
            Raw::U64(v) => {
                i64::try_from(*v.get(row).ok_or_else(missing)?).map_err(|_| out_of_range())?
            }
            Raw::Utf8(a) => return parse_time_text(a.value(row), name),
            Raw::LargeUtf8(a) => return parse_time_text(a.value(row), name),
        };
        match self.scale {
            Scale::Millis => Ok(v),
            Scale::Seconds => v.checked_mul(1000).ok_or_else(out_of_range),
            // Floor, so a time just before 1970 stays in its own millisecond.
            Scale::Micros => Ok(v.div_euclid(1000)),
            Scale::Nanos => Ok(v.div_euclid(1_000_000)),
            Scale::Days => v.checked_mul(86_400_000).ok_or_else(out_of_range),
        }
    }
}
