//! Lakesink partitioners.
//!
//! Owns: deciding the output directory (the "encoded partition", relative to `topics.dir`)
//! of the records of a converted batch. `DefaultPartitioner` gives `<topic>/partition=<p>`,
//! the Confluent layout.
//!
//! Must not touch: file contents, storage, offsets.

use lakesink_record::TopicPartition;

/// Rows of a batch that go to one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Directory under `topics.dir`, `/`-separated.
    pub dir: String,
    /// Row indices in batch order; `None` means every row.
    pub rows: Option<Vec<u32>>,
}

/// The partitioner of a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    /// `io.confluent.connect.storage.partitioner.DefaultPartitioner`.
    Default,
}

impl Partitioner {
    /// Spreads the `rows` records of a batch of `tp` over directories.
    pub fn partition(&self, tp: &TopicPartition, _rows: usize) -> Vec<Slice> {
        match self {
            Partitioner::Default => vec![Slice {
                dir: format!("{}/partition={}", tp.topic, tp.partition),
                rows: None,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout() {
        let s = Partitioner::Default.partition(&TopicPartition::new("orders", 7), 3);
        assert_eq!(
            s,
            vec![Slice {
                dir: "orders/partition=7".into(),
                rows: None
            }]
        );
    }
}
