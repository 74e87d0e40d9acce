//! The `lakesink` command: runs sink connectors the way `connect-standalone` and
//! `connect-distributed` do, runs the
//! Schema Registry server, validates configuration files and prints the configuration
//! reference.
//!
//! Owns: command-line parsing, logging set-up, process signals and exit codes. The work
//! itself lives in the library crates (source → convert → partition → format → storage +
//! commit) and in [`standalone`], which wires them together.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod dead_letters;
mod logging;
mod metrics;
mod offsets;
mod shutdown;
mod standalone;

#[derive(Parser)]
#[command(
    name = "lakesink",
    version,
    about = "Kafka topics into HDFS as analysis-ready files, exactly once.",
    long_about = "Lakesink moves Kafka topics into HDFS (and the local file system) as Avro, Parquet, JSON or text files, exactly once. It reads the configuration files of Kafka Connect and of Confluent's HDFS sink connectors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run connectors in this process, like `connect-standalone worker.properties connector.properties ...`.
    Standalone {
        /// Worker settings: bootstrap.servers, key.converter, value.converter, consumer.*.
        worker: PathBuf,
        /// Connector configs (.properties, or JSON as posted to the Connect REST API); more
        /// can be created through the REST API.
        connectors: Vec<PathBuf>,
    },
    /// Run this process as one worker of a cluster, like `connect-distributed worker.properties`:
    /// workers with the same group.id share the connectors kept in config.storage.topic.
    Distributed {
        /// Worker settings: bootstrap.servers, group.id, config.storage.topic,
        /// status.storage.topic, listeners, converters, consumer.*.
        worker: PathBuf,
    },
    /// Check configuration files and print every problem found, without starting anything.
    Validate {
        worker: PathBuf,
        #[arg(required = true)]
        connectors: Vec<PathBuf>,
    },
    /// Run a Confluent-compatible Schema Registry server whose state lives in a Kafka topic.
    Registry {
        /// Registry settings: listeners, kafkastore.bootstrap.servers, kafkastore.topic, ...
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the configuration reference (docs/configuration.md) generated from the key table.
    ConfigDocs,
}

fn read_config(path: &Path) -> Result<lakesink_config::RawConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let origin = path.display().to_string();
    let parsed = if text.trim_start().starts_with('{') {
        lakesink_config::parse_connector_json(&text, &origin)
    } else {
        lakesink_config::parse_properties(&text, &origin)
    };
    Ok(parsed?)
}

/// Loads and validates a worker file plus connector files.
pub fn load_configs(worker: &Path, connectors: &[PathBuf]) -> Result<Vec<lakesink_config::Loaded>> {
    let worker_raw = read_config(worker)?;
    lakesink_config::load_worker(&worker_raw)
        .map_err(|e| anyhow::anyhow!("{}: {e}", worker.display()))?;
    let mut out = Vec::new();
    for path in connectors {
        let raw = read_config(path)?;
        let loaded =
            standalone::check_connector(&worker_raw, &raw).map_err(|e| match &e.0[..] {
                [lakesink_config::ConfigError::Conflict(one)] => {
                    anyhow::anyhow!("{}: {one}", path.display())
                }
                _ => anyhow::anyhow!("{}: {e}", path.display()),
            })?;
        out.push(loaded);
    }
    let mut names: Vec<&str> = out.iter().map(|l| l.config.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!("two connectors are named '{}'; names must be unique", w[0]);
    }
    Ok(out)
}

fn run_registry(path: &Path) -> Result<()> {
    let raw = read_config(path)?;
    let config = lakesink_config::registry::load_registry(&raw)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let signals = shutdown::StopSignals::install(&runtime)?;
    runtime.block_on(async {
        let shutdown = signals.recv();
        lakesink_registry::server::serve(config, shutdown)
            .await
            .context("schema registry")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ConfigDocs => {
            print!("{}", lakesink_config::docs::reference_markdown());
            Ok(())
        }
        Command::Validate { worker, connectors } => {
            load_configs(&worker, &connectors).map(|loaded| {
                for l in &loaded {
                    for w in &l.warnings {
                        println!("warning: {}: {w}", l.config.name);
                    }
                    println!("ok: connector '{}'", l.config.name);
                }
            })
        }
        Command::Standalone { worker, connectors } => {
            let loggers = logging::init();
            load_configs(&worker, &connectors).and_then(|loaded| {
                let worker_raw = read_config(&worker)?;
                standalone::run(worker_raw, standalone::Mode::Standalone(loaded), loggers)
            })
        }
        Command::Distributed { worker } => {
            let loggers = logging::init();
            read_config(&worker).and_then(|worker_raw| {
                let distributed = lakesink_config::load_distributed(&worker_raw)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", worker.display()))?;
                standalone::run(
                    worker_raw,
                    standalone::Mode::Distributed(distributed),
                    loggers,
                )
            })
        }
        Command::Registry { config } => {
            logging::init();
            run_registry(&config)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
