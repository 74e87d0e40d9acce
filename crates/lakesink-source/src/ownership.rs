//! Partitions that no member of a consumer group owns: found, and given an owner.
//!
//! A static member (`group.instance.id`) that dies between the two rounds of a cooperative
//! rebalance — after it gave partitions up, before it rejoined to have them handed on — and
//! comes back within its session timeout is given its stored assignment again without a
//! rebalance. The partitions it gave up then stay unassigned until some member joins or
//! leaves, and nothing reads them while Kafka's retention goes on deleting. The broker does not
//! notice and neither do the members. Partitions added to a topic are in the same state until
//! the group leader's next metadata refresh (five minutes by librdkafka's default).
//!
//! [`OwnershipWatch`] reads the group's description every [`WatchConfig::interval`]. When the
//! group is stable and a partition of the subscribed topics is neither in a member's assignment
//! nor among the partitions a member said it owned when it last joined (a member between the
//! two rounds of a cooperative rebalance still says so), on two looks in a row, it makes the
//! group rebalance: a short-lived member without a static id joins — its JoinGroup makes every
//! member rejoin, and the leader assigns every partition — and leaves as soon as it is in,
//! pausing whatever it is given, so it never fetches a record.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};

use crate::SourceError;
use crate::group::{decode_assignment, decode_subscription};

/// Where the watch looks.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub bootstrap_servers: String,
    pub group_id: String,
    /// Client settings (librdkafka names: security and the like). A `group.instance.id` is
    /// left out: the probe joins as a dynamic member.
    pub settings: BTreeMap<String, String>,
    /// How often the group is looked at.
    pub interval: Duration,
}

/// Watches one group from a thread of its own; stops when dropped.
pub struct OwnershipWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Settings for the watch's clients: the user's, less those naming a member.
fn client_config(config: &WatchConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.bootstrap_servers);
    for (k, v) in &config.settings {
        if !matches!(k.as_str(), "group.instance.id" | "group.id" | "client.id") {
            cc.set(k, v);
        }
    }
    cc
}

impl OwnershipWatch {
    pub fn start(config: WatchConfig) -> Result<OwnershipWatch, SourceError> {
        let mut cc = client_config(&config);
        cc.set("client.id", "lakesink-ownership-watch");
        // Never joins a group: it only asks for descriptions and metadata.
        let client: BaseConsumer = cc.create().map_err(crate::creation_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ownership-watch".into())
            .spawn(move || watch(&client, &config, &stopping))
            .map_err(|e| SourceError::Assignment(format!("starting the ownership watch: {e}")))?;
        Ok(OwnershipWatch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for OwnershipWatch {
    /// Waits a few seconds for a probe to leave the group (else its partitions would wait for
    /// its session to expire), but not for a broker that does not answer.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(6);
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(t) = self.thread.take()
            && t.is_finished()
        {
            let _ = t.join();
        }
    }
}

/// What one look at the group found.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// Not stable (rebalancing, empty, gone): nothing to judge.
    Unsettled,
    Stable {
        topics: Vec<String>,
        unowned: BTreeSet<(String, i32)>,
    },
}

fn watch(client: &BaseConsumer, config: &WatchConfig, stop: &AtomicBool) {
    let timeout = Duration::from_secs(10);
    // Unowned partitions seen at the previous look.
    let mut suspects: BTreeSet<(String, i32)> = BTreeSet::new();
    // After a rebalance is asked for, the group is left to settle for a while.
    let mut quiet_until = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let next = Instant::now() + config.interval;
        while Instant::now() < next && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if stop.load(Ordering::SeqCst) || Instant::now() < quiet_until {
            continue;
        }
        let (topics, unowned) = match look(client, &config.group_id, timeout) {
            Ok(Look::Stable { topics, unowned }) => (topics, unowned),
            Ok(Look::Unsettled) => {
                suspects.clear();
                continue;
            }
            Err(e) => {
                tracing::debug!(group = config.group_id, "describing the group: {e}");
                continue;
            }
        };
        let still: Vec<String> = unowned
            .intersection(&suspects)
            .map(|(t, p)| format!("{t}-{p}"))
            .collect();
        suspects = unowned;
        if still.is_empty() {
            continue;
        }
        tracing::warn!(
            group = config.group_id,
            partitions = ?still,
            "partitions have no owner in the consumer group (a member came back between the two rounds of a rebalance, or partitions were added): making the group rebalance"
        );
        match rebalance(config, &topics, stop) {
            Ok(()) => tracing::info!(
                group = config.group_id,
                "the group is rebalancing; the partitions get owners"
            ),
            Err(e) => tracing::warn!(
                group = config.group_id,
                "making the group rebalance failed: {e}; trying again at the next look"
            ),
        }
        suspects.clear();
        quiet_until = Instant::now() + 2 * config.interval;
    }
}

/// Reads the group's description and the subscribed topics' partitions.
fn look(client: &BaseConsumer, group: &str, timeout: Duration) -> Result<Look, String> {
    let list = client
        .fetch_group_list(Some(group), timeout)
        .map_err(|e| e.to_string())?;
    let Some(g) = list.groups().iter().find(|g| g.name() == group) else {
        return Ok(Look::Unsettled);
    };
    // Only a stable group's description carries the members' metadata and assignments.
    if g.state() != "Stable" || g.protocol_type() != "consumer" || g.members().is_empty() {
        return Ok(Look::Unsettled);
    }
    let mut topics = BTreeSet::new();
    let mut owned: HashSet<(String, i32)> = HashSet::new();
    for m in g.members() {
        if let Some(meta) = m.metadata() {
            let s = decode_subscription(meta).map_err(|e| format!("member metadata: {e}"))?;
            topics.extend(s.topics);
            owned.extend(s.owned);
        }
        if let Some(a) = m.assignment() {
            owned.extend(decode_assignment(a).map_err(|e| format!("member assignment: {e}"))?);
        }
    }
    let mut unowned = BTreeSet::new();
    for topic in &topics {
        let md = client
            .fetch_metadata(Some(topic), timeout)
            .map_err(|e| e.to_string())?;
        for t in md.topics() {
            if t.name() != topic || t.error().is_some() {
                continue;
            }
            for p in t.partitions() {
                let tp = (topic.clone(), p.id());
                if !owned.contains(&tp) {
                    unowned.insert(tp);
                }
            }
        }
    }
    Ok(Look::Stable {
        topics: topics.into_iter().collect(),
        unowned,
    })
}

/// The probe member's context: it pauses whatever it is given and says when it got in.
struct ProbeContext {
    joined: AtomicBool,
}

impl ClientContext for ProbeContext {}

impl ConsumerContext for ProbeContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if tpl.count() > 0 {
                let _ = consumer.pause(tpl);
            }
            self.joined.store(true, Ordering::SeqCst);
        }
    }
}

/// Makes the group rebalance: a dynamic member joins and leaves again.
fn rebalance(config: &WatchConfig, topics: &[String], stop: &AtomicBool) -> Result<(), String> {
    let mut cc = client_config(config);
    cc.set("group.id", &config.group_id)
        .set("client.id", "lakesink-rebalance-probe")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "latest");
    let probe: BaseConsumer<ProbeContext> = cc
        .create_with_context(ProbeContext {
            joined: AtomicBool::new(false),
        })
        .map_err(|e| e.to_string())?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    probe.subscribe(&names).map_err(|e| e.to_string())?;
    // The JoinGroup alone starts the rebalance; staying until it is in makes sure the
    // broker took it. Records are never returned: what it is given is paused.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !probe.context().joined.load(Ordering::SeqCst)
        && Instant::now() < deadline
        && !stop.load(Ordering::SeqCst)
    {
        let _ = probe.poll(Duration::from_millis(100));
    }
    let joined = probe.context().joined.load(Ordering::SeqCst);
    probe.unsubscribe();
    let leave_by = Instant::now() + Duration::from_secs(5);
    while Instant::now() < leave_by && probe.assignment().is_ok_and(|a| a.count() > 0) {
        let _ = probe.poll(Duration::from_millis(100));
    }
    // Dropping closes it, which sends the LeaveGroup.
    drop(probe);
    if joined {
        Ok(())
    } else {
        Err("the probe member was not let into the group within 30 s".into())
    }
}
