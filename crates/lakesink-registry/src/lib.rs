//! Lakesink's Schema Registry: a server speaking Confluent Schema Registry's REST API (v1),
//! keeping its state in a compacted Kafka topic (`_schemas`) in Confluent's record format, so
//! either server can take over the other's topic.
//!
//! It owns schema parsing and canonical forms ([`schema`]), the compatibility checkers
//! ([`compat`]), the `_schemas` record format and replay ([`store`]), leadership (the consumer-group
//! election of `lakesink_source::election`) and write fencing ([`kafka`]), the registry's rules ([`registry`]) and the HTTP surface ([`api`]).
//! It must not touch the sink: converters fetch schemas over HTTP, like any client, and share
//! only the schema parsers of [`schema`] (the `lakesink-schema` crate).

pub mod api;
pub mod compat;
pub mod kafka;
pub mod registry;
pub mod server;
/// The schema parsers, shared with the converters (`lakesink-schema`).
pub use lakesink_schema as schema;
pub mod store;
