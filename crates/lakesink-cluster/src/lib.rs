//! Distributed mode (`lakesink distributed worker.properties`): workers with the same
//! `group.id` share the connectors, as Kafka Connect's distributed workers do.
//!
//! Owns: the internal topics in Connect's record formats ([`records`], [`log`]) — connector
//! configs, target states and restart requests in `config.storage.topic`, statuses in
//! `status.storage.topic` — the worker group (a consumer group on the config topic; its
//! leader is the member holding partition 0, see `lakesink_source::election`), placing each
//! connector's tasks on the live workers ([`placement`]), and keeping this worker's
//! [`Herder`] in step with all of that.
//!
//! How a change travels: the REST API asks the leader (see `lakesink_connect::cluster`),
//! the leader writes the records, and every worker — the leader too — applies what it reads
//! back to its herder. A write returns to the client once the worker that made it has read
//! it back and applied it.
//!
//! Must not touch: files, storage, conversion, or the sink's exactly-once protocol. A task
//! here is the same task as in standalone mode; moving it between workers is safe because
//! its partitions change hands through its consumer group, and a partition's files are
//! committed only by their fenced owner.

pub mod log;
pub mod placement;
pub mod records;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use lakesink_config::{DistributedConfig, RawConfig};
use lakesink_connect::herder::{StateInfo, TargetState};
use lakesink_connect::{ConfigWrite, Herder, Leader, Part};
use lakesink_source::election::{Election, ElectionError, ElectionSettings, Member};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use tokio::sync::watch;

use crate::log::{Progress, TopicSpec, Writer};
use crate::records::{ConfigRecord, Status, StatusKey};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{key}={topic}: {message}")]
    Topic {
        key: &'static str,
        topic: String,
        message: String,
    },
    #[error("group.id: {0}")]
    Election(#[from] ElectionError),
    #[error("{0}")]
    Other(String),
}

/// Marks Lakesink's workers among the members of the worker group.
const CLIENT_ID_PREFIX: &str = "lakesink-connect@";
/// How often a worker looks at the group and the topics and applies what changed.
const TICK: Duration = Duration::from_millis(500);

/// What a worker needs to join its cluster.
pub struct ClusterSettings {
    /// The Kafka connection of the worker's own clients (bootstrap servers, security).
    pub client: ClientConfig,
    pub config: DistributedConfig,
    /// `host:port`, as statuses name this worker.
    pub worker_id: String,
    /// Kafka requests and reading a write back.
    pub timeout: Duration,
}

/// The config topic as read so far.
#[derive(Default)]
struct ConfigView {
    connectors: BTreeMap<String, RawConfig>,
    targets: BTreeMap<String, TargetState>,
    /// Restart requests read after catching up, not yet carried out.
    restarts: Vec<(String, bool, bool)>,
}

/// The status topic as read so far.
#[derive(Default)]
struct StatusView {
    parts: BTreeMap<StatusKey, Status>,
    topics: BTreeSet<StatusKey>,
    /// Connectors whose topics were reset (tombstones read after catching up).
    reset: BTreeSet<String>,
}

struct Shared {
    herder: Herder,
    worker_id: String,
    url: String,
    session_timeout: Duration,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    config: Arc<Mutex<ConfigView>>,
    config_progress: watch::Receiver<Progress>,
    config_writer: Writer,
    status: Arc<Mutex<StatusView>>,
    status_progress: watch::Receiver<Progress>,
    status_writer: Writer,
    election: Arc<Election>,
    /// The members of the last stable group this worker was part of, and when it last saw
    /// itself in it.
    members: Mutex<(Vec<Member>, Option<Instant>)>,
    /// Bumped when the members change; written with every status.
    generation: AtomicI64,
    /// What this worker last wrote of each status key.
    written: Mutex<BTreeMap<StatusKey, Vec<u8>>>,
    /// Connector configs this worker rejected, so each is reported once.
    rejected: Mutex<BTreeMap<String, RawConfig>>,
    applying: Mutex<()>,
}

/// This worker's membership of its cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Cluster {
    /// Creates or checks the internal topics, reads them to their end, joins the worker group
    /// and starts applying the cluster's state to `herder` (a distributed herder).
    pub async fn start(settings: ClusterSettings, herder: Herder) -> Result<Cluster, ClusterError> {
        let d = &settings.config;
        let client = &settings.client;
        log::ensure_topic(
            client,
            &TopicSpec {
                topic: &d.config_topic,
                key: "config.storage.topic",
                partitions: 1,
                replication_factor: d.config_replication_factor,
                single_partition: true,
            },
            settings.timeout,
        )
        .await?;
        let status_partitions = log::ensure_topic(
            client,
            &TopicSpec {
                topic: &d.status_topic,
                key: "status.storage.topic",
                partitions: d.status_partitions,
                replication_factor: d.status_replication_factor,
                single_partition: false,
            },
            settings.timeout,
        )
        .await?;
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(Mutex::new(ConfigView::default()));
        let config_read = Arc::new(tokio::sync::Notify::new());
        let (into, read) = (config.clone(), config_read.clone());
        let topic = d.config_topic.clone();
        let mut config_progress =
            log::start_reader(client, &d.config_topic, 1, stop.clone(), move |r| {
                apply_config_record(&mut lock(&into), &topic, r);
                read.notify_one();
            })?;
        let status = Arc::new(Mutex::new(StatusView::default()));
        let into = status.clone();
        let topic = d.status_topic.clone();
        let mut status_progress = log::start_reader(
            client,
            &d.status_topic,
            status_partitions,
            stop.clone(),
            move |r| apply_status_record(&mut lock(&into), &topic, r),
        )?;
        let catch_up = settings.timeout * 6;
        log::wait_caught_up(&mut config_progress, &d.config_topic, catch_up).await?;
        log::wait_caught_up(&mut status_progress, &d.status_topic, catch_up).await?;
        let url = format!("http://{}", settings.worker_id);
        let election_settings = ElectionSettings {
            client: client.clone(),
            topic: d.config_topic.clone(),
            group_id: d.group_id.clone(),
            group_key: "group.id",
            client_id_prefix: CLIENT_ID_PREFIX,
            url: url.clone(),
            session_timeout_ms: d.session_timeout_ms,
            heartbeat_interval_ms: d.heartbeat_interval_ms,
            rebalance_timeout_ms: d.rebalance_timeout_ms,
            timeout: settings.timeout,
        };
        let election = {
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || Election::start(&election_settings, true, stop))
                .await
                .map_err(|e| ClusterError::Other(e.to_string()))??
        };
        // Statuses an earlier run of this worker left are this worker's to correct.
        let written = lock(&status)
            .parts
            .iter()
            .filter(|(_, s)| s.worker_id == settings.worker_id)
            .map(|(k, s)| (k.clone(), records::encode_status(s)))
            .collect();
        let cluster = Cluster {
            shared: Arc::new(Shared {
                herder,
                worker_id: settings.worker_id.clone(),
                url,
                session_timeout: Duration::from_millis(d.session_timeout_ms),
                timeout: settings.timeout,
                stop,
                config,
                config_progress,
                config_writer: Writer::new(client, &d.config_topic, settings.timeout)?,
                status,
                status_progress,
                status_writer: Writer::new(client, &d.status_topic, settings.timeout)?,
                election,
                members: Mutex::new((Vec::new(), None)),
                generation: AtomicI64::new(0),
                written: Mutex::new(written),
                rejected: Mutex::new(BTreeMap::new()),
                applying: Mutex::new(()),
            }),
        };
        cluster.apply();
        let ticking = cluster.clone();
        tokio::spawn(async move {
            let mut next_tick = Instant::now() + TICK;
            while !ticking.shared.stop.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = tokio::time::sleep_until(next_tick.into()) => {
                        ticking.tick().await;
                        next_tick = Instant::now() + TICK;
                    }
                    // A change read from the config topic is applied at once.
                    _ = config_read.notified() => ticking.apply(),
                }
            }
        });
        tracing::info!(
            group = %d.group_id,
            config_topic = %d.config_topic,
            status_topic = %d.status_topic,
            worker = %settings.worker_id,
            "joined the worker group"
        );
        Ok(cluster)
    }

    /// Leaves the worker group at once (the others take this worker's tasks over without
    /// waiting for the session timeout); call before stopping the herder.
    pub fn leave(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// After the herder has stopped: marks what this worker ran as UNASSIGNED, as Connect's
    /// workers do when they stop.
    pub async fn publish_final_statuses(&self) {
        let s = &self.shared;
        let records: Vec<(String, Option<Vec<u8>>)> = {
            let written = lock(&s.written);
            written
                .keys()
                .filter(|k| !matches!(k, StatusKey::Topic { .. }))
                .map(|k| {
                    let status = Status {
                        state: lakesink_connect::herder::State::Unassigned,
                        trace: None,
                        worker_id: s.worker_id.clone(),
                        generation: s.generation.load(Ordering::SeqCst),
                        version: Some(lakesink_connect::plugins::VERSION.to_string()),
                    };
                    (k.key(), Some(records::encode_status(&status)))
                })
                .collect()
        };
        if let Err(e) = s.status_writer.write(&records, None).await {
            tracing::warn!("writing the last statuses: {e}");
        }
    }

    async fn tick(&self) {
        self.apply();
        let election = self.shared.election.clone();
        let members = tokio::task::spawn_blocking(move || election.members()).await;
        match members {
            Ok(Ok(Some(members))) => self.see_members(members),
            Ok(Ok(None)) => {} // a rebalance: keep the last placement
            Ok(Err(e)) => tracing::debug!("listing the worker group: {e}"),
            Err(e) => tracing::warn!("listing the worker group: {e}"),
        }
        self.place();
        self.share_remote();
        self.publish_statuses().await;
    }

    fn see_members(&self, members: Vec<Member>) {
        let s = &self.shared;
        if !members.iter().any(|m| m.url == s.url) {
            return; // not (yet, or no longer) part of it
        }
        let mut known = lock(&s.members);
        if known.0 != members {
            let urls: Vec<&str> = members.iter().map(|m| m.url.as_str()).collect();
            tracing::info!(members = ?urls, "the worker group changed");
            s.generation.fetch_add(1, Ordering::SeqCst);
            known.0 = members;
        }
        known.1 = Some(Instant::now());
    }

    /// Runs here the parts the placement gives this worker. A worker that has not seen
    /// itself in the group for a session timeout runs nothing: the others have taken its
    /// work over (Connect's KAFKA-9184).
    fn place(&self) {
        let s = &self.shared;
        let urls: Vec<String> = {
            let known = lock(&s.members);
            match known.1 {
                Some(seen) if seen.elapsed() <= s.session_timeout => {
                    known.0.iter().map(|m| m.url.clone()).collect()
                }
                Some(_) => {
                    tracing::warn!(
                        "this worker has not been in the worker group for {} ms: stopping its tasks",
                        s.session_timeout.as_millis()
                    );
                    Vec::new()
                }
                None => return,
            }
        };
        for (name, tasks, target) in s.herder.shapes() {
            let placement = placement::place(&name, tasks, target, &urls, &s.url);
            s.herder.set_placement(&name, placement);
        }
    }

    /// Gives the herder what the other workers report.
    fn share_remote(&self) {
        let s = &self.shared;
        let (parts, topics) = {
            let view = lock(&s.status);
            let parts: BTreeMap<Part, StateInfo> = view
                .parts
                .iter()
                .filter(|(_, st)| st.worker_id != s.worker_id)
                .filter_map(|(k, st)| {
                    let part = match k {
                        StatusKey::Connector(c) => Part::Connector(c.clone()),
                        StatusKey::Task(c, n) => Part::Task(c.clone(), *n),
                        StatusKey::Topic { .. } => return None,
                    };
                    Some((
                        part,
                        StateInfo {
                            state: st.state,
                            trace: st.trace.clone(),
                            worker_id: Some(st.worker_id.clone()),
                        },
                    ))
                })
                .collect();
            (parts, records::topics_by_connector(view.topics.iter()))
        };
        s.herder.set_remote(parts, topics);
    }

    /// Writes the statuses of the parts running here that changed, and withdraws those of
    /// parts no longer here (once their tasks have committed and ended, and only if no other
    /// worker has written the key since).
    async fn publish_statuses(&self) {
        let s = &self.shared;
        let generation = s.generation.load(Ordering::SeqCst);
        let (locals, local_topics) = s.herder.local_statuses();
        let mut desired: BTreeMap<StatusKey, Vec<u8>> = BTreeMap::new();
        for status in locals {
            let key = match status.part {
                Part::Connector(c) => StatusKey::Connector(c),
                Part::Task(c, n) => StatusKey::Task(c, n),
            };
            let value = records::encode_status(&Status {
                state: status.state,
                trace: status.trace,
                worker_id: s.worker_id.clone(),
                generation,
                version: Some(lakesink_connect::plugins::VERSION.to_string()),
            });
            desired.insert(key, value);
        }
        let now = now_ms();
        let records: Vec<(String, Option<Vec<u8>>)> = {
            let mut written = lock(&s.written);
            for (connector, topics) in local_topics {
                for topic in topics {
                    let key = StatusKey::Topic {
                        topic: topic.clone(),
                        connector: connector.clone(),
                    };
                    let value = written
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| records::encode_topic(&topic, &connector, now));
                    desired.insert(key, value);
                }
            }
            let view = lock(&s.status);
            let mut out = Vec::new();
            for (k, v) in &desired {
                if written.get(k) != Some(v) {
                    out.push((k.key(), Some(v.clone())));
                }
            }
            let gone: Vec<StatusKey> = written
                .keys()
                .filter(|k| !desired.contains_key(k))
                .cloned()
                .collect();
            for k in gone {
                match &k {
                    // A topic stays listed until the connector's topics are reset.
                    StatusKey::Topic { .. } => {
                        if !view.topics.contains(&k) {
                            written.remove(&k);
                        }
                        continue;
                    }
                    StatusKey::Task(c, _) if s.herder.has_local_live_tasks(c) => continue,
                    _ => {}
                }
                if view
                    .parts
                    .get(&k)
                    .is_none_or(|st| st.worker_id == s.worker_id)
                {
                    out.push((k.key(), None));
                }
                written.remove(&k);
            }
            for (k, v) in desired {
                written.insert(k, v);
            }
            out
        };
        if records.is_empty() {
            return;
        }
        if let Err(e) = s.status_writer.write(&records, None).await {
            tracing::warn!("writing statuses: {e}");
            // Write them all again next time.
            lock(&s.written).clear();
        }
    }

    /// Brings the herder in line with the config topic: new, changed and deleted connectors,
    /// target states, restart requests and topic resets.
    fn apply(&self) {
        let s = &self.shared;
        let _one_at_a_time = lock(&s.applying);
        let (connectors, targets, restarts) = {
            let mut view = lock(&s.config);
            let restarts = std::mem::take(&mut view.restarts);
            (view.connectors.clone(), view.targets.clone(), restarts)
        };
        let herder = &s.herder;
        for (name, config) in &connectors {
            let target = targets.get(name).copied().unwrap_or(TargetState::Started);
            let applied = match herder.view(name) {
                Err(_) => herder.put(name, config.clone(), target, false).map(|_| ()),
                Ok(v) => {
                    let mut r = Ok(());
                    if &v.config != config {
                        r = herder.put(name, config.clone(), target, true).map(|_| ());
                    }
                    if r.is_ok() && v.target != target {
                        r = herder.set_target(name, target);
                    }
                    r
                }
            };
            match applied {
                Ok(()) => {
                    lock(&s.rejected).remove(name);
                }
                Err(e) => {
                    let mut rejected = lock(&s.rejected);
                    if rejected.get(name) != Some(config) {
                        tracing::error!(connector = %name, "this worker cannot run the connector's config: {e}");
                        rejected.insert(name.clone(), config.clone());
                    }
                }
            }
        }
        for name in herder.names() {
            if !connectors.contains_key(&name) {
                let _ = herder.delete(&name);
            }
        }
        for (name, include_tasks, only_failed) in restarts {
            if let Err(e) = herder.restart(&name, include_tasks, only_failed) {
                tracing::debug!(connector = %name, "restart request: {e}");
            }
        }
        let reset = std::mem::take(&mut lock(&s.status).reset);
        for name in reset {
            let _ = herder.reset_topics(&name);
            lock(&s.written).retain(
                |k, _| !matches!(k, StatusKey::Topic { connector, .. } if *connector == name),
            );
        }
    }

    async fn write_config(&self, write: ConfigWrite) -> Result<(), ClusterError> {
        let s = &self.shared;
        let (config_records, status_records) = match &write {
            ConfigWrite::Connector {
                name,
                config,
                initial,
            } => {
                let tasks = config
                    .get("tasks.max")
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(1);
                (
                    records::connector_records(name, config, *initial, tasks),
                    Vec::new(),
                )
            }
            ConfigWrite::Delete { name } => {
                (records::delete_records(name), self.topic_tombstones(name))
            }
            ConfigWrite::Target { name, target } => {
                (vec![records::target_record(name, *target)], Vec::new())
            }
            ConfigWrite::Restart {
                name,
                include_tasks,
                only_failed,
            } => (
                vec![records::restart_record(name, *include_tasks, *only_failed)],
                Vec::new(),
            ),
            ConfigWrite::ResetTopics { name } => (Vec::new(), self.topic_tombstones(name)),
        };
        if !status_records.is_empty() {
            let mut progress = s.status_progress.clone();
            for record in status_records {
                let at = s.status_writer.write(&[record], None).await?;
                log::wait_applied(&mut progress, at, s.timeout).await?;
            }
        }
        if !config_records.is_empty() {
            let at = s.config_writer.write(&config_records, Some(0)).await?;
            let mut progress = s.config_progress.clone();
            log::wait_applied(&mut progress, at, s.timeout).await?;
        }
        self.apply();
        Ok(())
    }

    fn topic_tombstones(&self, name: &str) -> Vec<(String, Option<Vec<u8>>)> {
        let view = lock(&self.shared.status);
        view.topics
            .iter()
            .filter(|k| k.connector() == name)
            .map(|k| (k.key(), None))
            .collect()
    }
}

impl lakesink_connect::Cluster for Cluster {
    fn leader(&self) -> Leader {
        let s = &self.shared;
        if s.election.leadership.is_leader() {
            return Leader::ThisWorker;
        }
        let known = lock(&s.members);
        match known.0.iter().find(|m| m.leader) {
            Some(m) if m.url == s.url => Leader::Unknown, // taking over
            Some(m) => Leader::Other(m.url.clone()),
            None => Leader::Unknown,
        }
    }

    fn write(&self, write: ConfigWrite) -> BoxFuture<'static, Result<(), String>> {
        let this = self.clone();
        Box::pin(async move { this.write_config(write).await.map_err(|e| e.to_string()) })
    }
}

fn apply_config_record(view: &mut ConfigView, topic: &str, r: log::Read<'_>) {
    match records::decode_config(r.key, r.value) {
        Ok(ConfigRecord::Connector { name, config }) => match config {
            Some(c) => {
                view.connectors.insert(name, c);
            }
            None => {
                view.connectors.remove(&name);
            }
        },
        Ok(ConfigRecord::Target { name, target }) => match target {
            Some(t) => {
                view.targets.insert(name, t);
            }
            None => {
                view.targets.remove(&name);
            }
        },
        Ok(ConfigRecord::Restart {
            name,
            include_tasks,
            only_failed,
        }) => {
            // A request read while catching up was carried out (or lost with its worker) long ago.
            if r.live {
                view.restarts.push((name, include_tasks, only_failed));
            }
        }
        // Lakesink's tasks take the connector's config; task records are kept for tools.
        Ok(ConfigRecord::Task { .. } | ConfigRecord::Commit { .. } | ConfigRecord::Other) => {}
        Err(e) => tracing::warn!(topic, key = r.key, "skipping a config record: {e}"),
    }
}

fn apply_status_record(view: &mut StatusView, topic: &str, r: log::Read<'_>) {
    let Some(key) = StatusKey::parse(r.key) else {
        return;
    };
    match (&key, r.value) {
        (StatusKey::Topic { connector, .. }, None) => {
            if view.topics.remove(&key) && r.live {
                view.reset.insert(connector.clone());
            }
        }
        (StatusKey::Topic { .. }, Some(_)) => {
            view.topics.insert(key);
        }
        (_, None) => {
            view.parts.remove(&key);
        }
        (_, Some(v)) => match records::decode_status(v) {
            Ok(status) => {
                view.parts.insert(key, status);
            }
            Err(e) => tracing::warn!(topic, key = r.key, "skipping a status record: {e}"),
        },
    }
}
