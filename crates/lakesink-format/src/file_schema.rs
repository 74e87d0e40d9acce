//! The schema a committed file was written with, read from its header (Avro) or footer
//! (Parquet) without reading the rows: what a connector restarting under
//! `schema.compatibility` takes as its current schema, as the Confluent sink's
//! `SchemaFileReader` does.

use lakesink_config::FormatKind;
use parquet::file::metadata::ParquetMetaDataReader;

use crate::columnar::AVRO_SCHEMA_KEY;

/// Where a file keeps its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaPlace {
    /// In the first bytes (Avro's header).
    Head,
    /// In the last bytes (Parquet's footer).
    Tail,
}

/// What a part of a file says about its schema.
#[derive(Debug, PartialEq, Eq)]
pub enum FileSchema {
    /// The Avro schema text (Parquet: the one kept in its `parquet.avro.schema` metadata).
    Avro(String),
    /// The part is too short: read this many bytes from the same place.
    NeedBytes(u64),
    /// The file keeps no schema (JSON, text; a Parquet file without the Avro metadata).
    None,
}

/// Where files of `kind` keep their schema; `None` for formats without one.
pub fn schema_place(kind: FormatKind) -> Option<SchemaPlace> {
    match kind {
        FormatKind::Avro => Some(SchemaPlace::Head),
        FormatKind::Parquet => Some(SchemaPlace::Tail),
        FormatKind::Json | FormatKind::String => None,
    }
}

/// Reads the schema from `part`: the first bytes of the file for [`SchemaPlace::Head`], the
/// last ones for [`SchemaPlace::Tail`] (a whole file is both).
pub fn file_schema(kind: FormatKind, part: &[u8]) -> Result<FileSchema, String> {
    match kind {
        FormatKind::Avro => avro_header_schema(part),
        FormatKind::Parquet => parquet_footer_schema(part),
        FormatKind::Json | FormatKind::String => Ok(FileSchema::None),
    }
}

/// An Avro object container header: magic, then the metadata map (blocks of entries, each
/// a key and a value as length-prefixed bytes). Parsed by hand: `apache-avro`'s reader
/// wants the whole file.
fn avro_header_schema(part: &[u8]) -> Result<FileSchema, String> {
    const MAGIC: &[u8] = b"Obj\x01";
    if part.len() < MAGIC.len() {
        return Ok(FileSchema::NeedBytes(64 << 10));
    }
    if &part[..4] != MAGIC {
        return Err("not an Avro object container file (bad magic)".into());
    }
    let mut at = 4;
    let short = || Ok(FileSchema::NeedBytes((part.len() as u64 * 4).max(64 << 10)));
    loop {
        let Some(mut count) = read_long(part, &mut at)? else {
            return short();
        };
        if count == 0 {
            return Ok(FileSchema::None);
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes.
            count = count.checked_neg().ok_or("invalid metadata block count")?;
            if read_long(part, &mut at)?.is_none() {
                return short();
            }
        }
        for _ in 0..count {
            let (Some(key), Some(value)) = (read_bytes(part, &mut at)?, read_bytes(part, &mut at)?)
            else {
                return short();
            };
            if key == b"avro.schema" {
                return String::from_utf8(value.to_vec())
                    .map(FileSchema::Avro)
                    .map_err(|_| "the avro.schema metadata is not UTF-8".into());
            }
        }
    }
}

/// Avro's zig-zag varint long; `None` when `part` ends inside it.
fn read_long(part: &[u8], at: &mut usize) -> Result<Option<i64>, String> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some(&b) = part.get(*at) else {
            return Ok(None);
        };
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(Some((value >> 1) as i64 ^ -((value & 1) as i64)));
        }
    }
    Err("invalid varint in the Avro header".into())
}

fn read_bytes<'a>(part: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, String> {
    let Some(len) = read_long(part, at)? else {
        return Ok(None);
    };
    let len = usize::try_from(len).map_err(|_| "negative length in the Avro header")?;
    let Some(bytes) = at.checked_add(len).and_then(|end| part.get(*at..end)) else {
        return Ok(None);
    };
    *at += len;
    Ok(Some(bytes))
}

/// A Parquet footer: the metadata, its length (4 bytes, little-endian) and `PAR1`.
fn parquet_footer_schema(part: &[u8]) -> Result<FileSchema, String> {
    let n = part.len();
    if n < 8 {
        return Ok(FileSchema::NeedBytes(64 << 10));
    }
    if &part[n - 4..] != b"PAR1" {
        return Err("not a Parquet file (bad footer magic)".into());
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&part[n - 8..n - 4]);
    let len = u32::from_le_bytes(len) as usize;
    if len + 8 > n {
        return Ok(FileSchema::NeedBytes(len as u64 + 8));
    }
    let metadata = ParquetMetaDataReader::decode_metadata(&part[n - 8 - len..n - 8])
        .map_err(|e| format!("Parquet footer: {e}"))?;
    let schema = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == AVRO_SCHEMA_KEY))
        .and_then(|e| e.value.clone());
    Ok(schema.map_or(FileSchema::None, FileSchema::Avro))
}

#[cfg(test)]
mod tests {
    use crate::testutil::convert;
    use crate::{FileFormatWriter, FormatOptions, new_writer};
    use lakesink_config::{AvroCodec, ParquetCodec};
    use serde_json::json;

    use super::*;

    fn file_of(kind: FormatKind) -> (Vec<u8>, String) {
        let (schema, batch) = convert(
            &json!({"type": "struct", "name": "com.acme.Item", "version": 3, "fields": [
                {"field": "id", "type": "int64"}, {"field": "note", "type": "string", "optional": true}]}),
            &[
                json!({"id": 1, "note": "a"}),
                json!({"id": 2, "note": null}),
            ],
        );
        let opts = FormatOptions {
            kind,
            avro_codec: AvroCodec::Snappy,
            avro_writer_schemas: true,
            avro_connect_meta: true,
            parquet_codec: ParquetCodec::Snappy,
            parquet_row_group_bytes: 1 << 20,
        };
        let mut w: Box<dyn FileFormatWriter> = new_writer(&opts, &schema).unwrap();
        w.write(&batch).unwrap();
        let mut file = w.take_ready().concat();
        file.extend(w.finish().unwrap().concat());
        (file, schema.avro_schema().unwrap().to_string())
    }

    #[test]
    fn avro_schema_from_the_header_of_an_avro_file() {
        let (file, want) = file_of(FormatKind::Avro);
        assert_eq!(
            file_schema(FormatKind::Avro, &file).unwrap(),
            FileSchema::Avro(want.clone())
        );
        // A header cut short asks for more; any prefix holding the header is enough.
        assert!(matches!(
            file_schema(FormatKind::Avro, &file[..20]).unwrap(),
            FileSchema::NeedBytes(_)
        ));
        let header_end = file
            .windows(want.len())
            .position(|w| w == want.as_bytes())
            .unwrap()
            + want.len();
        assert_eq!(
            file_schema(FormatKind::Avro, &file[..header_end]).unwrap(),
            FileSchema::Avro(want)
        );
        assert!(file_schema(FormatKind::Avro, b"PAR1xxxx").is_err());
    }

    #[test]
    fn avro_schema_from_the_footer_of_a_parquet_file() {
        let (file, want) = file_of(FormatKind::Parquet);
        let schema = file_schema(FormatKind::Parquet, &file).unwrap();
        let FileSchema::Avro(text) = schema else {
            panic!("{schema:?}")
        };
        let got: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            got,
            serde_json::from_str::<serde_json::Value>(&want).unwrap()
        );
        assert_eq!(got["connect.version"], 3, "{got}");
        // The last 8 bytes say how long the footer is.
        assert_eq!(
            file_schema(FormatKind::Parquet, &file[file.len() - 8..]).unwrap(),
            FileSchema::NeedBytes(
                u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap()) as u64
                    + 8
            )
        );
        assert!(file_schema(FormatKind::Parquet, b"Obj\x01xxxxxxxx").is_err());
    }
}
