//! The worker: runs connectors in this process until SIGINT/SIGTERM, with the Connect REST
//! API on `listeners` to create, change and watch them — on its own (standalone mode, the
//! connectors given on the command line) or as one worker of a cluster (distributed mode,
//! the connectors of the config topic, placed by `lakesink-cluster`).
//!
//! Each task is a Kafka consumer on its own thread (rebalance callbacks run there) feeding a
//! task loop on the shared async runtime through a bounded channel; the channel's bound is
//! the back-pressure from storage to Kafka.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use futures::future::BoxFuture;
use lakesink_config::{
    ConfigErrors, DistributedConfig, Loaded, RawConfig, SinkConfig, TopicSelection, WorkerConfig,
};
use lakesink_connect::herder::TargetState;
use lakesink_connect::{
    Api, Checked, ConnectorInstance, Herder, LogLevels, Offsets, OffsetsError, PartitionOffset,
    Runtime, ServerInfo, TaskControl,
};
use lakesink_record::TopicPartition;
use lakesink_sink::task::{SharedStatus, TaskEvent, TaskStatus, run_task};
use lakesink_sink::{Budget, SinkSettings, Start};

use crate::dead_letters::{DeadLetterProducer, TaskDeadLetters};
use crate::metrics::TaskMetrics;
use crate::shutdown::StopSignals;
use lakesink_source::ownership::{OwnershipWatch, WatchConfig};
use lakesink_source::{Assigned, KafkaSource, PartitionHandler, SourceConfig, StartAt};
use lakesink_storage::Store;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Batches in flight between a consumer thread and its task loop.
const CHANNEL_BATCHES: usize = 4;
/// How often a connector's consumer group is checked for partitions without an owner: two
/// looks in a row find one, so an unowned partition gets an owner a few seconds later.
const OWNERSHIP_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// How the worker runs.
pub enum Mode {
    /// On its own, with these connectors to start with.
    Standalone(Vec<Loaded>),
    /// As one worker of the cluster of `group.id`.
    Distributed(DistributedConfig),
}

/// Runs the worker: the REST API on `listeners`, and its connectors until SIGINT or
/// SIGTERM. A failed task does not stop the process: it shows as `FAILED` in the REST
/// status and is restarted by its connector's restart policy.
pub fn run(worker: RawConfig, mode: Mode, logs: Arc<dyn LogLevels>) -> Result<()> {
    let worker_config = lakesink_config::load_worker(&worker).map_err(|e| anyhow!("{e}"))?;
    let worker = match &mode {
        Mode::Distributed(d) => with_task_session(worker, d),
        Mode::Standalone(_) => worker,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lakesink-io")
        .build()
        .context("starting the async runtime")?;
    let signals = StopSignals::install(&runtime)?;
    let metrics = crate::metrics::install().context("installing the metrics recorder")?;
    let result = runtime.block_on(async {
        let listeners = bind_listeners(&worker_config).await?;
        let worker_id = worker_id(&worker_config, &listeners);
        let runtime = Arc::new(WorkerRuntime {
            worker: worker.clone(),
        });
        let (herder, cluster, connectors) = match mode {
            Mode::Standalone(connectors) => {
                (Herder::new(runtime, worker_id.clone()), None, connectors)
            }
            Mode::Distributed(d) => {
                let herder = Herder::new_distributed(runtime, worker_id.clone());
                let cluster = lakesink_cluster::Cluster::start(
                    lakesink_cluster::ClusterSettings {
                        client: worker_client(&worker_config.bootstrap_servers, &worker),
                        config: d,
                        worker_id: worker_id.clone(),
                        timeout: Duration::from_secs(30),
                    },
                    herder.clone(),
                )
                .await
                .context("joining the worker group")?;
                (herder, Some(cluster), Vec::new())
            }
        };
        let cluster_id = kafka_cluster_id(&worker_config.bootstrap_servers, &worker).await;
        let api = Api {
            herder: herder.clone(),
            info: ServerInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                commit: option_env!("LAKESINK_COMMIT")
                    .unwrap_or("unknown")
                    .to_string(),
                kafka_cluster_id: cluster_id,
            },
            logs,
            offsets: Arc::new(CommittedOffsets {
                worker: worker.clone(),
            }),
            metrics: metrics.renderer(herder.clone()),
            topic_tracking: worker_config.topic_tracking,
            topic_tracking_reset: worker_config.topic_tracking_reset,
            cluster: cluster
                .clone()
                .map(|c| Arc::new(c) as Arc<dyn lakesink_connect::Cluster>),
        };
        let router = lakesink_connect::rest::router(api);
        for (address, listener) in listeners {
            tracing::info!(%address, worker_id = %worker_id, "REST API listening");
            let router = router.clone();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(%address, "REST listener stopped: {e}");
                }
            });
        }
        for loaded in connectors {
            let name = loaded.config.name.clone();
            herder
                .put(&name, loaded.raw, TargetState::Started, false)
                .map_err(|e| anyhow!("connector {name}: {e}"))?;
        }
        signals.recv().await;
        if let Some(cluster) = &cluster {
            // The others take this worker's tasks over while they commit here.
            cluster.leave();
        }
        tracing::info!("stopping: committing open files");
        herder
            .shutdown(Duration::from_millis(SHUTDOWN_GRACE_MS))
            .await;
        if let Some(cluster) = &cluster {
            cluster.publish_final_statuses().await;
        }
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    result?;
    tracing::info!("stopped");
    Ok(())
}

/// How long a stop waits for the tasks to commit and leave their groups.
const SHUTDOWN_GRACE_MS: u64 = 120_000;

type BoundListener = (std::net::SocketAddr, tokio::net::TcpListener);

async fn bind_listeners(worker: &WorkerConfig) -> Result<Vec<BoundListener>> {
    let mut out = Vec::new();
    for l in &worker.listeners {
        let address = l.bind_address();
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| format!("listeners: cannot listen on http://{address}"))?;
        let bound = listener
            .local_addr()
            .with_context(|| format!("listeners: {address}"))?;
        out.push((bound, listener));
    }
    Ok(out)
}

/// `host:port` as Connect names a worker: the advertised address, else the first
/// listener's host (or this machine's name) and bound port.
fn worker_id(worker: &WorkerConfig, bound: &[BoundListener]) -> String {
    let host = worker
        .advertised_host
        .clone()
        .unwrap_or_else(|| match worker.listeners.first() {
            Some(l) if !l.host.is_empty() && l.host != "0.0.0.0" && l.host != "::" => {
                l.host.clone()
            }
            _ => hostname(),
        });
    let port = worker
        .advertised_port
        .or_else(|| bound.first().map(|(a, _)| a.port()))
        .unwrap_or(0);
    format!("{host}:{port}")
}

/// In distributed mode a task's consumer leaves its group within the worker's
/// `session.timeout.ms` when its worker dies, so that the task's partitions move as soon as
/// the task does (librdkafka's own default is 45 s); `consumer.session.timeout.ms` in the
/// worker file still wins.
fn with_task_session(mut worker: RawConfig, d: &DistributedConfig) -> RawConfig {
    worker
        .entry("consumer.session.timeout.ms".into())
        .or_insert_with(|| d.session_timeout_ms.to_string());
    worker
        .entry("consumer.heartbeat.interval.ms".into())
        .or_insert_with(|| {
            d.heartbeat_interval_ms
                .min(d.session_timeout_ms / 3)
                .to_string()
        });
    worker
}

/// The Kafka connection of the worker's own clients: the bootstrap servers and the
/// connection settings its consumers get (`consumer.security.*`, `ssl.*`, `sasl.*`).
fn worker_client(bootstrap: &str, worker: &RawConfig) -> rdkafka::ClientConfig {
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", bootstrap);
    client.set_log_level(rdkafka::config::RDKafkaLogLevel::Warning);
    for (k, v) in worker {
        if let Some(key) = k.strip_prefix("consumer.")
            && (key.starts_with("security.") || key.starts_with("ssl.") || key.starts_with("sasl."))
        {
            client.set(key, v);
        }
    }
    client
}

/// The Kafka cluster's id for `GET /`; `None` when the brokers do not answer in time.
async fn kafka_cluster_id(bootstrap: &str, worker: &RawConfig) -> Option<String> {
    let client = worker_client(bootstrap, worker);
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        client.create().ok()?;
    tokio::task::spawn_blocking(move || {
        admin
            .inner()
            .fetch_cluster_id(rdkafka::util::Timeout::After(Duration::from_secs(10)))
    })
    .await
    .ok()
    .flatten()
}

/// Everything start-up, `lakesink validate` and the REST API check in a connector config:
/// the key table's rules, then what only the partitioner and librdkafka can tell.
pub fn check_connector(worker: &RawConfig, connector: &RawConfig) -> Result<Loaded, ConfigErrors> {
    let loaded = lakesink_config::load(worker, connector)?;
    let c = &loaded.config;
    let timezone = c
        .timezone
        .as_deref()
        .and_then(lakesink_config::parse_timezone);
    let conflict = |e: String| ConfigErrors(vec![lakesink_config::ConfigError::Conflict(e)]);
    lakesink_sink::build_partitioner(&c.partitioner, timezone)
        .map_err(|e| conflict(format!("invalid configuration: {e}")))?;
    lakesink_source::check_settings(&source_config(c, 0)).map_err(|e| conflict(e.to_string()))?;
    lakesink_transform::Chain::new(&c.transforms, lakesink_transform::NullValues::Drop).map_err(
        |e| {
            ConfigErrors(vec![lakesink_config::ConfigError::Invalid {
                key: e.key,
                value: e.value,
                expected: e.message,
            }])
        },
    )?;
    Ok(loaded)
}

/// Starts connectors and checks their configs for the herder.
struct WorkerRuntime {
    worker: RawConfig,
}

impl Runtime for WorkerRuntime {
    fn validate(&self, config: &RawConfig) -> Result<Checked, ConfigErrors> {
        let loaded = check_connector(&self.worker, config)?;
        Ok(Checked {
            tasks_max: loaded.config.tasks_max,
            restart: loaded.config.restart,
            warnings: loaded.warnings,
        })
    }

    fn start_connector(
        &self,
        name: &str,
        config: &RawConfig,
    ) -> Result<Arc<dyn ConnectorInstance>, String> {
        let loaded = lakesink_config::load(&self.worker, config).map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Handle::current();
        let running = RunningConnector::start(Arc::new(loaded.config), runtime)
            .map_err(|e| format!("connector {name}: {e:#}"))?;
        Ok(Arc::new(running))
    }
}

/// What the tasks of one started connector share in this worker.
struct RunningConnector {
    config: Arc<SinkConfig>,
    store: Store,
    budget: Arc<Budget>,
    dead_letters: Option<Arc<DeadLetterProducer>>,
    runtime: tokio::runtime::Handle,
    _watch: OwnershipWatch,
    budget_metrics: tokio::task::AbortHandle,
}

impl RunningConnector {
    fn start(config: Arc<SinkConfig>, runtime: tokio::runtime::Handle) -> Result<Self> {
        let store = {
            let _guard = runtime.enter();
            Store::open(&config.store_url, config.hadoop_conf_dir.as_deref())
                .with_context(|| format!("opening {}", config.store_url))?
        };
        tracing::info!(connector = %config.name, store = %store.url(), tasks = config.tasks_max, "starting connector");
        // One budget for all tasks of the connector in this worker.
        let budget = Budget::new(
            config.max_open_files,
            config.max_buffered_bytes,
            config.storage_concurrency,
        );
        let dead_letters = match (&config.errors.dlq_topic, config.errors.tolerate_all) {
            (Some(topic), true) => {
                Some(runtime.block_on(DeadLetterProducer::start(&config, topic))?)
            }
            _ => None,
        };
        // Partitions of the connector's group that stay without an owner get one (see
        // lakesink_source::ownership); one watch per connector and worker.
        let watch_source = source_config(&config, 0);
        let watch = OwnershipWatch::start(WatchConfig {
            bootstrap_servers: watch_source.bootstrap_servers,
            group_id: watch_source.group_id,
            settings: watch_source.settings,
            interval: OWNERSHIP_CHECK_INTERVAL,
        })
        .context("starting the ownership watch")?;
        let budget_metrics = crate::metrics::watch_budget(
            &config.name,
            budget.clone(),
            config.max_open_files,
            config.max_buffered_bytes,
            &runtime,
        );
        Ok(RunningConnector {
            config,
            store,
            budget,
            dead_letters,
            runtime,
            _watch: watch,
            budget_metrics,
        })
    }
}

impl Drop for RunningConnector {
    fn drop(&mut self) {
        self.budget_metrics.abort();
        let p = self.budget.peaks();
        tracing::info!(
            connector = %self.config.name,
            peak_open_files = p.open_files,
            max_open_files = p.max_open_files,
            peak_buffered_mib = p.buffered_bytes as f64 / 1048576.0,
            max_buffered_mib = p.max_buffered_bytes as f64 / 1048576.0,
            "limits: most held between batches"
        );
    }
}

impl ConnectorInstance for RunningConnector {
    fn start_task(
        &self,
        task_id: usize,
        control: TaskControl,
    ) -> Result<std::thread::JoinHandle<Result<(), String>>, String> {
        let config = self.config.clone();
        let owner = format!(
            "{}:{}:{}:task-{task_id}",
            hostname(),
            std::process::id(),
            config.name
        );
        let settings =
            SinkSettings::from_config(&config, self.store.clone(), owner, self.budget.clone())
                .map_err(|e| format!("connector {}: {e}", config.name))?;
        let mut settings = SinkSettings {
            stopping: control.stop.clone(),
            metrics: lakesink_sink::telemetry::SinkMetrics::new(
                &config.name,
                task_id,
                config.format.extension().trim_start_matches('.'),
            ),
            ..settings
        };
        if let Some(producer) = &self.dead_letters {
            settings.errors.queue = Some(Arc::new(TaskDeadLetters {
                producer: producer.clone(),
                connector: config.name.clone(),
                task_id,
                context_headers: config.errors.dlq_context_headers,
            }));
        }
        let settings = Arc::new(settings);
        let handle = self.runtime.clone();
        std::thread::Builder::new()
            .name(format!("{}-task-{task_id}", config.name))
            .spawn(move || {
                run_consumer(&config, task_id, settings, handle, control).map_err(|e| {
                    let e = e.context(format!("task {}-{task_id} failed", config.name));
                    tracing::error!("{e:#}");
                    format!("{e:#}")
                })
            })
            .map_err(|e| format!("starting a task thread: {e}"))
    }
}

/// `GET /connectors/{name}/offsets`: what the commit log in storage says.
struct CommittedOffsets {
    worker: RawConfig,
}

impl Offsets for CommittedOffsets {
    fn committed(
        &self,
        _name: &str,
        config: &RawConfig,
    ) -> BoxFuture<'static, Result<Vec<PartitionOffset>, String>> {
        let loaded = lakesink_config::load(&self.worker, config);
        Box::pin(async move {
            let loaded = loaded.map_err(|e| e.to_string())?;
            crate::offsets::committed(&loaded.config).await
        })
    }

    fn alter(
        &self,
        name: &str,
        config: &RawConfig,
        changes: Vec<(String, i32, Option<i64>)>,
    ) -> BoxFuture<'static, Result<(), OffsetsError>> {
        let loaded = lakesink_config::load(&self.worker, config);
        let owner = format!("{}:{}:{name}:rest-api", hostname(), std::process::id());
        Box::pin(async move {
            let loaded = loaded.map_err(|e| OffsetsError::Failed(e.to_string()))?;
            crate::offsets::alter(&loaded.config, owner, changes)
                .await
                .map_err(|e| match e {
                    crate::offsets::AlterError::Refused(m) => OffsetsError::Refused(m),
                    crate::offsets::AlterError::Failed(m) => OffsetsError::Failed(m),
                })
        })
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// The sink's answers to the consumer's rebalance callbacks, relayed to the task loop.
struct Handler {
    events: mpsc::Sender<TaskEvent>,
}

impl PartitionHandler for Handler {
    fn assigned(&self, partitions: &[Assigned]) -> Result<Vec<StartAt>, String> {
        let (reply, answer) = oneshot::channel();
        let request = TaskEvent::Open {
            partitions: partitions
                .iter()
                .map(|a| (a.tp.clone(), a.low_watermark))
                .collect(),
            reply,
        };
        self.events
            .blocking_send(request)
            .map_err(|_| "the task loop has stopped".to_string())?;
        let starts = answer
            .blocking_recv()
            .map_err(|_| "the task loop has stopped".to_string())??;
        Ok(starts
            .into_iter()
            .map(|s| match s {
                Start::At(Some(offset)) => StartAt::Offset(offset),
                Start::At(None) => StartAt::Committed,
                Start::Later => StartAt::Later,
            })
            .collect())
    }

    fn revoked(&self, partitions: &[TopicPartition], _lost: bool) -> Vec<(TopicPartition, i64)> {
        // Committing even when the partitions are lost is safe: the commit protocol fences
        // this worker if the new owner has already taken over.
        let (reply, answer) = oneshot::channel();
        let request = TaskEvent::Close {
            partitions: partitions.to_vec(),
            reply,
        };
        if self.events.blocking_send(request).is_err() {
            return Vec::new();
        }
        answer.blocking_recv().unwrap_or_default()
    }
}

fn source_config(config: &SinkConfig, task_id: usize) -> SourceConfig {
    let subscription = match &config.topics {
        TopicSelection::List(topics) => topics.clone(),
        // librdkafka subscribes by regex when the name starts with '^' (POSIX-style syntax,
        // so no `(?:`); Connect's topics.regex matches whole names.
        TopicSelection::Regex(r) => vec![format!(
            "^({})$",
            r.trim_start_matches('^').trim_end_matches('$')
        )],
    };
    let mut settings = config.consumer.clone();
    if let Some(worker) = &config.worker_id {
        // Static membership: a restart with the same id takes the partitions back at once.
        settings.insert(
            "group.instance.id".into(),
            format!("{worker}.{}.task-{task_id}", config.name),
        );
    }
    SourceConfig {
        bootstrap_servers: config.bootstrap_servers.clone(),
        group_id: config.group_id(),
        client_id: format!("connector-consumer-{}-{task_id}", config.name),
        subscription,
        settings,
        max_batch_records: 50_000,
        max_batch_bytes: 8 << 20,
    }
}

/// Adds the topics of the assignment to what `GET /connectors/{name}/topics` reports.
fn record_topics(control: &TaskControl, assignment: &std::collections::HashSet<TopicPartition>) {
    let mut topics = match control.topics.lock() {
        Ok(t) => t,
        Err(p) => p.into_inner(),
    };
    for tp in assignment {
        if !topics.contains(&*tp.topic) {
            topics.insert(tp.topic.to_string());
        }
    }
}

/// Takes the task loop's news; the failure stays set.
fn take_status(status: &SharedStatus) -> TaskStatus {
    let mut s = match status.lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    TaskStatus {
        committed: std::mem::take(&mut s.committed),
        reopen: std::mem::take(&mut s.reopen),
        failure: s.failure.clone(),
    }
}

fn run_consumer(
    config: &SinkConfig,
    task_id: usize,
    settings: Arc<SinkSettings>,
    runtime: tokio::runtime::Handle,
    control: TaskControl,
) -> Result<()> {
    let stop = control.stop.clone();
    let metrics = TaskMetrics::new(&config.name, task_id);
    let (events, receiver) = mpsc::channel(CHANNEL_BATCHES);
    let status: SharedStatus = Arc::new(Mutex::new(TaskStatus::default()));
    let shutdown_ms = settings.shutdown_timeout_ms;
    // Every line from this task, on its consumer thread and in its task loop, names it.
    let span = tracing::info_span!("task", connector = %config.name, task = task_id);
    let _entered = span.enter();
    let task = runtime.spawn(run_task(settings, receiver, status.clone()).instrument(span.clone()));
    let handler = Arc::new(Handler {
        events: events.clone(),
    });
    let source = KafkaSource::new(source_config(config, task_id), handler)
        .context("creating the Kafka consumer")?;
    let mut reopen: HashMap<TopicPartition, Instant> = HashMap::new();
    let mut result = Ok(());
    // The assignment last reported as caught up: reported again when it changes.
    let mut caught_up_on: Option<Vec<TopicPartition>> = None;
    let mut lag_checked = Instant::now();
    // Whether the partitions are held paused for `PUT /connectors/{name}/pause`.
    let mut held = false;
    while !stop.load(Ordering::SeqCst) {
        let assignment = source.assignment();
        if control.paused.load(Ordering::SeqCst) {
            // Every look, so that partitions assigned while paused are paused too.
            for tp in &assignment {
                let _ = source.pause(tp);
            }
            held = true;
        } else if held {
            for tp in assignment.iter().filter(|tp| !reopen.contains_key(*tp)) {
                let _ = source.resume(tp);
            }
            held = false;
        }
        record_topics(&control, &assignment);
        let batches = match source.poll_batches(Duration::from_millis(200)) {
            Ok(b) => b,
            Err(e) => {
                result = Err(anyhow!(e));
                break;
            }
        };
        metrics.read(batches.iter().map(|(_, b)| b.len() as u64).sum());
        if !batches.is_empty() && events.blocking_send(TaskEvent::Records(batches)).is_err() {
            result = Err(anyhow!("the task loop stopped unexpectedly"));
            break;
        }
        if lag_checked.elapsed() >= Duration::from_secs(1) {
            lag_checked = Instant::now();
            // Operators (and the benchmarks) watch for this line: everything assigned has
            // been read. What is read is committed by the rotation rules, or by a graceful
            // stop within shutdown.timeout.ms.
            let mut assignment: Vec<TopicPartition> = assignment.into_iter().collect();
            assignment.sort();
            let lags = source.partition_lags();
            metrics.lags(assignment.len(), lags.as_deref());
            let lag: Option<i64> = lags.map(|l| l.iter().map(|(_, n)| n).sum());
            if lag == Some(0) && !assignment.is_empty() {
                if caught_up_on.as_ref() != Some(&assignment) {
                    tracing::info!(
                        partitions = assignment.len(),
                        "caught up: every assigned partition is read to the end of its log"
                    );
                    caught_up_on = Some(assignment);
                }
            } else {
                caught_up_on = None;
            }
        }
        let news = take_status(&status);
        metrics.committed(&news.committed);
        source.commit_offsets(&news.committed);
        if let Some(f) = news.failure {
            result = Err(anyhow!(f));
            break;
        }
        for (tp, when) in news.reopen {
            if source.pause(&tp).is_ok() {
                reopen.insert(tp, when);
            }
        }
        let due: Vec<TopicPartition> = reopen
            .iter()
            .filter(|(_, w)| Instant::now() >= **w)
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in due {
            reopen.remove(&tp);
            if !source.assignment().contains(&tp) {
                continue; // revoked meanwhile: nothing to take back
            }
            tracing::info!(%tp, "recovering the partition again");
            let (reply, answer) = oneshot::channel();
            let request = TaskEvent::Open {
                partitions: vec![(tp.clone(), None)],
                reply,
            };
            if events.blocking_send(request).is_err() {
                break;
            }
            match answer.blocking_recv() {
                Ok(Ok(starts)) => {
                    let sought = match starts.first() {
                        Some(Start::At(Some(offset))) => source.seek(&tp, *offset),
                        // Nothing committed yet: what was read since the partition started
                        // is read again.
                        Some(Start::At(None)) => source.rewind(&tp),
                        // Storage still cannot be read: the task has asked for another
                        // recovery later, and the partition stays paused.
                        Some(Start::Later) | None => continue,
                    };
                    if let Err(e) = sought {
                        tracing::warn!(%tp, "seeking the recovered partition failed: {e}; retrying");
                        reopen.insert(tp.clone(), Instant::now() + Duration::from_secs(1));
                        continue;
                    }
                    if !control.paused.load(Ordering::SeqCst) {
                        let _ = source.resume(&tp);
                    }
                }
                Ok(Err(e)) => {
                    result = Err(anyhow!(e));
                    break;
                }
                Err(_) => break,
            }
        }
        if result.is_err() {
            break;
        }
    }
    // Leaving the group revokes our partitions; the revoke callback commits what is open.
    source.shutdown(Duration::from_millis(shutdown_ms.max(1000) + 10_000));
    let (reply, answer) = oneshot::channel();
    if events.blocking_send(TaskEvent::Shutdown { reply }).is_ok() {
        let _ = answer.blocking_recv();
    }
    drop(events);
    let _ = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
    if result.is_ok()
        && let Some(f) = take_status(&status).failure
    {
        result = Err(anyhow!(f));
    }
    result
}
