//! Lakesink exactly-once commit protocol.
//!
//! Owns: the per-partition commit log in `logs.dir`, recovery of a partition after a crash or
//! rebalance, fencing of stale owners, and the names of temp and committed files.
//!
//! Must not touch: Kafka, formats, record contents.
