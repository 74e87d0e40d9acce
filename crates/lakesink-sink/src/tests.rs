use std::sync::Arc;

use lakesink_commit::Layout;
use lakesink_config::{
    AvroCodec, ConverterConfig, ConverterKind, FormatKind, OffsetOutOfRange, ParquetCodec, Rotation,
};
use lakesink_convert::NullValues;
use lakesink_format::FormatOptions;
use lakesink_partition::Partitioner;
use lakesink_record::{RawBatch, TopicPartition};
use lakesink_storage::Store;

use crate::{Budget, PartitionWriter, SinkSettings};

fn settings(
    dir: &std::path::Path,
    flush_size: u64,
    rotate_interval_ms: Option<u64>,
) -> Arc<SinkSettings> {
    settings_with(
        dir,
        Partitioner::Default,
        rotation(flush_size, rotate_interval_ms),
        Budget::new(1000, 1 << 30, 8),
    )
}

fn rotation(flush_size: u64, rotate_interval_ms: Option<u64>) -> Rotation {
    Rotation {
        flush_size,
        rotate_interval_ms,
        rotate_schedule_interval_ms: None,
        rotate_size_bytes: None,
    }
}

fn settings_with(
    dir: &std::path::Path,
    partitioner: Partitioner,
    rotation: Rotation,
    budget: Arc<Budget>,
) -> Arc<SinkSettings> {
    Arc::new(SinkSettings {
        store: Store::open(&format!("file://{}", dir.display()), None).unwrap(),
        layout: Layout::new("topics", "logs", 10, None).unwrap(),
        format: FormatOptions {
            kind: FormatKind::Json,
            avro_codec: AvroCodec::Null,
            avro_writer_schemas: true,
            avro_connect_meta: true,
            parquet_codec: ParquetCodec::Snappy,
            parquet_row_group_bytes: 1 << 20,
        },
        partitioner,
        value_converter: ConverterConfig {
            kind: ConverterKind::Json,
            schemas_enable: true,
            subject_strategy: lakesink_config::SubjectNameStrategy::Topic,
            decimal_numeric: false,
            replace_null_with_default: true,
            registry_urls: Vec::new(),
            registry_basic_auth: None,
        },
        key_converter: None,
        null_values: NullValues::Fail,
        rotation,
        topic_rotation: Default::default(),
        timezone: None,
        budget,
        retry_backoff_ms: 10,
        shutdown_timeout_ms: 1000,
        stopping: Default::default(),
        offset_out_of_range: OffsetOutOfRange::Earliest,
        owner: "test".into(),
        errors: crate::ErrorReporter {
            policy: lakesink_config::ErrorHandling {
                tolerate_all: false,
                log_enable: false,
                log_include_messages: false,
                dlq_topic: None,
                dlq_replication_factor: 1,
                dlq_context_headers: false,
                retry_timeout_ms: 0,
                retry_delay_max_ms: None,
            },
            queue: None,
        },
        compatibility: lakesink_config::Compatibility::None,
        converter_class: "org.apache.kafka.connect.json.JsonConverter",
        key_converter_class: "",
        partitioner_class: "io.confluent.connect.storage.partitioner.DefaultPartitioner",
        format_class: "io.confluent.connect.hdfs3.json.JsonFormat".into(),
        metrics: Default::default(),
        transforms: Default::default(),
    })
}

/// A dead-letter queue in memory that takes letters, or refuses them.
struct MemoryQueue {
    letters: std::sync::Mutex<Vec<crate::DeadLetter>>,
    refuse: bool,
}

impl MemoryQueue {
    fn new(refuse: bool) -> Arc<MemoryQueue> {
        Arc::new(MemoryQueue {
            letters: Default::default(),
            refuse,
        })
    }
}

impl crate::DeadLetterQueue for MemoryQueue {
    fn send<'a>(
        &'a self,
        letters: &'a [crate::DeadLetter],
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if self.refuse {
                return Err("broker down".into());
            }
            self.letters.lock().unwrap().extend_from_slice(letters);
            Ok(())
        })
    }
    fn topic(&self) -> &str {
        "dlq"
    }
}

fn tolerant(s: Arc<SinkSettings>, queue: Arc<MemoryQueue>) -> Arc<SinkSettings> {
    let mut s = Arc::try_unwrap(s).unwrap();
    s.errors.policy.tolerate_all = true;
    s.errors.queue = Some(queue);
    Arc::new(s)
}

#[tokio::test]
async fn tolerated_records_are_acknowledged_before_anything_after_them_commits() {
    let d = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("t", 0);
    let mut b = batch(0..3, SCHEMA_1, |_| 0);
    b.push(3, None, Some(b"k"), Some(b"not json"));
    for r in batch(4..6, SCHEMA_1, |_| 0).iter() {
        b.push(r.offset, r.timestamp, r.key, r.value);
    }
    b.push(6, None, None, Some(b"{also bad"));

    // A queue that refuses: the batch fails and nothing is committed.
    let refusing = MemoryQueue::new(true);
    let s = tolerant(settings(d.path(), 2, None), refusing);
    let (mut w, _) = PartitionWriter::open(s, tp.clone()).await.unwrap();
    let e = w.write(b.clone()).await.unwrap_err();
    assert!(matches!(e, crate::SinkError::DeadLetterQueue(_)), "{e}");
    assert!(!e.is_record_error(), "retried, not a task failure");
    assert!(committed(d.path()).is_empty());
    w.abandon().await;

    // A queue that takes them: good records in files (a gap where the bad one was), the
    // trailing bad record recorded as done on close.
    let queue = MemoryQueue::new(false);
    let s = tolerant(settings(d.path(), 2, None), queue.clone());
    let (mut w, _) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    w.write(b).await.unwrap();
    w.settle().await.unwrap();
    let letters = queue.letters.lock().unwrap().clone();
    assert_eq!(
        letters.iter().map(|l| l.offset).collect::<Vec<_>>(),
        vec![3, 6]
    );
    assert_eq!(letters[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(letters[0].value.as_deref(), Some(&b"not json"[..]));
    assert_eq!(letters[0].stage, crate::Stage::ValueConverter);
    assert_eq!(
        committed(d.path()),
        vec![
            "t+0+0000000000+0000000001.json",
            "t+0+0000000002+0000000004.json"
        ]
    );
    assert_eq!(
        lines(d.path(), "t+0+0000000002+0000000004.json"),
        vec![r#"{"id":2}"#, r#"{"id":4}"#]
    );
    assert_eq!(w.close().await.unwrap(), Some(7));
    let (_, rec) = PartitionWriter::open(s, tp).await.unwrap();
    assert_eq!(
        rec.next_offset,
        Some(7),
        "the dead letter at 6 is not read again"
    );
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
    w.settle().await.unwrap();
    w.write(batch(5..8, SCHEMA_1, |_| 0)).await.unwrap();
    w.settle().await.unwrap();
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
    w.settle().await.unwrap();
    assert_eq!(w.committed_next(), Some(9));
    assert_eq!(
        committed(d.path()).last().unwrap(),
        "t+0+0000000006+0000000008.json"
    );
    // A crash now loses nothing committed; a new owner resumes at 9.
    w.write(batch(9..10, SCHEMA_1, |_| 0)).await.unwrap();
    w.settle().await.unwrap();
    drop(w);
    fn temp_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |rd| {
            rd.map(|e| e.unwrap().path())
                .map(|p| {
                    if p.is_dir() {
                        temp_files(&p)
                    } else {
                        usize::from(p.to_string_lossy().contains("_tmp"))
                    }
                })
                .sum()
        })
    }
    assert_eq!(
        temp_files(d.path()),
        0,
        "a small open file lives in memory until it is committed: no temp file to clean up"
    );
    let (w2, rec) = PartitionWriter::open(s, tp).await.unwrap();
    assert_eq!(rec.next_offset, Some(9));
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
    w.settle().await.unwrap();
    assert_eq!(
        committed(d.path()),
        vec!["t+0+0000000000+0000000001.json"],
        "schema change commits the first file"
    );
    // Timestamps: 20, 30 in the open file; 1020 is >= 1000 ms after 20 -> rotate before it.
    w.write(batch(4..6, SCHEMA_2, |o| if o == 4 { 1020 } else { 1030 }))
        .await
        .unwrap();
    w.settle().await.unwrap();
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

/// A value schema with an empty struct, which Parquet cannot hold.
const SCHEMA_EMPTY_STRUCT: &str = r#"{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"e","type":"struct","fields":[],"optional":true}]}"#;

fn parquet(s: Arc<SinkSettings>) -> Arc<SinkSettings> {
    let mut s = Arc::try_unwrap(s).unwrap();
    s.format.kind = FormatKind::Parquet;
    s.format_class = "io.confluent.connect.hdfs.parquet.ParquetFormat".into();
    Arc::new(s)
}

/// Records 0-1 and 4-5 of SCHEMA_1 around 2-3 whose schema the format cannot hold.
fn with_unwritable_schema() -> RawBatch {
    let mut b = batch(0..2, SCHEMA_1, |_| 0);
    for r in batch(2..4, SCHEMA_EMPTY_STRUCT, |_| 0)
        .iter()
        .chain(batch(4..6, SCHEMA_1, |_| 0).iter())
    {
        b.push(r.offset, r.timestamp, r.key, r.value);
    }
    b
}

#[tokio::test]
async fn a_schema_the_format_cannot_hold_stops_the_task_naming_the_record() {
    let d = tempfile::tempdir().unwrap();
    let s = parquet(settings(d.path(), 100, None));
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    let e = w.write(with_unwritable_schema()).await.unwrap_err();
    assert!(e.is_record_error());
    let text = e.to_string();
    assert!(
        text.starts_with(
            "record t-0 offset 2: io.confluent.connect.hdfs.parquet.ParquetFormat cannot write it: "
        ) && text.contains("empty struct"),
        "{text}"
    );
    w.abandon().await;
    assert!(
        committed(d.path()).is_empty(),
        "nothing after the record commits"
    );
}

#[tokio::test]
async fn a_schema_the_format_cannot_hold_sends_its_records_to_the_dead_letter_queue() {
    let d = tempfile::tempdir().unwrap();
    let queue = MemoryQueue::new(false);
    let s = tolerant(parquet(settings(d.path(), 100, None)), queue.clone());
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    w.write(with_unwritable_schema()).await.unwrap();
    assert_eq!(w.close().await.unwrap(), Some(6));
    let letters = queue.letters.lock().unwrap().clone();
    assert_eq!(
        letters
            .iter()
            .map(|l| (l.offset, l.stage, l.class_name.to_string()))
            .collect::<Vec<_>>(),
        [2, 3]
            .map(|o| (
                o,
                crate::Stage::TaskPut,
                "io.confluent.connect.hdfs.parquet.ParquetFormat".to_string()
            ))
            .to_vec()
    );
    assert_eq!(
        letters[0].exception_class,
        "org.apache.kafka.connect.errors.DataException"
    );
    assert!(
        letters[0].message.contains("empty struct"),
        "{}",
        letters[0].message
    );
    let value = String::from_utf8(letters[1].value.clone().unwrap()).unwrap();
    assert!(
        value.contains(r#""payload":{"id":3}"#),
        "the original value: {value}"
    );
    // The records around them are written: one file each side, as the schema changed.
    assert_eq!(
        committed(d.path()),
        vec![
            "t+0+0000000000+0000000001.parquet",
            "t+0+0000000004+0000000005.parquet"
        ]
    );
}

const ITEM_V1: &str =
    r#"{"type":"struct","name":"Item","version":1,"fields":[{"field":"id","type":"int64"}]}"#;
const ITEM_V2: &str = r#"{"type":"struct","name":"Item","version":2,"fields":[{"field":"id","type":"int64"},{"field":"x","type":"string","optional":true}]}"#;

/// Column names and `id`s of a committed Parquet file.
fn parquet_file(dir: &std::path::Path, name: &str) -> (Vec<String>, Vec<i64>) {
    use arrow_array::cast::AsArray;
    let bytes = std::fs::read(dir.join("topics/t/partition=0").join(name)).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(
        bytes::Bytes::from(bytes),
        1024,
    )
    .unwrap();
    let mut columns = Vec::new();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        columns = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let id = batch.column_by_name("id").unwrap();
        ids.extend(
            id.as_primitive::<arrow_array::types::Int64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    (columns, ids)
}

#[tokio::test]
async fn after_a_restart_older_records_are_projected_to_the_last_files_schema() {
    let d = tempfile::tempdir().unwrap();
    let backward = |s: Arc<SinkSettings>| {
        let mut s = Arc::try_unwrap(s).unwrap();
        s.compatibility = lakesink_config::Compatibility::Backward;
        Arc::new(s)
    };
    let tp = TopicPartition::new("t", 0);
    let s = backward(parquet(settings(d.path(), 2, None)));
    let (mut w, _) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    w.write(batch(0..2, ITEM_V2, |_| 0)).await.unwrap();
    assert_eq!(w.close().await.unwrap(), Some(2));

    // A new owner: its first records are of version 1. They are projected to version 2, the
    // schema of the last committed file, as the Confluent sink does after a restart.
    let (mut w, _) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    w.write(batch(2..4, ITEM_V1, |_| 0)).await.unwrap();
    w.settle().await.unwrap();
    assert_eq!(
        parquet_file(d.path(), "t+0+0000000002+0000000003.parquet"),
        (vec!["id".to_string(), "x".to_string()], vec![2, 3])
    );
    // Records of version 2 itself then join the same files.
    let mut b = batch(4..5, ITEM_V1, |_| 0);
    for r in batch(5..6, ITEM_V2, |_| 0).iter() {
        b.push(r.offset, r.timestamp, r.key, r.value);
    }
    w.write(b).await.unwrap();
    assert_eq!(w.close().await.unwrap(), Some(6));
    assert_eq!(
        parquet_file(d.path(), "t+0+0000000004+0000000005.parquet"),
        (vec!["id".to_string(), "x".to_string()], vec![4, 5])
    );

    // Without schema.compatibility, a restart starts from the records' own schema.
    let d = tempfile::tempdir().unwrap();
    let s = parquet(settings(d.path(), 2, None));
    let (mut w, _) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    w.write(batch(0..2, ITEM_V2, |_| 0)).await.unwrap();
    w.close().await.unwrap();
    let (mut w, _) = PartitionWriter::open(s, tp).await.unwrap();
    w.write(batch(2..4, ITEM_V1, |_| 0)).await.unwrap();
    w.settle().await.unwrap();
    assert_eq!(
        parquet_file(d.path(), "t+0+0000000002+0000000003.parquet"),
        (vec!["id".to_string()], vec![2, 3])
    );
}

/// Settings whose key converter is JsonConverter with schemas (Connect's default): a key
/// must be an envelope.
fn with_json_keys(s: Arc<SinkSettings>) -> Arc<SinkSettings> {
    let mut s = Arc::try_unwrap(s).unwrap();
    s.key_converter = Some(s.value_converter.clone());
    s.key_converter_class = "org.apache.kafka.connect.json.JsonConverter";
    Arc::new(s)
}

#[tokio::test]
async fn a_key_that_does_not_convert_fails_its_record_before_its_value_is_read() {
    let good_key = r#"{"schema":{"type":"string"},"payload":"k"}"#;
    let mut b = RawBatch::default();
    for r in batch(0..4, SCHEMA_1, |_| 0).iter() {
        let key = match r.offset {
            1 => Some(&b"plain"[..]),
            2 => None,
            _ => Some(good_key.as_bytes()),
        };
        b.push(r.offset, r.timestamp, key, r.value);
    }
    // A bad key and a bad value: the key is reported, the value is never read.
    b.push(4, None, Some(b"{nope"), Some(b"not json either"));

    // errors.tolerance=none: the task stops at the first bad key.
    let d = tempfile::tempdir().unwrap();
    let s = with_json_keys(settings(d.path(), 10, None));
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    let e = w.write(b.clone()).await.unwrap_err();
    assert!(e.is_record_error());
    assert!(
        e.to_string()
            .starts_with("record t-0 offset 1: key converter failed"),
        "{e}"
    );
    assert!(committed(d.path()).is_empty());

    // errors.tolerance=all: both become KEY_CONVERTER dead letters; the rest is written.
    let d = tempfile::tempdir().unwrap();
    let queue = MemoryQueue::new(false);
    let s = tolerant(with_json_keys(settings(d.path(), 3, None)), queue.clone());
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    w.write(b).await.unwrap();
    w.settle().await.unwrap();
    let letters = queue.letters.lock().unwrap().clone();
    assert_eq!(
        letters
            .iter()
            .map(|l| (l.offset, l.stage, l.class_name.to_string()))
            .collect::<Vec<_>>(),
        vec![
            (
                1,
                crate::Stage::KeyConverter,
                "org.apache.kafka.connect.json.JsonConverter".to_string()
            ),
            (
                4,
                crate::Stage::KeyConverter,
                "org.apache.kafka.connect.json.JsonConverter".to_string()
            )
        ]
    );
    assert_eq!(letters[0].key.as_deref(), Some(&b"plain"[..]));
    assert_eq!(committed(d.path()), vec!["t+0+0000000000+0000000003.json"]);
    assert_eq!(
        lines(d.path(), "t+0+0000000000+0000000003.json"),
        vec![r#"{"id":0}"#, r#"{"id":2}"#, r#"{"id":3}"#]
    );
}

const SCHEMA_K: &str =
    r#"{"type":"struct","fields":[{"field":"id","type":"int64"},{"field":"k","type":"string"}]}"#;

fn keyed(offsets: impl IntoIterator<Item = i64>, key: impl Fn(i64) -> String) -> RawBatch {
    let mut b = RawBatch::default();
    for o in offsets {
        let v = format!(
            r#"{{"schema":{SCHEMA_K},"payload":{{"id":{o},"k":"{}"}}}}"#,
            key(o)
        );
        b.push(o, Some(o), None, Some(v.as_bytes()));
    }
    b
}

/// Every committed file under `topics/t`, as (directory, name, ids in the file).
fn all_committed(dir: &std::path::Path) -> Vec<(String, String, Vec<i64>)> {
    let root = dir.join("topics/t");
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for d in dirs {
        let d = d.unwrap();
        let dname = d.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(d.path()).unwrap() {
            let f = f.unwrap();
            let ids = std::fs::read_to_string(f.path())
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                        .as_i64()
                        .unwrap()
                })
                .collect();
            out.push((
                dname.clone(),
                f.file_name().to_string_lossy().into_owned(),
                ids,
            ));
        }
    }
    out.sort();
    out
}

fn key_of(o: i64) -> String {
    if o % 4 == 1 { "b".into() } else { "a".into() }
}

#[tokio::test]
async fn directories_commit_on_their_own_and_a_crash_loses_and_repeats_nothing() {
    let d = tempfile::tempdir().unwrap();
    let s = settings_with(
        d.path(),
        Partitioner::field(&["k".to_string()]).unwrap(),
        rotation(3, None),
        Budget::new(1000, 1 << 30, 8),
    );
    let tp = TopicPartition::new("t", 0);
    let (mut w, _) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    // a: 0 2 3 | 4 6 7 (two full files); b: 1 5 (stays open).
    w.write(keyed(0..8, key_of)).await.unwrap();
    w.settle().await.unwrap();
    assert_eq!(w.committed_next(), Some(1), "b's open file holds offset 1");
    let files = all_committed(d.path());
    assert_eq!(
        files,
        vec![
            (
                "k=a".into(),
                "t+0+0000000000+0000000003.json".into(),
                vec![0, 2, 3]
            ),
            (
                "k=a".into(),
                "t+0+0000000004+0000000007.json".into(),
                vec![4, 6, 7]
            ),
        ]
    );
    // Crash: the new owner resumes at 1 and must not write a's records 2..7 again.
    drop(w);
    let (mut w, rec) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    assert_eq!(rec.next_offset, Some(1));
    assert_eq!(rec.ahead.get("t/k=a"), Some(&7));
    w.write(keyed(1..10, key_of)).await.unwrap();
    w.settle().await.unwrap();
    assert_eq!(w.close().await.unwrap(), Some(10));
    let files = all_committed(d.path());
    let mut ids: Vec<i64> = files.iter().flat_map(|f| f.2.clone()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (0..10).collect::<Vec<_>>(),
        "every record exactly once: {files:?}"
    );
    for (dir, _, ids) in &files {
        assert!(
            ids.iter().all(|&o| format!("k={}", key_of(o)) == *dir),
            "{files:?}"
        );
    }
    // b's first file: 1 5 9 (flush.size 3), a's rest: 8.
    assert!(
        files.contains(&(
            "k=b".into(),
            "t+0+0000000001+0000000009.json".into(),
            vec![1, 5, 9]
        )),
        "{files:?}"
    );
    assert!(
        files.contains(&(
            "k=a".into(),
            "t+0+0000000008+0000000008.json".into(),
            vec![8]
        )),
        "{files:?}"
    );
    // The ahead map is gone once the next offset has passed it.
    let (_, rec) = PartitionWriter::open(s, tp).await.unwrap();
    assert_eq!(rec.next_offset, Some(10));
    assert!(rec.ahead.is_empty(), "{:?}", rec.ahead);
}

#[tokio::test]
async fn open_file_limit_commits_the_oldest_files_early() {
    let d = tempfile::tempdir().unwrap();
    let budget = Budget::new(2, 1 << 30, 8);
    let s = settings_with(
        d.path(),
        Partitioner::field(&["k".to_string()]).unwrap(),
        rotation(1000, None),
        budget.clone(),
    );
    let tp = TopicPartition::new("t", 0);
    let (mut w, _) = PartitionWriter::open(s.clone(), tp.clone()).await.unwrap();
    // Five directories in one batch: after it, only two may stay open.
    w.write(keyed(0..10, |o| format!("v{}", o % 5)))
        .await
        .unwrap();
    w.settle().await.unwrap();
    assert_eq!(w.open_files(), 2);
    assert_eq!(budget.open_files(), 2);
    let early = all_committed(d.path());
    assert_eq!(early.len(), 3, "{early:?}");
    assert_eq!(
        early.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        vec!["k=v0", "k=v1", "k=v2"],
        "the oldest files are committed first"
    );
    w.write(keyed(10..20, |o| format!("v{}", o % 5)))
        .await
        .unwrap();
    w.settle().await.unwrap();
    assert_eq!(w.close().await.unwrap(), Some(20));
    assert_eq!(budget.open_files(), 0, "closing gives the files back");
    let mut ids: Vec<i64> = all_committed(d.path())
        .iter()
        .flat_map(|f| f.2.clone())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn memory_limit_commits_small_files_early() {
    let d = tempfile::tempdir().unwrap();
    // 1 MiB limit, ~23 bytes per JSON line: 100k records cannot stay in memory.
    let budget = Budget::new(1000, 1 << 20, 8);
    let s = settings_with(
        d.path(),
        Partitioner::field(&["k".to_string()]).unwrap(),
        rotation(1_000_000, None),
        budget.clone(),
    );
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    for start in (0..100_000).step_by(10_000) {
        w.write(keyed(start..start + 10_000, |o| format!("v{}", o % 3)))
            .await
            .unwrap();
        w.settle().await.unwrap();
        assert!(
            budget.buffered_bytes() <= 1 << 20,
            "after a batch the writer is back under the limit: {}",
            budget.buffered_bytes()
        );
    }
    assert_eq!(w.close().await.unwrap(), Some(100_000));
    let files = all_committed(d.path());
    assert!(files.len() > 3, "early commits happened: {}", files.len());
    let mut ids: Vec<i64> = files.iter().flat_map(|f| f.2.clone()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..100_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_file_sealed_at_its_flush_size_does_not_make_the_next_one_commit_early() {
    // What a full file of 1,000 records holds, measured on a writer without a limit.
    let calibration = tempfile::tempdir().unwrap();
    let unlimited = Budget::new(1000, 1 << 30, 8);
    let s = settings_with(
        calibration.path(),
        Partitioner::Default,
        rotation(1_000_000, None),
        unlimited.clone(),
    );
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    w.write(batch(0..1000, SCHEMA_1, |_| 0)).await.unwrap();
    let full_file = unlimited.buffered_bytes();
    assert!(full_file > 0);
    drop(w);

    // A limit just above one full file: a batch that fills a file and starts the next holds
    // both for a moment, the sealed one until this batch's commit. That commit frees it; the
    // new file, far below the limit on its own, must not be committed early for it.
    let d = tempfile::tempdir().unwrap();
    let budget = Budget::new(1000, full_file + full_file / 20, 8);
    let s = settings_with(d.path(), Partitioner::Default, rotation(1000, None), budget);
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    w.write(batch(0..1100, SCHEMA_1, |_| 0)).await.unwrap();
    w.settle().await.unwrap();
    w.write(batch(1100..2000, SCHEMA_1, |_| 0)).await.unwrap();
    w.settle().await.unwrap();
    assert_eq!(
        committed(d.path()),
        vec![
            "t+0+0000000000+0000000999.json",
            "t+0+0000001000+0000001999.json"
        ]
    );
}

#[tokio::test]
async fn size_rotation_makes_files_near_the_target() {
    let d = tempfile::tempdir().unwrap();
    let mut r = rotation(1_000_000, None);
    r.rotate_size_bytes = Some(10_000);
    let s = settings_with(
        d.path(),
        Partitioner::Default,
        r,
        Budget::new(1000, 1 << 30, 8),
    );
    let (mut w, _) = PartitionWriter::open(s, TopicPartition::new("t", 0))
        .await
        .unwrap();
    for start in (0..2_000).step_by(10) {
        w.write(batch(start..start + 10, SCHEMA_1, |_| 0))
            .await
            .unwrap();
        w.settle().await.unwrap();
    }
    assert_eq!(w.close().await.unwrap(), Some(2_000));
    let names = committed(d.path());
    assert!(names.len() >= 3, "{names:?}");
    for name in &names[..names.len() - 1] {
        let len = std::fs::metadata(d.path().join("topics/t/partition=0").join(name))
            .unwrap()
            .len();
        assert!((10_000..10_500).contains(&len), "{name}: {len} bytes");
    }
}

/// Data files of `t`/0 whose commit records are published, and the records' next offsets in
/// the order of their numbers.
fn published_next_offsets(dir: &std::path::Path) -> Vec<Option<i64>> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join("logs/t/0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".commit"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let bytes = std::fs::read(dir.join("logs/t/0").join(n)).unwrap();
            lakesink_commit::CommitRecord::decode(&bytes)
                .unwrap()
                .next_offset
        })
        .collect()
}

/// A fenced writer of `t`/0 committing every 3 records, on a connector with one storage
/// slot: a caller holding it keeps every commit from writing or closing its files.
async fn writer_with_one_storage_slot(
    dir: &std::path::Path,
) -> (Arc<SinkSettings>, PartitionWriter) {
    let s = settings_with(
        dir,
        Partitioner::Default,
        rotation(3, None),
        Budget::new(1000, 1 << 30, 1),
    );
    let (mut w, _) = PartitionWriter::open(s.clone(), TopicPartition::new("t", 0))
        .await
        .unwrap();
    w.settle().await.unwrap();
    (s, w)
}

#[tokio::test]
async fn files_are_written_while_earlier_commits_close_and_are_published_in_order() {
    let d = tempfile::tempdir().unwrap();
    let (s, mut w) = writer_with_one_storage_slot(d.path()).await;
    let slot = s.budget.storage_slots.acquire().await.unwrap();
    for first in [0, 3, 6] {
        w.write(batch(first..first + 3, SCHEMA_1, |_| 0))
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        committed(d.path()).is_empty(),
        "no file could be closed yet"
    );
    assert_eq!(w.committed_next(), None);
    drop(slot);
    w.settle().await.unwrap();
    assert_eq!(
        committed(d.path()),
        vec![
            "t+0+0000000000+0000000002.json",
            "t+0+0000000003+0000000005.json",
            "t+0+0000000006+0000000008.json"
        ]
    );
    // The fencing `open` record, then one record per commit, in the order they started.
    assert_eq!(
        published_next_offsets(d.path()),
        vec![None, Some(3), Some(6), Some(9)]
    );
    assert_eq!(w.committed_next(), Some(9));
}

#[tokio::test]
async fn a_takeover_while_commits_wait_fails_them_all_and_publishes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (s, mut w) = writer_with_one_storage_slot(d.path()).await;
    let slot = s.budget.storage_slots.acquire().await.unwrap();
    let tp = TopicPartition::new("t", 0);
    w.write(batch(0..3, SCHEMA_1, |_| 0)).await.unwrap();
    w.write(batch(3..6, SCHEMA_1, |_| 0)).await.unwrap();
    // Another worker takes the partition over while both commits wait to write their files.
    let (mut other, _) =
        lakesink_commit::PartitionLog::recover(s.store.clone(), s.layout.clone(), tp, "b".into())
            .await
            .unwrap();
    other.fence().await.unwrap();
    drop(slot);
    let err = w.settle().await.unwrap_err();
    assert!(err.to_string().contains("fenced"), "{err}");
    assert!(committed(d.path()).is_empty(), "{:?}", committed(d.path()));
    // The first owner's `open` record and the new owner's: no commit of either file.
    assert_eq!(published_next_offsets(d.path()), vec![None, None]);
}
