//! The herder: the connectors of this worker, their target states and the life of their
//! tasks, as Kafka Connect's standalone herder keeps them.
//!
//! Every request takes the state lock only to read or flip a few fields; starting a
//! connector (which may wait on Kafka or storage) and stopping tasks (which commit their open
//! files) run on blocking threads, so one slow connector never holds up a request about
//! another. A supervisor notices tasks that ended, marks them `FAILED` with their error and
//! restarts them by the connector's restart policy.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lakesink_config::{ConfigErrors, RawConfig, RestartPolicy};

/// What the herder needs from the data path: checking a config and starting a connector.
/// The binary implements it; the herder knows nothing of Kafka or storage.
pub trait Runtime: Send + Sync + 'static {
    /// Checks a connector config against the worker's, as `lakesink validate` does.
    fn validate(&self, config: &RawConfig) -> Result<Checked, ConfigErrors>;
    /// Opens what a connector's tasks share (storage, the dead-letter producer). May block.
    fn start_connector(
        &self,
        name: &str,
        config: &RawConfig,
    ) -> Result<Arc<dyn ConnectorInstance>, String>;
}

/// The facts the herder uses from a valid config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub tasks_max: usize,
    pub restart: RestartPolicy,
    /// Problems worth a warning: keys without effect.
    pub warnings: Vec<String>,
}

/// A started connector: what its tasks share in this worker.
pub trait ConnectorInstance: Send + Sync {
    /// Starts task `task` on its own thread; the thread returns when `control.stop` is set
    /// (`Ok`) or when the task fails (`Err` with the error, naming the record).
    fn start_task(
        &self,
        task: usize,
        control: TaskControl,
    ) -> Result<JoinHandle<Result<(), String>>, String>;
}

/// The herder's handles on one running task.
#[derive(Clone, Default)]
pub struct TaskControl {
    /// Set to stop the task: it commits what it can within its shutdown timeout and returns.
    pub stop: Arc<AtomicBool>,
    /// While set, the task keeps its partitions but reads nothing (`PUT .../pause`).
    pub paused: Arc<AtomicBool>,
    /// The topics the connector's tasks have been assigned partitions of, shared by them
    /// (`GET .../topics`).
    pub topics: Arc<Mutex<BTreeSet<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
    Stopped,
}

impl TargetState {
    pub fn parse(s: &str) -> Option<TargetState> {
        match s.to_ascii_uppercase().as_str() {
            "RUNNING" | "STARTED" => Some(TargetState::Started),
            "PAUSED" => Some(TargetState::Paused),
            "STOPPED" => Some(TargetState::Stopped),
            _ => None,
        }
    }
}

/// A connector's or task's state as the REST API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
        }
    }
}

/// One state with the worker it is on and, when failed, the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInfo {
    pub state: State,
    pub trace: Option<String>,
    /// The worker it runs on, when not this one (distributed mode).
    pub worker_id: Option<String>,
}

impl StateInfo {
    fn local(state: State, trace: Option<String>) -> StateInfo {
        StateInfo {
            state,
            trace,
            worker_id: None,
        }
    }
}

/// Which parts of a connector run in this worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// All of them (standalone mode).
    All,
    /// Those the cluster assigned here (distributed mode): the connector itself (whose status
    /// this worker reports) and some task ids.
    Assigned {
        connector: bool,
        tasks: BTreeSet<usize>,
    },
}

impl Placement {
    fn nothing() -> Placement {
        Placement::Assigned {
            connector: false,
            tasks: BTreeSet::new(),
        }
    }

    fn runs_connector(&self) -> bool {
        match self {
            Placement::All => true,
            Placement::Assigned { connector, .. } => *connector,
        }
    }

    fn runs_task(&self, id: usize) -> bool {
        match self {
            Placement::All => true,
            Placement::Assigned { tasks, .. } => tasks.contains(&id),
        }
    }

    /// Whether anything runs here: only then are the connector's shared parts opened.
    fn runs_anything(&self) -> bool {
        match self {
            Placement::All => true,
            Placement::Assigned { connector, tasks } => *connector || !tasks.is_empty(),
        }
    }
}

/// What a part of a connector is: the connector itself or one of its tasks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Connector(String),
    Task(String, usize),
}

/// The status of one part running in this worker, for the status topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalStatus {
    pub part: Part,
    pub state: State,
    pub trace: Option<String>,
}

/// A snapshot of one connector for the REST API and the metrics.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    pub name: String,
    pub config: RawConfig,
    pub target: TargetState,
    pub connector: StateInfo,
    /// Task ids with their states; empty when stopped.
    pub tasks: Vec<(usize, StateInfo)>,
    pub topics: BTreeSet<String>,
    /// Automatic restarts of this connector's tasks so far.
    pub task_restarts: u64,
}

/// Why a request was refused; the REST layer maps each to Connect's status and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HerderError {
    #[error("Connector {0} not found")]
    NotFound(String),
    #[error("Connector {0} already exists")]
    AlreadyExists(String),
    #[error("Task {0} not found")]
    UnknownTask(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`", .0.0.len(), .0.0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(ConfigErrors),
    #[error("the worker is shutting down")]
    ShuttingDown,
    /// A conflicting operation in the cluster (a rebalance); retrying helps (409).
    #[error("{0}")]
    Conflict(String),
}

struct Task {
    state: State,
    trace: Option<String>,
    control: TaskControl,
    thread: Option<JoinHandle<Result<(), String>>>,
    /// Automatic restarts in a row.
    attempts: u32,
    started: Instant,
    restart_at: Option<Instant>,
}

impl Task {
    fn unassigned() -> Task {
        Task {
            state: State::Unassigned,
            trace: None,
            control: TaskControl::default(),
            thread: None,
            attempts: 0,
            started: Instant::now(),
            restart_at: None,
        }
    }
}

struct Connector {
    config: RawConfig,
    checked: Checked,
    target: TargetState,
    state: State,
    trace: Option<String>,
    instance: Option<Arc<dyn ConnectorInstance>>,
    tasks: Vec<Task>,
    /// Bumped on every (re)start, so a start that finishes late for an older one is dropped.
    generation: u64,
    /// Tasks being stopped; a new start waits for them (two tasks of one connector never
    /// run at once in this worker).
    draining: Vec<Drain>,
    task_restarts: u64,
    /// Topics its tasks have read, kept across restarts until reset (Connect's KIP-558).
    topics: Arc<Mutex<BTreeSet<String>>>,
    placement: Placement,
}

/// The end of stopping some tasks; any number may wait for it, before or after it ends.
#[derive(Default)]
struct DrainSignal {
    done: AtomicBool,
    notify: tokio::sync::Notify,
}

impl DrainSignal {
    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }
}

type Drain = Arc<DrainSignal>;

/// Counters of the worker (`connect-worker-metrics`).
#[derive(Default)]
pub struct WorkerCounters {
    pub connector_startup_attempts: AtomicU64,
    pub connector_startup_success: AtomicU64,
    pub connector_startup_failure: AtomicU64,
    pub task_startup_attempts: AtomicU64,
    pub task_startup_success: AtomicU64,
    pub task_startup_failure: AtomicU64,
}

struct Inner {
    connectors: BTreeMap<String, Connector>,
    shutting_down: bool,
    /// Config warnings already logged.
    warned: BTreeSet<String>,
    /// Distributed mode: what the other workers report of the parts they run, and the
    /// topics their tasks read.
    remote: BTreeMap<Part, StateInfo>,
    remote_topics: BTreeMap<String, BTreeSet<String>>,
}

/// The connectors of this worker. Cheap to clone; every clone is the same herder.
#[derive(Clone)]
pub struct Herder {
    inner: Arc<Mutex<Inner>>,
    runtime: Arc<dyn Runtime>,
    tokio: tokio::runtime::Handle,
    pub counters: Arc<WorkerCounters>,
    /// `host:port` as statuses name this worker.
    worker_id: Arc<str>,
    started_ms: u64,
    /// Distributed mode: a new connector runs nothing here until the cluster places it.
    distributed: bool,
}

/// How often the supervisor looks at the tasks.
const SUPERVISE_EVERY: Duration = Duration::from_millis(250);

impl Herder {
    /// A herder with no connectors that runs every part of its connectors (standalone
    /// mode); call from within the tokio runtime it is to use.
    pub fn new(runtime: Arc<dyn Runtime>, worker_id: String) -> Herder {
        Herder::start(runtime, worker_id, false)
    }

    /// A herder of one worker of a cluster: it runs the parts given to it by
    /// [`Herder::set_placement`] and shows the rest as the other workers report them
    /// ([`Herder::set_remote`]).
    pub fn new_distributed(runtime: Arc<dyn Runtime>, worker_id: String) -> Herder {
        Herder::start(runtime, worker_id, true)
    }

    fn start(runtime: Arc<dyn Runtime>, worker_id: String, distributed: bool) -> Herder {
        let herder = Herder {
            inner: Arc::new(Mutex::new(Inner {
                connectors: BTreeMap::new(),
                shutting_down: false,
                warned: BTreeSet::new(),
                remote: BTreeMap::new(),
                remote_topics: BTreeMap::new(),
            })),
            runtime,
            tokio: tokio::runtime::Handle::current(),
            counters: Arc::new(WorkerCounters::default()),
            worker_id: worker_id.into(),
            started_ms: now_ms(),
            distributed,
        };
        let supervisor = herder.clone();
        herder.tokio.spawn(async move {
            let mut tick = tokio::time::interval(SUPERVISE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if !supervisor.supervise() {
                    break;
                }
            }
        });
        herder
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn validate(&self, config: &RawConfig) -> Result<Checked, ConfigErrors> {
        self.runtime.validate(config)
    }

    /// The names of the connectors, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().connectors.keys().cloned().collect()
    }

    pub fn view(&self, name: &str) -> Result<ConnectorView, HerderError> {
        let inner = self.lock();
        let c = inner
            .connectors
            .get(name)
            .ok_or_else(|| HerderError::NotFound(name.to_string()))?;
        Ok(view_of(name, c, &inner))
    }

    pub fn views(&self) -> Vec<ConnectorView> {
        let inner = self.lock();
        inner
            .connectors
            .iter()
            .map(|(name, c)| view_of(name, c, &inner))
            .collect()
    }

    /// Each connector with its task count and target state, for placing its parts.
    pub fn shapes(&self) -> Vec<(String, usize, TargetState)> {
        let inner = self.lock();
        inner
            .connectors
            .iter()
            .map(|(name, c)| (name.clone(), c.checked.tasks_max, c.target))
            .collect()
    }

    /// The statuses of the parts running here, and the topics their tasks read, by connector.
    pub fn local_statuses(&self) -> (Vec<LocalStatus>, BTreeMap<String, BTreeSet<String>>) {
        let inner = self.lock();
        let mut out = Vec::new();
        let mut topics = BTreeMap::new();
        for (name, c) in &inner.connectors {
            if c.placement.runs_connector() {
                out.push(LocalStatus {
                    part: Part::Connector(name.clone()),
                    state: c.state,
                    trace: c.trace.clone(),
                });
            }
            for (id, t) in c.tasks.iter().enumerate() {
                if c.placement.runs_task(id) {
                    out.push(LocalStatus {
                        part: Part::Task(name.clone(), id),
                        state: t.state,
                        trace: t.trace.clone(),
                    });
                }
            }
            topics.insert(name.clone(), lock(&c.topics).clone());
        }
        (out, topics)
    }

    /// Distributed mode: what the other workers report.
    pub fn set_remote(
        &self,
        statuses: BTreeMap<Part, StateInfo>,
        topics: BTreeMap<String, BTreeSet<String>>,
    ) {
        let mut inner = self.lock();
        inner.remote = statuses;
        inner.remote_topics = topics;
    }

    /// Whether task `id` of a connector runs in this worker.
    pub fn runs_task(&self, name: &str, id: usize) -> bool {
        self.lock()
            .connectors
            .get(name)
            .is_some_and(|c| c.placement.runs_task(id))
    }

    /// Distributed mode: runs here what the cluster assigned to this worker, and stops what
    /// it took away (their files are committed before another worker's tasks take over
    /// their partitions, by the consumer group's rebalance).
    pub fn set_placement(&self, name: &str, placement: Placement) {
        let mut inner = self.lock();
        if inner.shutting_down {
            return;
        }
        let Some(c) = inner.connectors.get_mut(name) else {
            return;
        };
        if c.placement == placement {
            return;
        }
        tracing::info!(connector = name, placement = ?placement, "parts placed on this worker");
        let before = std::mem::replace(&mut c.placement, placement);
        if c.target == TargetState::Stopped {
            return;
        }
        match (before.runs_anything(), c.placement.runs_anything()) {
            (false, false) => {}
            (false, true) => self.begin_start(name, c),
            (true, false) => {
                let drain = self.stop_tasks(name, c);
                c.draining.extend(drain);
                c.state = State::Unassigned;
                c.trace = None;
                c.tasks = (0..c.checked.tasks_max)
                    .map(|_| Task::unassigned())
                    .collect();
            }
            (true, true) => {
                for id in 0..c.tasks.len() {
                    let (was, is) = (before.runs_task(id), c.placement.runs_task(id));
                    if was && !is {
                        let task = std::mem::replace(&mut c.tasks[id], Task::unassigned());
                        task.control.stop.store(true, Ordering::SeqCst);
                        if let Some(thread) = task.thread {
                            let drain = self.join_in_background(name, vec![thread], None);
                            c.draining.push(drain);
                        }
                    } else if !was && is && c.instance.is_some() {
                        self.launch_task(name, c, id);
                    }
                }
            }
        }
    }

    /// Creates a connector; `Ok(false)` if `replace` and it existed (its config is replaced).
    pub fn put(
        &self,
        name: &str,
        config: RawConfig,
        initial: TargetState,
        replace: bool,
    ) -> Result<bool, HerderError> {
        let checked = self
            .runtime
            .validate(&config)
            .map_err(HerderError::Invalid)?;
        let mut inner = self.lock();
        // Once each: the worker file's warnings come with every connector.
        for w in &checked.warnings {
            if inner.warned.insert(w.clone()) {
                tracing::warn!(connector = name, "{w}");
            }
        }
        if inner.shutting_down {
            return Err(HerderError::ShuttingDown);
        }
        let created = match inner.connectors.get_mut(name) {
            Some(_) if !replace => return Err(HerderError::AlreadyExists(name.to_string())),
            Some(c) => {
                // A new config restarts the connector with it; the target state stays.
                let drain = self.stop_tasks(name, c);
                c.config = config;
                c.checked = checked;
                c.draining.extend(drain);
                if c.target != TargetState::Stopped {
                    self.begin_start(name, c);
                }
                false
            }
            None => {
                let mut c = Connector {
                    config,
                    checked,
                    target: initial,
                    state: State::Unassigned,
                    trace: None,
                    instance: None,
                    tasks: Vec::new(),
                    generation: 0,
                    draining: Vec::new(),
                    task_restarts: 0,
                    topics: Arc::default(),
                    placement: if self.distributed {
                        Placement::nothing()
                    } else {
                        Placement::All
                    },
                };
                if initial == TargetState::Stopped {
                    c.state = State::Stopped;
                } else {
                    self.begin_start(name, &mut c);
                }
                inner.connectors.insert(name.to_string(), c);
                true
            }
        };
        tracing::info!(connector = name, created, "connector config stored");
        Ok(created)
    }

    pub fn delete(&self, name: &str) -> Result<(), HerderError> {
        let mut inner = self.lock();
        let mut c = inner
            .connectors
            .remove(name)
            .ok_or_else(|| HerderError::NotFound(name.to_string()))?;
        c.generation += 1;
        self.stop_tasks(name, &mut c);
        tracing::info!(connector = name, "connector deleted");
        Ok(())
    }

    pub fn set_target(&self, name: &str, target: TargetState) -> Result<(), HerderError> {
        let mut inner = self.lock();
        let c = inner
            .connectors
            .get_mut(name)
            .ok_or_else(|| HerderError::NotFound(name.to_string()))?;
        let before = c.target;
        c.target = target;
        match (before, target) {
            (a, b) if a == b => {}
            (_, TargetState::Stopped) => {
                let drain = self.stop_tasks(name, c);
                c.draining.extend(drain);
                c.state = State::Stopped;
                c.trace = None;
            }
            (TargetState::Stopped, _) => self.begin_start(name, c),
            (_, TargetState::Paused) => {
                for t in &mut c.tasks {
                    t.control.paused.store(true, Ordering::SeqCst);
                    if t.state == State::Running {
                        t.state = State::Paused;
                    }
                }
                if c.state == State::Running {
                    c.state = State::Paused;
                }
            }
            (_, TargetState::Started) => {
                for t in &mut c.tasks {
                    t.control.paused.store(false, Ordering::SeqCst);
                    if t.state == State::Paused {
                        t.state = State::Running;
                    }
                }
                if c.state == State::Paused {
                    c.state = State::Running;
                }
            }
        }
        tracing::info!(connector = name, target = ?target, "target state set");
        Ok(())
    }

    /// `POST /connectors/{name}/restart`: the connector (a failed one is started again) and,
    /// with `include_tasks`, its tasks (with `only_failed`, the failed ones). Returns whether
    /// anything was restarted.
    pub fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<ConnectorView, HerderError> {
        let mut inner = self.lock();
        let c = inner
            .connectors
            .get_mut(name)
            .ok_or_else(|| HerderError::NotFound(name.to_string()))?;
        let connector_restarts = !only_failed || c.state == State::Failed;
        if c.target != TargetState::Stopped && connector_restarts && c.instance.is_none() {
            // Nothing runs (failed to start, or still starting): start it again.
            self.begin_start(name, c);
            c.state = State::Restarting;
        } else if include_tasks {
            let ids: Vec<usize> = (0..c.tasks.len())
                .filter(|&i| c.placement.runs_task(i))
                .filter(|&i| !only_failed || c.tasks[i].state == State::Failed)
                .collect();
            for id in ids {
                c.tasks[id].attempts = 0;
                self.restart_task_locked(name, c, id);
                c.tasks[id].state = State::Restarting;
            }
        }
        let mut view = match inner.connectors.get(name) {
            Some(c) => view_of(name, c, &inner),
            None => return Err(HerderError::NotFound(name.to_string())),
        };
        if include_tasks && !only_failed && view.connector.state != State::Failed {
            // As Connect's snapshot: the connector is restarted with its tasks.
            view.connector.state = State::Restarting;
        }
        Ok(view)
    }

    /// `POST /connectors/{name}/tasks/{id}/restart`.
    pub fn restart_task(&self, name: &str, id: usize) -> Result<(), HerderError> {
        let mut inner = self.lock();
        let c = inner
            .connectors
            .get_mut(name)
            .ok_or_else(|| HerderError::NotFound(name.to_string()))?;
        if id >= c.tasks.len() {
            return Err(HerderError::UnknownTask(format!("{name}-{id}")));
        }
        if !c.placement.runs_task(id) {
            return Err(HerderError::Conflict(format!(
                "Task {name}-{id} does not run on this worker: the cluster is placing it, retry"
            )));
        }
        c.tasks[id].attempts = 0;
        self.restart_task_locked(name, c, id);
        Ok(())
    }

    /// `PUT /connectors/{name}/topics/reset`.
    pub fn reset_topics(&self, name: &str) -> Result<(), HerderError> {
        let inner = self.lock();
        let c = inner
            .connectors
            .get(name)
            .ok_or_else(|| HerderError::NotFound(name.to_string()))?;
        lock(&c.topics).clear();
        Ok(())
    }

    /// Whether a connector has tasks running or still stopping in this worker.
    /// In distributed mode, also whether another worker still reports one of its tasks
    /// (a worker withdraws a task's status once the task has committed and ended).
    pub fn has_live_tasks(&self, name: &str) -> bool {
        let inner = self.lock();
        let here = inner.connectors.get(name).is_some_and(|c| {
            (0..c.tasks.len()).any(|id| c.placement.runs_task(id))
                || c.draining.iter().any(|d| !d.is_done())
        });
        here || inner
            .remote
            .keys()
            .any(|p| matches!(p, Part::Task(n, _) if n == name))
    }

    /// Whether a connector has tasks running or still stopping in this worker only.
    pub fn has_local_live_tasks(&self, name: &str) -> bool {
        let inner = self.lock();
        inner.connectors.get(name).is_some_and(|c| {
            c.tasks.iter().any(|t| t.thread.is_some()) || c.draining.iter().any(|d| !d.is_done())
        })
    }

    /// Stops every connector and waits (at most `timeout`) until their tasks have committed
    /// and ended.
    pub async fn shutdown(&self, timeout: Duration) {
        let drains: Vec<Drain> = {
            let mut inner = self.lock();
            inner.shutting_down = true;
            let names: Vec<String> = inner.connectors.keys().cloned().collect();
            let mut all = Vec::new();
            for name in names {
                if let Some(c) = inner.connectors.get_mut(&name) {
                    c.generation += 1;
                    all.extend(self.stop_tasks(&name, c));
                    all.append(&mut c.draining);
                }
            }
            all
        };
        let wait = async {
            for d in drains {
                d.wait().await;
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            tracing::warn!("tasks still stopping after {} ms", timeout.as_millis());
        }
    }

    // ------------------------------------------------------------------ internals

    /// Starts the connector's shared parts on a blocking thread, then its tasks.
    fn begin_start(&self, name: &str, c: &mut Connector) {
        c.generation += 1;
        c.state = State::Unassigned;
        c.trace = None;
        // The tasks are listed (UNASSIGNED) from the start, as Connect lists a new
        // connector's tasks before they run.
        c.tasks = (0..c.checked.tasks_max)
            .map(|_| Task::unassigned())
            .collect();
        if !c.placement.runs_anything() {
            // Another worker runs it; it starts here when the cluster places a part here.
            return;
        }
        let generation = c.generation;
        let draining = std::mem::take(&mut c.draining);
        let (herder, name, config) = (self.clone(), name.to_string(), c.config.clone());
        self.tokio.spawn(async move {
            for d in draining {
                d.wait().await;
            }
            herder
                .counters
                .connector_startup_attempts
                .fetch_add(1, Ordering::Relaxed);
            let runtime = herder.runtime.clone();
            let start_name = name.clone();
            let started =
                tokio::task::spawn_blocking(move || runtime.start_connector(&start_name, &config))
                    .await
                    .unwrap_or_else(|e| Err(format!("starting the connector panicked: {e}")));
            herder.finish_start(&name, generation, started);
        });
    }

    fn finish_start(
        &self,
        name: &str,
        generation: u64,
        started: Result<Arc<dyn ConnectorInstance>, String>,
    ) {
        let mut inner = self.lock();
        let shutting_down = inner.shutting_down;
        let current = inner.connectors.get_mut(name).filter(|c| {
            c.generation == generation && c.target != TargetState::Stopped && !shutting_down
        });
        let Some(c) = current else {
            // Superseded (deleted, stopped or restarted meanwhile): release what it opened
            // outside the lock, since that may wait on Kafka.
            drop(inner);
            if let Ok(instance) = started {
                tokio::task::spawn_blocking(move || drop(instance));
            }
            return;
        };
        match started {
            Err(e) => {
                self.counters
                    .connector_startup_failure
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(connector = name, "connector failed to start: {e}");
                c.state = State::Failed;
                c.trace = Some(e);
                c.tasks.clear();
            }
            Ok(instance) => {
                self.counters
                    .connector_startup_success
                    .fetch_add(1, Ordering::Relaxed);
                c.instance = Some(instance);
                c.state = if c.target == TargetState::Paused {
                    State::Paused
                } else {
                    State::Running
                };
                c.tasks = (0..c.checked.tasks_max)
                    .map(|_| Task::unassigned())
                    .collect();
                for id in 0..c.tasks.len() {
                    if c.placement.runs_task(id) {
                        self.launch_task(name, c, id);
                    }
                }
            }
        }
    }

    /// Starts task `id` of a started connector (its slot must hold no live thread).
    fn launch_task(&self, name: &str, c: &mut Connector, id: usize) {
        let Some(instance) = c.instance.clone() else {
            return;
        };
        let control = TaskControl {
            stop: Arc::new(AtomicBool::new(false)),
            paused: Arc::new(AtomicBool::new(c.target == TargetState::Paused)),
            topics: c.topics.clone(),
        };
        self.counters
            .task_startup_attempts
            .fetch_add(1, Ordering::Relaxed);
        let task = &mut c.tasks[id];
        task.control = control.clone();
        task.started = Instant::now();
        task.restart_at = None;
        match instance.start_task(id, control) {
            Ok(thread) => {
                self.counters
                    .task_startup_success
                    .fetch_add(1, Ordering::Relaxed);
                task.thread = Some(thread);
                task.trace = None;
                task.state = if c.target == TargetState::Paused {
                    State::Paused
                } else {
                    State::Running
                };
            }
            Err(e) => {
                self.counters
                    .task_startup_failure
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(connector = name, task = id, "task failed to start: {e}");
                self.task_failed(name, c, id, e);
            }
        }
    }

    /// Marks a task failed and schedules its restart by the connector's policy.
    fn task_failed(&self, name: &str, c: &mut Connector, id: usize, error: String) {
        let policy = c.checked.restart;
        let task = &mut c.tasks[id];
        task.state = State::Failed;
        task.trace = Some(error);
        task.thread = None;
        match policy.delay(task.attempts) {
            Some(delay) => {
                tracing::warn!(
                    connector = name,
                    task = id,
                    attempt = task.attempts + 1,
                    delay_ms = delay.as_millis() as u64,
                    "task failed; restarting it by the restart policy"
                );
                task.restart_at = Some(Instant::now() + delay);
            }
            None => {
                tracing::error!(
                    connector = name,
                    task = id,
                    "task failed; it stays FAILED (restart it with POST /connectors/{name}/tasks/{id}/restart)"
                );
                task.restart_at = None;
            }
        }
    }

    /// Stops task `id` (its thread joins on a blocking thread), then starts it again.
    fn restart_task_locked(&self, name: &str, c: &mut Connector, id: usize) {
        let task = &mut c.tasks[id];
        task.restart_at = None;
        let drain = match task.thread.take() {
            Some(thread) => {
                task.control.stop.store(true, Ordering::SeqCst);
                Some(self.join_in_background(name, vec![thread], None))
            }
            None => None,
        };
        let generation = c.generation;
        let (herder, name) = (self.clone(), name.to_string());
        self.tokio.spawn(async move {
            if let Some(d) = drain {
                d.wait().await;
            }
            let mut inner = herder.lock();
            let Some(c) = inner.connectors.get_mut(&name) else {
                return;
            };
            if c.generation == generation && id < c.tasks.len() && c.tasks[id].thread.is_none() {
                herder.launch_task(&name, c, id);
            }
        });
    }

    /// Takes the connector's tasks and instance; they stop and are released on a blocking
    /// thread. Returns what signals the end.
    fn stop_tasks(&self, name: &str, c: &mut Connector) -> Option<Drain> {
        c.generation += 1;
        let instance = c.instance.take();
        let mut threads = Vec::new();
        for t in c.tasks.drain(..) {
            t.control.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = t.thread {
                threads.push(thread);
            }
        }
        if threads.is_empty() && instance.is_none() {
            return None;
        }
        Some(self.join_in_background(name, threads, instance))
    }

    fn join_in_background(
        &self,
        name: &str,
        threads: Vec<JoinHandle<Result<(), String>>>,
        instance: Option<Arc<dyn ConnectorInstance>>,
    ) -> Drain {
        let done: Drain = Arc::new(DrainSignal::default());
        let signal = done.clone();
        let name = name.to_string();
        self.tokio.spawn(async move {
            let joined = tokio::task::spawn_blocking(move || {
                for t in threads {
                    match t.join() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(connector = %name, "task ended while stopping: {e}")
                        }
                        Err(_) => {
                            tracing::error!(connector = %name, "task panicked while stopping")
                        }
                    }
                }
                drop(instance);
            })
            .await;
            if joined.is_err() {
                tracing::error!("stopping tasks panicked");
            }
            signal.finish();
        });
        done
    }

    /// One look at every task; false once the herder has shut down.
    fn supervise(&self) -> bool {
        let mut inner = self.lock();
        if inner.shutting_down {
            return false;
        }
        let now = Instant::now();
        let names: Vec<String> = inner.connectors.keys().cloned().collect();
        for name in names {
            let Some(c) = inner.connectors.get_mut(&name) else {
                continue;
            };
            let backoff_max = Duration::from_millis(c.checked.restart.backoff_max_ms);
            for id in 0..c.tasks.len() {
                let task = &mut c.tasks[id];
                if task.thread.as_ref().is_some_and(|t| t.is_finished()) {
                    let ended = task.thread.take().map(|t| t.join());
                    let error = match ended {
                        Some(Ok(Err(e))) => e,
                        Some(Ok(Ok(()))) => "the task stopped by itself".to_string(),
                        Some(Err(_)) | None => "the task panicked".to_string(),
                    };
                    self.task_failed(&name, c, id, error);
                    continue;
                }
                if task.thread.is_some()
                    && task.attempts > 0
                    && task.started.elapsed() >= backoff_max
                {
                    task.attempts = 0; // healthy for a whole backoff period
                }
                if task.restart_at.is_some_and(|at| now >= at) {
                    task.attempts += 1;
                    c.task_restarts += 1;
                    tracing::info!(connector = %name, task = id, attempt = task.attempts, "restarting the failed task");
                    self.launch_task(&name, c, id);
                }
            }
        }
        true
    }
}

fn view_of(name: &str, c: &Connector, inner: &Inner) -> ConnectorView {
    let mut topics = lock(&c.topics).clone();
    if let Some(remote) = inner.remote_topics.get(name) {
        topics.extend(remote.iter().cloned());
    }
    let elsewhere = |part: Part| {
        inner
            .remote
            .get(&part)
            .cloned()
            .unwrap_or(StateInfo::local(State::Unassigned, None))
    };
    let connector = if c.placement.runs_connector() {
        StateInfo::local(c.state, c.trace.clone())
    } else if c.target == TargetState::Stopped {
        StateInfo::local(State::Stopped, None)
    } else {
        elsewhere(Part::Connector(name.to_string()))
    };
    ConnectorView {
        name: name.to_string(),
        config: c.config.clone(),
        target: c.target,
        connector,
        tasks: c
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let state = if c.placement.runs_task(i) {
                    StateInfo::local(t.state, t.trace.clone())
                } else {
                    elsewhere(Part::Task(name.to_string(), i))
                };
                (i, state)
            })
            .collect(),
        topics,
        task_restarts: c.task_restarts,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakesink_config::ConfigError;
    use std::sync::atomic::AtomicUsize;

    /// Tasks that run until stopped, or fail at once when the config says `fail=true`;
    /// a connector with `block=true` takes 2 s to start.
    struct FakeRuntime {
        started_tasks: Arc<AtomicUsize>,
    }

    struct FakeConnector {
        fail: bool,
        started_tasks: Arc<AtomicUsize>,
    }

    impl Runtime for FakeRuntime {
        fn validate(&self, config: &RawConfig) -> Result<Checked, ConfigErrors> {
            let tasks_max = match config.get("tasks.max").map(|v| v.parse::<usize>()) {
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    return Err(ConfigErrors(vec![ConfigError::Invalid {
                        key: "tasks.max".into(),
                        value: config["tasks.max"].clone(),
                        expected: "an integer".into(),
                    }]));
                }
                None => 1,
            };
            Ok(Checked {
                tasks_max,
                restart: RestartPolicy {
                    max_attempts: Some(2),
                    backoff_ms: 20,
                    backoff_max_ms: 40,
                },
                warnings: Vec::new(),
            })
        }

        fn start_connector(
            &self,
            _name: &str,
            config: &RawConfig,
        ) -> Result<Arc<dyn ConnectorInstance>, String> {
            if config.get("block").is_some() {
                std::thread::sleep(Duration::from_secs(2));
            }
            Ok(Arc::new(FakeConnector {
                fail: config.get("fail").is_some(),
                started_tasks: self.started_tasks.clone(),
            }))
        }
    }

    impl ConnectorInstance for FakeConnector {
        fn start_task(
            &self,
            task: usize,
            control: TaskControl,
        ) -> Result<JoinHandle<Result<(), String>>, String> {
            self.started_tasks.fetch_add(1, Ordering::SeqCst);
            let fail = self.fail;
            Ok(std::thread::spawn(move || {
                if fail {
                    return Err(format!("record t-{task} offset 7: cannot convert"));
                }
                while !control.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            }))
        }
    }

    fn config(pairs: &[(&str, &str)]) -> RawConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn herder() -> (Herder, Arc<AtomicUsize>) {
        let started = Arc::new(AtomicUsize::new(0));
        let runtime = FakeRuntime {
            started_tasks: started.clone(),
        };
        (Herder::new(Arc::new(runtime), "w:8083".into()), started)
    }

    async fn until(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..400 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn states(h: &Herder, name: &str) -> (State, Vec<State>) {
        let v = h.view(name).expect("connector exists");
        (
            v.connector.state,
            v.tasks.iter().map(|(_, s)| s.state).collect(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connector_goes_through_pause_resume_stop_and_delete() {
        let (h, _) = herder();
        assert!(
            h.put(
                "c",
                config(&[("tasks.max", "2")]),
                TargetState::Started,
                false
            )
            .unwrap()
        );
        until("running", || {
            states(&h, "c") == (State::Running, vec![State::Running; 2])
        })
        .await;
        assert_eq!(
            h.put("c", config(&[]), TargetState::Started, false),
            Err(HerderError::AlreadyExists("c".into()))
        );
        h.set_target("c", TargetState::Paused).unwrap();
        assert_eq!(states(&h, "c"), (State::Paused, vec![State::Paused; 2]));
        h.set_target("c", TargetState::Started).unwrap();
        assert_eq!(states(&h, "c"), (State::Running, vec![State::Running; 2]));
        h.set_target("c", TargetState::Stopped).unwrap();
        assert_eq!(states(&h, "c"), (State::Stopped, vec![]));
        until("the stopped tasks to end", || !h.has_live_tasks("c")).await;
        h.set_target("c", TargetState::Started).unwrap();
        until("running again", || {
            states(&h, "c") == (State::Running, vec![State::Running; 2])
        })
        .await;
        h.delete("c").unwrap();
        assert_eq!(h.view("c").err(), Some(HerderError::NotFound("c".into())));
        assert!(h.names().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_task_is_restarted_by_the_policy_and_then_stays_failed() {
        let (h, started) = herder();
        h.put("f", config(&[("fail", "1")]), TargetState::Started, false)
            .unwrap();
        until("two restarts", || h.view("f").unwrap().task_restarts == 2).await;
        until("failed", || states(&h, "f").1 == vec![State::Failed]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let v = h.view("f").unwrap();
        assert_eq!(v.task_restarts, 2, "no third restart");
        assert_eq!(started.load(Ordering::SeqCst), 3);
        let trace = v.tasks[0].1.trace.clone().unwrap_or_default();
        assert!(trace.contains("t-0 offset 7"), "{trace}");
        // A restart through the API starts the count again.
        h.restart_task("f", 0).unwrap();
        until("the policy again", || started.load(Ordering::SeqCst) == 6).await;
        assert_eq!(
            h.restart_task("f", 3),
            Err(HerderError::UnknownTask("f-3".into()))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connector_slow_to_start_holds_up_nothing_else() {
        let (h, _) = herder();
        h.put(
            "slow",
            config(&[("block", "1")]),
            TargetState::Started,
            false,
        )
        .unwrap();
        h.put("quick", config(&[]), TargetState::Started, false)
            .unwrap();
        until("the quick one", || states(&h, "quick").0 == State::Running).await;
        let t0 = Instant::now();
        assert_eq!(
            states(&h, "slow"),
            (State::Unassigned, vec![State::Unassigned])
        );
        h.delete("slow").unwrap();
        assert!(t0.elapsed() < Duration::from_millis(500));
        assert_eq!(h.names(), vec!["quick".to_string()]);
        h.shutdown(Duration::from_secs(5)).await;
        assert!(
            h.put("late", config(&[]), TargetState::Started, false)
                .is_err()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_distributed_herder_runs_only_the_parts_placed_on_it() {
        let started = Arc::new(AtomicUsize::new(0));
        let runtime = FakeRuntime {
            started_tasks: started.clone(),
        };
        let h = Herder::new_distributed(Arc::new(runtime), "w1:8083".into());
        h.put(
            "c",
            config(&[("tasks.max", "3")]),
            TargetState::Started,
            false,
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            0,
            "nothing runs before placement"
        );
        assert_eq!(
            states(&h, "c"),
            (State::Unassigned, vec![State::Unassigned; 3])
        );
        let remote = StateInfo {
            state: State::Running,
            trace: None,
            worker_id: Some("w2:8083".into()),
        };
        h.set_remote(
            [(Part::Task("c".into(), 1), remote.clone())].into(),
            BTreeMap::new(),
        );
        h.set_placement(
            "c",
            Placement::Assigned {
                connector: true,
                tasks: [0, 2].into(),
            },
        );
        until("the placed tasks", || {
            states(&h, "c") == (State::Running, vec![State::Running; 3])
        })
        .await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
        assert_eq!(h.view("c").unwrap().tasks[1].1, remote);
        assert!(matches!(
            h.restart_task("c", 1),
            Err(HerderError::Conflict(_))
        ));
        // Task 2 moves away: it stops here and is shown as the others report it (unknown yet).
        h.set_placement(
            "c",
            Placement::Assigned {
                connector: true,
                tasks: [0].into(),
            },
        );
        assert_eq!(h.view("c").unwrap().tasks[2].1.state, State::Unassigned);
        let (local, _) = h.local_statuses();
        let parts: Vec<Part> = local.into_iter().map(|s| s.part).collect();
        assert_eq!(
            parts,
            vec![Part::Connector("c".into()), Part::Task("c".into(), 0)]
        );
        // Nothing placed here any more: everything stops.
        h.set_placement("c", Placement::nothing());
        until("the tasks to end", || !h.has_local_live_tasks("c")).await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_restart_policy_doubles_its_wait_up_to_the_cap_and_stops() {
        let p = RestartPolicy {
            max_attempts: Some(4),
            backoff_ms: 100,
            backoff_max_ms: 300,
        };
        let waits: Vec<Option<u64>> = (0..5)
            .map(|a| p.delay(a).map(|d| d.as_millis() as u64))
            .collect();
        assert_eq!(
            waits,
            vec![Some(100), Some(200), Some(300), Some(300), None]
        );
        let forever = RestartPolicy {
            max_attempts: None,
            ..p
        };
        assert_eq!(forever.delay(1000), Some(Duration::from_millis(300)));
    }
}
