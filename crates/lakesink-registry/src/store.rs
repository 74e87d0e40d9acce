//! The `_schemas` topic's record format and the in-memory state it replays into.
//!
//! Keys and values are Confluent's JSON documents (`keytype` SCHEMA, CONFIG, MODE,
//! DELETE_SUBJECT, CLEAR_SUBJECT, NOOP; a null value is a tombstone), so this server reads a
//! topic Confluent Schema Registry wrote, and the reverse. Key fields are written in
//! Confluent's order because compaction compares key bytes. Unknown key types and unknown
//! value properties are ignored on replay, as Confluent's reader does. Nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::SchemaType;

/// A reference from one schema to another registered one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// The key of a `_schemas` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Schema {
        subject: String,
        version: i32,
    },
    /// `None`: the global config.
    Config {
        subject: Option<String>,
    },
    Mode {
        subject: Option<String>,
    },
    DeleteSubject {
        subject: String,
    },
    ClearSubject {
        subject: String,
    },
    Noop,
    /// A key type this server does not use (e.g. CONTEXT): skipped on replay.
    Other(String),
}

impl Key {
    /// The key bytes, field for field as Confluent writes them.
    pub fn to_json(&self) -> String {
        fn subject_key(keytype: &str, subject: Option<&str>) -> String {
            match subject {
                Some(s) => format!(
                    "{{\"keytype\":\"{keytype}\",\"subject\":{},\"magic\":0}}",
                    json_string(s)
                ),
                None => format!("{{\"keytype\":\"{keytype}\",\"magic\":0}}"),
            }
        }
        match self {
            Key::Schema { subject, version } => format!(
                "{{\"keytype\":\"SCHEMA\",\"subject\":{},\"version\":{version},\"magic\":1}}",
                json_string(subject)
            ),
            Key::Config { subject } => subject_key("CONFIG", subject.as_deref()),
            Key::Mode { subject } => subject_key("MODE", subject.as_deref()),
            Key::DeleteSubject { subject } => subject_key("DELETE_SUBJECT", Some(subject)),
            Key::ClearSubject { subject } => subject_key("CLEAR_SUBJECT", Some(subject)),
            Key::Noop => "{\"keytype\":\"NOOP\",\"magic\":0}".to_string(),
            Key::Other(raw) => raw.clone(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Key, String> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| format!("key is not JSON: {e}"))?;
        let keytype = v
            .get("keytype")
            .and_then(Value::as_str)
            .ok_or("key has no keytype")?;
        // Karapace writes `"subject": null` for the global config; Confluent omits it.
        let subject = v.get("subject").and_then(Value::as_str).map(str::to_string);
        let need_subject = || {
            subject
                .clone()
                .ok_or(format!("{keytype} key without subject"))
        };
        Ok(match keytype {
            "SCHEMA" => Key::Schema {
                subject: need_subject()?,
                version: v
                    .get("version")
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or("SCHEMA key without version")?,
            },
            "CONFIG" => Key::Config { subject },
            "MODE" => Key::Mode { subject },
            "DELETE_SUBJECT" => Key::DeleteSubject {
                subject: need_subject()?,
            },
            "CLEAR_SUBJECT" => Key::ClearSubject {
                subject: need_subject()?,
            },
            "NOOP" => Key::Noop,
            other => Key::Other(other.to_string()),
        })
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The value of a SCHEMA record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
    /// Omitted for AVRO, as Confluent 7.x writes it (and every reader defaults to AVRO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// Data-contract fields are kept and passed through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<Value>,
}

/// One version of a subject as the state holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionEntry {
    pub id: i32,
    pub deleted: bool,
}

/// A registered schema's content, shared by every subject-version that uses its id.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaContent {
    pub schema_type: SchemaType,
    pub schema: String,
    pub references: Vec<Reference>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
}

impl SchemaContent {
    /// The schema's GUID as Confluent Schema Registry (8.0 and later) derives it: the MD5 of
    /// the stored schema text, then each reference's name, subject and big-endian version,
    /// read as a UUID. Not stored: the same content always has the same GUID. Metadata and
    /// rule sets are hashed as their JSON text after a marker byte, which differs from
    /// Confluent's field-by-field hash: GUIDs of schemas with data contracts are this
    /// registry's own.
    pub fn guid(&self) -> [u8; 16] {
        use md5::{Digest, Md5};
        let mut md = Md5::new();
        md.update(self.schema.as_bytes());
        for r in &self.references {
            md.update(r.name.as_bytes());
            md.update(r.subject.as_bytes());
            md.update(r.version.to_be_bytes());
        }
        for extra in [&self.metadata, &self.rule_set].into_iter().flatten() {
            md.update([1u8]);
            md.update(extra.to_string().as_bytes());
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&md.finalize());
        out
    }
}

/// A subject-level or global configuration document (`compatibilityLevel`, `normalize`, and
/// any other property, kept as written).
pub type ConfigDoc = serde_json::Map<String, Value>;

/// Everything replayed from `_schemas`.
#[derive(Debug, Default)]
pub struct State {
    pub subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    pub schemas: HashMap<i32, SchemaContent>,
    /// Content → id, so the same schema gets the same id across subjects.
    by_content: HashMap<ContentKey, i32>,
    /// The key each id was indexed under (references may be gone when it is released).
    keys: HashMap<i32, ContentKey>,
    /// Config by subject; `None` is the global one.
    pub configs: HashMap<Option<String>, ConfigDoc>,
    pub modes: HashMap<Option<String>, String>,
    /// The highest id ever seen; a new id is above it.
    pub max_id: i32,
    /// Schema GUID → id.
    by_guid: HashMap<[u8; 16], i32>,
    /// How many versions (deleted or not) use each id; an id is forgotten at zero.
    uses: HashMap<i32, usize>,
    /// Records skipped on replay because they could not be read (logged once each).
    pub unreadable_records: u64,
}

/// What makes two registrations the same schema: the canonical form of the text (so a
/// schema Confluent stored in Java's attribute order matches the same schema sent by a
/// client), the type, the references, metadata and rule set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentKey {
    schema_type: SchemaType,
    schema: String,
    references: Vec<Reference>,
    metadata: Option<String>,
    rule_set: Option<String>,
}

impl ContentKey {
    fn of(c: &SchemaContent, canonical: String) -> ContentKey {
        ContentKey {
            schema_type: c.schema_type,
            schema: canonical,
            references: c.references.clone(),
            metadata: c.metadata.as_ref().map(Value::to_string),
            rule_set: c.rule_set.as_ref().map(Value::to_string),
        }
    }
}

impl State {
    /// Applies one record; `Err` describes a record that could not be read (it is skipped).
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let key = Key::parse(key)?;
        match key {
            Key::Schema { subject, version } => match value {
                None => {
                    let mut removed = None;
                    if let Some(versions) = self.subjects.get_mut(&subject) {
                        removed = versions.remove(&version);
                        if versions.is_empty() {
                            self.subjects.remove(&subject);
                        }
                    }
                    if let Some(e) = removed {
                        self.release(e.id);
                    }
                }
                Some(bytes) => {
                    let v: SchemaValue = serde_json::from_slice(bytes)
                        .map_err(|e| format!("SCHEMA value of {subject} v{version}: {e}"))?;
                    let schema_type = SchemaType::parse(v.schema_type.as_deref().unwrap_or("AVRO"))
                        .ok_or_else(|| {
                            format!("SCHEMA value of {subject} v{version}: unknown schemaType")
                        })?;
                    let content = SchemaContent {
                        schema_type,
                        schema: v.schema,
                        references: v.references,
                        metadata: v.metadata,
                        rule_set: v.rule_set,
                    };
                    self.max_id = self.max_id.max(v.id);
                    let key = self.key_of(&content);
                    self.by_content.insert(key.clone(), v.id);
                    self.keys.insert(v.id, key);
                    self.by_guid.insert(content.guid(), v.id);
                    self.schemas.insert(v.id, content);
                    *self.uses.entry(v.id).or_default() += 1;
                    let previous = self.subjects.entry(subject).or_default().insert(
                        version,
                        VersionEntry {
                            id: v.id,
                            deleted: v.deleted,
                        },
                    );
                    if let Some(e) = previous {
                        self.release(e.id);
                    }
                }
            },
            Key::Config { subject } => match value {
                None => {
                    self.configs.remove(&subject);
                }
                Some(bytes) => {
                    let mut doc: ConfigDoc =
                        serde_json::from_slice(bytes).map_err(|e| format!("CONFIG value: {e}"))?;
                    doc.remove("subject");
                    self.configs.insert(subject, doc);
                }
            },
            Key::Mode { subject } => match value {
                None => {
                    self.modes.remove(&subject);
                }
                Some(bytes) => {
                    let doc: Value =
                        serde_json::from_slice(bytes).map_err(|e| format!("MODE value: {e}"))?;
                    let mode = doc
                        .get("mode")
                        .and_then(Value::as_str)
                        .ok_or("MODE value without mode")?;
                    self.modes.insert(subject, mode.to_string());
                }
            },
            Key::DeleteSubject { subject } => {
                if let Some(bytes) = value {
                    let doc: Value = serde_json::from_slice(bytes)
                        .map_err(|e| format!("DELETE_SUBJECT value: {e}"))?;
                    let upto = doc
                        .get("version")
                        .and_then(Value::as_i64)
                        .unwrap_or(i64::from(i32::MAX));
                    if let Some(versions) = self.subjects.get_mut(&subject) {
                        for (v, entry) in versions.iter_mut() {
                            if i64::from(*v) <= upto {
                                entry.deleted = true;
                            }
                        }
                    }
                }
            }
            Key::ClearSubject { subject } => {
                // Drops soft-deleted versions of the subjects under this prefix.
                let mut released = Vec::new();
                for (name, versions) in self.subjects.iter_mut() {
                    if name.starts_with(&subject) {
                        versions.retain(|_, e| {
                            if e.deleted {
                                released.push(e.id);
                            }
                            !e.deleted
                        });
                    }
                }
                self.subjects.retain(|_, v| !v.is_empty());
                for id in released {
                    self.release(id);
                }
            }
            Key::Noop | Key::Other(_) => {}
        }
        Ok(())
    }

    /// An id stays resolvable while any version, deleted or not, uses it.
    fn release(&mut self, id: i32) {
        let left = match self.uses.get_mut(&id) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            self.uses.remove(&id);
            if let Some(c) = self.schemas.remove(&id) {
                let guid = c.guid();
                if self.by_guid.get(&guid) == Some(&id) {
                    self.by_guid.remove(&guid);
                }
            }
            if let Some(key) = self.keys.remove(&id)
                && self.by_content.get(&key) == Some(&id)
            {
                self.by_content.remove(&key);
            }
        }
    }

    /// The id of the schema with this GUID.
    pub fn id_of_guid(&self, guid: &[u8; 16]) -> Option<i32> {
        self.by_guid.get(guid).copied()
    }

    /// The id already given to this exact content, if any.
    pub fn id_of(&self, content: &SchemaContent) -> Option<i32> {
        self.by_content.get(&self.key_of(content)).copied()
    }

    /// The key `content` is indexed under, its references resolved from this state.
    pub fn key_of(&self, content: &SchemaContent) -> ContentKey {
        let refs = self.reference_texts(&content.references);
        let canonical = crate::schema::canonical_text(content.schema_type, &content.schema, &refs);
        ContentKey::of(content, canonical)
    }

    /// The key an id was indexed under.
    pub fn key_of_id(&self, id: i32) -> Option<&ContentKey> {
        self.keys.get(&id)
    }

    /// The (name, text) of referenced schemas, transitively, dependencies first; references
    /// that do not resolve are left out (the schema then canonicalises as written).
    pub fn reference_texts(&self, references: &[Reference]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.collect_references(references, &mut out, &mut seen, 0);
        out
    }

    fn collect_references(
        &self,
        references: &[Reference],
        out: &mut Vec<(String, String)>,
        seen: &mut BTreeSet<(String, i32)>,
        depth: usize,
    ) {
        if depth > 64 {
            return;
        }
        for r in references {
            let versions = self.subjects.get(&r.subject);
            let entry = if r.version == -1 {
                versions.and_then(|vs| vs.iter().rev().find(|(_, e)| !e.deleted))
            } else {
                versions.and_then(|vs| vs.get_key_value(&r.version))
            };
            let Some((v, e)) = entry else { continue };
            let Some(c) = self.schemas.get(&e.id) else {
                continue;
            };
            if !seen.insert((r.subject.clone(), *v)) {
                continue;
            }
            self.collect_references(&c.references, out, seen, depth + 1);
            out.push((r.name.clone(), c.schema.clone()));
        }
    }

    /// The next id to allocate.
    pub fn next_id(&self) -> i32 {
        let mut id = self.max_id.saturating_add(1).max(1);
        while self.schemas.contains_key(&id) {
            id = id.saturating_add(1);
        }
        id
    }

    /// Subject-versions that use `id` (deleted ones only with `deleted`).
    pub fn versions_of_id(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for (subject, versions) in &self.subjects {
            for (v, e) in versions {
                if e.id == id && (deleted || !e.deleted) {
                    out.push((subject.clone(), *v));
                }
            }
        }
        out
    }

    /// Ids of schemas that reference `subject` version `version`.
    pub fn referenced_by(&self, subject: &str, version: i32, deleted: bool) -> Vec<i32> {
        let mut ids: BTreeSet<i32> = BTreeSet::new();
        for versions in self.subjects.values() {
            for e in versions.values() {
                if e.deleted && !deleted {
                    continue;
                }
                if let Some(c) = self.schemas.get(&e.id)
                    && c.references
                        .iter()
                        .any(|r| r.subject == subject && r.version == version)
                {
                    ids.insert(e.id);
                }
            }
        }
        ids.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_record(subject: &str, version: i32, id: i32, deleted: bool) -> (String, String) {
        (
            Key::Schema {
                subject: subject.into(),
                version,
            }
            .to_json(),
            format!(
                "{{\"subject\":\"{subject}\",\"version\":{version},\"id\":{id},\"schema\":\"\\\"string\\\"\",\"deleted\":{deleted}}}"
            ),
        )
    }

    #[test]
    fn guids_are_the_md5_of_text_and_references_and_index_ids() {
        let plain = SchemaContent {
            schema_type: SchemaType::Avro,
            schema: "\"string\"".into(),
            references: Vec::new(),
            metadata: None,
            rule_set: None,
        };
        // The values Python's hashlib gives for the same bytes.
        let uuid = |c: &SchemaContent| uuid::Uuid::from_bytes(c.guid()).to_string();
        assert_eq!(uuid(&plain), "095d71cf-1255-6b9d-5e33-0ad575b3df5d");
        let referencing = SchemaContent {
            schema: r#"{"type":"record"}"#.into(),
            references: vec![Reference {
                name: "Other".into(),
                subject: "other-value".into(),
                version: 3,
            }],
            ..plain.clone()
        };
        assert_eq!(uuid(&referencing), "e710f8f3-2cfa-421c-442a-80a288da562d");

        let mut state = State::default();
        let (k, v) = schema_record("s-value", 1, 7, false);
        state.apply(k.as_bytes(), Some(v.as_bytes())).unwrap();
        assert_eq!(state.id_of_guid(&plain.guid()), Some(7));
        // Gone with the last version that uses the id.
        state.apply(k.as_bytes(), None).unwrap();
        assert_eq!(state.id_of_guid(&plain.guid()), None);
    }

    #[test]
    fn keys_are_written_in_confluents_field_order() {
        assert_eq!(
            Key::Schema {
                subject: "pb-value".into(),
                version: 1
            }
            .to_json(),
            r#"{"keytype":"SCHEMA","subject":"pb-value","version":1,"magic":1}"#
        );
        assert_eq!(
            Key::Config { subject: None }.to_json(),
            r#"{"keytype":"CONFIG","magic":0}"#
        );
        assert_eq!(
            Key::DeleteSubject {
                subject: "a\"b".into()
            }
            .to_json(),
            r#"{"keytype":"DELETE_SUBJECT","subject":"a\"b","magic":0}"#
        );
        assert_eq!(Key::Noop.to_json(), r#"{"keytype":"NOOP","magic":0}"#);
    }

    #[test]
    fn karapace_global_config_key_is_read() {
        let k = Key::parse(br#"{"keytype":"CONFIG","subject":null,"magic":0}"#);
        assert_eq!(k, Ok(Key::Config { subject: None }));
    }

    #[test]
    fn replay_of_deletes_and_tombstones() {
        let mut s = State::default();
        for (k, v) in [
            schema_record("a", 1, 1, false),
            schema_record("a", 2, 2, false),
            schema_record("b", 1, 1, false),
        ] {
            s.apply(k.as_bytes(), Some(v.as_bytes())).unwrap();
        }
        assert_eq!(s.max_id, 2);
        assert_eq!(s.next_id(), 3);
        s.apply(
            Key::DeleteSubject {
                subject: "a".into(),
            }
            .to_json()
            .as_bytes(),
            Some(br#"{"subject":"a","version":2}"#),
        )
        .unwrap();
        assert!(s.subjects["a"].values().all(|e| e.deleted));
        // Hard-deleting a's versions keeps id 1 (b uses it) and forgets id 2.
        for v in [1, 2] {
            let key = Key::Schema {
                subject: "a".into(),
                version: v,
            };
            s.apply(key.to_json().as_bytes(), None).unwrap();
        }
        assert!(!s.subjects.contains_key("a"));
        assert!(s.schemas.contains_key(&1));
        assert!(!s.schemas.contains_key(&2));
        // Ids are never reused.
        assert_eq!(s.next_id(), 3);
    }

    #[test]
    fn unknown_key_types_and_properties_are_ignored() {
        let mut s = State::default();
        s.apply(
            br#"{"keytype":"CONTEXT","tenant":"default","context":".x"}"#,
            Some(b"{}"),
        )
        .unwrap();
        s.apply(
            Key::Schema {
                subject: "s".into(),
                version: 1,
            }
            .to_json()
            .as_bytes(),
            Some(br#"{"subject":"s","version":1,"id":7,"schema":"\"int\"","deleted":false,"schemaType":"AVRO","md5":"x","ts":1}"#),
        )
        .unwrap();
        assert_eq!(s.schemas[&7].schema_type, SchemaType::Avro);
    }
}
