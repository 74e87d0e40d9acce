//! The process's metrics recorder: the data path's counters and gauges (recorded through
//! the `metrics` facade) rendered in Prometheus text after the runtime's status families.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lakesink_connect::Herder;
use lakesink_record::TopicPartition;
use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

/// From a small file on a local disk to a slow HDFS close (the block report wait).
const COMMIT_SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Series of revoked partitions disappear after this long without an update.
const IDLE_SERIES: Duration = Duration::from_secs(60);

pub struct Metrics {
    handle: PrometheusHandle,
}

/// Installs the global recorder; call once per process.
pub fn install() -> Result<Metrics> {
    let handle = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(IDLE_SERIES))
        .set_buckets_for_metric(
            Matcher::Full("lakesink_commit_duration_seconds".into()),
            COMMIT_SECONDS_BUCKETS,
        )?
        .install_recorder()?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        })?;
    Ok(Metrics { handle })
}

impl Metrics {
    /// What `GET /metrics` serves.
    pub fn renderer(&self, herder: Herder) -> Arc<dyn Fn() -> String + Send + Sync> {
        let handle = self.handle.clone();
        Arc::new(move || {
            let mut out = lakesink_connect::metrics::render(&herder);
            out.push_str(&handle.render());
            out
        })
    }
}

/// The consumer side of one task's metrics, under Connect's `sink-task-metrics` names.
pub struct TaskMetrics {
    connector: String,
    task: String,
    read: Counter,
    partition_count: Gauge,
    lag_max: Gauge,
    commits: Counter,
}

impl TaskMetrics {
    pub fn new(connector: &str, task: usize) -> TaskMetrics {
        let labels = [
            ("connector", connector.to_string()),
            ("task", task.to_string()),
        ];
        TaskMetrics {
            connector: connector.to_string(),
            task: task.to_string(),
            read: metrics::counter!("kafka_connect_sink_task_sink_record_read_total", &labels),
            partition_count: metrics::gauge!("kafka_connect_sink_task_partition_count", &labels),
            lag_max: metrics::gauge!("kafka_connect_sink_task_sink_record_lag_max", &labels),
            commits: metrics::counter!(
                "kafka_connect_sink_task_offset_commit_completion_total",
                &labels
            ),
        }
    }

    pub fn read(&self, records: u64) {
        if records > 0 {
            self.read.increment(records);
        }
    }

    fn partition_labels(&self, tp: &TopicPartition) -> [(&'static str, String); 4] {
        [
            ("connector", self.connector.clone()),
            ("task", self.task.clone()),
            ("topic", tp.topic.to_string()),
            ("partition", tp.partition.to_string()),
        ]
    }

    /// The assignment's size and, when known, every partition's lag.
    pub fn lags(&self, partitions: usize, lags: Option<&[(TopicPartition, i64)]>) {
        self.partition_count.set(partitions as f64);
        let Some(lags) = lags else { return };
        let max = lags.iter().map(|(_, l)| *l).max().unwrap_or(0);
        self.lag_max.set(max as f64);
        for (tp, lag) in lags {
            metrics::gauge!("lakesink_partition_lag_records", &self.partition_labels(tp))
                .set(*lag as f64);
        }
    }

    /// Offsets the sink has committed to storage (the next offset of each partition).
    pub fn committed(&self, offsets: &[(TopicPartition, i64)]) {
        if offsets.is_empty() {
            return;
        }
        self.commits.increment(1);
        for (tp, next) in offsets {
            metrics::gauge!(
                "lakesink_partition_committed_offset",
                &self.partition_labels(tp)
            )
            .set(*next as f64);
        }
    }
}

/// Reports a connector's open files and buffered bytes against their limits every second,
/// until the returned guard is dropped.
pub fn watch_budget(
    connector: &str,
    budget: std::sync::Arc<lakesink_sink::Budget>,
    max_open_files: usize,
    max_buffered_bytes: u64,
    runtime: &tokio::runtime::Handle,
) -> tokio::task::AbortHandle {
    let labels = [("connector", connector.to_string())];
    let open = metrics::gauge!("lakesink_open_files", &labels);
    let open_max = metrics::gauge!("lakesink_open_files_limit", &labels);
    let buffered = metrics::gauge!("lakesink_buffered_bytes", &labels);
    let buffered_max = metrics::gauge!("lakesink_buffered_bytes_limit", &labels);
    runtime
        .spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                open.set(budget.open_files() as f64);
                open_max.set(max_open_files as f64);
                buffered.set(budget.buffered_bytes() as f64);
                buffered_max.set(max_buffered_bytes as f64);
            }
        })
        .abort_handle()
}
