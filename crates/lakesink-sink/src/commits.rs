//! A partition's commits running in the background, in order.
//!
//! Owns: the chain of background commits of one partition writer, and what their files still
//! hold (memory, open storage files) until they are written and closed.
//!
//! Must not touch: the commit protocol itself (`lakesink-commit`), formats, records.
//!
//! A commit writes and closes its files and stages its record (a small file, closed too),
//! then publishes the record. An HDFS close waits for the DataNode's block report (half a
//! second whenever it is not in yet), so a partition that fills files faster than one commit
//! takes would wait for the previous commit at every file. Instead each commit starts writing
//! and closing its files at once, and stages its record as soon as the commit before it has
//! staged its own, on the state that one leaves ([`lakesink_commit::Stager`]); only the
//! publishing waits for the commit before it. The log passes from one commit to the next, so
//! records are still published one at a time and in order, and a commit whose predecessor
//! failed publishes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use lakesink_commit::{PartitionLog, StagePoint};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::SinkError;

/// Commits of one partition running at the same time. Beyond it the writer waits for the
/// ones under way: each holds its files' storage streams until they are closed.
pub(crate) const MAX_COMMITS_IN_FLIGHT: usize = 3;

/// What a background commit hands back: the log (unless a task it waited for was lost) and
/// the commit's result.
pub(crate) type CommitOutcome = (Option<PartitionLog>, Result<(), SinkError>);

/// Where a commit gets the log from: the writer, or the commit before it once that ends.
pub(crate) enum LogSource {
    Ready(Box<PartitionLog>),
    After(JoinHandle<CommitOutcome>),
}

impl LogSource {
    /// The log, once every earlier commit has been published. `Err` carries the outcome this
    /// commit must end with instead: an earlier commit failed, so nothing after it may be
    /// published.
    pub(crate) async fn log(self) -> Result<PartitionLog, CommitOutcome> {
        match self {
            LogSource::Ready(log) => Ok(*log),
            LogSource::After(previous) => match previous.await {
                Ok((Some(log), Ok(()))) => Ok(log),
                Ok((log, Err(e))) => Err((log, Err(e))),
                Ok((None, Ok(()))) => Err((
                    None,
                    Err(SinkError::Internal("commit log lost".to_string())),
                )),
                Err(e) => Err((None, Err(SinkError::Internal(format!("commit task: {e}"))))),
            },
        }
    }
}

/// What the partition's background commits still hold: bytes and open storage files,
/// released file by file as each is written (bytes) and closed (files), not when the whole
/// commit ends; and how many commits still run.
#[derive(Debug, Default)]
pub(crate) struct CommitLoad {
    bytes: AtomicU64,
    files: AtomicUsize,
    running: AtomicUsize,
    /// Notified whenever bytes are written or a commit ends.
    changed: Notify,
}

impl CommitLoad {
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    pub(crate) fn files(&self) -> usize {
        self.files.load(Ordering::Acquire)
    }

    /// Counts a file handed to a commit; the returned guard gives it back.
    pub(crate) fn hold(self: &Arc<Self>, bytes: u64) -> HeldFile {
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        self.files.fetch_add(1, Ordering::AcqRel);
        HeldFile {
            load: self.clone(),
            bytes,
            open: true,
        }
    }

    /// Commits that have started and not ended yet.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Counts a commit that starts; the returned guard, moved into the commit's task, counts
    /// it out when the task ends (however it ends).
    pub(crate) fn begin_commit(self: &Arc<Self>) -> RunningCommit {
        self.running.fetch_add(1, Ordering::AcqRel);
        RunningCommit { load: self.clone() }
    }

    /// Waits until every file handed to a commit so far has been written to storage (its
    /// bytes left memory), however long their closes take.
    pub(crate) async fn written(&self) {
        self.wait_until(|load| load.bytes() == 0).await;
    }

    /// Waits until fewer than `max` commits run.
    pub(crate) async fn fewer_running_than(&self, max: usize) {
        self.wait_until(|load| load.running() < max).await;
    }

    async fn wait_until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }
}

/// One running commit, counted in its writer's [`CommitLoad`] until dropped.
pub(crate) struct RunningCommit {
    load: Arc<CommitLoad>,
}

impl Drop for RunningCommit {
    fn drop(&mut self) {
        self.load.running.fetch_sub(1, Ordering::AcqRel);
        self.load.changed.notify_waiters();
    }
}

/// One file of a background commit, counted in its writer's [`CommitLoad`] until it is
/// written and closed, or dropped (its commit failed).
pub(crate) struct HeldFile {
    load: Arc<CommitLoad>,
    bytes: u64,
    open: bool,
}

impl HeldFile {
    /// The file's bytes are in storage.
    pub(crate) fn written(&mut self) {
        if self.bytes > 0 {
            self.load.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
            self.bytes = 0;
            self.load.changed.notify_waiters();
        }
    }

    /// The file is closed.
    pub(crate) fn closed(&mut self) {
        self.written();
        if self.open {
            self.load.files.fetch_sub(1, Ordering::AcqRel);
            self.open = false;
        }
    }
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        self.closed();
    }
}

/// The newest commit's task, and where it will tell the state its staged record leaves.
pub(crate) struct Newest {
    pub(crate) task: JoinHandle<CommitOutcome>,
    pub(crate) staged: Option<oneshot::Receiver<StagePoint>>,
}

/// The partition's background commits: only the newest is held, as each one waits for the
/// one before it.
#[derive(Default)]
pub(crate) struct Commits {
    newest: Option<Newest>,
    pub(crate) load: Arc<CommitLoad>,
}

impl Commits {
    /// Whether any commit is under way (or finished without being taken back).
    pub(crate) fn any(&self) -> bool {
        self.newest.is_some()
    }

    /// Whether every commit under way has ended.
    pub(crate) fn all_done(&self) -> bool {
        self.newest.as_ref().is_some_and(|n| n.task.is_finished())
    }

    /// Waits until the partition may start one more commit.
    pub(crate) async fn room(&self) {
        self.load.fewer_running_than(MAX_COMMITS_IN_FLIGHT).await;
    }

    /// What the next commit follows: the newest commit, if one is under way.
    pub(crate) fn take_newest(&mut self) -> Option<Newest> {
        self.newest.take()
    }

    /// Records a commit just started, which waits for the one before it. Its task holds a
    /// [`RunningCommit`] from [`CommitLoad::begin_commit`]; `staged` receives the state its
    /// record leaves once staged.
    pub(crate) fn started(
        &mut self,
        task: JoinHandle<CommitOutcome>,
        staged: Option<oneshot::Receiver<StagePoint>>,
    ) {
        self.newest = Some(Newest { task, staged });
    }

    /// Waits for every commit under way; returns the newest one's outcome, which is the
    /// first failure among them, if any.
    pub(crate) async fn settle(&mut self) -> Option<CommitOutcome> {
        let newest = self.newest.take()?;
        Some(match newest.task.await {
            Ok(outcome) => outcome,
            Err(e) => (None, Err(SinkError::Internal(format!("commit task: {e}")))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_files_are_released_when_written_and_closed_or_dropped() {
        let load = Arc::new(CommitLoad::default());
        let mut a = load.hold(100);
        let b = load.hold(50);
        assert_eq!((load.bytes(), load.files()), (150, 2));
        a.written();
        assert_eq!((load.bytes(), load.files()), (50, 2));
        let waiting = tokio::spawn({
            let load = load.clone();
            async move { load.written().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "b's bytes are still held");
        drop(b);
        waiting.await.ok();
        assert_eq!((load.bytes(), load.files()), (0, 1));
        a.closed();
        a.closed();
        assert_eq!((load.bytes(), load.files()), (0, 0));
    }

    #[tokio::test]
    async fn room_for_a_commit_comes_when_one_of_those_running_ends() {
        let commits = Commits::default();
        let mut running: Vec<_> = (0..MAX_COMMITS_IN_FLIGHT)
            .map(|_| commits.load.begin_commit())
            .collect();
        let load = commits.load.clone();
        let waiting =
            tokio::spawn(async move { load.fewer_running_than(MAX_COMMITS_IN_FLIGHT).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(running.pop());
        waiting.await.ok();
        assert_eq!(commits.load.running(), MAX_COMMITS_IN_FLIGHT - 1);
        drop(running);
        assert_eq!(commits.load.running(), 0);
    }
}
