//! Logging set-up, with levels that `/admin/loggers` changes at run time.
//!
//! Loggers are `tracing` targets (`lakesink_sink`, `lakesink_sink::writer`, `rdkafka`);
//! `root` is the default level. Connect's log4j levels map onto tracing's: `FATAL` is
//! `ERROR`, `OFF` silences.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lakesink_connect::LogLevels;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::reload;

type Handle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The filter's directives, by logger, with when each was last set through the API.
struct Levels {
    root: (String, Option<u64>),
    targets: BTreeMap<String, (String, Option<u64>)>,
}

pub struct Loggers {
    handle: Handle,
    levels: Mutex<Levels>,
}

/// Installs the subscriber; the filter starts from `LAKESINK_LOG` (default `info`).
pub fn init() -> Arc<Loggers> {
    let spec = std::env::var("LAKESINK_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    let mut levels = Levels {
        root: ("INFO".into(), None),
        targets: BTreeMap::new(),
    };
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.split_once('=') {
            Some((target, level)) => {
                levels
                    .targets
                    .insert(target.to_string(), (level.to_ascii_uppercase(), None));
            }
            None => levels.root = (directive.to_ascii_uppercase(), None),
        }
    }
    let (filter, handle) = reload::Layer::new(filter);
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    tracing_subscriber::registry().with(filter).with(fmt).init();
    Arc::new(Loggers {
        handle,
        levels: Mutex::new(levels),
    })
}

fn tracing_level(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        "OFF" => "off",
        _ => return None,
    })
}

impl Loggers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Levels> {
        self.levels.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spec(levels: &Levels) -> Option<String> {
        let mut parts = vec![tracing_level(&levels.root.0)?.to_string()];
        for (target, (level, _)) in &levels.targets {
            parts.push(format!("{target}={}", tracing_level(level)?));
        }
        Some(parts.join(","))
    }
}

impl LogLevels for Loggers {
    fn levels(&self) -> BTreeMap<String, (String, Option<u64>)> {
        let levels = self.lock();
        let mut out = levels.targets.clone();
        out.insert("root".into(), levels.root.clone());
        out
    }

    fn set(&self, logger: &str, level: &str) -> Result<Vec<String>, String> {
        if tracing_level(level).is_none() {
            return Err(format!("invalid log level '{level}'."));
        }
        let level = level.to_ascii_uppercase();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .ok();
        let mut levels = self.lock();
        let changed: Vec<String> = if logger == "root" {
            // As log4j: setting the root sets every logger under it.
            levels.root = (level.clone(), now);
            for v in levels.targets.values_mut() {
                *v = (level.clone(), now);
            }
            std::iter::once("root".to_string())
                .chain(levels.targets.keys().cloned())
                .collect()
        } else {
            let prefix = format!("{logger}::");
            let mut changed = vec![logger.to_string()];
            levels
                .targets
                .insert(logger.to_string(), (level.clone(), now));
            for (name, v) in levels.targets.iter_mut() {
                if name.starts_with(&prefix) {
                    *v = (level.clone(), now);
                    changed.push(name.clone());
                }
            }
            changed
        };
        let spec = Self::spec(&levels).ok_or_else(|| format!("invalid log level '{level}'."))?;
        let filter = EnvFilter::try_new(&spec).map_err(|e| format!("{logger}: {e}"))?;
        self.handle
            .reload(filter)
            .map_err(|e| format!("changing the log level: {e}"))?;
        tracing::info!(logger, level = %level, "log level changed");
        Ok(changed)
    }
}
