//! Zipf-distributed ranks drawn in O(1) with Walker's alias method (Vose's construction).

use rand::Rng;

use crate::error::{MlError, Result};

/// A Zipf distribution over ranks `0..n`: rank `k` has probability ∝ `1 / (k + 1)^s`.
///
/// Built once in O(n); each draw is one uniform index and one uniform threshold.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// The probability of keeping the drawn column rather than taking its alias.
    keep: Vec<f64>,
    /// The other rank sharing each column.
    alias: Vec<u32>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s` (`s = 0` is uniform).
    pub fn new(n: u32, s: f64) -> Result<Zipf> {
        if n == 0 || !s.is_finite() || s < 0.0 {
            return Err(MlError::invalid(format!(
                "a Zipf distribution needs at least one rank and a finite exponent ≥ 0, not {n} ranks and exponent {s}"
            )));
        }
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut keep: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias: Vec<u32> = (0..n).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n).partition(|&k| keep[k as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s as usize] = l;
            keep[l as usize] -= 1.0 - keep[s as usize];
            if keep[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left is 1 up to rounding.
        for k in small.into_iter().chain(large) {
            keep[k as usize] = 1.0;
        }
        Ok(Zipf { keep, alias })
    }

    /// The number of ranks.
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// Whether there are no ranks (never: [`Zipf::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// One rank in `0..len()`.
    pub fn sample(&self, rng: &mut impl Rng) -> u32 {
        let k = rng.random_range(0..self.keep.len());
        if rng.random::<f64>() < self.keep[k] {
            k as u32
        } else {
            self.alias[k]
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn frequencies_follow_the_power_law() {
        let (n, s) = (1000u32, 1.1);
        let z = Zipf::new(n, s).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let draws = 1_000_000;
        let mut counts = vec![0u32; n as usize];
        for _ in 0..draws {
            counts[z.sample(&mut rng) as usize] += 1;
        }
        let h: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        for k in [0usize, 1, 9, 99] {
            let want = draws as f64 * ((k + 1) as f64).powf(-s) / h;
            let sd = want.sqrt();
            assert!(
                (counts[k] as f64 - want).abs() < 5.0 * sd,
                "rank {k}: {} vs {want}",
                counts[k]
            );
        }
        let uniform = Zipf::new(4, 0.0).unwrap();
        assert!(uniform.keep.iter().all(|&p| (p - 1.0).abs() < 1e-12));
        assert!(Zipf::new(0, 1.0).is_err());
        assert!(Zipf::new(3, -1.0).is_err());
    }
}
