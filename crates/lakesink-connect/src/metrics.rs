//! The runtime's metrics in Prometheus text format, under the names Strimzi's JMX-exporter
//! rules give Kafka Connect's MBeans (`kafka_connect_worker_*`, `kafka_connect_connector_*`),
//! so existing dashboards keep working.
//!
//! These families are rendered from a herder snapshot at scrape time, not kept as series: a
//! deleted connector or a task that changed state leaves no stale `status` series behind.
//! The data path's counters (records, files, bytes, lag) come from the `metrics` facade and
//! are appended by whoever serves `/metrics`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::herder::{Herder, State};

/// Escapes a label value (`\`, `"` and newlines), as the text format requires.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn status_label(s: State) -> String {
    s.as_str().to_ascii_lowercase()
}

/// The worker, connector and task status families of this worker.
pub fn render(herder: &Herder) -> String {
    let views = herder.views();
    let mut out = String::new();
    let mut f = Family { out: &mut out };

    let task_count: usize = views.iter().map(|v| v.tasks.len()).sum();
    f.head(
        "kafka_connect_worker_connector_count",
        "gauge",
        "The number of connectors run in this worker.",
    );
    f.sample(
        "kafka_connect_worker_connector_count",
        &[],
        views.len() as f64,
    );
    f.head(
        "kafka_connect_worker_task_count",
        "gauge",
        "The number of tasks run in this worker.",
    );
    f.sample("kafka_connect_worker_task_count", &[], task_count as f64);

    let c = &herder.counters;
    for (name, help, value) in [
        (
            "kafka_connect_worker_connector_startup_attempts_total",
            "Connector starts attempted.",
            &c.connector_startup_attempts,
        ),
        (
            "kafka_connect_worker_connector_startup_success_total",
            "Connector starts that succeeded.",
            &c.connector_startup_success,
        ),
        (
            "kafka_connect_worker_connector_startup_failure_total",
            "Connector starts that failed.",
            &c.connector_startup_failure,
        ),
        (
            "kafka_connect_worker_task_startup_attempts_total",
            "Task starts attempted.",
            &c.task_startup_attempts,
        ),
        (
            "kafka_connect_worker_task_startup_success_total",
            "Task starts that succeeded.",
            &c.task_startup_success,
        ),
        (
            "kafka_connect_worker_task_startup_failure_total",
            "Task starts that failed.",
            &c.task_startup_failure,
        ),
    ] {
        f.head(name, "counter", help);
        f.sample(name, &[], value.load(Ordering::Relaxed) as f64);
    }

    let per_connector_counts: [(&str, Option<State>); 6] = [
        ("kafka_connect_worker_connector_total_task_count", None),
        (
            "kafka_connect_worker_connector_running_task_count",
            Some(State::Running),
        ),
        (
            "kafka_connect_worker_connector_paused_task_count",
            Some(State::Paused),
        ),
        (
            "kafka_connect_worker_connector_failed_task_count",
            Some(State::Failed),
        ),
        (
            "kafka_connect_worker_connector_unassigned_task_count",
            Some(State::Unassigned),
        ),
        (
            "kafka_connect_worker_connector_restarting_task_count",
            Some(State::Restarting),
        ),
    ];
    for (name, state) in per_connector_counts {
        f.head(
            name,
            "gauge",
            "Tasks of the connector in this worker, by state.",
        );
        for v in &views {
            let n = v
                .tasks
                .iter()
                .filter(|(_, s)| state.is_none_or(|st| s.state == st))
                .count();
            f.sample(name, &[("connector", &v.name)], n as f64);
        }
    }

    f.head(
        "kafka_connect_connector_status",
        "gauge",
        "1 for the connector's current state.",
    );
    for v in &views {
        f.sample(
            "kafka_connect_connector_status",
            &[
                ("connector", &v.name),
                ("status", &status_label(v.connector.state)),
            ],
            1.0,
        );
    }
    f.head(
        "kafka_connect_connector_connector_class",
        "gauge",
        "1, labelled with the connector's class.",
    );
    for v in &views {
        let class = v
            .config
            .get("connector.class")
            .map(String::as_str)
            .unwrap_or("");
        f.sample(
            "kafka_connect_connector_connector_class",
            &[("connector", &v.name), ("connector_class", class)],
            1.0,
        );
    }
    f.head(
        "kafka_connect_connector_connector_type",
        "gauge",
        "1, labelled with the connector's type.",
    );
    for v in &views {
        f.sample(
            "kafka_connect_connector_connector_type",
            &[("connector", &v.name), ("connector_type", "sink")],
            1.0,
        );
    }
    f.head(
        "kafka_connect_connector_connector_version",
        "gauge",
        "1, labelled with the connector's version.",
    );
    for v in &views {
        f.sample(
            "kafka_connect_connector_connector_version",
            &[
                ("connector", &v.name),
                ("connector_version", crate::plugins::VERSION),
            ],
            1.0,
        );
    }
    f.head(
        "kafka_connect_connector_task_status",
        "gauge",
        "1 for each task's current state.",
    );
    for v in &views {
        for (id, s) in &v.tasks {
            f.sample(
                "kafka_connect_connector_task_status",
                &[
                    ("connector", &v.name),
                    ("task", &id.to_string()),
                    ("status", &status_label(s.state)),
                ],
                1.0,
            );
        }
    }
    f.head(
        "lakesink_task_restarts_total",
        "counter",
        "Failed tasks restarted by the restart policy.",
    );
    for v in &views {
        f.sample(
            "lakesink_task_restarts_total",
            &[("connector", &v.name)],
            v.task_restarts as f64,
        );
    }
    out
}
