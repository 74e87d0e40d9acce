//! Line formats: JSON lines (Confluent's `JsonFormat`) and text (`StringFormat`), one record
//! per `\n`-terminated line.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StringArray, cast::AsArray};
use lakesink_convert::{ConnectType, ValueKind, ValueSchema};

use crate::json::{self, Node};
use crate::{FileFormatWriter, FormatError, Pieces, pieces_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Json,
    Text,
}

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Json => "json",
            Style::Text => "string",
        }
    }
}

/// What one line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// The string column's text as it is (schemaless JSON text).
    Verbatim,
    /// A struct's columns as a JSON object.
    Object,
    /// The single `value` column as JSON.
    Value,
    /// The single `value` column's string or bytes as they are, anything else as JSON.
    Text,
}

pub(crate) struct LineWriter {
    style: Style,
    line: Line,
    out: Vec<u8>,
}

impl LineWriter {
    pub(crate) fn new(schema: &Arc<ValueSchema>, style: Style) -> Result<Self, FormatError> {
        let line = match schema.kind {
            ValueKind::JsonText => Line::Verbatim,
            ValueKind::Typed => {
                let is_struct = schema
                    .connect
                    .as_ref()
                    .is_some_and(|c| matches!(c.ty, ConnectType::Struct(_)));
                match (is_struct, style) {
                    (true, _) => Line::Object,
                    (false, Style::Json) => Line::Value,
                    (false, Style::Text) => Line::Text,
                }
            }
        };
        let writer = LineWriter {
            style,
            line,
            out: Vec::new(),
        };
        // Binding an empty batch checks every column type up front.
        writer.append(&RecordBatch::new_empty(schema.arrow.clone()))?;
        Ok(writer)
    }

    fn mismatch(&self, message: String) -> FormatError {
        FormatError::BatchMismatch {
            format: self.style.name(),
            message,
        }
    }

    fn single_column<'a>(&self, batch: &'a RecordBatch) -> Result<Node<'a>, FormatError> {
        match batch.columns() {
            [c] => json::bind(c.as_ref(), "value", self.style.name()),
            cols => Err(self.mismatch(format!(
                "a non-struct value needs exactly one column, found {}",
                cols.len()
            ))),
        }
    }

    /// Writes the lines of `batch` to `out` (or, with an empty batch, only checks types).
    fn append_to(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let rows = batch.num_rows();
        match self.line {
            Line::Verbatim => {
                let text: &StringArray = match batch.columns() {
                    [c] => c.as_string_opt::<i32>().ok_or_else(|| {
                        self.mismatch("schemaless JSON needs a utf8 column".into())
                    })?,
                    cols => {
                        return Err(self.mismatch(format!(
                            "schemaless JSON needs one column, found {}",
                            cols.len()
                        )));
                    }
                };
                for i in 0..rows {
                    if text.is_null(i) {
                        out.extend_from_slice(b"null");
                    } else {
                        out.extend_from_slice(text.value(i).as_bytes());
                    }
                    out.push(b'\n');
                }
            }
            Line::Object => {
                let schema = batch.schema_ref();
                let fields = schema.fields();
                if fields.len() != batch.num_columns() {
                    return Err(self.mismatch("column count differs from the schema".into()));
                }
                let nodes = json::bind_columns(fields, batch.columns(), "", self.style.name())?;
                for i in 0..rows {
                    json::write_object(fields, &nodes, i, out);
                    out.push(b'\n');
                }
            }
            Line::Value => {
                let node = self.single_column(batch)?;
                for i in 0..rows {
                    node.write(i, out);
                    out.push(b'\n');
                }
            }
            Line::Text => {
                let node = self.single_column(batch)?;
                for i in 0..rows {
                    match node.raw(i) {
                        // Null strings print as Java's String.valueOf(null) does.
                        Some(_) if node.is_null(i) => out.extend_from_slice(b"null"),
                        Some(raw) => out.extend_from_slice(raw),
                        None => node.write(i, out),
                    }
                    out.push(b'\n');
                }
            }
        }
        Ok(())
    }

    fn append(&self, batch: &RecordBatch) -> Result<(), FormatError> {
        let mut scratch = Vec::new();
        self.append_to(batch, &mut scratch)
    }
}

impl FileFormatWriter for LineWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FormatError> {
        let start = self.out.len();
        let mut out = std::mem::take(&mut self.out);
        let result = self.append_to(batch, &mut out);
        if result.is_err() {
            out.truncate(start);
        }
        self.out = out;
        result
    }

    fn take_ready(&mut self) -> Pieces {
        // Every byte is part of a complete line; the caller decides how much to gather.
        pieces_of(std::mem::take(&mut self.out))
    }

    fn buffered_bytes(&self) -> usize {
        self.out.len()
    }

    fn finish(self: Box<Self>) -> Result<Pieces, FormatError> {
        Ok(pieces_of(self.out))
    }
}

#[cfg(test)]
mod tests {
    use lakesink_config::{AvroCodec, ConverterKind, FormatKind, ParquetCodec};
    use serde_json::json;

    use super::*;
    use crate::testutil::{convert, convert_raw, everything};
    use crate::{FormatOptions, new_writer};

    fn write(kind: FormatKind, schema: &Arc<ValueSchema>, batches: &[&RecordBatch]) -> Vec<u8> {
        let opts = FormatOptions {
            kind,
            avro_codec: AvroCodec::Null,
            avro_writer_schemas: true,
            avro_connect_meta: true,
            parquet_codec: ParquetCodec::Snappy,
            parquet_row_group_bytes: 1 << 20,
        };
        let mut w = new_writer(&opts, schema).unwrap();
        let mut file = Vec::new();
        for b in batches {
            w.write(b).unwrap();
            assert_eq!(w.buffered_bytes() > 0, b.num_rows() > 0);
            file.extend(w.take_ready().concat());
            assert_eq!(w.buffered_bytes(), 0);
        }
        file.extend(w.finish().unwrap().concat());
        file
    }

    fn text(kind: FormatKind, schema: &Arc<ValueSchema>, batches: &[&RecordBatch]) -> String {
        String::from_utf8(write(kind, schema, batches)).unwrap()
    }

    const EVERYTHING_LINES: [&str; 3] = [
        r#"{"i8":-8,"i16":1600,"i32":32,"i64":6400000000,"f32":1.5,"f64":-2.25E-5,"flag":true,"s":"héllo \"q\"\n","b":"AQID","dec":"BNI=","day":19675,"tod":45296789,"ts":1700000000123,"opt_i32":7,"opt_s":"x","opt_b":"","opt_dec":"/2o=","opt_ts":1600000000000,"my-field":1.0E20,"nested":{"x":1,"y":"why"},"tags":["a","b"],"opt_nums":[1,null,3],"attrs":{"a":1,"b":null},"by_id":[[1,"one"],[2,"two"]],"points":[{"k":"p","when":1},{"k":"q","when":null}]}"#,
        r#"{"i8":127,"i16":-32768,"i32":-2147483648,"i64":-9223372036854775808,"f32":-0.0,"f64":1234567.0,"flag":false,"s":"","b":"","dec":"AA==","day":-1,"tod":0,"ts":-1,"opt_i32":null,"opt_s":null,"opt_b":null,"opt_dec":null,"opt_ts":null,"my-field":null,"nested":null,"tags":[],"opt_nums":null,"attrs":{},"by_id":null,"points":[]}"#,
        r#"{"i8":0,"i16":0,"i32":0,"i64":0,"f32":3.25,"f64":0.1,"flag":true,"s":"z","b":"/w==","dec":"AIA=","day":0,"tod":86399999,"ts":0,"opt_i32":0,"opt_s":"","opt_b":"AA==","opt_dec":"AA==","opt_ts":0,"my-field":0.5,"nested":{"x":-1,"y":null},"tags":[""],"opt_nums":[],"attrs":{"z":0},"by_id":[],"points":[{"k":"","when":0}]}"#,
    ];

    #[test]
    fn json_lines_of_every_type() {
        let (schema, batch) = everything();
        let got = text(FormatKind::Json, &schema, &[&batch, &batch.slice(2, 1)]);
        let want = format!(
            "{}\n{}\n{}\n{}\n",
            EVERYTHING_LINES[0], EVERYTHING_LINES[1], EVERYTHING_LINES[2], EVERYTHING_LINES[2]
        );
        assert_eq!(got, want);
        // Each line is a JSON document.
        for line in got.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn text_of_a_struct_is_its_json() {
        let (schema, batch) = everything();
        let got = text(FormatKind::String, &schema, &[&batch]);
        assert_eq!(got, EVERYTHING_LINES.map(|l| format!("{l}\n")).concat());
    }

    #[test]
    fn non_struct_values() {
        let (schema, batch) = convert_raw(
            ConverterKind::String,
            false,
            &[b"plain".to_vec(), b"say \"hi\"".to_vec()],
        );
        assert_eq!(
            text(FormatKind::Json, &schema, &[&batch]),
            "\"plain\"\n\"say \\\"hi\\\"\"\n"
        );
        assert_eq!(
            text(FormatKind::String, &schema, &[&batch]),
            "plain\nsay \"hi\"\n"
        );

        let (schema, batch) = convert_raw(ConverterKind::Bytes, false, &[vec![1, 2, 3], vec![]]);
        assert_eq!(
            text(FormatKind::Json, &schema, &[&batch]),
            "\"AQID\"\n\"\"\n"
        );
        assert_eq!(
            write(FormatKind::String, &schema, &[&batch]),
            b"\x01\x02\x03\n\n"
        );

        let (schema, batch) = convert(
            &json!({"type": "map", "keys": {"type": "int64"}, "values": {"type": "double"}}),
            &[json!([[1, 0.25], [2, -3.0]])],
        );
        assert_eq!(
            text(FormatKind::Json, &schema, &[&batch]),
            "[[1,0.25],[2,-3.0]]\n"
        );
        assert_eq!(
            text(FormatKind::String, &schema, &[&batch]),
            "[[1,0.25],[2,-3.0]]\n"
        );

        let (schema, batch) = convert(
            &json!({"type": "int64", "name": crate::testutil::TIMESTAMP}),
            &[json!(1_700_000_000_123i64)],
        );
        assert_eq!(
            text(FormatKind::Json, &schema, &[&batch]),
            "1700000000123\n"
        );
    }

    #[test]
    fn schemaless_json_is_written_verbatim() {
        let (schema, batch) = convert_raw(
            ConverterKind::Json,
            false,
            &[
                br#"{"b": 1, "a": [true, null]}"#.to_vec(),
                b"\"s\"".to_vec(),
                b"12.50".to_vec(),
            ],
        );
        assert_eq!(schema.kind, ValueKind::JsonText);
        let want = "{\"b\": 1, \"a\": [true, null]}\n\"s\"\n12.50\n";
        assert_eq!(text(FormatKind::Json, &schema, &[&batch]), want);
        assert_eq!(text(FormatKind::String, &schema, &[&batch]), want);
    }

    #[test]
    fn empty_files_are_empty() {
        let (schema, batch) = everything();
        assert_eq!(write(FormatKind::Json, &schema, &[&batch.slice(0, 0)]), b"");
        assert_eq!(write(FormatKind::String, &schema, &[]), b"");
    }
}
