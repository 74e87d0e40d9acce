//! Where a Schema Registry-framed key or value names its writer schema.
//!
//! Confluent's serializers name the schema in one of two places, and its deserializers
//! (`DualSchemaIdDeserializer`, the default since 8.0) read both:
//! - a header, `__key_schema_id` or `__value_schema_id` (the last one of that name): magic
//!   byte 1 and a 16-byte schema GUID (or magic byte 0 and a 4-byte id), then, for
//!   Protobuf, the message indexes; the whole key or value is then the payload;
//! - otherwise a prefix of the key or value: magic byte 0 and a big-endian 4-byte id (or
//!   magic byte 1 and a GUID, which deserializers accept although no serializer writes it),
//!   then, for Protobuf, the message indexes, then the payload.

use lakesink_record::RawRecord;

use crate::Role;

/// A writer schema's name in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WriterRef {
    Id(u32),
    /// A schema GUID, as the 16 bytes of its UUID (big-endian).
    Guid([u8; 16]),
}

impl std::fmt::Display for WriterRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterRef::Id(id) => write!(f, "schema id {id}"),
            WriterRef::Guid(g) => write!(f, "schema GUID {}", uuid::Uuid::from_bytes(*g)),
        }
    }
}

/// A framed key or value taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub schema: WriterRef,
    /// What follows the schema reference: Protobuf message indexes, then (prefix framing
    /// only) the payload.
    pub rest: &'a [u8],
    /// Header framing: the whole key or value is the payload.
    pub payload_is_whole: bool,
}

/// Magic byte and GUID.
const GUID_FRAME: usize = 17;

/// The schema-id header of `role` (`__key_schema_id` / `__value_schema_id`).
pub(crate) fn header_name(role: Role) -> &'static str {
    match role {
        Role::Key => "__key_schema_id",
        Role::Value => "__value_schema_id",
    }
}

/// Takes the schema reference out of a record's key or value (`bytes`) or its header.
pub(crate) fn frame<'a>(
    role: Role,
    record: &RawRecord<'a>,
    bytes: &'a [u8],
) -> Result<Frame<'a>, String> {
    let name = header_name(role);
    // As Java's `headers.lastHeader(name)`; a header with a null value does not count.
    let header = record
        .headers()
        .filter(|(n, _)| *n == name)
        .last()
        .and_then(|(_, v)| v);
    if let Some(h) = header {
        let (schema, rest) = reference(h).map_err(|e| format!("header {name}: {e}"))?;
        return Ok(Frame {
            schema,
            rest,
            payload_is_whole: true,
        });
    }
    let (schema, rest) = reference(bytes)?;
    Ok(Frame {
        schema,
        rest,
        payload_is_whole: false,
    })
}

/// The schema reference at the start of `bytes`, and what follows it.
fn reference(bytes: &[u8]) -> Result<(WriterRef, &[u8]), String> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => {
            Ok((WriterRef::Id(u32::from_be_bytes([*a, *b, *c, *d])), rest))
        }
        [1, rest @ ..] if rest.len() >= 16 => {
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&rest[..16]);
            Ok((WriterRef::Guid(guid), &rest[16..]))
        }
        [1, ..] => Err(format!(
            "{} bytes: magic byte 1 (a schema GUID) needs {GUID_FRAME} bytes",
            bytes.len()
        )),
        [0, ..] | [] => Err(format!(
            "{} bytes: too short for the Confluent wire format (magic byte 0 and a 4-byte schema id)",
            bytes.len()
        )),
        [b, ..] => Err(format!(
            "unknown magic byte {b} (the Confluent wire format starts with 0, then a 4-byte schema id, or with 1, then a 16-byte schema GUID)"
        )),
    }
}

/// Only the schema reference, for looking schemas up ahead of decoding.
pub(crate) fn schema_of(role: Role, record: &RawRecord<'_>, bytes: &[u8]) -> Option<WriterRef> {
    frame(role, record, bytes).ok().map(|f| f.schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakesink_record::RawBatch;

    fn one(value: &[u8], headers: &[(&str, Option<&[u8]>)]) -> RawBatch {
        let mut b = RawBatch::default();
        b.push_with_headers(0, None, None, Some(value), headers.iter().copied());
        b
    }

    #[test]
    fn prefix_and_header_framing() {
        let b = one(&[0, 0, 0, 1, 2, 9, 9], &[]);
        let r = b.get(0);
        let f = frame(Role::Value, &r, r.value.unwrap()).unwrap();
        assert_eq!(f.schema, WriterRef::Id(258));
        assert_eq!(f.rest, &[9, 9]);
        assert!(!f.payload_is_whole);

        let mut guid = vec![1u8];
        guid.extend(1..=16u8);
        guid.push(0); // Protobuf indexes [0] in the header
        let b = one(
            b"whole payload",
            &[
                ("__value_schema_id", Some(&[0, 0, 0, 0, 7][..])),
                ("other", None),
                ("__value_schema_id", Some(&guid[..])),
                ("__key_schema_id", Some(&[0, 0, 0, 0, 3][..])),
            ],
        );
        let r = b.get(0);
        let f = frame(Role::Value, &r, r.value.unwrap()).unwrap();
        let want: Vec<u8> = (1..=16).collect();
        assert_eq!(f.schema, WriterRef::Guid(want.try_into().unwrap()));
        assert_eq!(f.rest, &[0]);
        assert!(f.payload_is_whole);
        assert_eq!(
            f.schema.to_string(),
            "schema GUID 01020304-0506-0708-090a-0b0c0d0e0f10"
        );
        // The key's own header.
        let f = frame(Role::Key, &r, b"k").unwrap();
        assert_eq!(f.schema, WriterRef::Id(3));

        // A null header value falls back to the prefix.
        let b = one(&[0, 0, 0, 0, 5], &[("__value_schema_id", None)]);
        let r = b.get(0);
        assert_eq!(
            frame(Role::Value, &r, r.value.unwrap()).unwrap().schema,
            WriterRef::Id(5)
        );
    }

    #[test]
    fn bad_frames_say_what_is_wrong() {
        let b = one(b"\x07abc", &[]);
        let r = b.get(0);
        let e = frame(Role::Value, &r, r.value.unwrap()).unwrap_err();
        assert!(e.starts_with("unknown magic byte 7"), "{e}");
        let b = one(b"\x00\x00", &[]);
        let r = b.get(0);
        let e = frame(Role::Value, &r, r.value.unwrap()).unwrap_err();
        assert!(e.contains("too short for the Confluent wire format"), "{e}");
        let b = one(b"\x01garbage", &[]);
        let r = b.get(0);
        let e = frame(Role::Value, &r, r.value.unwrap()).unwrap_err();
        assert!(
            e.contains("magic byte 1 (a schema GUID) needs 17 bytes"),
            "{e}"
        );
        let b = one(b"v", &[("__value_schema_id", Some(&b"\x01short"[..]))]);
        let r = b.get(0);
        let e = frame(Role::Value, &r, r.value.unwrap()).unwrap_err();
        assert!(e.starts_with("header __value_schema_id: 6 bytes"), "{e}");
    }
}
