//! Lakesink partitioners.
//!
//! Owns: deciding the output directory of every record of a converted batch
//! (`<topic>/partition=<p>` for the default partitioner).
//!
//! Must not touch: file contents, storage, offsets.
