use std::sync::Arc;

use lakesink_commit::Layout;
use lakesink_config::{
    AvroCodec, ConverterConfig, ConverterKind, FormatKind, OffsetOutOfRange, ParquetCodec,
};
use lakesink_convert::NullValues;
use lakesink_format::FormatOptions;
use lakesink_partition::Partitioner;
use lakesink_record::{RawBatch, TopicPartition};
use lakesink_storage::Store;

use crate::{PartitionWriter, SinkSettings};

fn settings(
    dir: &std::path::Path,
    flush_size: u64,
    rotate_interval_ms: Option<u64>,
) -> Arc<SinkSettings> {
    Arc::new(SinkSettings {
        store: Store::open(&format!("file://{}", dir.display()), None).unwrap(),
        layout: Layout {
            topics_dir: "topics".into(),
            logs_dir: "logs".into(),
            zero_pad_width: 10,
        },
        format: FormatOptions {
            kind: FormatKind::Json,
            avro_codec: AvroCodec::Null,
            parquet_codec: ParquetCodec::Snappy,
            parquet_row_group_bytes: 1 << 20,
        },
        partitioner: Partitioner::Default,
        value_converter: ConverterConfig {
            kind: ConverterKind::Json,
            schemas_enable: true,
            decimal_numeric: false,
            replace_null_with_default: true,
        },
        null_values: NullValues::Fail,
        flush_size,
        rotate_interval_ms,
        rotate_schedule: None,
        retry_backoff_ms: 10,
        shutdown_timeout_ms: 1000,
        offset_out_of_range: OffsetOutOfRange::Earliest,
        owner: "test".into(),
    })
}

const SCHEMA_1: &str = r#"{"type":"struct","fields":[{"field":"id","type":"int64"}]}"#;
const SCHEMA_2: &str = r#"{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"x","type":"string","optional":true}]}"#;

fn batch(offsets: std::ops::Range<i64>, schema: &str, ts: impl Fn(i64) -> i64) -> RawBatch {
    let mut b = RawBatch::default();
    for o in offsets {
        let v = format!(r#"{{"schema":{schema},"payload":{{"id":{o}}}}}"#);
        b.push(o, Some(ts(o)), None, Some(v.as_bytes()));
    }
    b
}

fn committed(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("topics/t/partition=0"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn lines(dir: &std::path::Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join("topics/t/partition=0").join(name))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn flush_size_rotation_and_recovery() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 3, None);
    let tp = TopicPartition::new("t", 0);
    let (mut w, rec) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    assert_eq!(rec.next_offset, None);
    w.write(batch(0..5, SCHEMA_1, |_| 0)).await.unwrap();
    w.write(batch(5..8, SCHEMA_1, |_| 0)).await.unwrap();
    assert_eq!(
        committed(d.path()),
        vec![
            "t+0+0000000000+0000000002.json",
            "t+0+0000000003+0000000005.json"
        ]
    );
    assert_eq!(
        lines(d.path(), "t+0+0000000003+0000000005.json"),
        vec![r#"{"id":3}"#, r#"{"id":4}"#, r#"{"id":5}"#]
    );
    assert_eq!(w.committed_next(), Some(6));
    // Redelivered records below the written position are skipped.
    w.write(batch(4..9, SCHEMA_1, |_| 0)).await.unwrap();
    assert_eq!(w.committed_next(), Some(9));
    assert_eq!(
        committed(d.path()).last().unwrap(),
        "t+0+0000000006+0000000008.json"
    );
    // A crash now loses nothing committed; a new owner resumes at 9.
    w.write(batch(9..10, SCHEMA_1, |_| 0)).await.unwrap();
    drop(w);
    let (w2, rec) = PartitionWriter::open(s, tp).await.unwrap();
    assert_eq!(rec.next_offset, Some(9));
    assert_eq!(
        rec.orphans_deleted, 1,
        "the open temp file of the crashed owner"
    );
    assert_eq!(w2.close().await.unwrap(), Some(9));
}

#[tokio::test]
async fn schema_change_and_record_time_rotation() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 100, Some(1000));
    let tp = TopicPartition::new("t", 0);
    let (mut w, _) = PartitionWriter::open(s, tp).await.unwrap();
    let mut b = batch(0..2, SCHEMA_1, |o| o * 10);
    let b2 = batch(2..4, SCHEMA_2, |o| o * 10);
    for r in b2.iter() {
        b.push(r.offset, r.timestamp, r.key, r.value);
    }
    w.write(b).await.unwrap();
    assert_eq!(
        committed(d.path()),
        vec!["t+0+0000000000+0000000001.json"],
        "schema change commits the first file"
    );
    // Timestamps: 20, 30 in the open file; 1020 is >= 1000 ms after 20 -> rotate before it.
    w.write(batch(4..6, SCHEMA_2, |o| if o == 4 { 1020 } else { 1030 }))
        .await
        .unwrap();
    assert_eq!(
        committed(d.path()).last().unwrap(),
        "t+0+0000000002+0000000003.json"
    );
    assert_eq!(w.close().await.unwrap(), Some(6));
    assert_eq!(
        committed(d.path()).last().unwrap(),
        "t+0+0000000004+0000000005.json"
    );
}

#[tokio::test]
async fn a_bad_record_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path(), 100, None);
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    let mut b = batch(0..2, SCHEMA_1, |_| 0);
    b.push(2, None, None, Some(b"not json"));
    let e = w.write(b).await.unwrap_err();
    assert!(e.is_record_error());
    assert!(
        e.to_string()
            .starts_with("record t-0 offset 2: value converter failed"),
        "{e}"
    );
}
