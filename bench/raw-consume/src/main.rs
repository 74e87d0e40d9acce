//! Benchmark baseline: drains a topic with a plain rdkafka `BaseConsumer` poll loop that
//! touches every payload byte, with the consumer settings Lakesink uses, and prints one JSON
//! line with records, bytes, seconds and peak RSS. Lakesink's drain rate is reported as a
//! ratio to this.
//!
//! With a store URL, it also copies the payloads into it (`hdfs://` or a local directory):
//! each partition's bytes, as they arrive, into files of FLUSH_RECORDS records, closed in the
//! background while the next fills. No conversion, commit log, temp names or renames: the
//! least any sink of these records into that store must do, to tell the store's share of a
//! drain's time from Lakesink's.
//!
//! usage: raw-consume BOOTSTRAP TOPIC EXPECTED_RECORDS [STORE_URL FLUSH_RECORDS]

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdfs_native::file::FileWriter;
use hdfs_native::{ClientBuilder, WriteOptions};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process so far (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after_name = s.rsplit_once(')')?.1.to_string();
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every common architecture.
    ticks as f64 / 100.0
}

/// Bytes gathered per partition before they are handed to the file.
const WRITE_BYTES: usize = 1 << 20;

/// An open file of one partition's copy.
enum Sink {
    Hdfs(Box<FileWriter>),
    Local(std::fs::File),
}

/// The payload copy: one open file per partition, closes running in the background.
struct Copy {
    runtime: tokio::runtime::Runtime,
    hdfs: Option<hdfs_native::Client>,
    dir: String,
    flush: u64,
    open: HashMap<i32, (Sink, u64, Vec<u8>)>,
    closes: Vec<tokio::task::JoinHandle<Result<()>>>,
    files: u64,
}

impl Copy {
    fn new(url: &str, flush: u64) -> Result<Copy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (hdfs, dir) = match url.strip_prefix("hdfs://") {
            Some(rest) => {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                let client = ClientBuilder::new()
                    .with_url(format!("hdfs://{host}"))
                    .build()?;
                (Some(client), format!("/{path}"))
            }
            None => (None, url.strip_prefix("file://").unwrap_or(url).to_string()),
        };
        Ok(Copy {
            runtime,
            hdfs,
            dir,
            flush,
            open: HashMap::new(),
            closes: Vec::new(),
            files: 0,
        })
    }

    fn create(&mut self, partition: i32) -> Result<Sink> {
        self.files += 1;
        let path = format!("{}/{partition}/{:08}.bin", self.dir, self.files);
        Ok(match &self.hdfs {
            Some(client) => {
                // HDFS's default block size, whatever the test bed's: each file one block, as
                // on a stock cluster (a block boundary waits for the pipeline to drain).
                let options = WriteOptions::default()
                    .create_parent(true)
                    .block_size(128 << 20);
                Sink::Hdfs(Box::new(
                    self.runtime.block_on(client.create(&path, options))?,
                ))
            }
            None => {
                std::fs::create_dir_all(format!("{}/{partition}", self.dir))?;
                Sink::Local(std::fs::File::create(&path)?)
            }
        })
    }

    fn write(&mut self, sink: &mut Sink, bytes: Vec<u8>) -> Result<()> {
        match sink {
            Sink::Hdfs(w) => {
                self.runtime.block_on(w.write_bytes(Bytes::from(bytes)))?;
            }
            Sink::Local(f) => f.write_all(&bytes)?,
        }
        Ok(())
    }

    fn add(&mut self, partition: i32, payload: &[u8]) -> Result<()> {
        let (mut sink, mut records, mut buf) = match self.open.remove(&partition) {
            Some(open) => open,
            None => (self.create(partition)?, 0, Vec::with_capacity(WRITE_BYTES)),
        };
        buf.extend_from_slice(payload);
        records += 1;
        if buf.len() >= WRITE_BYTES || records == self.flush {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(WRITE_BYTES));
            self.write(&mut sink, full)?;
        }
        if records == self.flush {
            self.close(sink);
        } else {
            self.open.insert(partition, (sink, records, buf));
        }
        Ok(())
    }

    fn close(&mut self, sink: Sink) {
        self.closes.push(self.runtime.spawn(async move {
            match sink {
                Sink::Hdfs(mut w) => w.close().await?,
                Sink::Local(f) => f.sync_all()?,
            }
            Ok(())
        }));
    }

    /// Writes and closes what is still open, and waits for every close.
    fn finish(mut self) -> Result<u64> {
        for (_, (mut sink, _, buf)) in std::mem::take(&mut self.open) {
            self.write(&mut sink, buf)?;
            self.close(sink);
        }
        for close in std::mem::take(&mut self.closes) {
            self.runtime.block_on(close)??;
        }
        Ok(self.files)
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (bootstrap, topic, expected, mut copy) = match &args[..] {
        [_, bootstrap, topic, expected] => (bootstrap, topic, expected, None),
        [_, bootstrap, topic, expected, url, flush] => {
            let flush: u64 = flush.parse().context("FLUSH_RECORDS")?;
            (bootstrap, topic, expected, Some(Copy::new(url, flush)?))
        }
        _ => bail!("usage: raw-consume BOOTSTRAP TOPIC EXPECTED_RECORDS [STORE_URL FLUSH_RECORDS]"),
    };
    let expected: u64 = expected.parse().context("EXPECTED_RECORDS")?;
    let group = format!("raw-consume-{}", std::process::id());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("isolation.level", "read_uncommitted")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "16384")
        .set("fetch.queue.backoff.ms", "10") // as lakesink-source
        .create()?;
    consumer.subscribe(&[topic.as_str()])?;
    let start = Instant::now();
    let (mut records, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
    while records < expected {
        if start.elapsed() > Duration::from_secs(900) {
            bail!("timed out after {records} records");
        }
        let Some(result) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = result?;
        if let Some(p) = msg.payload() {
            bytes += p.len() as u64;
            // Touch the bytes, as any sink must.
            checksum = checksum.wrapping_add(p.iter().map(|b| *b as u64).sum::<u64>());
            if let Some(copy) = copy.as_mut() {
                copy.add(msg.partition(), p)?;
            }
        }
        records += 1;
    }
    let files = match copy {
        Some(copy) => copy.finish()?,
        None => 0,
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"records\":{records},\"bytes\":{bytes},\"seconds\":{secs:.3},\"cpu_seconds\":{:.2},\"peak_rss_kib\":{},\"checksum\":{checksum},\"files\":{files}}}",
        cpu_seconds(),
        peak_rss_kib()
    );
    Ok(())
}
