//! Values as Kafka Connect's `JsonConverter` (`schemas.enable=false`) serializes them,
//! written straight from Arrow arrays into a byte buffer.
//!
//! Hand-written rather than arrow-json: Connect writes bytes and decimals as base64,
//! timestamps as epoch milliseconds, maps with non-string keys as `[key, value]` pairs and
//! numbers the way Jackson does, none of which arrow-json's writer matches.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, TimestampMillisecondType,
};
use arrow_array::{Array, ArrayRef, BinaryArray, BooleanArray, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Fields, TimeUnit};

use crate::{FormatError, decimal_bytes};

/// One Arrow array ready to be written row by row.
pub(crate) struct Node<'a> {
    nulls: Option<&'a NullBuffer>,
    val: Val<'a>,
}

enum Val<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Bool(&'a BooleanArray),
    Str(&'a StringArray),
    Bin(&'a BinaryArray),
    Dec(&'a [i128]),
    List(&'a [i32], Box<Node<'a>>),
    /// Offsets, keys, values, and whether keys are strings (then the map is an object).
    Map(&'a [i32], Box<Node<'a>>, Box<Node<'a>>, bool),
    Struct(&'a Fields, Vec<Node<'a>>),
}

/// Binds `array` for writing; `path` and `format` name it in errors.
pub(crate) fn bind<'a>(
    array: &'a dyn Array,
    path: &str,
    format: &'static str,
) -> Result<Node<'a>, FormatError> {
    let dt = array.data_type();
    let unsupported = |detail: &str| FormatError::UnsupportedType {
        format,
        column: path.to_string(),
        arrow: dt.to_string(),
        detail: detail.to_string(),
    };
    let bad = || unsupported(" (array does not match its type)");
    macro_rules! prim {
        ($t:ty, $v:ident) => {
            Val::$v(array.as_primitive_opt::<$t>().ok_or_else(bad)?.values())
        };
    }
    let val = match dt {
        DataType::Int8 => prim!(Int8Type, I8),
        DataType::Int16 => prim!(Int16Type, I16),
        DataType::Int32 => prim!(Int32Type, I32),
        DataType::Int64 => prim!(Int64Type, I64),
        DataType::Float32 => prim!(Float32Type, F32),
        DataType::Float64 => prim!(Float64Type, F64),
        DataType::Date32 => prim!(Date32Type, I32),
        DataType::Time32(TimeUnit::Millisecond) => prim!(Time32MillisecondType, I32),
        DataType::Timestamp(TimeUnit::Millisecond, _) => prim!(TimestampMillisecondType, I64),
        DataType::Decimal128(_, _) => prim!(Decimal128Type, Dec),
        DataType::Boolean => Val::Bool(array.as_boolean_opt().ok_or_else(bad)?),
        DataType::Utf8 => Val::Str(array.as_string_opt::<i32>().ok_or_else(bad)?),
        DataType::Binary => Val::Bin(array.as_binary_opt::<i32>().ok_or_else(bad)?),
        DataType::List(_) => {
            let list = array.as_list_opt::<i32>().ok_or_else(bad)?;
            let items = bind(list.values().as_ref(), &format!("{path}[]"), format)?;
            Val::List(list.value_offsets(), Box::new(items))
        }
        DataType::Map(_, _) => {
            let map = array.as_map_opt().ok_or_else(bad)?;
            let keys = bind(map.keys().as_ref(), &format!("{path}.key"), format)?;
            let values = bind(map.values().as_ref(), &format!("{path}.value"), format)?;
            let string_keys = map.keys().data_type() == &DataType::Utf8;
            Val::Map(
                map.value_offsets(),
                Box::new(keys),
                Box::new(values),
                string_keys,
            )
        }
        DataType::Struct(fields) => {
            let s = array.as_struct_opt().ok_or_else(bad)?;
            Val::Struct(fields, bind_columns(fields, s.columns(), path, format)?)
        }
        _ => return Err(unsupported("")),
    };
    Ok(Node {
        nulls: array.nulls(),
        val,
    })
}

/// Binds the columns of a struct (or of a batch whose columns are a struct's fields).
pub(crate) fn bind_columns<'a>(
    fields: &'a Fields,
    columns: &'a [ArrayRef],
    path: &str,
    format: &'static str,
) -> Result<Vec<Node<'a>>, FormatError> {
    fields
        .iter()
        .zip(columns)
        .map(|(f, c)| {
            let p = if path.is_empty() {
                f.name().clone()
            } else {
                format!("{path}.{}", f.name())
            };
            bind(c.as_ref(), &p, format)
        })
        .collect()
}

impl Node<'_> {
    pub(crate) fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(i))
    }

    /// Writes row `i` as JSON.
    pub(crate) fn write(&self, i: usize, out: &mut Vec<u8>) {
        if self.is_null(i) {
            out.extend_from_slice(b"null");
            return;
        }
        match &self.val {
            Val::I8(v) => write_int(out, v[i] as i64),
            Val::I16(v) => write_int(out, v[i] as i64),
            Val::I32(v) => write_int(out, v[i] as i64),
            Val::I64(v) => write_int(out, v[i]),
            Val::F32(v) => write_float(out, v[i]),
            Val::F64(v) => write_double(out, v[i]),
            Val::Bool(a) => out.extend_from_slice(if a.value(i) { b"true" } else { b"false" }),
            Val::Str(a) => write_str(out, a.value(i)),
            Val::Bin(a) => write_base64(out, a.value(i)),
            Val::Dec(v) => {
                let mut buf = [0u8; 16];
                write_base64(out, decimal_bytes(v[i], &mut buf));
            }
            Val::List(offsets, items) => {
                out.push(b'[');
                for j in offsets[i] as usize..offsets[i + 1] as usize {
                    if j > offsets[i] as usize {
                        out.push(b',');
                    }
                    items.write(j, out);
                }
                out.push(b']');
            }
            Val::Map(offsets, keys, values, string_keys) => {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                out.push(if *string_keys { b'{' } else { b'[' });
                for j in start..end {
                    if j > start {
                        out.push(b',');
                    }
                    if *string_keys {
                        keys.write(j, out);
                        out.push(b':');
                        values.write(j, out);
                    } else {
                        out.push(b'[');
                        keys.write(j, out);
                        out.push(b',');
                        values.write(j, out);
                        out.push(b']');
                    }
                }
                out.push(if *string_keys { b'}' } else { b']' });
            }
            Val::Struct(fields, children) => write_object(fields, children, i, out),
        }
    }

    /// The string or bytes of row `i`, for text output; `None` for other types.
    pub(crate) fn raw(&self, i: usize) -> Option<&[u8]> {
        match &self.val {
            Val::Str(a) => Some(a.value(i).as_bytes()),
            Val::Bin(a) => Some(a.value(i)),
            _ => None,
        }
    }
}

/// Writes row `i` of struct fields as a JSON object, fields in schema order.
pub(crate) fn write_object(fields: &Fields, children: &[Node<'_>], i: usize, out: &mut Vec<u8>) {
    out.push(b'{');
    for (n, (f, c)) in fields.iter().zip(children).enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_str(out, f.name());
        out.push(b':');
        c.write(i, out);
    }
    out.push(b'}');
}

pub(crate) fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[pos..]);
}

/// A string as Jackson escapes it: quotes, backslash and control characters only, with
/// upper-case hex in `\u00XX`.
///
/// Text is copied in runs between the bytes that need escaping, found eight bytes at a time:
/// a byte-by-byte scan took a third of a JSON drain's CPU time, most records' text having
/// nothing to escape.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes[i..].first_chunk::<8>()
            && !any_needs_escape(u64::from_le_bytes(*word))
        {
            i += 8;
            continue;
        }
        if let Some(escape) = escape(bytes[i]) {
            out.extend_from_slice(&bytes[start..i]);
            escape.write(out);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any of a word's eight bytes is below 0x20, `"` or `\`. Each test is the exact
/// "some byte is zero / less than n" bit trick: a borrow can only pass into a higher byte
/// from a byte that already matched, so the answer for the word is exact.
#[inline]
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
    (control | quote | backslash) & HIGHS != 0
}

/// How Jackson writes a byte that needs escaping.
enum Escape {
    Short(&'static [u8]),
    Unicode(u8),
}

impl Escape {
    fn write(self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        match self {
            Escape::Short(text) => out.extend_from_slice(text),
            Escape::Unicode(b) => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]),
        }
    }
}

#[inline]
fn escape(b: u8) -> Option<Escape> {
    Some(match b {
        b'"' => Escape::Short(b"\\\""),
        b'\\' => Escape::Short(b"\\\\"),
        b'\n' => Escape::Short(b"\\n"),
        b'\r' => Escape::Short(b"\\r"),
        b'\t' => Escape::Short(b"\\t"),
        0x08 => Escape::Short(b"\\b"),
        0x0c => Escape::Short(b"\\f"),
        0x00..=0x1f => Escape::Unicode(b),
        _ => return None,
    })
}

/// A quoted base64 string: standard alphabet, padded, no line breaks (Jackson's default).
pub(crate) fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(data.len().div_ceil(3) * 4 + 2);
    out.push(b'"');
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = (a as u32) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (a as u32) << 16 | (b as u32) << 8;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
    out.push(b'"');
}

/// A fixed-size text buffer, so number formatting needs no allocation.
struct Stack {
    buf: [u8; 64],
    len: usize,
}

impl std::fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

pub(crate) fn write_double(out: &mut Vec<u8>, v: f64) {
    write_java_number(out, v, v.is_finite(), v.is_nan(), v > 0.0);
}

pub(crate) fn write_float(out: &mut Vec<u8>, v: f32) {
    write_java_number(out, v, v.is_finite(), v.is_nan(), v > 0.0);
}

/// A float or double as Java's `toString` prints it. Generic so that a float keeps its own
/// shortest digits (widening it to f64 first would print more).
fn write_java_number(
    out: &mut Vec<u8>,
    v: impl std::fmt::LowerExp,
    finite: bool,
    nan: bool,
    positive: bool,
) {
    if !finite {
        write_non_finite(out, nan, positive);
        return;
    }
    let mut s = Stack {
        buf: [0; 64],
        len: 0,
    };
    // Rust's `{:e}` gives the shortest digits that round-trip, as Java's toString does.
    if write!(s, "{v:e}").is_ok() {
        java_style(out, &s.buf[..s.len]);
    }
}

/// Jackson quotes non-finite numbers (`QUOTE_NON_NUMERIC_NUMBERS`, on by default).
fn write_non_finite(out: &mut Vec<u8>, nan: bool, positive: bool) {
    out.extend_from_slice(match (nan, positive) {
        (true, _) => b"\"NaN\"",
        (false, true) => b"\"Infinity\"",
        (false, false) => b"\"-Infinity\"",
    });
}

/// Rewrites Rust's `d.ddde±x` as Java's `Double.toString`: plain notation with at least one
/// fraction digit for 1e-3 <= |v| < 1e7, otherwise `d.dddE±x`.
fn java_style(out: &mut Vec<u8>, sci: &[u8]) {
    let (negative, sci) = match sci.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, sci),
    };
    let Some(e_at) = sci.iter().position(|&c| c == b'e') else {
        out.extend_from_slice(sci);
        return;
    };
    let (mantissa, exp_text) = (&sci[..e_at], &sci[e_at + 1..]);
    let exp: i32 = std::str::from_utf8(exp_text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 40];
    let mut nd = 0;
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        if let Some(d) = digits.get_mut(nd) {
            *d = c;
            nd += 1;
        }
    }
    let digits = &digits[..nd.max(1)];
    if negative {
        out.push(b'-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            for k in 0..int_len {
                out.push(digits.get(k).copied().unwrap_or(b'0'));
            }
            out.push(b'.');
            match digits.get(int_len..) {
                Some(frac) if !frac.is_empty() => out.extend_from_slice(frac),
                _ => out.push(b'0'),
            }
        } else {
            out.extend_from_slice(b"0.");
            for _ in 0..(-exp - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        match digits.get(1..) {
            Some(frac) if !frac.is_empty() => out.extend_from_slice(frac),
            _ => out.push(b'0'),
        }
        out.push(b'E');
        write_int(out, exp as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f64) -> String {
        let mut out = Vec::new();
        write_double(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn f(v: f32) -> String {
        let mut out = Vec::new();
        write_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(d(0.0), "0.0");
        assert_eq!(d(-0.0), "-0.0");
        assert_eq!(d(1.0), "1.0");
        assert_eq!(d(100.0), "100.0");
        assert_eq!(d(1.5), "1.5");
        assert_eq!(d(-12.25), "-12.25");
        assert_eq!(d(1234567.0), "1234567.0");
        assert_eq!(d(9999999.5), "9999999.5");
        assert_eq!(d(1e7), "1.0E7");
        assert_eq!(d(1.25e20), "1.25E20");
        assert_eq!(d(0.001), "0.001");
        assert_eq!(d(0.00123), "0.00123");
        assert_eq!(d(0.0001), "1.0E-4");
        assert_eq!(d(-1.5e-10), "-1.5E-10");
        assert_eq!(d(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(d(f64::MAX), "1.7976931348623157E308");
        assert_eq!(d(f64::NAN), "\"NaN\"");
        assert_eq!(d(f64::INFINITY), "\"Infinity\"");
        assert_eq!(d(f64::NEG_INFINITY), "\"-Infinity\"");
        assert_eq!(f(1.1), "1.1");
        assert_eq!(f(3.4028235e38), "3.4028235E38");
        assert_eq!(f(1e-5), "1.0E-5");
    }

    /// Byte by byte, the plain way: the oracle for `write_str`'s word-at-a-time scan.
    fn escaped_byte_by_byte(s: &str) -> String {
        let mut out = vec![b'"'];
        for &b in s.as_bytes() {
            match escape(b) {
                Some(e) => e.write(&mut out),
                None => out.push(b),
            }
        }
        out.push(b'"');
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_byte_that_needs_escaping_is_found_at_every_position_of_a_word() {
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain([
                '"', '\\', '/', ' ', '!', '#', '[', ']', 'é', '\u{7f}', '\u{80}', '€', '😀',
            ])
            .collect();
        for &special in &specials {
            for len in 0..20 {
                for at in 0..len {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    let mut out = Vec::new();
                    write_str(&mut out, &text);
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        escaped_byte_by_byte(&text),
                        "{special:?} at {at} of {len}"
                    );
                }
            }
        }
        // Neighbours of the special bytes, and runs of them, in all alignments.
        let text: String = specials
            .iter()
            .chain(specials.iter().rev())
            .collect::<String>()
            .repeat(3);
        for skip in 0..9 {
            let tail: String = text.chars().skip(skip).collect();
            let mut out = Vec::new();
            write_str(&mut out, &tail);
            assert_eq!(String::from_utf8(out).unwrap(), escaped_byte_by_byte(&tail));
        }
    }

    #[test]
    fn strings_and_base64() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é/");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001é/""#);
        for (data, want) in [
            (&b""[..], "\"\""),
            (b"\x01\x02\x03", "\"AQID\""),
            (b"hello", "\"aGVsbG8=\""),
            (b"h", "\"aA==\""),
            (b"\xff\xfe", "\"//4=\""),
        ] {
            let mut out = Vec::new();
            write_base64(&mut out, data);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
        let mut out = Vec::new();
        write_int(&mut out, i64::MIN);
        out.push(b' ');
        write_int(&mut out, 0);
        out.push(b' ');
        write_int(&mut out, 42);
        assert_eq!(String::from_utf8(out).unwrap(), "-9223372036854775808 0 42");
    }
}
