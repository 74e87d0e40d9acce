//! Benchmark baseline: drains a topic with a plain rdkafka `BaseConsumer` poll loop that
//! touches every payload byte, with the consumer settings Lakesink uses, and prints one JSON
//! line with records, bytes, seconds and peak RSS. Lakesink's drain rate is reported as a
//! ratio to this.
//!
//! usage: raw-consume BOOTSTRAP TOPIC EXPECTED_RECORDS

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, topic, expected] = &args[..] else {
        bail!("usage: raw-consume BOOTSTRAP TOPIC EXPECTED_RECORDS");
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
        }
        records += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"records\":{records},\"bytes\":{bytes},\"seconds\":{secs:.3},\"cpu_seconds\":{:.2},\"peak_rss_kib\":{},\"checksum\":{checksum}}}",
        cpu_seconds(),
        peak_rss_kib()
    );
    Ok(())
}
