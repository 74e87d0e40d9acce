//! The task loop: serves the consumer thread's requests in order — records, partitions
//! opened, partitions closed, shutdown — and runs each partition's writer as its own async
//! task, so that partitions convert, write and commit concurrently (an HDFS file close
//! waits for the DataNode's block report, hundreds of milliseconds on a stock cluster).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use lakesink_config::OffsetOutOfRange;
use lakesink_record::{RawBatch, TopicPartition};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::{PartitionWriter, SinkError, SinkSettings, now_ms};

/// A request from the consumer thread. Replies go back on the enclosed channels.
pub enum TaskEvent {
    Records(Vec<(TopicPartition, RawBatch)>),
    /// Recover these partitions (with the oldest offset Kafka still holds); reply with where
    /// each starts.
    Open {
        partitions: Vec<(TopicPartition, Option<i64>)>,
        reply: oneshot::Sender<Result<Vec<Start>, String>>,
    },
    /// Commit what is open for these partitions and let them go; reply with committed offsets.
    Close {
        partitions: Vec<TopicPartition>,
        reply: oneshot::Sender<Vec<(TopicPartition, i64)>>,
    },
    /// Close everything and end the loop.
    Shutdown {
        reply: oneshot::Sender<Vec<(TopicPartition, i64)>>,
    },
}

/// Where a partition starts once it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this offset recovered from storage; `None`: nothing in storage yet.
    At(Option<i64>),
    /// Storage could not be read (it is down or unreachable): the partition stays paused and
    /// is recovered again later ([`TaskStatus::reopen`]), for as long as that takes.
    Later,
}

/// What the task reports back to the consumer thread between requests.
#[derive(Debug, Default)]
pub struct TaskStatus {
    /// Committed next offsets, to commit to the consumer group (lag monitoring).
    pub committed: Vec<(TopicPartition, i64)>,
    /// Partitions whose writer stopped (fenced or storage error): recover and seek them
    /// again from the given instant if this worker still owns them.
    pub reopen: Vec<(TopicPartition, Instant)>,
    /// Why the task must stop (a record that cannot be written under errors.tolerance=none).
    pub failure: Option<String>,
}

pub type SharedStatus = Arc<Mutex<TaskStatus>>;

/// How long a fenced partition waits before trying to take it back: long enough for a
/// stale worker's consumer to notice it left the group, so two workers do not take turns.
const FENCED_REOPEN_DELAY: Duration = Duration::from_secs(15);
const OPEN_ATTEMPTS: u32 = 5;
/// Batches queued per partition before the task loop waits for it. The loop serves the
/// partitions in turn, so one partition waiting for a commit (an HDFS close takes about
/// half a second) stalls the others once its queue is full: the queues are long, and what
/// they hold is bounded in bytes across all partitions instead ([`IN_FLIGHT_KIB`]).
const PARTITION_QUEUE: usize = 64;
/// Record bytes (KiB) received from Kafka and not converted yet, across the task's
/// partitions. Reading stops while it is reached, whatever the number of partitions.
const IN_FLIGHT_KIB: usize = 32 * 1024;

fn with_status(status: &SharedStatus, f: impl FnOnce(&mut TaskStatus)) {
    match status.lock() {
        Ok(mut s) => f(&mut s),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

enum PartitionCommand {
    /// A batch with its share of the in-flight bound, released once it is written.
    Write(RawBatch, OwnedSemaphorePermit),
    /// Commit what is open and end; reply with the committed next offset.
    Close(oneshot::Sender<Option<i64>>),
    /// End without committing.
    Abandon,
}

struct PartitionHandle {
    commands: mpsc::Sender<PartitionCommand>,
    join: JoinHandle<()>,
}

/// Runs one partition's writer until it is closed, abandoned or fails.
async fn run_partition(
    mut writer: PartitionWriter,
    mut commands: mpsc::Receiver<PartitionCommand>,
    status: SharedStatus,
    settings: Arc<SinkSettings>,
) {
    let tp = writer.tp().clone();
    let report = |next: Option<i64>| {
        if let Some(n) = next {
            with_status(&status, |s| s.committed.push((tp.clone(), n)));
        }
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        let before = writer.committed_next();
        let outcome = tokio::select! {
            command = commands.recv() => match command {
                Some(PartitionCommand::Write(batch, _in_flight)) => writer.write(batch).await,
                Some(PartitionCommand::Close(reply)) => {
                    let result = writer.close().await;
                    match result {
                        Ok(next) => {
                            let _ = reply.send(next);
                        }
                        Err(e) => {
                            tracing::warn!(%tp, "could not commit open files on close: {e}; they will be consumed again");
                            let _ = reply.send(None);
                        }
                    }
                    return;
                }
                Some(PartitionCommand::Abandon) | None => {
                    writer.abandon().await;
                    return;
                }
            },
            // Scheduled rotation and the connector's limits also apply to idle partitions.
            _ = ticker.tick() => writer.tick(now_ms()).await,
        };
        match outcome {
            Ok(()) => {
                let after = writer.committed_next();
                if after != before {
                    report(after);
                }
            }
            Err(e) => break e,
        }
    };
    writer.abandon().await;
    if result.is_record_error() {
        let message = format!("task stopped: {result}");
        tracing::error!("{message}");
        with_status(&status, |s| {
            s.failure.get_or_insert(message);
        });
        return;
    }
    let delay = match &result {
        SinkError::Fenced { .. } => {
            tracing::error!(%tp, "{result}");
            FENCED_REOPEN_DELAY
        }
        _ => {
            tracing::warn!(%tp, "{result}; uncommitted records will be read again after {} ms", settings.retry_backoff_ms);
            Duration::from_millis(settings.retry_backoff_ms)
        }
    };
    with_status(&status, |s| {
        s.reopen.push((tp.clone(), Instant::now() + delay))
    });
}

struct Task {
    in_flight: Arc<Semaphore>,
    settings: Arc<SinkSettings>,
    partitions: HashMap<TopicPartition, PartitionHandle>,
    status: SharedStatus,
}

impl Task {
    fn failed(&self) -> bool {
        self.status
            .lock()
            .map(|s| s.failure.is_some())
            .unwrap_or(true)
    }

    async fn records(&mut self, batches: Vec<(TopicPartition, RawBatch)>) {
        if self.failed() {
            return;
        }
        for (tp, batch) in batches {
            // No writer: revoked, or stopped and waiting to be recovered; the records
            // will be consumed again from the recovered offset.
            if !self.partitions.contains_key(&tp) {
                continue;
            }
            let kib = (batch.data_len() / 1024).clamp(1, IN_FLIGHT_KIB) as u32;
            let Ok(permit) = self.in_flight.clone().acquire_many_owned(kib).await else {
                return; // never closed
            };
            let Some(handle) = self.partitions.get(&tp) else {
                continue;
            };
            if handle
                .commands
                .send(PartitionCommand::Write(batch, permit))
                .await
                .is_err()
            {
                // The partition's writer ended after an error it has reported.
                self.partitions.remove(&tp);
            }
        }
    }

    async fn open(
        &mut self,
        partitions: Vec<(TopicPartition, Option<i64>)>,
    ) -> Result<Vec<Start>, String> {
        if self.failed() {
            return Err("the task has stopped after an error".into());
        }
        for (tp, _) in &partitions {
            if let Some(old) = self.partitions.remove(tp) {
                let _ = old.commands.send(PartitionCommand::Abandon).await;
                let _ = old.join.await;
            }
        }
        // Recover concurrently: each recovery is a few round trips to the NameNode.
        let settings = self.settings.clone();
        let recovered = join_all(
            partitions
                .iter()
                .map(|(tp, low)| open_one(settings.clone(), tp.clone(), *low)),
        )
        .await;
        let mut starts = Vec::with_capacity(partitions.len());
        let mut first_error = None;
        for ((tp, _), result) in partitions.iter().zip(recovered) {
            match result {
                Ok((writer, start)) => {
                    let tp = writer.tp().clone();
                    if let Some(n) = start {
                        with_status(&self.status, |s| s.committed.push((tp.clone(), n)));
                    }
                    let (commands, receiver) = mpsc::channel(PARTITION_QUEUE);
                    let join = tokio::spawn(run_partition(
                        writer,
                        receiver,
                        self.status.clone(),
                        self.settings.clone(),
                    ));
                    self.partitions
                        .insert(tp, PartitionHandle { commands, join });
                    starts.push(Start::At(start));
                }
                Err(OpenFailure::Storage(e)) => {
                    let delay = Duration::from_millis(self.settings.retry_backoff_ms);
                    tracing::warn!(%tp, "{e}; the partition waits and is recovered again in {} ms", delay.as_millis());
                    with_status(&self.status, |s| {
                        s.reopen.push((tp.clone(), Instant::now() + delay))
                    });
                    starts.push(Start::Later);
                }
                Err(OpenFailure::Fatal(e)) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(starts),
        }
    }

    async fn close(
        &mut self,
        partitions: &[TopicPartition],
        deadline: Instant,
    ) -> Vec<(TopicPartition, i64)> {
        let mut waiting = Vec::new();
        for tp in partitions {
            let Some(handle) = self.partitions.remove(tp) else {
                continue;
            };
            let (reply, answer) = oneshot::channel();
            if handle
                .commands
                .send(PartitionCommand::Close(reply))
                .await
                .is_ok()
            {
                waiting.push((tp.clone(), answer, handle.join));
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let results = join_all(waiting.into_iter().map(|(tp, answer, join)| async move {
            match tokio::time::timeout(remaining, answer).await {
                Ok(Ok(Some(next))) => Some((tp, next)),
                Ok(_) => None,
                Err(_) => {
                    join.abort();
                    tracing::warn!(%tp, "committing open files on close took longer than shutdown.timeout.ms; they will be consumed again");
                    None
                }
            }
        }))
        .await;
        results.into_iter().flatten().collect()
    }
}

/// Why a partition could not be opened.
enum OpenFailure {
    /// Storage could not be read or written: retried later, for as long as it takes.
    Storage(String),
    /// Retrying cannot help (a damaged commit log, a layout that does not resolve, records
    /// deleted by retention under `lakesink.offset.out.of.range=fail`): the task stops.
    Fatal(String),
}

impl OpenFailure {
    /// `message` about `error`, classed by whether retrying later may cure it.
    fn of(error: &SinkError, message: String) -> OpenFailure {
        if error.is_storage() {
            OpenFailure::Storage(message)
        } else {
            OpenFailure::Fatal(message)
        }
    }
}

/// Recovers one partition and applies the retention policy to where it starts.
async fn open_one(
    settings: Arc<SinkSettings>,
    tp: TopicPartition,
    low_watermark: Option<i64>,
) -> Result<(PartitionWriter, Option<i64>), OpenFailure> {
    let mut attempt = 0;
    let (mut writer, recovery) = loop {
        attempt += 1;
        match PartitionWriter::open(settings.clone(), tp.clone()).await {
            Ok(ok) => break ok,
            Err(e) if attempt < OPEN_ATTEMPTS => {
                tracing::warn!(%tp, attempt, "recovery failed: {e}; retrying in {} ms", settings.retry_backoff_ms);
                tokio::time::sleep(Duration::from_millis(settings.retry_backoff_ms)).await;
            }
            Err(e) => {
                let message = format!("{tp}: recovery failed after {attempt} attempts: {e}");
                return Err(OpenFailure::of(&e, message));
            }
        }
    };
    tracing::info!(
        %tp,
        next_offset = ?recovery.next_offset,
        epoch = recovery.epoch,
        renames_finished = recovery.renames_finished,
        corrupt_records = recovery.corrupt_records,
        "partition recovered"
    );
    let mut start = recovery.next_offset;
    if let (Some(next), Some(low)) = (start, low_watermark)
        && next < low
    {
        match settings.offset_out_of_range {
            OffsetOutOfRange::Earliest => {
                tracing::error!(
                    %tp,
                    "records at offsets {next}..{} were deleted by Kafka retention before they were written; continuing from offset {low} (lakesink.offset.out.of.range=earliest)",
                    low - 1
                );
                writer
                    .skip_to(low)
                    .await
                    .map_err(|e| OpenFailure::of(&e, format!("{tp}: {e}")))?;
                start = Some(low);
            }
            OffsetOutOfRange::Fail => {
                return Err(OpenFailure::Fatal(format!(
                    "{tp}: the next offset to write, {next}, was deleted by Kafka retention (oldest available: {low}); set lakesink.offset.out.of.range=earliest to continue from {low}"
                )));
            }
        }
    }
    Ok((writer, start))
}

/// Runs a task until it receives `Shutdown` (or its sender is dropped).
pub async fn run_task(
    settings: Arc<SinkSettings>,
    mut events: mpsc::Receiver<TaskEvent>,
    status: SharedStatus,
) {
    let mut task = Task {
        in_flight: Arc::new(Semaphore::new(IN_FLIGHT_KIB)),
        settings,
        partitions: HashMap::new(),
        status,
    };
    let close_budget = Duration::from_millis(task.settings.shutdown_timeout_ms.max(1000));
    while let Some(event) = events.recv().await {
        match event {
            TaskEvent::Records(batches) => task.records(batches).await,
            TaskEvent::Open { partitions, reply } => {
                let _ = reply.send(task.open(partitions).await);
            }
            TaskEvent::Close { partitions, reply } => {
                let _ = reply.send(task.close(&partitions, Instant::now() + close_budget).await);
            }
            TaskEvent::Shutdown { reply } => {
                let all: Vec<TopicPartition> = task.partitions.keys().cloned().collect();
                let _ = reply.send(task.close(&all, Instant::now() + close_budget).await);
                return;
            }
        }
    }
    let all: Vec<TopicPartition> = task.partitions.keys().cloned().collect();
    task.close(&all, Instant::now() + close_budget).await;
}
