//! The task loop: owns the partition writers of one task and serves the consumer thread's
//! requests in order — records, partitions opened, partitions closed, shutdown — plus a
//! one-second tick for wall-clock rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lakesink_config::OffsetOutOfRange;
use lakesink_record::{RawBatch, TopicPartition};
use tokio::sync::{mpsc, oneshot};

use crate::{PartitionWriter, SinkError, SinkSettings, now_ms};

/// A request from the consumer thread. Replies go back on the enclosed channels.
pub enum TaskEvent {
    Records(Vec<(TopicPartition, RawBatch)>),
    /// Recover these partitions (with the oldest offset Kafka still holds); reply with where
    /// each starts (`None`: nothing in storage yet).
    Open {
        partitions: Vec<(TopicPartition, Option<i64>)>,
        reply: oneshot::Sender<Result<Vec<Option<i64>>, String>>,
    },
    /// Commit what is open for these partitions and let them go; reply with committed offsets.
    Close {
        partitions: Vec<TopicPartition>,
        reply: oneshot::Sender<Vec<(TopicPartition, i64)>>,
    },
    /// Close everything and end the loop.
    Shutdown { reply: oneshot::Sender<Vec<(TopicPartition, i64)>> },
}

/// What the task loop reports back to the consumer thread between requests.
#[derive(Debug, Default)]
pub struct TaskStatus {
    /// Committed next offsets, to commit to the consumer group (lag monitoring).
    pub committed: Vec<(TopicPartition, i64)>,
    /// Partitions whose writer stopped (fenced or storage error): recover and seek them
    /// again from `not_before` if this worker still owns them.
    pub reopen: Vec<(TopicPartition, Instant)>,
    /// Why the task must stop (a record that cannot be written under errors.tolerance=none).
    pub failure: Option<String>,
}

pub type SharedStatus = Arc<Mutex<TaskStatus>>;

/// How long a fenced partition waits before trying to take it back: long enough for a
/// stale worker's consumer to notice it left the group, so two workers do not take turns.
const FENCED_REOPEN_DELAY: Duration = Duration::from_secs(15);
const OPEN_ATTEMPTS: u32 = 5;

struct Task {
    settings: Arc<SinkSettings>,
    writers: HashMap<TopicPartition, PartitionWriter>,
    status: SharedStatus,
    failed: bool,
}

fn with_status(status: &SharedStatus, f: impl FnOnce(&mut TaskStatus)) {
    match status.lock() {
        Ok(mut s) => f(&mut s),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

impl Task {
    fn report_committed(&self, tp: &TopicPartition, next: Option<i64>) {
        if let Some(n) = next {
            with_status(&self.status, |s| s.committed.push((tp.clone(), n)));
        }
    }

    /// Handles a writer error: a bad record stops the task; anything else stops the
    /// partition, which is recovered again later.
    async fn writer_failed(&mut self, tp: &TopicPartition, err: SinkError) {
        if let Some(w) = self.writers.remove(tp) {
            w.abandon().await;
        }
        if err.is_record_error() {
            let message = format!("task stopped: {err}");
            tracing::error!("{message}");
            self.failed = true;
            with_status(&self.status, |s| {
                s.failure.get_or_insert(message);
            });
            return;
        }
        let delay = match &err {
            SinkError::Fenced { .. } => {
                tracing::error!(%tp, "{err}");
                FENCED_REOPEN_DELAY
            }
            _ => {
                tracing::warn!(%tp, "{err}; uncommitted records will be read again after {} ms", self.settings.retry_backoff_ms);
                Duration::from_millis(self.settings.retry_backoff_ms)
            }
        };
        with_status(&self.status, |s| s.reopen.push((tp.clone(), Instant::now() + delay)));
    }

    async fn records(&mut self, batches: Vec<(TopicPartition, RawBatch)>) {
        if self.failed {
            return;
        }
        for (tp, batch) in batches {
            // No writer: revoked, or stopped and waiting to be recovered; the records
            // will be consumed again from the recovered offset.
            let Some(writer) = self.writers.get_mut(&tp) else { continue };
            let before = writer.committed_next();
            let result = writer.write(batch).await;
            match result {
                Ok(()) => {
                    let after = writer.committed_next();
                    if after != before {
                        self.report_committed(&tp, after);
                    }
                }
                Err(e) => {
                    self.writer_failed(&tp, e).await;
                    if self.failed {
                        return;
                    }
                }
            }
        }
    }

    async fn open_one(&mut self, tp: &TopicPartition, low_watermark: Option<i64>) -> Result<Option<i64>, String> {
        let mut attempt = 0;
        let (mut writer, recovery) = loop {
            attempt += 1;
            match PartitionWriter::open(self.settings.clone(), tp.clone()).await {
                Ok(ok) => break ok,
                Err(e) if attempt < OPEN_ATTEMPTS => {
                    tracing::warn!(%tp, attempt, "recovery failed: {e}; retrying in {} ms", self.settings.retry_backoff_ms);
                    tokio::time::sleep(Duration::from_millis(self.settings.retry_backoff_ms)).await;
                }
                Err(e) => return Err(format!("{tp}: recovery failed after {attempt} attempts: {e}")),
            }
        };
        tracing::info!(
            %tp,
            next_offset = ?recovery.next_offset,
            epoch = recovery.epoch,
            renames_finished = recovery.renames_finished,
            orphans_deleted = recovery.orphans_deleted,
            corrupt_records = recovery.corrupt_records,
            "partition recovered"
        );
        let mut start = recovery.next_offset;
        if let (Some(next), Some(low)) = (start, low_watermark)
            && next < low
        {
            match self.settings.offset_out_of_range {
                OffsetOutOfRange::Earliest => {
                    tracing::error!(
                        %tp,
                        "records at offsets {next}..{} were deleted by Kafka retention before they were written; continuing from offset {low} (lakesink.offset.out.of.range=earliest)",
                        low - 1
                    );
                    writer.skip_to(low).await.map_err(|e| format!("{tp}: {e}"))?;
                    start = Some(low);
                }
                OffsetOutOfRange::Fail => {
                    return Err(format!(
                        "{tp}: the next offset to write, {next}, was deleted by Kafka retention (oldest available: {low}); set lakesink.offset.out.of.range=earliest to continue from {low}"
                    ));
                }
            }
        }
        self.report_committed(tp, start);
        self.writers.insert(tp.clone(), writer);
        Ok(start)
    }

    async fn open(&mut self, partitions: Vec<(TopicPartition, Option<i64>)>) -> Result<Vec<Option<i64>>, String> {
        if self.failed {
            return Err("the task has stopped after an error".into());
        }
        let mut starts = Vec::with_capacity(partitions.len());
        for (tp, low) in partitions {
            if let Some(old) = self.writers.remove(&tp) {
                old.abandon().await;
            }
            starts.push(self.open_one(&tp, low).await?);
        }
        Ok(starts)
    }

    async fn close(&mut self, partitions: &[TopicPartition], deadline: Instant) -> Vec<(TopicPartition, i64)> {
        let mut committed = Vec::new();
        for tp in partitions {
            let Some(writer) = self.writers.remove(tp) else { continue };
            if self.failed {
                writer.abandon().await;
                continue;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, writer.close()).await {
                Ok(Ok(Some(next))) => committed.push((tp.clone(), next)),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(%tp, "could not commit open files on close: {e}; they will be consumed again"),
                Err(_) => tracing::warn!(%tp, "committing open files on close took longer than shutdown.timeout.ms; they will be consumed again"),
            }
        }
        committed
    }

    async fn tick(&mut self) {
        if self.failed {
            return;
        }
        let now = now_ms();
        let tps: Vec<TopicPartition> = self.writers.keys().cloned().collect();
        for tp in tps {
            let Some(writer) = self.writers.get_mut(&tp) else { continue };
            let before = writer.committed_next();
            let result = writer.tick(now).await;
            let after = writer.committed_next();
            match result {
                Ok(()) if after != before => self.report_committed(&tp, after),
                Ok(()) => {}
                Err(e) => self.writer_failed(&tp, e).await,
            }
        }
    }
}

/// Runs a task until it receives `Shutdown` (or its sender is dropped).
pub async fn run_task(settings: Arc<SinkSettings>, mut events: mpsc::Receiver<TaskEvent>, status: SharedStatus) {
    let mut task = Task {
        settings,
        writers: HashMap::new(),
        status,
        failed: false,
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(TaskEvent::Records(batches)) => task.records(batches).await,
                Some(TaskEvent::Open { partitions, reply }) => {
                    let _ = reply.send(task.open(partitions).await);
                }
                Some(TaskEvent::Close { partitions, reply }) => {
                    let deadline = Instant::now() + Duration::from_millis(task.settings.shutdown_timeout_ms.max(1000));
                    let _ = reply.send(task.close(&partitions, deadline).await);
                }
                Some(TaskEvent::Shutdown { reply }) => {
                    let all: Vec<TopicPartition> = task.writers.keys().cloned().collect();
                    let deadline = Instant::now() + Duration::from_millis(task.settings.shutdown_timeout_ms.max(1000));
                    let _ = reply.send(task.close(&all, deadline).await);
                    return;
                }
                None => {
                    let all: Vec<TopicPartition> = task.writers.keys().cloned().collect();
                    let deadline = Instant::now() + Duration::from_millis(task.settings.shutdown_timeout_ms.max(1000));
                    task.close(&all, deadline).await;
                    return;
                }
            },
            _ = ticker.tick() => task.tick().await,
        }
    }
}
