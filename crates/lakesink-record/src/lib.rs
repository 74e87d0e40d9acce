//! Lakesink record types shared by every stage.
//!
//! Owns: [`TopicPartition`] and [`RawBatch`], the form in which records leave the Kafka
//! source: one contiguous buffer per batch instead of one allocation per record.
//!
//! Must not touch: Kafka clients, decoding, storage. Plain data only.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A Kafka topic-partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: &str, partition: i32) -> Self {
        TopicPartition {
            topic: Arc::from(topic),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Consecutive records of one topic-partition, in offset order, copied out of the consumer.
#[derive(Debug, Clone, Default)]
pub struct RawBatch {
    pub offsets: Vec<i64>,
    /// Record timestamps in epoch milliseconds (`None` when the broker gave none).
    pub timestamps: Vec<Option<i64>>,
    keys: Vec<Option<Range<usize>>>,
    values: Vec<Option<Range<usize>>>,
    data: Vec<u8>,
}

/// A view of one record of a [`RawBatch`].
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl RawBatch {
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        RawBatch {
            offsets: Vec::with_capacity(records),
            timestamps: Vec::with_capacity(records),
            keys: Vec::with_capacity(records),
            values: Vec::with_capacity(records),
            data: Vec::with_capacity(bytes),
        }
    }

    pub fn push(
        &mut self,
        offset: i64,
        timestamp: Option<i64>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        let mut copy = |bytes: Option<&[u8]>| {
            bytes.map(|b| {
                let start = self.data.len();
                self.data.extend_from_slice(b);
                start..self.data.len()
            })
        };
        let key = copy(key);
        let value = copy(value);
        self.offsets.push(offset);
        self.timestamps.push(timestamp);
        self.keys.push(key);
        self.values.push(value);
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Payload bytes held (keys and values).
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    pub fn get(&self, i: usize) -> RawRecord<'_> {
        RawRecord {
            offset: self.offsets[i],
            timestamp: self.timestamps[i],
            key: self.keys[i].clone().map(|r| &self.data[r]),
            value: self.values[i].clone().map(|r| &self.data[r]),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = RawRecord<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn first_offset(&self) -> Option<i64> {
        self.offsets.first().copied()
    }

    pub fn last_offset(&self) -> Option<i64> {
        self.offsets.last().copied()
    }

    /// Drops the records with offsets below `offset` (already committed).
    pub fn skip_below(&mut self, offset: i64) {
        let n = self.offsets.partition_point(|o| *o < offset);
        if n == 0 {
            return;
        }
        self.offsets.drain(..n);
        self.timestamps.drain(..n);
        self.keys.drain(..n);
        self.values.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_skip() {
        let mut b = RawBatch::default();
        b.push(5, Some(1), Some(b"k"), Some(b"v1"));
        b.push(6, None, None, None);
        b.push(7, Some(3), None, Some(b"v3"));
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(0).value, Some(&b"v1"[..]));
        assert_eq!(b.get(1).value, None);
        b.skip_below(6);
        assert_eq!(b.first_offset(), Some(6));
        assert_eq!(b.get(1).value, Some(&b"v3"[..]));
        assert_eq!(b.get(1).timestamp, Some(3));
    }
}
