//! The open-file, memory and storage-concurrency limits shared by all partition writers of a
//! connector in this worker (`lakesink.max.open.files`, `lakesink.max.buffered.bytes`,
//! `lakesink.storage.concurrency`).
//!
//! Each writer publishes what it holds; while the connector is over three quarters of a
//! limit, a writer holding more than its fair share (limit / writers)
//! gives back the excess on its next batch or tick, by moving large files to storage,
//! compacting them, or committing files early. Since the shares add up to the limit, some
//! writer is always over its share while the connector is over the limit, so the total comes
//! back under it without any writer waiting on another. Between checks writers grow
//! concurrently, so the total can pass the limit by what they add in one batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Debug)]
pub struct Budget {
    /// Files being created, written at commit, or closed in storage at the same time.
    pub(crate) storage_slots: tokio::sync::Semaphore,
    max_open_files: usize,
    max_buffered_bytes: u64,
    open_files: AtomicUsize,
    buffered_bytes: AtomicU64,
    writers: AtomicUsize,
    /// What the writers held at the end of their last batch, after the limits were applied
    /// (the sum of their settled states), and the most that ever was.
    settled_files: AtomicUsize,
    settled_bytes: AtomicU64,
    peak_settled_files: AtomicUsize,
    peak_settled_bytes: AtomicU64,
}

/// What a connector held at most, between batches, against its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peaks {
    pub open_files: usize,
    pub buffered_bytes: u64,
    pub max_open_files: usize,
    pub max_buffered_bytes: u64,
}

impl Budget {
    pub fn new(
        max_open_files: usize,
        max_buffered_bytes: u64,
        storage_concurrency: usize,
    ) -> Arc<Budget> {
        Arc::new(Budget {
            storage_slots: tokio::sync::Semaphore::new(storage_concurrency.max(1)),
            max_open_files: max_open_files.max(1),
            max_buffered_bytes: max_buffered_bytes.max(1),
            open_files: AtomicUsize::new(0),
            buffered_bytes: AtomicU64::new(0),
            writers: AtomicUsize::new(0),
            settled_files: AtomicUsize::new(0),
            settled_bytes: AtomicU64::new(0),
            peak_settled_files: AtomicUsize::new(0),
            peak_settled_bytes: AtomicU64::new(0),
        })
    }

    /// The most the connector's writers held together, each counted as it was at the end of
    /// its last batch (limits are applied per batch: a batch in progress may open files or
    /// buffer rows beyond them until it ends).
    pub fn peaks(&self) -> Peaks {
        Peaks {
            open_files: self.peak_settled_files.load(Ordering::Relaxed),
            buffered_bytes: self.peak_settled_bytes.load(Ordering::Relaxed),
            max_open_files: self.max_open_files,
            max_buffered_bytes: self.max_buffered_bytes,
        }
    }

    /// Files open across the connector's writers.
    pub fn open_files(&self) -> usize {
        self.open_files.load(Ordering::Relaxed)
    }

    /// Bytes held in memory across the connector's writers.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered_bytes.load(Ordering::Relaxed)
    }

    /// Whether the connector holds less than three quarters of its memory and open-file
    /// limits (below that, no writer is asked to give anything back).
    pub(crate) fn has_room(&self) -> bool {
        self.buffered_bytes() <= self.max_buffered_bytes - self.max_buffered_bytes / 4
            && self.has_file_room()
    }

    /// Whether the connector holds less than three quarters of its open-file limit.
    pub(crate) fn has_file_room(&self) -> bool {
        self.open_files() <= self.max_open_files - self.max_open_files / 4
    }
}

/// One writer's part of a [`Budget`]; released when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    budget: Arc<Budget>,
    files: usize,
    bytes: u64,
    settled_files: usize,
    settled_bytes: u64,
}

fn adjust_usize(counter: &AtomicUsize, from: usize, to: usize) {
    if to >= from {
        counter.fetch_add(to - from, Ordering::Relaxed);
    } else {
        counter.fetch_sub(from - to, Ordering::Relaxed);
    }
}

fn adjust_u64(counter: &AtomicU64, from: u64, to: u64) {
    if to >= from {
        counter.fetch_add(to - from, Ordering::Relaxed);
    } else {
        counter.fetch_sub(from - to, Ordering::Relaxed);
    }
}

/// What a writer should give back now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Excess {
    pub files: usize,
    pub bytes: u64,
}

impl Share {
    pub fn join(budget: Arc<Budget>) -> Share {
        budget.writers.fetch_add(1, Ordering::Relaxed);
        Share {
            budget,
            files: 0,
            bytes: 0,
            settled_files: 0,
            settled_bytes: 0,
        }
    }

    /// Publishes what this writer holds now.
    pub fn update(&mut self, files: usize, bytes: u64) {
        adjust_usize(&self.budget.open_files, self.files, files);
        adjust_u64(&self.budget.buffered_bytes, self.bytes, bytes);
        self.files = files;
        self.bytes = bytes;
    }

    /// Records what this writer holds now that a batch has been handled.
    pub fn settled(&mut self) {
        let b = &self.budget;
        adjust_usize(&b.settled_files, self.settled_files, self.files);
        adjust_u64(&b.settled_bytes, self.settled_bytes, self.bytes);
        self.settled_files = self.files;
        self.settled_bytes = self.bytes;
        b.peak_settled_files
            .fetch_max(b.settled_files.load(Ordering::Relaxed), Ordering::Relaxed);
        b.peak_settled_bytes
            .fetch_max(b.settled_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    pub fn excess(&self) -> Excess {
        let b = &self.budget;
        let writers = b.writers.load(Ordering::Relaxed).max(1);
        let mut excess = Excess::default();
        if b.open_files() > b.max_open_files - b.max_open_files / 4 {
            // Every writer may keep one file: it is writing to it.
            let fair = (b.max_open_files / writers).max(1);
            excess.files = self.files.saturating_sub(fair);
        }
        // From three quarters of the limit on, every writer keeps to its share: writers grow
        // concurrently between their checks, and waiting until the limit itself is crossed
        // lets all of them settle above their shares at once.
        if b.buffered_bytes() > b.max_buffered_bytes - b.max_buffered_bytes / 4 {
            let fair = b.max_buffered_bytes / writers as u64;
            excess.bytes = self.bytes.saturating_sub(fair);
        }
        excess
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.update(0, 0);
        self.settled();
        self.budget.writers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writers_above_their_share_give_back() {
        let budget = Budget::new(10, 1000, 4);
        let mut a = Share::join(budget.clone());
        let mut b = Share::join(budget.clone());
        a.update(4, 100);
        b.update(5, 800);
        assert_eq!(a.excess(), Excess::default(), "a holds less than its share");
        b.update(8, 1200);
        // 12 files > 8 (3/4 of 10, rounded up): fair share 5; 1300 bytes > 750: fair share 500.
        assert_eq!(a.excess(), Excess { files: 0, bytes: 0 });
        assert_eq!(
            b.excess(),
            Excess {
                files: 3,
                bytes: 700
            }
        );
        drop(b);
        assert_eq!(budget.open_files(), 4);
        assert_eq!(budget.buffered_bytes(), 100);
        assert_eq!(a.excess(), Excess::default());
    }
}
