//! The REST API's side of distributed mode: where a request is carried out, and forwarding
//! it there.
//!
//! As in Connect (`HerderRequestHandler`), writes that change the cluster's configs (create,
//! config, delete, stop, restart, offsets) are carried out by the leader, a task restart by
//! the worker running the task, and everything else by the worker asked. A request that
//! reaches the wrong worker is re-sent to the right one with `forward=true`; a worker that
//! must send it on once more uses `forward=false`, and one that receives `forward=false` and
//! is still not the right worker answers 409. So a request makes at most two hops. The
//! answer of the worker that carried it out is relayed verbatim (status, body, `Location`).
//! Every 409 of a rebalance carries `Retry-After`, so clients can tell it from "already
//! exists".

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use lakesink_config::RawConfig;

use crate::herder::TargetState;
use crate::rest::{Api, ApiError};

/// Who leads the cluster, as this worker knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leader {
    ThisWorker,
    /// Another worker, by its REST URL.
    Other(String),
    /// Not known now (a rebalance is under way).
    Unknown,
}

/// A change to the cluster's configs, written to the config topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWrite {
    /// A connector's config; `initial` is the target state of a new connector.
    Connector {
        name: String,
        config: RawConfig,
        initial: Option<TargetState>,
    },
    Delete {
        name: String,
    },
    Target {
        name: String,
        target: TargetState,
    },
    Restart {
        name: String,
        include_tasks: bool,
        only_failed: bool,
    },
    /// Forget the topics a connector's tasks have read (`PUT .../topics/reset`).
    ResetTopics {
        name: String,
    },
}

/// The cluster this worker belongs to, as the REST API needs it.
pub trait Cluster: Send + Sync {
    fn leader(&self) -> Leader;
    /// Writes a change and returns once this worker has read it back and applied it, so a
    /// reply to the client reflects it.
    fn write(&self, write: ConfigWrite) -> BoxFuture<'static, Result<(), String>>;
}

/// Where a request is carried out.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Here,
    Leader,
    Task { connector: String, task: usize },
}

fn route_of(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["connectors"]) => Route::Leader,
        (&Method::DELETE, ["connectors", _]) => Route::Leader,
        (&Method::PUT | &Method::PATCH, ["connectors", _, "config"]) => Route::Leader,
        (&Method::PUT, ["connectors", _, "stop"]) => Route::Leader,
        (&Method::POST, ["connectors", _, "restart"]) => Route::Leader,
        (&Method::PATCH | &Method::DELETE, ["connectors", _, "offsets"]) => Route::Leader,
        (&Method::POST, ["connectors", name, "tasks", task, "restart"]) => {
            match task.parse::<usize>() {
                Ok(task) => Route::Task {
                    connector: percent_decode(name),
                    task,
                },
                // The handler answers with Connect's 404.
                Err(_) => Route::Here,
            }
        }
        _ => Route::Here,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How many times a request has been forwarded, from its `forward` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hops {
    /// From a client.
    None,
    /// `forward=true`: may be sent on once more.
    One,
    /// `forward=false`: must be carried out here or refused.
    Two,
}

fn hops(query: Option<&str>) -> Hops {
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("forward", v)) if v.eq_ignore_ascii_case("true") => return Hops::One,
            Some(("forward", _)) => return Hops::Two,
            _ => {}
        }
    }
    Hops::None
}

fn rebalancing(message: &str) -> Response {
    let mut r = ApiError::new(StatusCode::CONFLICT, message).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// How long a client's request waits for a leader (or for a task to be placed) before it is
/// answered 409: long enough for the worker group to drop a dead leader (its session timeout)
/// and elect the next.
const ROUTE_WAIT: Duration = Duration::from_secs(20);
const ROUTE_POLL: Duration = Duration::from_millis(200);

/// Where this request must go now.
enum Target {
    Here,
    Worker(String),
    /// Nowhere yet (a rebalance): the 409's message.
    Nowhere(String),
}

fn target(api: &Api, cluster: &dyn Cluster, route: &Route) -> Target {
    match route {
        Route::Here => Target::Here,
        Route::Leader => match cluster.leader() {
            Leader::ThisWorker => Target::Here,
            Leader::Other(url) => Target::Worker(url),
            Leader::Unknown => Target::Nowhere(
                "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.".into(),
            ),
        },
        Route::Task { connector, task } => {
            if api.herder.runs_task(connector, *task) {
                return Target::Here;
            }
            let slot = api
                .herder
                .view(connector)
                .ok()
                .and_then(|v| v.tasks.into_iter().find(|(id, _)| id == task))
                .map(|(_, s)| s.worker_id);
            match slot {
                Some(Some(worker)) => Target::Worker(format!("http://{worker}")),
                // Unknown connector or task: the handler answers with Connect's 404.
                None => Target::Here,
                Some(None) => Target::Nowhere(format!(
                    "Cannot complete request because task {connector}-{task} is not running on any worker yet (a rebalance is under way)"
                )),
            }
        }
    }
}

/// The middleware that sends each request to the worker that must carry it out. A client's
/// request that arrives while there is no leader, or whose leader does not answer (it died
/// and the group has not dropped it yet), waits up to [`ROUTE_WAIT`] for the next one
/// instead of failing at once as Connect's does; a forwarded request is answered at once,
/// and its sender waits.
pub async fn route_request(State(api): State<Api>, request: Request, next: Next) -> Response {
    let Some(cluster) = api.cluster.clone() else {
        return next.run(request).await;
    };
    let route = route_of(request.method(), request.uri().path());
    if route == Route::Here {
        return next.run(request).await;
    }
    let hops = hops(request.uri().query());
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let deadline = Instant::now()
        + if hops == Hops::None {
            ROUTE_WAIT
        } else {
            Duration::ZERO
        };
    loop {
        let failure = match target(&api, cluster.as_ref(), &route) {
            Target::Here => return next.run(Request::from_parts(parts, Body::from(body))).await,
            Target::Nowhere(message) => rebalancing(&message),
            Target::Worker(url) => {
                let next_hop = match hops {
                    Hops::None => "true",
                    Hops::One => "false",
                    Hops::Two => {
                        return rebalancing(
                            "Cannot complete request because of a conflicting operation (e.g. worker rebalance)",
                        );
                    }
                };
                match forward(&url, next_hop, &parts, body.clone()).await {
                    Ok(answer) => return answer,
                    Err(unreachable) => unreachable,
                }
            }
        };
        if Instant::now() >= deadline {
            return failure;
        }
        tokio::time::sleep(ROUTE_POLL).await;
    }
}

/// Sends the request on and relays the answer; `Err` (Connect's 500) when the worker did not
/// answer at all.
async fn forward(
    base: &str,
    next_hop: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
) -> Result<Response, Response> {
    let query: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("forward="))
        .collect();
    let mut url = format!("{}{}?", base.trim_end_matches('/'), parts.uri.path());
    for p in query {
        url.push_str(p);
        url.push('&');
    }
    url.push_str("forward=");
    url.push_str(next_hop);
    let mut out = reqwest::Client::new()
        .request(parts.method.clone(), &url)
        .timeout(Duration::from_secs(120))
        .body(body);
    for name in [header::CONTENT_TYPE, header::ACCEPT, header::HOST] {
        if let Some(v) = parts.headers.get(&name) {
            out = out.header(name, v.clone());
        }
    }
    tracing::debug!(%url, "forwarding a request");
    let unreachable = |e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Error trying to forward REST request: {base} did not answer: {e}"),
        )
        .into_response()
    };
    let answer = out.send().await.map_err(|e| unreachable(&e))?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|e| unreachable(&e))?;
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    for name in [header::CONTENT_TYPE, header::LOCATION, header::RETRY_AFTER] {
        if let Some(v) = headers.get(&name) {
            r.headers_mut().insert(name, v.clone());
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_go_to_the_leader_and_task_restarts_to_the_task() {
        assert_eq!(route_of(&Method::POST, "/connectors"), Route::Leader);
        assert_eq!(route_of(&Method::POST, "/connectors/"), Route::Leader);
        assert_eq!(route_of(&Method::GET, "/connectors"), Route::Here);
        assert_eq!(route_of(&Method::DELETE, "/connectors/a"), Route::Leader);
        assert_eq!(
            route_of(&Method::PUT, "/connectors/a/config"),
            Route::Leader
        );
        assert_eq!(
            route_of(&Method::PATCH, "/connectors/a/config"),
            Route::Leader
        );
        assert_eq!(route_of(&Method::PUT, "/connectors/a/pause"), Route::Here);
        assert_eq!(route_of(&Method::PUT, "/connectors/a/stop"), Route::Leader);
        assert_eq!(
            route_of(&Method::DELETE, "/connectors/a/offsets"),
            Route::Leader
        );
        assert_eq!(route_of(&Method::GET, "/connectors/a/offsets"), Route::Here);
        assert_eq!(
            route_of(&Method::POST, "/connectors/a%20b/tasks/2/restart"),
            Route::Task {
                connector: "a b".into(),
                task: 2
            }
        );
        assert_eq!(
            route_of(&Method::POST, "/connectors/a/tasks/x/restart"),
            Route::Here
        );
    }

    #[test]
    fn a_request_is_forwarded_at_most_twice() {
        assert_eq!(hops(None), Hops::None);
        assert_eq!(hops(Some("expand=status&forward=true")), Hops::One);
        assert_eq!(hops(Some("forward=false")), Hops::Two);
    }
}
