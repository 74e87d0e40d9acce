//! The dead-letter queue of `errors.deadletterqueue.topic.name`: a Kafka producer that sends
//! each tolerated record with its original key, value, headers and timestamp, and reports
//! success only once every record is acknowledged by all in-sync replicas, so a partition
//! never commits past a dead letter that Kafka does not hold.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures::future::{BoxFuture, join_all};
use lakesink_config::SinkConfig;
use lakesink_sink::{DeadLetter, DeadLetterQueue};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

/// The producer shared by a connector's tasks.
pub struct DeadLetterProducer {
    producer: FutureProducer,
    topic: String,
}

/// Consumer settings that also apply to the producer (connection and security).
fn shared_client_settings(config: &SinkConfig) -> BTreeMap<String, String> {
    config
        .consumer
        .iter()
        .filter(|(k, _)| {
            k.starts_with("security.")
                || k.starts_with("sasl.")
                || k.starts_with("ssl.")
                || k.as_str() == "client.dns.lookup"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl DeadLetterProducer {
    /// Creates the producer and the topic if it does not exist (one partition, the
    /// configured replication factor, as Connect does).
    pub async fn start(config: &SinkConfig, topic: &str) -> Result<Arc<DeadLetterProducer>> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &config.bootstrap_servers);
        for (k, v) in shared_client_settings(config) {
            client.set(k, v);
        }
        let admin: AdminClient<DefaultClientContext> = client
            .create()
            .context("creating the Kafka admin client for the dead-letter queue")?;
        let new = NewTopic::new(
            topic,
            1,
            TopicReplication::Fixed(config.errors.dlq_replication_factor),
        );
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        for result in admin
            .create_topics([&new], &options)
            .await
            .context("creating the dead-letter queue topic")?
        {
            match result {
                Ok(_) => tracing::info!(topic, "created the dead-letter queue topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(anyhow!(
                        "errors.deadletterqueue.topic.name={topic}: cannot create the topic with errors.deadletterqueue.topic.replication.factor={}: {code}",
                        config.errors.dlq_replication_factor
                    ));
                }
            }
        }
        client
            .set(
                "client.id",
                format!("connector-dlq-producer-{}", config.name),
            )
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        let producer: FutureProducer = client
            .create()
            .context("creating the dead-letter queue producer")?;
        Ok(Arc::new(DeadLetterProducer {
            producer,
            topic: topic.to_string(),
        }))
    }
}

/// One task's view of the queue: the producer plus what its context headers name.
pub struct TaskDeadLetters {
    pub producer: Arc<DeadLetterProducer>,
    pub connector: String,
    pub task_id: usize,
    pub context_headers: bool,
}

impl DeadLetterQueue for TaskDeadLetters {
    fn send<'a>(&'a self, letters: &'a [DeadLetter]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let sends = letters.iter().map(|l| {
                let mut headers = OwnedHeaders::new();
                for (name, value) in
                    l.output_headers(self.context_headers, &self.connector, self.task_id)
                {
                    headers = headers.insert(Header {
                        key: &name,
                        value: value.as_deref(),
                    });
                }
                let mut record =
                    FutureRecord::<[u8], [u8]>::to(&self.producer.topic).headers(headers);
                if let Some(k) = &l.key {
                    record = record.key(k.as_slice());
                }
                if let Some(v) = &l.value {
                    record = record.payload(v.as_slice());
                }
                if let Some(t) = l.timestamp {
                    record = record.timestamp(t);
                }
                // librdkafka retries within message.timeout.ms; a failure after that is final.
                self.producer.producer.send(record, Duration::from_secs(10))
            });
            for (result, l) in join_all(sends).await.into_iter().zip(letters) {
                if let Err((e, _)) = result {
                    return Err(format!(
                        "record {}-{} offset {}: {e}",
                        l.topic, l.partition, l.offset
                    ));
                }
            }
            Ok(())
        })
    }

    fn topic(&self) -> &str {
        &self.producer.topic
    }
}
