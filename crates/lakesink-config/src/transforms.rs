//! Kafka Connect's single message transforms and predicates: the one table of their classes
//! and keys (names, kinds, defaults and docs as in Kafka 4.x's `ConfigDef`s), and the parsing
//! of a connector's `transforms`/`predicates` keys into a validated [`TransformsConfig`].
//! `lakesink-transform` runs what is configured here; `docs/configuration.md` and the REST
//! API's plugin listing are generated from the same table.

use std::collections::BTreeMap;

use crate::keys::{Choice, DefaultValue, KeyDef, Kind, Scope, Support};
use crate::{ConfigError, check_value};

/// Whether a plugin is a transformation or a predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    Transformation,
    Predicate,
}

/// The built-in transformation or predicate a class names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Cast,
    DropHeaders,
    ExtractField,
    Filter,
    Flatten,
    HeaderFrom,
    HoistField,
    InsertField,
    InsertHeader,
    MaskField,
    RegexRouter,
    ReplaceField,
    SetSchemaMetadata,
    TimestampConverter,
    TimestampRouter,
    ValueToKey,
    TopicNameMatches,
    HasHeaderKey,
    RecordIsTombstone,
}

/// One transformation or predicate class and its keys.
#[derive(Debug)]
pub struct PluginDef {
    pub builtin: Builtin,
    /// The Java class name (without `$Key`/`$Value`).
    pub class: &'static str,
    pub kind: PluginKind,
    /// The class exists as `$Key` and `$Value` variants only.
    pub variants: bool,
    pub keys: &'static [KeyDef],
    pub doc: &'static str,
}

impl PluginDef {
    /// The simple class name (`RegexRouter`), which Connect also accepts as an alias.
    pub fn simple_name(&self) -> &'static str {
        self.class.rsplit('.').next().unwrap_or(self.class)
    }

    /// The class names a connector may configure: with `$Key`/`$Value` where they exist.
    pub fn class_names(&self) -> Vec<String> {
        if self.variants {
            vec![
                format!("{}$Key", self.class),
                format!("{}$Value", self.class),
            ]
        } else {
            vec![self.class.to_string()]
        }
    }
}

const T: &str = "Transforms";

const fn k(name: &'static str, kind: Kind, default: DefaultValue, doc: &'static str) -> KeyDef {
    KeyDef {
        name,
        scope: Scope::Connector,
        group: T,
        kind,
        default,
        support: Support::Supported,
        doc,
    }
}

const fn choice(value: &'static str) -> Choice {
    Choice {
        value,
        aliases: &[],
        available: true,
    }
}

const REPLACE_NULL: KeyDef = k(
    "replace.null.with.default",
    Kind::Bool,
    DefaultValue::Value("true"),
    "Whether a null field that has a default in its schema is replaced by that default.",
);
const FIELD_SYNTAX: KeyDef = k(
    "field.syntax.version",
    Kind::Choice(&[choice("V1"), choice("V2")]),
    DefaultValue::Value("V1"),
    "V1: field names are top-level names. V2: dotted paths into nested structs; backticks quote a name containing dots (KIP-821).",
);

/// Every built-in transformation and predicate of Kafka 4.x.
pub static PLUGINS: &[PluginDef] = &[
    PluginDef {
        builtin: Builtin::Cast,
        class: "org.apache.kafka.connect.transforms.Cast",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "spec",
                Kind::List,
                DefaultValue::Required,
                "Comma-separated `field:type` pairs, or one type to cast the whole value. Types: int8, int16, int32, int64, float32, float64, boolean, string.",
            ),
            REPLACE_NULL,
        ],
        doc: "Casts fields, or the whole value, to another primitive type.",
    },
    PluginDef {
        builtin: Builtin::DropHeaders,
        class: "org.apache.kafka.connect.transforms.DropHeaders",
        kind: PluginKind::Transformation,
        variants: false,
        keys: &[k(
            "headers",
            Kind::List,
            DefaultValue::Required,
            "The names of the headers to remove.",
        )],
        doc: "Removes headers by name.",
    },
    PluginDef {
        builtin: Builtin::ExtractField,
        class: "org.apache.kafka.connect.transforms.ExtractField",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "field",
                Kind::NonEmpty,
                DefaultValue::Required,
                "The field to extract.",
            ),
            FIELD_SYNTAX,
            REPLACE_NULL,
        ],
        doc: "Replaces the value with one of its fields.",
    },
    PluginDef {
        builtin: Builtin::Filter,
        class: "org.apache.kafka.connect.transforms.Filter",
        kind: PluginKind::Transformation,
        variants: false,
        keys: &[],
        doc: "Drops every record it is applied to; use it with a predicate.",
    },
    PluginDef {
        builtin: Builtin::Flatten,
        class: "org.apache.kafka.connect.transforms.Flatten",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[k(
            "delimiter",
            Kind::String,
            DefaultValue::Value("."),
            "Put between a parent's and a child's name.",
        )],
        doc: "Flattens nested structs into top-level fields named `parent<delimiter>child`; arrays stay as they are.",
    },
    PluginDef {
        builtin: Builtin::HeaderFrom,
        class: "org.apache.kafka.connect.transforms.HeaderFrom",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "fields",
                Kind::List,
                DefaultValue::Required,
                "The fields whose values become headers.",
            ),
            k(
                "headers",
                Kind::List,
                DefaultValue::Required,
                "The header names, in the order of `fields`.",
            ),
            k(
                "operation",
                Kind::Choice(&[choice("move"), choice("copy")]),
                DefaultValue::Required,
                "`move` removes the fields from the value; `copy` keeps them.",
            ),
            REPLACE_NULL,
        ],
        doc: "Copies or moves fields into headers.",
    },
    PluginDef {
        builtin: Builtin::HoistField,
        class: "org.apache.kafka.connect.transforms.HoistField",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[k(
            "field",
            Kind::NonEmpty,
            DefaultValue::Required,
            "The name of the single field of the new struct.",
        )],
        doc: "Wraps the value into a struct with one field.",
    },
    PluginDef {
        builtin: Builtin::InsertField,
        class: "org.apache.kafka.connect.transforms.InsertField",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "topic.field",
                Kind::String,
                DefaultValue::Unset,
                "Field for the topic name; suffix `!` makes it required, `?` (the default) optional.",
            ),
            k(
                "partition.field",
                Kind::String,
                DefaultValue::Unset,
                "Field for the Kafka partition.",
            ),
            k(
                "offset.field",
                Kind::String,
                DefaultValue::Unset,
                "Field for the Kafka offset.",
            ),
            k(
                "timestamp.field",
                Kind::String,
                DefaultValue::Unset,
                "Field for the record timestamp (a Connect Timestamp).",
            ),
            k(
                "static.field",
                Kind::String,
                DefaultValue::Unset,
                "Field for `static.value`.",
            ),
            k(
                "static.value",
                Kind::String,
                DefaultValue::Unset,
                "The value of `static.field`.",
            ),
            REPLACE_NULL,
        ],
        doc: "Adds fields from the record's metadata or a static value.",
    },
    PluginDef {
        builtin: Builtin::InsertHeader,
        class: "org.apache.kafka.connect.transforms.InsertHeader",
        kind: PluginKind::Transformation,
        variants: false,
        keys: &[
            k(
                "header",
                Kind::NonEmpty,
                DefaultValue::Required,
                "The header's name.",
            ),
            k(
                "value.literal",
                Kind::String,
                DefaultValue::Required,
                "The header's value.",
            ),
        ],
        doc: "Adds a header with a literal value.",
    },
    PluginDef {
        builtin: Builtin::MaskField,
        class: "org.apache.kafka.connect.transforms.MaskField",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "fields",
                Kind::List,
                DefaultValue::Required,
                "The fields to mask.",
            ),
            k(
                "replacement",
                Kind::String,
                DefaultValue::Unset,
                "The replacement of numbers and strings; unset: the type's zero (false, 0, empty string, epoch, empty array).",
            ),
            REPLACE_NULL,
        ],
        doc: "Replaces field values with a mask.",
    },
    PluginDef {
        builtin: Builtin::RegexRouter,
        class: "org.apache.kafka.connect.transforms.RegexRouter",
        kind: PluginKind::Transformation,
        variants: false,
        keys: &[
            k(
                "regex",
                Kind::Regex,
                DefaultValue::Required,
                "Matched against the whole topic name.",
            ),
            k(
                "replacement",
                Kind::String,
                DefaultValue::Required,
                "The new topic name; `$1`, `$2`... are the regex's groups.",
            ),
        ],
        doc: "Renames the topic (which names the directory and the files) when the regex matches the whole name.",
    },
    PluginDef {
        builtin: Builtin::ReplaceField,
        class: "org.apache.kafka.connect.transforms.ReplaceField",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "exclude",
                Kind::List,
                DefaultValue::Value(""),
                "Fields to drop; wins over `include`.",
            ),
            k(
                "include",
                Kind::List,
                DefaultValue::Value(""),
                "Fields to keep (empty: all).",
            ),
            k(
                "renames",
                Kind::List,
                DefaultValue::Value(""),
                "`old:new` pairs.",
            ),
            REPLACE_NULL,
        ],
        doc: "Drops, keeps and renames top-level fields.",
    },
    PluginDef {
        builtin: Builtin::SetSchemaMetadata,
        class: "org.apache.kafka.connect.transforms.SetSchemaMetadata",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "schema.name",
                Kind::String,
                DefaultValue::Unset,
                "The schema's new name.",
            ),
            k(
                "schema.version",
                Kind::Int {
                    min: i32::MIN as i64,
                    max: i32::MAX as i64,
                },
                DefaultValue::Unset,
                "The schema's new version.",
            ),
            REPLACE_NULL,
        ],
        doc: "Sets the schema's name and/or version.",
    },
    PluginDef {
        builtin: Builtin::TimestampConverter,
        class: "org.apache.kafka.connect.transforms.TimestampConverter",
        kind: PluginKind::Transformation,
        variants: true,
        keys: &[
            k(
                "field",
                Kind::String,
                DefaultValue::Value(""),
                "The field to convert; empty: the whole value.",
            ),
            k(
                "target.type",
                Kind::Choice(&[
                    choice("string"),
                    choice("unix"),
                    choice("Date"),
                    choice("Time"),
                    choice("Timestamp"),
                ]),
                DefaultValue::Required,
                "The type to convert to.",
            ),
            k(
                "format",
                Kind::String,
                DefaultValue::Value(""),
                "A `java.text.SimpleDateFormat` pattern, needed when the input or the output is a string. Times are UTC.",
            ),
            k(
                "unix.precision",
                Kind::Choice(&[
                    choice("milliseconds"),
                    choice("seconds"),
                    choice("microseconds"),
                    choice("nanoseconds"),
                ]),
                DefaultValue::Value("milliseconds"),
                "The unit of unix times read and written.",
            ),
            REPLACE_NULL,
        ],
        doc: "Converts timestamps between strings, unix times and Connect's Date, Time and Timestamp.",
    },
    PluginDef {
        builtin: Builtin::TimestampRouter,
        class: "org.apache.kafka.connect.transforms.TimestampRouter",
        kind: PluginKind::Transformation,
        variants: false,
        keys: &[
            k(
                "topic.format",
                Kind::String,
                DefaultValue::Value("${topic}-${timestamp}"),
                "The new topic name: `${topic}` and `${timestamp}` are replaced.",
            ),
            k(
                "timestamp.format",
                Kind::String,
                DefaultValue::Value("yyyyMMdd"),
                "A `java.text.SimpleDateFormat` pattern for the record timestamp, in UTC.",
            ),
        ],
        doc: "Renames the topic after the record's timestamp.",
    },
    PluginDef {
        builtin: Builtin::ValueToKey,
        class: "org.apache.kafka.connect.transforms.ValueToKey",
        kind: PluginKind::Transformation,
        variants: false,
        keys: &[
            k(
                "fields",
                Kind::List,
                DefaultValue::Required,
                "The value fields that make up the new key.",
            ),
            REPLACE_NULL,
        ],
        doc: "Replaces the key with fields of the value.",
    },
    PluginDef {
        builtin: Builtin::TopicNameMatches,
        class: "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        kind: PluginKind::Predicate,
        variants: false,
        keys: &[k(
            "pattern",
            Kind::Regex,
            DefaultValue::Required,
            "Matched against the whole topic name.",
        )],
        doc: "True when the topic name matches.",
    },
    PluginDef {
        builtin: Builtin::HasHeaderKey,
        class: "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        kind: PluginKind::Predicate,
        variants: false,
        keys: &[k(
            "name",
            Kind::NonEmpty,
            DefaultValue::Required,
            "The header name.",
        )],
        doc: "True when the record has at least one header with the name.",
    },
    PluginDef {
        builtin: Builtin::RecordIsTombstone,
        class: "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        kind: PluginKind::Predicate,
        variants: false,
        keys: &[],
        doc: "True when the value is null.",
    },
];

/// Which part of a record a transformation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Key,
    Value,
    /// Transformations without variants (routers, headers, `Filter`, `ValueToKey`).
    Record,
}

/// One configured transformation.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformSpec {
    pub alias: String,
    pub plugin: &'static PluginDef,
    pub part: Part,
    /// The transformation's own keys as given (without `transforms.<alias>.`).
    pub settings: BTreeMap<String, String>,
    pub predicate: Option<String>,
    pub negate: bool,
}

impl PartialEq for PluginDef {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class
    }
}

/// One configured predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct PredicateSpec {
    pub alias: String,
    pub plugin: &'static PluginDef,
    pub settings: BTreeMap<String, String>,
}

fn setting<'a>(
    plugin: &'static PluginDef,
    settings: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    match settings.get(name) {
        Some(v) => Some(v.as_str()),
        None => plugin
            .keys
            .iter()
            .find(|k| k.name == name)
            .and_then(|k| match k.default {
                DefaultValue::Value(v) => Some(v),
                _ => None,
            }),
    }
}

fn list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl TransformSpec {
    /// A setting, or its default.
    pub fn get(&self, name: &str) -> Option<&str> {
        setting(self.plugin, &self.settings, name).filter(|v| !v.is_empty())
    }

    /// A list setting's items.
    pub fn list(&self, name: &str) -> Vec<String> {
        list(self.get(name))
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `transforms.<alias>.<name>`, for messages.
    pub fn key(&self, name: &str) -> String {
        format!("transforms.{}.{name}", self.alias)
    }
}

impl PredicateSpec {
    pub fn get(&self, name: &str) -> Option<&str> {
        setting(self.plugin, &self.settings, name).filter(|v| !v.is_empty())
    }
}

/// The transformation chain and predicates of a connector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransformsConfig {
    pub transforms: Vec<TransformSpec>,
    pub predicates: Vec<PredicateSpec>,
}

impl TransformsConfig {
    pub fn is_empty(&self) -> bool {
        self.transforms.is_empty()
    }

    pub fn predicate(&self, alias: &str) -> Option<&PredicateSpec> {
        self.predicates.iter().find(|p| p.alias == alias)
    }
}

/// The plugin `class` names (full or simple name, with `$Key`/`$Value` where they exist).
pub fn find_plugin(kind: PluginKind, class: &str) -> Option<(&'static PluginDef, Part)> {
    let class = class.trim();
    let (base, part) = match class.rsplit_once('$') {
        Some((base, "Key")) => (base, Part::Key),
        Some((base, "Value")) => (base, Part::Value),
        _ => (class, Part::Record),
    };
    let plugin = PLUGINS
        .iter()
        .find(|p| p.kind == kind && (p.class == base || p.simple_name() == base))?;
    match (plugin.variants, part) {
        (true, Part::Record) | (false, Part::Key | Part::Value) => None,
        _ => Some((plugin, part)),
    }
}

/// Aliases in the order given; a repeated alias is an error, as in Connect.
fn aliases(key: &str, value: Option<&String>, errors: &mut Vec<ConfigError>) -> Vec<String> {
    let items = list(value.map(String::as_str));
    let mut seen = Vec::new();
    for a in items {
        if seen.contains(&a) {
            errors.push(ConfigError::Invalid {
                key: key.into(),
                value: value.cloned().unwrap_or_default(),
                expected: format!("unique aliases ('{a}' is listed twice)"),
            });
        } else {
            seen.push(a);
        }
    }
    seen
}

/// The settings under `<prefix><alias>.`, split into the plugin's own and the chain's.
fn group(prefixed: Option<&BTreeMap<String, String>>, alias: &str) -> BTreeMap<String, String> {
    let start = format!("{alias}.");
    prefixed
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            k.strip_prefix(&start)
                .map(|rest| (rest.to_string(), v.clone()))
        })
        .collect()
}

fn allowed_classes(kind: PluginKind) -> String {
    let names: Vec<String> = PLUGINS
        .iter()
        .filter(|p| p.kind == kind)
        .flat_map(|p| p.class_names())
        .collect();
    names.join(", ")
}

/// Checks one plugin's settings against its keys: values, required keys, unknown keys.
fn check_plugin(
    base: &str,
    plugin: &'static PluginDef,
    settings: &BTreeMap<String, String>,
    extra: &[&str],
    unknown_is_error: bool,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) {
    for (name, value) in settings {
        if extra.contains(&name.as_str()) {
            continue;
        }
        let full = format!("{base}.{name}");
        match plugin.keys.iter().find(|k| k.name == name) {
            Some(def) => {
                if let Err(ConfigError::Invalid {
                    value, expected, ..
                }) = check_value(def, value)
                {
                    errors.push(ConfigError::Invalid {
                        key: full,
                        value,
                        expected,
                    });
                }
            }
            None => {
                let known: Vec<&str> = plugin
                    .keys
                    .iter()
                    .map(|k| k.name)
                    .chain(extra.iter().copied())
                    .collect();
                let suggestion = crate::closest(name, known.iter().copied())
                    .map(|k| format!(" (did you mean '{base}.{k}'?)"))
                    .unwrap_or_default();
                let e = ConfigError::Unknown {
                    key: full,
                    suggestion: format!(
                        "{suggestion}; {} takes {}",
                        plugin.simple_name(),
                        if known.is_empty() {
                            "no keys".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                };
                if unknown_is_error {
                    errors.push(e);
                } else {
                    warnings.push(format!("{e}; skipped"));
                }
            }
        }
    }
    for def in plugin
        .keys
        .iter()
        .filter(|k| k.default == DefaultValue::Required)
    {
        // A required string may be empty (a replacement by nothing); other kinds may not.
        let missing = match settings.get(def.name) {
            None => true,
            Some(v) => v.trim().is_empty() && !matches!(def.kind, Kind::String),
        };
        if missing {
            errors.push(ConfigError::Missing {
                key: format!("{base}.{}", def.name),
                hint: def.kind.describe(),
            });
        }
    }
}

/// Checks that depend on several keys of one transformation, as each SMT's `configure` does.
fn check_transform(spec: &TransformSpec, errors: &mut Vec<ConfigError>) {
    let conflict = |errors: &mut Vec<ConfigError>, m: String| errors.push(ConfigError::Conflict(m));
    match spec.plugin.builtin {
        Builtin::Cast => {
            let spec_items = spec.list("spec");
            let types = [
                "int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string",
            ];
            let whole = spec_items.len() == 1 && !spec_items[0].contains(':');
            for item in &spec_items {
                let ty = match item.split_once(':') {
                    Some((f, t)) if !f.trim().is_empty() => t.trim(),
                    None if whole => item.as_str(),
                    _ => "",
                };
                if !types.contains(&ty.to_ascii_lowercase().as_str()) {
                    errors.push(ConfigError::Invalid {
                        key: spec.key("spec"),
                        value: item.clone(),
                        expected: format!(
                            "field:type pairs or one type for the whole value; types: {}",
                            types.join(", ")
                        ),
                    });
                }
            }
        }
        Builtin::HeaderFrom if spec.list("fields").len() != spec.list("headers").len() => {
            conflict(
                errors,
                format!(
                    "{} and {} must have the same number of elements",
                    spec.key("fields"),
                    spec.key("headers")
                ),
            );
        }
        Builtin::InsertField => {
            let any = [
                "topic.field",
                "partition.field",
                "offset.field",
                "timestamp.field",
                "static.field",
            ]
            .iter()
            .any(|k| spec.get(k).is_some());
            if !any {
                conflict(
                    errors,
                    format!(
                        "{}: no field insertion configured (set topic.field, partition.field, offset.field, timestamp.field or static.field)",
                        spec.key("type")
                    ),
                );
            }
            if spec.get("static.field").is_some() != spec.get("static.value").is_some() {
                conflict(
                    errors,
                    format!(
                        "{} and {} go together",
                        spec.key("static.field"),
                        spec.key("static.value")
                    ),
                );
            }
        }
        Builtin::ReplaceField => {
            for item in spec.list("renames") {
                if item
                    .split_once(':')
                    .is_none_or(|(a, b)| a.trim().is_empty() || b.trim().is_empty())
                {
                    errors.push(ConfigError::Invalid {
                        key: spec.key("renames"),
                        value: item,
                        expected: "old:new pairs".into(),
                    });
                }
            }
        }
        Builtin::SetSchemaMetadata
            if spec.get("schema.name").is_none() && spec.get("schema.version").is_none() =>
        {
            conflict(
                errors,
                format!(
                    "{}: neither schema.name nor schema.version is set",
                    spec.key("type")
                ),
            );
        }
        Builtin::TimestampConverter => {
            let target = spec.get("target.type").unwrap_or_default();
            if target == "string" && spec.get("format").is_none() {
                conflict(
                    errors,
                    format!(
                        "{}: TimestampConverter requires a format when target.type is string",
                        spec.key("format")
                    ),
                );
            }
        }
        _ => {}
    }
}

/// The transforms of a connector's raw keys alone, with every problem found (what
/// [`crate::load`] does as part of a whole connector).
pub fn from_connector(raw: &crate::RawConfig) -> Result<TransformsConfig, Vec<ConfigError>> {
    let under = |prefix: &str| -> BTreeMap<String, String> {
        raw.iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|r| (r.to_string(), v.clone())))
            .collect()
    };
    let (t, p) = (under("transforms."), under("predicates."));
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let config = parse(
        raw.get("transforms"),
        raw.get("predicates"),
        Some(&t),
        Some(&p),
        true,
        &mut errors,
        &mut warnings,
    );
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// Parses `transforms`, `predicates` and their prefixed settings.
pub(crate) fn parse(
    transforms: Option<&String>,
    predicates: Option<&String>,
    transform_settings: Option<&BTreeMap<String, String>>,
    predicate_settings: Option<&BTreeMap<String, String>>,
    unknown_is_error: bool,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
) -> TransformsConfig {
    let mut config = TransformsConfig::default();
    let predicate_aliases = aliases("predicates", predicates, errors);
    for alias in &predicate_aliases {
        let base = format!("predicates.{alias}");
        let settings = group(predicate_settings, alias);
        let Some(class) = settings.get("type") else {
            errors.push(ConfigError::Missing {
                key: format!("{base}.type"),
                hint: format!("one of {}", allowed_classes(PluginKind::Predicate)),
            });
            continue;
        };
        let Some((plugin, _)) = find_plugin(PluginKind::Predicate, class) else {
            errors.push(ConfigError::Invalid {
                key: format!("{base}.type"),
                value: class.clone(),
                expected: format!("one of {}", allowed_classes(PluginKind::Predicate)),
            });
            continue;
        };
        check_plugin(
            &base,
            plugin,
            &settings,
            &["type"],
            unknown_is_error,
            errors,
            warnings,
        );
        let mut settings = settings;
        settings.remove("type");
        config.predicates.push(PredicateSpec {
            alias: alias.clone(),
            plugin,
            settings,
        });
    }
    let mut used_predicates = Vec::new();
    for alias in aliases("transforms", transforms, errors) {
        let base = format!("transforms.{alias}");
        let settings = group(transform_settings, &alias);
        let Some(class) = settings.get("type").cloned() else {
            errors.push(ConfigError::Missing {
                key: format!("{base}.type"),
                hint: format!("one of {}", allowed_classes(PluginKind::Transformation)),
            });
            continue;
        };
        let Some((plugin, part)) = find_plugin(PluginKind::Transformation, &class) else {
            errors.push(ConfigError::Invalid {
                key: format!("{base}.type"),
                value: class,
                expected: format!("one of {}", allowed_classes(PluginKind::Transformation)),
            });
            continue;
        };
        check_plugin(
            &base,
            plugin,
            &settings,
            &["type", "predicate", "negate"],
            unknown_is_error,
            errors,
            warnings,
        );
        let predicate = settings
            .get("predicate")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        if let Some(p) = &predicate {
            if !predicate_aliases.contains(p) {
                errors.push(ConfigError::Invalid {
                    key: format!("{base}.predicate"),
                    value: p.clone(),
                    expected: format!(
                        "an alias listed in predicates ({})",
                        if predicate_aliases.is_empty() {
                            "none is".to_string()
                        } else {
                            predicate_aliases.join(", ")
                        }
                    ),
                });
            }
            used_predicates.push(p.clone());
        }
        let negate = match settings
            .get("negate")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                errors.push(ConfigError::Invalid {
                    key: format!("{base}.negate"),
                    value: v,
                    expected: "true or false".into(),
                });
                false
            }
        };
        if negate && predicate.is_none() {
            errors.push(ConfigError::Conflict(format!(
                "{base}.negate is set but {base}.predicate is not"
            )));
        }
        let mut own = settings;
        for k in ["type", "predicate", "negate"] {
            own.remove(k);
        }
        let spec = TransformSpec {
            alias: alias.clone(),
            plugin,
            part,
            settings: own,
            predicate,
            negate,
        };
        check_transform(&spec, errors);
        if part == Part::Key || plugin.builtin == Builtin::ValueToKey {
            warnings.push(format!(
                "{base}.type={class} has no effect on the files: Lakesink writes record values, not keys"
            ));
        }
        config.transforms.push(spec);
    }
    for alias in &predicate_aliases {
        if !used_predicates.contains(alias) {
            warnings.push(format!(
                "predicates.{alias} is not used by any transformation"
            ));
        }
    }
    for (prefix, settings, listed) in [
        (
            "transforms",
            transform_settings,
            &config
                .transforms
                .iter()
                .map(|t| t.alias.clone())
                .collect::<Vec<_>>(),
        ),
        ("predicates", predicate_settings, &predicate_aliases),
    ] {
        let mut strays: Vec<&str> = settings
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.split_once('.').map(|(a, _)| a))
            .filter(|a| !listed.iter().any(|l| l == a))
            .collect();
        strays.dedup();
        for a in strays {
            // An alias missing from the list because its type was invalid is reported above.
            if errors.iter().any(|e| {
                e.key()
                    .is_some_and(|k| k.starts_with(&format!("{prefix}.{a}.")))
            }) {
                continue;
            }
            warnings.push(format!(
                "{prefix}.{a}.* is ignored: '{a}' is not listed in {prefix}"
            ));
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_map(pairs: &[(&str, &str)]) -> (TransformsConfig, Vec<ConfigError>, Vec<String>) {
        let mut t = BTreeMap::new();
        let mut p = BTreeMap::new();
        let mut transforms = None;
        let mut predicates = None;
        for (k, v) in pairs {
            if *k == "transforms" {
                transforms = Some(v.to_string());
            } else if *k == "predicates" {
                predicates = Some(v.to_string());
            } else if let Some(rest) = k.strip_prefix("transforms.") {
                t.insert(rest.to_string(), v.to_string());
            } else if let Some(rest) = k.strip_prefix("predicates.") {
                p.insert(rest.to_string(), v.to_string());
            }
        }
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        let c = parse(
            transforms.as_ref(),
            predicates.as_ref(),
            Some(&t),
            Some(&p),
            true,
            &mut errors,
            &mut warnings,
        );
        (c, errors, warnings)
    }

    #[test]
    fn a_chain_with_a_predicate_parses() {
        let (c, errors, warnings) = parse_map(&[
            ("transforms", "route, mask"),
            (
                "transforms.route.type",
                "org.apache.kafka.connect.transforms.RegexRouter",
            ),
            ("transforms.route.regex", "(.*)-raw"),
            ("transforms.route.replacement", "$1"),
            ("transforms.route.predicate", "isRaw"),
            ("transforms.mask.type", "MaskField$Value"),
            ("transforms.mask.fields", "ssn"),
            ("predicates", "isRaw"),
            (
                "predicates.isRaw.type",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ),
            ("predicates.isRaw.pattern", ".*-raw"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.transforms.len(), 2);
        assert_eq!(c.transforms[0].plugin.builtin, Builtin::RegexRouter);
        assert_eq!(c.transforms[0].predicate.as_deref(), Some("isRaw"));
        assert_eq!(c.transforms[1].part, Part::Value);
        assert_eq!(c.transforms[1].list("fields"), vec!["ssn"]);
        assert_eq!(c.predicates[0].get("pattern"), Some(".*-raw"));
    }

    #[test]
    fn mistakes_name_their_keys() {
        let (_, errors, _) = parse_map(&[
            ("transforms", "a,b,c,d,a"),
            (
                "transforms.a.type",
                "org.apache.kafka.connect.transforms.Cast",
            ),
            ("transforms.b.type", "RegexRouter"),
            ("transforms.b.regex", "("),
            ("transforms.b.replacement", "x"),
            ("transforms.b.predicate", "nope"),
            ("transforms.c.type", "MaskField$Value"),
            ("transforms.c.feilds", "x"),
            ("transforms.d.type", "InsertField$Value"),
        ]);
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("transforms: invalid value 'a,b,c,d,a'"), "{text:#?}");
        assert!(
            has(
                "transforms.a.type: invalid value 'org.apache.kafka.connect.transforms.Cast': expected one of"
            ),
            "{text:#?}"
        );
        assert!(has("transforms.b.regex: invalid value '('"), "{text:#?}");
        assert!(
            has("transforms.b.predicate: invalid value 'nope'"),
            "{text:#?}"
        );
        assert!(
            has(
                "transforms.c.feilds: unknown configuration key (did you mean 'transforms.c.fields'?)"
            ),
            "{text:#?}"
        );
        assert!(has("transforms.c.fields: missing"), "{text:#?}");
        assert!(
            has("transforms.d.type: no field insertion configured"),
            "{text:#?}"
        );
    }

    #[test]
    fn key_variants_are_accepted_with_a_warning() {
        let (c, errors, warnings) = parse_map(&[
            ("transforms", "k"),
            (
                "transforms.k.type",
                "org.apache.kafka.connect.transforms.ExtractField$Key",
            ),
            ("transforms.k.field", "id"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.transforms[0].part, Part::Key);
        assert!(warnings[0].contains("no effect"), "{warnings:?}");
    }

    #[test]
    fn every_class_is_found_by_its_names() {
        for p in PLUGINS {
            for name in p.class_names() {
                assert!(find_plugin(p.kind, &name).is_some(), "{name}");
                let simple = name.rsplit('.').next().unwrap_or_default();
                assert!(find_plugin(p.kind, simple).is_some(), "{simple}");
            }
        }
        assert!(find_plugin(PluginKind::Transformation, "Cast").is_none());
        assert!(find_plugin(PluginKind::Transformation, "RegexRouter$Value").is_none());
    }
}
