//! A Schema Registry client for converters: the writer schema of an id, fetched once and
//! cached forever (ids are immutable), with its references resolved.
//!
//! Own code on `reqwest` rather than a registry client crate: the sink needs two read-only
//! calls, and the maintained client crates pull their own (older) Avro and Protobuf stacks.
//! Transient failures (connection errors, HTTP 5xx, timeouts) are retried with backoff,
//! each logged, for up to [`RETRY_FOR`]; an answer like "schema not found" is final.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;

/// How long transient registry failures are retried before the task stops.
pub const RETRY_FOR: Duration = Duration::from_secs(300);
const FIRST_DELAY: Duration = Duration::from_millis(200);
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// A registered schema as a decoder needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterSchema {
    pub id: u32,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
    pub schema: String,
    /// (name, schema text) of every referenced schema, dependencies first.
    pub references: Vec<(String, String)>,
    /// (subject, version) of every subject version holding this schema; empty when the
    /// registry does not say (`/schemas/ids/{id}/versions` is missing before Confluent 5.5).
    pub versions: Vec<(String, i32)>,
}

impl WriterSchema {
    /// The version of this schema under `subject`, else under its only subject.
    pub fn version_in(&self, subject: Option<&str>) -> Option<i32> {
        self.versions
            .iter()
            .find(|(s, _)| Some(s.as_str()) == subject)
            .or(match self.versions.as_slice() {
                [only] => Some(only),
                _ => None,
            })
            .map(|(_, v)| *v)
    }
}

#[derive(Deserialize)]
struct ContextId {
    #[serde(default)]
    context: Option<String>,
    id: u32,
}

#[derive(Deserialize)]
struct SubjectVersionBody {
    subject: String,
    version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered, and the answer is final (e.g. 40403: no such id).
    #[error("Schema Registry {url}: HTTP {status}: {message}")]
    Rejected {
        url: String,
        status: u16,
        message: String,
    },
    /// The registry could not be reached or kept failing for [`RETRY_FOR`].
    #[error("Schema Registry unavailable for {waited_s} s ({last})")]
    Unavailable { waited_s: u64, last: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaBody {
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<ReferenceBody>,
}

#[derive(Deserialize)]
struct ReferenceBody {
    name: String,
    subject: String,
    version: i64,
}

pub struct RegistryClient {
    http: reqwest::Client,
    urls: Vec<String>,
    authorization: Option<String>,
    cache: HashMap<u32, Arc<WriterSchema>>,
    guids: HashMap<[u8; 16], u32>,
    /// How long transient failures are retried (`None`: until the process stops).
    retry_for: Option<Duration>,
    max_delay: Duration,
    give_up: Arc<AtomicBool>,
}

impl RegistryClient {
    pub fn new(urls: Vec<String>, basic_auth: Option<&str>) -> Result<RegistryClient, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("Schema Registry client: {e}"))?;
        Ok(RegistryClient {
            http,
            urls,
            authorization: basic_auth.map(|creds| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(creds)
                )
            }),
            cache: HashMap::new(),
            guids: HashMap::new(),
            retry_for: Some(RETRY_FOR),
            max_delay: MAX_DELAY,
            give_up: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Retries stop (as unavailable) once `flag` is set, e.g. when the process stops.
    pub fn give_up_when(&mut self, flag: Arc<AtomicBool>) {
        self.give_up = flag;
    }

    /// Retries transient failures for `retry_for` (`None`: until the process stops, see
    /// [`RegistryClient::give_up_when`]), waiting at most `max_delay` between two.
    pub fn retry(&mut self, retry_for: Option<Duration>, max_delay: Duration) {
        self.retry_for = retry_for;
        self.max_delay = max_delay.max(FIRST_DELAY);
    }

    /// Whether `id` is cached already.
    pub fn knows(&self, id: u32) -> bool {
        self.cache.contains_key(&id)
    }

    /// The id of the schema whose GUID is `guid` (`/schemas/guids/{guid}/ids`, Confluent
    /// 8.0 and later), in the default context.
    pub async fn id_of_guid(&mut self, guid: &[u8; 16]) -> Result<u32, RegistryError> {
        if let Some(id) = self.guids.get(guid) {
            return Ok(*id);
        }
        let text = uuid::Uuid::from_bytes(*guid).to_string();
        let path = format!("/schemas/guids/{text}/ids");
        let ids: Vec<ContextId> = self.get(&path).await?;
        let id = ids
            .iter()
            .find(|c| matches!(c.context.as_deref(), None | Some(".") | Some("")))
            .or(ids.first())
            .map(|c| c.id)
            .ok_or_else(|| RegistryError::Rejected {
                url: path,
                status: 200,
                message: format!("no schema id has GUID {text}"),
            })?;
        self.guids.insert(*guid, id);
        Ok(id)
    }

    /// The schema registered under `id`, with its references.
    pub async fn schema(&mut self, id: u32) -> Result<Arc<WriterSchema>, RegistryError> {
        if let Some(s) = self.cache.get(&id) {
            return Ok(s.clone());
        }
        let body: SchemaBody = self.get(&format!("/schemas/ids/{id}")).await?;
        // Depth first, dependencies before dependents, each (subject, version) once.
        enum Step {
            Visit(ReferenceBody),
            Emit(String, String),
        }
        let mut references = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<Step> = body.references.into_iter().rev().map(Step::Visit).collect();
        while let Some(step) = stack.pop() {
            match step {
                Step::Emit(name, text) => references.push((name, text)),
                Step::Visit(r) => {
                    if !seen.insert((r.subject.clone(), r.version)) {
                        continue;
                    }
                    let v: SchemaBody = self
                        .get(&format!(
                            "/subjects/{}/versions/{}",
                            encode_path(&r.subject),
                            r.version
                        ))
                        .await?;
                    stack.push(Step::Emit(r.name, v.schema));
                    stack.extend(v.references.into_iter().rev().map(Step::Visit));
                }
            }
        }
        let versions = match self
            .get::<Vec<SubjectVersionBody>>(&format!("/schemas/ids/{id}/versions"))
            .await
        {
            Ok(v) => v.into_iter().map(|v| (v.subject, v.version)).collect(),
            Err(RegistryError::Rejected { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        let schema = Arc::new(WriterSchema {
            id,
            schema_type: body.schema_type.unwrap_or_else(|| "AVRO".into()),
            schema: body.schema,
            references,
            versions,
        });
        self.cache.insert(id, schema.clone());
        Ok(schema)
    }

    /// GET with retries across the URLs for transient failures.
    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, RegistryError> {
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        loop {
            let mut last = String::new();
            for base in &self.urls {
                let url = format!("{base}{path}");
                let mut request = self.http.get(&url).header(
                    "Accept",
                    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json",
                );
                if let Some(a) = &self.authorization {
                    request = request.header("Authorization", a);
                }
                let sent = request.send().await;
                let result = match &sent {
                    Ok(r) if r.status().is_success() => "ok",
                    Ok(r) if r.status().is_server_error() => "server_error",
                    Ok(_) => "rejected",
                    Err(_) => "unreachable",
                };
                // Schemas are cached: these count fetches, not records.
                metrics::counter!("lakesink_registry_requests_total", "result" => result)
                    .increment(1);
                match sent {
                    Ok(r) if r.status().is_success() => {
                        let bytes = r.bytes().await.map_err(|e| RegistryError::Rejected {
                            url: url.clone(),
                            status: 200,
                            message: format!("reading the body: {e}"),
                        })?;
                        return serde_json::from_slice(&bytes).map_err(|e| {
                            RegistryError::Rejected {
                                url,
                                status: 200,
                                message: format!("unexpected body: {e}"),
                            }
                        });
                    }
                    Ok(r) if r.status().is_server_error() => {
                        last = format!("{url}: HTTP {}", r.status());
                    }
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        let message = serde_json::from_str::<serde_json::Value>(&text)
                            .ok()
                            .and_then(|v| {
                                v.get("message").and_then(|m| m.as_str()).map(String::from)
                            })
                            .unwrap_or(text);
                        return Err(RegistryError::Rejected {
                            url,
                            status,
                            message,
                        });
                    }
                    Err(e) => last = format!("{url}: {e}"),
                }
            }
            if self
                .retry_for
                .is_some_and(|limit| started.elapsed() >= limit)
                || self.give_up.load(Ordering::SeqCst)
            {
                return Err(RegistryError::Unavailable {
                    waited_s: started.elapsed().as_secs(),
                    last,
                });
            }
            tracing::warn!(
                retry_in_ms = delay.as_millis() as u64,
                "Schema Registry unavailable, retrying: {last}"
            );
            metrics::counter!("lakesink_registry_retries_total").increment(1);
            // Sleeps in short steps, so a stop is noticed at once.
            let until = Instant::now() + delay;
            while Instant::now() < until && !self.give_up.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50).min(until - Instant::now())).await;
            }
            delay = (delay * 2).min(self.max_delay);
        }
    }
}

/// Percent-encodes a subject for a URL path (subjects may hold `/`, spaces, ...).
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_encoded_for_paths() {
        assert_eq!(encode_path("a/b c-value"), "a%2Fb%20c-value");
    }

    /// A client of a registry on a port nothing listens on: every attempt is refused, a
    /// transient failure.
    fn unreachable_client() -> RegistryClient {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        RegistryClient::new(vec![format!("http://127.0.0.1:{closed}")], None).unwrap()
    }

    #[tokio::test]
    async fn retries_last_as_long_as_configured() {
        let mut client = unreachable_client();
        client.retry(Some(Duration::from_millis(900)), Duration::from_millis(250));
        let started = Instant::now();
        let result = client.schema(1).await;
        assert!(
            matches!(result, Err(RegistryError::Unavailable { .. })),
            "{result:?}"
        );
        // 200 + 250 + 250 + 250 ms of waits: given up after the limit, not long after.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_millis(2500), "{took:?}");
    }

    #[tokio::test]
    async fn retries_against_an_unreachable_registry_end_when_told_to() {
        let mut client = unreachable_client();
        let stop = Arc::new(AtomicBool::new(false));
        client.give_up_when(stop.clone());
        let setter = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            setter.store(true, Ordering::SeqCst);
        });
        let started = Instant::now();
        let result = client.schema(1).await;
        assert!(
            matches!(result, Err(RegistryError::Unavailable { .. })),
            "{result:?}"
        );
        // Retried (the first delay is 200 ms) and gave up soon after the flag.
        assert!(started.elapsed() >= Duration::from_millis(700));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
