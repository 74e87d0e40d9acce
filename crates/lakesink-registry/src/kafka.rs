//! The `_schemas` topic: creating and validating it, a reader thread that replays it into
//! the [`State`], and the leader's fenced writer.
//!
//! Writes are Kafka transactions under one transactional id per topic: when an instance
//! becomes leader, `init_transactions` fences every earlier leader's producer, so a stale
//! leader can never write again (Confluent relies on its election alone, and two leaders
//! can then allocate the same id). The reader reads committed records only.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::watch;

use crate::store::{Key, State};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("schemas topic {topic}: {message}")]
    Topic { topic: String, message: String },
    #[error("timed out after {0:?} waiting for the schemas topic")]
    Timeout(Duration),
    #[error("this instance is no longer the leader: another instance took over the schemas topic")]
    Fenced,
    #[error("{0}")]
    Other(String),
}

impl From<lakesink_source::election::ElectionError> for StoreError {
    fn from(e: lakesink_source::election::ElectionError) -> StoreError {
        match e {
            lakesink_source::election::ElectionError::Kafka(k) => StoreError::Kafka(k),
            lakesink_source::election::ElectionError::Other(m) => StoreError::Other(m),
        }
    }
}

/// Kafka client settings shared by every client of the registry.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub topic: String,
    pub replication_factor: i32,
    pub timeout: Duration,
    /// User settings (`kafkastore.*`, librdkafka names).
    pub extra: BTreeMap<String, String>,
}

impl KafkaSettings {
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        c.set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}

/// Creates the topic (1 partition, compacted) when missing; refuses one with more
/// partitions or without compaction, as Confluent does — either would lose or reorder state.
pub async fn ensure_topic(settings: &KafkaSettings) -> Result<(), StoreError> {
    let admin: AdminClient<DefaultClientContext> = settings.client_config().create()?;
    let topic = settings.topic.clone();
    let meta_settings = settings.clone();
    let (partitions, brokers) = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = meta_settings.client_config().create()?;
        let md = consumer.fetch_metadata(Some(&meta_settings.topic), meta_settings.timeout)?;
        let brokers = md.brokers().len();
        let partitions = md
            .topics()
            .iter()
            .find(|t| t.name() == meta_settings.topic && t.error().is_none())
            .map(|t| t.partitions().len());
        Ok::<_, KafkaError>((partitions, brokers))
    })
    .await
    .map_err(|e| StoreError::Other(e.to_string()))??;
    let options = AdminOptions::new().operation_timeout(Some(settings.timeout));
    match partitions {
        Some(0) | None => {
            let rf = settings
                .replication_factor
                .min(i32::try_from(brokers.max(1)).unwrap_or(1));
            if rf < settings.replication_factor {
                tracing::warn!(
                    topic,
                    wanted = settings.replication_factor,
                    brokers,
                    "creating the schemas topic with replication factor {rf}: the cluster has fewer brokers than kafkastore.topic.replication.factor"
                );
            }
            let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(rf))
                .set("cleanup.policy", "compact");
            for result in admin.create_topics([&new], &options).await? {
                match result {
                    Ok(_) => tracing::info!(topic, "created the schemas topic"),
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => {
                        return Err(StoreError::Topic {
                            topic,
                            message: format!("cannot create it: {code}"),
                        });
                    }
                }
            }
        }
        Some(1) => {
            let configs = admin
                .describe_configs([&ResourceSpecifier::Topic(&topic)], &options)
                .await?;
            for resource in configs.into_iter().flatten() {
                let policy = resource
                    .get("cleanup.policy")
                    .and_then(|e| e.value.clone())
                    .unwrap_or_default();
                if !policy.split(',').any(|p| p.trim() == "compact") {
                    return Err(StoreError::Topic {
                        topic,
                        message: format!(
                            "cleanup.policy is '{policy}', must be 'compact' (deleted records would lose schemas)"
                        ),
                    });
                }
            }
        }
        Some(n) => {
            return Err(StoreError::Topic {
                topic,
                message: format!(
                    "has {n} partitions, must have exactly 1 (records must be read in the order written)"
                ),
            });
        }
    }
    Ok(())
}

/// Keeps librdkafka's end-of-partition notices (the reader asks for them) out of the
/// error log.
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF);
        if eof {
            return;
        }
        tracing::warn!("schemas topic reader: {error}: {reason}");
    }
}

impl ConsumerContext for ReaderContext {}

/// Progress of the reader: the offset of the last record applied, and whether it has reached
/// the end of the topic once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadProgress {
    pub applied: i64,
    pub caught_up: bool,
}

/// Starts the reader thread. It runs until `stop` is set.
pub fn start_reader(
    settings: &KafkaSettings,
    state: Arc<RwLock<State>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<watch::Receiver<ReadProgress>, StoreError> {
    let mut config = settings.client_config();
    config
        // Reads by assignment; the group id is never used to commit.
        .set(
            "group.id",
            format!("lakesink-registry-reader-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer<ReaderContext> = config.create_with_context(ReaderContext)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&settings.topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let (tx, rx) = watch::channel(ReadProgress {
        applied: -1,
        caught_up: false,
    });
    let topic = settings.topic.clone();
    std::thread::Builder::new()
        .name("registry-reader".into())
        .spawn(move || {
            let mut progress = ReadProgress {
                applied: -1,
                caught_up: false,
            };
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let Some(result) = consumer.poll(Duration::from_millis(100)) else {
                    continue;
                };
                match result {
                    Ok(m) => {
                        let key = m.key().unwrap_or_default();
                        let applied = match state.write() {
                            Ok(mut s) => s.apply(key, m.payload()),
                            Err(p) => p.into_inner().apply(key, m.payload()),
                        };
                        if let Err(e) = applied {
                            // Confluent's reader skips what it cannot read, too; say where.
                            tracing::warn!(
                                topic,
                                offset = m.offset(),
                                "skipping a record of the schemas topic: {e}"
                            );
                        }
                        progress.applied = m.offset();
                        tx.send_replace(progress);
                    }
                    Err(KafkaError::PartitionEOF(_)) => {
                        if !progress.caught_up {
                            progress.caught_up = true;
                            tx.send_replace(progress);
                        }
                    }
                    Err(e) => tracing::warn!(topic, "reading the schemas topic: {e}"),
                }
            }
        })
        .map_err(|e| StoreError::Other(format!("starting the reader thread: {e}")))?;
    Ok(rx)
}

/// Waits until the reader has applied the record at `offset`.
pub async fn wait_applied(
    progress: &mut watch::Receiver<ReadProgress>,
    offset: i64,
    timeout: Duration,
) -> Result<(), StoreError> {
    let waited = tokio::time::timeout(timeout, progress.wait_for(|p| p.applied >= offset)).await;
    match waited {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(StoreError::Other("the schemas reader stopped".into())),
        Err(_) => Err(StoreError::Timeout(timeout)),
    }
}

/// The leader's writer: a transactional producer that fenced every earlier leader.
pub struct Writer {
    producer: Arc<FutureProducer>,
    topic: String,
    timeout: Duration,
}

impl Writer {
    /// Creates the producer and fences earlier ones (`init_transactions`).
    pub async fn open(settings: &KafkaSettings, group_id: &str) -> Result<Writer, StoreError> {
        let mut config = settings.client_config();
        config
            .set(
                "transactional.id",
                format!("lakesink-registry-{group_id}-{}", settings.topic),
            )
            .set("enable.idempotence", "true")
            .set("acks", "all");
        let producer: Arc<FutureProducer> = Arc::new(config.create()?);
        let p = producer.clone();
        let timeout = settings.timeout;
        tokio::task::spawn_blocking(move || p.init_transactions(timeout))
            .await
            .map_err(|e| StoreError::Other(e.to_string()))??;
        Ok(Writer {
            producer,
            topic: settings.topic.clone(),
            timeout: settings.timeout,
        })
    }

    /// Writes one record in its own transaction; returns its offset once committed.
    pub async fn write(&self, key: &Key, value: Option<&str>) -> Result<i64, StoreError> {
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || p.begin_transaction())
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?
            .map_err(fenced)?;
        let key_json = key.to_json();
        let mut record: FutureRecord<'_, str, str> =
            FutureRecord::to(&self.topic).partition(0).key(&key_json);
        if let Some(v) = value {
            record = record.payload(v);
        }
        let sent = self.producer.send(record, self.timeout).await;
        let offset = match sent {
            Ok(delivery) => delivery.offset,
            Err((e, _)) => {
                let p = self.producer.clone();
                let timeout = self.timeout;
                let _ = tokio::task::spawn_blocking(move || p.abort_transaction(timeout)).await;
                return Err(fenced(e));
            }
        };
        let p = self.producer.clone();
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || p.commit_transaction(timeout))
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?
            .map_err(fenced)?;
        Ok(offset)
    }
}

/// A fenced producer means another instance became leader: this one must not write again.
fn fenced(e: KafkaError) -> StoreError {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch,
        ) => StoreError::Fenced,
        _ => StoreError::Kafka(e),
    }
}
