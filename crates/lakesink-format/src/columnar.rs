//! Parquet files through Arrow's Parquet writer, into in-memory pieces drained as row groups
//! complete.
//!
//! Draining is safe: `ArrowWriter` writes its sink strictly sequentially through a
//! byte-counting `TrackedWrite` (which holds the offsets the footer needs) and never seeks,
//! so pieces removed from the sink are simply the file's prefix.

use std::sync::Arc;

use arrow_array::RecordBatch;
use lakesink_config::ParquetCodec;
use lakesink_convert::{ValueKind, ValueSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde_json::Value;

use crate::{FileFormatWriter, FormatError, Pieces};

/// Size of the pieces a row group is written into. A row group flushed into one buffer
/// sized for it (tens of megabytes) got a fresh mapping from the allocator for every file,
/// every page of it faulted in as the writer copied its pages out (5% of a Parquet drain's
/// CPU time); pieces of this size are reused from the allocator's free memory.
const PIECE_BYTES: usize = 1 << 20;

/// The writer's sink: the file's bytes not taken yet, in pieces of [`PIECE_BYTES`].
#[derive(Default)]
struct PieceSink {
    full: Pieces,
    current: Vec<u8>,
}

impl PieceSink {
    fn len(&self) -> usize {
        self.full.iter().map(Vec::len).sum::<usize>() + self.current.len()
    }

    fn take(&mut self) -> Pieces {
        let mut pieces = std::mem::take(&mut self.full);
        if !self.current.is_empty() {
            pieces.push(std::mem::take(&mut self.current));
        }
        pieces
    }
}

impl std::io::Write for PieceSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.current.capacity() == 0 {
                self.current = Vec::with_capacity(PIECE_BYTES);
            }
            let n = (self.current.capacity() - self.current.len()).min(rest.len());
            self.current.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.current.len() == self.current.capacity() {
                self.full.push(std::mem::take(&mut self.current));
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The key parquet-avro stores its schema under; Hive and Spark readers look for it.
pub(crate) const AVRO_SCHEMA_KEY: &str = "parquet.avro.schema";

pub(crate) struct ParquetWriter {
    writer: ArrowWriter<PieceSink>,
}

fn compression(codec: ParquetCodec) -> Result<Compression, FormatError> {
    Ok(match codec {
        ParquetCodec::Snappy => Compression::SNAPPY,
        ParquetCodec::Zstd => Compression::ZSTD(ZstdLevel::try_new(3)?),
        ParquetCodec::Gzip => Compression::GZIP(GzipLevel::default()),
        ParquetCodec::None => Compression::UNCOMPRESSED,
    })
}

/// The record schema parquet-avro would store, if the value is a record. parquet-avro only
/// handles record schemas, so other values get none; an optional struct is `["null",
/// record]` in Avro, but the file's columns are the record's fields.
fn avro_record_schema(schema: &ValueSchema) -> Option<Value> {
    if schema.kind != ValueKind::Typed {
        return None;
    }
    let is_record = |v: &Value| v.get("type").and_then(Value::as_str) == Some("record");
    match schema.avro_schema()? {
        v if is_record(&v) => Some(v),
        Value::Array(branches) => branches.into_iter().find(is_record),
        _ => None,
    }
}

impl ParquetWriter {
    pub(crate) fn new(
        schema: &Arc<ValueSchema>,
        codec: ParquetCodec,
        row_group_bytes: u64,
    ) -> Result<Self, FormatError> {
        let row_group_limit = usize::try_from(row_group_bytes).ok().filter(|b| *b > 0);
        let metadata = avro_record_schema(schema)
            .map(|v| vec![KeyValue::new(AVRO_SCHEMA_KEY.to_string(), v.to_string())]);
        let props = WriterProperties::builder()
            .set_compression(compression(codec)?)
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_bytes(row_group_limit)
            .set_key_value_metadata(metadata)
            .build();
        let writer = ArrowWriter::try_new(PieceSink::default(), schema.arrow.clone(), Some(props))?;
        Ok(ParquetWriter { writer })
    }
}

impl FileFormatWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        // This write may close the row group (at its byte limit).
        self.writer.write(batch)?;
        Ok(())
    }

    fn take_ready(&mut self) -> Pieces {
        // Pushes the writer's internal buffer into the sink; writing to it cannot fail, and
        // whatever stayed buffered would come out with the next call anyway.
        let _ = self.writer.sync();
        self.writer.inner_mut().take()
    }

    fn buffered_bytes(&self) -> usize {
        self.writer.memory_size() + self.writer.inner().len()
    }

    fn flush(&mut self) -> Result<(), FormatError> {
        self.writer.flush()?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Pieces, FormatError> {
        // Flushes the last row group and writes the footer.
        Ok(self.writer.into_inner()?.take())
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_schema::{DataType, TimeUnit};
    use bytes::Bytes;
    use lakesink_config::{AvroCodec, ConverterKind, FormatKind};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{LogicalType, TimeUnit as PqTimeUnit, Type as PhysicalType};
    use serde_json::json;

    use super::*;
    use crate::testutil::{convert, convert_raw, everything};
    use crate::{FormatOptions, new_writer};

    fn opts(codec: ParquetCodec, row_group_bytes: u64) -> FormatOptions {
        FormatOptions {
            kind: FormatKind::Parquet,
            avro_codec: AvroCodec::Null,
            avro_writer_schemas: true,
            avro_connect_meta: true,
            parquet_codec: codec,
            parquet_row_group_bytes: row_group_bytes,
        }
    }

    /// Writes `batches`, gathering `take_ready` after each; returns the file and how many
    /// bytes were ready before `finish`.
    fn write_file(
        o: &FormatOptions,
        schema: &Arc<ValueSchema>,
        batches: &[&RecordBatch],
    ) -> (Vec<u8>, usize) {
        let mut w = new_writer(o, schema).unwrap();
        let mut file = Vec::new();
        for b in batches {
            w.write(b).unwrap();
            file.extend(w.take_ready().concat());
        }
        let early = file.len();
        file.extend(w.finish().unwrap().concat());
        (file, early)
    }

    fn read(file: Vec<u8>) -> ParquetRecordBatchReaderBuilder<Bytes> {
        ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file)).unwrap()
    }

    #[test]
    fn every_type_round_trips_with_every_codec() {
        let (schema, batch) = everything();
        for codec in [
            ParquetCodec::Snappy,
            ParquetCodec::Zstd,
            ParquetCodec::Gzip,
            ParquetCodec::None,
        ] {
            let (file, _) = write_file(&opts(codec, 128 << 20), &schema, &[&batch, &batch]);
            let builder = read(file);
            let meta = builder.metadata().clone();
            let got_codec = meta.row_group(0).column(0).compression();
            let ok = match codec {
                ParquetCodec::Snappy => got_codec == Compression::SNAPPY,
                // Levels are not stored in the file.
                ParquetCodec::Zstd => matches!(got_codec, Compression::ZSTD(_)),
                ParquetCodec::Gzip => matches!(got_codec, Compression::GZIP(_)),
                ParquetCodec::None => got_codec == Compression::UNCOMPRESSED,
            };
            assert!(ok, "{codec:?}: {got_codec:?}");

            let kv = meta.file_metadata().key_value_metadata().unwrap();
            let avro = kv.iter().find(|k| k.key == AVRO_SCHEMA_KEY).unwrap();
            let avro: Value = serde_json::from_str(avro.value.as_deref().unwrap()).unwrap();
            assert_eq!(avro, schema.avro_schema().unwrap());

            let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows, 6);
            // Six rows come back as one batch (the reader's batch size is larger).
            assert_eq!(batches.len(), 1);
            for (i, field) in schema.arrow.fields().iter().enumerate() {
                let got = batches[0].column(i);
                assert_eq!(got.data_type(), field.data_type(), "{}", field.name());
                for half in [got.slice(0, 3), got.slice(3, 3)] {
                    assert_eq!(
                        half.to_data(),
                        batch.column(i).to_data(),
                        "{codec:?} {}",
                        field.name()
                    );
                }
            }
        }
    }

    #[test]
    fn timestamps_are_utc_millis() {
        let (schema, batch) = everything();
        let (file, _) = write_file(&opts(ParquetCodec::Snappy, 1 << 20), &schema, &[&batch]);
        let builder = read(file);
        let descr = builder.metadata().file_metadata().schema_descr_ptr();
        let ts = descr.columns().iter().find(|c| c.name() == "ts").unwrap();
        assert_eq!(ts.physical_type(), PhysicalType::INT64);
        assert_eq!(
            ts.logical_type_ref(),
            Some(&LogicalType::timestamp(true, PqTimeUnit::MILLIS))
        );
        let arrow = builder.schema();
        assert_eq!(
            arrow.field_with_name("ts").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
    }

    #[test]
    fn a_large_row_group_comes_out_in_full_pieces() {
        let mut sink = PieceSink::default();
        let data: Vec<u8> = (0..PIECE_BYTES * 5 / 2).map(|i| (i % 251) as u8).collect();
        // Written in uneven parts, as the Parquet writer's buffered writes come.
        for part in data.chunks(8191) {
            std::io::Write::write_all(&mut sink, part).unwrap();
        }
        assert_eq!(sink.len(), data.len());
        let pieces = sink.take();
        let sizes: Vec<usize> = pieces.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![PIECE_BYTES, PIECE_BYTES, PIECE_BYTES / 2]);
        assert_eq!(pieces.concat(), data);
        assert!(sink.take().is_empty(), "taking leaves nothing behind");
    }

    #[test]
    fn chunks_and_finish_make_the_exact_file() {
        let schema_json = json!({"type": "struct", "name": "com.example.Row", "fields": [
            {"field": "id", "type": "int64"},
            {"field": "pad", "type": "string", "optional": true}
        ]});
        let batches: Vec<(Arc<ValueSchema>, RecordBatch)> = (0..4)
            .map(|b| {
                let rows: Vec<Value> = (0..2000)
                    .map(|i| json!({"id": b * 2000 + i, "pad": format!("row {i} of batch {b}")}))
                    .collect();
                convert(&schema_json, &rows)
            })
            .collect();
        let schema = batches[0].0.clone();
        let refs: Vec<&RecordBatch> = batches.iter().map(|(_, b)| b).collect();
        let o = opts(ParquetCodec::Zstd, 16 * 1024);
        let (file, early) = write_file(&o, &schema, &refs);
        assert!(early > 4, "row groups were handed out before finish");

        // The same file written without ever taking chunks.
        let mut w = new_writer(&o, &schema).unwrap();
        for b in &refs {
            w.write(b).unwrap();
        }
        assert!(w.buffered_bytes() > 0);
        assert_eq!(w.finish().unwrap().concat(), file);

        let builder = read(file);
        assert!(builder.metadata().num_row_groups() > 2);
        let ids: Vec<i64> = builder
            .build()
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let col = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .unwrap()
                    .clone();
                col.values().to_vec()
            })
            .collect();
        assert_eq!(ids, (0..8000).collect::<Vec<i64>>());
    }

    #[test]
    fn empty_and_non_record_files() {
        let (schema, _) = everything();
        let w = new_writer(&opts(ParquetCodec::Snappy, 0), &schema).unwrap();
        let builder = read(w.finish().unwrap().concat());
        assert_eq!(builder.metadata().file_metadata().num_rows(), 0);

        // A string value has no record schema for parquet-avro, so none is stored.
        let (schema, batch) = convert_raw(ConverterKind::String, false, &[b"a".to_vec()]);
        let (file, _) = write_file(&opts(ParquetCodec::Gzip, 0), &schema, &[&batch]);
        let builder = read(file);
        let kv = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        assert!(kv.iter().all(|k| k.key != AVRO_SCHEMA_KEY));
        let got: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(got[0].column(0).to_data(), batch.column(0).to_data());
    }
}
