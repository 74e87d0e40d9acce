//! The internal topics as Kafka logs: creating and checking them, reading every partition
//! from the start on a thread of its own, and writing records whose effect the writer waits
//! to read back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::ClusterError;

/// What an internal topic must be.
pub struct TopicSpec<'a> {
    pub topic: &'a str,
    /// The key naming the topic, for errors.
    pub key: &'static str,
    pub partitions: i32,
    pub replication_factor: i32,
    /// The config topic must have exactly one partition: its records are read in the order
    /// they were written.
    pub single_partition: bool,
}

/// Creates the topic when absent; checks an existing one is compacted (and has one partition
/// where it must). Returns its partition count.
pub async fn ensure_topic(
    client: &ClientConfig,
    spec: &TopicSpec<'_>,
    timeout: Duration,
) -> Result<i32, ClusterError> {
    let topic_error = |message: String| ClusterError::Topic {
        key: spec.key,
        topic: spec.topic.to_string(),
        message,
    };
    let partitions = partition_count(client, spec.topic, timeout).await?;
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    match partitions {
        None => {
            let partitions = if spec.single_partition {
                1
            } else {
                spec.partitions
            };
            let replication = if spec.replication_factor < 0 {
                TopicReplication::Fixed(-1)
            } else {
                TopicReplication::Fixed(spec.replication_factor)
            };
            let new =
                NewTopic::new(spec.topic, partitions, replication).set("cleanup.policy", "compact");
            for result in admin.create_topics([&new], &options).await? {
                match result {
                    Ok(_) => tracing::info!(topic = spec.topic, partitions, "created the topic"),
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => {
                        return Err(topic_error(format!(
                            "cannot create it: {code} (check the replication factor against the brokers)"
                        )));
                    }
                }
            }
            partition_count(client, spec.topic, timeout)
                .await?
                .ok_or_else(|| topic_error("created, but the brokers do not list it".into()))
        }
        Some(n) if spec.single_partition && n != 1 => Err(topic_error(format!(
            "has {n} partitions; it must have exactly 1, as in Connect (records are read in the order written)"
        ))),
        Some(n) => {
            let configs = admin
                .describe_configs([&ResourceSpecifier::Topic(spec.topic)], &options)
                .await?;
            for resource in configs.into_iter().flatten() {
                let policy = resource
                    .get("cleanup.policy")
                    .and_then(|e| e.value.clone())
                    .unwrap_or_default();
                if policy.trim() != "compact" {
                    return Err(topic_error(format!(
                        "cleanup.policy is '{policy}'; it must be 'compact' only, as Connect requires (deleted records would lose connectors)"
                    )));
                }
            }
            Ok(n)
        }
    }
}

async fn partition_count(
    client: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Option<i32>, ClusterError> {
    let consumer: BaseConsumer = client.create()?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let md = consumer.fetch_metadata(Some(&topic), timeout)?;
        Ok::<_, KafkaError>(
            md.topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len() as i32)
                .filter(|n| *n > 0),
        )
    })
    .await
    .map_err(|e| ClusterError::Other(e.to_string()))?
    .map_err(ClusterError::from)
}

/// How far a reader has got: per partition, the offset of the last record it handled, and
/// whether it has reached the end of every partition once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub applied: BTreeMap<i32, i64>,
    pub caught_up: bool,
}

struct ReaderContext {
    topic: String,
}

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            return;
        }
        tracing::warn!(topic = %self.topic, "reader: {error}: {reason}");
    }
}

impl ConsumerContext for ReaderContext {}

/// One record as read: key, value (`None`: a tombstone), and whether the reader had already
/// reached the end of the topic once (a record read while catching up is history).
pub struct Read<'a> {
    pub key: &'a str,
    pub value: Option<&'a [u8]>,
    pub live: bool,
}

/// Reads every partition of `topic` from the start until `stop`, handing each record to
/// `handle` in the order of its partition.
pub fn start_reader(
    client: &ClientConfig,
    topic: &str,
    partitions: i32,
    stop: Arc<AtomicBool>,
    mut handle: impl FnMut(Read<'_>) + Send + 'static,
) -> Result<watch::Receiver<Progress>, ClusterError> {
    let mut config = client.clone();
    config
        // Reads by assignment: the group id is never used to commit.
        .set("group.id", format!("lakesink-reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer<ReaderContext> = config.create_with_context(ReaderContext {
        topic: topic.to_string(),
    })?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let (tx, rx) = watch::channel(Progress::default());
    let topic = topic.to_string();
    let thread_error = format!("starting the reader of {topic}");
    std::thread::Builder::new()
        .name(format!("read-{topic}"))
        .spawn(move || {
            let mut progress = Progress::default();
            let mut at_end = std::collections::BTreeSet::new();
            while !stop.load(Ordering::SeqCst) {
                let Some(result) = consumer.poll(Duration::from_millis(100)) else {
                    continue;
                };
                match result {
                    Ok(m) => {
                        let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                        handle(Read {
                            key: &key,
                            value: m.payload(),
                            live: progress.caught_up,
                        });
                        progress.applied.insert(m.partition(), m.offset());
                        tx.send_replace(progress.clone());
                    }
                    Err(KafkaError::PartitionEOF(p)) => {
                        at_end.insert(p);
                        if !progress.caught_up && at_end.len() as i32 >= partitions {
                            progress.caught_up = true;
                            tx.send_replace(progress.clone());
                        }
                    }
                    Err(e) => tracing::warn!(topic, "reading: {e}"),
                }
            }
        })
        .map_err(|e| ClusterError::Other(format!("{thread_error}: {e}")))?;
    Ok(rx)
}

/// Waits until the reader has caught up with the topic once.
pub async fn wait_caught_up(
    progress: &mut watch::Receiver<Progress>,
    topic: &str,
    timeout: Duration,
) -> Result<(), ClusterError> {
    match tokio::time::timeout(timeout, progress.wait_for(|p| p.caught_up)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(ClusterError::Other(format!(
            "the reader of {topic} stopped"
        ))),
        Err(_) => Err(ClusterError::Other(format!(
            "could not read {topic} to its end within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// An idempotent producer to an internal topic.
#[derive(Clone)]
pub struct Writer {
    producer: FutureProducer,
    topic: String,
    timeout: Duration,
}

impl Writer {
    pub fn new(
        client: &ClientConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<Writer, ClusterError> {
        let mut config = client.clone();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0");
        Ok(Writer {
            producer: config.create()?,
            topic: topic.to_string(),
            timeout,
        })
    }

    /// Writes records in order (to `partition`, or by key hash); returns the partition and
    /// offset of the last one.
    pub async fn write(
        &self,
        records: &[(String, Option<Vec<u8>>)],
        partition: Option<i32>,
    ) -> Result<(i32, i64), ClusterError> {
        let mut last = (0, -1);
        for (key, value) in records {
            let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.topic).key(key);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            if let Some(v) = value {
                record = record.payload(v);
            }
            let delivered = self
                .producer
                .send(record, self.timeout)
                .await
                .map_err(|(e, _)| ClusterError::Kafka(e))?;
            last = (delivered.partition, delivered.offset);
        }
        Ok(last)
    }
}

/// Waits until the reader has handled the record at `offset` of `partition`.
pub async fn wait_applied(
    progress: &mut watch::Receiver<Progress>,
    (partition, offset): (i32, i64),
    timeout: Duration,
) -> Result<(), ClusterError> {
    let waited = tokio::time::timeout(
        timeout,
        progress.wait_for(|p| p.applied.get(&partition).is_some_and(|&o| o >= offset)),
    )
    .await;
    match waited {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(ClusterError::Other(
            "the config topic reader stopped".into(),
        )),
        Err(_) => Err(ClusterError::Other(format!(
            "the write was not read back within {} ms",
            timeout.as_millis()
        ))),
    }
}
