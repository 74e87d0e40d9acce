//! The consumer protocol's member metadata and assignments, as a group description carries
//! them (`ConsumerProtocolSubscription` v0–v3, `ConsumerProtocolAssignment` v0–v3). Written by
//! hand: librdkafka hands out the bytes of other members but no decoder for them.

/// A member's subscription, as it sent it in its last JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    pub topics: Vec<String>,
    /// What the member said it owned when it joined (v1+; cooperative assignors fill it).
    pub owned: Vec<(String, i32)>,
}

/// Decodes a member's metadata for the consumer protocol.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, String> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.i16()?;
    let n = r.count()?;
    let mut topics = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        topics.push(r.string()?);
    }
    r.bytes()?; // user data
    let owned = if version >= 1 && !r.done() {
        r.topic_partitions()?
    } else {
        Vec::new()
    };
    Ok(Subscription { topics, owned })
}

/// Decodes a member's assignment: the partitions it was given.
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<(String, i32)>, String> {
    if bytes.is_empty() {
        // A member that has not synced yet, or was given nothing by an older leader.
        return Ok(Vec::new());
    }
    let mut r = Reader { bytes, at: 0 };
    let _version = r.i16()?;
    r.topic_partitions()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("truncated at byte {} of {}", self.at, self.bytes.len()))?;
        self.at = end;
        Ok(s)
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array length; -1 (null) counts as empty.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.i32()?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.i16()?).map_err(|_| "null string")?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|e| e.to_string())
    }

    fn bytes(&mut self) -> Result<(), String> {
        if let Ok(len) = usize::try_from(self.i32()?) {
            self.take(len)?;
        }
        Ok(())
    }

    fn topic_partitions(&mut self) -> Result<Vec<(String, i32)>, String> {
        let topics = self.count()?;
        let mut out = Vec::new();
        for _ in 0..topics {
            let topic = self.string()?;
            for _ in 0..self.count()? {
                out.push((topic.clone(), self.i32()?));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn partitions(out: &mut Vec<u8>, topic: &str, parts: &[i32]) {
        out.extend_from_slice(&1i32.to_be_bytes());
        string(out, topic);
        out.extend_from_slice(&(parts.len() as i32).to_be_bytes());
        for p in parts {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }

    #[test]
    fn decodes_a_v3_subscription_as_librdkafka_writes_it() {
        let mut b = 3i16.to_be_bytes().to_vec();
        b.extend_from_slice(&2i32.to_be_bytes());
        string(&mut b, "orders");
        string(&mut b, "clicks");
        b.extend_from_slice(&0i32.to_be_bytes()); // empty user data
        partitions(&mut b, "orders", &[0, 3]);
        b.extend_from_slice(&7i32.to_be_bytes()); // generation
        b.extend_from_slice(&(-1i16).to_be_bytes()); // no rack
        let s = decode_subscription(&b).unwrap();
        assert_eq!(s.topics, ["orders", "clicks"]);
        assert_eq!(
            s.owned,
            [("orders".to_string(), 0), ("orders".to_string(), 3)]
        );
    }

    #[test]
    fn decodes_a_v0_subscription_without_owned_partitions() {
        let mut b = 0i16.to_be_bytes().to_vec();
        b.extend_from_slice(&1i32.to_be_bytes());
        string(&mut b, "orders");
        b.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        let s = decode_subscription(&b).unwrap();
        assert_eq!(s.topics, ["orders"]);
        assert!(s.owned.is_empty());
    }

    #[test]
    fn decodes_an_assignment_and_rejects_a_truncated_one() {
        let mut b = 1i16.to_be_bytes().to_vec();
        partitions(&mut b, "_schemas", &[0]);
        b.extend_from_slice(&0i32.to_be_bytes()); // user data
        assert_eq!(decode_assignment(&b), Ok(vec![("_schemas".to_string(), 0)]));
        assert!(decode_assignment(&b[..5]).is_err());
        assert_eq!(decode_assignment(&[]), Ok(vec![]));
    }
}
