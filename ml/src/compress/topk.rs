//! Top-k sparsification with error feedback ("Sparsified SGD with Memory", Stich, Cordonnier
//! and Jaggi 2018).
//!
//! Each step adds the gradient into a residual `z = residual + g`, sends the `k` entries of
//! largest magnitude as a [`SparseGradient`] and keeps every other entry in the residual.
//! Invariant, bit for bit per coordinate: the `f32` sum `g[j] + residual_before[j]` is
//! either sent (and `residual_after[j]` is `+0`) or it is `residual_after[j]`.
//!
//! How many: `k = ⌈fraction · n⌉`, where a product within 1e-9 (relative) of an integer
//! counts as that integer (so 0.1 of 30 is 3, not 4 from `0.1 · 30 = 3.0000000000000004`),
//! and `1 ≤ k ≤ n` for `n > 0`. Exact zeros are never sent, so fewer than `k` entries go out
//! when fewer are nonzero. Ties in magnitude go to the lower index, so the choice is
//! deterministic.

use super::super::model::SparseGradient;
use crate::error::{MlError, Result};

/// A top-k compressor with a residual per coordinate.
#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    fraction: f64,
    residual: Vec<f32>,
}

impl TopK {
    /// A compressor for vectors of length `n` sending `fraction ∈ (0, 1]` of the entries.
    pub fn new(n: usize, fraction: f64) -> Result<TopK> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(MlError::invalid(format!(
                "the top-k fraction must be in (0, 1], not {fraction}"
            )));
        }
        if n > u32::MAX as usize {
            return Err(MlError::invalid(format!(
                "top-k over {n} values does not fit u32 indices"
            )));
        }
        Ok(TopK {
            fraction,
            residual: vec![0.0; n],
        })
    }

    /// `k` for `n` values and `fraction` (the rule in the module docs).
    pub fn k_for(n: usize, fraction: f64) -> usize {
        if n == 0 {
            return 0;
        }
        let x = fraction * n as f64;
        let k = if (x - x.round()).abs() <= 1e-9 * x.max(1.0) {
            x.round()
        } else {
            x.ceil()
        };
        (k as usize).clamp(1, n)
    }

    /// How many entries a step sends at most.
    pub fn k(&self) -> usize {
        TopK::k_for(self.residual.len(), self.fraction)
    }

    /// The fraction of entries sent.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// What has not been sent yet.
    pub fn residual(&self) -> &[f32] {
        &self.residual
    }

    /// Forgets the residual (e.g. after a checkpoint restore with a new model).
    pub fn reset(&mut self) {
        self.residual.fill(0.0);
    }

    /// One step on a dense gradient: adds it to the residual and takes the top k out.
    pub fn compress(&mut self, grad: &[f32]) -> Result<SparseGradient> {
        self.check_len(grad.len())?;
        for (r, &g) in self.residual.iter_mut().zip(grad) {
            *r += g;
        }
        Ok(self.take_top())
    }

    /// One step on a sparse gradient (its indices must be below `n`).
    pub fn compress_sparse(&mut self, grad: &SparseGradient) -> Result<SparseGradient> {
        grad.check(self.residual.len())?;
        for (j, g) in grad.iter() {
            self.residual[j as usize] += g;
        }
        Ok(self.take_top())
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n == self.residual.len() {
            Ok(())
        } else {
            Err(MlError::invalid(format!(
                "top-k was set up for {} values but got {n}",
                self.residual.len()
            )))
        }
    }

    /// Moves the `k` largest-magnitude nonzero entries of the residual into the result.
    fn take_top(&mut self) -> SparseGradient {
        let r = &self.residual;
        let mut chosen: Vec<u32> = (0..r.len() as u32)
            .filter(|&j| r[j as usize] != 0.0)
            .collect();
        let k = self.k();
        if chosen.len() > k {
            let by_magnitude = |a: &u32, b: &u32| {
                let (x, y) = (r[*a as usize].abs(), r[*b as usize].abs());
                y.total_cmp(&x).then(a.cmp(b))
            };
            chosen.select_nth_unstable_by(k - 1, by_magnitude);
            chosen.truncate(k);
        }
        chosen.sort_unstable();
        let mut out = SparseGradient {
            values: Vec::with_capacity(chosen.len()),
            indices: chosen,
        };
        for &j in &out.indices {
            out.values
                .push(std::mem::replace(&mut self.residual[j as usize], 0.0));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn k_rule() {
        assert_eq!(TopK::k_for(30, 0.1), 3);
        assert_eq!(TopK::k_for(31, 0.1), 4);
        assert_eq!(TopK::k_for(10, 0.001), 1);
        assert_eq!(TopK::k_for(10, 1.0), 10);
        assert_eq!(TopK::k_for(0, 0.5), 0);
        assert_eq!(TopK::k_for(1000, 0.07), 70);
        assert!(TopK::new(10, 0.0).is_err());
        assert!(TopK::new(10, 1.5).is_err());
        assert!(TopK::new(10, f64::NAN).is_err());
    }

    #[test]
    fn residual_carries_the_rest_to_the_next_step() {
        let mut t = TopK::new(5, 0.4).unwrap();
        let sent = t.compress(&[1.0, -5.0, 0.0, 3.0, 0.5]).unwrap();
        assert_eq!(sent.indices, vec![1, 3]);
        assert_eq!(sent.values, vec![-5.0, 3.0]);
        assert_eq!(t.residual(), &[1.0, 0.0, 0.0, 0.0, 0.5]);
        let sent = t.compress(&[1.5, 0.0, 0.0, 0.0, 0.0]).unwrap();
        assert_eq!(sent.indices, vec![0, 4]);
        assert_eq!(sent.values, vec![2.5, 0.5]);
        assert!(t.compress(&[1.0]).is_err());
        let sparse = SparseGradient::from_pairs(vec![(2, 7.0)]);
        assert_eq!(t.compress_sparse(&sparse).unwrap().indices, vec![2]);
        assert!(
            t.compress_sparse(&SparseGradient::from_pairs(vec![(9, 1.0)]))
                .is_err()
        );
    }

    #[test]
    fn ties_go_to_the_lower_index_and_zeros_are_not_sent() {
        let mut t = TopK::new(4, 0.5).unwrap();
        assert_eq!(
            t.compress(&[1.0, -1.0, 1.0, 0.0]).unwrap().indices,
            vec![0, 1]
        );
        t.reset();
        assert_eq!(t.compress(&[0.0, 0.0, 0.0, 3.0]).unwrap().indices, vec![3]);
    }

    proptest! {
        #[test]
        fn error_feedback_is_exact(
            steps in proptest::collection::vec(proptest::collection::vec(-1e3f32..1e3, 24), 1..5),
            fraction in 0.01f64..1.0,
            zeros in proptest::collection::vec(0usize..24, 0..8),
        ) {
            let mut t = TopK::new(24, fraction).unwrap();
            for mut g in steps {
                for &z in &zeros {
                    g[z] = 0.0;
                }
                let before = t.residual().to_vec();
                let sent = t.compress(&g).unwrap();
                sent.check(24).unwrap();
                let after = t.residual();
                prop_assert!(sent.len() <= t.k());
                let mut sent_dense = [None; 24];
                for (j, v) in sent.iter() {
                    sent_dense[j as usize] = Some(v);
                }
                for j in 0..24 {
                    let z = g[j] + before[j];
                    match sent_dense[j] {
                        Some(v) => {
                            prop_assert_eq!(v.to_bits(), z.to_bits());
                            prop_assert_eq!(after[j].to_bits(), 0.0f32.to_bits());
                        }
                        None => prop_assert_eq!(after[j].to_bits(), z.to_bits()),
                    }
                }
                // Everything sent is at least as large as everything kept, and nothing
                // nonzero is kept while fewer than k went out.
                let smallest_sent = sent.values.iter().map(|v| v.abs()).fold(f32::INFINITY, f32::min);
                let largest_kept = after.iter().map(|v| v.abs()).fold(0.0, f32::max);
                prop_assert!(largest_kept <= smallest_sent);
                if sent.len() < t.k() {
                    prop_assert_eq!(largest_kept, 0.0);
                }
            }
        }
    }
}
