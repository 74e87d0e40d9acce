//! Records that cannot be written, under Kafka Connect's `errors.*` keys.
//!
//! Owns: what a tolerated record becomes — a [`DeadLetter`] with the original key, value and
//! headers, the stage that failed and why, and Connect's `__connect.errors.*` context
//! headers — and the rule that every one is logged or acknowledged by the dead-letter queue
//! before the offsets after it are committed ([`ErrorReporter::report`]).
//!
//! Must not touch: Kafka. The queue itself is a [`DeadLetterQueue`] the runtime provides.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use lakesink_config::ErrorHandling;
use lakesink_record::{RawRecord, TopicPartition};

/// Connect's error-handling stages (`org.apache.kafka.connect.runtime.errors.Stage`) that
/// Lakesink's failures map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The key's deserialization and conversion (Connect converts the key first).
    KeyConverter,
    /// Deserialization, schema lookup, conversion to the Connect data model.
    ValueConverter,
    /// A single message transform.
    Transformation,
    /// Inside the sink: partitioning, writing.
    TaskPut,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::Transformation => "TRANSFORMATION",
            Stage::TaskPut => "TASK_PUT",
        }
    }
}

/// A record set aside, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The record's own headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub stage: Stage,
    /// The Java class of the component that failed (converter, partitioner or format).
    pub class_name: Cow<'static, str>,
    /// The Java exception class Connect would report for this failure.
    pub exception_class: &'static str,
    pub message: String,
}

impl DeadLetter {
    pub fn new(
        tp: &TopicPartition,
        record: &RawRecord<'_>,
        stage: Stage,
        class_name: impl Into<Cow<'static, str>>,
        exception_class: &'static str,
        message: String,
    ) -> DeadLetter {
        DeadLetter {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers: record
                .headers()
                .map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec)))
                .collect(),
            stage,
            class_name: class_name.into(),
            exception_class,
            message,
        }
    }

    /// The headers of the dead-letter record: the original ones, then (if enabled)
    /// Connect's context headers (`DeadLetterQueueReporter`), values as UTF-8 text.
    pub fn output_headers(
        &self,
        context: bool,
        connector: &str,
        task_id: usize,
    ) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = self.headers.clone();
        if context {
            let p = "__connect.errors.";
            let mut add = |name: &str, value: String| {
                out.push((format!("{p}{name}"), Some(value.into_bytes())));
            };
            add("topic", self.topic.clone());
            add("partition", self.partition.to_string());
            add("offset", self.offset.to_string());
            add("connector.name", connector.to_string());
            add("task.id", task_id.to_string());
            add("stage", self.stage.name().to_string());
            add("class.name", self.class_name.to_string());
            add("exception.class.name", self.exception_class.to_string());
            add("exception.message", self.message.clone());
            // No Java stack exists; the cause chain stands in for it, as Connect's first line.
            add(
                "exception.stacktrace",
                format!("{}: {}", self.exception_class, self.message),
            );
        }
        out
    }
}

/// Where dead letters go: implemented by the runtime with a Kafka producer.
pub trait DeadLetterQueue: Send + Sync {
    /// Produces the letters and returns once Kafka has acknowledged every one of them.
    fn send<'a>(&'a self, letters: &'a [DeadLetter]) -> BoxFuture<'a, Result<(), String>>;
    /// The topic, for logs.
    fn topic(&self) -> &str;
}

/// Applies a connector's `errors.*` settings to the records a partition could not write.
#[derive(Clone)]
pub struct ErrorReporter {
    pub policy: ErrorHandling,
    pub queue: Option<Arc<dyn DeadLetterQueue>>,
}

impl fmt::Debug for ErrorReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorReporter")
            .field("policy", &self.policy)
            .field("queue", &self.queue.as_ref().map(|q| q.topic().to_string()))
            .finish()
    }
}

impl ErrorReporter {
    /// Whether records that cannot be written are set aside (`errors.tolerance=all`).
    pub fn tolerates(&self) -> bool {
        self.policy.tolerate_all
    }

    /// Logs the letters and hands them to the dead-letter queue, returning once it has
    /// acknowledged them. Without a queue each is logged at WARN even when
    /// `errors.log.enable=false`: a record is never dropped without a trace.
    pub async fn report(&self, letters: &[DeadLetter]) -> Result<(), String> {
        for l in letters {
            let coordinates = format!(
                "topic={} partition={} offset={} timestamp={}",
                l.topic,
                l.partition,
                l.offset,
                l.timestamp.map_or("none".to_string(), |t| t.to_string())
            );
            if self.policy.log_enable {
                let record = if self.policy.log_include_messages {
                    coordinates.as_str()
                } else {
                    "(errors.log.include.messages=false)"
                };
                tracing::error!(
                    stage = l.stage.name(),
                    class = %l.class_name,
                    "error tolerated: {}: {}; record {record}",
                    l.exception_class,
                    l.message
                );
            }
            if self.queue.is_none() {
                tracing::warn!(
                    "record skipped (errors.tolerance=all, no dead-letter queue): {coordinates}: {}",
                    l.message
                );
            }
        }
        if let Some(queue) = &self.queue {
            queue.send(letters).await.map_err(|e| {
                format!(
                    "dead-letter queue {}: {e}; the records stay uncommitted and are read again",
                    queue.topic()
                )
            })?;
            tracing::info!(
                topic = queue.topic(),
                records = letters.len(),
                "records sent to the dead-letter queue"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakesink_record::RawBatch;

    #[test]
    fn context_headers_follow_connect() {
        let mut b = RawBatch::default();
        b.push_with_headers(
            42,
            Some(7),
            Some(b"k"),
            Some(b"\x01bad"),
            [("trace", Some(&b"t-1"[..]))].into_iter(),
        );
        let tp = TopicPartition::new("orders", 3);
        let l = DeadLetter::new(
            &tp,
            &b.get(0),
            Stage::ValueConverter,
            "io.confluent.connect.avro.AvroConverter",
            "org.apache.kafka.connect.errors.DataException",
            "unknown magic byte 1".into(),
        );
        assert_eq!(l.value.as_deref(), Some(&b"\x01bad"[..]));
        assert_eq!(l.output_headers(false, "c", 0).len(), 1);
        let h = l.output_headers(true, "lake", 2);
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.clone())
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(h[0].0, "trace");
        assert_eq!(get("__connect.errors.topic").as_deref(), Some("orders"));
        assert_eq!(get("__connect.errors.partition").as_deref(), Some("3"));
        assert_eq!(get("__connect.errors.offset").as_deref(), Some("42"));
        assert_eq!(get("__connect.errors.task.id").as_deref(), Some("2"));
        assert_eq!(
            get("__connect.errors.connector.name").as_deref(),
            Some("lake")
        );
        assert_eq!(
            get("__connect.errors.stage").as_deref(),
            Some("VALUE_CONVERTER")
        );
        assert_eq!(
            get("__connect.errors.exception.message").as_deref(),
            Some("unknown magic byte 1")
        );
    }
}
