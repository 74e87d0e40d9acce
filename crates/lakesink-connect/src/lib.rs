//! Lakesink's Kafka Connect runtime layer, beside the data path.
//!
//! Owns: the herder ([`herder`]: which connectors exist, their target states, the life of
//! their tasks and the restart policy), the Connect REST API ([`rest`]) with the plugin
//! configuration generated from the key table ([`plugins`]), and the Prometheus text of the
//! runtime's own metrics ([`metrics`]), and, for distributed mode, sending each request to
//! the worker that must carry it out ([`cluster`]; the cluster itself lives in
//! `lakesink-cluster`).
//!
//! Must not touch: Kafka, conversion, files or storage. It starts and stops tasks only
//! through the [`herder::Runtime`] the binary gives it, and the data path never learns
//! that a REST API exists.

pub mod cluster;
pub mod herder;
pub mod metrics;
pub mod plugins;
pub mod rest;

pub use cluster::{Cluster, ConfigWrite, Leader};
pub use herder::{
    Checked, ConnectorInstance, Herder, LocalStatus, Part, Placement, Runtime, TaskControl,
};
pub use rest::{Api, LogLevels, Offsets, OffsetsError, PartitionOffset, ServerInfo};
