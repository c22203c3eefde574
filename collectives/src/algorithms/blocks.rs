//! How a vector of `n` elements is cut into one block per rank.

use std::ops::Range;

/// Contiguous blocks `0..p` covering a vector; block `i` belongs to rank `i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocks {
    offsets: Vec<usize>,
}

impl Blocks {
    /// `p` blocks of `block` elements each.
    pub fn uniform(p: usize, block: usize) -> Blocks {
        Blocks {
            offsets: (0..=p).map(|i| i * block).collect(),
        }
    }

    /// `n` elements in `p` blocks whose sizes differ by at most one, larger ones first.
    pub fn balanced(n: usize, p: usize) -> Blocks {
        let (q, r) = (n / p, n % p);
        Blocks {
            offsets: (0..=p).map(|i| i * q + i.min(r)).collect(),
        }
    }

    /// Blocks of the given sizes, in order.
    pub fn from_counts(counts: &[usize]) -> Blocks {
        let mut offsets = Vec::with_capacity(counts.len() + 1);
        offsets.push(0);
        let mut at = 0;
        for c in counts {
            at += c;
            offsets.push(at);
        }
        Blocks { offsets }
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements of block `i`.
    pub fn range(&self, i: usize) -> Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    /// The elements of blocks `i..j` together.
    pub fn span(&self, i: usize, j: usize) -> Range<usize> {
        self.offsets[i]..self.offsets[j]
    }

    /// The size of block `i`.
    pub fn count(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }

    /// The number of elements in all blocks.
    pub fn total(&self) -> usize {
        self.offsets[self.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_blocks_cover_the_vector() {
        let b = Blocks::balanced(10, 4);
        let sizes: Vec<usize> = (0..4).map(|i| b.count(i)).collect();
        assert_eq!(sizes, [3, 3, 2, 2]);
        assert_eq!(b.total(), 10);
        assert_eq!(b.span(1, 3), 3..8);
        assert_eq!(Blocks::balanced(2, 5).total(), 2);
        assert_eq!(Blocks::from_counts(&[0, 4, 1]).range(1), 0..4);
    }
}
