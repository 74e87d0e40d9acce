//! Avro schemas: parsed by `apache-avro` (with referenced named types), stored in a
//! canonical JSON form so that the same schema written with other whitespace or attribute
//! order gets the same id.

use apache_avro::Schema;

/// A parsed Avro schema and the named types it references.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    pub schema: Schema,
    /// The referenced schemas, parsed in the same name space as `schema`.
    pub dependencies: Vec<Schema>,
    canonical: String,
}

impl AvroSchema {
    /// `references`: (full type name, schema text) of referenced named types.
    pub fn parse(text: &str, references: &[(String, String)]) -> Result<AvroSchema, String> {
        let (schema, dependencies) = if references.is_empty() {
            (
                Schema::parse_str(text).map_err(|e| e.to_string())?,
                Vec::new(),
            )
        } else {
            Schema::parse_str_with_list(text, references.iter().map(|(_, t)| t.as_str()))
                .map_err(|e| e.to_string())?
        };
        // apache-avro serialises a parsed schema with a fixed attribute order and without
        // whitespace: the form stored and returned (like Java's Schema.toString()), keeping
        // doc, aliases, defaults and custom properties.
        let canonical = serde_json::to_string(&schema).map_err(|e| e.to_string())?;
        Ok(AvroSchema {
            schema,
            dependencies,
            canonical,
        })
    }

    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The `normalize=true` form. The canonical form is already independent of attribute
    /// order and whitespace; it keeps defaults and aliases, which compatibility needs, so the
    /// two are the same.
    pub fn normalized(&self) -> String {
        self.canonical.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_and_attribute_order_do_not_change_the_stored_form() {
        let a = AvroSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}"#,
            &[],
        )
        .unwrap();
        let b = AvroSchema::parse(
            "{\n  \"fields\": [ {\"default\": 1, \"type\": \"int\", \"name\": \"a\"} ],\n  \"name\": \"R\", \"type\": \"record\"\n}",
            &[],
        )
        .unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert!(a.canonical().contains("\"default\":1"));
    }

    #[test]
    fn references_resolve_named_types() {
        let money = r#"{"type":"record","name":"Money","namespace":"com.acme","fields":[{"name":"cents","type":"long"}]}"#;
        let order = r#"{"type":"record","name":"Order","fields":[{"name":"total","type":"com.acme.Money"}]}"#;
        let parsed = AvroSchema::parse(order, &[("com.acme.Money".into(), money.into())]).unwrap();
        assert_eq!(parsed.dependencies.len(), 1);
        assert!(AvroSchema::parse(order, &[]).is_err());
    }

    #[test]
    fn bad_schemas_are_errors() {
        assert!(AvroSchema::parse("{", &[]).is_err());
        assert!(AvroSchema::parse(r#"{"type":"nope"}"#, &[]).is_err());
        assert!(AvroSchema::parse(r#"{"type":"record","name":"R"}"#, &[]).is_err());
    }
}
