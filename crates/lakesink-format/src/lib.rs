//! Lakesink format writers.
//!
//! Owns: turning converted Arrow record batches into the bytes of one output file —
//! Avro object container files, Parquet, JSON lines, text — with compression.
//! [`new_writer`] makes one [`FileFormatWriter`] per output file; the writer builds the file
//! in memory and hands out finished chunks ([`FileFormatWriter::take_ready`]) so the caller
//! can stream them to storage, then the tail ([`FileFormatWriter::finish`]).
//!
//! What each format writes:
//! - Avro: an object container file, blocks of ~256 KiB (uncompressed) in the configured
//!   codec. Values read by `AvroConverter` keep their writer schema in the header, and their
//!   datums are copied into blocks as Kafka carried them ([`FileFormatWriter::write_datums`]);
//!   other values get the Connect-derived Avro schema and are encoded from Arrow.
//! - Parquet: Arrow's Parquet writer, with the Avro schema under `parquet.avro.schema`.
//! - JSON: one document per line, as Connect's `JsonConverter` (`schemas.enable=false`)
//!   serializes the value.
//! - Text: one line per record; strings and bytes as they are, anything else as JSON.
//!
//! Must not touch: storage, file names, offsets. A writer produces bytes; where they go and
//! when a file is committed is decided elsewhere.

mod avro;
mod columnar;
mod file_schema;
mod json;
pub use file_schema::{FileSchema, SchemaPlace, file_schema, schema_place};
mod lines;

use std::sync::Arc;

use arrow_array::RecordBatch;
use lakesink_config::{AvroCodec, FormatKind, ParquetCodec};
use lakesink_convert::ValueSchema;

/// How files are written; one set for the whole sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatOptions {
    pub kind: FormatKind,
    pub avro_codec: AvroCodec,
    /// Avro files of `AvroConverter` values keep the writer schema and take the datums
    /// unchanged (`enhanced.avro.schema.support`).
    pub avro_writer_schemas: bool,
    /// Such files' schemas carry `connect.version` and `connect.name` (`connect.meta.data`).
    pub avro_connect_meta: bool,
    pub parquet_codec: ParquetCodec,
    /// Target size of a Parquet row group (estimated encoded bytes); 0 means unlimited.
    pub parquet_row_group_bytes: u64,
}

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{format} files need values with a schema; schemaless JSON values can only be written as json or string"
    )]
    SchemaRequired { format: &'static str },
    #[error("{format}: column {column}: Arrow type {arrow} is not supported{detail}")]
    UnsupportedType {
        format: &'static str,
        column: String,
        arrow: String,
        /// Extra context, starting with a separator (may be empty).
        detail: String,
    },
    #[error("avro: {path}: the Avro schema cannot hold this column: {message}")]
    AvroSchema { path: String, message: String },
    #[error("{format}: {path}: null value in a non-optional field")]
    NullValue { format: &'static str, path: String },
    #[error("{format}: the batch does not match the writer's schema: {message}")]
    BatchMismatch {
        format: &'static str,
        message: String,
    },
    #[error("avro: {codec} compression failed: {source}")]
    Compression {
        codec: &'static str,
        source: std::io::Error,
    },
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// Encoded bytes of a file in the order they go into it, as a list of pieces (none empty):
/// a Parquet row group of tens of megabytes stays in pieces instead of one buffer.
pub type Pieces = Vec<Vec<u8>>;

/// The pieces of one buffer: none when it is empty.
pub(crate) fn pieces_of(bytes: Vec<u8>) -> Pieces {
    if bytes.is_empty() {
        Vec::new()
    } else {
        vec![bytes]
    }
}

/// Writes the bytes of one output file.
pub trait FileFormatWriter: Send {
    /// Appends all rows of `batch` (its schema is `schema.arrow`). On error no row of the
    /// batch is written, except for Parquet, whose writer may keep part of it.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError>;
    /// Whether the file takes rows already encoded ([`FileFormatWriter::write_datums`]).
    fn takes_datums(&self) -> bool {
        false
    }
    /// Appends rows already encoded in the file's own encoding: Avro datums of the file's
    /// schema as Kafka carried them, copied without decoding or re-encoding. Only where
    /// [`FileFormatWriter::takes_datums`].
    fn write_datums(&mut self, _datums: &[&[u8]]) -> Result<(), FormatError> {
        Err(FormatError::BatchMismatch {
            format: "this format",
            message: "encoded rows cannot be copied into it".into(),
        })
    }
    /// Removes and returns the bytes that are complete and can be written to the file now.
    fn take_ready(&mut self) -> Pieces;
    /// Bytes held in memory (buffered rows/row group + ready bytes), for memory accounting.
    fn buffered_bytes(&self) -> usize;
    /// Moves what is buffered into the ready bytes, to free memory before the file ends
    /// (Parquet: closes the row group early). Line formats and Avro buffer little; for them
    /// this does nothing.
    fn flush(&mut self) -> Result<(), FormatError> {
        Ok(())
    }
    /// Ends the file and returns its remaining bytes (e.g. last Avro block, Parquet footer).
    fn finish(self: Box<Self>) -> Result<Pieces, FormatError>;
}

/// A writer for one new file of `schema`'s values.
pub fn new_writer(
    opts: &FormatOptions,
    schema: &Arc<ValueSchema>,
) -> Result<Box<dyn FileFormatWriter>, FormatError> {
    Ok(match opts.kind {
        FormatKind::Avro => Box::new(avro::AvroWriter::new(schema, opts)?),
        FormatKind::Parquet => Box::new(columnar::ParquetWriter::new(
            schema,
            opts.parquet_codec,
            opts.parquet_row_group_bytes,
        )?),
        FormatKind::Json => Box::new(lines::LineWriter::new(schema, lines::Style::Json)?),
        FormatKind::String => Box::new(lines::LineWriter::new(schema, lines::Style::Text)?),
    })
}

/// The minimal big-endian two's-complement bytes of `v`, as Java's `BigInteger.toByteArray`
/// gives them (Connect's Decimal and Avro's decimal both use this form).
pub(crate) fn decimal_bytes(v: i128, buf: &mut [u8; 16]) -> &[u8] {
    *buf = v.to_be_bytes();
    let mut start = 0;
    // A leading byte is redundant when it only repeats the sign of the next one.
    while start < 15 {
        let (b, next) = (buf[start], buf[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        let mut buf = [0u8; 16];
        assert_eq!(decimal_bytes(0, &mut buf), &[0]);
        assert_eq!(decimal_bytes(1234, &mut buf), &[0x04, 0xd2]);
        assert_eq!(decimal_bytes(127, &mut buf), &[0x7f]);
        assert_eq!(decimal_bytes(128, &mut buf), &[0x00, 0x80]);
        assert_eq!(decimal_bytes(-1, &mut buf), &[0xff]);
        assert_eq!(decimal_bytes(-128, &mut buf), &[0x80]);
        assert_eq!(decimal_bytes(-129, &mut buf), &[0xff, 0x7f]);
        assert_eq!(decimal_bytes(i128::MIN, &mut buf).len(), 16);
    }
}
