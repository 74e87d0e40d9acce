//! Parquet files through Arrow's Parquet writer, into an in-memory buffer drained as row
//! groups complete.
//!
//! Draining is safe: `ArrowWriter` writes its sink strictly sequentially through a
//! byte-counting `TrackedWrite` (which holds the offsets the footer needs) and never seeks,
//! so bytes removed from the sink's `Vec` are simply the file's prefix.

use std::sync::Arc;

use arrow_array::RecordBatch;
use lakesink_config::ParquetCodec;
use lakesink_convert::{ValueKind, ValueSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde_json::Value;

use crate::{FileFormatWriter, FormatError};

/// The key parquet-avro stores its schema under; Hive and Spark readers look for it.
pub(crate) const AVRO_SCHEMA_KEY: &str = "parquet.avro.schema";

pub(crate) struct ParquetWriter {
    writer: ArrowWriter<Vec<u8>>,
    /// The row group size at which the writer closes a row group by itself.
    row_group_bytes: Option<usize>,
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
        let writer = ArrowWriter::try_new(Vec::new(), schema.arrow.clone(), Some(props))?;
        Ok(ParquetWriter {
            writer,
            row_group_bytes: row_group_limit,
        })
    }

    /// Makes room in the output for the row group being built, before it is closed: the
    /// writer copies its pages out one by one, and a buffer grown by doubling would copy a
    /// row group of tens of megabytes several times and hold up to twice its size.
    fn reserve_row_group(&mut self) {
        let pending = self.writer.memory_size();
        // Page headers, statistics and the footer on top of the pages.
        let room = pending + pending / 16 + (64 << 10);
        self.writer.inner_mut().reserve(room);
    }
}

impl FileFormatWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        // This write may close the row group (at its byte limit).
        if let Some(limit) = self.row_group_bytes
            && self.writer.memory_size() + batch.get_array_memory_size() >= limit
        {
            self.reserve_row_group();
        }
        self.writer.write(batch)?;
        Ok(())
    }

    fn take_ready(&mut self) -> Vec<u8> {
        // Pushes the writer's internal buffer into the Vec; writing to a Vec cannot fail, and
        // whatever stayed buffered would come out with the next call anyway.
        let _ = self.writer.sync();
        std::mem::take(self.writer.inner_mut())
    }

    fn buffered_bytes(&self) -> usize {
        self.writer.memory_size() + self.writer.inner().len()
    }

    fn flush(&mut self) -> Result<(), FormatError> {
        self.reserve_row_group();
        self.writer.flush()?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, FormatError> {
        self.reserve_row_group();
        // Flushes the last row group and writes the footer.
        Ok(self.writer.into_inner()?)
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
            file.extend(w.take_ready());
        }
        let early = file.len();
        file.extend(w.finish().unwrap());
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
        assert_eq!(w.finish().unwrap(), file);

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
        let builder = read(w.finish().unwrap());
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
