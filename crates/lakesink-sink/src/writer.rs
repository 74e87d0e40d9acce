//! The writer of one Kafka partition: converts its batches, spreads them over output
//! directories, streams them into temp files, and decides when to rotate (commit).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use lakesink_commit::{CommitError, FileCommit, PartitionLog, Recovery};
use lakesink_convert::{Converted, ValueConverter, ValueSchema};
use lakesink_format::{FileFormatWriter, new_writer};
use lakesink_record::{RawBatch, TopicPartition};
use lakesink_storage::FileWriter;

use crate::schedule::next_scheduled_rotation;
use crate::{SinkError, SinkSettings, now_ms};

/// Bytes gathered from a format writer before they are sent to storage in one write.
const STORAGE_WRITE_BYTES: usize = 4 << 20;

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

/// An open temp file of one output directory.
struct OpenFile {
    tp: TopicPartition,
    schema: Arc<ValueSchema>,
    format: Box<dyn FileFormatWriter>,
    storage: FileWriter,
    temp: String,
    start_offset: i64,
    end_offset: i64,
    records: u64,
    pending: Vec<u8>,
}

impl OpenFile {
    async fn write(&mut self, batch: &RecordBatch, first: i64, last: i64) -> Result<(), SinkError> {
        self.format.write(batch)?;
        if self.records == 0 {
            self.start_offset = first;
        }
        self.end_offset = last;
        self.records += batch.num_rows() as u64;
        let ready = self.format.take_ready();
        if self.pending.is_empty() {
            self.pending = ready;
        } else {
            self.pending.extend_from_slice(&ready);
        }
        if self.pending.len() >= STORAGE_WRITE_BYTES {
            let chunk = std::mem::take(&mut self.pending);
            self.storage
                .write(Bytes::from(chunk))
                .await
                .map_err(|e| fenced_if_gone(&self.tp, e))?;
        }
        Ok(())
    }

    /// Writes the rest of the file (the format's tail, e.g. the Parquet footer) and returns
    /// the still-open storage writer with the file's commit entry; closing is left to the
    /// caller so that it can overlap with writing the commit record.
    async fn end(mut self, path: String) -> Result<(FileWriter, FileCommit), SinkError> {
        let mut tail = std::mem::take(&mut self.pending);
        tail.extend_from_slice(&self.format.finish()?);
        if !tail.is_empty() {
            self.storage
                .write(Bytes::from(tail))
                .await
                .map_err(|e| fenced_if_gone(&self.tp, e))?;
        }
        let entry = FileCommit {
            temp: self.temp,
            path,
            start_offset: self.start_offset,
            end_offset: self.end_offset,
            records: self.records,
            bytes: self.storage.len(),
        };
        Ok((self.storage, entry))
    }
}

/// Creates the temp file. A free function so no `&PartitionWriter` (which is not `Sync`)
/// is held across the await.
async fn open_file(
    tp: TopicPartition,
    store: lakesink_storage::Store,
    schema: Arc<ValueSchema>,
    format: Box<dyn FileFormatWriter>,
    temp: String,
) -> Result<OpenFile, SinkError> {
    let storage = store.create(&temp).await?;
    Ok(OpenFile {
        tp,
        schema,
        format,
        storage,
        temp,
        start_offset: 0,
        end_offset: 0,
        records: 0,
        pending: Vec::new(),
    })
}

/// Writes one Kafka partition. Owned by a task; dropped when the partition is revoked.
pub struct PartitionWriter {
    settings: Arc<SinkSettings>,
    log: PartitionLog,
    converter: ValueConverter,
    open: BTreeMap<String, OpenFile>,
    /// Records in the open files (the Confluent `flush.size` counter, per partition).
    open_records: u64,
    /// Timestamp of the first record in the open files (for `rotate.interval.ms`).
    base_timestamp: Option<i64>,
    /// Wall-clock time of the next scheduled rotation, once files are open.
    next_scheduled: Option<u64>,
    /// Offset after the last record consumed (written or skipped), not yet committed.
    consumed_next: Option<i64>,
    /// Offset after the last record written into the open files.
    written_next: Option<i64>,
}

impl PartitionWriter {
    /// Recovers the partition from storage and takes ownership of it.
    pub async fn open(
        settings: Arc<SinkSettings>,
        tp: TopicPartition,
    ) -> Result<(PartitionWriter, Recovery), SinkError> {
        let (log, recovery) = PartitionLog::open(
            settings.store.clone(),
            settings.layout.clone(),
            tp,
            settings.owner.clone(),
        )
        .await?;
        let converter = ValueConverter::new(&settings.value_converter, settings.null_values);
        Ok((
            PartitionWriter {
                settings,
                log,
                converter,
                open: BTreeMap::new(),
                open_records: 0,
                base_timestamp: None,
                next_scheduled: None,
                consumed_next: recovery.next_offset,
                written_next: recovery.next_offset,
            },
            recovery,
        ))
    }

    pub fn tp(&self) -> &TopicPartition {
        self.log.tp()
    }

    /// The committed next offset (from storage).
    pub fn committed_next(&self) -> Option<i64> {
        self.log.next_offset()
    }

    /// Records the policy decision that offsets before `offset` are gone (retention).
    pub async fn skip_to(&mut self, offset: i64) -> Result<(), SinkError> {
        self.log.advance(offset).await?;
        self.consumed_next = Some(offset);
        self.written_next = Some(offset);
        Ok(())
    }

    /// Writes a batch; commits whenever a rotation condition is met.
    pub async fn write(&mut self, mut batch: RawBatch) -> Result<(), SinkError> {
        if let Some(next) = self.consumed_next {
            // Redelivered records that are already committed or written.
            batch.skip_below(next);
        }
        let Some(last) = batch.last_offset() else {
            return Ok(());
        };
        let converted = self.converter.convert(self.log.tp(), &batch)?;
        for run in converted {
            self.write_run(run).await?;
        }
        // write_run has already rotated whenever flush.size was reached.
        self.consumed_next = Some(last + 1);
        Ok(())
    }

    async fn write_run(&mut self, run: Converted) -> Result<(), SinkError> {
        let n = run.len();
        let mut i = 0;
        while i < n {
            if self
                .open
                .values()
                .any(|f| !Arc::ptr_eq(&f.schema, &run.schema))
            {
                // schema.compatibility=NONE: every file holds exactly one schema.
                self.rotate().await?;
            }
            if self.schedule_due(now_ms()) {
                self.rotate().await?;
            }
            // Rows that fit before flush.size is reached.
            let room = (self.settings.flush_size - self.open_records.min(self.settings.flush_size))
                as usize;
            if room == 0 {
                self.rotate().await?;
                continue;
            }
            let mut end = (i + room).min(n);
            if let Some(interval) = self.settings.rotate_interval_ms {
                let base = self.base_timestamp.or(run.timestamps[i]);
                if let Some(base) = base {
                    // The first record whose time is interval or more after the file's first.
                    if let Some(k) = (i..end)
                        .find(|&k| run.timestamps[k].is_some_and(|t| t - base >= interval as i64))
                    {
                        if k == i {
                            if self.open_records > 0 {
                                self.rotate().await?;
                                continue;
                            }
                            end = i + 1;
                        } else {
                            end = k;
                        }
                    }
                }
            }
            let slice = run.columns.slice(i, end - i);
            self.write_rows(&run, &slice, i, end).await?;
            if self.base_timestamp.is_none() {
                self.base_timestamp = run.timestamps[i..end].iter().flatten().next().copied();
            }
            i = end;
            if self.open_records >= self.settings.flush_size {
                self.rotate().await?;
            }
        }
        Ok(())
    }

    async fn write_rows(
        &mut self,
        run: &Converted,
        rows: &RecordBatch,
        from: usize,
        to: usize,
    ) -> Result<(), SinkError> {
        let tp = self.log.tp().clone();
        for slice in self.settings.partitioner.partition(&tp, rows.num_rows()) {
            let (part, first, last) = match &slice.rows {
                None => (rows.clone(), run.offsets[from], run.offsets[to - 1]),
                Some(idx) => {
                    let Some((&a, &b)) = idx.first().zip(idx.last()) else {
                        continue;
                    };
                    let indices = arrow_array::UInt32Array::from(idx.clone());
                    let cols = rows
                        .columns()
                        .iter()
                        .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| SinkError::Internal(format!("selecting rows: {e}")))?;
                    let part = RecordBatch::try_new(rows.schema(), cols)
                        .map_err(|e| SinkError::Internal(format!("selecting rows: {e}")))?;
                    (
                        part,
                        run.offsets[from + a as usize],
                        run.offsets[from + b as usize],
                    )
                }
            };
            if !self.open.contains_key(&slice.dir) {
                let format = new_writer(&self.settings.format, &run.schema)?;
                let temp = self
                    .log
                    .new_temp_path(self.settings.format.kind.extension());
                let file = open_file(
                    tp.clone(),
                    self.settings.store.clone(),
                    run.schema.clone(),
                    format,
                    temp,
                )
                .await?;
                self.open.insert(slice.dir.clone(), file);
            }
            if let Some(file) = self.open.get_mut(&slice.dir) {
                file.write(&part, first, last).await?;
            }
        }
        self.open_records += rows.num_rows() as u64;
        self.written_next = Some(run.offsets[to - 1] + 1);
        if self.next_scheduled.is_none()
            && let Some((interval, tz)) = self.settings.rotate_schedule
        {
            self.next_scheduled = Some(next_scheduled_rotation(now_ms(), interval, tz));
        }
        Ok(())
    }

    fn schedule_due(&self, now: u64) -> bool {
        self.next_scheduled.is_some_and(|t| now >= t) && self.open_records > 0
    }

    /// Wall-clock rotation, also for a partition that receives nothing.
    pub async fn tick(&mut self, now: u64) -> Result<(), SinkError> {
        if self.schedule_due(now) {
            self.rotate().await?;
        }
        Ok(())
    }

    /// Closes every open file and commits them with the next offset, atomically.
    pub async fn rotate(&mut self) -> Result<(), SinkError> {
        let Some(next) = self.written_next else {
            return Ok(());
        };
        if self.open.is_empty() {
            return Ok(());
        }
        let ext = self.settings.format.kind.extension();
        let tp = self.log.tp().clone();
        let mut writers = Vec::with_capacity(self.open.len());
        let mut files = Vec::with_capacity(self.open.len());
        for (dir, file) in std::mem::take(&mut self.open) {
            let path = self.settings.layout.committed_path(
                &tp,
                &dir,
                file.start_offset,
                file.end_offset,
                ext,
            );
            let (writer, entry) = file.end(path).await?;
            writers.push(writer);
            files.push(entry);
        }
        let count = files.len();
        // Each close waits for its block report; close all files and write the commit record
        // at the same time. The record is published only after every file is durable.
        let closing = futures::future::join_all(writers.into_iter().map(FileWriter::finish));
        let (closed, staged) = tokio::join!(closing, self.log.stage(files, next));
        let staged = staged?;
        if let Some(e) = closed.into_iter().find_map(Result::err) {
            self.log.discard(staged).await;
            return Err(fenced_if_gone(&tp, e));
        }
        self.log.commit_staged(staged).await?;
        let records = self.open_records;
        tracing::debug!(tp = %self.log.tp(), files = count, records, next_offset = next, "committed");
        self.open_records = 0;
        self.base_timestamp = None;
        self.next_scheduled = None;
        Ok(())
    }

    /// Graceful end of ownership: commits what is open. Returns the committed next offset.
    pub async fn close(mut self) -> Result<Option<i64>, SinkError> {
        self.rotate().await?;
        Ok(self.log.next_offset())
    }

    /// Drops the open files without committing (their records are consumed again).
    pub async fn abandon(self) {
        for (_, file) in self.open {
            let temp = file.temp.clone();
            file.storage.abandon().await;
            let _ = self.settings.store.delete(&temp).await;
        }
    }
}

impl From<CommitError> for SinkError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Fenced { tp, by } => SinkError::Fenced { tp, by },
            other => SinkError::Commit(other),
        }
    }
}
