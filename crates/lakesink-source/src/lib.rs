//! Lakesink Kafka source.
//!
//! Owns: the Kafka consumer of a task (consumer-group membership with cooperative-sticky
//! rebalancing, seeking to the offsets the commit protocol recovered, pausing and resuming
//! partitions, committing consumer offsets for lag monitoring) and cutting fetched records
//! into per-partition [`lakesink_record::RawBatch`]es.
//!
//! Must not touch: decoding, files, storage. It never decides where to resume; the commit
//! protocol does.
