//! Collecting rows into per-directory slices.

use std::collections::HashMap;

use crate::Slice;

/// Builds the slices of one batch. Row lists are only materialised once a second directory
/// appears, so the common single-directory batch costs no per-row work here.
pub(crate) struct SliceBuilder {
    slices: Vec<(String, Vec<u32>)>,
    /// Different keys may print the same directory (JSON `5` and `"5"`, or a null and the
    /// string "null"); they must share one slice, since the sink keeps one file per directory.
    by_dir: HashMap<String, usize>,
    split: bool,
}

impl SliceBuilder {
    pub(crate) fn new() -> Self {
        SliceBuilder {
            slices: Vec::new(),
            by_dir: HashMap::new(),
            split: false,
        }
    }

    /// The slice of `dir`, created if new; `row` is the first row that goes there.
    pub(crate) fn slice_for_dir(&mut self, dir: String, row: u32) -> usize {
        if let Some(&i) = self.by_dir.get(&dir) {
            return i;
        }
        let i = self.slices.len();
        if i == 1 && !self.split {
            // Every earlier row went to the first slice.
            self.split = true;
            self.slices[0].1 = (0..row).collect();
        }
        self.by_dir.insert(dir.clone(), i);
        self.slices.push((dir, Vec::new()));
        i
    }

    pub(crate) fn push(&mut self, slice: usize, row: u32) {
        if self.split {
            self.slices[slice].1.push(row);
        }
    }

    pub(crate) fn finish(self) -> Vec<Slice> {
        let split = self.split;
        self.slices
            .into_iter()
            .map(|(dir, rows)| Slice {
                dir,
                rows: split.then_some(rows),
            })
            .collect()
    }
}
