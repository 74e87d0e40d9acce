//! What the sink reports through the `metrics` facade: records and files committed, bytes
//! written, commit latency and dead letters. Who exports them (and how) is not the sink's
//! business; without a recorder installed these are no-ops.

use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::dead_letters::Stage;

/// One task's handles, labelled with its connector and task number.
#[derive(Clone)]
pub struct SinkMetrics {
    labels: Vec<(&'static str, String)>,
    records_sent: Counter,
    files: Counter,
    bytes: Counter,
    commit_seconds: Histogram,
}

impl Default for SinkMetrics {
    fn default() -> Self {
        SinkMetrics::new("", 0, "")
    }
}

impl std::fmt::Debug for SinkMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkMetrics")
            .field("labels", &self.labels)
            .finish()
    }
}

impl SinkMetrics {
    /// `format` is the extension of the files written (`avro`, `parquet`, `json`, `txt`).
    pub fn new(connector: &str, task: usize, format: &str) -> SinkMetrics {
        let labels = vec![
            ("connector", connector.to_string()),
            ("task", task.to_string()),
        ];
        let mut with_format = labels.clone();
        with_format.push(("format", format.to_string()));
        SinkMetrics {
            records_sent: metrics::counter!(
                "kafka_connect_sink_task_sink_record_send_total",
                &labels
            ),
            files: metrics::counter!("lakesink_files_committed_total", &with_format),
            bytes: metrics::counter!("lakesink_bytes_committed_total", &with_format),
            commit_seconds: metrics::histogram!("lakesink_commit_duration_seconds", &labels),
            labels,
        }
    }

    /// A commit published: its files, records and bytes, and how long it took from sealing.
    pub fn committed(&self, files: usize, records: u64, bytes: u64, took: Duration) {
        self.records_sent.increment(records);
        self.files.increment(files as u64);
        self.bytes.increment(bytes);
        self.commit_seconds.record(took.as_secs_f64());
    }

    /// Records set aside at `stage`; `queued` when the dead-letter queue took them.
    pub fn dead_letters(&self, stage: Stage, records: u64, queued: bool) {
        let mut labels = self.labels.clone();
        labels.push(("stage", stage.name().to_string()));
        metrics::counter!("lakesink_dead_letters_total", &labels).increment(records);
        metrics::counter!(
            "kafka_connect_task_error_total_records_skipped",
            &self.labels
        )
        .increment(records);
        if queued {
            metrics::counter!(
                "kafka_connect_task_error_deadletterqueue_produce_requests",
                &self.labels
            )
            .increment(records);
        }
    }

    /// A dead-letter send that failed.
    pub fn dead_letter_failure(&self) {
        metrics::counter!(
            "kafka_connect_task_error_deadletterqueue_produce_failures",
            &self.labels
        )
        .increment(1);
    }
}
