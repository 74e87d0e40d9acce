//! The registry's rules: registration and id allocation, lookups, soft and hard deletes,
//! configs and modes, compatibility — Confluent Schema Registry's semantics over the
//! replayed [`State`]. Writes go through the leader's fenced [`Writer`] one at a time and
//! return only once this instance's reader has applied them (read-your-writes).
//! HTTP is not handled here (see `api`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::compat::{self, Level, Previous};
use crate::kafka::{self, KafkaSettings, ReadProgress, StoreError, Writer};
use crate::schema::{ParsedSchema, SchemaType};
use crate::store::{ConfigDoc, Key, Reference, SchemaContent, SchemaValue, State};
use lakesink_source::election::Election;

/// An error as the REST API reports it: HTTP status and Confluent's `error_code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RegistryError {
    pub status: u16,
    pub code: i32,
    pub message: String,
}

impl RegistryError {
    pub fn new(code: i32, message: impl Into<String>) -> RegistryError {
        // The HTTP status is the first three digits of the code (40401 -> 404).
        let mut status = code;
        while status >= 1000 {
            status /= 10;
        }
        RegistryError {
            status: u16::try_from(status).unwrap_or(500),
            code,
            message: message.into(),
        }
    }

    fn subject_not_found(subject: &str) -> RegistryError {
        RegistryError::new(40401, format!("Subject '{subject}' not found."))
    }

    fn version_not_found(version: &str) -> RegistryError {
        RegistryError::new(40402, format!("Version {version} not found."))
    }

    pub fn invalid_schema(details: impl std::fmt::Display) -> RegistryError {
        RegistryError::new(42201, format!("Invalid schema: {details}"))
    }
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> RegistryError {
        match e {
            StoreError::Timeout(_) => {
                RegistryError::new(50002, format!("Operation timed out: {e}"))
            }
            StoreError::Fenced => RegistryError::new(50003, e.to_string()),
            _ => RegistryError::new(50001, format!("Error in the backend data store: {e}")),
        }
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

type WriterSlot<'a> = tokio::sync::MutexGuard<'a, Option<(u64, Writer)>>;

/// Who leads the group, as [`Registry::leader`] finds it.
pub enum Leader {
    ThisInstance,
    /// Another instance, by its URL.
    Other(String),
}

/// Returned when a write reaches an instance that is not (or no longer) the leader; the API
/// forwards the request on this code.
pub const NOT_LEADER: i32 = 50004;

fn not_leader() -> RegistryError {
    RegistryError::new(NOT_LEADER, "This instance is not the leader")
}

/// A registration, lookup or compatibility request body (unknown properties are ignored,
/// as clients send `Confluent-Accept-Unknown-Properties`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    pub schema: Option<String>,
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Vec<Reference>,
    pub version: Option<i32>,
    pub id: Option<i32>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
}

/// A version selector: a number in [1, 2^31-1], or `latest` / -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionId {
    Latest,
    Number(i32),
}

impl VersionId {
    pub fn parse(s: &str) -> Result<VersionId> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(VersionId::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionId::Number(n)),
            _ => Err(RegistryError::new(
                42202,
                format!(
                    "The specified version '{s}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
                ),
            )),
        }
    }
}

/// `Config` properties besides the level that `PUT /config` stores and `GET /config` returns.
const CONFIG_PROPERTIES: [&str; 12] = [
    "normalize",
    "validateFields",
    "validateRules",
    "compatibilityGroup",
    "compatibilityPolicy",
    "defaultMetadata",
    "overrideMetadata",
    "defaultRuleSet",
    "overrideRuleSet",
    "alias",
    "aliasForDeks",
    "validateNewSchemas",
];

pub const MODES: [&str; 4] = ["READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"];

/// Server-wide settings of the rules.
#[derive(Debug, Clone)]
pub struct Rules {
    pub default_level: Level,
    pub mode_mutability: bool,
}

pub struct Registry {
    state: Arc<RwLock<State>>,
    progress: watch::Receiver<ReadProgress>,
    settings: KafkaSettings,
    group_id: String,
    pub election: Arc<Election>,
    rules: Rules,
    /// The writer and the leadership generation it was fenced in; writes hold this lock.
    writer: tokio::sync::Mutex<Option<(u64, Writer)>>,
    /// Parsed schemas by id (an id's content never changes).
    parsed: Mutex<HashMap<i32, Arc<ParsedSchema>>>,
}

impl Registry {
    pub fn new(
        state: Arc<RwLock<State>>,
        progress: watch::Receiver<ReadProgress>,
        settings: KafkaSettings,
        group_id: String,
        election: Arc<Election>,
        rules: Rules,
    ) -> Registry {
        Registry {
            state,
            progress,
            settings,
            group_id,
            election,
            rules,
            writer: tokio::sync::Mutex::new(None),
            parsed: Mutex::new(HashMap::new()),
        }
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        match self.state.read() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.election.leadership.is_leader()
    }

    /// Who leads the group now: this instance, or another one (its URL). `Err` says why that
    /// cannot be told yet (an election under way, the coordinator not answering); the cached
    /// leader is dropped then, so that the next ask goes to the group coordinator.
    pub async fn leader(&self, own_url: &str) -> std::result::Result<Leader, String> {
        if self.is_leader() {
            return Ok(Leader::ThisInstance);
        }
        let election = self.election.clone();
        let timeout = self.timeout();
        let asked = tokio::task::spawn_blocking(move || election.leader_url(timeout)).await;
        let problem = match asked {
            Ok(Ok(Some(url))) if url != own_url => return Ok(Leader::Other(url)),
            // The group already names this instance, which has not taken over yet.
            Ok(Ok(Some(_))) => "this instance is taking over the leadership".to_string(),
            Ok(Ok(None)) => "no eligible instance leads the group yet".to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        self.election.forget_leader();
        Err(problem)
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.settings.timeout
    }

    /// The write lock, with a writer that has fenced earlier leaders and a state that holds
    /// everything they wrote. Decisions (ids, versions) are taken while holding it.
    async fn ready_writer(&self) -> Result<WriterSlot<'_>> {
        let mut guard = self.writer.lock().await;
        let generation = self.election.leadership.generation();
        if !self.election.leadership.is_leader() {
            *guard = None;
            return Err(not_leader());
        }
        if guard.as_ref().is_none_or(|(g, _)| *g != generation) {
            *guard = None;
            let writer = Writer::open(&self.settings, &self.group_id).await?;
            // A probe written after fencing marks the end of the earlier leaders' writes.
            let offset = writer.write(&Key::Noop, None).await?;
            let mut progress = self.progress.clone();
            kafka::wait_applied(&mut progress, offset, self.settings.timeout).await?;
            *guard = Some((generation, writer));
        }
        Ok(guard)
    }

    /// Fences earlier leaders and readies the writer now, so that the first write after an
    /// election does not pay for it.
    pub async fn prepare_writer(&self) -> Result<()> {
        self.ready_writer().await.map(drop)
    }

    /// Writes records with the writer of `slot` and waits until this instance has read them
    /// back.
    async fn write_with(
        &self,
        slot: &mut WriterSlot<'_>,
        records: Vec<(Key, Option<String>)>,
    ) -> Result<()> {
        for (key, value) in records {
            let Some((_, writer)) = slot.as_ref() else {
                return Err(not_leader());
            };
            let offset = match writer.write(&key, value.as_deref()).await {
                Ok(o) => o,
                Err(e) => {
                    **slot = None;
                    return Err(e.into());
                }
            };
            let mut progress = self.progress.clone();
            kafka::wait_applied(&mut progress, offset, self.settings.timeout).await?;
        }
        Ok(())
    }

    async fn write(&self, records: Vec<(Key, Option<String>)>) -> Result<()> {
        let mut slot = self.ready_writer().await?;
        self.write_with(&mut slot, records).await
    }

    // ---------------------------------------------------------------- schemas

    fn content_text(&self, id: i32) -> Option<SchemaContent> {
        self.state().schemas.get(&id).cloned()
    }

    /// The referenced schemas of `references`, transitively, dependencies first, as (name,
    /// text); a direct reference to nothing registered is an invalid schema. (Indirect ones
    /// were checked when the referenced schema was registered.)
    fn resolve_references(&self, references: &[Reference]) -> Result<Vec<(String, String)>> {
        let state = self.state();
        for r in references {
            let exists = state.subjects.get(&r.subject).is_some_and(|vs| {
                if r.version == -1 {
                    vs.values().any(|e| !e.deleted)
                } else {
                    vs.contains_key(&r.version)
                }
            });
            if !exists {
                return Err(RegistryError::invalid_schema(format!(
                    "reference '{}' to subject '{}' version {} does not exist",
                    r.name, r.subject, r.version
                )));
            }
        }
        Ok(state.reference_texts(references))
    }

    fn parse_request(&self, req: &SchemaRequest) -> Result<(SchemaType, ParsedSchema)> {
        let Some(text) = req.schema.as_deref() else {
            return Err(RegistryError::new(
                42201,
                "Invalid schema: the request has no 'schema'",
            ));
        };
        let schema_type = match req.schema_type.as_deref() {
            None => SchemaType::Avro,
            Some(t) => SchemaType::parse(t).ok_or_else(|| {
                RegistryError::new(
                    42201,
                    format!("Invalid schema type '{t}': allowed are AVRO, JSON, PROTOBUF"),
                )
            })?,
        };
        let refs = self.resolve_references(&req.references)?;
        let parsed = ParsedSchema::parse(schema_type, text, &refs).map_err(|e| {
            RegistryError::new(
                42201,
                format!(
                    "Invalid schema {text} of type {}, details: {e}",
                    schema_type.as_str()
                ),
            )
        })?;
        Ok((schema_type, parsed))
    }

    /// The parsed schema of a registered id (cached).
    fn parsed(&self, id: i32) -> Result<Arc<ParsedSchema>> {
        if let Ok(cache) = self.parsed.lock()
            && let Some(p) = cache.get(&id)
        {
            return Ok(p.clone());
        }
        let content = self
            .content_text(id)
            .ok_or_else(|| RegistryError::new(40403, format!("Schema {id} not found")))?;
        let refs = self.resolve_references(&content.references)?;
        let parsed =
            ParsedSchema::parse(content.schema_type, &content.schema, &refs).map_err(|e| {
                RegistryError::new(50001, format!("stored schema {id} does not parse: {e}"))
            })?;
        let parsed = Arc::new(parsed);
        if let Ok(mut cache) = self.parsed.lock() {
            cache.insert(id, parsed.clone());
        }
        Ok(parsed)
    }

    fn normalize_by_default(&self, subject: &str) -> bool {
        let state = self.state();
        let doc = state
            .configs
            .get(&Some(subject.to_string()))
            .or_else(|| state.configs.get(&None));
        doc.and_then(|d| d.get("normalize"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn level_of(&self, subject: Option<&str>) -> Level {
        let state = self.state();
        let from = |doc: Option<&ConfigDoc>| {
            doc.and_then(|d| {
                d.get("compatibilityLevel")
                    .or_else(|| d.get("compatibility"))
            })
            .and_then(Value::as_str)
            .and_then(Level::parse)
        };
        subject
            .and_then(|s| from(state.configs.get(&Some(s.to_string()))))
            .or_else(|| from(state.configs.get(&None)))
            .unwrap_or(self.rules.default_level)
    }

    pub fn mode_of(&self, subject: Option<&str>) -> String {
        let state = self.state();
        subject
            .and_then(|s| state.modes.get(&Some(s.to_string())))
            .or_else(|| state.modes.get(&None))
            .cloned()
            .unwrap_or_else(|| "READWRITE".to_string())
    }

    /// Earlier undeleted versions, newest first, parsed.
    fn previous_versions(&self, subject: &str) -> Result<Vec<(i32, String, Arc<ParsedSchema>)>> {
        let ids: Vec<(i32, i32)> = self
            .state()
            .subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .rev()
                    .filter(|(_, e)| !e.deleted)
                    .map(|(v, e)| (*v, e.id))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for (v, id) in ids {
            let text = self.content_text(id).map(|c| c.schema).unwrap_or_default();
            out.push((v, text, self.parsed(id)?));
        }
        Ok(out)
    }

    fn incompatibilities(
        level: Level,
        new: &ParsedSchema,
        previous: &[(i32, String, Arc<ParsedSchema>)],
    ) -> Vec<String> {
        let prev: Vec<Previous<'_>> = previous
            .iter()
            .map(|(v, text, p)| Previous {
                version: *v,
                schema: p,
                text,
            })
            .collect();
        compat::check(level, new, &prev)
    }

    /// `POST /subjects/{subject}/versions`.
    pub async fn register(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Value> {
        validate_subject(subject)?;
        let mode = self.mode_of(Some(subject));
        if mode == "READONLY" || mode == "READONLY_OVERRIDE" {
            return Err(RegistryError::new(
                42205,
                format!("Subject {subject} is in read-only mode"),
            ));
        }
        let import = mode == "IMPORT";
        let (schema_type, parsed) = self.parse_request(req)?;
        let normalize = normalize || self.normalize_by_default(subject);
        let content = SchemaContent {
            schema_type,
            schema: parsed.stored_form(normalize),
            references: req.references.clone(),
            metadata: req.metadata.clone(),
            rule_set: req.rule_set.clone(),
        };
        let mut slot = self.ready_writer().await?;
        let (existing_id, versions_here, max_version) = {
            let state = self.state();
            let versions = state.subjects.get(subject);
            (
                state.id_of(&content),
                versions
                    .map(|vs| vs.iter().map(|(v, e)| (*v, e.clone())).collect::<Vec<_>>())
                    .unwrap_or_default(),
                versions
                    .and_then(|vs| vs.keys().next_back().copied())
                    .unwrap_or(0),
            )
        };
        // The same schema registered before keeps its stored text (e.g. Confluent's
        // attribute order), so every version of an id carries the same bytes.
        let mut content = content;
        if let Some(stored) = existing_id.and_then(|id| self.content_text(id)) {
            content.schema = stored.schema;
        }
        // Already registered here: the same id and version, nothing written.
        if let Some(id) = existing_id
            && let Some((v, _)) = versions_here
                .iter()
                .rev()
                .find(|(_, e)| !e.deleted && e.id == id)
        {
            if req.id.is_some_and(|given| given != id) {
                return Err(RegistryError::new(
                    42207,
                    format!(
                        "Schema already registered with id {id} instead of input id {:?}",
                        req.id
                    ),
                ));
            }
            return Ok(registered_response(id, *v, &content));
        }
        let (id, version) = if import {
            let (Some(id), version) = (req.id, req.version) else {
                return Err(RegistryError::new(
                    42205,
                    format!(
                        "Subject {subject} is in IMPORT mode: a registration must give the schema's 'id'"
                    ),
                ));
            };
            if let Some(other) = self.content_text(id)
                && other != content
            {
                return Err(RegistryError::new(
                    42207,
                    format!(
                        "Overwrite new schema with id {id} is not permitted: another schema has this id"
                    ),
                ));
            }
            (id, version.unwrap_or(max_version + 1))
        } else {
            if req.id.is_some_and(|given| Some(given) != existing_id) {
                return Err(RegistryError::new(
                    42205,
                    "An id can only be given in IMPORT mode".to_string(),
                ));
            }
            let level = self.level_of(Some(subject));
            let previous = self.previous_versions(subject)?;
            let problems = Self::incompatibilities(level, &parsed, &previous);
            if !problems.is_empty() {
                return Err(RegistryError::new(
                    409,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                        problems.join(", ")
                    ),
                ));
            }
            let id = existing_id.unwrap_or_else(|| self.state().next_id());
            (id, max_version + 1)
        };
        let json = schema_record(subject, version, id, &content, false)?;
        self.write_with(
            &mut slot,
            vec![(
                Key::Schema {
                    subject: subject.to_string(),
                    version,
                },
                Some(json),
            )],
        )
        .await?;
        Ok(registered_response(id, version, &content))
    }

    /// `POST /subjects/{subject}`: the version of `subject` holding this schema.
    pub fn lookup(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<Value> {
        self.require_subject(subject, deleted)?;
        let (schema_type, parsed) = self.parse_request(req)?;
        let normalize = normalize || self.normalize_by_default(subject);
        let state = self.state();
        let key_of = |schema: String| {
            state.key_of(&SchemaContent {
                schema_type,
                schema,
                references: req.references.clone(),
                metadata: req.metadata.clone(),
                rule_set: req.rule_set.clone(),
            })
        };
        let candidates = [
            key_of(parsed.stored_form(normalize)),
            key_of(parsed.stored_form(!normalize)),
        ];
        let versions = state.subjects.get(subject).map(|vs| vs.iter().rev());
        for (v, e) in versions.into_iter().flatten() {
            if e.deleted && !deleted {
                continue;
            }
            if let Some(c) = state.schemas.get(&e.id)
                && state
                    .key_of_id(e.id)
                    .is_some_and(|k| candidates.contains(k))
            {
                return Ok(version_response(subject, *v, e.id, c, e.deleted));
            }
        }
        Err(RegistryError::new(40403, "Schema not found"))
    }

    fn require_subject(&self, subject: &str, deleted: bool) -> Result<()> {
        let state = self.state();
        match state.subjects.get(subject) {
            Some(vs) if deleted || vs.values().any(|e| !e.deleted) => Ok(()),
            _ => Err(RegistryError::subject_not_found(subject)),
        }
    }

    fn resolve_version(
        &self,
        subject: &str,
        version: &str,
        deleted: bool,
    ) -> Result<(i32, i32, bool)> {
        let v = VersionId::parse(version)?;
        self.require_subject(subject, deleted)?;
        let state = self.state();
        let versions = state
            .subjects
            .get(subject)
            .ok_or_else(|| RegistryError::subject_not_found(subject))?;
        let found = match v {
            VersionId::Latest => versions.iter().rev().find(|(_, e)| deleted || !e.deleted),
            VersionId::Number(n) => versions
                .get_key_value(&n)
                .filter(|(_, e)| deleted || !e.deleted),
        };
        found
            .map(|(v, e)| (*v, e.id, e.deleted))
            .ok_or_else(|| RegistryError::version_not_found(version))
    }

    /// `GET /subjects/{subject}/versions/{version}`.
    pub fn get_version(&self, subject: &str, version: &str, deleted: bool) -> Result<Value> {
        let (v, id, is_deleted) = self.resolve_version(subject, version, deleted)?;
        let c = self
            .content_text(id)
            .ok_or_else(|| RegistryError::version_not_found(version))?;
        Ok(version_response(subject, v, id, &c, is_deleted))
    }

    /// The schema text of a version (`.../schema`), or of an id in `format`.
    pub fn get_version_schema(
        &self,
        subject: &str,
        version: &str,
        deleted: bool,
        format: Option<&str>,
    ) -> Result<String> {
        let (_, id, _) = self.resolve_version(subject, version, deleted)?;
        self.schema_text(id, format)
    }

    fn schema_text(&self, id: i32, format: Option<&str>) -> Result<String> {
        let c = self
            .content_text(id)
            .ok_or_else(|| RegistryError::new(40403, format!("Schema {id} not found")))?;
        if c.schema_type == SchemaType::Protobuf
            && format == Some("serialized")
            && let ParsedSchema::Protobuf(p) = &*self.parsed(id)?
        {
            return Ok(p.serialized());
        }
        Ok(c.schema)
    }

    /// `GET /subjects/{subject}/versions`.
    pub fn list_versions(
        &self,
        subject: &str,
        deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<i32>> {
        self.require_subject(subject, deleted || deleted_only)?;
        let state = self.state();
        Ok(state
            .subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|(_, e)| {
                        if deleted_only {
                            e.deleted
                        } else {
                            deleted || !e.deleted
                        }
                    })
                    .map(|(v, _)| *v)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /subjects`.
    pub fn list_subjects(&self, prefix: &str, deleted: bool, deleted_only: bool) -> Vec<String> {
        let prefix = if prefix == ":*:" { "" } else { prefix };
        self.state()
            .subjects
            .iter()
            .filter(|(s, _)| s.starts_with(prefix))
            .filter(|(_, vs)| {
                let live = vs.values().any(|e| !e.deleted);
                if deleted_only {
                    // A subject is deleted when all of its versions are.
                    !live
                } else {
                    live || deleted
                }
            })
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// `GET /schemas`.
    pub fn list_schemas(&self, prefix: &str, deleted: bool, latest_only: bool) -> Vec<Value> {
        let state = self.state();
        let mut out = Vec::new();
        for (subject, versions) in state.subjects.iter().filter(|(s, _)| s.starts_with(prefix)) {
            let live: Vec<_> = versions
                .iter()
                .filter(|(_, e)| deleted || !e.deleted)
                .collect();
            let chosen: Vec<_> = if latest_only {
                live.last().into_iter().copied().collect()
            } else {
                live
            };
            for (v, e) in chosen {
                if let Some(c) = state.schemas.get(&e.id) {
                    out.push(version_response(subject, *v, e.id, c, e.deleted));
                }
            }
        }
        out
    }

    /// `GET /schemas/ids/{id}`.
    pub fn get_by_id(&self, id: i32, format: Option<&str>, fetch_max_id: bool) -> Result<Value> {
        let c = self
            .content_text(id)
            .ok_or_else(|| RegistryError::new(40403, format!("Schema {id} not found")))?;
        let mut out = serde_json::Map::new();
        out.insert(
            "schema".into(),
            Value::String(self.schema_text(id, format)?),
        );
        if c.schema_type != SchemaType::Avro {
            out.insert("schemaType".into(), c.schema_type.as_str().into());
        }
        if !c.references.is_empty() {
            out.insert("references".into(), json!(c.references));
        }
        if let Some(m) = &c.metadata {
            out.insert("metadata".into(), m.clone());
        }
        if let Some(r) = &c.rule_set {
            out.insert("ruleSet".into(), r.clone());
        }
        if fetch_max_id {
            out.insert("maxId".into(), self.state().max_id.into());
        }
        out.insert("guid".into(), guid_text(&c).into());
        Ok(Value::Object(out))
    }

    /// The id of the schema a GUID names (`8f1c…-…` or 32 hex digits, as Confluent takes).
    fn id_of_guid(&self, guid: &str) -> Result<i32> {
        let bytes = uuid::Uuid::parse_str(guid)
            .map(|u| *u.as_bytes())
            .map_err(|_| RegistryError::new(40403, format!("Schema {guid} not found")))?;
        self.state()
            .id_of_guid(&bytes)
            .ok_or_else(|| RegistryError::new(40403, format!("Schema {guid} not found")))
    }

    /// `GET /schemas/guids/{guid}`: as `/schemas/ids/{id}`, with the GUID and without an id.
    pub fn get_by_guid(&self, guid: &str, format: Option<&str>) -> Result<Value> {
        let id = self.id_of_guid(guid)?;
        self.get_by_id(id, format, false)
    }

    /// `GET /schemas/guids/{guid}/ids`: the schema's id in each context (one here).
    pub fn guid_ids(&self, guid: &str) -> Result<Value> {
        let id = self.id_of_guid(guid)?;
        Ok(json!([{"context": ".", "id": id}]))
    }

    pub fn get_by_id_raw(&self, id: i32, format: Option<&str>) -> Result<String> {
        self.schema_text(id, format)
    }

    /// `GET /schemas/ids/{id}/versions` as (subject, version).
    pub fn id_versions(&self, id: i32, deleted: bool) -> Result<Vec<(String, i32)>> {
        let state = self.state();
        if !state.schemas.contains_key(&id) {
            return Err(RegistryError::new(40403, format!("Schema {id} not found")));
        }
        Ok(state.versions_of_id(id, deleted))
    }

    /// `GET /subjects/{subject}/versions/{version}/referencedby`.
    pub fn referenced_by(&self, subject: &str, version: &str, deleted: bool) -> Result<Vec<i32>> {
        let (v, _, _) = self.resolve_version(subject, version, true)?;
        Ok(self.state().referenced_by(subject, v, deleted))
    }

    /// `DELETE /subjects/{subject}/versions/{version}`.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: &str,
        permanent: bool,
    ) -> Result<i32> {
        let mut slot = self.ready_writer().await?;
        let (v, id, is_deleted) = self.resolve_version(subject, version, true)?;
        if !permanent && is_deleted {
            return Err(RegistryError::new(
                40406,
                format!(
                    "Subject '{subject}' Version {v} was soft deleted.Set permanent=true to delete permanently"
                ),
            ));
        }
        if permanent && !is_deleted {
            return Err(RegistryError::new(
                40407,
                format!(
                    "Subject '{subject}' Version {v} was not deleted first before being permanently deleted"
                ),
            ));
        }
        let referrers = self.state().referenced_by(subject, v, false);
        if !referrers.is_empty() {
            return Err(referenced(subject, v, &referrers));
        }
        let c = self
            .content_text(id)
            .ok_or_else(|| RegistryError::version_not_found(version))?;
        let key = Key::Schema {
            subject: subject.to_string(),
            version: v,
        };
        let mut records = Vec::new();
        if permanent {
            records.push((key, None));
            let last = self.state().subjects.get(subject).map(|vs| vs.len()) == Some(1);
            if last {
                records.extend(self.subject_settings_tombstones(subject));
            }
        } else {
            let json = schema_record(subject, v, id, &c, true)?;
            records.push((key, Some(json)));
        }
        self.write_with(&mut slot, records).await?;
        Ok(v)
    }

    fn subject_settings_tombstones(&self, subject: &str) -> Vec<(Key, Option<String>)> {
        let state = self.state();
        let mut out = Vec::new();
        let s = Some(subject.to_string());
        if state.configs.contains_key(&s) {
            out.push((Key::Config { subject: s.clone() }, None));
        }
        if state.modes.contains_key(&s) {
            out.push((Key::Mode { subject: s }, None));
        }
        out
    }

    /// `DELETE /subjects/{subject}`.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let mut slot = self.ready_writer().await?;
        let versions: Vec<(i32, bool)> = self
            .state()
            .subjects
            .get(subject)
            .map(|vs| vs.iter().map(|(v, e)| (*v, e.deleted)).collect())
            .unwrap_or_default();
        if versions.is_empty() {
            return Err(RegistryError::subject_not_found(subject));
        }
        let all_deleted = versions.iter().all(|(_, d)| *d);
        if !permanent && all_deleted {
            return Err(RegistryError::new(
                40404,
                format!(
                    "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
                ),
            ));
        }
        if permanent && !all_deleted {
            return Err(RegistryError::new(
                40405,
                format!(
                    "Subject '{subject}' was not deleted first before being permanently deleted"
                ),
            ));
        }
        for (v, deleted) in &versions {
            let referrers = self.state().referenced_by(subject, *v, false);
            if !*deleted && !referrers.is_empty() {
                return Err(referenced(subject, *v, &referrers));
            }
        }
        let mut records = Vec::new();
        let result: Vec<i32>;
        if permanent {
            result = versions.iter().map(|(v, _)| *v).collect();
            for v in result.iter().rev() {
                records.push((
                    Key::Schema {
                        subject: subject.to_string(),
                        version: *v,
                    },
                    None,
                ));
            }
            records.extend(self.subject_settings_tombstones(subject));
        } else {
            result = versions
                .iter()
                .filter(|(_, d)| !*d)
                .map(|(v, _)| *v)
                .collect();
            let latest = versions.last().map(|(v, _)| *v).unwrap_or(0);
            records.push((
                Key::DeleteSubject {
                    subject: subject.to_string(),
                },
                Some(json!({"subject": subject, "version": latest}).to_string()),
            ));
        }
        self.write_with(&mut slot, records).await?;
        Ok(result)
    }

    // ---------------------------------------------------------------- config and mode

    /// `GET /config[/{subject}]`.
    pub fn get_config(&self, subject: Option<&str>, default_to_global: bool) -> Result<Value> {
        let state = self.state();
        if let Some(s) = subject {
            if let Some(doc) = state.configs.get(&Some(s.to_string())) {
                return Ok(config_response(doc, self.rules.default_level));
            }
            if !default_to_global {
                return Err(RegistryError::new(
                    40408,
                    format!("Subject '{s}' does not have subject-level compatibility configured"),
                ));
            }
        }
        match state.configs.get(&None) {
            Some(doc) => Ok(config_response(doc, self.rules.default_level)),
            None => Ok(json!({"compatibilityLevel": self.rules.default_level.as_str()})),
        }
    }

    /// `PUT /config[/{subject}]`: body `{"compatibility": ..., "normalize"?: ...}`.
    pub async fn put_config(&self, subject: Option<&str>, body: &Value) -> Result<Value> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let obj = body.as_object().cloned().unwrap_or_default();
        let mut doc = ConfigDoc::new();
        let mut echo = serde_json::Map::new();
        let level = obj
            .get("compatibility")
            .or_else(|| obj.get("compatibilityLevel"));
        if let Some(level) = level {
            let parsed = level.as_str().and_then(Level::parse).ok_or_else(|| {
                RegistryError::new(
                    42203,
                    "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
                )
            })?;
            doc.insert("compatibilityLevel".into(), parsed.as_str().into());
            echo.insert("compatibility".into(), parsed.as_str().into());
        }
        // Confluent's other Config properties are kept; unknown ones are ignored, as
        // Confluent's JSON binding ignores them.
        for (k, v) in &obj {
            if CONFIG_PROPERTIES.contains(&k.as_str()) {
                doc.insert(k.clone(), v.clone());
                echo.insert(k.clone(), v.clone());
            }
        }
        if doc.is_empty() {
            return Err(RegistryError::new(
                42203,
                "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
            ));
        }
        // Keep what was set before and is not changed now.
        let mut slot = self.ready_writer().await?;
        let previous = self
            .state()
            .configs
            .get(&subject.map(str::to_string))
            .cloned();
        let mut stored = previous.unwrap_or_default();
        stored.extend(doc);
        let mut value = serde_json::Map::new();
        if let Some(s) = subject {
            value.insert("subject".into(), s.into());
        }
        value.extend(stored);
        self.write_with(
            &mut slot,
            vec![(
                Key::Config {
                    subject: subject.map(str::to_string),
                },
                Some(Value::Object(value).to_string()),
            )],
        )
        .await?;
        Ok(Value::Object(echo))
    }

    /// `DELETE /config[/{subject}]`: returns the config in effect before.
    pub async fn delete_config(&self, subject: Option<&str>) -> Result<Value> {
        if let Some(s) = subject {
            self.require_subject(s, true)?;
        }
        let before = self.get_config(subject, true)?;
        let key = Key::Config {
            subject: subject.map(str::to_string),
        };
        self.write(vec![(key, None)]).await?;
        Ok(before)
    }

    /// `GET /mode[/{subject}]`.
    pub fn get_mode(&self, subject: Option<&str>, default_to_global: bool) -> Result<Value> {
        let state = self.state();
        if let Some(s) = subject {
            if let Some(m) = state.modes.get(&Some(s.to_string())) {
                return Ok(json!({"mode": m}));
            }
            if !default_to_global {
                return Err(RegistryError::new(
                    40409,
                    format!("Subject '{s}' does not have subject-level mode configured"),
                ));
            }
        }
        Ok(json!({"mode": state.modes.get(&None).cloned().unwrap_or_else(|| "READWRITE".into())}))
    }

    /// `PUT /mode[/{subject}]`.
    pub async fn put_mode(
        &self,
        subject: Option<&str>,
        body: &Value,
        force: bool,
    ) -> Result<Value> {
        let mode = body
            .get("mode")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
            .filter(|m| MODES.contains(&m.as_str()))
            .ok_or_else(|| {
                RegistryError::new(
                    42204,
                    "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT.",
                )
            })?;
        if !self.rules.mode_mutability {
            return Err(RegistryError::new(
                42205,
                "Mode changes are not allowed (mode.mutability=false)",
            ));
        }
        if mode == "IMPORT" && !force {
            let non_empty = match subject {
                Some(s) => self
                    .state()
                    .subjects
                    .get(s)
                    .is_some_and(|vs| !vs.is_empty()),
                None => !self.state().subjects.is_empty(),
            };
            if non_empty {
                return Err(RegistryError::new(
                    42205,
                    "Cannot import since found existing subjects (use force=true to switch anyway)",
                ));
            }
        }
        let mut value = serde_json::Map::new();
        if let Some(s) = subject {
            value.insert("subject".into(), s.into());
        }
        value.insert("mode".into(), mode.clone().into());
        self.write(vec![(
            Key::Mode {
                subject: subject.map(str::to_string),
            },
            Some(Value::Object(value).to_string()),
        )])
        .await?;
        Ok(json!({"mode": mode}))
    }

    /// `DELETE /mode[/{subject}]`.
    pub async fn delete_mode(&self, subject: Option<&str>) -> Result<Value> {
        let before = self.get_mode(subject, true)?;
        self.write(vec![(
            Key::Mode {
                subject: subject.map(str::to_string),
            },
            None,
        )])
        .await?;
        Ok(before)
    }

    // ---------------------------------------------------------------- compatibility

    /// `POST /compatibility/subjects/{subject}/versions[/{version}]`.
    pub fn test_compatibility(
        &self,
        subject: &str,
        version: Option<&str>,
        req: &SchemaRequest,
        verbose: bool,
    ) -> Result<Value> {
        let (_, parsed) = self.parse_request(req)?;
        let level = self.level_of(Some(subject));
        let previous = match version {
            Some(v) => {
                let (v, id, _) = self.resolve_version(subject, v, false)?;
                let text = self.content_text(id).map(|c| c.schema).unwrap_or_default();
                vec![(v, text, self.parsed(id)?)]
            }
            None => self.previous_versions(subject)?,
        };
        // One version named: checked against it alone, whatever the level's transitivity.
        let level = if version.is_some() {
            match level {
                Level::BackwardTransitive => Level::Backward,
                Level::ForwardTransitive => Level::Forward,
                Level::FullTransitive => Level::Full,
                l => l,
            }
        } else {
            level
        };
        let problems = Self::incompatibilities(level, &parsed, &previous);
        let mut out = json!({"is_compatible": problems.is_empty()});
        if verbose {
            out["messages"] = json!(problems);
        }
        Ok(out)
    }
}

fn validate_subject(subject: &str) -> Result<()> {
    if subject.chars().any(|c| c.is_control()) {
        return Err(RegistryError::new(
            42208,
            format!(
                "The specified subject '{}' is not valid: control characters",
                subject.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// A SCHEMA record's value: `content` as version `version` of `subject`.
fn schema_record(
    subject: &str,
    version: i32,
    id: i32,
    content: &SchemaContent,
    deleted: bool,
) -> Result<String> {
    let value = SchemaValue {
        subject: subject.to_string(),
        version,
        id,
        schema: content.schema.clone(),
        deleted,
        schema_type: (content.schema_type != SchemaType::Avro)
            .then(|| content.schema_type.as_str().to_string()),
        references: content.references.clone(),
        metadata: content.metadata.clone(),
        rule_set: content.rule_set.clone(),
    };
    serde_json::to_string(&value).map_err(|e| RegistryError::new(50001, e.to_string()))
}

fn referenced(subject: &str, version: i32, referrers: &[i32]) -> RegistryError {
    RegistryError::new(
        42206,
        format!(
            "One or more references exist to the schema {{subject={subject},version={version}}}: ids {referrers:?}"
        ),
    )
}

fn registered_response(id: i32, version: i32, c: &SchemaContent) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), id.into());
    out.insert("version".into(), version.into());
    if c.schema_type != SchemaType::Avro {
        out.insert("schemaType".into(), c.schema_type.as_str().into());
    }
    if !c.references.is_empty() {
        out.insert("references".into(), json!(c.references));
    }
    out.insert("guid".into(), guid_text(c).into());
    out.insert("schema".into(), c.schema.clone().into());
    Value::Object(out)
}

/// A schema's GUID as the API writes it.
fn guid_text(c: &SchemaContent) -> String {
    uuid::Uuid::from_bytes(c.guid()).to_string()
}

/// A `Schema` entity, Avro's type omitted as Confluent 7.x does.
fn version_response(
    subject: &str,
    version: i32,
    id: i32,
    c: &SchemaContent,
    deleted: bool,
) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("subject".into(), subject.into());
    out.insert("version".into(), version.into());
    out.insert("id".into(), id.into());
    if c.schema_type != SchemaType::Avro {
        out.insert("schemaType".into(), c.schema_type.as_str().into());
    }
    if !c.references.is_empty() {
        out.insert("references".into(), json!(c.references));
    }
    if let Some(m) = &c.metadata {
        out.insert("metadata".into(), m.clone());
    }
    if let Some(r) = &c.rule_set {
        out.insert("ruleSet".into(), r.clone());
    }
    out.insert("guid".into(), guid_text(c).into());
    out.insert("schema".into(), c.schema.clone().into());
    if deleted {
        out.insert("deleted".into(), true.into());
    }
    Value::Object(out)
}

fn config_response(doc: &ConfigDoc, default: Level) -> Value {
    let mut out = doc.clone();
    out.remove("subject");
    if let Some(level) = out.remove("compatibility") {
        out.insert("compatibilityLevel".into(), level);
    }
    out.entry("compatibilityLevel")
        .or_insert_with(|| default.as_str().into());
    Value::Object(out)
}
