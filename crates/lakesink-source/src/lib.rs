//! Lakesink Kafka source.
//!
//! Owns: the Kafka consumer of a task (consumer-group membership with cooperative-sticky
//! rebalancing, starting newly assigned partitions where the commit protocol says, committing
//! consumer offsets for lag monitoring, the shutdown sequence) and cutting fetched records
//! into per-partition [`RawBatch`]es.
//!
//! Also owns watching the group for partitions no member owns ([`ownership`]), and the
//! leader election and membership of services built on a consumer group ([`election`]).
//!
//! Must not touch: decoding, files, storage. It never decides where to resume: a
//! [`PartitionHandler`] (the sink) does, from storage.
//!
//! A `BaseConsumer` polled on one dedicated thread is used rather than `StreamConsumer`:
//! rebalance callbacks then run on that thread, where the sink can synchronously finish the
//! partitions being revoked before Kafka hands them to another worker.

pub mod election;
pub mod group;
pub mod ownership;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakesink_record::{RawBatch, TopicPartition};
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

/// Where a newly assigned partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// This exact offset (recovered from storage).
    Offset(i64),
    /// The group's committed offset, else `auto.offset.reset` (nothing in storage yet).
    Committed,
    /// Not known yet (storage could not be read): the partition is assigned paused, and the
    /// sink seeks and resumes it once it has recovered it.
    Later,
}

/// A partition being assigned, with the oldest offset Kafka still holds for it.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub tp: TopicPartition,
    /// `None` when the broker could not be asked.
    pub low_watermark: Option<i64>,
}

/// The sink's side of partition ownership. Called on the consumer thread, inside `poll`.
pub trait PartitionHandler: Send + Sync {
    /// Partitions were assigned: recover each and say where it starts. An error stops the task.
    fn assigned(&self, partitions: &[Assigned]) -> Result<Vec<StartAt>, String>;
    /// Partitions are being revoked (`lost`: already owned by someone else): finish them.
    /// Returns the next offsets to commit to the group for lag monitoring.
    fn revoked(&self, partitions: &[TopicPartition], lost: bool) -> Vec<(TopicPartition, i64)>;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Kafka consumer setting {key}={value}: {message}")]
    Config {
        key: String,
        value: String,
        message: String,
    },
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("partition assignment failed: {0}")]
    Assignment(String),
}

/// What a task's consumer needs to know.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub bootstrap_servers: String,
    pub group_id: String,
    pub client_id: String,
    /// Topic names, or one `^regex` subscription.
    pub subscription: Vec<String>,
    /// User consumer settings (librdkafka names), applied after Lakesink's defaults.
    pub settings: BTreeMap<String, String>,
    /// Cut a batch of a partition at this many records.
    pub max_batch_records: usize,
    /// ... or at this many payload bytes.
    pub max_batch_bytes: usize,
}

struct Context {
    handler: Arc<dyn PartitionHandler>,
    /// The first assignment error, reported by the next `poll_batches`.
    failure: std::sync::Mutex<Option<String>>,
    /// Next offset of each assigned partition, as far as this consumer knows it (start
    /// offset, then after each delivered batch): for [`KafkaSource::lag`].
    positions: std::sync::Mutex<HashMap<TopicPartition, i64>>,
    /// Where each assigned partition started reading: the offset it was assigned or sought
    /// to, else (started from the group's offset) the first offset delivered. Everything this
    /// consumer delivered for the partition since lies at or after it: see
    /// [`KafkaSource::rewind`].
    starts: std::sync::Mutex<HashMap<TopicPartition, i64>>,
}

impl Context {
    fn set_position(&self, tp: &TopicPartition, next: i64) {
        if let Ok(mut p) = self.positions.lock() {
            p.insert(tp.clone(), next);
        }
    }

    /// Reading starts over at `offset` (`None`: at the group's offset, not known yet).
    fn set_start(&self, tp: &TopicPartition, offset: Option<i64>) {
        if let Ok(mut s) = self.starts.lock() {
            match offset {
                Some(o) => s.insert(tp.clone(), o),
                None => s.remove(tp),
            };
        }
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "{fac}: {log_message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "{fac}: {log_message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac}: {log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {log_message}"),
        }
    }
}

fn tps_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

fn tpl_of(offsets: &[(TopicPartition, i64)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (tp, offset) in offsets {
        // Adding a partition to a fresh list cannot fail for a valid offset.
        let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*offset));
    }
    tpl
}

impl Context {
    fn fail(&self, message: String) {
        tracing::error!("{message}");
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(message);
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let tps = tps_of(tpl);
                let assigned: Vec<Assigned> = tps
                    .iter()
                    .map(|tp| Assigned {
                        low_watermark: consumer
                            .fetch_watermarks(&tp.topic, tp.partition, Duration::from_secs(10))
                            .ok()
                            .map(|(low, _)| low),
                        tp: tp.clone(),
                    })
                    .collect();
                tracing::info!(partitions = ?tps.iter().map(ToString::to_string).collect::<Vec<_>>(), "partitions assigned");
                let mut later = TopicPartitionList::new();
                match self.handler.assigned(&assigned) {
                    Ok(starts) => {
                        for (tp, start) in tps.iter().zip(starts) {
                            let StartAt::Offset(o) = start else {
                                self.set_start(tp, None);
                                if matches!(start, StartAt::Later) {
                                    later.add_partition(&tp.topic, tp.partition);
                                }
                                continue;
                            };
                            self.set_position(tp, o);
                            self.set_start(tp, Some(o));
                            if let Some(mut elem) = tpl.find_partition(&tp.topic, tp.partition)
                                && let Err(e) = elem.set_offset(Offset::Offset(o))
                            {
                                self.fail(format!("{tp}: cannot start at offset {o}: {e}"));
                            }
                        }
                    }
                    Err(e) => self.fail(e),
                }
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = result {
                    self.fail(format!("assigning partitions failed: {e}"));
                } else if later.count() > 0
                    && let Err(e) = consumer.pause(&later)
                {
                    self.fail(format!("pausing partitions to recover later failed: {e}"));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tps = tps_of(tpl);
                let lost = consumer.assignment_lost();
                let names: Vec<String> = tps.iter().map(ToString::to_string).collect();
                if lost {
                    tracing::warn!(partitions = ?names, "partitions lost: this worker left the group (session expired); another worker owns them now and this worker stops writing them");
                } else {
                    tracing::info!(partitions = ?names, "partitions revoked");
                }
                if let Ok(mut p) = self.positions.lock() {
                    for tp in &tps {
                        p.remove(tp);
                    }
                }
                if let Ok(mut s) = self.starts.lock() {
                    for tp in &tps {
                        s.remove(tp);
                    }
                }
                let offsets = self.handler.revoked(&tps, lost);
                if !lost && !offsets.is_empty() {
                    // Must happen before the revoke completes: afterwards the partitions are not ours.
                    if let Err(e) = consumer.commit(&tpl_of(&offsets), CommitMode::Sync) {
                        tracing::warn!("committing consumer offsets on revoke failed: {e}");
                    }
                }
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::warn!("unassigning partitions failed: {e}");
                }
            }
            other => {
                tracing::error!("rebalance error: {other:?}");
                let _ = consumer.unassign();
            }
        }
    }
}

/// The low and high watermarks librdkafka last saw for a partition in a fetch response.
/// rust-rdkafka offers only `fetch_watermarks`, a broker round trip per partition; this cached
/// read is librdkafka's `rd_kafka_get_watermark_offsets`, called directly.
fn cached_watermarks(
    consumer: &BaseConsumer<Context>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; librdkafka reads the
    // NUL-terminated topic name and writes the two integers, nothing else.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low, high))
}

/// A client that could not be created: a bad setting is named with its value.
fn creation_error(e: KafkaError) -> SourceError {
    match e {
        KafkaError::ClientConfig(_, desc, key, value) => SourceError::Config {
            key,
            value,
            message: desc,
        },
        other => SourceError::Kafka(other),
    }
}

/// The consumer's librdkafka settings: Lakesink's defaults, then the user's, then what
/// exactly-once needs.
fn client_config(config: &SourceConfig) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        .set("client.id", &config.client_id)
        .set("partition.assignment.strategy", "cooperative-sticky")
        // Records of aborted transactions must not land in the lake, and records of open
        // ones not before they commit. (Connect's consumer reads uncommitted and writes
        // both; `consumer.override.isolation.level=read_uncommitted` still does.)
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        // librdkafka's queue of fetched records: with a hundred partitions its 64 MiB
        // default let the consumer hold hundreds of MiB (fetch responses overshoot it).
        .set("queued.max.messages.kbytes", "16384")
        // With a smaller queue it fills more often; librdkafka's default 1 s pause before
        // fetching again then throttles a fast consumer (measured: 10x slower).
        .set("fetch.queue.backoff.ms", "10");
    for (k, v) in &config.settings {
        cc.set(k, v);
    }
    // Exactly-once needs these; the config layer rejects user attempts to change them.
    cc.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    cc
}

/// Checks the consumer settings of `config` the way librdkafka will take them, without
/// creating a client: a bad key or value is named with its value.
pub fn check_settings(config: &SourceConfig) -> Result<(), SourceError> {
    client_config(config)
        .create_native_config()
        .map(|_| ())
        .map_err(creation_error)
}

/// A task's Kafka consumer. Use it from one thread.
pub struct KafkaSource {
    consumer: BaseConsumer<Context>,
    config: SourceConfig,
    /// Records and bytes of each partition's recent batches (the largest, decaying by a
    /// sixteenth per batch): the next one starts with that room, so that its buffers are not
    /// grown by doubling (copying megabytes and holding up to twice what they need). A
    /// partition's share of a poll varies from batch to batch; sizing by the last one alone
    /// left every larger batch to grow.
    batch_sizes: std::sync::Mutex<HashMap<TopicPartition, (usize, usize)>>,
}

impl KafkaSource {
    pub fn new(
        config: SourceConfig,
        handler: Arc<dyn PartitionHandler>,
    ) -> Result<KafkaSource, SourceError> {
        let cc = client_config(&config);
        let context = Context {
            handler,
            failure: std::sync::Mutex::new(None),
            positions: std::sync::Mutex::new(HashMap::new()),
            starts: std::sync::Mutex::new(HashMap::new()),
        };
        let consumer: BaseConsumer<Context> =
            cc.create_with_context(context).map_err(creation_error)?;
        let topics: Vec<&str> = config.subscription.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(KafkaSource {
            consumer,
            config,
            batch_sizes: Default::default(),
        })
    }

    /// Polls for up to `wait` and returns the fetched records cut into per-partition batches
    /// (in offset order within each). Rebalance callbacks run inside this call.
    pub fn poll_batches(
        &self,
        wait: Duration,
    ) -> Result<Vec<(TopicPartition, RawBatch)>, SourceError> {
        let deadline = Instant::now() + wait;
        let mut last_sizes = match self.batch_sizes.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut batches: Vec<(TopicPartition, RawBatch)> = Vec::new();
        let mut total = 0usize;
        let mut bytes = 0usize;
        loop {
            if let Some(message) = self.failure() {
                return Err(SourceError::Assignment(message));
            }
            // Once something arrived, only drain what is already fetched (and read no clock:
            // that was a clock read per record).
            let timeout = if total > 0 {
                Duration::ZERO
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            let Some(result) = self.consumer.poll(timeout) else {
                if total > 0 || timeout.is_zero() {
                    break;
                }
                continue;
            };
            let msg = match result {
                Ok(m) => m,
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(e) => {
                    tracing::warn!("consumer error: {e}");
                    if total > 0 {
                        break;
                    }
                    continue;
                }
            };
            let (topic, partition) = (msg.topic(), msg.partition());
            let idx = match batches
                .iter()
                .position(|(tp, _)| *tp.topic == *topic && tp.partition == partition)
            {
                Some(i) => i,
                None => {
                    let tp = TopicPartition::new(topic, partition);
                    // Small to start (with many partitions most batches are small, and a
                    // megabyte each would add up), or a quarter more than the largest recent
                    // batch: a batch outgrowing its buffer copies all of it (2% of a drain's
                    // CPU time when this followed the size of the last batch more closely).
                    // A full batch ends with the record that crosses the byte limit, so the
                    // buffer of one holds an eighth more than the limit.
                    let most = self.config.max_batch_bytes + self.config.max_batch_bytes / 8;
                    let (records, bytes) =
                        last_sizes.get(&tp).map_or((256, 64 << 10), |&(r, b)| {
                            (r + r / 4, (b + b / 4).min(most))
                        });
                    batches.push((tp, RawBatch::with_capacity(records, bytes)));
                    batches.len() - 1
                }
            };
            let ts = msg.timestamp().to_millis();
            let (key, value) = (msg.key(), msg.payload());
            match msg.headers() {
                None => batches[idx].1.push(msg.offset(), ts, key, value),
                Some(h) => batches[idx].1.push_with_headers(
                    msg.offset(),
                    ts,
                    key,
                    value,
                    h.iter().map(|h| (h.key, h.value)),
                ),
            }
            total += 1;
            bytes += key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
            // The clock is read every 64 records: a clock read per record showed in profiles.
            if total >= self.config.max_batch_records
                || bytes >= self.config.max_batch_bytes
                || (total.is_multiple_of(64) && Instant::now() >= deadline)
            {
                break;
            }
        }
        let context = self.consumer.context();
        if let Ok(mut starts) = context.starts.lock() {
            for (tp, batch) in &batches {
                if let Some(first) = batch.first_offset()
                    && !starts.contains_key(tp)
                {
                    starts.insert(tp.clone(), first);
                }
            }
        }
        for (tp, batch) in &batches {
            if let Some(last) = batch.last_offset() {
                context.set_position(tp, last + 1);
            }
            let (records, bytes) = last_sizes.get(tp).copied().unwrap_or_default();
            last_sizes.insert(
                tp.clone(),
                (
                    batch.len().max(records - records / 16),
                    batch.data_len().max(bytes - bytes / 16),
                ),
            );
        }
        Ok(batches)
    }

    /// Records between this consumer's position and the end of the log, summed over the
    /// assigned partitions. Uses the watermarks librdkafka caches from its fetch responses,
    /// so it costs no broker round trip. `None` while that is not known for every partition.
    pub fn lag(&self) -> Option<i64> {
        self.partition_lags()?
            .iter()
            .map(|(_, lag)| *lag)
            .sum::<i64>()
            .into()
    }

    /// The lag of every assigned partition, as [`KafkaSource::lag`] counts it; `None` while
    /// it is not known for every partition.
    pub fn partition_lags(&self) -> Option<Vec<(TopicPartition, i64)>> {
        let assigned = self.consumer.assignment().ok()?;
        // librdkafka's position also moves past transaction markers, which are never
        // delivered: a partition whose log ends with a commit marker is read to its end one
        // offset after its last record. It is reset by an assignment or a seek, until the
        // next record or marker is read; ours is right then.
        let read_past = self.consumer.position().ok();
        let positions = self.consumer.context().positions.lock().ok()?;
        let mut out = Vec::new();
        for e in assigned.elements() {
            let tp = TopicPartition::new(e.topic(), e.partition());
            let (low, high) = cached_watermarks(&self.consumer, e.topic(), e.partition())?;
            let librdkafka_next = read_past
                .as_ref()
                .and_then(|p| p.find_partition(e.topic(), e.partition()))
                .and_then(|p| match p.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            // The further of the two (`None` orders before any offset).
            let lag = match positions.get(&tp).copied().max(librdkafka_next) {
                Some(next) => (high - next).max(0),
                // Started from the group's offset and received nothing yet: known only for
                // an empty log.
                None if low == high => 0,
                None => return None,
            };
            out.push((tp, lag));
        }
        Some(out)
    }

    fn failure(&self) -> Option<String> {
        self.consumer
            .context()
            .failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
    }

    /// Commits next offsets to the group asynchronously (for lag monitoring only).
    pub fn commit_offsets(&self, offsets: &[(TopicPartition, i64)]) {
        if offsets.is_empty() {
            return;
        }
        if let Err(e) = self.consumer.commit(&tpl_of(offsets), CommitMode::Async) {
            tracing::debug!("committing consumer offsets failed: {e}");
        }
    }

    /// Moves a partition we own to `offset` (after a takeover race re-read storage).
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> Result<(), SourceError> {
        self.consumer.context().set_position(tp, offset);
        self.consumer.context().set_start(tp, Some(offset));
        self.consumer
            .seek(
                &tp.topic,
                tp.partition,
                Offset::Offset(offset),
                Duration::from_secs(10),
            )
            .map_err(SourceError::from)
    }

    /// Reads a partition again from where it started (see `Context::starts`): for a partition
    /// recovered with nothing committed, whose records since it started must be read again.
    /// Nothing to do when nothing was delivered yet.
    pub fn rewind(&self, tp: &TopicPartition) -> Result<(), SourceError> {
        let start = self
            .consumer
            .context()
            .starts
            .lock()
            .ok()
            .and_then(|s| s.get(tp).copied());
        match start {
            Some(offset) => self.seek(tp, offset),
            None => Ok(()),
        }
    }

    /// Stops fetching a partition (while it is being recovered again).
    pub fn pause(&self, tp: &TopicPartition) -> Result<(), SourceError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&tp.topic, tp.partition);
        self.consumer.pause(&tpl).map_err(SourceError::from)
    }

    pub fn resume(&self, tp: &TopicPartition) -> Result<(), SourceError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&tp.topic, tp.partition);
        self.consumer.resume(&tpl).map_err(SourceError::from)
    }

    /// The partitions currently assigned to this consumer.
    pub fn assignment(&self) -> HashSet<TopicPartition> {
        self.consumer
            .assignment()
            .map(|tpl| tps_of(&tpl).into_iter().collect())
            .unwrap_or_default()
    }

    /// The ordered shutdown: leave the group (the revoke callback finishes our partitions),
    /// then drop the consumer on a helper thread with a deadline, because dropping a
    /// librdkafka consumer can hang (rust-rdkafka #453, #509).
    pub fn shutdown(self, deadline: Duration) {
        self.consumer.unsubscribe();
        let until = Instant::now() + deadline;
        while Instant::now() < until && !self.assignment().is_empty() {
            let _ = self.consumer.poll(Duration::from_millis(100));
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let consumer = self.consumer;
        std::thread::spawn(move || {
            drop(consumer);
            let _ = done_tx.send(());
        });
        if done_rx
            .recv_timeout(until.saturating_duration_since(Instant::now()) + Duration::from_secs(5))
            .is_err()
        {
            tracing::warn!("the Kafka consumer did not close in time; leaving it to process exit");
        }
    }
}
