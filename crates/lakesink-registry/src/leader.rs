//! Leader election among registry instances, and finding the leader to forward writes to.
//!
//! Eligible instances join one Kafka consumer group subscribed to the single-partition
//! schemas topic: the member assigned partition 0 is the leader, and keeps it while it lives
//! (cooperative-sticky assignment). (Confluent's registry uses a
//! custom `sr` group protocol that librdkafka cannot speak; a consumer group gives the same
//! guarantee — one owner at a time — and the group coordinator's view tells followers who
//! it is.) Each member's client id carries its URL, so a follower reads the leader's URL from
//! the group description. Leadership alone does not make writes safe; the transactional
//! writer's fencing does (see `kafka`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::topic_partition_list::TopicPartitionList;

use lakesink_source::group::decode_assignment;

use crate::kafka::{KafkaSettings, StoreError};

const CLIENT_ID_PREFIX: &str = "lakesink-registry@";

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
                tracing::info!("this instance is now the leader: it writes the schemas topic");
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
    cached: Mutex<Option<(String, Instant)>>,
}

impl Election {
    pub fn start(
        settings: &KafkaSettings,
        group_id: &str,
        url: &str,
        eligible: bool,
        stop: Arc<AtomicBool>,
    ) -> Result<Arc<Election>, StoreError> {
        let leadership = Arc::new(Leadership::default());
        let directory: BaseConsumer = settings.client_config().create()?;
        // Refuse to join a group another kind of registry (Confluent's `sr` protocol) uses:
        // its leader would write the same topic unfenced.
        for group in directory
            .fetch_group_list(Some(group_id), settings.timeout)?
            .groups()
        {
            if !group.members().is_empty() && group.protocol_type() != "consumer" {
                return Err(StoreError::Other(format!(
                    "schema.registry.group.id={group_id}: the group is used with protocol type '{}' (a Confluent or Karapace registry?); stop it or choose another group",
                    group.protocol_type()
                )));
            }
        }
        if eligible {
            let mut config = settings.client_config();
            config
                .set("group.id", group_id)
                .set("client.id", format!("{CLIENT_ID_PREFIX}{url}"))
                .set("enable.auto.commit", "false")
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "1000")
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
                .name("registry-election".into())
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
                .map_err(|e| StoreError::Other(format!("starting the election thread: {e}")))?;
        }
        Ok(Arc::new(Election {
            leadership,
            directory: Mutex::new(directory),
            group_id: group_id.to_string(),
            topic: settings.topic.clone(),
            cached: Mutex::new(None),
        }))
    }

    /// The leader's URL from the group coordinator (cached for a second).
    pub fn leader_url(&self, timeout: Duration) -> Result<Option<String>, StoreError> {
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
                .map_err(|_| StoreError::Other("directory lock poisoned".into()))?;
            directory.fetch_group_list(Some(&self.group_id), timeout)?
        };
        for group in groups.groups() {
            if group.protocol_type() != "consumer" && !group.members().is_empty() {
                return Err(StoreError::Other(format!(
                    "group {} uses protocol type '{}': another kind of registry (e.g. Confluent's) runs on it",
                    self.group_id,
                    group.protocol_type()
                )));
            }
            for member in group.members() {
                let Some(url) = member.client_id().strip_prefix(CLIENT_ID_PREFIX) else {
                    continue;
                };
                let owns = member
                    .assignment()
                    .and_then(|a| decode_assignment(a).ok())
                    .is_some_and(|parts| parts.iter().any(|(t, p)| *t == self.topic && *p == 0));
                if owns {
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
