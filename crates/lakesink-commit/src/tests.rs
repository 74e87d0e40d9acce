use super::*;

fn setup() -> (tempfile::TempDir, Store, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display()), None).unwrap();
    let layout = Layout {
        topics_dir: "topics".into(),
        logs_dir: "logs".into(),
        zero_pad_width: 10,
        capture: None,
    };
    (dir, store, layout)
}

fn tp() -> TopicPartition {
    TopicPartition::new("orders", 2)
}

async fn temp_file(store: &Store, log: &PartitionLog, content: &'static [u8]) -> String {
    let path = log.new_temp_path(".json");
    store
        .write_new(&path, Bytes::from_static(content))
        .await
        .unwrap();
    path
}

fn file(log: &PartitionLog, temp: String, start: i64, end: i64) -> FileCommit {
    FileCommit {
        path: log
            .layout()
            .committed_path(log.tp(), "orders/partition=2", start, end, ".json"),
        temp,
        start_offset: start,
        end_offset: end,
        records: (end - start + 1) as u64,
        bytes: 1,
    }
}

#[test]
fn names() {
    let (_d, _s, layout) = setup();
    assert_eq!(
        layout.committed_path(&tp(), "orders/partition=2", 0, 41, ".avro"),
        "topics/orders/partition=2/orders+2+0000000000+0000000041.avro"
    );
    assert_eq!(
        parse_committed_name("orders+2+0000000000+0000000041.avro"),
        Some(("orders".into(), 2, 0, 41))
    );
    assert_eq!(
        parse_committed_name("my+topic+2+10+20"),
        Some(("my+topic".into(), 2, 10, 20))
    );
    assert_eq!(parse_committed_name("a_tmp.avro"), None);
}

#[tokio::test]
async fn commit_then_recover_on_another_owner() {
    let (_d, store, layout) = setup();
    let (mut a, rec) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, None);
    assert_eq!(rec.epoch, 1);
    let t1 = temp_file(&store, &a, b"1\n").await;
    let t2 = temp_file(&store, &a, b"2\n").await;
    let files = vec![file(&a, t1.clone(), 0, 9), file(&a, t2.clone(), 10, 19)];
    let finals: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    a.commit(files, 20).await.unwrap();
    assert_eq!(a.next_offset(), Some(20));
    for f in &finals {
        assert!(store.exists(f).await.unwrap());
    }
    assert!(!store.exists(&t1).await.unwrap());

    let (b, rec) = PartitionLog::open(store.clone(), layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(20));
    assert_eq!(rec.epoch, 2);
    assert_eq!(rec.renames_finished, 0);
    assert_eq!(b.next_offset(), Some(20));
}

#[tokio::test]
async fn crash_after_publish_is_finished_by_recovery() {
    let (_d, store, layout) = setup();
    let (mut a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    let t = temp_file(&store, &a, b"x\n").await;
    let f = file(&a, t.clone(), 0, 4);
    let final_path = f.path.clone();
    // Publish the record but "crash" before any rename.
    let record = CommitRecord {
        kind: RecordKind::Files,
        epoch: a.epoch,
        owner: "a".into(),
        written_at_ms: 0,
        next_offset: Some(5),
        files: vec![f],
        ahead: Default::default(),
    };
    a.publish(&record).await.unwrap();
    assert!(!store.exists(&final_path).await.unwrap());

    let (_b, rec) = PartitionLog::open(store.clone(), layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(5));
    assert_eq!(rec.renames_finished, 1);
    assert!(store.exists(&final_path).await.unwrap());
    assert!(!store.exists(&t).await.unwrap());
}

/// Owner "a", which has committed one file holding offset 0.
async fn owner_with_offset_0_committed(store: &Store, layout: &Layout) -> PartitionLog {
    let (mut a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    let t0 = temp_file(store, &a, b"0\n").await;
    a.commit(vec![file(&a, t0, 0, 0)], 1).await.unwrap();
    a
}

#[tokio::test]
async fn the_last_committed_file_is_found_behind_records_without_files() {
    let (_d, store, layout) = setup();
    let mut a = owner_with_offset_0_committed(&store, &layout).await;
    // One commit of two files: the one with the higher offset is the last.
    let t2 = temp_file(&store, &a, b"2\n").await;
    let t1 = temp_file(&store, &a, b"1\n").await;
    a.commit(vec![file(&a, t2, 2, 2), file(&a, t1, 1, 1)], 3)
        .await
        .unwrap();
    let (a, _) = PartitionLog::recover(store.clone(), layout.clone(), tp(), "x".into())
        .await
        .unwrap();
    let newest = a.last_committed_file().await.unwrap().unwrap();
    assert!(newest.ends_with("+0000000002+0000000002.json"), "{newest}");
    // Two takeovers publish `open` records, which commit no files: the file is still found.
    for owner in ["b", "c"] {
        PartitionLog::open(store.clone(), layout.clone(), tp(), owner.into())
            .await
            .unwrap();
    }
    let (d, _) = PartitionLog::recover(store.clone(), layout, tp(), "d".into())
        .await
        .unwrap();
    assert_eq!(d.last_committed_file().await.unwrap(), Some(newest));
}

#[tokio::test]
async fn crash_before_publish_leaves_nothing_committed() {
    let (_d, store, layout) = setup();
    let a = owner_with_offset_0_committed(&store, &layout).await;
    // Closed temp file and a pending record that was never published.
    let t = temp_file(&store, &a, b"y\n").await;
    let pending =
        lakesink_storage::join(&[&layout.log_dir(&tp()), ".00000000000000000009.x.pending"]);
    store
        .write_new(&pending, Bytes::from_static(b"junk"))
        .await
        .unwrap();

    let (_b, rec) = PartitionLog::open(store.clone(), layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(1));
    assert_eq!(rec.orphans_deleted, 1);
    assert!(!store.exists(&t).await.unwrap());
    assert!(!store.exists(&pending).await.unwrap());
}

#[tokio::test]
async fn a_writer_may_start_before_its_fence_which_keeps_its_own_temp_files() {
    let (_d, store, layout) = setup();
    let mut a = owner_with_offset_0_committed(&store, &layout).await;
    let stale = temp_file(&store, &a, b"stale\n").await;

    // b recovers, writes a temp file of its new epoch, then fences.
    let (mut b, rec) = PartitionLog::recover(store.clone(), layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!((rec.next_offset, rec.epoch), (Some(1), 2));
    let own = temp_file(&store, &b, b"1\n").await;
    assert_eq!(
        b.fence().await.unwrap(),
        1,
        "the earlier owner's temp file only"
    );
    assert!(!store.exists(&stale).await.unwrap());
    assert!(store.exists(&own).await.unwrap());
    b.commit(vec![file(&b, own, 1, 1)], 2).await.unwrap();
    assert_eq!(b.next_offset(), Some(2));
    // a is fenced: its next commit fails.
    let t = temp_file(&store, &a, b"x\n").await;
    assert!(matches!(
        a.commit(vec![file(&a, t, 1, 1)], 2).await,
        Err(CommitError::Fenced { .. })
    ));
}

#[tokio::test]
async fn a_stale_owner_is_fenced() {
    let (_d, store, layout) = setup();
    let (mut a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "worker-a".into())
        .await
        .unwrap();
    let ta = temp_file(&store, &a, b"a\n").await;
    let fa = file(&a, ta, 0, 9);
    let fa_final = fa.path.clone();
    // B takes over while A is stalled with a closed temp file.
    let (mut b, rec) = PartitionLog::open(store.clone(), layout.clone(), tp(), "worker-b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, None);
    let err = a.commit(vec![fa], 10).await.unwrap_err();
    match &err {
        CommitError::Fenced { by, .. } => assert!(by.contains("worker-b"), "{err}"),
        other => panic!("expected Fenced, got {other}"),
    }
    assert!(
        !store.exists(&fa_final).await.unwrap(),
        "a fenced commit publishes nothing"
    );
    let tb = temp_file(&store, &b, b"b\n").await;
    b.commit(vec![file(&b, tb, 0, 9)], 10).await.unwrap();
    // A stays fenced on every further attempt.
    assert!(matches!(
        a.advance(11).await,
        Err(CommitError::Fenced { .. })
    ));
    let (_c, rec) = PartitionLog::open(store, layout, tp(), "worker-c".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(10));
}

#[tokio::test]
async fn a_damaged_record_falls_back_and_skips_committed_files() {
    let (_d, store, layout) = setup();
    let (mut a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    let t = temp_file(&store, &a, b"1\n").await;
    a.commit(vec![file(&a, t, 0, 9)], 10).await.unwrap();
    let t = temp_file(&store, &a, b"2\n").await;
    a.commit(vec![file(&a, t, 10, 19)], 20).await.unwrap();
    // Damage the newest record (bit rot, a bad copy by hand, ...).
    let dir = layout.log_dir(&tp());
    let newest = store
        .list(&dir)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.name.ends_with(".commit"))
        .map(|e| e.name)
        .max()
        .unwrap();
    let path = lakesink_storage::join(&[&dir, &newest]);
    let mut bytes = store.read(&path).await.unwrap().to_vec();
    let n = bytes.len();
    bytes[n - 5] ^= 0x20;
    store.delete(&path).await.unwrap();
    store.write_new(&path, Bytes::from(bytes)).await.unwrap();

    let (_b, rec) = PartitionLog::open(store, layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.corrupt_records, 1);
    assert_eq!(rec.next_offset, Some(10), "the last valid record's offset");
    assert_eq!(
        rec.ahead.get("orders/partition=2"),
        Some(&19),
        "the file of the damaged record is found: its records are skipped on replay"
    );
}

#[tokio::test]
async fn old_records_are_pruned() {
    let (_d, store, layout) = setup();
    let (mut a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    for i in 0..40 {
        a.advance(i + 1).await.unwrap();
    }
    let records = store
        .list(&layout.log_dir(&tp()))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.name.ends_with(".commit"))
        .count();
    assert!(
        records <= (2 * RETAINED_RECORDS) as usize,
        "{records} records kept"
    );
    let (_b, rec) = PartitionLog::open(store, layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(40));
}

#[test]
fn topic_variables_fill_the_directories() {
    let l = Layout::new(
        "data/${1}/${topic}",
        "wal/${0}",
        10,
        Some(r"([a-z]+)\.(v[0-9]+)"),
    )
    .unwrap();
    let r = l.for_topic("orders.v2").unwrap();
    assert_eq!(r.topics_dir, "data/orders/orders.v2");
    assert_eq!(r.logs_dir, "wal/orders.v2");
    // The regex must match the whole name.
    let e = l.for_topic("orders.v2.extra").unwrap_err();
    assert!(
        e.contains("does not match topic.capture.groups.regex"),
        "{e}"
    );
    // ${topic} alone needs no regex.
    let plain = Layout::new("t/${topic}", "logs", 10, None).unwrap();
    assert_eq!(plain.for_topic("x").unwrap().topics_dir, "t/x");
}

#[tokio::test]
async fn ahead_directories_are_kept_until_the_next_offset_passes_them() {
    let (_d, store, layout) = setup();
    let (mut a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    let mut f1 = file(&a, temp_file(&store, &a, b"1\n").await, 10, 20);
    f1.path = layout.committed_path(&tp(), "t/day=1", 10, 20, ".json");
    // Offsets from 5 are still open elsewhere: day=1 is committed ahead, up to 20.
    a.commit(vec![f1], 5).await.unwrap();
    assert_eq!(a.ahead().get("t/day=1"), Some(&20));
    let (mut b, rec) = PartitionLog::open(store.clone(), layout.clone(), tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(5));
    assert_eq!(
        rec.ahead.get("t/day=1"),
        Some(&20),
        "carried by the open record"
    );
    let mut f2 = file(&b, temp_file(&store, &b, b"2\n").await, 5, 30);
    f2.path = layout.committed_path(&tp(), "t/day=2", 5, 30, ".json");
    b.commit(vec![f2], 31).await.unwrap();
    assert!(b.ahead().is_empty(), "{:?}", b.ahead());
}

/// Offsets 10–19 staged by `stager`, before `first` is published, on the state it leaves.
async fn stage_after(
    store: &Store,
    log: &PartitionLog,
    stager: &Stager,
    first: &StagedCommit,
) -> StagedCommit {
    let temp = temp_file(store, log, b"2\n").await;
    stager
        .stage(&first.then(), vec![file(log, temp, 10, 19)], 20)
        .await
        .unwrap()
}

/// An owner's log with offsets 0–9 staged on it, and offsets 10–19 staged after them.
async fn two_staged(
    store: &Store,
    layout: &Layout,
) -> (PartitionLog, Stager, StagedCommit, StagedCommit) {
    let (a, _) = PartitionLog::open(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    let stager = a.stager();
    let t1 = temp_file(store, &a, b"1\n").await;
    let first = a.stage(vec![file(&a, t1, 0, 9)], 10).await.unwrap();
    let second = stage_after(store, &a, &stager, &first).await;
    (a, stager, first, second)
}

#[tokio::test]
async fn a_record_staged_on_an_unpublished_one_publishes_after_it_and_only_then() {
    let (_d, store, layout) = setup();
    let (mut a, stager, first, second) = two_staged(&store, &layout).await;
    // Out of order, the second cannot be published.
    let early = a.commit_staged(second).await;
    assert!(
        early.is_err(),
        "published before the record it follows: {early:?}"
    );
    let second = stage_after(&store, &a, &stager, &first).await;
    a.commit_staged(first).await.unwrap();
    a.commit_staged(second).await.unwrap();
    assert_eq!(a.next_offset(), Some(20));
    let (_, rec) = PartitionLog::open(store, layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, Some(20));
}

#[tokio::test]
async fn a_record_staged_on_a_discarded_one_is_never_published() {
    let (_d, store, layout) = setup();
    let (mut a, _, first, second) = two_staged(&store, &layout).await;
    a.discard(first).await;
    assert!(a.commit_staged(second).await.is_err());
    assert_eq!(a.next_offset(), None);
    let (_, rec) = PartitionLog::open(store, layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.next_offset, None);
}

#[tokio::test]
async fn temp_files_of_an_owner_that_died_before_fencing_are_deleted_by_the_next() {
    let (_d, store, layout) = setup();
    // An owner recovers, writes a temp file and dies before publishing its `open` record.
    let (dead, _) = PartitionLog::recover(store.clone(), layout.clone(), tp(), "a".into())
        .await
        .unwrap();
    let left = temp_file(&store, &dead, b"1\n").await;
    drop(dead);
    // The next owner takes the same epoch, as nothing was published.
    let (mut next, rec) = PartitionLog::recover(store.clone(), layout, tp(), "b".into())
        .await
        .unwrap();
    assert_eq!(rec.epoch, 1);
    let own = temp_file(&store, &next, b"2\n").await;
    assert_eq!(next.fence().await.unwrap(), 1);
    assert!(!store.exists(&left).await.unwrap(), "{left} survived");
    assert!(store.exists(&own).await.unwrap());
}
