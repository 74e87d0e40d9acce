//! Behaviour tests of the public API. Expected directories are written out by hand from the
//! calendar; chrono only turns the *input* instants into epoch milliseconds.

mod config;
mod field;
mod property;
mod table;
mod time_source;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow_schema::Schema;
use chrono::NaiveDate;

use crate::{PartitionInput, Partitioned, Partitioner, TimeZoneId};

pub(crate) const TOPIC: &str = "t";
pub(crate) const PARTITION: i32 = 3;
/// Offsets of the rows of test batches start here, so errors name recognisable offsets.
pub(crate) const FIRST_OFFSET: i64 = 100;

pub(crate) fn zone(s: &str) -> TimeZoneId {
    lakesink_config::parse_timezone(s).unwrap()
}

/// Epoch milliseconds of a UTC date-time.
pub(crate) fn utc_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, s)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

pub(crate) fn offsets(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| FIRST_OFFSET + i).collect()
}

/// A batch of `n` rows without columns (for partitioners that only read Kafka metadata).
pub(crate) fn no_columns(n: usize) -> RecordBatch {
    RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .unwrap()
}

pub(crate) fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(columns).unwrap()
}

/// A schemaless batch: one "value" column of JSON texts (`None` = null value).
pub(crate) fn json_batch(texts: &[Option<&str>]) -> RecordBatch {
    batch(vec![(
        "value",
        Arc::new(StringArray::from(texts.to_vec())) as ArrayRef,
    )])
}

/// Runs `p` on `columns` with default metadata: offsets from [`FIRST_OFFSET`], Kafka
/// timestamps `ts` (or none), wall clock `now`.
pub(crate) fn run(
    p: &Partitioner,
    columns: &RecordBatch,
    json_text: bool,
    ts: &[Option<i64>],
    now: i64,
) -> Result<Partitioned, crate::RecordPartitionError> {
    let offs = offsets(columns.num_rows());
    p.partition(&PartitionInput {
        topic: TOPIC,
        partition: PARTITION,
        columns,
        json_text,
        offsets: &offs,
        kafka_timestamps: ts,
        now_ms: now,
    })
}

/// The directory of every row.
pub(crate) fn dir_per_row(p: &Partitioned, rows: usize) -> Vec<String> {
    let mut out = vec![None; rows];
    for s in &p.slices {
        match &s.rows {
            None => out.iter_mut().for_each(|d| *d = Some(s.dir.clone())),
            Some(rs) => {
                for &r in rs {
                    assert!(out[r as usize].is_none(), "row {r} in two slices");
                    out[r as usize] = Some(s.dir.clone());
                }
            }
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, d)| d.unwrap_or_else(|| panic!("row {i} in no slice")))
        .collect()
}

/// Checks the structural promises of [`Partitioned`]: slices ordered by first row, rows
/// increasing, each directory once, `rows: None` exactly when there is a single slice.
pub(crate) fn check_shape(p: &Partitioned, rows: usize) {
    if rows == 0 {
        assert!(p.slices.is_empty());
        return;
    }
    let dirs: std::collections::HashSet<_> = p.slices.iter().map(|s| &s.dir).collect();
    assert_eq!(dirs.len(), p.slices.len(), "a directory appears twice");
    if p.slices.len() == 1 {
        assert_eq!(p.slices[0].rows, None);
    } else {
        let mut firsts = Vec::new();
        for s in &p.slices {
            let rs = s.rows.as_ref().expect("rows listed when several slices");
            assert!(rs.windows(2).all(|w| w[0] < w[1]), "rows not increasing");
            firsts.push(rs[0]);
        }
        assert!(
            firsts.windows(2).all(|w| w[0] < w[1]),
            "slices not in first-row order"
        );
    }
    dir_per_row(p, rows);
}

#[test]
fn default_layout() {
    let b = no_columns(3);
    let p = run(&Partitioner::Default, &b, false, &[None; 3], 0).unwrap();
    assert_eq!(
        p,
        Partitioned {
            slices: vec![crate::Slice {
                dir: "t/partition=3".into(),
                rows: None
            }],
            times: None,
        }
    );
    assert!(!Partitioner::Default.uses_wallclock());
}

#[test]
fn empty_batch_has_no_slices() {
    let b = no_columns(0);
    let p = run(&Partitioner::Default, &b, false, &[], 0).unwrap();
    assert!(p.slices.is_empty());
    let hourly = Partitioner::hourly("en", zone("UTC"), crate::TimestampSource::Record).unwrap();
    let p = run(&hourly, &b, false, &[], 0).unwrap();
    assert_eq!(p.slices, vec![]);
    assert_eq!(p.times, Some(vec![]));
}

#[test]
fn offsets_must_match_rows() {
    let b = no_columns(2);
    let hourly = Partitioner::hourly("en", zone("UTC"), crate::TimestampSource::Record).unwrap();
    let e = hourly
        .partition(&PartitionInput {
            topic: TOPIC,
            partition: PARTITION,
            columns: &b,
            json_text: false,
            offsets: &[7],
            kafka_timestamps: &[Some(0), Some(0)],
            now_ms: 0,
        })
        .unwrap_err();
    assert_eq!(e.offset, 7);
    assert_eq!(e.message, "batch has 2 rows but 1 offsets");
}
