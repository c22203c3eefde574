//! `fccl_alltoallv`'s per-peer blocks: a count and a displacement (in elements, from the
//! start of the buffer) for every rank, as MPI's `sendcounts`/`sdispls` and
//! `recvcounts`/`rdispls`. NULL displacements mean packed blocks in rank order.

use crate::error::Fail;

/// The blocks of one side of an alltoallv, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blocks {
    /// Elements for (or from) each rank.
    pub(crate) counts: Vec<usize>,
    /// Where each rank's block starts, in elements.
    pub(crate) displs: Vec<usize>,
    /// Elements the buffer must hold: the end of the furthest non-empty block.
    pub(crate) extent: usize,
    /// Sum of the counts.
    pub(crate) total: usize,
}

impl Blocks {
    /// Reads `n` counts and (unless `displs` is NULL) `n` displacements; `what` names the
    /// side ("send" or "recv") in errors.
    ///
    /// # Safety
    /// Each non-null pointer points to `n` readable `usize`s.
    pub(crate) unsafe fn read(
        counts: *const usize,
        displs: *const usize,
        n: usize,
        what: &str,
    ) -> Result<Blocks, Fail> {
        if counts.is_null() {
            return Err(Fail::invalid(format!("{what}counts is NULL")));
        }
        // SAFETY: non-null; `n` entries per the caller.
        let counts = unsafe { std::slice::from_raw_parts(counts, n) }.to_vec();
        let displs = if displs.is_null() {
            None
        } else {
            // SAFETY: non-null; `n` entries per the caller.
            Some(unsafe { std::slice::from_raw_parts(displs, n) }.to_vec())
        };
        Blocks::new(counts, displs, what)
    }

    /// Checks the blocks: sums and ends within the address space.
    fn new(counts: Vec<usize>, displs: Option<Vec<usize>>, what: &str) -> Result<Blocks, Fail> {
        let too_big = || Fail::invalid(format!("{what} blocks reach past the address space"));
        let mut total = 0usize;
        let mut packed = Vec::with_capacity(counts.len());
        for &c in &counts {
            packed.push(total);
            total = total.checked_add(c).ok_or_else(too_big)?;
        }
        let displs = displs.unwrap_or(packed);
        let mut extent = 0;
        for (&c, &d) in counts.iter().zip(&displs) {
            if c > 0 {
                extent = extent.max(d.checked_add(c).ok_or_else(too_big)?);
            }
        }
        Ok(Blocks {
            counts,
            displs,
            extent,
            total,
        })
    }

    /// Whether the blocks lie packed in rank order from the start.
    pub(crate) fn is_packed(&self) -> bool {
        let mut at = 0;
        self.counts.iter().zip(&self.displs).all(|(&c, &d)| {
            let ok = c == 0 || d == at;
            at += c;
            ok
        })
    }

    /// An error if two non-empty blocks share an element (a receive would write one twice).
    pub(crate) fn disjoint(&self, what: &str) -> Result<(), Fail> {
        let mut spans: Vec<(usize, usize, usize)> = (0..self.counts.len())
            .filter(|&r| self.counts[r] > 0)
            .map(|r| (self.displs[r], self.displs[r] + self.counts[r], r))
            .collect();
        spans.sort_unstable();
        for pair in spans.windows(2) {
            let ((_, end, a), (start, _, b)) = (pair[0], pair[1]);
            if start < end {
                return Err(Fail::invalid(format!(
                    "{what} blocks of ranks {a} and {b} overlap"
                )));
            }
        }
        Ok(())
    }

    /// Copies the blocks out of `buf` into one packed vector in rank order (an empty
    /// block's displacement is ignored, as its extent).
    pub(crate) fn pack<T: Copy>(&self, buf: &[T]) -> Vec<T> {
        let mut out = Vec::with_capacity(self.total);
        for (&c, &d) in self.counts.iter().zip(&self.displs) {
            if c > 0 {
                out.extend_from_slice(&buf[d..d + c]);
            }
        }
        out
    }

    /// Copies `packed` (the blocks in rank order) to their places in `buf`.
    pub(crate) fn unpack<T: Copy>(&self, packed: &[T], buf: &mut [T]) {
        let mut at = 0;
        for (&c, &d) in self.counts.iter().zip(&self.displs) {
            if c > 0 {
                buf[d..d + c].copy_from_slice(&packed[at..at + c]);
                at += c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_displacements_mean_packed() {
        let b = Blocks::new(vec![2, 0, 3], None, "send").unwrap();
        assert_eq!((b.displs.clone(), b.extent, b.total), (vec![0, 2, 2], 5, 5));
        assert!(b.is_packed());
    }

    #[test]
    fn displacements_set_the_extent_and_the_copies() {
        // rank 0's block at 4..6, rank 1's empty (its displacement ignored), rank 2's at 0..1
        let b = Blocks::new(vec![2, 0, 1], Some(vec![4, 100, 0]), "recv").unwrap();
        assert_eq!((b.extent, b.total), (6, 3));
        assert!(!b.is_packed());
        b.disjoint("recv").unwrap();
        let buf = [10, 11, 12, 13, 14, 15];
        assert_eq!(b.pack(&buf), vec![14, 15, 10]);
        let mut out = [0; 6];
        b.unpack(&[1, 2, 3], &mut out);
        assert_eq!(out, [3, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn overlapping_receive_blocks_and_overflow_are_errors() {
        let b = Blocks::new(vec![3, 2], Some(vec![0, 2]), "recv").unwrap();
        let e = b.disjoint("recv").unwrap_err();
        assert!(e.message.contains("ranks 0 and 1 overlap"), "{}", e.message);
        assert!(Blocks::new(vec![2, 1], Some(vec![usize::MAX - 1, 0]), "send").is_err());
        assert!(Blocks::new(vec![usize::MAX, 1], None, "send").is_err());
    }
}
