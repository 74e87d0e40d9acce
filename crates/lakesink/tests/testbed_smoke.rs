//! Smoke test of the test bed and both client stacks: Python confluent-kafka produces,
//! Rust rdkafka consumes; Rust hdfs-native writes 64 MiB, Python hdfs-native reads it back.
//! Needs the bed: `eval "$(scripts/testbed up)"` (the README test command does this).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use sha2::{Digest, Sha256};

fn bed(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: start the test bed with `eval \"$(scripts/testbed up)\"` (scripts/test does this)")
    })
}

fn python(script: &str, args: &[&str]) -> serde_json::Value {
    // Relative to the package root, where `cargo test` runs tests (not a path compiled in:
    // a shared target directory can hand this binary to another checkout).
    let path = format!("../../tests/tools/{script}");
    let out = Command::new(bed("LAKESINK_PYTHON"))
        .arg(&path)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[test]
fn python_produces_rust_consumes_in_order() {
    let bootstrap = bed("LAKESINK_KAFKA");
    let topic = unique("smoke");
    const COUNT: u64 = 10_000;
    let produced = python(
        "kafka_produce_keyed.py",
        &[&bootstrap, &topic, "3", &COUNT.to_string()],
    );
    assert_eq!(produced["produced"], COUNT);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", unique("smoke-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");

    let mut seen: BTreeMap<i32, Vec<(i64, String, u64)>> = BTreeMap::new();
    let mut total = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while total < COUNT && Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = result.expect("consume");
        let key = String::from_utf8(msg.key().expect("key").to_vec()).unwrap();
        let value: u64 = std::str::from_utf8(msg.payload().expect("value"))
            .unwrap()
            .parse()
            .unwrap();
        seen.entry(msg.partition())
            .or_default()
            .push((msg.offset(), key, value));
        total += 1;
    }
    assert_eq!(total, COUNT, "consumed {total} of {COUNT} records in 60 s");
    assert_eq!(seen.len(), 3, "records on all three partitions");

    let mut values = BTreeSet::new();
    for (partition, records) in &seen {
        assert_eq!(
            produced["per_partition"][partition.to_string()].as_u64(),
            Some(records.len() as u64),
            "partition {partition} count"
        );
        for (i, (offset, key, value)) in records.iter().enumerate() {
            assert_eq!(
                *offset, i as i64,
                "partition {partition}: offsets are consecutive from 0"
            );
            assert_eq!(key, &format!("key-{}", value % 97), "key matches value");
            assert!(values.insert(*value), "value {value} seen twice");
        }
        assert!(
            records.windows(2).all(|w| w[0].2 < w[1].2),
            "partition {partition}: values in production order"
        );
    }
    assert_eq!(values.len() as u64, COUNT);
    assert_eq!(values.iter().next_back(), Some(&(COUNT - 1)));
}

#[test]
fn rust_writes_64_mib_python_reads_it_back() {
    let url = bed("LAKESINK_HDFS");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let path = format!("/{}/blob.bin", unique("smoke"));
    const SIZE: usize = 64 * 1024 * 1024;
    let expected = runtime.block_on(async {
        let client = hdfs_native::ClientBuilder::new()
            .with_url(url.clone())
            .build()
            .expect("hdfs client");
        let mut writer = client
            .create(
                &path,
                hdfs_native::WriteOptions::default().create_parent(true),
            )
            .await
            .expect("create");
        let mut hasher = Sha256::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut written = 0;
        while written < SIZE {
            let mut chunk = Vec::with_capacity(1 << 20);
            while chunk.len() < 1 << 20 {
                // xorshift: incompressible, reproducible bytes
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.extend_from_slice(&state.to_le_bytes());
            }
            hasher.update(&chunk);
            written += chunk.len();
            writer
                .write_bytes(bytes::Bytes::from(chunk))
                .await
                .expect("write");
        }
        writer.close().await.expect("close");
        format!("{:x}", hasher.finalize())
    });
    let read = python("hdfs_sha256.py", &[&url, &path]);
    assert_eq!(read["size"], SIZE as u64);
    assert_eq!(read["sha256"], expected.as_str());
    runtime.block_on(async {
        let client = hdfs_native::ClientBuilder::new()
            .with_url(url)
            .build()
            .unwrap();
        client
            .delete(path.rsplit_once('/').unwrap().0, true)
            .await
            .unwrap();
    });
}
