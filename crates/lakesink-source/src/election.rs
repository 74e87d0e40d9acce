//! Leader election and membership among the instances of one service (the schema
//! registry, the workers of a distributed Connect cluster), and finding the leader to forward
//! writes to.
//!
//! Eligible instances join one Kafka consumer group subscribed to a single-partition topic:
//! the member assigned partition 0 is the leader, and keeps it while it lives
//! (cooperative-sticky assignment). (Confluent's registry and Connect use their own group
//! protocols, `sr` and `connect`, that librdkafka cannot speak; a consumer group gives the
//! same guarantee — one owner at a time — and the group coordinator's view tells the others
//! who it is and who is alive.) Each member's client id carries its URL, so the others read
//! the leader's URL, and the list of live members, from the group description. Leadership
//! alone does not make writes safe; the writers' fencing does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::TopicPartitionList;

use crate::group::decode_assignment;

#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{0}")]
    Other(String),
}

/// Who takes part in an election, and how.
#[derive(Debug, Clone)]
pub struct ElectionSettings {
    /// The Kafka connection (bootstrap servers, security).
    pub client: ClientConfig,
    /// The single-partition topic whose partition 0 makes the leader.
    pub topic: String,
    pub group_id: String,
    /// The key naming the group in errors (`schema.registry.group.id`, `group.id`).
    pub group_key: &'static str,
    /// Marks the members of this service in the group; each member's client id is the
    /// prefix and its URL.
    pub client_id_prefix: &'static str,
    /// This instance's URL, as the others reach it.
    pub url: String,
    pub session_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// How long the group waits for members to rejoin in a rebalance.
    pub rebalance_timeout_ms: u64,
    pub timeout: Duration,
}

/// A live member of the group, from the coordinator's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub url: String,
    pub leader: bool,
}

/// What this instance knows about leadership.
#[derive(Debug, Default)]
pub struct Leadership {
    leader: AtomicBool,
    /// Bumped on every change, so the writer knows to fence again.
    generation: AtomicU64,
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn set(&self, leader: bool) {
        if self.leader.swap(leader, Ordering::SeqCst) != leader {
            self.generation.fetch_add(1, Ordering::SeqCst);
            if leader {
                tracing::info!("this instance is now the leader of its group");
            } else {
                tracing::info!("this instance is no longer the leader");
            }
        }
    }
}

struct ElectionContext {
    topic: String,
    leadership: Arc<Leadership>,
}

impl ClientContext for ElectionContext {}

impl ConsumerContext for ElectionContext {
    // Cooperative rebalancing: a revoke lists only the partitions taken away and an assign
    // only those added, so a rebalance that leaves the partition where it is changes nothing.
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance
            && self.holds_partition(tpl)
        {
            self.leadership.set(false);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // The election member never reads: pausing keeps it from fetching the topic.
            if tpl.count() > 0
                && let Err(e) = consumer.pause(tpl)
            {
                tracing::warn!("pausing the election consumer: {e}");
            }
            if self.holds_partition(tpl) {
                self.leadership.set(true);
            }
        }
    }
}

impl ElectionContext {
    fn holds_partition(&self, tpl: &TopicPartitionList) -> bool {
        tpl.elements()
            .iter()
            .any(|e| e.topic() == self.topic && e.partition() == 0)
    }
}

/// Joins the election (when eligible) and answers "who is the leader?".
pub struct Election {
    pub leadership: Arc<Leadership>,
    directory: Mutex<BaseConsumer>,
    group_id: String,
    topic: String,
    client_id_prefix: &'static str,
    timeout: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl Election {
    pub fn start(
        settings: &ElectionSettings,
        eligible: bool,
        stop: Arc<AtomicBool>,
    ) -> Result<Arc<Election>, ElectionError> {
        let leadership = Arc::new(Leadership::default());
        let directory: BaseConsumer = settings.client.create()?;
        // Refuse to join a group another kind of service uses (Confluent's `sr` protocol,
        // Connect's `connect`): its leader would write the same topic unfenced.
        for group in directory
            .fetch_group_list(Some(&settings.group_id), settings.timeout)?
            .groups()
        {
            if !group.members().is_empty() && group.protocol_type() != "consumer" {
                return Err(ElectionError::Other(format!(
                    "{}={}: the group is used with protocol type '{}' (a JVM registry or Connect cluster?); stop it or choose another group",
                    settings.group_key,
                    settings.group_id,
                    group.protocol_type()
                )));
            }
        }
        if eligible {
            let mut config = settings.client.clone();
            config
                .set("group.id", &settings.group_id)
                .set(
                    "client.id",
                    format!("{}{}", settings.client_id_prefix, settings.url),
                )
                .set("enable.auto.commit", "false")
                .set(
                    "session.timeout.ms",
                    settings.session_timeout_ms.to_string(),
                )
                .set(
                    "heartbeat.interval.ms",
                    settings.heartbeat_interval_ms.to_string(),
                )
                .set(
                    "max.poll.interval.ms",
                    settings
                        .rebalance_timeout_ms
                        .max(settings.session_timeout_ms)
                        .to_string(),
                )
                // Sticky: a running leader keeps the partition when other instances join.
                .set("partition.assignment.strategy", "cooperative-sticky");
            let context = ElectionContext {
                topic: settings.topic.clone(),
                leadership: leadership.clone(),
            };
            let consumer: BaseConsumer<ElectionContext> = config.create_with_context(context)?;
            consumer.subscribe(&[&settings.topic])?;
            let lead = leadership.clone();
            std::thread::Builder::new()
                .name("election".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        if let Some(Err(e)) = consumer.poll(Duration::from_millis(200)) {
                            tracing::warn!("leader election: {e}");
                        }
                    }
                    // Leave the group now, so another instance takes over at once.
                    lead.set(false);
                    consumer.unsubscribe();
                    let _ = consumer.poll(Duration::from_millis(100));
                })
                .map_err(|e| ElectionError::Other(format!("starting the election thread: {e}")))?;
        }
        Ok(Arc::new(Election {
            leadership,
            directory: Mutex::new(directory),
            group_id: settings.group_id.clone(),
            topic: settings.topic.clone(),
            client_id_prefix: settings.client_id_prefix,
            timeout: settings.timeout,
            cached: Mutex::new(None),
        }))
    }

    /// The live members of the group, sorted by URL, once the group is stable (`None` during
    /// a rebalance, when the coordinator's list is not settled).
    pub fn members(&self) -> Result<Option<Vec<Member>>, ElectionError> {
        let groups = {
            let directory = self
                .directory
                .lock()
                .map_err(|_| ElectionError::Other("directory lock poisoned".into()))?;
            directory.fetch_group_list(Some(&self.group_id), self.timeout)?
        };
        let mut out = Vec::new();
        for group in groups.groups() {
            if group.state() != "Stable" {
                return Ok(None);
            }
            for member in group.members() {
                if let Some(url) = member.client_id().strip_prefix(self.client_id_prefix) {
                    out.push(Member {
                        url: url.to_string(),
                        leader: self.owns_partition_zero(member.assignment()),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.url.cmp(&b.url));
        out.dedup_by(|a, b| a.url == b.url);
        Ok(Some(out))
    }

    fn owns_partition_zero(&self, assignment: Option<&[u8]>) -> bool {
        assignment
            .and_then(|a| decode_assignment(a).ok())
            .is_some_and(|parts| parts.iter().any(|(t, p)| *t == self.topic && *p == 0))
    }

    /// The leader's URL from the group coordinator (cached for a second).
    pub fn leader_url(&self, timeout: Duration) -> Result<Option<String>, ElectionError> {
        if let Ok(cached) = self.cached.lock()
            && let Some((url, at)) = cached.as_ref()
            && at.elapsed() < Duration::from_secs(1)
        {
            return Ok(Some(url.clone()));
        }
        let groups = {
            let directory = self
                .directory
                .lock()
                .map_err(|_| ElectionError::Other("directory lock poisoned".into()))?;
            directory.fetch_group_list(Some(&self.group_id), timeout)?
        };
        for group in groups.groups() {
            if group.protocol_type() != "consumer" && !group.members().is_empty() {
                return Err(ElectionError::Other(format!(
                    "group {} uses protocol type '{}': another kind of service (a JVM registry or Connect cluster?) runs on it",
                    self.group_id,
                    group.protocol_type()
                )));
            }
            for member in group.members() {
                let Some(url) = member.client_id().strip_prefix(self.client_id_prefix) else {
                    continue;
                };
                if self.owns_partition_zero(member.assignment()) {
                    if let Ok(mut c) = self.cached.lock() {
                        *c = Some((url.to_string(), Instant::now()));
                    }
                    return Ok(Some(url.to_string()));
                }
            }
        }
        Ok(None)
    }

    pub fn forget_leader(&self) {
        if let Ok(mut c) = self.cached.lock() {
            *c = None;
        }
    }
}
