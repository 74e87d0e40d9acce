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
    /// Per record, its range in `header_items` (most records have none: no allocation).
    headers: Vec<(u32, u32)>,
    /// (name, value) ranges in `data`.
    header_items: Vec<(Range<usize>, Option<Range<usize>>)>,
    data: Vec<u8>,
}

/// A record header: its name and value bytes (`None`: a null value).
pub type Header<'a> = (&'a str, Option<&'a [u8]>);

/// A view of one record of a [`RawBatch`].
#[derive(Clone, Copy)]
pub struct RawRecord<'a> {
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    batch: &'a RawBatch,
    /// First and end index in the batch's header items.
    headers: (u32, u32),
}

impl std::fmt::Debug for RawRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRecord")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl<'a> RawRecord<'a> {
    /// The record's headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + 'a {
        let batch = self.batch;
        batch.header_items[self.headers.0 as usize..self.headers.1 as usize]
            .iter()
            .map(move |(name, value)| {
                (
                    // Names are stored from `&str`s, so they are valid UTF-8.
                    std::str::from_utf8(&batch.data[name.clone()]).unwrap_or_default(),
                    value.clone().map(|v| &batch.data[v]),
                )
            })
    }
}

impl RawBatch {
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        RawBatch {
            offsets: Vec::with_capacity(records),
            timestamps: Vec::with_capacity(records),
            keys: Vec::with_capacity(records),
            values: Vec::with_capacity(records),
            headers: Vec::with_capacity(records),
            header_items: Vec::new(),
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
        self.push_with_headers(offset, timestamp, key, value, std::iter::empty());
    }

    /// Appends a record with its headers.
    pub fn push_with_headers<'h>(
        &mut self,
        offset: i64,
        timestamp: Option<i64>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = Header<'h>>,
    ) {
        let first = self.header_items.len() as u32;
        for (name, value) in headers {
            let start = self.data.len();
            self.data.extend_from_slice(name.as_bytes());
            let name = start..self.data.len();
            let value = value.map(|v| {
                let start = self.data.len();
                self.data.extend_from_slice(v);
                start..self.data.len()
            });
            self.header_items.push((name, value));
        }
        self.headers.push((first, self.header_items.len() as u32));
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
            batch: self,
            headers: self.headers[i],
        }
    }

    /// The index of the record at `offset`.
    pub fn index_of(&self, offset: i64) -> Option<usize> {
        self.offsets.binary_search(&offset).ok()
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
        self.headers.drain(..n);
    }

    /// Drops the records at the given offsets (set aside, e.g. as dead letters). Their bytes
    /// stay in the buffer: this happens rarely, and the other records' ranges stay valid.
    pub fn remove_offsets(&mut self, offsets: &[i64]) {
        if offsets.is_empty() {
            return;
        }
        let keep: Vec<bool> = self.offsets.iter().map(|o| !offsets.contains(o)).collect();
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        retain(&mut self.offsets, &keep);
        retain(&mut self.timestamps, &keep);
        retain(&mut self.keys, &keep);
        retain(&mut self.values, &keep);
        retain(&mut self.headers, &keep);
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

    #[test]
    fn headers_are_kept_per_record() {
        let mut b = RawBatch::default();
        b.push_with_headers(
            1,
            None,
            None,
            Some(b"v"),
            [("a", Some(&b"1"[..])), ("b", None)].into_iter(),
        );
        b.push(2, None, None, Some(b"w"));
        let h: Vec<_> = b.get(0).headers().collect();
        assert_eq!(h, vec![("a", Some(&b"1"[..])), ("b", None)]);
        assert_eq!(b.get(1).headers().count(), 0);
        assert_eq!(b.index_of(2), Some(1));
        b.skip_below(2);
        assert_eq!(b.get(0).headers().count(), 0);
    }

    #[test]
    fn removed_records_leave_the_others_intact() {
        let mut b = RawBatch::default();
        b.push_with_headers(1, Some(10), Some(b"k1"), Some(b"v1"), std::iter::empty());
        b.push_with_headers(2, Some(20), Some(b"k2"), None, [("h", None)].into_iter());
        b.push_with_headers(
            3,
            Some(30),
            None,
            Some(b"v3"),
            [("h", Some(&b"3"[..]))].into_iter(),
        );
        b.remove_offsets(&[2]);
        assert_eq!(b.offsets, vec![1, 3]);
        assert_eq!(b.get(0).key, Some(&b"k1"[..]));
        assert_eq!(b.get(1).value, Some(&b"v3"[..]));
        assert_eq!(b.get(1).timestamp, Some(30));
        let h: Vec<_> = b.get(1).headers().collect();
        assert_eq!(h, vec![("h", Some(&b"3"[..]))]);
        assert_eq!(b.index_of(3), Some(1));
        b.remove_offsets(&[]);
        assert_eq!(b.len(), 2);
    }
}
