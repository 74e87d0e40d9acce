//! Reading configuration files: Java `.properties` (as Kafka Connect reads them) and the JSON
//! body of the Connect REST API (`{"name": .., "config": {..}}` or a flat object).
//!
//! Written by hand because the format is small and the crates that parse it either follow
//! another dialect (INI) or are unmaintained; the rules below are those of
//! `java.util.Properties.load`.

use std::collections::BTreeMap;

use crate::ConfigError;

/// An ordered map of raw key/value strings, the form every config source is reduced to.
pub type RawConfig = BTreeMap<String, String>;

/// Parses Java properties text: `key=value`, `key: value` or `key value`; `#`/`!` comments;
/// backslash line continuation; `\t \n \r \f \uXXXX` escapes. Later keys win, as in Java.
pub fn parse_properties(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    let mut out = RawConfig::new();
    let mut logical = String::new();
    let mut start_line = 0usize;
    for (index, physical) in text.lines().enumerate() {
        let trimmed = physical.trim_start_matches([' ', '\t', '\u{c}']);
        if logical.is_empty() {
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                continue;
            }
            start_line = index + 1;
        }
        // An odd number of trailing backslashes continues the logical line.
        let trailing = trimmed.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&trimmed[..trimmed.len() - 1]);
            continue;
        }
        logical.push_str(trimmed);
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|msg| ConfigError::Syntax {
            origin: origin.to_string(),
            line: start_line,
            message: msg,
        })?;
        let value = unescape(value).map_err(|msg| ConfigError::Syntax {
            origin: origin.to_string(),
            line: start_line,
            message: msg,
        })?;
        out.insert(key, value);
        logical.clear();
    }
    if !logical.is_empty() {
        let (key, value) = split_key_value(&logical);
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let key_end = i.min(bytes.len());
    let mut rest = &line[key_end..];
    rest = rest.trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(stripped) = rest.strip_prefix(['=', ':']) {
        rest = stripped.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (&line[..key_end], rest)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .map_err(|_| format!("malformed \\uXXXX escape: \\u{hex}"))?;
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// Parses a connector config in JSON: either `{"name": "n", "config": {...}}` as posted to
/// `POST /connectors`, or a flat `{"key": "value"}` object as sent to `PUT .../config`.
/// Non-string scalar values are accepted and turned into their JSON text, as Connect does.
pub fn parse_connector_json(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
        origin: origin.to_string(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let syntax = |message: &str| ConfigError::Syntax {
        origin: origin.to_string(),
        line: 1,
        message: message.to_string(),
    };
    let object = value
        .as_object()
        .ok_or_else(|| syntax("expected a JSON object"))?;
    let mut out = RawConfig::new();
    let (config, name) = match object.get("config") {
        Some(cfg) => (
            cfg.as_object()
                .ok_or_else(|| syntax("\"config\" must be a JSON object"))?,
            object.get("name").and_then(|n| n.as_str()),
        ),
        None => (object, None),
    };
    for (key, value) in config {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(syntax(&format!(
                    "value of \"{key}\" must be a string, number or boolean"
                )));
            }
            other => other.to_string(),
        };
        out.insert(key.clone(), text);
    }
    if let Some(name) = name {
        match out.get("name") {
            Some(inner) if inner != name => {
                return Err(syntax(&format!(
                    "\"name\" ({name}) differs from config.name ({inner})"
                )));
            }
            _ => {
                out.insert("name".to_string(), name.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_rules() {
        let text = "# comment\n! also comment\n  a=1\nb : two words \nc three\nd=x\\\n   y\ne=\\u0041\\tB\nf\n";
        let p = parse_properties(text, "t").unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "two words ");
        assert_eq!(p["c"], "three");
        assert_eq!(p["d"], "xy");
        assert_eq!(p["e"], "A\tB");
        assert_eq!(p["f"], "");
    }

    #[test]
    fn later_keys_win() {
        let p = parse_properties("a=1\na=2\n", "t").unwrap();
        assert_eq!(p["a"], "2");
    }

    #[test]
    fn json_forms() {
        let p = parse_connector_json(
            r#"{"name":"hdfs","config":{"flush.size":3,"topics":"a,b","hive.integration":false}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(p["name"], "hdfs");
        assert_eq!(p["flush.size"], "3");
        assert_eq!(p["hive.integration"], "false");
        let flat = parse_connector_json(r#"{"name":"x","topics":"t"}"#, "t").unwrap();
        assert_eq!(flat["topics"], "t");
        assert!(parse_connector_json("[1]", "t").is_err());
        assert!(parse_connector_json(r#"{"name":"a","config":{"name":"b"}}"#, "t").is_err());
    }
}
