//! The writer of one Kafka partition: converts its batches, spreads their rows over output
//! directories, streams each directory's rows into its own temp file, and decides when each
//! file is committed.
//!
//! Files are committed per directory (per-directory `flush.size`, record time, size,
//! schedule, limits): a file that is done is *sealed* (no more rows go into it), and the
//! sealed files of a batch are committed together once the batch is written — one commit
//! record and parallel closes, however many directories filled up. When files are committed,
//! other directories may still hold older records. The commit record therefore carries the lowest offset not yet durable
//! (where a restart resumes) and, per directory, how far that directory is committed (so
//! the replay skips what is already there); see `lakesink-commit` and
//! `docs/exactly-once.md`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use lakesink_commit::{
    CommitError, FileCommit, PartitionLog, Recovery, StagePoint, StagedCommit, Stager, TempNames,
};
use lakesink_config::{Compatibility, Rotation};
use lakesink_convert::{Converted, NullValues, ValueConverter, ValueKind, ValueSchema};
use lakesink_format::{FileFormatWriter, FileSchema, FormatError, Pieces, SchemaPlace, new_writer};
use lakesink_partition::PartitionInput;
use lakesink_record::{RawBatch, TopicPartition};
use lakesink_storage::{FileWriter, Store};
use lakesink_transform::Chain;
use tokio::sync::oneshot;

use crate::budget::Share;
use crate::commits::{CommitOutcome, Commits, HeldFile, LogSource};
use crate::dead_letters::{DeadLetter, Stage};
use crate::schedule::next_scheduled_rotation;
use crate::{SinkError, SinkSettings, now_ms};

/// Bytes gathered from a format writer before they are sent to storage in one write. A file
/// smaller than this never opens a storage stream before it is committed, so many small
/// open directories cost no storage connections.
const STORAGE_WRITE_BYTES: usize = 4 << 20;
/// Encoded pieces smaller than this are gathered into one storage write.
const GATHER_BYTES: usize = 1 << 20;
/// Rows gathered per file before they are encoded. With many directories a batch gives each
/// file only a few rows, and encoding a few rows at a time costs more than the rows (every
/// call walks every column's encoder, statistics and page state).
const COALESCE_ROWS: usize = 4096;
/// A batch of at least this many rows, or [`DIRECT_BYTES`] in memory, for a file with nothing
/// staged is encoded as it is: gathering it would cost a copy of its rows and save little.
const DIRECT_ROWS: usize = 1024;
/// See [`DIRECT_ROWS`]: the encoders' cost per call is small beside this many bytes of rows
/// (gathering such batches of 1 KiB records cost 1.5% of a drain's CPU time).
const DIRECT_BYTES: usize = 256 << 10;
/// When memory is short, a file holding at least this much is moved to storage (and stays
/// open); a smaller one is committed early instead.
const SPILL_MIN_BYTES: u64 = 4 << 20;

/// A temp file that vanished while being written was deleted by a new owner's recovery:
/// this worker has been fenced.
fn fenced_if_gone(tp: &TopicPartition, e: lakesink_storage::StorageError) -> SinkError {
    if e.is_not_found() {
        SinkError::Fenced {
            tp: tp.to_string(),
            by: "a new owner that deleted this worker's temp files".into(),
        }
    } else {
        SinkError::Storage(e)
    }
}

/// The open temp file of one output directory.
struct OpenFile {
    tp: TopicPartition,
    schema: Arc<ValueSchema>,
    format: Box<dyn FileFormatWriter>,
    /// Created when the first chunk is written to storage.
    storage: Option<FileWriter>,
    temp: String,
    start_offset: i64,
    end_offset: i64,
    records: u64,
    /// Record time of the first record (for `rotate.interval.ms`).
    first_time: Option<i64>,
    /// Order of opening, to find the oldest file.
    opened_seq: u64,
    /// Wall-clock time at which the schedule commits this file.
    next_scheduled: Option<u64>,
    /// Encoded bytes not sent to storage yet, in order: large pieces (Parquet row groups)
    /// as they came, small ones (Avro blocks, lines) gathered.
    pending: Vec<Vec<u8>>,
    stored_bytes: u64,
    /// Rows not encoded yet (see [`COALESCE_ROWS`]).
    staged: Vec<RecordBatch>,
    staged_rows: usize,
    staged_bytes: usize,
}

impl OpenFile {
    /// Bytes held in memory.
    fn buffered(&self) -> u64 {
        (self.format.buffered_bytes() + self.pending_len() + self.staged_bytes) as u64
    }

    /// Encodes the staged rows in one call.
    fn encode_staged(&mut self) -> Result<(), SinkError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let batches = std::mem::take(&mut self.staged);
        self.staged_rows = 0;
        self.staged_bytes = 0;
        let batch = match batches.as_slice() {
            [one] => one.clone(),
            _ => arrow_select::concat::concat_batches(&batches[0].schema(), &batches)
                .map_err(|e| SinkError::Internal(format!("gathering rows: {e}")))?,
        };
        self.format.write(&batch)?;
        Ok(())
    }

    /// Approximate size of the file if it ended now. Encodes the gathered rows first: their
    /// size in memory says little about their size in the file.
    fn size(&mut self) -> Result<u64, SinkError> {
        self.encode_staged()?;
        Ok(self.stored_bytes + self.buffered())
    }

    async fn write(
        &mut self,
        store: &Store,
        batch: &RecordBatch,
        first: i64,
        last: i64,
    ) -> Result<(), SinkError> {
        let bytes = batch.get_array_memory_size();
        if self.staged.is_empty() && (batch.num_rows() >= DIRECT_ROWS || bytes >= DIRECT_BYTES) {
            self.format.write(batch)?;
        } else {
            self.staged_rows += batch.num_rows();
            self.staged_bytes += bytes;
            self.staged.push(batch.clone());
            if self.staged_rows >= COALESCE_ROWS {
                self.encode_staged()?;
            }
        }
        self.wrote(store, batch.num_rows(), first, last).await
    }

    /// Appends encoded rows (see [`FileFormatWriter::write_datums`]), after any rows staged
    /// before them.
    async fn write_datums(
        &mut self,
        store: &Store,
        datums: &[&[u8]],
        first: i64,
        last: i64,
    ) -> Result<(), SinkError> {
        self.encode_staged()?;
        self.format.write_datums(datums)?;
        self.wrote(store, datums.len(), first, last).await
    }

    /// Counts rows just written and sends the bytes ready to storage once there are enough.
    async fn wrote(
        &mut self,
        store: &Store,
        rows: usize,
        first: i64,
        last: i64,
    ) -> Result<(), SinkError> {
        if self.records == 0 {
            self.start_offset = first;
        }
        self.end_offset = last;
        self.records += rows as u64;
        let ready = self.format.take_ready();
        self.append_pending(ready);
        if self.pending_len() >= STORAGE_WRITE_BYTES {
            self.push(store, false).await?;
        }
        Ok(())
    }

    /// Adds encoded bytes to those waiting for storage. Large pieces (a Parquet row group
    /// comes in pieces of a megabyte) are kept as they are rather than copied onto the others.
    fn append_pending(&mut self, pieces: Pieces) {
        for bytes in pieces {
            if bytes.is_empty() {
                continue;
            }
            match self.pending.last_mut() {
                // Onto a small piece only: growing a full one would copy it.
                Some(last) if bytes.len() < GATHER_BYTES && last.len() < GATHER_BYTES => {
                    last.extend_from_slice(&bytes)
                }
                _ => self.pending.push(bytes),
            }
        }
    }

    fn pending_len(&self) -> usize {
        self.pending.iter().map(Vec::len).sum()
    }

    /// Sends the pending bytes to storage, creating the temp file on first use. `last`: these
    /// are the file's last bytes (so a file created now is written in one go).
    async fn push(&mut self, store: &Store, last: bool) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let len = self.pending_len() as u64;
        let chunks = std::mem::take(&mut self.pending);
        self.stored_bytes += len;
        let size = last.then_some(len);
        let storage = match &mut self.storage {
            Some(s) => s,
            None => self
                .storage
                .insert(store.create_sized(&self.temp, size).await?),
        };
        for chunk in chunks {
            storage
                .write(Bytes::from(chunk))
                .await
                .map_err(|e| fenced_if_gone(&self.tp, e))?;
        }
        Ok(())
    }

    /// Encodes what the format buffers into finished bytes kept in memory (Parquet: closes
    /// the row group, compressing it). Returns the bytes held afterwards.
    fn compact(&mut self) -> Result<u64, SinkError> {
        self.encode_staged()?;
        self.format.flush()?;
        let ready = self.format.take_ready();
        self.append_pending(ready);
        Ok(self.buffered())
    }

    /// Frees memory: everything the format buffers goes to storage.
    async fn spill(&mut self, store: &Store) -> Result<(), SinkError> {
        self.encode_staged()?;
        self.format.flush()?;
        let ready = self.format.take_ready();
        self.append_pending(ready);
        self.push(store, false).await
    }

    /// Ends the format (its tail, e.g. the Parquet footer, joins the pending bytes) and
    /// returns the file's commit entry; [`OpenFile::persist`] then writes and closes it.
    fn end_format(&mut self, path: String) -> Result<FileCommit, SinkError> {
        self.encode_staged()?;
        let format = std::mem::replace(&mut self.format, Box::new(Finished));
        let tail = format.finish()?;
        self.append_pending(tail);
        Ok(FileCommit {
            temp: self.temp.clone(),
            path,
            start_offset: self.start_offset,
            end_offset: self.end_offset,
            records: self.records,
            bytes: self.stored_bytes + self.pending_len() as u64,
        })
    }

    /// Writes what is pending and closes the file (durable once this returns), holding one
    /// of the connector's storage slots from create to close: a DataNode reserves a whole
    /// block of space for every replica being written until it is closed.
    /// `held` counts the file in its writer's commit load until it is written and closed.
    async fn persist(
        mut self,
        store: Store,
        slots: &tokio::sync::Semaphore,
        mut held: HeldFile,
    ) -> Result<(), SinkError> {
        let _slot = slots.acquire().await.ok();
        self.push(&store, true).await?;
        held.written();
        let storage = match self.storage {
            Some(s) => s,
            // An empty file (cannot happen: files open with their first rows) still commits.
            None => store.create(&self.temp).await?,
        };
        storage
            .finish()
            .await
            .map_err(|e| fenced_if_gone(&self.tp, e))?;
        held.closed();
        Ok(())
    }
}

/// Stands in for a format writer that has been finished (it cannot be moved out of an
/// `OpenFile` that is still used).
struct Finished;

impl FileFormatWriter for Finished {
    fn write(&mut self, _: &RecordBatch) -> Result<(), lakesink_format::FormatError> {
        Ok(())
    }
    fn take_ready(&mut self) -> Pieces {
        Vec::new()
    }
    fn buffered_bytes(&self) -> usize {
        0
    }
    fn finish(self: Box<Self>) -> Result<Pieces, lakesink_format::FormatError> {
        Ok(Vec::new())
    }
}

/// Rows of one run that go to one directory, after dropping those already committed.
struct SliceRows {
    dir: String,
    /// `None`: every row of the run.
    rows: Option<Vec<u32>>,
}

impl SliceRows {
    fn len(&self, run_len: usize) -> usize {
        self.rows.as_ref().map_or(run_len, Vec::len)
    }

    fn row(&self, k: usize) -> usize {
        self.rows.as_ref().map_or(k, |r| r[k] as usize)
    }
}

/// Writes one Kafka partition. Owned by a task; dropped when the partition is revoked.
pub struct PartitionWriter {
    settings: Arc<SinkSettings>,
    rotation: Rotation,
    tp: TopicPartition,
    /// The commit log; `None` while commits (or, after opening, the fencing `open` record)
    /// run in the background ([`Self::commits`]).
    log: Option<PartitionLog>,
    /// The commits under way: each writes and closes its files (an HDFS close waits about
    /// half a second for the DataNode's block report) and publishes its record after the one
    /// before it, while the writer goes on with the next records.
    commits: Commits,
    /// Stages commit records, and names committed files, while a commit holds the log.
    stager: Stager,
    /// The log's next offset and `ahead` map after the last finished commit.
    committed_next: Option<i64>,
    ahead: BTreeMap<String, i64>,
    temp_names: TempNames,
    converter: ValueConverter,
    /// `key.converter`, when it can fail (not String or ByteArray).
    key_converter: Option<ValueConverter>,
    /// The single message transforms, when any are configured.
    transforms: Option<Chain>,
    open: BTreeMap<String, OpenFile>,
    /// Finished files waiting for the commit at the end of the batch.
    sealed: Vec<(String, OpenFile)>,
    opened: u64,
    /// Offset after the last record consumed (written or skipped).
    consumed_next: Option<i64>,
    share: Share,
    /// The value schema new files take (Connect's `currentSchema`): records of an older
    /// version are projected to it under `schema.compatibility` BACKWARD and FULL.
    current: Option<Arc<ValueSchema>>,
}

/// The schema of the partition's last committed file, which the Confluent sink takes as its
/// current schema when it starts under `schema.compatibility` BACKWARD, FORWARD or FULL:
/// records of an older version are then projected to it rather than starting files of their
/// own. Nothing depends on it for correctness, so a file that cannot be read only costs that.
async fn schema_of_last_file(
    settings: &SinkSettings,
    log: &PartitionLog,
    converter: &mut ValueConverter,
) -> Option<Arc<ValueSchema>> {
    let kind = settings.format.kind;
    let place = lakesink_format::schema_place(kind)?;
    let tp = log.tp();
    let path = match log.last_committed_file().await {
        Ok(p) => p?,
        Err(e) => {
            tracing::warn!(%tp, "cannot find the last committed file to take its schema: {e}");
            return None;
        }
    };
    let mut want: u64 = 64 << 10;
    let found = loop {
        let part = match settings
            .store
            .read_part(&path, want, place == SchemaPlace::Tail)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%tp, %path, "cannot read the last committed file's schema: {e}");
                return None;
            }
        };
        match lakesink_format::file_schema(kind, &part) {
            Ok(FileSchema::NeedBytes(more)) if more > want && (part.len() as u64) == want => {
                want = more;
            }
            Ok(FileSchema::Avro(text)) => break text,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(%tp, %path, "cannot read the last committed file's schema: {e}");
                return None;
            }
        }
    };
    match converter.schema_of_file(&found) {
        Ok(schema) => {
            let version = schema.connect.as_ref().and_then(|c| c.version);
            tracing::debug!(%tp, %path, ?version, "current schema taken from the last committed file");
            Some(schema)
        }
        Err(e) => {
            tracing::warn!(%tp, %path, "the last committed file's schema cannot be used: {e}");
            None
        }
    }
}

/// Where a commit stands in the partition's chain of commits (see `commits.rs`).
struct ChainLink {
    /// The log, now or once the commit before ends.
    source: LogSource,
    /// The state the commit before leaves, once it has staged its record.
    after: Option<oneshot::Receiver<StagePoint>>,
    /// Where this commit tells the next one the state its record leaves.
    then: oneshot::Sender<StagePoint>,
    stager: Stager,
}

/// Writes and closes the sealed files while staging their commit record, and publishes the
/// record once the log is free (every earlier commit published) and the files are durable.
async fn commit_files(
    link: ChainLink,
    settings: Arc<SinkSettings>,
    ended: Vec<(OpenFile, HeldFile)>,
    entries: Vec<FileCommit>,
    next: i64,
) -> CommitOutcome {
    let ChainLink {
        source,
        after,
        then,
        stager,
    } = link;
    let count = entries.len();
    let records: u64 = entries.iter().map(|e| e.records).sum();
    let bytes: u64 = entries.iter().map(|e| e.bytes).sum();
    let began = std::time::Instant::now();
    // Write and close the files while the commit record is written. The record is
    // published only once every file is durable. Files are written a bounded number at a
    // time per connector.
    let store = settings.store.clone();
    let slots = &settings.budget.storage_slots;
    let persisting = futures::future::join_all(
        ended
            .into_iter()
            .map(|(f, held)| f.persist(store.clone(), slots, held)),
    );
    let staging = async {
        let mut then = Some(then);
        let mut tell = |staged: &Result<StagedCommit, CommitError>| {
            if let (Ok(staged), Some(then)) = (staged, then.take()) {
                let _ = then.send(staged.then());
            }
        };
        // Staged on the state the commit before leaves, as soon as it has staged its own
        // record; its publishing is still awaited below.
        let early = match after {
            Some(after) => match after.await {
                Ok(point) => Some(stager.stage(&point, entries.clone(), next).await),
                // It ended before staging: its outcome, below, says why.
                Err(_) => None,
            },
            None => None,
        };
        if let Some(staged) = &early {
            tell(staged);
        }
        let log = match source.log().await {
            Ok(log) => log,
            Err(outcome) => {
                if let Some(Ok(staged)) = early {
                    stager.discard(staged).await;
                }
                return Err(outcome);
            }
        };
        let staged = match early {
            Some(staged) => staged,
            None => {
                let staged = log.stage(entries, next).await;
                tell(&staged);
                staged
            }
        };
        Ok((log, staged))
    };
    let (persisted, staging) = tokio::join!(persisting, staging);
    let (mut log, staged) = match staging {
        Ok(staged) => staged,
        // An earlier commit failed: these files stay temp files, which the partition's
        // recovery deletes.
        Err(outcome) => return outcome,
    };
    let staged = match staged {
        Ok(s) => s,
        Err(e) => return (Some(log), Err(e.into())),
    };
    if let Some(e) = persisted.into_iter().find_map(Result::err) {
        log.discard(staged).await;
        return (Some(log), Err(e));
    }
    if let Err(e) = log.commit_staged(staged).await {
        return (Some(log), Err(e.into()));
    }
    settings
        .metrics
        .committed(count, records, bytes, began.elapsed());
    tracing::debug!(tp = %log.tp(), files = count, records, next_offset = next, "committed");
    (Some(log), Ok(()))
}

impl PartitionWriter {
    /// Recovers the partition from storage and takes ownership of it. The `open` record
    /// that fences earlier owners is published in the background, as the first of the
    /// writer's background commits: records are read and written meanwhile, and nothing is
    /// committed before it is published (see [`PartitionLog::recover`]).
    pub async fn open(
        settings: Arc<SinkSettings>,
        tp: TopicPartition,
    ) -> Result<(PartitionWriter, Recovery), SinkError> {
        let nulls = match settings.null_values {
            NullValues::Ignore => lakesink_transform::NullValues::Drop,
            NullValues::Fail => lakesink_transform::NullValues::Fail,
        };
        // Checked when the connector was validated; built before the partition is taken.
        let transforms = Chain::new(&settings.transforms, nulls)
            .map_err(|e| SinkError::Internal(e.to_string()))?;
        let transforms = (!transforms.is_empty()).then_some(transforms);
        let (log, recovery) = PartitionLog::recover(
            settings.store.clone(),
            settings.layout.clone(),
            tp,
            settings.owner.clone(),
        )
        .await?;
        let policy = &settings.errors.policy;
        let converter = ValueConverter::new(&settings.value_converter, settings.null_values)
            .give_up_when(settings.stopping.clone())
            .retry_transient(policy.retry_timeout_ms, policy.retry_delay_max_ms);
        let key_converter = settings
            .key_converter
            .as_ref()
            .filter(|k| k.kind.can_fail())
            .map(|k| {
                ValueConverter::for_keys(k)
                    .give_up_when(settings.stopping.clone())
                    .retry_transient(policy.retry_timeout_ms, policy.retry_delay_max_ms)
            });
        let mut converter = converter;
        let current = match settings.compatibility {
            Compatibility::None => None,
            _ => schema_of_last_file(&settings, &log, &mut converter).await,
        };
        let rotation = settings.rotation_for(&log.tp().topic);
        let share = Share::join(settings.budget.clone());
        let (tp, committed_next, ahead, temp_names, stager) = (
            log.tp().clone(),
            log.next_offset(),
            log.ahead().clone(),
            log.temp_names(),
            log.stager(),
        );
        let epoch = recovery.epoch;
        let fencing = tokio::spawn(async move {
            let mut log = log;
            let result = match log.fence().await {
                Ok(orphans_deleted) => {
                    tracing::info!(tp = %log.tp(), epoch, orphans_deleted, "partition fenced");
                    Ok(())
                }
                Err(e) => Err(SinkError::from(e)),
            };
            (Some(log), result)
        });
        let mut commits = Commits::default();
        commits.started(fencing, None);
        Ok((
            PartitionWriter {
                settings,
                rotation,
                tp,
                committed_next,
                ahead,
                temp_names,
                log: None,
                commits,
                stager,
                converter,
                key_converter,
                transforms,
                open: BTreeMap::new(),
                sealed: Vec::new(),
                opened: 0,
                consumed_next: recovery.next_offset,
                share,
                current,
            },
            recovery,
        ))
    }

    pub fn tp(&self) -> &TopicPartition {
        &self.tp
    }

    /// The committed next offset (from storage), as of the last finished commit.
    pub fn committed_next(&self) -> Option<i64> {
        self.committed_next
    }

    /// The commit log, once no commit holds it.
    async fn log(&mut self) -> Result<&mut PartitionLog, SinkError> {
        self.settle().await?;
        self.log
            .as_mut()
            .ok_or_else(|| SinkError::Internal(format!("{}: commit log lost", self.tp)))
    }

    /// Waits for the commits running in the background, if any, and takes their result.
    pub async fn settle(&mut self) -> Result<(), SinkError> {
        let waits = self.commits.any() && !self.commits.all_done();
        if waits {
            tracing::trace!(tp = %self.tp, "waiting for the commits under way");
        }
        let Some((log, result)) = self.commits.settle().await else {
            return Ok(());
        };
        if let Some(log) = log {
            self.committed_next = log.next_offset();
            self.ahead = log.ahead().clone();
            self.log = Some(log);
        }
        self.account();
        if waits {
            tracing::trace!(tp = %self.tp, "the commits under way ended");
        }
        result.map_err(|e| match e {
            SinkError::Internal(m) => SinkError::Internal(format!("{}: {m}", self.tp)),
            e => e,
        })
    }

    /// Takes the result of the background commits once they have all finished, without
    /// waiting.
    async fn settle_if_done(&mut self) -> Result<(), SinkError> {
        if self.commits.all_done() {
            self.settle().await?;
        }
        Ok(())
    }

    /// Number of files open now.
    pub fn open_files(&self) -> usize {
        self.open.len()
    }

    /// Records the policy decision that offsets before `offset` are gone (retention).
    pub async fn skip_to(&mut self, offset: i64) -> Result<(), SinkError> {
        let log = self.log().await?;
        log.advance(offset).await?;
        self.committed_next = log.next_offset();
        self.consumed_next = Some(offset);
        Ok(())
    }

    /// Writes a batch; commits files whenever a rotation condition or a limit is met.
    pub async fn write(&mut self, mut batch: RawBatch) -> Result<(), SinkError> {
        if let Some(next) = self.consumed_next {
            // Redelivered records that are already committed or written.
            batch.skip_below(next);
        }
        let Some(last) = batch.last_offset() else {
            return Ok(());
        };
        // A registry that stays unavailable fails here, before any record is set aside:
        // a transient failure never makes a dead letter.
        if let Some(keys) = self.key_converter.as_mut() {
            keys.prepare(&self.tp, &batch).await?;
        }
        self.converter.prepare(&self.tp, &batch).await?;
        let tp = self.tp.clone();
        let mut letters = Vec::new();
        // Keys first, as Connect converts them: a record whose key fails is not converted
        // any further.
        if let Some(keys) = self.key_converter.as_mut() {
            let failed = keys.check(&tp, &batch)?;
            if let Some(first) = failed.first()
                && !self.settings.errors.tolerates()
            {
                return Err(first.clone().into());
            }
            let offsets: Vec<i64> = failed.iter().map(|e| e.offset).collect();
            letters.extend(self.conversion_letters(&batch, failed, Stage::KeyConverter));
            batch.remove_offsets(&offsets);
        }
        let converted = if self.settings.errors.tolerates() {
            let (runs, failed) = self.converter.convert_tolerant(&tp, &batch)?;
            letters.extend(self.conversion_letters(&batch, failed, Stage::ValueConverter));
            runs
        } else {
            self.converter.convert(&tp, &batch)?
        };
        for run in converted {
            let routed = match self.transforms.as_mut() {
                None => vec![(tp.topic.clone(), run)],
                Some(chain) => {
                    let tolerate = self.settings.errors.tolerates();
                    let (routed, failed) = chain.apply(&tp, run, &batch, tolerate)?;
                    for e in failed {
                        letters.extend(self.letter(
                            &batch,
                            e.offset,
                            Stage::Transformation,
                            e.class.clone(),
                            "org.apache.kafka.connect.errors.DataException",
                            e.to_string(),
                        ));
                    }
                    routed.into_iter().map(|r| (r.topic, r.run)).collect()
                }
            };
            for (topic, run) in routed {
                let run = self.evolve(run);
                self.write_run(run, &topic, &batch, &mut letters).await?;
            }
        }
        drop(batch);
        // Before anything after these records is committed (below, or by the timer later).
        if !letters.is_empty() {
            letters.sort_by_key(|l| l.offset);
            let reported = self.settings.errors.report(&letters).await;
            let queued = self.settings.errors.queue.is_some();
            match &reported {
                Ok(()) => {
                    for l in &letters {
                        self.settings.metrics.dead_letters(l.stage, 1, queued);
                    }
                }
                Err(_) => self.settings.metrics.dead_letter_failure(),
            }
            reported.map_err(SinkError::DeadLetterQueue)?;
        }
        self.consumed_next = Some(last + 1);
        self.account();
        self.enforce_limits().await?;
        self.commit_sealed().await?;
        self.account();
        self.share.settled();
        Ok(())
    }

    /// Applies `schema.compatibility` to a run (see docs/schema-evolution.md): either its
    /// schema becomes the current one (files of another schema are then committed as the
    /// run reaches their directories), or, under BACKWARD and FULL, a run of an older
    /// version is projected to the current schema and joins its files.
    fn evolve(&mut self, run: Converted) -> Converted {
        let Some(current) = self.current.clone() else {
            self.current = Some(run.schema.clone());
            return run;
        };
        if Arc::ptr_eq(&current, &run.schema) {
            return run;
        }
        let version = |s: &ValueSchema| s.connect.as_ref().and_then(|c| c.version);
        // The current schema read from the last committed file at start-up, and records of
        // that very schema: they join its files (encoded, as the file's header is not their
        // writer schema).
        if current.avro_writer.is_none()
            && version(&current).is_some()
            && version(&current) == version(&run.schema)
            && current.connect == run.schema.connect
        {
            return Converted {
                schema: current,
                datums: None,
                ..run
            };
        }
        let older = matches!(
            (version(&run.schema), version(&current)),
            (Some(new), Some(now)) if new < now
        );
        if older
            && matches!(
                self.settings.compatibility,
                Compatibility::Backward | Compatibility::Full
            )
        {
            match lakesink_convert::project::project(&run, &current) {
                Ok(projected) => return projected,
                Err(e) => tracing::info!(
                    tp = %self.tp,
                    offset = run.offsets.first().copied().unwrap_or_default(),
                    "records of schema version {:?} cannot be projected to version {:?} ({e}); starting new files",
                    version(&run.schema),
                    version(&current)
                ),
            }
        }
        self.current = Some(run.schema.clone());
        run
    }

    /// The dead letters of records whose key or value did not convert.
    fn conversion_letters(
        &self,
        batch: &RawBatch,
        failed: Vec<lakesink_convert::ConvertError>,
        stage: Stage,
    ) -> Vec<DeadLetter> {
        let class = match stage {
            Stage::KeyConverter => self.settings.key_converter_class,
            _ => self.settings.converter_class,
        };
        failed
            .into_iter()
            .filter_map(|e| {
                self.letter(
                    batch,
                    e.offset,
                    stage,
                    class,
                    "org.apache.kafka.connect.errors.DataException",
                    e.message,
                )
            })
            .collect()
    }

    /// The dead letter of the record at `offset` of `batch`.
    fn letter(
        &self,
        batch: &RawBatch,
        offset: i64,
        stage: Stage,
        class_name: impl Into<Cow<'static, str>>,
        exception_class: &'static str,
        message: String,
    ) -> Option<DeadLetter> {
        let record = batch.get(batch.index_of(offset)?);
        Some(DeadLetter::new(
            &self.tp,
            &record,
            stage,
            class_name,
            exception_class,
            message,
        ))
    }

    /// Writes a run; under `errors.tolerance=all` a record the partitioner cannot place
    /// becomes a dead letter and the rest of the run is placed again without it.
    async fn write_run(
        &mut self,
        mut run: Converted,
        topic: &str,
        batch: &RawBatch,
        letters: &mut Vec<DeadLetter>,
    ) -> Result<(), SinkError> {
        let tp = self.tp.clone();
        let now = now_ms();
        let parted = loop {
            if run.is_empty() {
                return Ok(());
            }
            // A routed topic (RegexRouter, TimestampRouter) names the directory; the file
            // names keep the consumed topic-partition, whose offsets they hold.
            let placed = self.settings.partitioner.partition(&PartitionInput {
                topic,
                partition: tp.partition,
                columns: &run.columns,
                json_text: run.schema.kind == ValueKind::JsonText,
                offsets: &run.offsets,
                kafka_timestamps: &run.timestamps,
                now_ms: now as i64,
            });
            match placed {
                Ok(p) => break p,
                Err(e) if self.settings.errors.tolerates() => {
                    let Some(row) = run.offsets.iter().position(|o| *o == e.offset) else {
                        return Err(e.into());
                    };
                    letters.extend(self.letter(
                        batch,
                        e.offset,
                        Stage::TaskPut,
                        self.settings.partitioner_class,
                        "io.confluent.connect.storage.errors.PartitionException",
                        e.message,
                    ));
                    run = run
                        .without_row(row)
                        .map_err(|e| SinkError::Internal(format!("dropping a row: {e}")))?;
                }
                Err(e) => return Err(e.into()),
            }
        };
        // Record time for rotate.interval.ms: the partitioner's time when it has one.
        let times: Cow<'_, [Option<i64>]> = match parted.times {
            Some(t) => Cow::Owned(t.into_iter().map(Some).collect()),
            None => Cow::Borrowed(&run.timestamps),
        };
        let ahead = &self.ahead;
        let slices: Vec<SliceRows> = parted
            .slices
            .into_iter()
            .filter_map(|s| match ahead.get(&s.dir) {
                // After a restart: this directory is committed up to `done` already.
                Some(&done) => {
                    let rows: Vec<u32> = match s.rows {
                        Some(r) => r
                            .into_iter()
                            .filter(|&i| run.offsets[i as usize] > done)
                            .collect(),
                        None => (0..run.len() as u32)
                            .filter(|&i| run.offsets[i as usize] > done)
                            .collect(),
                    };
                    (!rows.is_empty()).then_some(SliceRows {
                        dir: s.dir,
                        rows: Some(rows),
                    })
                }
                None => Some(SliceRows {
                    dir: s.dir,
                    rows: s.rows,
                }),
            })
            .collect();
        for slice in &slices {
            self.write_slice(&run, batch, &times, slice, now, letters)
                .await?;
        }
        Ok(())
    }

    /// A file for `schema` cannot be started: the format cannot hold the schema (e.g.
    /// Parquet and an empty struct). Under `errors.tolerance=all` every record of `rows`
    /// (offsets, all of that schema) becomes a dead letter; otherwise the task stops,
    /// naming the first of them.
    fn unwritable(
        &self,
        batch: &RawBatch,
        offsets: impl Iterator<Item = i64>,
        error: FormatError,
        letters: &mut Vec<DeadLetter>,
    ) -> Result<(), SinkError> {
        let mut offsets = offsets.peekable();
        if !self.settings.errors.tolerates() {
            return Err(SinkError::Encode {
                tp: self.tp.to_string(),
                offset: offsets.peek().copied().unwrap_or(-1),
                format_class: self.settings.format_class.clone(),
                source: Box::new(error),
            });
        }
        let message = format!("{} cannot write it: {error}", self.settings.format_class);
        for offset in offsets {
            letters.extend(self.letter(
                batch,
                offset,
                Stage::TaskPut,
                self.settings.format_class.clone(),
                "org.apache.kafka.connect.errors.DataException",
                message.clone(),
            ));
        }
        Ok(())
    }

    async fn write_slice(
        &mut self,
        run: &Converted,
        batch: &RawBatch,
        times: &[Option<i64>],
        slice: &SliceRows,
        now: u64,
        letters: &mut Vec<DeadLetter>,
    ) -> Result<(), SinkError> {
        let dir = slice.dir.as_str();
        let n = slice.len(run.len());
        let flush_size = self.rotation.flush_size;
        let mut k = 0;
        while k < n {
            if self.settings.partitioner.uses_wallclock() && self.open.keys().any(|d| d != dir) {
                // Wall-clock buckets only move forward: the older ones are finished. Keeping
                // one directory open also keeps the replay after a crash deterministic.
                let others: Vec<String> = self.open.keys().filter(|d| *d != dir).cloned().collect();
                others.iter().for_each(|d| self.seal(d));
            }
            if let Some(f) = self.open.get(dir) {
                let due = f.next_scheduled.is_some_and(|t| now >= t);
                // Every file holds exactly one schema.
                if !Arc::ptr_eq(&f.schema, &run.schema) || due {
                    self.seal(dir);
                    continue;
                }
            }
            let (records, first_time) = self
                .open
                .get(dir)
                .map_or((0, None), |f| (f.records, f.first_time));
            let room = flush_size.saturating_sub(records) as usize;
            if room == 0 {
                self.seal(dir);
                continue;
            }
            let mut end = (k + room).min(n);
            if let Some(interval) = self.rotation.rotate_interval_ms {
                let base = first_time.or(times[slice.row(k)]);
                if let Some(base) = base
                    && let Some(j) = (k..end)
                        .find(|&j| times[slice.row(j)].is_some_and(|t| t - base >= interval as i64))
                {
                    if j == k {
                        if records > 0 {
                            self.seal(dir);
                            continue;
                        }
                        end = k + 1;
                    } else {
                        end = j;
                    }
                }
            }
            let (first, last) = (run.offsets[slice.row(k)], run.offsets[slice.row(end - 1)]);
            let first_time = (k..end).find_map(|j| times[slice.row(j)]);
            if !self.open.contains_key(dir) {
                match self.new_file(&run.schema, now) {
                    Ok(file) => {
                        self.open.insert(dir.to_string(), file);
                    }
                    // The rest of the slice has the same schema: none of it can be written.
                    Err(SinkError::Format(e)) => {
                        let offsets = (k..n).map(|j| run.offsets[slice.row(j)]);
                        return self.unwritable(batch, offsets, e, letters);
                    }
                    Err(e) => return Err(e),
                }
            }
            let store = &self.settings.store;
            let Some(file) = self.open.get_mut(dir) else {
                return Err(SinkError::Internal(format!("no open file for {dir}")));
            };
            // Avro datums go into an Avro file of their writer schema as they are.
            let written = match run.datums.as_ref().filter(|_| file.format.takes_datums()) {
                Some(datums) => {
                    let rows: Vec<&[u8]> = (k..end)
                        .map(|j| datums[slice.row(j)].bytes(batch))
                        .collect();
                    file.write_datums(store, &rows, first, last).await
                }
                None => {
                    let part = match &slice.rows {
                        None => run.columns.slice(k, end - k),
                        Some(rows) => take_rows(&run.columns, &rows[k..end])?,
                    };
                    file.write(store, &part, first, last).await
                }
            };
            if let Err(e) = written {
                return Err(match e {
                    SinkError::Format(source) => SinkError::EncodeFile {
                        tp: self.tp.to_string(),
                        first: if file.records == 0 {
                            first
                        } else {
                            file.start_offset
                        },
                        last,
                        format_class: self.settings.format_class.clone(),
                        source: Box::new(source),
                    },
                    other => other,
                });
            }
            if file.first_time.is_none() {
                file.first_time = first_time;
            }
            k = end;
            let full = file.records >= flush_size
                || match self.rotation.rotate_size_bytes {
                    Some(max) => file.size()? >= max,
                    None => false,
                };
            if full {
                self.seal(dir);
            }
        }
        Ok(())
    }

    fn new_file(&mut self, schema: &Arc<ValueSchema>, now: u64) -> Result<OpenFile, SinkError> {
        let format = new_writer(&self.settings.format, schema)?;
        let temp = self.temp_names.next(self.settings.format.kind.extension());
        self.opened += 1;
        let next_scheduled = match (
            self.rotation.rotate_schedule_interval_ms,
            self.settings.timezone,
        ) {
            (Some(interval), Some(tz)) => Some(next_scheduled_rotation(now, interval, tz)),
            _ => None,
        };
        Ok(OpenFile {
            tp: self.tp.clone(),
            schema: schema.clone(),
            format,
            storage: None,
            temp,
            start_offset: 0,
            end_offset: 0,
            records: 0,
            first_time: None,
            opened_seq: self.opened,
            next_scheduled,
            pending: Vec::new(),
            stored_bytes: 0,
            staged: Vec::new(),
            staged_rows: 0,
            staged_bytes: 0,
        })
    }

    /// Ends writing to `dir`'s file; it is committed with the others at the end of the batch.
    fn seal(&mut self, dir: &str) {
        if let Some(file) = self.open.remove(dir) {
            self.sealed.push((dir.to_string(), file));
        }
    }

    /// Publishes what this writer holds to the connector's limits.
    fn account(&mut self) {
        let files = self.open.values().chain(self.sealed.iter().map(|(_, f)| f));
        let bytes = files.map(OpenFile::buffered).sum::<u64>() + self.commits.load.bytes();
        let count = self.open.len() + self.sealed.len() + self.commits.load.files();
        self.share.update(count, bytes);
    }

    /// Gives back what this writer holds above its share while the connector is over
    /// `lakesink.max.buffered.bytes` or `lakesink.max.open.files`: large files move to
    /// storage, small ones (for memory) and the oldest ones (for open files) are committed.
    async fn enforce_limits(&mut self) -> Result<(), SinkError> {
        let mut excess = self.share.excess();
        // Sealed files go away with this batch's commit anyway, and the files of the commits
        // under way as soon as they are written and closed: committing other files early for
        // them would only make small files (a batch that fills a file to its flush size and
        // starts the next one would otherwise commit the new file with its first few records).
        let (committing_files, committing_bytes) =
            (self.commits.load.files(), self.commits.load.bytes());
        let sealed_bytes: u64 = self.sealed.iter().map(|(_, f)| f.buffered()).sum();
        excess.files = excess
            .files
            .saturating_sub(self.sealed.len() + committing_files);
        excess.bytes = excess.bytes.saturating_sub(sealed_bytes + committing_bytes);
        if excess.files == 0 && excess.bytes == 0 {
            return Ok(());
        }
        let mut commit: Vec<String> = Vec::new();
        if excess.bytes > 0 {
            let mut by_size: Vec<(u64, String)> = self
                .open
                .iter()
                .map(|(d, f)| (f.buffered(), d.clone()))
                .collect();
            by_size.sort_unstable_by(|a, b| b.cmp(a));
            let mut freed = 0;
            for (bytes, dir) in by_size {
                if freed >= excess.bytes || bytes == 0 {
                    break;
                }
                let store = &self.settings.store;
                let Some(f) = self.open.get_mut(&dir) else {
                    continue;
                };
                if bytes >= SPILL_MIN_BYTES {
                    f.spill(store).await?;
                    freed += bytes;
                    continue;
                }
                // Encoded, compressed rows take less memory than the rows being encoded
                // (Parquet: a closed row group); keep the file open if that frees most of it.
                let compacted = f.compact()?;
                if compacted * 2 <= bytes {
                    freed += bytes - compacted;
                } else {
                    freed += bytes;
                    commit.push(dir);
                }
            }
            if freed < excess.bytes {
                // Still over the share after compacting everything: commit the largest files.
                let mut rest: Vec<(u64, String)> = self
                    .open
                    .iter()
                    .filter(|(d, _)| !commit.contains(d))
                    .map(|(d, f)| (f.buffered(), d.clone()))
                    .collect();
                rest.sort_unstable_by(|a, b| b.cmp(a));
                for (bytes, dir) in rest {
                    if freed >= excess.bytes {
                        break;
                    }
                    freed += bytes;
                    commit.push(dir);
                }
            }
        }
        if excess.files > commit.len() {
            let mut by_age: Vec<(u64, &String)> = self
                .open
                .iter()
                .filter(|(d, _)| !commit.contains(d))
                .map(|(d, f)| (f.opened_seq, d))
                .collect();
            by_age.sort_unstable();
            let more: Vec<String> = by_age
                .into_iter()
                .take(excess.files - commit.len())
                .map(|(_, d)| d.clone())
                .collect();
            commit.extend(more);
        }
        tracing::trace!(tp = %self.tp, ?excess, early_commits = commit.len(), held = self.open.values().map(OpenFile::buffered).sum::<u64>(), "limits applied");
        if !commit.is_empty() {
            tracing::debug!(tp = %self.tp, files = commit.len(), ?excess, "committing files early: the connector is over its open-file or memory limit");
            commit.iter().for_each(|d| self.seal(d));
        }
        Ok(())
    }

    /// Wall-clock work, also for a partition that receives nothing: scheduled rotation and
    /// the connector's limits.
    pub async fn tick(&mut self, now: u64) -> Result<(), SinkError> {
        self.settle_if_done().await?;
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, f)| f.next_scheduled.is_some_and(|t| now >= t))
            .map(|(d, _)| d.clone())
            .collect();
        due.iter().for_each(|d| self.seal(d));
        self.account();
        self.enforce_limits().await?;
        self.commit_sealed().await?;
        self.account();
        self.share.settled();
        Ok(())
    }

    /// Commits every open file.
    pub async fn rotate(&mut self) -> Result<(), SinkError> {
        let all: Vec<String> = self.open.keys().cloned().collect();
        all.iter().for_each(|d| self.seal(d));
        self.commit_sealed().await?;
        self.settle().await
    }

    /// Closes the sealed files and commits them atomically. Runs when everything consumed is
    /// written, so the commit record's next offset is the first offset of the oldest file
    /// that stays open, or the next offset to consume when none does.
    async fn commit_sealed(&mut self) -> Result<(), SinkError> {
        if self.sealed.is_empty() {
            return Ok(());
        }
        // Takes the results of finished commits (the committed offset for lag monitoring),
        // and waits while the partition has as many commits under way as it may.
        self.settle_if_done().await?;
        self.commits.room().await;
        let files = std::mem::take(&mut self.sealed);
        let next = self
            .open
            .values()
            .map(|f| f.start_offset)
            .chain(self.consumed_next)
            .min()
            .or_else(|| files.iter().map(|(_, f)| f.end_offset + 1).max())
            .unwrap_or(0);
        let ext = self.settings.format.kind.extension();
        let tp = &self.tp;
        let mut entries = Vec::with_capacity(files.len());
        let mut ended = Vec::with_capacity(files.len());
        for (dir, mut file) in files {
            let path = self.stager.layout().committed_path(
                tp,
                &dir,
                file.start_offset,
                file.end_offset,
                ext,
            );
            entries.push(file.end_format(path)?);
            let held = self.commits.load.hold(file.buffered());
            ended.push((file, held));
        }
        // The record is published after the commit before it, if one runs.
        let (source, after) = match (self.commits.take_newest(), self.log.take()) {
            (Some(previous), _) => (LogSource::After(previous.task), previous.staged),
            (None, Some(log)) => (LogSource::Ready(Box::new(log)), None),
            (None, None) => return Err(SinkError::Internal(format!("{tp}: commit log lost"))),
        };
        let (then, staged) = oneshot::channel();
        let link = ChainLink {
            source,
            after,
            then,
            stager: self.stager.clone(),
        };
        tracing::trace!(%tp, files = ended.len(), bytes = self.commits.load.bytes(), "commit started");
        let running = self.commits.load.begin_commit();
        let settings = self.settings.clone();
        let task = tokio::spawn(async move {
            let outcome = commit_files(link, settings, ended, entries, next).await;
            drop(running);
            outcome
        });
        self.commits.started(task, Some(staged));
        self.account();
        // Overlapping the next records with the commits holds the committed files (memory,
        // storage streams) a little longer: only while the connector has room for them.
        let budget = self.settings.budget.clone();
        if !budget.has_room() {
            self.commits.load.written().await;
            self.account();
            if !budget.has_file_room() {
                self.settle().await?;
            }
        }
        Ok(())
    }

    /// Graceful end of ownership: commits what is open. Returns the committed next offset.
    pub async fn close(mut self) -> Result<Option<i64>, SinkError> {
        self.rotate().await?;
        // Records after the last committed file that no file holds (dead letters already
        // acknowledged, tombstones skipped by policy): record that they are done, so the next
        // owner does not read them, and send them to the dead-letter queue, again.
        if let Some(consumed) = self.consumed_next
            && self.committed_next.is_none_or(|c| consumed > c)
        {
            let log = self.log().await?;
            log.advance(consumed).await?;
            self.committed_next = log.next_offset();
        }
        Ok(self.committed_next)
    }

    /// Drops the open files without committing (their records are consumed again).
    pub async fn abandon(mut self) {
        // A commit under way may still succeed: it is complete or not at all either way.
        let _ = self.settle().await;
        for file in self
            .open
            .into_values()
            .chain(self.sealed.into_iter().map(|(_, f)| f))
        {
            if let Some(storage) = file.storage {
                storage.abandon().await;
                let _ = self.settings.store.delete(&file.temp).await;
            }
        }
    }
}

/// The rows `rows` of `batch`, in order.
fn take_rows(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch, SinkError> {
    let indices = arrow_array::UInt32Array::from(rows.to_vec());
    let columns = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SinkError::Internal(format!("selecting rows: {e}")))?;
    RecordBatch::try_new(batch.schema(), columns)
        .map_err(|e| SinkError::Internal(format!("selecting rows: {e}")))
}

impl From<CommitError> for SinkError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Fenced { tp, by } => SinkError::Fenced { tp, by },
            other => SinkError::Commit(other),
        }
    }
}
