//! Where time-based partitioners take the time from.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, StringArray, StructArray,
    TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field};

use super::{batch, check_shape, dir_per_row, json_batch, no_columns, run, zone};
use crate::{Partitioned, Partitioner, RecordPartitionError, TimestampSource};

/// 2024-03-10T02:30:00Z: 19792 days after the epoch, plus 2.5 hours.
const T0230: i64 = 19_792 * 86_400_000 + 9_000_000;
/// 2024-03-10T00:00:00Z.
const MAR10: i64 = 19_792 * 86_400_000;

fn hourly_field(path: &str) -> Partitioner {
    Partitioner::hourly("en", zone("UTC"), TimestampSource::RecordField(path.into())).unwrap()
}

fn ok(p: &Partitioner, b: &arrow_array::RecordBatch, json: bool) -> (Partitioned, Vec<String>) {
    let out = run(p, b, json, &vec![None; b.num_rows()], 0).unwrap();
    check_shape(&out, b.num_rows());
    let dirs = dir_per_row(&out, b.num_rows());
    (out, dirs)
}

fn err(p: &Partitioner, b: &arrow_array::RecordBatch, json: bool) -> RecordPartitionError {
    run(p, b, json, &vec![None; b.num_rows()], 0).unwrap_err()
}

#[test]
fn int64_field() {
    let b = batch(vec![(
        "ts",
        Arc::new(Int64Array::from(vec![T0230, -1])) as ArrayRef,
    )]);
    let (out, dirs) = ok(&hourly_field("ts"), &b, false);
    assert_eq!(out.times, Some(vec![T0230, -1]));
    assert_eq!(
        dirs,
        [
            "t/year=2024/month=03/day=10/hour=02",
            "t/year=1969/month=12/day=31/hour=23"
        ]
    );
}

#[test]
fn int32_and_date32_fields() {
    let b = batch(vec![
        ("i", Arc::new(Int32Array::from(vec![3_600_000])) as ArrayRef),
        ("d", Arc::new(Date32Array::from(vec![19_792]))),
    ]);
    let (out, _) = ok(&hourly_field("i"), &b, false);
    assert_eq!(out.slices[0].dir, "t/year=1970/month=01/day=01/hour=01");
    let (out, _) = ok(&hourly_field("d"), &b, false);
    assert_eq!(out.times, Some(vec![MAR10]));
    assert_eq!(out.slices[0].dir, "t/year=2024/month=03/day=10/hour=00");
}

#[test]
fn timestamp_fields_in_milli_and_microseconds() {
    let ms: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![T0230]).with_timezone("UTC"));
    // -1 µs is in the millisecond before the epoch (floor, not truncation).
    let us: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
        T0230 * 1000 + 999,
        -1,
    ]));
    let b = batch(vec![("ms", ms)]);
    let (out, _) = ok(&hourly_field("ms"), &b, false);
    assert_eq!(out.times, Some(vec![T0230]));
    assert_eq!(out.slices[0].dir, "t/year=2024/month=03/day=10/hour=02");
    let b = batch(vec![("us", us)]);
    let (out, dirs) = ok(&hourly_field("us"), &b, false);
    assert_eq!(out.times, Some(vec![T0230, -1]));
    assert_eq!(dirs[1], "t/year=1969/month=12/day=31/hour=23");
}

#[test]
fn nested_timestamp_field() {
    let ts: ArrayRef = Arc::new(Int64Array::from(vec![T0230]));
    let meta = StructArray::from(vec![(
        Arc::new(Field::new("ts", DataType::Int64, true)),
        ts,
    )]);
    let b = batch(vec![("meta", Arc::new(meta) as ArrayRef)]);
    let (out, _) = ok(&hourly_field("meta.ts"), &b, false);
    assert_eq!(out.times, Some(vec![T0230]));
}

#[test]
fn string_fields_digits_and_iso() {
    let b = batch(vec![(
        "ts",
        Arc::new(StringArray::from(vec![
            "1710037800000",
            "2024-03-10T08:00:00+05:30",
            "2024-03-09T18:30:00-0800",
            "2024-03-10T02:30:00.250Z",
            "2024-03-10",
            "2024-03-10T02:30:00",
        ])) as ArrayRef,
    )]);
    let (out, dirs) = ok(&hourly_field("ts"), &b, false);
    assert_eq!(
        out.times,
        Some(vec![T0230, T0230, T0230, T0230 + 250, MAR10, T0230])
    );
    assert_eq!(dirs[4], "t/year=2024/month=03/day=10/hour=00");
    assert_eq!(dirs[0], "t/year=2024/month=03/day=10/hour=02");
}

#[test]
fn bad_string_and_null_name_the_record() {
    let b = batch(vec![(
        "ts",
        Arc::new(StringArray::from(vec![Some("1710037800000"), None])) as ArrayRef,
    )]);
    let e = err(&hourly_field("ts"), &b, false);
    assert_eq!(
        e,
        RecordPartitionError {
            topic: "t".into(),
            partition: 3,
            offset: 101,
            message: "timestamp field 'ts' is null".into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "record t-3 offset 101: partitioner failed: timestamp field 'ts' is null"
    );
    let b = batch(vec![(
        "ts",
        Arc::new(StringArray::from(vec!["yesterday"])) as ArrayRef,
    )]);
    assert_eq!(
        err(&hourly_field("ts"), &b, false).message,
        "timestamp field 'ts' value \"yesterday\" is neither epoch milliseconds nor an ISO-8601 \
         date-time"
    );
}

#[test]
fn unsupported_and_missing_timestamp_fields() {
    let b = batch(vec![(
        "f",
        Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
    )]);
    assert_eq!(
        err(&hourly_field("f"), &b, false).message,
        "timestamp field 'f' is Float64; expected an integer (epoch milliseconds), a timestamp, \
         a date or a string"
    );
    assert_eq!(
        err(&hourly_field("ts"), &b, false).message,
        "no field 'ts' in the value; fields are: f"
    );
}

#[test]
fn json_timestamp_field() {
    let b = json_batch(&[
        Some(r#"{"meta":{"ts":1710037800000}}"#),
        Some(r#"{"meta":{"ts":"2024-03-10T02:30:00Z"},"x":[1]}"#),
        Some(r#"{"meta":{"ts":"1710037800000"}}"#),
    ]);
    let (out, _) = ok(&hourly_field("meta.ts"), &b, true);
    assert_eq!(out.times, Some(vec![T0230; 3]));
    assert_eq!(out.slices.len(), 1);

    let b = json_batch(&[Some(r#"{"meta":{"ts":1}}"#), Some(r#"{"meta":{}}"#)]);
    let e = err(&hourly_field("meta.ts"), &b, true);
    assert_eq!(e.offset, 101);
    assert_eq!(
        e.message,
        "no timestamp field 'meta.ts' in the record value (or a parent of it is null)"
    );
    let b = json_batch(&[Some(r#"{"meta":{"ts":null}}"#)]);
    assert_eq!(
        err(&hourly_field("meta.ts"), &b, true).message,
        "timestamp field 'meta.ts' is null"
    );
    let b = json_batch(&[Some(r#"{"meta":{"ts":1.5}}"#)]);
    assert!(
        err(&hourly_field("meta.ts"), &b, true)
            .message
            .contains("is a JSON floating-point number")
    );
}

#[test]
fn record_timestamp_missing_is_an_error() {
    let p = Partitioner::hourly("en", zone("UTC"), TimestampSource::Record).unwrap();
    assert!(!p.uses_wallclock());
    let b = no_columns(3);
    let e = run(&p, &b, false, &[Some(0), Some(1), None], 0).unwrap_err();
    assert_eq!(
        e,
        RecordPartitionError {
            topic: "t".into(),
            partition: 3,
            offset: 102,
            message: "record has no timestamp".into(),
        }
    );
}

#[test]
fn wallclock_uses_now_for_every_row() {
    let p = Partitioner::hourly("en", zone("Asia/Kolkata"), TimestampSource::Wallclock).unwrap();
    assert!(p.uses_wallclock());
    let b = no_columns(4);
    // Kafka timestamps are ignored, even missing ones.
    let out = run(&p, &b, false, &[None, Some(0), None, None], T0230).unwrap();
    assert_eq!(out.times, Some(vec![T0230; 4]));
    // 02:30Z is 08:00 in Kolkata.
    assert_eq!(
        out.slices,
        vec![crate::Slice {
            dir: "t/year=2024/month=03/day=10/hour=08".into(),
            rows: None
        }]
    );
}

#[test]
fn record_timestamps_spread_over_hours() {
    let p = Partitioner::hourly("en", zone("UTC"), TimestampSource::Record).unwrap();
    let h = 3_600_000;
    let ts = [
        Some(T0230),
        Some(T0230 + h),
        Some(T0230 + 1),
        Some(T0230 + h),
    ];
    let out = run(&p, &no_columns(4), false, &ts, 0).unwrap();
    assert_eq!(
        out.slices,
        vec![
            crate::Slice {
                dir: "t/year=2024/month=03/day=10/hour=02".into(),
                rows: Some(vec![0, 2])
            },
            crate::Slice {
                dir: "t/year=2024/month=03/day=10/hour=03".into(),
                rows: Some(vec![1, 3])
            },
        ]
    );
}
