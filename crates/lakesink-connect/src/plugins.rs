//! `/connector-plugins`: the plugins Lakesink has built in, their configuration definitions
//! and `.../config/validate`, all generated from the one key table in `lakesink-config`.

use std::collections::BTreeMap;

use lakesink_config::keys::{self, DefaultValue, KeyDef, Kind, Scope, Support};
use lakesink_config::transforms::{self, PluginKind};
use lakesink_config::{ConfigErrors, RawConfig};
use serde_json::{Value, json};

/// A connector plugin: the class clients name, with the aliases that mean the same.
pub struct Plugin {
    pub class: &'static str,
    pub aliases: &'static [&'static str],
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The connector classes Lakesink runs (all the same sink), from the key table's choices.
pub fn connector_plugins() -> Vec<Plugin> {
    keys::CONNECTOR_CLASSES
        .iter()
        .filter(|c| c.available)
        .filter_map(|c| {
            let (class, aliases) = c.aliases.split_first()?;
            Some(Plugin { class, aliases })
        })
        .collect()
}

/// The other plugins (`?connectorsOnly=false`): the converters, from the key table, and the
/// transformations and predicates, from the transform table.
pub fn other_plugins() -> Vec<(String, &'static str)> {
    let converters = keys::CONVERTERS
        .iter()
        .filter(|c| c.available)
        .filter_map(|c| {
            c.aliases
                .first()
                .map(|class| (class.to_string(), "converter"))
        });
    let transforms = transforms::PLUGINS.iter().flat_map(|p| {
        let kind = match p.kind {
            PluginKind::Transformation => "transformation",
            PluginKind::Predicate => "predicate",
        };
        p.class_names().into_iter().map(move |c| (c, kind))
    });
    let mut out: Vec<(String, &'static str)> = converters.chain(transforms).collect();
    out.sort();
    out
}

/// `ConfigKeyInfo` of a transformation's or predicate's own keys, as Connect lists a
/// plugin's `ConfigDef` (no group, order -1); `None` when `name` is no such class.
pub fn transform_definitions(name: &str) -> Option<Vec<Value>> {
    let (plugin, _) = transforms::find_plugin(PluginKind::Transformation, name)
        .or_else(|| transforms::find_plugin(PluginKind::Predicate, name))?;
    Some(
        plugin
            .keys
            .iter()
            .map(|def| key_info(def, def.doc.to_string(), Value::Null, -1))
            .collect(),
    )
}

/// Connect's `ConfigKeyInfo` of one key.
fn key_info(def: &KeyDef, documentation: String, group: Value, order: i64) -> Value {
    json!({
        "name": def.name,
        "type": type_name(&def.kind),
        "required": def.default == DefaultValue::Required,
        "default_value": default_json(def),
        "importance": if def.default == DefaultValue::Required { "HIGH" } else { "MEDIUM" },
        "documentation": documentation,
        "group": group,
        "width": "NONE",
        "display_name": def.name,
        "dependents": [],
        "order": order,
    })
}

/// The plugin `name` names: its class, its simple name, or the simple name without
/// `Connector` (Connect's alias rules).
pub fn find_plugin(name: &str) -> Option<Plugin> {
    connector_plugins().into_iter().find(|p| {
        let simple = p.class.rsplit('.').next().unwrap_or(p.class);
        name == p.class
            || name == simple
            || Some(name) == simple.strip_suffix("Connector")
            || p.aliases.contains(&name)
    })
}

/// Connect's name for a key's type.
fn type_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Int { max, .. } if *max > i32::MAX as i64 => "LONG",
        Kind::Int { .. } => "INT",
        Kind::Bool => "BOOLEAN",
        Kind::List => "LIST",
        Kind::String
        | Kind::NonEmpty
        | Kind::Choice(_)
        | Kind::TimeZone
        | Kind::Regex
        | Kind::StoreUrl => "STRING",
    }
}

/// The connector keys a connector config may hold, in documentation order.
fn connector_keys() -> impl Iterator<Item = &'static KeyDef> {
    keys::KEYS.iter().filter(|k| k.scope == Scope::Connector)
}

fn default_json(def: &KeyDef) -> Value {
    match def.default {
        DefaultValue::Value(v) => Value::String(v.to_string()),
        DefaultValue::Unset => Value::Null,
        // Connect shows a required key's default as null too.
        DefaultValue::Required => Value::Null,
    }
}

fn documentation(def: &KeyDef) -> String {
    match def.support {
        Support::Supported => def.doc.to_string(),
        Support::NoEffect(why) => format!("{} No effect in Lakesink: {why}.", def.doc),
        Support::NotYet => format!(
            "{} Not supported by Lakesink yet: only the default is accepted.",
            def.doc
        ),
    }
}

/// The groups in order of first appearance.
fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in connector_keys() {
        if !out.contains(&k.group) {
            out.push(k.group);
        }
    }
    out
}

/// `ConfigKeyInfo` of every connector key (`GET /connector-plugins/{p}/config`).
pub fn definitions() -> Vec<Value> {
    let mut order_in_group: BTreeMap<&str, i64> = BTreeMap::new();
    connector_keys()
        .map(|def| {
            let order = order_in_group.entry(def.group).or_insert(0);
            *order += 1;
            key_info(def, documentation(def), json!(def.group), *order)
        })
        .collect()
}

/// `ConfigInfos` for `config` checked against the worker (`PUT .../config/validate`): every
/// connector key with its value and errors, then any key the table does not know.
pub fn validation(plugin: &Plugin, config: &RawConfig, result: &Result<(), ConfigErrors>) -> Value {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut general: Vec<String> = Vec::new();
    if let Err(ConfigErrors(list)) = result {
        for e in list {
            match e.key() {
                Some(key) => errors.entry(key.to_string()).or_default().push(e.detail()),
                None => general.push(e.to_string()),
            }
        }
    }
    // Problems that belong to no key are shown under connector.class, as Connect shows a
    // connector's own validation failures.
    if !general.is_empty() {
        errors
            .entry("connector.class".to_string())
            .or_default()
            .extend(general);
    }
    let definitions = definitions();
    let mut configs = Vec::new();
    let mut listed = std::collections::BTreeSet::new();
    for (def, definition) in connector_keys().zip(definitions) {
        listed.insert(def.name.to_string());
        let value = config
            .get(def.name)
            .cloned()
            .map(Value::String)
            .unwrap_or_else(|| match def.default {
                DefaultValue::Value(v) => Value::String(v.to_string()),
                _ => Value::Null,
            });
        let recommended: Vec<&str> = match &def.kind {
            Kind::Choice(choices) => choices
                .iter()
                .filter(|c| c.available)
                .map(|c| c.aliases.first().copied().unwrap_or(c.value))
                .collect(),
            Kind::Bool => vec!["true", "false"],
            _ => Vec::new(),
        };
        configs.push(json!({
            "definition": definition,
            "value": {
                "name": def.name,
                "value": value,
                "recommended_values": recommended,
                "errors": errors.remove(def.name).unwrap_or_default(),
                "visible": true,
            }
        }));
    }
    // Prefixed keys (consumer.override.*, key.converter.*, ...) and unknown keys: shown with
    // their value only when they carry an error, as Connect lists undefined keys.
    for (key, errs) in errors {
        if listed.contains(&key) {
            continue;
        }
        configs.push(json!({
            "definition": {
                "name": key, "type": "STRING", "required": false, "default_value": null,
                "importance": "LOW", "documentation": "", "group": null, "width": "NONE",
                "display_name": key, "dependents": [], "order": -1,
            },
            "value": {
                "name": key,
                "value": config.get(&key),
                "recommended_values": [],
                "errors": errs,
                "visible": true,
            }
        }));
    }
    let error_count: usize = configs
        .iter()
        .map(|c| c["value"]["errors"].as_array().map_or(0, Vec::len))
        .sum();
    json!({
        "name": plugin.class,
        "error_count": error_count,
        "groups": groups(),
        "configs": configs,
    })
}
