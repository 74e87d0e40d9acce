//! Standalone mode: runs the loaded connectors in this process until SIGINT/SIGTERM.
//!
//! Each task is a Kafka consumer on its own thread (rebalance callbacks run there) feeding a
//! task loop on the shared async runtime through a bounded channel; the channel's bound is
//! the back-pressure from storage to Kafka.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use lakesink_config::{Loaded, SinkConfig, TopicSelection};
use lakesink_record::TopicPartition;
use lakesink_sink::task::{SharedStatus, TaskEvent, TaskStatus, run_task};
use lakesink_sink::{Budget, SinkSettings, Start};

use crate::dead_letters::{DeadLetterProducer, TaskDeadLetters};
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

pub fn run(connectors: Vec<Loaded>) -> Result<()> {
    // Once each: the worker file's warnings come with every connector.
    let mut warned = std::collections::HashSet::new();
    for c in &connectors {
        for w in &c.warnings {
            if warned.insert(w.as_str()) {
                tracing::warn!(connector = %c.config.name, "{w}");
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lakesink-io")
        .build()
        .context("starting the async runtime")?;
    let stop = Arc::new(AtomicBool::new(false));
    let signals = StopSignals::install(&runtime)?;
    runtime.spawn(stop_on_signal(signals, stop.clone()));

    let mut threads = Vec::new();
    let mut budgets = Vec::new();
    let mut watches = Vec::new();
    for loaded in connectors {
        let config = Arc::new(loaded.config);
        let store = {
            let _guard = runtime.enter();
            Store::open(&config.store_url, config.hadoop_conf_dir.as_deref()).with_context(
                || format!("connector {}: opening {}", config.name, config.store_url),
            )?
        };
        tracing::info!(connector = %config.name, store = %store.url(), tasks = config.tasks_max, "starting connector");
        // One budget for all tasks of the connector in this worker.
        let budget = Budget::new(
            config.max_open_files,
            config.max_buffered_bytes,
            config.storage_concurrency,
        );
        budgets.push((config.name.clone(), budget.clone()));
        let dead_letters = match (&config.errors.dlq_topic, config.errors.tolerate_all) {
            (Some(topic), true) => Some(
                runtime
                    .block_on(DeadLetterProducer::start(&config, topic))
                    .with_context(|| format!("connector {}", config.name))?,
            ),
            _ => None,
        };
        // Partitions of the connector's group that stay without an owner get one (see
        // lakesink_source::ownership); one watch per connector and worker.
        let watch_source = source_config(&config, 0);
        watches.push(
            OwnershipWatch::start(WatchConfig {
                bootstrap_servers: watch_source.bootstrap_servers,
                group_id: watch_source.group_id,
                settings: watch_source.settings,
                interval: OWNERSHIP_CHECK_INTERVAL,
            })
            .with_context(|| format!("connector {}: starting the ownership watch", config.name))?,
        );
        for task_id in 0..config.tasks_max {
            let owner = format!(
                "{}:{}:{}:task-{task_id}",
                hostname(),
                std::process::id(),
                config.name
            );
            let settings = SinkSettings::from_config(&config, store.clone(), owner, budget.clone())
                .map_err(|e| anyhow::anyhow!("connector {}: {e}", config.name))?;
            let mut settings = SinkSettings {
                stopping: stop.clone(),
                ..settings
            };
            if let Some(producer) = &dead_letters {
                settings.errors.queue = Some(Arc::new(TaskDeadLetters {
                    producer: producer.clone(),
                    connector: config.name.clone(),
                    task_id,
                    context_headers: config.errors.dlq_context_headers,
                }));
            }
            let settings = Arc::new(settings);
            let (config, stop, handle) = (config.clone(), stop.clone(), runtime.handle().clone());
            let name = format!("{}-task-{task_id}", config.name);
            let thread = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || run_consumer(&config, task_id, settings, handle, stop))
                .context("starting a task thread")?;
            threads.push((name, thread));
        }
    }
    let mut first_error = None;
    for (name, thread) in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(task = %name, "{e:#}");
                // One failed task stops the process, so a supervisor restarts it visibly.
                stop.store(true, Ordering::SeqCst);
                first_error.get_or_insert(e.context(format!("task {name} failed")));
            }
            Err(_) => {
                stop.store(true, Ordering::SeqCst);
                first_error.get_or_insert(anyhow!("task {name} panicked"));
            }
        }
    }
    drop(watches);
    runtime.shutdown_timeout(Duration::from_secs(5));
    for (connector, budget) in budgets {
        let p = budget.peaks();
        tracing::info!(
            %connector,
            peak_open_files = p.open_files,
            max_open_files = p.max_open_files,
            peak_buffered_mib = p.buffered_bytes as f64 / 1048576.0,
            max_buffered_mib = p.max_buffered_bytes as f64 / 1048576.0,
            "limits: most held between batches"
        );
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

async fn stop_on_signal(signals: StopSignals, stop: Arc<AtomicBool>) {
    signals.recv().await;
    tracing::info!("stopping: committing open files");
    stop.store(true, Ordering::SeqCst);
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
    stop: Arc<AtomicBool>,
) -> Result<()> {
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
    while !stop.load(Ordering::SeqCst) {
        let batches = match source.poll_batches(Duration::from_millis(200)) {
            Ok(b) => b,
            Err(e) => {
                result = Err(anyhow!(e));
                break;
            }
        };
        if !batches.is_empty() && events.blocking_send(TaskEvent::Records(batches)).is_err() {
            result = Err(anyhow!("the task loop stopped unexpectedly"));
            break;
        }
        if lag_checked.elapsed() >= Duration::from_secs(1) {
            lag_checked = Instant::now();
            // Operators (and the benchmarks) watch for this line: everything assigned has
            // been read. What is read is committed by the rotation rules, or by a graceful
            // stop within shutdown.timeout.ms.
            let mut assignment: Vec<TopicPartition> = source.assignment().into_iter().collect();
            assignment.sort();
            if source.lag() == Some(0) && !assignment.is_empty() {
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
                    let _ = source.resume(&tp);
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
