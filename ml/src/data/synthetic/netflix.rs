//! A Netflix-like ratings dataset from a planted low-rank model.
//!
//! The true rating of user `u` for item `i` is `mean + b_u + b_i + p_u·q_i` (the biased
//! matrix factorization model Cirrus trains), with `b_u, b_i ~ N(0, bias_scale²)` and the
//! entries of `p_u, q_i` drawn `N(0, factor_scale / √rank)`, so the interaction `p_u·q_i`
//! has standard deviation `factor_scale`. An observed rating adds `N(0, noise²)`, and is
//! not clipped to a star range unless `clip` asks for it: unclipped, the true model's RMSE
//! on the observed ratings is `noise` up to sampling error, the floor any model can reach.
//!
//! Which pairs are rated: users by activity and items by popularity are Zipf-distributed
//! (exponents `user_zipf`, `item_zipf`), with ranks mapped to ids by a seeded permutation
//! so the popular ones are spread over the id range. Each (user, item) pair is rated at
//! most once, so `ratings` may be at most half of `users × items`.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::standard_normal;
use super::zipf::Zipf;
use crate::data::Ratings;
use crate::error::{MlError, Result};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct NetflixOptions {
    /// The number of users.
    pub users: u32,
    /// The number of items.
    pub items: u32,
    /// The number of (distinct) ratings.
    pub ratings: usize,
    /// The rank of the planted factors.
    pub rank: usize,
    /// The standard deviation σ of the Gaussian noise on each rating.
    pub noise: f32,
    /// The seed of the model and the ratings.
    pub seed: u64,
    /// The global mean rating (Cirrus hard-codes 3.604 for Netflix).
    pub mean: f32,
    /// The standard deviation of the user and item biases.
    pub bias_scale: f32,
    /// The standard deviation of the interaction `p_u·q_i`.
    pub factor_scale: f32,
    /// The Zipf exponent of user activity.
    pub user_zipf: f64,
    /// The Zipf exponent of item popularity.
    pub item_zipf: f64,
    /// Clip observed ratings to `[lo, hi]` (then the RMSE floor is below `noise`).
    pub clip: Option<(f32, f32)>,
}

impl Default for NetflixOptions {
    fn default() -> NetflixOptions {
        NetflixOptions {
            users: 943,
            items: 1682,
            ratings: 100_000,
            rank: 10,
            noise: 0.8,
            seed: 0,
            mean: 3.6,
            bias_scale: 0.4,
            factor_scale: 0.5,
            user_zipf: 0.5,
            item_zipf: 0.9,
            clip: None,
        }
    }
}

/// Ratings with the model that generated them.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedMf {
    /// The observed (noisy) ratings.
    pub ratings: Ratings,
    /// The global mean.
    pub mean: f32,
    /// The bias of each user.
    pub user_bias: Vec<f32>,
    /// The bias of each item.
    pub item_bias: Vec<f32>,
    /// The user factors, `rank` per user, user-major.
    pub user_factors: Vec<f32>,
    /// The item factors, `rank` per item, item-major.
    pub item_factors: Vec<f32>,
    /// The rank of the factors.
    pub rank: usize,
}

impl PlantedMf {
    /// The true (noise-free, unclipped) rating of `user` for `item`.
    pub fn predict(&self, user: u32, item: u32) -> f32 {
        let (u, i) = (user as usize * self.rank, item as usize * self.rank);
        let p = &self.user_factors[u..u + self.rank];
        let q = &self.item_factors[i..i + self.rank];
        let dot: f32 = p.iter().zip(q).map(|(a, b)| a * b).sum();
        self.mean + self.user_bias[user as usize] + self.item_bias[item as usize] + dot
    }

    /// The RMSE of the true model on `ratings` (ids as in [`Self::ratings`]).
    pub fn rmse(&self, ratings: &Ratings) -> f64 {
        let sum: f64 = (0..ratings.len())
            .map(|k| {
                let e = self.predict(ratings.user[k], ratings.item[k]) - ratings.rating[k];
                f64::from(e).powi(2)
            })
            .sum();
        (sum / ratings.len().max(1) as f64).sqrt()
    }
}

/// `n` draws of `N(0, sd²)`.
fn normals(rng: &mut StdRng, n: usize, sd: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (f64::from(sd) * standard_normal(rng)) as f32)
        .collect()
}

/// Generates Netflix-like ratings and their planted model.
pub fn netflix(options: &NetflixOptions) -> Result<PlantedMf> {
    let o = options;
    let cells = u64::from(o.users) * u64::from(o.items);
    if o.ratings as u64 > cells / 2 {
        return Err(MlError::invalid(format!(
            "netflix: {} distinct ratings need at least twice as many user-item pairs, not {} × {}",
            o.ratings, o.users, o.items
        )));
    }
    if o.rank == 0 || !(o.noise >= 0.0 && o.noise.is_finite()) {
        return Err(MlError::invalid(format!(
            "netflix: the rank must be positive and the noise finite and ≥ 0, not {} and {}",
            o.rank, o.noise
        )));
    }
    let user_rank = Zipf::new(o.users, o.user_zipf)?;
    let item_rank = Zipf::new(o.items, o.item_zipf)?;
    let mut rng = StdRng::seed_from_u64(o.seed);
    let factor_sd = (o.factor_scale / (o.rank as f32).sqrt()).sqrt();
    let mut model = PlantedMf {
        ratings: Ratings {
            users: o.users as usize,
            items: o.items as usize,
            ..Ratings::default()
        },
        mean: o.mean,
        user_bias: normals(&mut rng, o.users as usize, o.bias_scale),
        item_bias: normals(&mut rng, o.items as usize, o.bias_scale),
        user_factors: normals(&mut rng, o.users as usize * o.rank, factor_sd),
        item_factors: normals(&mut rng, o.items as usize * o.rank, factor_sd),
        rank: o.rank,
    };
    let mut user_id: Vec<u32> = (0..o.users).collect();
    let mut item_id: Vec<u32> = (0..o.items).collect();
    user_id.shuffle(&mut rng);
    item_id.shuffle(&mut rng);

    let mut seen = HashSet::with_capacity(o.ratings);
    let mut attempts = 0usize;
    while model.ratings.len() < o.ratings {
        attempts += 1;
        if attempts > 100 * o.ratings + 10_000 {
            return Err(MlError::invalid(format!(
                "netflix: drew only {} distinct pairs of {} wanted; lower the Zipf exponents",
                model.ratings.len(),
                o.ratings
            )));
        }
        let user = user_id[user_rank.sample(&mut rng) as usize];
        let item = item_id[item_rank.sample(&mut rng) as usize];
        if !seen.insert((user, item)) {
            continue;
        }
        let noisy =
            model.predict(user, item) as f64 + f64::from(o.noise) * standard_normal(&mut rng);
        let rating = match o.clip {
            Some((lo, hi)) => (noisy as f32).clamp(lo, hi),
            None => noisy as f32,
        };
        model.ratings.user.push(user);
        model.ratings.item.push(item);
        model.ratings.rating.push(rating);
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let o = NetflixOptions {
            ratings: 5_000,
            ..NetflixOptions::default()
        };
        let a = netflix(&o).unwrap();
        assert_eq!(a, netflix(&o).unwrap());
        let b = netflix(&NetflixOptions {
            seed: 1,
            ..o.clone()
        })
        .unwrap();
        assert_ne!(a.ratings, b.ratings);
        assert_eq!(a.ratings.len(), 5_000);
        let pairs: HashSet<_> = a.ratings.user.iter().zip(&a.ratings.item).collect();
        assert_eq!(pairs.len(), 5_000, "each pair is rated once");
    }

    #[test]
    fn the_true_model_reaches_the_noise_floor() {
        let o = NetflixOptions {
            noise: 0.7,
            seed: 4,
            ..NetflixOptions::default()
        };
        let m = netflix(&o).unwrap();
        let rmse = m.rmse(&m.ratings);
        // The sample RMSE of n N(0, σ²) draws has sd ≈ σ / √(2n) ≈ 0.0016 here.
        assert!((rmse - 0.7).abs() < 0.01, "{rmse}");
        let mean = m.ratings.mean();
        assert!((mean - 3.6).abs() < 0.1, "{mean}");
        // The global mean is a much worse predictor than the model.
        let sd = (m
            .ratings
            .rating
            .iter()
            .map(|r| (r - mean).powi(2))
            .sum::<f32>()
            / m.ratings.len() as f32)
            .sqrt();
        assert!(sd > 0.9, "{sd}");
    }

    #[test]
    fn popular_items_are_rated_far_more_than_the_median_item() {
        let m = netflix(&NetflixOptions::default()).unwrap();
        let mut counts = vec![0u32; m.ratings.items];
        for &i in &m.ratings.item {
            counts[i as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        assert!(
            counts[0] > 10 * counts[counts.len() / 2],
            "{} vs {}",
            counts[0],
            counts[counts.len() / 2]
        );
    }

    #[test]
    fn clipping_and_bad_options() {
        let o = NetflixOptions {
            ratings: 2_000,
            clip: Some((1.0, 5.0)),
            ..NetflixOptions::default()
        };
        let m = netflix(&o).unwrap();
        assert!(m.ratings.rating.iter().all(|r| (1.0..=5.0).contains(r)));
        let too_many = NetflixOptions {
            users: 10,
            items: 10,
            ratings: 51,
            ..NetflixOptions::default()
        };
        assert!(
            netflix(&too_many)
                .unwrap_err()
                .to_string()
                .contains("51 distinct")
        );
        assert!(netflix(&NetflixOptions { rank: 0, ..o }).is_err());
    }
}
