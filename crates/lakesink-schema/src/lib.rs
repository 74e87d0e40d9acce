//! Lakesink schemas: the schema types a Schema Registry holds (Avro, JSON Schema, Protobuf),
//! their parsing with references, validation and canonical forms.
//!
//! Owns: turning a registered schema's text into a checked, parsed schema, and the stored
//! (canonical or normalized) form of it. Shared by `lakesink registry` (registration,
//! compatibility) and the converters (decoding records of a writer schema).
//!
//! Must not touch: HTTP, Kafka, storage, records. Text in, parsed schemas out.

pub mod avro;
pub mod json;
pub mod protobuf;

/// A registered schema's type (`schemaType`; absent means AVRO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub fn parse(s: &str) -> Option<SchemaType> {
        match s.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "JSON" => Some(SchemaType::Json),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

/// A parsed, valid schema of any type.
pub enum ParsedSchema {
    Avro(avro::AvroSchema),
    Json(json::JsonSchema),
    Protobuf(protobuf::ProtobufSchema),
}

impl ParsedSchema {
    /// Parses `text` of type `schema_type`; `references` are the referenced schemas' (name,
    /// text) pairs, dependencies before dependents.
    pub fn parse(
        schema_type: SchemaType,
        text: &str,
        references: &[(String, String)],
    ) -> Result<ParsedSchema, String> {
        Ok(match schema_type {
            SchemaType::Avro => ParsedSchema::Avro(avro::AvroSchema::parse(text, references)?),
            SchemaType::Json => ParsedSchema::Json(json::JsonSchema::parse(text, references)?),
            SchemaType::Protobuf => {
                ParsedSchema::Protobuf(protobuf::ProtobufSchema::parse(text, references)?)
            }
        })
    }

    pub fn schema_type(&self) -> SchemaType {
        match self {
            ParsedSchema::Avro(_) => SchemaType::Avro,
            ParsedSchema::Json(_) => SchemaType::Json,
            ParsedSchema::Protobuf(_) => SchemaType::Protobuf,
        }
    }

    /// The string the registry stores: canonical, or normalized with `normalize`.
    pub fn stored_form(&self, normalize: bool) -> String {
        match (self, normalize) {
            (ParsedSchema::Avro(s), false) => s.canonical(),
            (ParsedSchema::Avro(s), true) => s.normalized(),
            (ParsedSchema::Json(s), false) => s.canonical(),
            (ParsedSchema::Json(s), true) => s.normalized(),
            (ParsedSchema::Protobuf(s), false) => s.canonical(),
            (ParsedSchema::Protobuf(s), true) => s.normalized(),
        }
    }
}

/// The canonical form of a stored or requested schema text, used to decide whether two
/// registrations are the same schema; the text itself when it does not parse.
pub fn canonical_text(
    schema_type: SchemaType,
    text: &str,
    references: &[(String, String)],
) -> String {
    ParsedSchema::parse(schema_type, text, references)
        .map(|p| p.stored_form(false))
        .unwrap_or_else(|_| text.to_string())
}
