//! The commit record: one small self-checking file per commit.
//!
//! Layout: a header line `lakesink-commit 1 <crc32 of body, 8 hex digits> <body length>`, then
//! the JSON body and a newline. JSON keeps records readable with `hdfs dfs -cat` when an
//! operator needs to look; the checksum and length catch any damage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A new owner took the partition over (fences every earlier owner).
    Open,
    /// Files committed (possibly none, when only the offset moved).
    Files,
}

/// One data file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCommit {
    /// Where the closed file is now.
    pub temp: String,
    /// Its committed name.
    pub path: String,
    pub start_offset: i64,
    pub end_offset: i64,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub kind: RecordKind,
    pub epoch: u64,
    pub owner: String,
    pub written_at_ms: u64,
    /// The next Kafka offset to consume after this commit.
    pub next_offset: Option<i64>,
    #[serde(default)]
    pub files: Vec<FileCommit>,
    /// Output directories (relative to `topics.dir`) whose committed files reach past
    /// `next_offset`, with the last offset committed there. A partition whose records go to
    /// several directories commits each directory's file on its own, so other directories
    /// may still hold older, uncommitted records: on replay from `next_offset`, a record for
    /// one of these directories at or below its offset is already committed and is skipped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ahead: BTreeMap<String, i64>,
}

const MAGIC: &str = "lakesink-commit";
const VERSION: u32 = 1;

impl CommitRecord {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        let body = serde_json::to_vec(self).unwrap_or_default();
        let crc = crc32fast::hash(&body);
        let mut out = format!("{MAGIC} {VERSION} {crc:08x} {}\n", body.len()).into_bytes();
        out.extend_from_slice(&body);
        out.push(b'\n');
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<CommitRecord, String> {
        let nl = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("no header line (truncated)")?;
        let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| "header is not UTF-8")?;
        let parts: Vec<&str> = header.split(' ').collect();
        let [magic, version, crc, len] = parts[..] else {
            return Err(format!("malformed header '{header}'"));
        };
        if magic != MAGIC {
            return Err(format!("not a commit record (header '{header}')"));
        }
        if version != VERSION.to_string() {
            return Err(format!("unsupported commit record version {version}"));
        }
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad length in '{header}'"))?;
        let body = bytes
            .get(nl + 1..nl + 1 + len)
            .ok_or_else(|| format!("truncated: body shorter than {len} bytes"))?;
        let expected =
            u32::from_str_radix(crc, 16).map_err(|_| format!("bad checksum field '{crc}'"))?;
        let actual = crc32fast::hash(body);
        if actual != expected {
            return Err(format!(
                "checksum mismatch (stored {expected:08x}, computed {actual:08x})"
            ));
        }
        serde_json::from_slice(body).map_err(|e| format!("invalid body: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CommitRecord {
        CommitRecord {
            kind: RecordKind::Files,
            epoch: 3,
            owner: "host/1/task-0".into(),
            written_at_ms: 1,
            next_offset: Some(42),
            files: vec![FileCommit {
                temp: "topics/+tmp/t/0/a_tmp.avro".into(),
                path: "topics/t/partition=0/t+0+0000000000+0000000041.avro".into(),
                start_offset: 0,
                end_offset: 41,
                records: 42,
                bytes: 1000,
            }],
            ahead: BTreeMap::from([("t/day=2".to_string(), 50)]),
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(CommitRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn damage_is_detected() {
        let bytes = sample().encode();
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 3] {
            assert!(
                CommitRecord::decode(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        let i = bytes.len() - 10;
        flipped[i] ^= 0x01;
        let e = CommitRecord::decode(&flipped).unwrap_err();
        assert!(e.contains("checksum mismatch"), "{e}");
    }
}
