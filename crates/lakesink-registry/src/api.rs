//! The HTTP surface: Confluent Schema Registry's v1 REST API (paths, query parameters,
//! bodies, content types, `{"error_code","message"}` errors), and forwarding of writes that
//! reach a follower to the leader. The rules themselves live in `registry`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::registry::{Leader, NOT_LEADER, Registry, RegistryError, SchemaRequest};

const V1: &str = "application/vnd.schemaregistry.v1+json";
const V0: &str = "application/vnd.schemaregistry+json";
const FORWARDED: &str = "x-lakesink-forwarded";
/// How often a write waiting for a leader asks again.
const LEADER_POLL: Duration = Duration::from_millis(100);

pub struct Ctx {
    pub registry: Arc<Registry>,
    pub own_url: String,
    pub http: reqwest::Client,
    /// `lakesink.registry.leader.wait.ms`.
    pub leader_wait: Duration,
}

type Shared = Arc<Ctx>;
type Params = Query<HashMap<String, String>>;

/// The router with every route, the body limit and JSON errors for the framework's own
/// rejections (unknown path, wrong method, body too large).
pub fn router(ctx: Shared, max_body: usize) -> Router {
    Router::new()
        .route("/", get(root).post(root))
        .route("/schemas/types", get(schema_types))
        .route("/schemas", get(list_schemas))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_by_id_raw))
        .route("/schemas/ids/{id}/subjects", get(id_subjects))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route("/schemas/guids/{guid}", get(schema_by_guid))
        .route("/schemas/guids/{guid}/ids", get(guid_ids))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat_version),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/config",
            get(get_global_config)
                .put(put_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/mode",
            get(get_global_mode)
                .put(put_global_mode)
                .delete(delete_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
        .route("/contexts", get(contexts))
        .route("/v1/metadata/id", get(metadata_id))
        .route("/v1/metadata/version", get(metadata_version))
        .fallback(not_found)
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(ctx)
}

// ------------------------------------------------------------------ responses

fn content_type(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.is_empty() || accept.contains(V1) || accept.contains("*/*") {
        V1
    } else if accept.contains(V0) {
        V0
    } else if accept.contains("application/json") {
        "application/json"
    } else {
        V1
    }
}

fn json_response(status: StatusCode, ctype: &'static str, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn error_response(e: &RegistryError, ctype: &'static str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        ctype,
        &json!({"error_code": e.code, "message": e.message}),
    )
}

fn ok(headers: &HeaderMap, body: Value) -> Response {
    json_response(StatusCode::OK, content_type(headers), &body)
}

fn raw_text(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn reply(headers: &HeaderMap, result: Result<Value, RegistryError>) -> Response {
    match result {
        Ok(v) => ok(headers, v),
        Err(e) => error_response(&e, content_type(headers)),
    }
}

fn flag(q: &HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Turns the framework's plain-text rejections into Confluent-style JSON errors.
async fn json_errors(req: Request, next: Next) -> Response {
    let ctype = content_type(req.headers());
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if status.is_success() || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 << 10).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    };
    let message = match status {
        StatusCode::NOT_FOUND => "HTTP 404 Not Found".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "HTTP 405 Method Not Allowed".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => format!("Request body too large: {text}"),
        _ if text.is_empty() => status.to_string(),
        _ => text,
    };
    json_response(
        status,
        ctype,
        &json!({"error_code": status.as_u16(), "message": message}),
    )
}

async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        V1,
        &json!({"error_code": 404, "message": "HTTP 404 Not Found"}),
    )
}

/// Parses a request body: the registry's content types, `application/json`, or none (taken
/// as JSON, like Confluent); malformed JSON is a 400 naming the problem.
fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, RegistryError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let accepted = given.is_empty()
        || given == V1
        || given == V0
        || given == "application/json"
        || given == "application/octet-stream";
    if !accepted {
        return Err(RegistryError {
            status: 415,
            code: 415,
            message: format!(
                "Unsupported content type '{given}': send {V1}, {V0} or application/json"
            ),
        });
    }
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| RegistryError {
        status: 400,
        code: 400,
        message: format!("Invalid JSON body: {e}"),
    })
}

// ------------------------------------------------------------------ forwarding

/// Finds where a write goes: here when this instance leads, else the leader's URL. While no
/// leader is known (an election is under way) it asks again until `deadline`, then fails
/// with 50004.
async fn route(ctx: &Ctx, deadline: Instant) -> Result<Leader, RegistryError> {
    loop {
        let problem = match ctx.registry.leader(&ctx.own_url).await {
            Ok(leader) => return Ok(leader),
            Err(problem) => problem,
        };
        if Instant::now() >= deadline {
            return Err(RegistryError::new(
                NOT_LEADER,
                format!(
                    "Unknown leader: {problem}; waited {} ms (lakesink.registry.leader.wait.ms), retry",
                    ctx.leader_wait.as_millis()
                ),
            ));
        }
        tokio::time::sleep(LEADER_POLL).await;
    }
}

/// Why a forwarded write is to be routed again.
enum Reroute {
    /// The leader could not be reached (it died or is stopping).
    Unreachable(RegistryError),
    /// The instance we took for the leader is not (or no longer) it.
    NotLeader,
}

/// Sends a write that reached a follower to the leader and relays its answer.
async fn forward(
    ctx: &Ctx,
    url: &str,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, Reroute> {
    let path = uri
        .0
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut request = ctx
        .http
        .request(method.clone(), format!("{url}{path}"))
        .header(FORWARDED, "1")
        .body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = headers.get(&name) {
            request = request.header(name, v.clone());
        }
    }
    let unreachable = |e: &dyn std::fmt::Display| {
        Reroute::Unreachable(RegistryError::new(
            50003,
            format!("Error while forwarding the request to the leader {url}: {e}"),
        ))
    };
    let r = request.send().await.map_err(|e| unreachable(&e))?;
    let status = r.status();
    let ctype_back = r.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = r.bytes().await.map_err(|e| unreachable(&e))?;
    if status.is_server_error()
        && serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error_code").and_then(Value::as_i64))
            == Some(i64::from(NOT_LEADER))
    {
        return Err(Reroute::NotLeader);
    }
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    if let Some(c) = ctype_back {
        out.headers_mut().insert(header::CONTENT_TYPE, c);
    }
    Ok(out)
}

/// Runs a write here when this instance leads, else forwards it to the leader; during a
/// leader change it waits for the next leader, up to `lakesink.registry.leader.wait.ms`.
/// A write forwarded here by another instance is never forwarded again (one hop, as
/// Confluent): when this instance does not lead, it answers 50004 and the sender routes again.
macro_rules! write_or_forward {
    ($ctx:expr, $method:expr, $uri:expr, $headers:expr, $body:expr, $call:expr) => {{
        let ctype = content_type(&$headers);
        let forwarded = $headers.contains_key(FORWARDED);
        let deadline = Instant::now()
            + if forwarded {
                Duration::ZERO
            } else {
                $ctx.leader_wait
            };
        loop {
            let leader = match (forwarded, $ctx.registry.is_leader()) {
                (true, true) => Ok(Leader::ThisInstance),
                (true, false) => Err(RegistryError::new(
                    NOT_LEADER,
                    "Unknown leader: the leadership moved while the request was forwarded, retry",
                )),
                (false, _) => route(&$ctx, deadline).await,
            };
            let failure = match leader {
                Ok(Leader::ThisInstance) => match $call.await {
                    // Lost the leadership between the check and the write.
                    Err(e) if e.code == NOT_LEADER => e,
                    other => break reply(&$headers, other),
                },
                Ok(Leader::Other(url)) => {
                    match forward(&$ctx, &url, &$method, &$uri, &$headers, $body.clone()).await {
                        Ok(response) => break response,
                        Err(Reroute::Unreachable(e)) => {
                            $ctx.registry.election.forget_leader();
                            e
                        }
                        Err(Reroute::NotLeader) => {
                            $ctx.registry.election.forget_leader();
                            RegistryError::new(
                                NOT_LEADER,
                                format!("Unknown leader: {url} no longer leads, retry"),
                            )
                        }
                    }
                }
                Err(e) => break error_response(&e, ctype),
            };
            if Instant::now() >= deadline {
                break error_response(&failure, ctype);
            }
            tracing::debug!("routing a write again: {}", failure.message);
            tokio::time::sleep(LEADER_POLL).await;
        }
    }};
}

// ------------------------------------------------------------------ handlers

async fn root(headers: HeaderMap) -> Response {
    ok(&headers, json!({}))
}

async fn schema_types(headers: HeaderMap) -> Response {
    ok(&headers, json!(["JSON", "PROTOBUF", "AVRO"]))
}

async fn contexts(headers: HeaderMap) -> Response {
    ok(&headers, json!(["."]))
}

async fn metadata_id(State(ctx): State<Shared>, headers: HeaderMap) -> Response {
    ok(
        &headers,
        json!({"scope": {"path": [], "clusters": {"schema-registry-cluster": ctx.registry.group_id()}}}),
    )
}

async fn metadata_version(headers: HeaderMap) -> Response {
    ok(
        &headers,
        json!({"version": env!("CARGO_PKG_VERSION"), "commitId": "lakesink"}),
    )
}

fn parse_id(raw: &str) -> Result<i32, RegistryError> {
    raw.parse::<i32>()
        .map_err(|_| RegistryError::new(40403, format!("Schema {raw} not found")))
}

fn paginate<T>(items: Vec<T>, q: &HashMap<String, String>) -> Vec<T> {
    let offset = q
        .get("offset")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|l| *l >= 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    let it = items.into_iter().skip(offset);
    match limit {
        Some(l) => it.take(l).collect(),
        None => it.collect(),
    }
}

async fn list_schemas(State(ctx): State<Shared>, Query(q): Params, headers: HeaderMap) -> Response {
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    let items = ctx
        .registry
        .list_schemas(prefix, flag(&q, "deleted"), flag(&q, "latestOnly"));
    ok(&headers, json!(paginate(items, &q)))
}

async fn schema_by_id(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = parse_id(&id).and_then(|id| {
        ctx.registry.get_by_id(
            id,
            q.get("format").map(String::as_str),
            flag(&q, "fetchMaxId"),
        )
    });
    reply(&headers, result)
}

async fn schema_by_guid(
    State(ctx): State<Shared>,
    Path(guid): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = ctx
        .registry
        .get_by_guid(&guid, q.get("format").map(String::as_str));
    reply(&headers, result)
}

async fn guid_ids(
    State(ctx): State<Shared>,
    Path(guid): Path<String>,
    headers: HeaderMap,
) -> Response {
    reply(&headers, ctx.registry.guid_ids(&guid))
}

async fn schema_by_id_raw(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    match parse_id(&id).and_then(|id| {
        ctx.registry
            .get_by_id_raw(id, q.get("format").map(String::as_str))
    }) {
        Ok(text) => raw_text(text),
        Err(e) => error_response(&e, content_type(&headers)),
    }
}

async fn id_subjects(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = parse_id(&id).and_then(|id| ctx.registry.id_versions(id, flag(&q, "deleted")));
    reply(
        &headers,
        result.map(|vs| {
            let mut subjects: Vec<String> = vs.into_iter().map(|(s, _)| s).collect();
            subjects.dedup();
            json!(paginate(subjects, &q))
        }),
    )
}

async fn id_versions(
    State(ctx): State<Shared>,
    Path(id): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = parse_id(&id).and_then(|id| ctx.registry.id_versions(id, flag(&q, "deleted")));
    reply(
        &headers,
        result.map(|vs| {
            let items: Vec<Value> = vs
                .into_iter()
                .map(|(s, v)| json!({"subject": s, "version": v}))
                .collect();
            json!(paginate(items, &q))
        }),
    )
}

async fn list_subjects(
    State(ctx): State<Shared>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    let subjects = ctx
        .registry
        .list_subjects(prefix, flag(&q, "deleted"), flag(&q, "deletedOnly"));
    ok(&headers, json!(paginate(subjects, &q)))
}

async fn list_versions(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = ctx
        .registry
        .list_versions(&subject, flag(&q, "deleted"), flag(&q, "deletedOnly"));
    reply(&headers, result.map(|vs| json!(paginate(vs, &q))))
}

async fn register(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: SchemaRequest = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.register(&subject, &req, flag(&q, "normalize"))
    )
}

async fn lookup(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: SchemaRequest = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    let result = ctx
        .registry
        .lookup(&subject, &req, flag(&q, "normalize"), flag(&q, "deleted"));
    reply(&headers, result)
}

async fn delete_subject(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let permanent = flag(&q, "permanent");
    write_or_forward!(ctx, method, uri, headers, body, async {
        ctx.registry
            .delete_subject(&subject, permanent)
            .await
            .map(|v| json!(v))
    })
}

async fn get_version(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    reply(
        &headers,
        ctx.registry
            .get_version(&subject, &version, flag(&q, "deleted")),
    )
}

async fn get_version_schema(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = ctx.registry.get_version_schema(
        &subject,
        &version,
        flag(&q, "deleted"),
        q.get("format").map(String::as_str),
    );
    match result {
        Ok(text) => raw_text(text),
        Err(e) => error_response(&e, content_type(&headers)),
    }
}

async fn referenced_by(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    let result = ctx
        .registry
        .referenced_by(&subject, &version, flag(&q, "deleted"));
    reply(&headers, result.map(|ids| json!(paginate(ids, &q))))
}

#[allow(clippy::too_many_arguments)]
async fn delete_version(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let permanent = flag(&q, "permanent");
    write_or_forward!(ctx, method, uri, headers, body, async {
        ctx.registry
            .delete_version(&subject, &version, permanent)
            .await
            .map(|v| json!(v))
    })
}

async fn compat_version(
    State(ctx): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: SchemaRequest = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    reply(
        &headers,
        ctx.registry
            .test_compatibility(&subject, Some(&version), &req, flag(&q, "verbose")),
    )
}

async fn compat_all(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: SchemaRequest = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    reply(
        &headers,
        ctx.registry
            .test_compatibility(&subject, None, &req, flag(&q, "verbose")),
    )
}

async fn get_global_config(State(ctx): State<Shared>, headers: HeaderMap) -> Response {
    reply(&headers, ctx.registry.get_config(None, true))
}

async fn get_subject_config(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    reply(
        &headers,
        ctx.registry
            .get_config(Some(&subject), flag(&q, "defaultToGlobal")),
    )
}

async fn put_global_config(
    State(ctx): State<Shared>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc: Value = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.put_config(None, &doc)
    )
}

async fn put_subject_config(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc: Value = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.put_config(Some(&subject), &doc)
    )
}

async fn delete_global_config(
    State(ctx): State<Shared>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.delete_config(None)
    )
}

async fn delete_subject_config(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.delete_config(Some(&subject))
    )
}

async fn get_global_mode(State(ctx): State<Shared>, headers: HeaderMap) -> Response {
    reply(&headers, ctx.registry.get_mode(None, true))
}

async fn get_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
) -> Response {
    reply(
        &headers,
        ctx.registry
            .get_mode(Some(&subject), flag(&q, "defaultToGlobal")),
    )
}

async fn put_global_mode(
    State(ctx): State<Shared>,
    Query(q): Params,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc: Value = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.put_mode(None, &doc, flag(&q, "force"))
    )
}

#[allow(clippy::too_many_arguments)]
async fn put_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc: Value = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, content_type(&headers)),
    };
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry
            .put_mode(Some(&subject), &doc, flag(&q, "force"))
    )
}

async fn delete_global_mode(
    State(ctx): State<Shared>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.delete_mode(None)
    )
}

async fn delete_subject_mode(
    State(ctx): State<Shared>,
    Path(subject): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write_or_forward!(
        ctx,
        method,
        uri,
        headers,
        body,
        ctx.registry.delete_mode(Some(&subject))
    )
}
