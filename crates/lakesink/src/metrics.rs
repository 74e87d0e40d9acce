//! The process's metrics recorder: the data path's counters and gauges (recorded through
//! the `metrics` facade) rendered in Prometheus text after the runtime's status families.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use lakesink_connect::Herder;
use lakesink_record::TopicPartition;
use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

/// Series of revoked partitions disappear after this long without an update.
const IDLE_SERIES: Duration = Duration::from_secs(60);

pub struct Metrics {
    handle: PrometheusHandle,
}

/// Installs the global recorder; call once per process.
pub fn install() -> Result<Metrics> {
    let handle = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(IDLE_SERIES))
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
