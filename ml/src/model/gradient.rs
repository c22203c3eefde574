//! Sparse gradients: sorted, unique coordinates with their values.
//!
//! A model's minibatch gradient touches only the coordinates its rows use, so it is kept as
//! (index, value) pairs; a dense gradient is a plain `Vec<f32>` of the model's length. The
//! parameter server pushes these pairs, the allreduce path turns them into a dense vector
//! with [`SparseGradient::add_to_dense`], and top-k compression produces them.

use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

/// A gradient over a few coordinates of a flat parameter vector.
///
/// Invariant: `indices` is strictly increasing and `values[n]` belongs to `indices[n]`. The
/// fields are public so that message codecs can move them without copying; code that fills
/// them by hand should call [`SparseGradient::check`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseGradient {
    /// The coordinates, strictly increasing.
    pub indices: Vec<u32>,
    /// The value at each coordinate of `indices`.
    pub values: Vec<f32>,
}

impl SparseGradient {
    /// An empty gradient.
    pub fn new() -> SparseGradient {
        SparseGradient::default()
    }

    /// A gradient from (index, value) pairs in any order; the values of a repeated index are
    /// summed in the order given (so the result is deterministic).
    pub fn from_pairs(mut pairs: Vec<(u32, f32)>) -> SparseGradient {
        // Stable: equal indices keep their order, so their sum does not depend on the sort.
        pairs.sort_by_key(|&(j, _)| j);
        let mut out = SparseGradient::new();
        for (j, v) in pairs {
            match out.indices.last() {
                Some(&last) if last == j => *out.values.last_mut().expect("same length") += v,
                _ => {
                    out.indices.push(j);
                    out.values.push(v);
                }
            }
        }
        out
    }

    /// The nonzero entries of a dense vector (exact zeros, either sign, are left out).
    pub fn from_dense(dense: &[f32]) -> SparseGradient {
        let mut out = SparseGradient::new();
        for (j, &v) in dense.iter().enumerate() {
            if v != 0.0 {
                out.indices.push(j as u32);
                out.values.push(v);
            }
        }
        out
    }

    /// The number of stored coordinates.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether no coordinate is stored.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The coordinates this gradient touches, strictly increasing.
    pub fn touched(&self) -> &[u32] {
        &self.indices
    }

    /// The (index, value) pairs in index order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u32, f32)> + '_ {
        self.indices
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }

    /// Empties the gradient, keeping its allocations.
    pub fn clear(&mut self) {
        self.indices.clear();
        self.values.clear();
    }

    /// A dense vector of length `n` holding this gradient (zeros elsewhere).
    ///
    /// # Panics
    /// If an index is `>= n`.
    pub fn to_dense(&self, n: usize) -> Vec<f32> {
        let mut dense = vec![0.0; n];
        self.add_to_dense(&mut dense);
        dense
    }

    /// `dense[j] += value` for every stored coordinate.
    ///
    /// # Panics
    /// If an index is beyond `dense`.
    pub fn add_to_dense(&self, dense: &mut [f32]) {
        for (j, v) in self.iter() {
            dense[j as usize] += v;
        }
    }

    /// Adds `other` into `self` (a sorted merge; shared coordinates are summed as
    /// `self + other`).
    pub fn add(&mut self, other: &SparseGradient) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            self.clone_from(other);
            return;
        }
        *self = SparseGradient::merged(self, other);
    }

    /// The sum `a + b` as a new gradient.
    pub fn merged(a: &SparseGradient, b: &SparseGradient) -> SparseGradient {
        let mut out = SparseGradient {
            indices: Vec::with_capacity(a.len() + b.len()),
            values: Vec::with_capacity(a.len() + b.len()),
        };
        let (mut x, mut y) = (0, 0);
        while x < a.len() || y < b.len() {
            let take_a = y == b.len() || (x < a.len() && a.indices[x] <= b.indices[y]);
            let take_b = x == a.len() || (y < b.len() && b.indices[y] <= a.indices[x]);
            let (j, v) = match (take_a, take_b) {
                (true, true) => (a.indices[x], a.values[x] + b.values[y]),
                (true, false) => (a.indices[x], a.values[x]),
                _ => (b.indices[y], b.values[y]),
            };
            x += usize::from(take_a);
            y += usize::from(take_b);
            out.indices.push(j);
            out.values.push(v);
        }
        out
    }

    /// Multiplies every value by `factor` (e.g. `1 / batch` to turn a sum into a mean).
    pub fn scale(&mut self, factor: f32) {
        for v in &mut self.values {
            *v *= factor;
        }
    }

    /// Checks the invariant: as many values as indices, indices strictly increasing and
    /// below `parameters`.
    pub fn check(&self, parameters: usize) -> Result<()> {
        if self.indices.len() != self.values.len() {
            return Err(MlError::invalid(format!(
                "a sparse gradient has {} indices but {} values",
                self.indices.len(),
                self.values.len()
            )));
        }
        if let Some(w) = self.indices.windows(2).find(|w| w[0] >= w[1]) {
            return Err(MlError::invalid(format!(
                "sparse gradient indices must be strictly increasing, but {} is followed by {}",
                w[0], w[1]
            )));
        }
        if let Some(&last) = self.indices.last()
            && last as usize >= parameters
        {
            return Err(MlError::invalid(format!(
                "sparse gradient index {last} is beyond the model's {parameters} parameters"
            )));
        }
        Ok(())
    }
}

/// Collects per-row gradient contributions in `f64` and sums them per coordinate in the order
/// they were pushed (row order), rounding to `f32` once.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    pairs: Vec<(u32, f64)>,
}

impl Accumulator {
    /// Adds `v` at coordinate `j`.
    pub(crate) fn push(&mut self, j: u32, v: f64) {
        self.pairs.push((j, v));
    }

    /// Adds the summed contributions into `grad`.
    pub(crate) fn finish_into(mut self, grad: &mut SparseGradient) {
        self.pairs.sort_by_key(|&(j, _)| j);
        let mut sum = SparseGradient {
            indices: Vec::with_capacity(self.pairs.len()),
            values: Vec::with_capacity(self.pairs.len()),
        };
        let mut pairs = self.pairs.into_iter().peekable();
        while let Some((j, mut v)) = pairs.next() {
            while let Some((_, more)) = pairs.next_if(|&(k, _)| k == j) {
                v += more;
            }
            sum.indices.push(j);
            sum.values.push(v as f32);
        }
        grad.add(&sum);
    }
}

/// The sorted, de-duplicated union of `indices`.
pub(crate) fn sorted_unique(mut indices: Vec<u32>) -> Vec<u32> {
    indices.sort_unstable();
    indices.dedup();
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn from_pairs_sums_repeats_and_sorts() {
        let g = SparseGradient::from_pairs(vec![(5, 1.0), (2, 2.0), (5, 0.5), (0, -1.0)]);
        assert_eq!(g.indices, vec![0, 2, 5]);
        assert_eq!(g.values, vec![-1.0, 2.0, 1.5]);
        g.check(6).unwrap();
        assert!(
            g.check(5)
                .unwrap_err()
                .to_string()
                .contains("index 5 is beyond")
        );
    }

    #[test]
    fn dense_round_trip_and_check_refuses_bad_gradients() {
        let dense = vec![0.0, 3.0, 0.0, -0.0, -2.0];
        let g = SparseGradient::from_dense(&dense);
        assert_eq!(g.touched(), &[1, 4]);
        assert_eq!(g.to_dense(5), vec![0.0, 3.0, 0.0, 0.0, -2.0]);
        let unsorted = SparseGradient {
            indices: vec![3, 1],
            values: vec![1.0, 1.0],
        };
        assert!(unsorted.check(10).is_err());
        let ragged = SparseGradient {
            indices: vec![1],
            values: vec![],
        };
        assert!(ragged.check(10).is_err());
    }

    proptest! {
        #[test]
        fn merge_equals_dense_sum(
            a in proptest::collection::vec((0u32..40, -4i32..4), 0..30),
            b in proptest::collection::vec((0u32..40, -4i32..4), 0..30),
        ) {
            // Small integers keep every sum exact, so the comparison can be exact.
            let a = SparseGradient::from_pairs(a.into_iter().map(|(j, v)| (j, v as f32)).collect());
            let b = SparseGradient::from_pairs(b.into_iter().map(|(j, v)| (j, v as f32)).collect());
            let mut sum = a.clone();
            sum.add(&b);
            sum.check(40).unwrap();
            let mut dense = a.to_dense(40);
            b.add_to_dense(&mut dense);
            prop_assert_eq!(sum.to_dense(40), dense);
            let union = sorted_unique(a.indices.iter().chain(&b.indices).copied().collect());
            prop_assert_eq!(sum.touched(), &union[..]);
        }
    }
}
