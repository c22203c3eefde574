//! Partitioning across ranks and a seeded train/test split.
//!
//! Rank `r` of `N` gets the contiguous block of rows `[r*n/N, (r+1)*n/N)`: sizes differ by
//! at most one and the blocks cover every row once, in order. A rank whose block would be
//! empty is an error rather than a silent idle worker. The split shuffles the rows with a
//! [`StdRng`] seeded from the seed, so it is the same on every machine for one seed.

use std::ops::Range;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{Ratings, SparseDataset};
use crate::error::{MlError, Result};

/// The rows `[rank*rows/size, (rank+1)*rows/size)` that `rank` of `size` gets; an error if
/// `rank >= size` or the block is empty.
pub fn block_range(rows: usize, rank: usize, size: usize) -> Result<Range<usize>> {
    if rank >= size {
        return Err(MlError::invalid(format!(
            "rank {rank} is not below the {size} ranks"
        )));
    }
    // u128 so rank * rows cannot overflow.
    let at = |r: usize| (r as u128 * rows as u128 / size as u128) as usize;
    let range = at(rank)..at(rank + 1);
    if range.is_empty() {
        return Err(MlError::invalid(format!(
            "rank {rank} of {size} would get no rows of {rows}"
        )));
    }
    Ok(range)
}

/// The shuffled order of `rows` rows for `seed`, cut into (train, test) with
/// `round(test_fraction * rows)` test rows.
fn split_order(rows: usize, test_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(MlError::invalid(format!(
            "the test fraction {test_fraction} is not between 0 and 1"
        )));
    }
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let test = (test_fraction * rows as f64).round() as usize;
    let train = order.split_off(test);
    Ok((train, order))
}

impl SparseDataset {
    /// The contiguous block of rows of `rank` of `size` (see [`block_range`]).
    pub fn partition(&self, rank: usize, size: usize) -> Result<SparseDataset> {
        Ok(self.select(block_range(self.len(), rank, size)?))
    }

    /// A seeded shuffle of the rows cut into (train, test), with
    /// `round(test_fraction * len)` rows in test; the same for the same seed.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(SparseDataset, SparseDataset)> {
        let (train, test) = split_order(self.len(), test_fraction, seed)?;
        Ok((self.select(train), self.select(test)))
    }
}

impl Ratings {
    /// The contiguous block of ratings of `rank` of `size` (see [`block_range`]).
    pub fn partition(&self, rank: usize, size: usize) -> Result<Ratings> {
        Ok(self.select(block_range(self.len(), rank, size)?))
    }

    /// A seeded shuffle of the ratings cut into (train, test), with
    /// `round(test_fraction * len)` ratings in test; the same for the same seed.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Ratings, Ratings)> {
        let (train, test) = split_order(self.len(), test_fraction, seed)?;
        Ok((self.select(train), self.select(test)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: u32) -> SparseDataset {
        let mut d = SparseDataset::new(n as usize);
        for r in 0..n {
            d.push(r as f32, &[r], &[1.0]).unwrap();
        }
        d
    }

    #[test]
    fn blocks_cover_every_row_once_in_order() {
        for (rows, size) in [(10, 3), (7, 7), (1000, 6), (5, 1)] {
            let blocks: Vec<_> = (0..size)
                .map(|r| block_range(rows, r, size).unwrap())
                .collect();
            assert_eq!(blocks[0].start, 0);
            assert_eq!(blocks[size - 1].end, rows);
            for pair in blocks.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let lens: Vec<_> = blocks.iter().map(|b| b.len()).collect();
            assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
        }
        assert_eq!(block_range(10, 1, 3).unwrap(), 3..6);
        let d = numbered(10);
        assert_eq!(d.partition(2, 3).unwrap().labels(), &[6.0, 7.0, 8.0, 9.0]);
    }

    #[test]
    fn an_empty_block_is_an_error_naming_the_rank() {
        // 3 rows over 4 ranks: blocks [0,0), [0,1), [1,2), [2,3).
        let e = numbered(3).partition(0, 4).unwrap_err().to_string();
        assert_eq!(e, "rank 0 of 4 would get no rows of 3");
        assert_eq!(numbered(3).partition(3, 4).unwrap().labels(), &[2.0]);
        let e = block_range(0, 2, 3).unwrap_err().to_string();
        assert_eq!(e, "rank 2 of 3 would get no rows of 0");
        assert!(block_range(3, 4, 4).is_err());
        let r = Ratings::default();
        assert!(r.partition(0, 1).is_err());
    }

    #[test]
    fn split_is_a_seeded_permutation() {
        let d = numbered(100);
        let (train, test) = d.split(0.25, 7).unwrap();
        assert_eq!((train.len(), test.len()), (75, 25));
        let mut all: Vec<f32> = train
            .labels()
            .iter()
            .chain(test.labels())
            .copied()
            .collect();
        assert_ne!(all, d.labels(), "shuffled");
        all.sort_by(f32::total_cmp);
        assert_eq!(all, d.labels());
        assert_eq!(d.split(0.25, 7).unwrap(), (train.clone(), test));
        assert_ne!(d.split(0.25, 8).unwrap().0, train);
        assert!(d.split(1.5, 0).is_err());
        let r = Ratings {
            user: (0..10).collect(),
            item: (0..10).collect(),
            rating: (0..10).map(|x| x as f32).collect(),
            users: 10,
            items: 10,
        };
        let (a, b) = r.split(0.2, 1).unwrap();
        assert_eq!((a.len(), b.len()), (8, 2));
        assert_eq!(r.partition(1, 2).unwrap().user, vec![5, 6, 7, 8, 9]);
    }
}
