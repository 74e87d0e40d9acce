//! Lakesink format writers.
//!
//! Owns: turning converted Arrow record batches into the bytes of one output file —
//! Avro object container files, Parquet, JSON lines, text — with compression.
//!
//! Must not touch: storage, file names, offsets. A writer produces bytes; where they go and
//! when a file is committed is decided elsewhere.
