//! Lakesink exactly-once commit protocol.
//!
//! Owns: the per-partition commit log in `logs.dir`, recovery of a partition after a crash or
//! rebalance, fencing of stale owners, and the names of temp and committed files. The whole
//! state machine is in [`PartitionLog`]; `docs/exactly-once.md` explains why it is correct.
//!
//! Must not touch: Kafka, formats, record contents.
//!
//! In short: data files are written under unique temp names and closed; then one small commit
//! record naming every `temp → final` rename and the next Kafka offset is *published* by a
//! no-clobber rename to `<logs.dir>/<topic>/<partition>/<seq>.commit`; then the renames are
//! done. Publishing is the commit point. Two writers can never publish the same `seq`, and a
//! new owner publishes an `open` record first, so a stale owner's next publish fails: it is
//! fenced without relying on HDFS leases.

mod record;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lakesink_record::TopicPartition;
use lakesink_storage::{Renamed, StorageError, Store};
pub use record::{CommitRecord, FileCommit, RecordKind};

/// How many published commit records are kept per partition (older ones are deleted).
const RETAINED_RECORDS: u64 = 16;
/// Attempts to publish the takeover record before giving up on a contested partition.
const TAKEOVER_ATTEMPTS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(
        "{tp}: fenced: another owner ({by}) committed to this partition; this worker stops writing it"
    )]
    Fenced { tp: String, by: String },
    #[error("{tp}: storage error: {source}")]
    Storage {
        tp: String,
        #[source]
        source: StorageError,
    },
    #[error(
        "{tp}: commit record {path} names temp file {temp}, which is gone, and its final file {final_path} does not exist: the files of this commit were removed from outside Lakesink"
    )]
    MissingFile {
        tp: String,
        path: String,
        temp: String,
        final_path: String,
    },
    #[error("{tp}: {message}")]
    Layout { tp: String, message: String },
    #[error("{tp}: no valid commit record in {dir}: {detail}")]
    Corrupt {
        tp: String,
        dir: String,
        detail: String,
    },
}

/// Where the files of a connector live, relative to the store URL. `topics_dir` and
/// `logs_dir` may contain `${topic}` and `${n}` (groups of `capture`); a partition's log works
/// on the layout [`Layout::for_topic`] resolves for its topic.
#[derive(Debug, Clone)]
pub struct Layout {
    pub topics_dir: String,
    pub logs_dir: String,
    pub zero_pad_width: usize,
    /// `topic.capture.groups.regex`, anchored to match whole topic names.
    pub capture: Option<regex::Regex>,
}

impl Layout {
    /// Builds a layout; `capture` must match whole topic names (it is anchored here).
    pub fn new(
        topics_dir: &str,
        logs_dir: &str,
        zero_pad_width: usize,
        capture: Option<&str>,
    ) -> Result<Layout, String> {
        let capture = capture
            .map(|r| {
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| format!("topic.capture.groups.regex: {e}"))
            })
            .transpose()?;
        Ok(Layout {
            topics_dir: topics_dir.trim_matches('/').to_string(),
            logs_dir: logs_dir.trim_matches('/').to_string(),
            zero_pad_width,
            capture,
        })
    }

    /// The layout of one topic: `${topic}` and `${n}` replaced in both directories.
    pub fn for_topic(&self, topic: &str) -> Result<Layout, String> {
        let needs_groups = [&self.topics_dir, &self.logs_dir]
            .iter()
            .any(|d| d.contains("${") && d.replace("${topic}", "").contains("${"));
        let groups: Vec<String> = match (&self.capture, needs_groups) {
            (Some(re), true) => match re.captures(topic) {
                Some(c) => c
                    .iter()
                    .map(|g| g.map(|m| m.as_str().to_string()).unwrap_or_default())
                    .collect(),
                None => {
                    return Err(format!(
                        "topic '{topic}' does not match topic.capture.groups.regex '{}', whose groups topics.dir or logs.dir use",
                        re.as_str()
                    ));
                }
            },
            _ => Vec::new(),
        };
        let fill = |template: &str| -> Result<String, String> {
            let mut out = String::with_capacity(template.len());
            let mut rest = template;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let len = rest[start..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed variable in '{template}'"))?;
                let var = &rest[start + 2..start + len];
                if var == "topic" {
                    out.push_str(topic);
                } else {
                    let value = var
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| groups.get(n))
                        .ok_or_else(|| {
                            format!("'{template}': no value for ${{{var}}} for topic '{topic}'")
                        })?;
                    out.push_str(value);
                }
                rest = &rest[start + len + 1..];
            }
            out.push_str(rest);
            Ok(out.trim_matches('/').to_string())
        };
        Ok(Layout {
            topics_dir: fill(&self.topics_dir)?,
            logs_dir: fill(&self.logs_dir)?,
            zero_pad_width: self.zero_pad_width,
            capture: None,
        })
    }

    /// `<logs.dir>/<topic>/<partition>`: the commit log of a partition.
    pub fn log_dir(&self, tp: &TopicPartition) -> String {
        lakesink_storage::join(&[&self.logs_dir, &tp.topic, &tp.partition.to_string()])
    }

    /// `<topics.dir>/+tmp/<topic>/<partition>`: temp files of a partition. "+tmp" is not a
    /// valid topic name, so it never clashes with data (the Confluent sink's choice).
    pub fn tmp_dir(&self, tp: &TopicPartition) -> String {
        lakesink_storage::join(&[
            &self.topics_dir,
            "+tmp",
            &tp.topic,
            &tp.partition.to_string(),
        ])
    }

    /// `<topics.dir>/<encoded partition>/<topic>+<p>+<start>+<end><ext>`, the Confluent name
    /// with inclusive, zero-padded offsets.
    pub fn committed_path(
        &self,
        tp: &TopicPartition,
        encoded_partition: &str,
        start: i64,
        end: i64,
        extension: &str,
    ) -> String {
        let w = self.zero_pad_width;
        let name = format!(
            "{}+{}+{:0w$}+{:0w$}{extension}",
            tp.topic, tp.partition, start, end
        );
        lakesink_storage::join(&[&self.topics_dir, encoded_partition, &name])
    }
}

/// Parses a committed file name `<topic>+<partition>+<start>+<end>[.ext]`.
pub fn parse_committed_name(name: &str) -> Option<(String, i32, i64, i64)> {
    let stem = match name.rfind('.') {
        Some(i) if name[i + 1..].chars().all(|c| c.is_ascii_alphanumeric()) => &name[..i],
        _ => name,
    };
    let mut parts = stem.rsplitn(4, '+');
    let end = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let partition = parts.next()?.parse().ok()?;
    let topic = parts.next()?.to_string();
    Some((topic, partition, start, end))
}

/// The next offset the newest valid commit record of `tp` names, read without taking the
/// partition over (nothing is written, no rename is finished): what the partition's next
/// owner will start from. `None` when nothing was ever committed.
pub async fn read_committed_offset(
    store: &Store,
    layout: &Layout,
    tp: &TopicPartition,
) -> Result<Option<i64>, CommitError> {
    let err = |source| CommitError::Storage {
        tp: tp.to_string(),
        source,
    };
    let dir = layout.log_dir(tp);
    let entries = match store.list(&dir).await {
        Ok(e) => e,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut seqs: Vec<u64> = entries.iter().filter_map(|e| parse_seq(&e.name)).collect();
    seqs.sort_unstable();
    for seq in seqs.iter().rev() {
        let path = lakesink_storage::join(&[&dir, &seq_name(*seq)]);
        let bytes = match store.read(&path).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(err(e)),
        };
        if let Ok(record) = CommitRecord::decode(&bytes) {
            return Ok(record.next_offset);
        }
    }
    Ok(None)
}

/// The commit log of one Kafka partition, owned by this worker after [`PartitionLog::open`].
#[derive(Debug)]
pub struct PartitionLog {
    store: Store,
    layout: Layout,
    tp: TopicPartition,
    owner: String,
    epoch: u64,
    last_seq: u64,
    next_offset: Option<i64>,
    /// Directories committed past `next_offset` (see [`CommitRecord::ahead`]).
    ahead: BTreeMap<String, i64>,
    /// The record recovery took the state from: its number, and its file holding the
    /// highest offset if it committed files (see [`PartitionLog::last_committed_file`]).
    recovered: Option<(u64, Option<String>)>,
    /// Drawn for each recovery: marks this owner's temp files (see [`TempNames`]).
    token: String,
}

/// The path of the file of `record` that holds the highest offset.
fn last_file(record: &CommitRecord) -> Option<String> {
    record
        .files
        .iter()
        .max_by_key(|f| f.end_offset)
        .map(|f| f.path.clone())
}

fn seq_name(seq: u64) -> String {
    format!("{seq:020}.commit")
}

fn parse_seq(name: &str) -> Option<u64> {
    name.strip_suffix(".commit")?.parse().ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A commit record written under a pending name, not published yet.
#[derive(Debug)]
pub struct StagedCommit {
    seq: u64,
    pending: String,
    record: CommitRecord,
}

impl StagedCommit {
    /// The log's state once this record is published: where the next commit's record can be
    /// staged from before this one is published (see [`Stager`]).
    pub fn then(&self) -> StagePoint {
        StagePoint {
            last_seq: self.seq,
            ahead: self.record.ahead.clone(),
        }
    }
}

/// The log state a commit record is staged on: the number of the last record and the
/// `ahead` map it leaves. The log's own (published) state, or the one a staged record will
/// leave once it is published ([`StagedCommit::then`]).
#[derive(Debug, Clone)]
pub struct StagePoint {
    last_seq: u64,
    ahead: BTreeMap<String, i64>,
}

/// Stages commit records of one owner of a partition without holding its log, so that a
/// commit can write its record while the commit before it still runs. The record is staged
/// as the successor of a given [`StagePoint`]; publishing it ([`PartitionLog::commit_staged`])
/// still needs the log, and fails unless the log has reached that point, so records are
/// published in order. A record staged on a point that is never reached (the commit before
/// it failed) is discarded ([`Stager::discard`]); one left by a crash is deleted by the next
/// owner's fencing, as any pending record.
#[derive(Debug, Clone)]
pub struct Stager {
    store: Store,
    layout: Layout,
    tp: TopicPartition,
    owner: String,
    epoch: u64,
}

impl Stager {
    /// The partition's layout (committed and temp file names).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn err(&self, source: StorageError) -> CommitError {
        CommitError::Storage {
            tp: self.tp.to_string(),
            source,
        }
    }

    /// Writes the commit record of `files` and `next_offset`, following `after`, under a
    /// pending name. It can run while the files are still being closed.
    ///
    /// `next_offset` is the lowest offset not yet durable: records at or above it may sit in
    /// files that stay open. The record's `ahead` map is `after`'s plus this commit's files,
    /// keeping only directories committed at or past `next_offset`.
    pub async fn stage(
        &self,
        after: &StagePoint,
        files: Vec<FileCommit>,
        next_offset: i64,
    ) -> Result<StagedCommit, CommitError> {
        failpoint("before-commit");
        let encoded_dir = |path: &str| {
            let dir = lakesink_storage::parent(path);
            dir.strip_prefix(&format!("{}/", self.layout.topics_dir))
                .unwrap_or(dir)
                .to_string()
        };
        let mut ahead = after.ahead.clone();
        for f in &files {
            let known = ahead.entry(encoded_dir(&f.path)).or_insert(f.end_offset);
            *known = (*known).max(f.end_offset);
        }
        ahead.retain(|_, end| *end >= next_offset);
        let record = CommitRecord {
            kind: RecordKind::Files,
            epoch: self.epoch,
            owner: self.owner.clone(),
            written_at_ms: now_ms(),
            next_offset: Some(next_offset),
            files,
            ahead,
        };
        self.stage_record(after.last_seq + 1, record).await
    }

    /// Writes `record` durably under a pending name, to be published as record `seq`.
    async fn stage_record(
        &self,
        seq: u64,
        record: CommitRecord,
    ) -> Result<StagedCommit, CommitError> {
        let dir = self.layout.log_dir(&self.tp);
        let pending = lakesink_storage::join(&[
            &dir,
            &format!(".{seq:020}.{}.pending", uuid::Uuid::new_v4().simple()),
        ]);
        match self
            .store
            .write_new(&pending, Bytes::from(record.encode()))
            .await
        {
            Ok(()) => {}
            // Deleted while being written: a new owner cleaned up after taking over.
            Err(e) if e.is_not_found() => {
                return Err(CommitError::Fenced {
                    tp: self.tp.to_string(),
                    by: "a new owner that removed this worker's pending commit record".into(),
                });
            }
            Err(e) => return Err(self.err(e)),
        }
        Ok(StagedCommit {
            seq,
            pending,
            record,
        })
    }

    /// Drops a staged record that will not be published (its files failed to close, or a
    /// commit before it failed).
    pub async fn discard(&self, staged: StagedCommit) {
        let _ = self.store.delete(&staged.pending).await;
    }
}

/// Temp file names of one owner of a partition: `<epoch>-<owner token>-<uuid>_tmp<ext>` in
/// its temp directory, so recovery can tell whose files they are. The epoch says which owner
/// for people; the token, drawn for every recovery, is what fencing goes by: an owner that
/// died before publishing its `open` record leaves the epoch where it was, so the next owner
/// takes the same epoch, and only the token tells its files from the dead owner's.
#[derive(Debug, Clone)]
pub struct TempNames {
    dir: String,
    prefix: String,
}

impl TempNames {
    /// A fresh, unique temp path for a new data file.
    pub fn next(&self, extension: &str) -> String {
        lakesink_storage::join(&[
            &self.dir,
            &format!(
                "{}{}_tmp{extension}",
                self.prefix,
                uuid::Uuid::new_v4().simple()
            ),
        ])
    }
}

/// What recovery found, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Next offset to consume; `None` when nothing was ever committed for the partition.
    pub next_offset: Option<i64>,
    pub epoch: u64,
    /// Renames of the last commit that had not been done yet and were finished now.
    pub renames_finished: usize,
    /// Temp files of crashed or fenced writers that were deleted.
    pub orphans_deleted: usize,
    /// Commit records that failed their checksum and were skipped.
    pub corrupt_records: usize,
    /// Directories whose committed files reach past `next_offset` (see
    /// [`CommitRecord::ahead`]): replayed records for them at or below the offset are skipped.
    pub ahead: BTreeMap<String, i64>,
}

impl PartitionLog {
    fn err(&self, source: StorageError) -> CommitError {
        CommitError::Storage {
            tp: self.tp.to_string(),
            source,
        }
    }

    /// Takes ownership of `tp`: reads the newest valid commit record, finishes its renames,
    /// publishes an `open` record that fences every earlier owner, and deletes temp files
    /// left by crashed or fenced writers. Reads only the partition's log and temp
    /// directories, never the data directories.
    pub async fn open(
        store: Store,
        layout: Layout,
        tp: TopicPartition,
        owner: String,
    ) -> Result<(PartitionLog, Recovery), CommitError> {
        let mut log = PartitionLog::new(store, layout, tp, owner)?;
        let mut renames_finished = 0;
        for _ in 0..TAKEOVER_ATTEMPTS {
            let mut recovery = log.read_state().await?;
            renames_finished += recovery.renames_finished;
            match log.fence().await {
                Ok(orphans_deleted) => {
                    recovery.renames_finished = renames_finished;
                    recovery.orphans_deleted = orphans_deleted;
                    return Ok((log, recovery));
                }
                // Someone else is taking over at the same moment: read again.
                Err(CommitError::Fenced { by, .. }) => {
                    tracing::warn!(tp = %log.tp, %by, "partition contested during takeover; retrying");
                    tokio_sleep_ms(200).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(CommitError::Fenced {
            tp: log.tp.to_string(),
            by: "another worker kept taking the partition over".into(),
        })
    }

    /// The first half of [`PartitionLog::open`]: reads the newest valid commit record and
    /// finishes its renames, without fencing yet. The writer may start on the records after
    /// `next_offset` (its temp files carry the new epoch, which [`PartitionLog::fence`]
    /// leaves alone) while [`PartitionLog::fence`] runs; nothing may be committed before it
    /// has succeeded. Fencing waits for an HDFS close, half a second when the DataNode's
    /// block report is not in yet, which the partition's first records need not wait for.
    pub async fn recover(
        store: Store,
        layout: Layout,
        tp: TopicPartition,
        owner: String,
    ) -> Result<(PartitionLog, Recovery), CommitError> {
        let mut log = PartitionLog::new(store, layout, tp, owner)?;
        let recovery = log.read_state().await?;
        Ok((log, recovery))
    }

    fn new(
        store: Store,
        layout: Layout,
        tp: TopicPartition,
        owner: String,
    ) -> Result<PartitionLog, CommitError> {
        let layout = layout
            .for_topic(&tp.topic)
            .map_err(|message| CommitError::Layout {
                tp: tp.to_string(),
                message,
            })?;
        Ok(PartitionLog {
            store,
            layout,
            tp,
            owner,
            epoch: 0,
            last_seq: 0,
            next_offset: None,
            ahead: BTreeMap::new(),
            recovered: None,
            token: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        })
    }

    /// Reads the newest valid commit record, finishes its renames and takes the next epoch.
    async fn read_state(&mut self) -> Result<Recovery, CommitError> {
        let dir = self.layout.log_dir(&self.tp);
        let mut renames_finished = 0;
        let entries = self.store.list(&dir).await.map_err(|e| self.err(e))?;
        let mut seqs: Vec<u64> = entries.iter().filter_map(|e| parse_seq(&e.name)).collect();
        seqs.sort_unstable();
        // The newest record whose checksum holds is the state; a record failing its
        // checksum can only come from outside damage (records are published whole).
        let mut latest: Option<(u64, CommitRecord)> = None;
        let mut corrupt_records = 0;
        for seq in seqs.iter().rev() {
            let path = lakesink_storage::join(&[&dir, &seq_name(*seq)]);
            let bytes = match self.store.read(&path).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue, // pruned meanwhile
                Err(e) => return Err(self.err(e)),
            };
            match CommitRecord::decode(&bytes) {
                Ok(r) => {
                    latest = Some((*seq, r));
                    break;
                }
                Err(detail) => {
                    corrupt_records += 1;
                    tracing::error!(tp = %self.tp, %path, %detail, "commit record fails its checksum; using the previous record");
                }
            }
        }
        let top_seq = seqs.last().copied().unwrap_or(0);
        if let Some((seq, record)) = &latest {
            renames_finished += self.finish_renames(&dir, *seq, record).await?;
            self.epoch = record.epoch;
            self.next_offset = record.next_offset;
            self.ahead = record.ahead.clone();
            self.recovered = Some((*seq, last_file(record)));
            if corrupt_records > 0 {
                self.skip_committed_beyond(record).await?;
            }
        } else if corrupt_records > 0 {
            return Err(CommitError::Corrupt {
                tp: self.tp.to_string(),
                dir,
                detail: format!("{corrupt_records} record(s) fail their checksum"),
            });
        }
        self.last_seq = top_seq;
        self.epoch += 1;
        Ok(Recovery {
            next_offset: self.next_offset,
            epoch: self.epoch,
            renames_finished,
            orphans_deleted: 0,
            corrupt_records,
            ahead: self.ahead.clone(),
        })
    }

    /// Publishes an `open` record above every record seen by [`PartitionLog::recover`],
    /// which fences every earlier owner, then deletes the temp files they left (not this
    /// epoch's) and old records. Returns the temp files deleted. `Fenced` when another
    /// worker published first: recover again.
    pub async fn fence(&mut self) -> Result<usize, CommitError> {
        let open = CommitRecord {
            kind: RecordKind::Open,
            epoch: self.epoch,
            owner: self.owner.clone(),
            written_at_ms: now_ms(),
            next_offset: self.next_offset,
            files: Vec::new(),
            ahead: self.ahead.clone(),
        };
        self.publish(&open).await?;
        let orphans_deleted = self.delete_orphans().await?;
        self.prune().await;
        Ok(orphans_deleted)
    }

    /// Renames the temp files of a published record that are still in place.
    async fn finish_renames(
        &self,
        dir: &str,
        seq: u64,
        record: &CommitRecord,
    ) -> Result<usize, CommitError> {
        let mut done = 0;
        for f in &record.files {
            match self
                .store
                .rename_no_clobber(&f.temp, &f.path)
                .await
                .map_err(|e| self.err(e))?
            {
                Renamed::Done => done += 1,
                Renamed::DestinationExists => {}
                Renamed::SourceMissing => {
                    return Err(CommitError::MissingFile {
                        tp: self.tp.to_string(),
                        path: lakesink_storage::join(&[dir, &seq_name(seq)]),
                        temp: f.temp.clone(),
                        final_path: f.path.clone(),
                    });
                }
            }
        }
        Ok(done)
    }

    /// After a damaged record was skipped, its files may be committed already: look for
    /// committed files of this partition past the recovered offset in the directories the
    /// partition has written to, and mark those directories as committed up to them. Runs
    /// only in that rare case.
    async fn skip_committed_beyond(&mut self, record: &CommitRecord) -> Result<(), CommitError> {
        let prefix = format!("{}/", self.layout.topics_dir);
        let mut dirs: Vec<String> = record
            .files
            .iter()
            .map(|f| lakesink_storage::parent(&f.path).to_string())
            .chain(record.ahead.keys().map(|d| format!("{prefix}{d}")))
            .collect();
        dirs.push(lakesink_storage::join(&[
            &self.layout.topics_dir,
            &self.tp.topic,
            &format!("partition={}", self.tp.partition),
        ]));
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            let relative = dir.strip_prefix(&prefix).unwrap_or(&dir).to_string();
            for e in self.store.list(&dir).await.map_err(|e| self.err(e))? {
                if let Some((topic, p, _, end)) = parse_committed_name(&e.name)
                    && *topic == *self.tp.topic
                    && p == self.tp.partition
                    && self.next_offset.is_none_or(|n| end >= n)
                {
                    tracing::warn!(tp = %self.tp, file = %e.name, "committed file beyond the last valid commit record; its records will not be written again");
                    let known = self.ahead.entry(relative.clone()).or_insert(end);
                    *known = (*known).max(end);
                }
            }
        }
        Ok(())
    }

    /// Publishes `record` as `last_seq + 1` with a no-clobber rename, then checks that no
    /// newer record exists. Either failure means another owner has taken over.
    async fn publish(&mut self, record: &CommitRecord) -> Result<(), CommitError> {
        let staged = self.stage_record(record.clone()).await?;
        self.publish_staged(&staged).await
    }

    /// Writes `record` durably under a pending name, to be published as `last_seq + 1`.
    async fn stage_record(&self, record: CommitRecord) -> Result<StagedCommit, CommitError> {
        self.stager().stage_record(self.last_seq + 1, record).await
    }

    /// Publishes a staged record with a no-clobber rename, then checks that no newer record
    /// exists. Either failure means another owner has taken over.
    async fn publish_staged(&mut self, staged: &StagedCommit) -> Result<(), CommitError> {
        let dir = self.layout.log_dir(&self.tp);
        let (seq, pending) = (staged.seq, &staged.pending);
        if seq != self.last_seq + 1 {
            return Err(CommitError::Storage {
                tp: self.tp.to_string(),
                source: StorageError::Io {
                    op: "publish",
                    path: pending.clone(),
                    message: format!(
                        "staged as record {seq}, but the next record is {}",
                        self.last_seq + 1
                    ),
                },
            });
        }
        let target = lakesink_storage::join(&[&dir, &seq_name(seq)]);
        failpoint("before-publish");
        let outcome = self
            .store
            .rename_no_clobber(pending, &target)
            .await
            .map_err(|e| self.err(e))?;
        match outcome {
            Renamed::Done => {}
            Renamed::DestinationExists => {
                let _ = self.store.delete(pending).await;
                return Err(CommitError::Fenced {
                    tp: self.tp.to_string(),
                    by: self.describe_owner(&target).await,
                });
            }
            // A new owner deleted our pending record while cleaning up: we are fenced.
            Renamed::SourceMissing => {
                return Err(CommitError::Fenced {
                    tp: self.tp.to_string(),
                    by: "a new owner that removed this worker's pending commit".into(),
                });
            }
        }
        // A record below the newest one is ignored by every reader; if ours is, we lost.
        let entries = self.store.list(&dir).await.map_err(|e| self.err(e))?;
        if let Some(newer) = entries
            .iter()
            .filter_map(|e| parse_seq(&e.name))
            .filter(|s| *s > seq)
            .max()
        {
            let newer_path = lakesink_storage::join(&[&dir, &seq_name(newer)]);
            let _ = self.store.delete(&target).await;
            return Err(CommitError::Fenced {
                tp: self.tp.to_string(),
                by: self.describe_owner(&newer_path).await,
            });
        }
        self.last_seq = seq;
        Ok(())
    }

    async fn describe_owner(&self, path: &str) -> String {
        match self
            .store
            .read(path)
            .await
            .ok()
            .and_then(|b| CommitRecord::decode(&b).ok())
        {
            Some(r) => format!("{} epoch {}", r.owner, r.epoch),
            None => format!("the writer of {path}"),
        }
    }

    /// Deletes the partition's temp files of other epochs and stale pending records.
    /// Called only after this owner's `open` record is published, so no live writer can
    /// still commit those files. A writer that lost the race for the same epoch deletes its
    /// own files when it finds itself fenced; after a crash they go at the next takeover.
    async fn delete_orphans(&self) -> Result<usize, CommitError> {
        let mut deleted = 0;
        let tmp = self.layout.tmp_dir(&self.tp);
        // This owner's own temp files (see `TempNames`) may already exist.
        let own = self.temp_prefix();
        for e in self.store.list(&tmp).await.map_err(|e| self.err(e))? {
            if !e.is_dir
                && !e.name.starts_with(&own)
                && self
                    .store
                    .delete(&lakesink_storage::join(&[&tmp, &e.name]))
                    .await
                    .map_err(|e| self.err(e))?
            {
                deleted += 1;
            }
        }
        let dir = self.layout.log_dir(&self.tp);
        for e in self.store.list(&dir).await.map_err(|e| self.err(e))? {
            if e.name.ends_with(".pending") {
                let _ = self
                    .store
                    .delete(&lakesink_storage::join(&[&dir, &e.name]))
                    .await;
            }
        }
        Ok(deleted)
    }

    /// The committed file holding the partition's highest offset as of recovery, from the
    /// newest retained commit record that committed files (`None` when none did). Its
    /// schema is the one a restarted writer continues under `schema.compatibility`, as the
    /// Confluent sink takes the schema of the file with the highest offset. Reads the log
    /// again only when the record recovery read committed no files.
    pub async fn last_committed_file(&self) -> Result<Option<String>, CommitError> {
        let below = match &self.recovered {
            None => return Ok(None),
            Some((_, Some(path))) => return Ok(Some(path.clone())),
            Some((seq, None)) => *seq,
        };
        let dir = self.layout.log_dir(&self.tp);
        let mut seqs: Vec<u64> = self
            .store
            .list(&dir)
            .await
            .map_err(|e| self.err(e))?
            .iter()
            .filter_map(|e| parse_seq(&e.name))
            .filter(|seq| *seq < below)
            .collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        for seq in seqs {
            let path = lakesink_storage::join(&[&dir, &seq_name(seq)]);
            let bytes = match self.store.read(&path).await {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(self.err(e)),
            };
            // Damaged records were reported by recovery; an older one may still tell.
            let Ok(record) = CommitRecord::decode(&bytes) else {
                continue;
            };
            if let Some(path) = last_file(&record) {
                return Ok(Some(path));
            }
        }
        Ok(None)
    }

    /// Deletes records older than the retained window; failures only cost disk space.
    async fn prune(&self) {
        if self.last_seq <= RETAINED_RECORDS {
            return;
        }
        let dir = self.layout.log_dir(&self.tp);
        let Ok(entries) = self.store.list(&dir).await else {
            return;
        };
        for seq in entries.iter().filter_map(|e| parse_seq(&e.name)) {
            if seq + RETAINED_RECORDS <= self.last_seq {
                let _ = self
                    .store
                    .delete(&lakesink_storage::join(&[&dir, &seq_name(seq)]))
                    .await;
            }
        }
    }

    pub fn tp(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The next offset to consume, from storage (`None`: nothing committed yet).
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Directories committed past [`PartitionLog::next_offset`].
    pub fn ahead(&self) -> &BTreeMap<String, i64> {
        &self.ahead
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A fresh, unique temp path for a new data file of this partition.
    pub fn new_temp_path(&self, extension: &str) -> String {
        self.temp_names().next(extension)
    }

    /// Names temp files of this owner without the log (usable while a commit holds it).
    pub fn temp_names(&self) -> TempNames {
        TempNames {
            dir: self.layout.tmp_dir(&self.tp),
            prefix: self.temp_prefix(),
        }
    }

    /// The start of this owner's temp file names: `<epoch>-<token>-`.
    fn temp_prefix(&self) -> String {
        format!("{}-{}-", self.epoch, self.token)
    }

    /// Writes the commit record of `files` and `next_offset`, following the last published
    /// record, under a pending name (see [`Stager::stage`]). It can run while the files are
    /// still being closed; [`PartitionLog::commit_staged`] publishes it once they are.
    pub async fn stage(
        &self,
        files: Vec<FileCommit>,
        next_offset: i64,
    ) -> Result<StagedCommit, CommitError> {
        self.stager().stage(&self.point(), files, next_offset).await
    }

    /// Stages records of this owner without the log (see [`Stager`]).
    pub fn stager(&self) -> Stager {
        Stager {
            store: self.store.clone(),
            layout: self.layout.clone(),
            tp: self.tp.clone(),
            owner: self.owner.clone(),
            epoch: self.epoch,
        }
    }

    /// The log's published state, which the next record follows.
    pub fn point(&self) -> StagePoint {
        StagePoint {
            last_seq: self.last_seq,
            ahead: self.ahead.clone(),
        }
    }

    /// Commits a staged record atomically: after this returns, every file is at its final
    /// name; after a crash at any point, recovery yields either all of them or none (and
    /// then the records are consumed again). The files must be closed and durable.
    pub async fn commit_staged(&mut self, staged: StagedCommit) -> Result<(), CommitError> {
        self.publish_staged(&staged).await?;
        failpoint("after-publish");
        let dir = self.layout.log_dir(&self.tp);
        self.finish_renames(&dir, self.last_seq, &staged.record)
            .await?;
        self.next_offset = staged.record.next_offset;
        self.ahead = staged.record.ahead.clone();
        if self.last_seq.is_multiple_of(RETAINED_RECORDS) {
            self.prune().await;
        }
        Ok(())
    }

    /// Drops a staged record that will not be published (its files failed to close).
    pub async fn discard(&self, staged: StagedCommit) {
        self.stager().discard(staged).await;
    }

    /// Stages and commits closed temp files and the next offset.
    pub async fn commit(
        &mut self,
        files: Vec<FileCommit>,
        next_offset: i64,
    ) -> Result<(), CommitError> {
        let staged = self.stage(files, next_offset).await?;
        self.commit_staged(staged).await
    }

    /// Records that the partition's next offset moved without files (records skipped by
    /// policy, or retention deleted them), so a restart does not go back.
    pub async fn advance(&mut self, next_offset: i64) -> Result<(), CommitError> {
        self.commit(Vec::new(), next_offset).await
    }
}

async fn tokio_sleep_ms(ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Test-only crash points: `LAKESINK_FAILPOINT=<name>[:<1-in-N>]` makes the process exit
/// abruptly (as SIGKILL would) when it reaches `<name>`, with probability 1/N (default 1).
/// Used by the crash tests to stop exactly between closing temp files and renaming them.
pub fn failpoint(name: &str) {
    static SPEC: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("LAKESINK_FAILPOINT").ok()?;
        let (n, every) = match v.split_once(':') {
            Some((n, e)) => (n.to_string(), e.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some((n, every.max(1)))
    });
    if let Some((n, every)) = spec
        && n == name
    {
        let roll = uuid::Uuid::new_v4().as_u128() as u64;
        if roll.is_multiple_of(*every) {
            eprintln!("lakesink: failpoint {name} reached: exiting abruptly");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests;
