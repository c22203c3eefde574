//! A Criteo-like click dataset for sparse logistic regression, with a planted model.
//!
//! Each row has the Criteo Kaggle shape: 13 numeric fields and 26 categorical ones.
//!
//! - Numeric field `f` (0..13) is feature `f`. Its value is count-like and log-normal,
//!   `v = exp(1 + 1.5 z)` with `z ~ N(0, 1)`, log-transformed and scaled as Cirrus'
//!   preprocessing does: `x = ln(1 + v) / 5`, mostly in (0, 2). Each numeric value is
//!   missing (absent from the row) with probability 0.2.
//! - Categorical field `f` (0..26) takes a category by Zipf rank with the options'
//!   exponent over `categories` values, and (field, category) is hashed with SplitMix64 into
//!   one of the `2^bits − 13` buckets after the numeric features: feature
//!   `13 + splitmix64(f << 32 | category) mod (2^bits − 13)`, value 1. Buckets that collide
//!   within a row add up (the hashing trick).
//!
//! The planted weights are `w*_j ~ N(0, weight_scale²)` on the numeric features and
//! `N(logit_offset / 26, weight_scale²)` on the buckets, so an average row's margin is
//! shifted by about `logit_offset`. The popular categories' weights dominate, so the
//! positive rate depends on the seed: the defaults give about a third (28–42% over seeds
//! 0–7), a little above Criteo's click rate of about a quarter.
//!
//! A row's label is +1 with probability `sigmoid(w*·x)` and −1 otherwise, which makes the
//! expected logloss at `w*` the Bayes loss.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::zipf::Zipf;
use super::{sigmoid, splitmix64, standard_normal};
use crate::data::SparseDataset;
use crate::error::{MlError, Result};

/// The numeric fields, which are features `0..NUMERIC`.
pub const NUMERIC: usize = 13;
/// The categorical fields, hashed into the remaining features.
pub const CATEGORICAL: usize = 26;
/// The probability that a numeric value is missing.
const MISSING: f64 = 0.2;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct CriteoOptions {
    /// The number of rows.
    pub rows: usize,
    /// The model has `2^bits` features (Cirrus' `model_bits`, 19 for Criteo); 5 to 30.
    pub bits: u32,
    /// The seed of the weights and the rows.
    pub seed: u64,
    /// The Zipf exponent of the category frequencies of every categorical field.
    pub zipf_exponent: f64,
    /// The number of categories of every categorical field.
    pub categories: u32,
    /// The standard deviation of the planted weights.
    pub weight_scale: f32,
    /// The total mean of the 26 categorical weights a row touches; negative for fewer
    /// positives.
    pub logit_offset: f32,
}

impl Default for CriteoOptions {
    fn default() -> CriteoOptions {
        CriteoOptions {
            rows: 10_000,
            bits: 20,
            seed: 0,
            zipf_exponent: 1.1,
            categories: 100_000,
            weight_scale: 0.3,
            logit_offset: -1.1,
        }
    }
}

/// A logistic-regression dataset with the weights that generated its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedLr {
    /// The rows, labels ±1, `2^bits` features.
    pub data: SparseDataset,
    /// The planted weights `w*`, one per feature.
    pub weights: Vec<f32>,
}

impl PlantedLr {
    /// `w*·x` for row `r`.
    pub fn margin(&self, r: usize) -> f64 {
        let row = self.data.row(r);
        row.indices
            .iter()
            .zip(row.values)
            .map(|(&j, &v)| f64::from(self.weights[j as usize]) * f64::from(v))
            .sum()
    }

    /// The probability that row `r` is labelled +1, `sigmoid(w*·x)`.
    pub fn probability(&self, r: usize) -> f64 {
        sigmoid(self.margin(r))
    }

    /// The mean logloss `log(1 + exp(−y w*·x))` of the planted weights on the rows.
    pub fn planted_logloss(&self) -> f64 {
        let total: f64 = (0..self.data.len())
            .map(|r| {
                let z = -f64::from(self.data.labels()[r]) * self.margin(r);
                // log(1 + e^z) without overflow.
                z.max(0.0) + (-z.abs()).exp().ln_1p()
            })
            .sum();
        total / self.data.len().max(1) as f64
    }
}

/// Generates a Criteo-like dataset and its planted weights.
pub fn criteo(options: &CriteoOptions) -> Result<PlantedLr> {
    if !(5..=30).contains(&options.bits) {
        return Err(MlError::invalid(format!(
            "criteo: bits must be between 5 and 30, not {}",
            options.bits
        )));
    }
    if !(options.weight_scale.is_finite() && options.logit_offset.is_finite()) {
        return Err(MlError::invalid(
            "criteo: the weight scale and offset must be finite",
        ));
    }
    let zipf = Zipf::new(options.categories, options.zipf_exponent)?;
    let features = 1usize << options.bits;
    let buckets = (features - NUMERIC) as u64;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let scale = f64::from(options.weight_scale);
    let shift = f64::from(options.logit_offset) / CATEGORICAL as f64;
    let weights: Vec<f32> = (0..features)
        .map(|j| {
            let mean = if j < NUMERIC { 0.0 } else { shift };
            (mean + scale * standard_normal(&mut rng)) as f32
        })
        .collect();

    let mut data = SparseDataset::new(features);
    let mut entries: Vec<(u32, f32)> = Vec::with_capacity(NUMERIC + CATEGORICAL);
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for _ in 0..options.rows {
        entries.clear();
        for f in 0..NUMERIC {
            if rng.random::<f64>() >= MISSING {
                let v = (1.0 + 1.5 * standard_normal(&mut rng)).exp();
                entries.push((f as u32, (v.ln_1p() / 5.0) as f32));
            }
        }
        let first_categorical = entries.len();
        for f in 0..CATEGORICAL as u64 {
            let category = u64::from(zipf.sample(&mut rng));
            let bucket = NUMERIC as u64 + splitmix64(f << 32 | category) % buckets;
            entries.push((bucket as u32, 1.0));
        }
        entries[first_categorical..].sort_unstable_by_key(|e| e.0);
        indices.clear();
        values.clear();
        let mut margin = 0.0f64;
        for &(j, v) in &entries {
            margin += f64::from(weights[j as usize]) * f64::from(v);
            if indices.last() == Some(&j)
                && let Some(sum) = values.last_mut()
            {
                *sum += v;
            } else {
                indices.push(j);
                values.push(v);
            }
        }
        let label = if rng.random::<f64>() < sigmoid(margin) {
            1.0
        } else {
            -1.0
        };
        data.push(label, &indices, &values)?;
    }
    Ok(PlantedLr { data, weights })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> CriteoOptions {
        CriteoOptions {
            rows: 20_000,
            bits: 16,
            seed,
            categories: 5_000,
            ..CriteoOptions::default()
        }
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let a = criteo(&small(1)).unwrap();
        assert_eq!(a, criteo(&small(1)).unwrap());
        let b = criteo(&small(2)).unwrap();
        assert_ne!(a.data, b.data);
        assert_ne!(a.weights, b.weights);
        assert_eq!(a.data.features(), 1 << 16);
        assert_eq!(a.weights.len(), 1 << 16);
        // 26 categorical buckets (fewer only on collisions) plus ~80% of 13 numerics.
        let per_row = a.data.nonzeros() as f64 / a.data.len() as f64;
        assert!((35.0..37.0).contains(&per_row), "{per_row}");
        assert!(a.data.labels().iter().all(|&y| y == 1.0 || y == -1.0));
    }

    #[test]
    fn label_rate_matches_the_planted_probabilities() {
        let p = criteo(&small(5)).unwrap();
        let probs: Vec<f64> = (0..p.data.len()).map(|r| p.probability(r)).collect();
        let expected: f64 = probs.iter().sum();
        let sd = probs.iter().map(|q| q * (1.0 - q)).sum::<f64>().sqrt();
        let positives = p.data.labels().iter().filter(|&&y| y > 0.0).count() as f64;
        assert!(
            (positives - expected).abs() < 4.0 * sd,
            "{positives} positives, {expected} ± {sd} expected"
        );
        let rate = positives / p.data.len() as f64;
        assert!((0.15..0.45).contains(&rate), "positive rate {rate}");
        // The logloss at w* is near its expectation, the mean binary entropy.
        let entropy = probs
            .iter()
            .map(|&q| -(q * q.ln() + (1.0 - q) * (1.0 - q).ln()))
            .sum::<f64>()
            / probs.len() as f64;
        let loss = p.planted_logloss();
        assert!((loss - entropy).abs() < 0.02, "{loss} vs {entropy}");
        assert!(
            loss < std::f64::consts::LN_2,
            "w* is better than chance: {loss}"
        );
    }

    #[test]
    fn categories_are_zipf_distributed() {
        let p = criteo(&small(9)).unwrap();
        let mut counts = std::collections::HashMap::<u32, u32>::new();
        for &j in p.data.all_indices() {
            if j as usize >= NUMERIC {
                *counts.entry(j).or_default() += 1;
            }
        }
        let mut freq: Vec<u32> = counts.into_values().collect();
        freq.sort_unstable_by(|a, b| b.cmp(a));
        // The top buckets are the 26 fields' rank-0 categories: ~11% of each field's draws
        // for s = 1.1 over 5,000 categories, so ~2,200 of 20,000 rows.
        let h: f64 = (1..=5000).map(|k| (k as f64).powf(-1.1)).sum();
        let want = 20_000.0 / h;
        assert!(
            (freq[0] as f64) > 0.8 * want && (freq[25] as f64) < 1.3 * want,
            "top counts {:?} vs {want}",
            &freq[..26]
        );
        let median = freq[freq.len() / 2];
        assert!(freq[0] > 100 * median, "top {} vs median {median}", freq[0]);
    }

    /// `cargo test -p fccl-ml --release -- --ignored a_million_rows`: the generator is
    /// fast enough for benchmark-sized data.
    #[test]
    #[ignore = "timing; run in release"]
    fn a_million_rows_of_2_to_the_20_features_take_seconds() {
        let start = std::time::Instant::now();
        let p = criteo(&CriteoOptions {
            rows: 1_000_000,
            bits: 20,
            ..CriteoOptions::default()
        })
        .unwrap();
        let took = start.elapsed();
        let positives = p.data.labels().iter().filter(|&&y| y > 0.0).count();
        eprintln!(
            "1M rows, {} nonzeros, in {took:?}; {positives} positive, logloss at w* {:.4}",
            p.data.nonzeros(),
            p.planted_logloss()
        );
        assert_eq!(p.data.len(), 1_000_000);
        assert!(took.as_secs_f64() < 10.0, "{took:?}");
    }

    #[test]
    fn bad_options_are_refused() {
        let bits = CriteoOptions {
            bits: 40,
            ..small(0)
        };
        assert!(criteo(&bits).unwrap_err().to_string().contains("bits"));
        let none = CriteoOptions {
            categories: 0,
            ..small(0)
        };
        assert!(criteo(&none).is_err());
    }
}
