//! The records of Connect's config and status topics (`KafkaConfigBackingStore`,
//! `KafkaStatusBackingStore`): string keys, JSON values without schemas, a null value to
//! delete. Written and read verbatim, so tools that read these topics keep working.

use std::collections::BTreeMap;

use lakesink_config::RawConfig;
use lakesink_connect::herder::{State, TargetState};
use serde_json::{Map, Value, json};

/// One record of the config topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRecord {
    /// `connector-{c}`: the connector's config, `None` when deleted.
    Connector {
        name: String,
        config: Option<RawConfig>,
    },
    /// `target-state-{c}`; `None` when deleted.
    Target {
        name: String,
        target: Option<TargetState>,
    },
    /// `task-{c}-{n}`: a task's config (Lakesink's tasks take the connector's).
    Task { name: String, task: usize },
    /// `commit-{c}`: how many task configs are current.
    Commit { name: String, tasks: usize },
    /// `restart-connector-{c}`.
    Restart {
        name: String,
        include_tasks: bool,
        only_failed: bool,
    },
    /// A record Lakesink has no use for (`session-key`, `logger-cluster-*`, ...).
    Other,
}

fn object(value: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(format!("expected a JSON object, found {other}")),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn properties(value: &[u8]) -> Result<RawConfig, String> {
    let o = object(value)?;
    let Some(Value::Object(props)) = o.get("properties") else {
        return Err("no \"properties\" object".into());
    };
    props
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Null => Err(format!("property {k} is null")),
            other => Ok((k.clone(), other.to_string())),
        })
        .collect()
}

/// Reads a config-topic record; `Err` names what is wrong with it.
pub fn decode_config(key: &str, value: Option<&[u8]>) -> Result<ConfigRecord, String> {
    if let Some(name) = key.strip_prefix("connector-") {
        let config = value.map(properties).transpose()?;
        return Ok(ConfigRecord::Connector {
            name: name.to_string(),
            config,
        });
    }
    if let Some(name) = key.strip_prefix("target-state-") {
        let target = match value {
            None => None,
            Some(v) => {
                let o = object(v)?;
                // `state.v2` (Kafka 3.5+) knows STOPPED; `state` alone is the older format.
                let state = o
                    .get("state.v2")
                    .or_else(|| o.get("state"))
                    .and_then(Value::as_str)
                    .ok_or("no \"state\"")?;
                Some(TargetState::parse(state).ok_or(format!("unknown state '{state}'"))?)
            }
        };
        return Ok(ConfigRecord::Target {
            name: name.to_string(),
            target,
        });
    }
    if let Some(name) = key.strip_prefix("restart-connector-") {
        let o = value.map(object).transpose()?.unwrap_or_default();
        let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
        return Ok(ConfigRecord::Restart {
            name: name.to_string(),
            include_tasks: flag("include-tasks"),
            only_failed: flag("only-failed"),
        });
    }
    if let Some(rest) = key.strip_prefix("task-")
        && let Some((name, task)) = rest.rsplit_once('-')
        && let Ok(task) = task.parse()
    {
        return Ok(ConfigRecord::Task {
            name: name.to_string(),
            task,
        });
    }
    if let Some(name) = key.strip_prefix("commit-") {
        let tasks = value
            .map(object)
            .transpose()?
            .and_then(|o| o.get("tasks").and_then(Value::as_u64))
            .unwrap_or(0) as usize;
        return Ok(ConfigRecord::Commit {
            name: name.to_string(),
            tasks,
        });
    }
    Ok(ConfigRecord::Other)
}

/// A record to write: its key and value (`None`: a tombstone).
pub type Record = (String, Option<Vec<u8>>);

fn props_value(config: &RawConfig) -> Vec<u8> {
    json!({ "properties": config }).to_string().into_bytes()
}

/// A connector's config, as Connect writes it: the target state of a new connector first
/// (only when it is not STARTED: a connector without one is started, and Connect writes none
/// for a create without `initial_state`), then the config, then the task configs and the
/// commit that makes them current.
pub fn connector_records(
    name: &str,
    config: &RawConfig,
    initial: Option<TargetState>,
    tasks: usize,
) -> Vec<Record> {
    let mut out = Vec::new();
    if let Some(target) = initial.filter(|t| *t != TargetState::Started) {
        out.push(target_record(name, target));
    }
    out.push((format!("connector-{name}"), Some(props_value(config))));
    let mut task_config = config.clone();
    task_config.insert("task.class".into(), "io.lakesink.connect.SinkTask".into());
    for n in 0..tasks {
        out.push((format!("task-{name}-{n}"), Some(props_value(&task_config))));
    }
    out.push((
        format!("commit-{name}"),
        Some(json!({ "tasks": tasks }).to_string().into_bytes()),
    ));
    out
}

/// Deleting a connector: tombstones for its config and target state, as Connect's.
pub fn delete_records(name: &str) -> Vec<Record> {
    vec![
        (format!("connector-{name}"), None),
        (format!("target-state-{name}"), None),
    ]
}

pub fn target_record(name: &str, target: TargetState) -> Record {
    let v2 = match target {
        TargetState::Started => "STARTED",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    };
    // Workers older than Kafka 3.5 know no STOPPED; Connect writes PAUSED for them.
    let v1 = if target == TargetState::Stopped {
        "PAUSED"
    } else {
        v2
    };
    (
        format!("target-state-{name}"),
        Some(
            json!({ "state": v1, "state.v2": v2 })
                .to_string()
                .into_bytes(),
        ),
    )
}

pub fn restart_record(name: &str, include_tasks: bool, only_failed: bool) -> Record {
    (
        format!("restart-connector-{name}"),
        Some(
            json!({ "include-tasks": include_tasks, "only-failed": only_failed })
                .to_string()
                .into_bytes(),
        ),
    )
}

/// The status of a connector or task, as Connect writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    pub trace: Option<String>,
    pub worker_id: String,
    pub generation: i64,
    /// The version of the plugin running it (KIP-891, Kafka 4.1).
    pub version: Option<String>,
}

/// What a status-topic key names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusKey {
    Connector(String),
    Task(String, usize),
    /// A topic a connector's tasks read (KIP-558).
    Topic {
        topic: String,
        connector: String,
    },
}

impl StatusKey {
    pub fn parse(key: &str) -> Option<StatusKey> {
        if let Some(name) = key.strip_prefix("status-connector-") {
            return Some(StatusKey::Connector(name.to_string()));
        }
        if let Some(rest) = key.strip_prefix("status-task-") {
            let (name, task) = rest.rsplit_once('-')?;
            return Some(StatusKey::Task(name.to_string(), task.parse().ok()?));
        }
        if let Some(rest) = key.strip_prefix("status-topic-") {
            // Topic names cannot hold ':'.
            let (topic, connector) = rest.split_once(":connector-")?;
            return Some(StatusKey::Topic {
                topic: topic.to_string(),
                connector: connector.to_string(),
            });
        }
        None
    }

    pub fn key(&self) -> String {
        match self {
            StatusKey::Connector(c) => format!("status-connector-{c}"),
            StatusKey::Task(c, n) => format!("status-task-{c}-{n}"),
            StatusKey::Topic { topic, connector } => {
                format!("status-topic-{topic}:connector-{connector}")
            }
        }
    }

    pub fn connector(&self) -> &str {
        match self {
            StatusKey::Connector(c) | StatusKey::Task(c, _) => c,
            StatusKey::Topic { connector, .. } => connector,
        }
    }
}

fn parse_state(s: &str) -> Option<State> {
    Some(match s {
        "UNASSIGNED" => State::Unassigned,
        "RUNNING" => State::Running,
        "PAUSED" => State::Paused,
        "FAILED" => State::Failed,
        "RESTARTING" => State::Restarting,
        "STOPPED" => State::Stopped,
        // Connect writes DESTROYED for a deleted connector's last status.
        "DESTROYED" => State::Unassigned,
        _ => return None,
    })
}

pub fn encode_status(status: &Status) -> Vec<u8> {
    json!({
        "state": status.state.as_str(),
        "trace": status.trace,
        "worker_id": status.worker_id,
        "generation": status.generation,
        "version": status.version,
    })
    .to_string()
    .into_bytes()
}

pub fn decode_status(value: &[u8]) -> Result<Status, String> {
    let o = object(value)?;
    let state = o
        .get("state")
        .and_then(Value::as_str)
        .ok_or("no \"state\"")?;
    Ok(Status {
        state: parse_state(state).ok_or(format!("unknown state '{state}'"))?,
        trace: o.get("trace").and_then(Value::as_str).map(String::from),
        worker_id: o
            .get("worker_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        generation: o.get("generation").and_then(Value::as_i64).unwrap_or(0),
        version: o.get("version").and_then(Value::as_str).map(String::from),
    })
}

pub fn encode_topic(topic: &str, connector: &str, discovered_ms: u64) -> Vec<u8> {
    json!({"topic": {"name": topic, "connector": connector, "task": 0, "discoverTimestamp": discovered_ms}})
        .to_string()
        .into_bytes()
}

/// The topics of each connector, from its `status-topic-*` keys.
pub fn topics_by_connector<'a>(
    keys: impl Iterator<Item = &'a StatusKey>,
) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for k in keys {
        if let StatusKey::Topic { topic, connector } = k {
            out.entry(connector.clone())
                .or_default()
                .insert(topic.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_config_records_are_read() {
        // As Apache Kafka 4.1's worker writes them.
        let rec = decode_config(
            "connector-hdfs",
            Some(br#"{"properties":{"connector.class":"HdfsSinkConnector","tasks.max":"2","name":"hdfs"}}"#),
        )
        .unwrap();
        let ConfigRecord::Connector {
            config: Some(config),
            ..
        } = rec
        else {
            panic!("{rec:?}")
        };
        assert_eq!(config["tasks.max"], "2");
        assert_eq!(
            decode_config(
                "target-state-hdfs",
                Some(br#"{"state":"PAUSED","state.v2":"STOPPED"}"#)
            )
            .unwrap(),
            ConfigRecord::Target {
                name: "hdfs".into(),
                target: Some(TargetState::Stopped)
            }
        );
        assert_eq!(
            decode_config("target-state-old", Some(br#"{"state":"PAUSED"}"#)).unwrap(),
            ConfigRecord::Target {
                name: "old".into(),
                target: Some(TargetState::Paused)
            }
        );
        assert_eq!(
            decode_config("task-my-conn-12", Some(br#"{"properties":{}}"#)).unwrap(),
            ConfigRecord::Task {
                name: "my-conn".into(),
                task: 12
            }
        );
        assert_eq!(
            decode_config("commit-my-conn", Some(br#"{"tasks":3}"#)).unwrap(),
            ConfigRecord::Commit {
                name: "my-conn".into(),
                tasks: 3
            }
        );
        assert_eq!(
            decode_config(
                "restart-connector-a",
                Some(br#"{"include-tasks":true,"only-failed":false}"#)
            )
            .unwrap(),
            ConfigRecord::Restart {
                name: "a".into(),
                include_tasks: true,
                only_failed: false
            }
        );
        assert_eq!(
            decode_config("connector-gone", None).unwrap(),
            ConfigRecord::Connector {
                name: "gone".into(),
                config: None
            }
        );
        assert_eq!(
            decode_config("session-key", Some(b"{}")).unwrap(),
            ConfigRecord::Other
        );
        assert!(decode_config("connector-x", Some(b"[1]")).is_err());
    }

    #[test]
    fn written_records_read_back() {
        let config: RawConfig = [("tasks.max".to_string(), "2".to_string())].into();
        let records = connector_records("c", &config, Some(TargetState::Paused), 2);
        let keys: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "target-state-c",
                "connector-c",
                "task-c-0",
                "task-c-1",
                "commit-c"
            ]
        );
        let decoded: Vec<ConfigRecord> = records
            .iter()
            .map(|(k, v)| decode_config(k, v.as_deref()).unwrap())
            .collect();
        assert_eq!(
            decoded[0],
            ConfigRecord::Target {
                name: "c".into(),
                target: Some(TargetState::Paused)
            }
        );
        assert_eq!(
            decoded[1],
            ConfigRecord::Connector {
                name: "c".into(),
                config: Some(config)
            }
        );
        let (_, stopped) = target_record("c", TargetState::Stopped);
        let v: Value = serde_json::from_slice(&stopped.unwrap()).unwrap();
        assert_eq!(v, json!({"state": "PAUSED", "state.v2": "STOPPED"}));
    }

    #[test]
    fn status_records_round_trip_and_keys_parse() {
        let s = Status {
            state: State::Failed,
            trace: Some("record t-0 offset 7: bad".into()),
            worker_id: "w1:8083".into(),
            generation: 4,
            version: Some("0.1.0".into()),
        };
        assert_eq!(decode_status(&encode_status(&s)).unwrap(), s);
        let connect = decode_status(
            br#"{"state":"RUNNING","trace":null,"worker_id":"10.0.0.1:8083","generation":17}"#,
        )
        .unwrap();
        assert_eq!(connect.state, State::Running);
        assert_eq!(connect.trace, None);
        for key in [
            StatusKey::Connector("a-b".into()),
            StatusKey::Task("a-b".into(), 3),
            StatusKey::Topic {
                topic: "orders.v1".into(),
                connector: "a-b".into(),
            },
        ] {
            assert_eq!(StatusKey::parse(&key.key()), Some(key.clone()));
        }
        assert_eq!(StatusKey::parse("status-task-x"), None);
    }
}
