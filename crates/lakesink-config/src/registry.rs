//! The Schema Registry server's configuration (`lakesink registry --config ...`), read from
//! the same key table as the sink's, under [`Scope::Registry`].

use std::collections::BTreeMap;

use crate::keys::{self, Scope};
use crate::{ConfigError, ConfigErrors, RawConfig, Values, check_scope, translate_consumer_key};

/// A validated registry configuration.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `(host, port)` of each listener.
    pub listeners: Vec<(String, u16)>,
    /// This instance's URL as other instances reach it, e.g. `http://node1:8081`.
    pub advertised_url: String,
    pub bootstrap_servers: String,
    pub topic: String,
    pub replication_factor: i32,
    pub timeout_ms: u64,
    /// `kafkastore.init.timeout.ms`.
    pub init_timeout_ms: u64,
    /// `lakesink.registry.leader.wait.ms`.
    pub leader_wait_ms: u64,
    pub group_id: String,
    pub leader_eligibility: bool,
    /// Canonical level name (`BACKWARD`, ...).
    pub compatibility_level: &'static str,
    pub mode_mutability: bool,
    pub max_request_bytes: usize,
    /// librdkafka settings for every Kafka client of the registry (`kafkastore.*`).
    pub kafka: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Validates a registry properties file.
pub fn load_registry(raw: &RawConfig) -> Result<RegistryConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let check = check_scope(raw, Scope::Registry, true, &mut errors, &mut warnings);
    for def in keys::KEYS
        .iter()
        .filter(|k| k.scope == Scope::Registry && k.default == keys::DefaultValue::Required)
    {
        if raw.get(def.name).is_none_or(|v| v.trim().is_empty()) {
            errors.push(ConfigError::Missing {
                key: def.name.to_string(),
                hint: def.kind.describe(),
            });
        }
    }
    let v = Values {
        raw,
        scope: Scope::Registry,
    };
    let mut listeners = Vec::new();
    for item in v.get("listeners").unwrap_or_default().split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match parse_listener(item) {
            Some(l) => listeners.push(l),
            None => errors.push(ConfigError::Invalid {
                key: "listeners".into(),
                value: item.into(),
                expected: "http://host:port (https is not supported yet)".into(),
            }),
        }
    }
    if listeners.is_empty()
        && !errors
            .iter()
            .any(|e| matches!(e, ConfigError::Invalid { key, .. } if key == "listeners"))
    {
        errors.push(ConfigError::Invalid {
            key: "listeners".into(),
            value: v.get("listeners").unwrap_or_default().into(),
            expected: "at least one http://host:port".into(),
        });
    }
    let mut kafka = BTreeMap::new();
    for (name, value) in check.prefixed.get("kafkastore.").into_iter().flatten() {
        translate_consumer_key(name, value, &mut kafka, &mut warnings);
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let host = v
        .get("host.name")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string);
    let (first_host, first_port) = listeners[0].clone();
    let host = host.unwrap_or_else(|| {
        if first_host == "0.0.0.0" || first_host == "::" {
            hostname()
        } else {
            first_host
        }
    });
    let bootstrap_servers = v
        .get("kafkastore.bootstrap.servers")
        .unwrap_or_default()
        .split(',')
        .map(|s| {
            let s = s.trim();
            // Confluent's form carries the protocol: PLAINTEXT://host:port.
            s.split_once("://").map(|(_, rest)| rest).unwrap_or(s)
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    Ok(RegistryConfig {
        advertised_url: format!("http://{host}:{first_port}"),
        listeners,
        bootstrap_servers,
        topic: v
            .get("kafkastore.topic")
            .unwrap_or("_schemas")
            .trim()
            .into(),
        replication_factor: i32::try_from(v.int("kafkastore.topic.replication.factor"))
            .unwrap_or(3),
        timeout_ms: u64::try_from(v.int("kafkastore.timeout.ms")).unwrap_or(10_000),
        init_timeout_ms: u64::try_from(v.int("kafkastore.init.timeout.ms")).unwrap_or(60_000),
        leader_wait_ms: u64::try_from(v.int("lakesink.registry.leader.wait.ms")).unwrap_or(20_000),
        group_id: v
            .get("schema.registry.group.id")
            .unwrap_or("schema-registry")
            .trim()
            .into(),
        leader_eligibility: v.bool("leader.eligibility"),
        compatibility_level: v.choice("schema.compatibility.level").unwrap_or("BACKWARD"),
        mode_mutability: v.bool("mode.mutability"),
        max_request_bytes: usize::try_from(v.int("lakesink.registry.max.request.bytes"))
            .unwrap_or(16 << 20),
        kafka,
        warnings,
    })
}

fn parse_listener(s: &str) -> Option<(String, u16)> {
    let rest = s.strip_prefix("http://")?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_confluent_spellings() {
        let c = load_registry(&raw(&[
            ("listeners", "http://127.0.0.1:18081"),
            (
                "kafkastore.bootstrap.servers",
                "PLAINTEXT://k1:9092, k2:9092",
            ),
            ("schema.compatibility.level", "full_transitive"),
            ("kafkastore.security.protocol", "SASL_SSL"),
        ]))
        .unwrap();
        assert_eq!(c.bootstrap_servers, "k1:9092,k2:9092");
        assert_eq!(c.topic, "_schemas");
        assert_eq!(c.compatibility_level, "FULL_TRANSITIVE");
        assert_eq!(c.advertised_url, "http://127.0.0.1:18081");
        assert_eq!(
            c.kafka.get("security.protocol").map(String::as_str),
            Some("SASL_SSL")
        );
        assert!(c.leader_eligibility);
    }

    #[test]
    fn errors_name_the_key() {
        let e = load_registry(&raw(&[
            ("listeners", "https://x:1"),
            ("schema.compatibility.level", "SIDEWAYS"),
            ("kafkastore.topik", "x"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("kafkastore.bootstrap.servers"), "{e}");
        assert!(e.contains("listeners"), "{e}");
        assert!(e.contains("schema.compatibility.level"), "{e}");
        assert!(e.contains("BACKWARD"), "{e}");
    }
}
