//! Starting and stopping a registry instance: the topic, the reader, the election and the
//! HTTP listeners, in that order; nothing is served before the state is replayed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lakesink_config::registry::RegistryConfig;

use crate::api::{self, Ctx};
use crate::compat::Level;
use crate::kafka::{self, KafkaSettings, StoreError};
use crate::registry::{Leader, Registry, Rules};
use crate::store::State;
use lakesink_source::election::{Election, ElectionSettings};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("listener {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Waits until this instance knows who leads (itself, with its writer fenced in and ready,
/// or another instance), for at most `timeout`.
async fn await_leader(
    registry: &Arc<Registry>,
    config: &RegistryConfig,
    timeout: Duration,
) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    loop {
        match registry.leader(&config.advertised_url).await {
            Ok(Leader::ThisInstance) => match registry.prepare_writer().await {
                Ok(()) => {
                    tracing::info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "leader election decided: this instance leads"
                    );
                    return Ok(());
                }
                // Lost the leadership meanwhile, or Kafka was slow: try again until the end.
                Err(e) => tracing::debug!("preparing the writer: {e}"),
            },
            Ok(Leader::Other(url)) => {
                tracing::info!(
                    leader = url,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "leader election decided: writes are forwarded to the leader"
                );
                return Ok(());
            }
            Err(problem) => tracing::debug!("no leader yet: {problem}"),
        }
        if started.elapsed() >= timeout {
            if config.leader_eligibility {
                return Err(ServeError::Other(format!(
                    "the leader election in group {} was not decided within kafkastore.init.timeout.ms={} (is the Kafka group coordinator reachable?)",
                    config.group_id, config.init_timeout_ms
                )));
            }
            tracing::warn!(
                group = config.group_id,
                "no eligible instance leads the group: serving reads; writes fail with 50004 until a leader is elected"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    config: RegistryConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let settings = KafkaSettings {
        bootstrap_servers: config.bootstrap_servers.clone(),
        topic: config.topic.clone(),
        replication_factor: config.replication_factor,
        timeout: Duration::from_millis(config.timeout_ms),
        extra: config.kafka.clone(),
    };
    kafka::ensure_topic(&settings).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let state = Arc::new(RwLock::new(State::default()));
    let mut progress = kafka::start_reader(&settings, state.clone(), stop.clone())?;
    let started = std::time::Instant::now();
    let init_timeout = Duration::from_millis(config.init_timeout_ms);
    match tokio::time::timeout(init_timeout, progress.wait_for(|p| p.caught_up)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return Err(ServeError::Other("the schemas reader stopped".into())),
        Err(_) => {
            return Err(ServeError::Other(format!(
                "the schemas topic {} was not read to its end within kafkastore.init.timeout.ms={}",
                config.topic, config.init_timeout_ms
            )));
        }
    }
    {
        let s = match state.read() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        tracing::info!(
            topic = config.topic,
            subjects = s.subjects.len(),
            schemas = s.schemas.len(),
            max_id = s.max_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed the schemas topic"
        );
    }
    let election = Election::start(
        &ElectionSettings {
            client: settings.client_config(),
            topic: settings.topic.clone(),
            group_id: config.group_id.clone(),
            group_key: "schema.registry.group.id",
            client_id_prefix: "lakesink-registry@",
            url: config.advertised_url.clone(),
            session_timeout_ms: 10_000,
            heartbeat_interval_ms: 1_000,
            rebalance_timeout_ms: 10_000,
            timeout: settings.timeout,
        },
        config.leader_eligibility,
        stop.clone(),
    )
    .map_err(StoreError::from)?;
    let rules = Rules {
        default_level: Level::parse(config.compatibility_level).unwrap_or(Level::Backward),
        mode_mutability: config.mode_mutability,
    };
    let registry = Arc::new(Registry::new(
        state,
        progress,
        settings,
        config.group_id.clone(),
        election,
        rules,
    ));
    // As Confluent's registry, nothing is served before the first election is decided: a
    // client that sees the API answer can write at once.
    await_leader(&registry, &config, init_timeout).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(
            config.timeout_ms.saturating_add(5_000),
        ))
        .build()
        .map_err(|e| ServeError::Other(format!("HTTP client: {e}")))?;
    let ctx = Arc::new(Ctx {
        registry,
        own_url: config.advertised_url.clone(),
        http,
        leader_wait: Duration::from_millis(config.leader_wait_ms),
    });
    let app = api::router(ctx, config.max_request_bytes);
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut servers = Vec::new();
    for (host, port) in &config.listeners {
        let address = format!("{host}:{port}");
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|source| ServeError::Listen {
                address: address.clone(),
                source,
            })?;
        let mut rx = tx.subscribe();
        let app = app.clone();
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.recv().await;
                })
                .await
        }));
    }
    tracing::info!(
        url = config.advertised_url,
        listeners = ?config.listeners.iter().map(|(h, p)| format!("http://{h}:{p}")).collect::<Vec<_>>(),
        eligible = config.leader_eligibility,
        "registry serving"
    );
    shutdown.await;
    tracing::info!("registry stopping");
    let _ = tx.send(());
    for s in servers {
        if let Ok(Err(e)) = s.await {
            tracing::warn!("listener: {e}");
        }
    }
    stop.store(true, Ordering::SeqCst);
    // Let the election thread leave the group, so another instance takes over at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}
