//! Seeded synthetic datasets with planted models, standing in for Criteo and Netflix
//! (whose terms forbid redistribution; research/ml.md §5).
//!
//! Each generator takes an options struct with a seed and returns the data together with
//! the model that generated it, so tests know the best achievable loss: the Bayes
//! logloss of the planted weights for [`criteo()`], the noise σ as the RMSE floor for
//! [`netflix()`]. The same options give the same data on every machine.

pub mod criteo;
pub mod netflix;
mod zipf;

pub use criteo::{CriteoOptions, PlantedLr, criteo};
pub use netflix::{NetflixOptions, PlantedMf, netflix};
pub use zipf::Zipf;

use rand::Rng;

/// One standard normal draw (Box–Muller; the second variate is dropped for simplicity).
pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u = 1.0 - rng.random::<f64>(); // in (0, 1], so the log is finite
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// SplitMix64's finalizer: a fixed, well-mixing 64-bit hash (Steele, Lea and Flood,
/// OOPSLA'14), used to hash (field, category) pairs into buckets the same way everywhere.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The logistic function.
pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn normal_draws_have_mean_0_and_variance_1() {
        let mut rng = StdRng::seed_from_u64(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn splitmix_is_the_published_function() {
        // The first output of SplitMix64 seeded with 0 (the reference C code's `next()`).
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
