//! The Kafka Connect REST API, with Connect's paths, status codes and
//! `{"error_code","message"}` bodies. Handlers only read snapshots or flip target states in
//! the herder; nothing here waits on a connector.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use lakesink_config::RawConfig;
use serde_json::{Map, Value, json};

use crate::cluster::{Cluster, ConfigWrite};
use crate::herder::{
    ConnectorView, Herder, HerderError, State as PartState, StateInfo, TargetState,
};
use crate::plugins;

/// What `GET /` reports.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub commit: String,
    pub kafka_cluster_id: Option<String>,
}

/// Run-time control of log levels (`/admin/loggers`), implemented where logging is set up.
pub trait LogLevels: Send + Sync {
    /// Every logger with a level set, with its level (`TRACE` … `ERROR`, `OFF`) and when it
    /// was last changed here (ms since the epoch).
    fn levels(&self) -> BTreeMap<String, (String, Option<u64>)>;
    /// Sets `logger` (`root` for all) to `level`; returns the loggers changed.
    fn set(&self, logger: &str, level: &str) -> Result<Vec<String>, String>;
}

/// `(topic, partition, next offset to write)`.
pub type PartitionOffset = (String, i32, i64);

/// The committed offsets of a sink connector, as kept by the sink in storage.
pub trait Offsets: Send + Sync {
    /// `(topic, partition, next offset to write)` of every partition with a commit.
    fn committed(
        &self,
        name: &str,
        config: &RawConfig,
    ) -> futures::future::BoxFuture<'static, Result<Vec<PartitionOffset>, String>>;
    /// Sets where the next recovery of each listed partition starts (`None`: forget the
    /// partition's position). All changes are checked before any is made.
    fn alter(
        &self,
        name: &str,
        config: &RawConfig,
        changes: Vec<(String, i32, Option<i64>)>,
    ) -> futures::future::BoxFuture<'static, Result<(), OffsetsError>>;
}

/// Why offsets could not be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetsError {
    /// The request cannot be carried out as asked (400).
    #[error("{0}")]
    Refused(String),
    /// Storage failed (500).
    #[error("{0}")]
    Failed(String),
}

/// Everything the API serves from.
#[derive(Clone)]
pub struct Api {
    pub herder: Herder,
    pub info: ServerInfo,
    pub logs: Arc<dyn LogLevels>,
    pub offsets: Arc<dyn Offsets>,
    /// The Prometheus text of `GET /metrics`.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    pub topic_tracking: bool,
    pub topic_tracking_reset: bool,
    /// Distributed mode: the cluster that keeps the configs; `None` in standalone mode, where
    /// writes apply to the herder directly.
    pub cluster: Option<Arc<dyn Cluster>>,
}

/// Connect's error: the status and `{"error_code": status, "message": ...}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.status.as_u16(), "message": self.message});
        json_response(self.status, &body)
    }
}

impl From<HerderError> for ApiError {
    fn from(e: HerderError) -> ApiError {
        let status = match &e {
            HerderError::NotFound(_) | HerderError::UnknownTask(_) => StatusCode::NOT_FOUND,
            HerderError::AlreadyExists(_) | HerderError::Conflict(_) => StatusCode::CONFLICT,
            HerderError::BadRequest(_) | HerderError::Invalid(_) => StatusCode::BAD_REQUEST,
            HerderError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

type Reply = Result<Response, ApiError>;

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn ok(body: Value) -> Reply {
    Ok(json_response(StatusCode::OK, &body))
}

fn no_content() -> Reply {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn accepted() -> Reply {
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The router of the whole API, `/metrics` included.
pub fn router(api: Api) -> Router {
    let routing = axum::middleware::from_fn_with_state(api.clone(), crate::cluster::route_request);
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/connectors", get(list).post(create))
        .route("/connectors/", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(reset_topics))
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connector-plugins", get(list_plugins))
        .route("/connector-plugins/{plugin}/config", get(plugin_config))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
        .route("/admin/loggers", get(loggers))
        .route("/admin/loggers/{logger}", get(logger).put(set_logger))
        .fallback(not_found_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(routing)
        .with_state(api)
}

async fn not_found_route() -> ApiError {
    ApiError::not_found("HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
}

async fn root(State(api): State<Api>) -> Reply {
    ok(json!({
        "version": api.info.version,
        "commit": api.info.commit,
        "kafka_cluster_id": api.info.kafka_cluster_id,
    }))
}

async fn health() -> Reply {
    // Requests are served by the herder's snapshots, never queued behind connector work, so
    // a worker that answers at all is ready.
    ok(json!({
        "status": "healthy",
        "message": "Worker has completed startup and is ready to handle requests."
    }))
}

async fn metrics(State(api): State<Api>) -> Response {
    let mut r = (api.metrics)().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

// ----------------------------------------------------------------------- bodies

/// A JSON body: 415 unless sent as `application/json` (as Connect's), 400 for one that is
/// not JSON (Connect answers 500 for that client mistake).
fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "HTTP 415 Unsupported Media Type",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("Request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))
}

/// A flat config object; values other than strings are taken as their JSON text, as
/// Connect's Jackson reads them into strings. `None` values are keys given as `null`.
fn config_map(value: &Value, what: &str) -> Result<BTreeMap<String, Option<String>>, ApiError> {
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(format!(
            "{what} must be a JSON object"
        )));
    };
    Ok(map
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            (k.clone(), v)
        })
        .collect())
}

fn defined(map: BTreeMap<String, Option<String>>) -> RawConfig {
    map.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

// ----------------------------------------------------------------------- views

fn state_json(s: &StateInfo, worker: &str) -> Value {
    // `version` is the plugin's (KIP-891, Kafka 4.1).
    let mut o = json!({"state": s.state.as_str(), "worker_id": s.worker_id.as_deref().unwrap_or(worker), "version": plugins::VERSION});
    if let Some(trace) = &s.trace {
        o["trace"] = Value::String(trace.clone());
    }
    o
}

fn status_json(v: &ConnectorView, worker: &str) -> Value {
    let tasks: Vec<Value> = v
        .tasks
        .iter()
        .map(|(id, s)| {
            let mut t = state_json(s, worker);
            t["id"] = json!(id);
            t
        })
        .collect();
    json!({
        "name": v.name,
        "connector": state_json(&v.connector, worker),
        "tasks": tasks,
        "type": "sink",
    })
}

fn info_json(v: &ConnectorView) -> Value {
    let tasks: Vec<Value> = v
        .tasks
        .iter()
        .map(|(id, _)| json!({"connector": v.name, "task": id}))
        .collect();
    json!({"name": v.name, "config": v.config, "tasks": tasks, "type": "sink"})
}

/// A task's config as Connect's sink tasks get it: the connector's plus `task.class`.
fn task_config(v: &ConnectorView) -> Value {
    let mut c: Map<String, Value> = v
        .config
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    c.insert(
        "task.class".into(),
        Value::String("io.lakesink.connect.SinkTask".into()),
    );
    Value::Object(c)
}

// ----------------------------------------------------------------------- writes

/// Where a write goes: to the herder in standalone mode, to the config topic in distributed
/// mode (every worker's herder then applies it as it reads it back).
async fn write(api: &Api, write: ConfigWrite) -> Result<(), ApiError> {
    let Some(cluster) = &api.cluster else {
        match write {
            ConfigWrite::Connector {
                name,
                config,
                initial,
            } => {
                api.herder.put(
                    &name,
                    config,
                    initial.unwrap_or(TargetState::Started),
                    initial.is_none(),
                )?;
            }
            ConfigWrite::Delete { name } => api.herder.delete(&name)?,
            ConfigWrite::Target { name, target } => api.herder.set_target(&name, target)?,
            ConfigWrite::Restart {
                name,
                include_tasks,
                only_failed,
            } => {
                api.herder.restart(&name, include_tasks, only_failed)?;
            }
            ConfigWrite::ResetTopics { name } => api.herder.reset_topics(&name)?,
        }
        return Ok(());
    };
    cluster.write(write).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to write to the config topic: {e}"),
        )
    })
}

/// Stores a connector's config; `Ok(true)` if it is new. A new connector starts in
/// `initial`; with `replace`, an existing one gets the new config and keeps its state.
async fn store_connector(
    api: &Api,
    name: &str,
    config: RawConfig,
    initial: TargetState,
    replace: bool,
) -> Result<bool, ApiError> {
    let exists = api.herder.view(name).is_ok();
    if exists && !replace {
        return Err(HerderError::AlreadyExists(name.to_string()).into());
    }
    if api.cluster.is_some() {
        // The leader checks before writing; every worker checks again when it applies it.
        api.herder.validate(&config).map_err(HerderError::Invalid)?;
    }
    write(
        api,
        ConfigWrite::Connector {
            name: name.to_string(),
            config,
            initial: (!exists).then_some(initial),
        },
    )
    .await?;
    Ok(!exists)
}

async fn store_target(api: &Api, name: &str, target: TargetState) -> Result<(), ApiError> {
    api.herder.view(name)?;
    write(
        api,
        ConfigWrite::Target {
            name: name.to_string(),
            target,
        },
    )
    .await
}

// ----------------------------------------------------------------------- connectors

async fn list(State(api): State<Api>, RawQuery(query): RawQuery) -> Reply {
    let expand: Vec<String> = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "expand")
        .map(|(_, v)| v.to_ascii_lowercase())
        .collect();
    let (want_status, want_info) = (
        expand.iter().any(|e| e == "status"),
        expand.iter().any(|e| e == "info"),
    );
    if !want_status && !want_info {
        return ok(json!(api.herder.names()));
    }
    let mut out = Map::new();
    for v in api.herder.views() {
        let mut entry = Map::new();
        if want_status {
            entry.insert("status".into(), status_json(&v, api.herder.worker_id()));
        }
        if want_info {
            entry.insert("info".into(), info_json(&v));
        }
        out.insert(v.name.clone(), Value::Object(entry));
    }
    ok(Value::Object(out))
}

async fn create(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Reply {
    let body = parse_body(&headers, &body)?;
    let name = match body.get("name") {
        Some(Value::String(n)) => n.trim().to_string(),
        _ => String::new(),
    };
    let config = match body.get("config") {
        Some(c @ Value::Object(_)) => defined(config_map(c, "config")?),
        Some(Value::Null) | None => {
            return Err(ApiError::bad_request(
                "Connector config is missing: the body needs a \"config\" object",
            ));
        }
        Some(_) => return Err(ApiError::bad_request("config must be a JSON object")),
    };
    let initial = match body.get("initial_state") {
        None | Some(Value::Null) => TargetState::Started,
        Some(Value::String(s)) => TargetState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid initial state '{s}': allowed values are RUNNING, PAUSED and STOPPED"
            ))
        })?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid initial state {other}: allowed values are RUNNING, PAUSED and STOPPED"
            )));
        }
    };
    if let Some(n) = config.get("name")
        && n != &name
    {
        return Err(ApiError::bad_request(
            "Connector name configuration (".to_string()
                + n
                + ") doesn't match connector name in the URL ("
                + &name
                + ")",
        ));
    }
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "Connector name is missing: set \"name\"",
        ));
    }
    let mut config = config;
    config.insert("name".into(), name.clone());
    store_connector(&api, &name, config, initial, false).await?;
    let view = api.herder.view(&name)?;
    let mut r = json_response(StatusCode::CREATED, &info_json(&view));
    // Absolute, as Connect's: the address the client used.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    if let Ok(location) =
        HeaderValue::from_str(&format!("http://{host}/connectors/{}", encode_path(&name)))
    {
        r.headers_mut().insert(header::LOCATION, location);
    }
    Ok(r)
}

fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn info(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    ok(info_json(&api.herder.view(&name)?))
}

async fn delete(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    api.herder.view(&name)?;
    write(&api, ConfigWrite::Delete { name }).await?;
    no_content()
}

async fn config(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    ok(json!(api.herder.view(&name)?.config))
}

async fn put_config(
    State(api): State<Api>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body = parse_body(&headers, &body)?;
    let mut config = defined(config_map(&body, "the connector config")?);
    match config.get("name") {
        Some(n) if n != &name => {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({n}) doesn't match connector name in the URL ({name})"
            )));
        }
        _ => {
            config.insert("name".into(), name.clone());
        }
    }
    // The reply lists the tasks as they were before the new config took effect, as Connect's.
    let before = api.herder.view(&name).ok();
    let created = store_connector(&api, &name, config, TargetState::Started, true).await?;
    let mut view = api.herder.view(&name)?;
    if let Some(before) = before {
        view.tasks = before.tasks;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &info_json(&view)))
}

async fn patch_config(
    State(api): State<Api>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body = parse_body(&headers, &body)?;
    let patch = config_map(&body, "the config patch")?;
    let before = api.herder.view(&name)?;
    let mut config = before.config.clone();
    for (k, v) in patch {
        match v {
            Some(v) => {
                config.insert(k, v);
            }
            None => {
                config.remove(&k);
            }
        }
    }
    if config.get("name").is_some_and(|n| n != &name) {
        return Err(ApiError::bad_request(format!(
            "Connector name configuration ({}) doesn't match connector name in the URL ({name})",
            config.get("name").map(String::as_str).unwrap_or_default()
        )));
    }
    config.insert("name".into(), name.clone());
    store_connector(&api, &name, config, TargetState::Started, true).await?;
    let mut view = api.herder.view(&name)?;
    view.tasks = before.tasks;
    ok(info_json(&view))
}

async fn status(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    let view = api
        .herder
        .view(&name)
        .map_err(|_| ApiError::not_found(format!("No status found for connector {name}")))?;
    ok(status_json(&view, api.herder.worker_id()))
}

async fn tasks(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    let view = api.herder.view(&name)?;
    let config = task_config(&view);
    let tasks: Vec<Value> = view
        .tasks
        .iter()
        .map(|(id, _)| json!({"id": {"connector": name, "task": id}, "config": config}))
        .collect();
    ok(json!(tasks))
}

fn task_id(name: &str, task: &str) -> Result<usize, ApiError> {
    task.parse::<usize>()
        .map_err(|_| ApiError::not_found(format!("No status found for task {name}-{task}")))
}

async fn task_status(State(api): State<Api>, Path((name, task)): Path<(String, String)>) -> Reply {
    let id = task_id(&name, &task)?;
    let view = api
        .herder
        .view(&name)
        .map_err(|_| ApiError::not_found(format!("No status found for task {name}-{task}")))?;
    let (_, s) =
        view.tasks.iter().find(|(i, _)| *i == id).ok_or_else(|| {
            ApiError::not_found(format!("No status found for task {name}-{task}"))
        })?;
    let mut body = state_json(s, api.herder.worker_id());
    body["id"] = json!(id);
    ok(body)
}

async fn restart_task(State(api): State<Api>, Path((name, task)): Path<(String, String)>) -> Reply {
    let id = task
        .parse::<usize>()
        .map_err(|_| ApiError::not_found(format!("Unknown task {name}-{task}")))?;
    api.herder.restart_task(&name, id)?;
    no_content()
}

#[derive(serde::Deserialize)]
struct RestartQuery {
    #[serde(rename = "includeTasks", default)]
    include_tasks: Option<String>,
    #[serde(rename = "onlyFailed", default)]
    only_failed: Option<String>,
}

fn flag(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

async fn restart(
    State(api): State<Api>,
    Path(name): Path<String>,
    Query(q): Query<RestartQuery>,
) -> Reply {
    let (include_tasks, only_failed) = (flag(&q.include_tasks), flag(&q.only_failed));
    let view = if api.cluster.is_some() {
        // As Connect's leader: the plan from the statuses now, then the request for every
        // worker to carry out on the parts it runs.
        let plan = restart_plan(api.herder.view(&name)?, include_tasks, only_failed);
        write(
            &api,
            ConfigWrite::Restart {
                name,
                include_tasks,
                only_failed,
            },
        )
        .await?;
        plan
    } else {
        api.herder.restart(&name, include_tasks, only_failed)?
    };
    if !include_tasks && !only_failed {
        return no_content();
    }
    Ok(json_response(
        StatusCode::ACCEPTED,
        &status_json(&view, api.herder.worker_id()),
    ))
}

/// What a restart request restarts, as the statuses show it now.
fn restart_plan(mut view: ConnectorView, include_tasks: bool, only_failed: bool) -> ConnectorView {
    if !only_failed || view.connector.state == PartState::Failed {
        view.connector.state = PartState::Restarting;
    }
    if include_tasks {
        for (_, t) in &mut view.tasks {
            if !only_failed || t.state == PartState::Failed {
                t.state = PartState::Restarting;
            }
        }
    }
    view
}

async fn pause(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    store_target(&api, &name, TargetState::Paused).await?;
    accepted()
}

async fn resume(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    store_target(&api, &name, TargetState::Started).await?;
    accepted()
}

async fn stop(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    store_target(&api, &name, TargetState::Stopped).await?;
    no_content()
}

async fn topics(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    if !api.topic_tracking {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Topic tracking is disabled.",
        ));
    }
    let view = api.herder.view(&name)?;
    ok(json!({ name: {"topics": view.topics} }))
}

async fn reset_topics(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    if !api.topic_tracking {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Topic tracking is disabled.",
        ));
    }
    if !api.topic_tracking_reset {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Topic tracking reset is disabled.",
        ));
    }
    api.herder.view(&name)?;
    write(&api, ConfigWrite::ResetTopics { name }).await?;
    accepted()
}

// ----------------------------------------------------------------------- offsets

async fn offsets(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    let view = api.herder.view(&name)?;
    let committed = api
        .offsets
        .committed(&name, &view.config)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to read the committed offsets of connector {name}: {e}"),
            )
        })?;
    let list: Vec<Value> = committed
        .into_iter()
        .map(|(topic, partition, offset)| {
            json!({
                "partition": {"kafka_topic": topic, "kafka_partition": partition},
                "offset": {"kafka_offset": offset},
            })
        })
        .collect();
    ok(json!({ "offsets": list }))
}

fn require_stopped(api: &Api, name: &str) -> Result<(), ApiError> {
    let view = api.herder.view(name)?;
    if view.target != TargetState::Stopped {
        return Err(ApiError::bad_request(format!(
            "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
        )));
    }
    if api.herder.has_live_tasks(name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "Connector {name} is STOPPED but its tasks are still committing their open files; try again in a few seconds"
            ),
        ));
    }
    Ok(())
}

async fn alter_offsets(
    State(api): State<Api>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let view = api.herder.view(&name)?;
    require_stopped(&api, &name)?;
    let body = parse_body(&headers, &body)?;
    let changes = parse_offsets(&body)?;
    apply_offsets(&api, &name, &view.config, changes, "altered").await
}

async fn reset_offsets(State(api): State<Api>, Path(name): Path<String>) -> Reply {
    let view = api.herder.view(&name)?;
    require_stopped(&api, &name)?;
    let committed = api
        .offsets
        .committed(&name, &view.config)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let changes = committed
        .into_iter()
        .map(|(t, p, _)| (t, p, None))
        .collect();
    apply_offsets(&api, &name, &view.config, changes, "reset").await
}

async fn apply_offsets(
    api: &Api,
    name: &str,
    config: &RawConfig,
    changes: Vec<(String, i32, Option<i64>)>,
    done: &str,
) -> Reply {
    match api.offsets.alter(name, config, changes).await {
        // The sink's own offsets changed: the next recovery starts there.
        Ok(()) => ok(json!({
            "message": format!("The offsets for this connector have been {done} successfully")
        })),
        Err(OffsetsError::Refused(m)) => Err(ApiError::bad_request(m)),
        Err(OffsetsError::Failed(m)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
    }
}

/// Connect's body of `PATCH /offsets` (`SinkUtils.parseSinkConnectorOffsets`): numbers or
/// numeric strings; `"offset": null` resets the partition.
fn parse_offsets(body: &Value) -> Result<Vec<(String, i32, Option<i64>)>, ApiError> {
    let list = match body.get("offsets") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) | Some(Value::Null) | None => {
            return Err(ApiError::bad_request(
                "Partitions / offsets need to be provided for an alter offsets request",
            ));
        }
        Some(_) => return Err(ApiError::bad_request("'offsets' must be a JSON array")),
    };
    fn number(v: &Value) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    let mut out = Vec::new();
    for entry in list {
        let partition = entry.get("partition").unwrap_or(&Value::Null);
        let (Some(topic), Some(p)) = (
            partition.get("kafka_topic"),
            partition.get("kafka_partition"),
        ) else {
            return Err(ApiError::bad_request(
                "The partition for a sink connector offset must contain the keys 'kafka_topic' and 'kafka_partition'",
            ));
        };
        let Value::String(topic) = topic else {
            return Err(ApiError::bad_request(
                "Kafka topic names must be valid strings",
            ));
        };
        let p = number(p).and_then(|p| i32::try_from(p).ok()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Failed to parse the following Kafka partition value in the provided offsets: '{}'. Partition values for sink connectors need to be integers.",
                text(p)
            ))
        })?;
        let offset = match entry.get("offset") {
            None | Some(Value::Null) => None,
            Some(o) => {
                let Some(v) = o.get("kafka_offset") else {
                    return Err(ApiError::bad_request(
                        "The offset for a sink connector should either be null or contain the key 'kafka_offset'",
                    ));
                };
                Some(number(v).filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Failed to parse the following Kafka offset value in the provided offsets: '{}'. Offset values for sink connectors need to be integers.",
                        text(v)
                    ))
                })?)
            }
        };
        out.push((topic.clone(), p, offset));
    }
    Ok(out)
}

// ----------------------------------------------------------------------- plugins

async fn list_plugins(RawQuery(query): RawQuery) -> Reply {
    let all = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("connectorsOnly=false"));
    let mut out: Vec<Value> = plugins::connector_plugins()
        .iter()
        .map(|p| json!({"class": p.class, "type": "sink", "version": plugins::VERSION}))
        .collect();
    if all {
        for (class, kind) in plugins::other_plugins() {
            out.push(json!({"class": class, "type": kind, "version": plugins::VERSION}));
        }
    }
    ok(json!(out))
}

fn plugin_or_404(name: &str) -> Result<plugins::Plugin, ApiError> {
    plugins::find_plugin(name).ok_or_else(|| ApiError::not_found(format!("Unknown plugin {name}.")))
}

async fn plugin_config(Path(plugin): Path<String>) -> Reply {
    if let Some(definitions) = plugins::transform_definitions(&plugin) {
        return ok(json!(definitions));
    }
    plugin_or_404(&plugin)?;
    ok(json!(plugins::definitions()))
}

async fn validate(
    State(api): State<Api>,
    Path(plugin): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body = parse_body(&headers, &body)?;
    let config = defined(config_map(&body, "the connector config")?);
    let p = plugin_or_404(&plugin)?;
    if let Some(class) = config.get("connector.class") {
        let same = plugins::find_plugin(class).is_some_and(|q| q.class == p.class);
        if !same {
            return Err(ApiError::bad_request(
                "Included connector type ".to_string()
                    + class
                    + " does not match request type "
                    + &plugin,
            ));
        }
    }
    let mut config = config;
    config
        .entry("connector.class".into())
        .or_insert_with(|| p.class.to_string());
    let result = api.herder.validate(&config).map(|_| ());
    ok(plugins::validation(&p, &config, &result))
}

// ----------------------------------------------------------------------- loggers

async fn loggers(State(api): State<Api>) -> Reply {
    let out: Map<String, Value> = api
        .logs
        .levels()
        .into_iter()
        .map(|(name, (level, modified))| (name, json!({"level": level, "last_modified": modified})))
        .collect();
    ok(Value::Object(out))
}

async fn logger(State(api): State<Api>, Path(logger): Path<String>) -> Reply {
    let levels = api.logs.levels();
    let (level, modified) = levels
        .get(&logger)
        .ok_or_else(|| ApiError::not_found(format!("Logger {logger} not found.")))?;
    ok(json!({"level": level, "last_modified": modified}))
}

async fn set_logger(
    State(api): State<Api>,
    Path(logger): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let body = parse_body(&headers, &body)?;
    let Some(level) = body.get("level").and_then(Value::as_str) else {
        return Err(ApiError::bad_request(
            "Desired 'level' parameter was not specified in request.",
        ));
    };
    let cluster = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.eq_ignore_ascii_case("scope=cluster"));
    let changed = api.logs.set(&logger, level).map_err(ApiError::not_found)?;
    if cluster {
        // One worker is the whole cluster in standalone mode.
        return no_content();
    }
    ok(json!(changed))
}
