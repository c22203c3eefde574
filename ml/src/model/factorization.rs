//! Biased matrix factorisation for ratings (Funk-style SVD, as in Cirrus and Surprise).
//!
//! The prediction for user `u` and item `i` is `r̂ = μ + b_u + b_i + p_u · q_i` with a
//! fixed global mean `μ` (usually the training mean) and `k` factors. The loss of a rating
//! includes the per-example penalty on the parameters it uses:
//! `ℓ = ½ (r − r̂)² + (λ/2) (b_u² + b_i² + |p_u|² + |q_i|²)`, so one SGD step on one rating
//! is the classic update `b_u += η (e − λ b_u)`, `p_u += η (e q_i − λ p_u)` and so on.
//! Because the penalty lives in `ℓ`, sums over ratings stay exactly additive across ranks
//! and there is no global L2 term ([`Model::l2_at`] is 0).
//!
//! Layout: user `u`'s block `[b_u, p_u0 .. p_u(k−1)]` starts at `u · (k + 1)`; item `i`'s
//! block `[b_i, q_i0 ..]` starts at `users · (k + 1) + i · (k + 1)`. A rating touches
//! exactly its user's and item's blocks.

use rand::{SeedableRng, rngs::StdRng};

use super::math::normal;
use super::{Accumulator, Metrics, Model, SparseGradient, sorted_unique};
use crate::data::Ratings;
use crate::error::{MlError, Result};

/// Biased matrix factorisation over `users × items` with `factors` factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatrixFactorization {
    users: usize,
    items: usize,
    factors: usize,
    mean: f32,
    l2: f32,
    init_std: f32,
}

impl MatrixFactorization {
    /// A model with `factors ≥ 1` factors, global mean `mean`, per-example L2 strength `l2`
    /// on factors and biases, and factors initialised from N(0, 0.1²).
    pub fn new(
        users: usize,
        items: usize,
        factors: usize,
        mean: f32,
        l2: f32,
    ) -> Result<MatrixFactorization> {
        if factors == 0 {
            return Err(MlError::invalid(
                "matrix factorisation needs at least 1 factor",
            ));
        }
        if !(l2.is_finite() && l2 >= 0.0 && mean.is_finite()) {
            return Err(MlError::invalid(format!(
                "the L2 strength must be finite and non-negative and the mean finite (l2 {l2}, mean {mean})"
            )));
        }
        let parameters = (users + items)
            .checked_mul(factors + 1)
            .filter(|&p| p <= u32::MAX as usize);
        if parameters.is_none() {
            return Err(MlError::invalid(format!(
                "{users} users and {items} items × {} do not fit in 2^32 - 1 parameters",
                factors + 1
            )));
        }
        Ok(MatrixFactorization {
            users,
            items,
            factors,
            mean,
            l2,
            init_std: 0.1,
        })
    }

    /// The same model with factors initialised from N(0, `std`²) (Cirrus uses `1/k`).
    pub fn with_init_std(mut self, std: f32) -> MatrixFactorization {
        self.init_std = std;
        self
    }

    /// The number of factors `k`.
    pub fn factors(&self) -> usize {
        self.factors
    }

    /// The global mean `μ`.
    pub fn mean(&self) -> f32 {
        self.mean
    }

    /// Where user `u`'s block `[b_u, p_u]` starts.
    pub fn user_offset(&self, u: u32) -> usize {
        u as usize * (self.factors + 1)
    }

    /// Where item `i`'s block `[b_i, q_i]` starts.
    pub fn item_offset(&self, i: u32) -> usize {
        (self.users + i as usize) * (self.factors + 1)
    }

    /// The predicted rating of user `u` for item `i`.
    pub fn predict(&self, w: &[f32], u: u32, i: u32) -> f64 {
        let (pu, qi) = (self.user_offset(u), self.item_offset(i));
        let k = self.factors;
        let dot: f64 = (1..=k)
            .map(|f| f64::from(w[pu + f]) * f64::from(w[qi + f]))
            .sum();
        f64::from(self.mean) + f64::from(w[pu]) + f64::from(w[qi]) + dot
    }
}

impl Model for MatrixFactorization {
    type Data = Ratings;

    fn parameters(&self) -> usize {
        (self.users + self.items) * (self.factors + 1)
    }

    /// Biases 0, factors from N(0, std²) drawn with a seeded `StdRng`.
    fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut w = vec![0.0; self.parameters()];
        for block in w.chunks_mut(self.factors + 1) {
            for x in &mut block[1..] {
                *x = (normal(&mut rng) * f64::from(self.init_std)) as f32;
            }
        }
        w
    }

    fn validate(&self, data: &Ratings) -> Result<()> {
        if data.user.len() != data.len() || data.item.len() != data.len() {
            return Err(MlError::invalid(format!(
                "ratings have {} users, {} items and {} values; they must match",
                data.user.len(),
                data.item.len(),
                data.len()
            )));
        }
        for n in 0..data.len() {
            let (u, i, r) = (data.user[n], data.item[n], data.rating[n]);
            if u as usize >= self.users || i as usize >= self.items || !r.is_finite() {
                return Err(MlError::invalid(format!(
                    "rating {n} (user {u}, item {i}, value {r}) is outside the model's {} users × {} items or not finite",
                    self.users, self.items
                )));
            }
        }
        Ok(())
    }

    fn examples(&self, data: &Ratings) -> usize {
        data.len()
    }

    fn gradient(
        &self,
        w: &[f32],
        data: &Ratings,
        rows: &[usize],
        grad: &mut SparseGradient,
    ) -> f64 {
        assert_eq!(w.len(), self.parameters(), "parameter vector length");
        let (k, l2) = (self.factors, f64::from(self.l2));
        let mut acc = Accumulator::default();
        let mut loss = 0.0;
        for &r in rows {
            let (u, i) = (data.user[r], data.item[r]);
            let (pu, qi) = (self.user_offset(u), self.item_offset(i));
            let e = f64::from(data.rating[r]) - self.predict(w, u, i);
            let sq = |o: usize| -> f64 { w[o..=o + k].iter().map(|&x| f64::from(x).powi(2)).sum() };
            loss += 0.5 * e * e + 0.5 * l2 * (sq(pu) + sq(qi));
            acc.push(pu as u32, -e + l2 * f64::from(w[pu]));
            acc.push(qi as u32, -e + l2 * f64::from(w[qi]));
            for f in 1..=k {
                let (p, q) = (f64::from(w[pu + f]), f64::from(w[qi + f]));
                acc.push((pu + f) as u32, -e * q + l2 * p);
                acc.push((qi + f) as u32, -e * p + l2 * q);
            }
        }
        acc.finish_into(grad);
        loss
    }

    fn touched(&self, data: &Ratings, rows: &[usize]) -> Vec<u32> {
        let k = self.factors;
        let mut blocks: Vec<u32> = rows
            .iter()
            .flat_map(|&r| {
                [
                    self.user_offset(data.user[r]) as u32,
                    self.item_offset(data.item[r]) as u32,
                ]
            })
            .collect();
        blocks = sorted_unique(blocks);
        blocks.iter().flat_map(|&b| b..=b + k as u32).collect()
    }

    fn l2_at(&self, _j: usize) -> f32 {
        0.0
    }

    fn evaluate(&self, w: &[f32], data: &Ratings) -> Metrics {
        let mut sq = 0.0;
        for n in 0..data.len() {
            let e = f64::from(data.rating[n]) - self.predict(w, data.user[n], data.item[n]);
            sq += e * e;
        }
        let n = data.len().max(1) as f64;
        Metrics {
            loss: 0.5 * sq / n,
            accuracy: None,
            rmse: Some((sq / n).sqrt()),
            objective: self.objective(w, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{check_gradient, random_ratings};
    use crate::optim::{Optimizer, OptimizerKind};

    #[test]
    fn gradient_matches_finite_differences() {
        let data = random_ratings(15, 4, 5, 3);
        let model = MatrixFactorization::new(4, 5, 3, data.mean(), 0.05).unwrap();
        model.validate(&data).unwrap();
        check_gradient(&model, &data, 4);
    }

    #[test]
    fn layout_and_prediction_by_hand() {
        let model = MatrixFactorization::new(2, 3, 2, 3.0, 0.0).unwrap();
        assert_eq!(model.parameters(), 5 * 3);
        assert_eq!(model.item_offset(1), 9);
        let mut w = vec![0.0; 15];
        w[3..6].copy_from_slice(&[0.5, 1.0, 2.0]); // user 1
        w[9..12].copy_from_slice(&[-0.25, 0.5, -1.0]); // item 1
        assert_eq!(model.predict(&w, 1, 1), 3.0 + 0.5 - 0.25 + 0.5 - 2.0);
        let data = Ratings {
            user: vec![1],
            item: vec![1],
            rating: vec![2.0],
            users: 2,
            items: 3,
        };
        assert_eq!(model.touched(&data, &[0]), vec![3, 4, 5, 9, 10, 11]);
        let m = model.evaluate(&w, &data);
        assert_eq!(m.rmse, Some(0.25));
    }

    #[test]
    fn seeded_init_is_small_and_reproducible() {
        let model = MatrixFactorization::new(50, 40, 8, 3.5, 0.05).unwrap();
        let (a, b) = (model.init(1), model.init(1));
        assert_eq!(a, b);
        assert_ne!(a, model.init(2));
        assert_eq!(a[0], 0.0, "biases start at 0");
        let factors: Vec<f64> = a
            .chunks(9)
            .flat_map(|c| c[1..].iter().map(|&x| f64::from(x)))
            .collect();
        let var = factors.iter().map(|x| x * x).sum::<f64>() / factors.len() as f64;
        assert!((var.sqrt() - 0.1).abs() < 0.01, "std {}", var.sqrt());
    }

    #[test]
    fn out_of_range_ids_are_refused() {
        let model = MatrixFactorization::new(2, 2, 1, 0.0, 0.0).unwrap();
        let data = Ratings {
            user: vec![0, 2],
            item: vec![0, 0],
            rating: vec![1.0, 1.0],
            users: 3,
            items: 2,
        };
        let err = model.validate(&data).unwrap_err().to_string();
        assert!(err.contains("rating 1 (user 2"), "{err}");
        assert!(MatrixFactorization::new(2, 2, 0, 0.0, 0.0).is_err());
    }

    #[test]
    fn sgd_recovers_a_planted_low_rank_matrix() {
        // Ratings from a planted rank-2 model: training RMSE must fall far below the
        // global-mean baseline.
        let (users, items, k) = (30, 25, 2);
        let truth = MatrixFactorization::new(users, items, k, 3.0, 0.0)
            .unwrap()
            .with_init_std(0.8);
        let planted = truth.init(99);
        let mut data = Ratings {
            users,
            items,
            ..Ratings::default()
        };
        for u in 0..users as u32 {
            for i in 0..items as u32 {
                if (u * 7 + i * 3) % 5 < 3 {
                    data.user.push(u);
                    data.item.push(i);
                    data.rating.push(truth.predict(&planted, u, i) as f32);
                }
            }
        }
        let model = MatrixFactorization::new(users, items, k, data.mean(), 1e-3).unwrap();
        let mut w = model.init(5);
        let baseline = model.evaluate(&model.init(5), &data).rmse.unwrap();
        let mut opt = OptimizerKind::Sgd { lr: 0.05 }.build(model.parameters());
        for epoch in 0..200 {
            for start in (0..data.len()).step_by(10) {
                let rows: Vec<usize> = (start..(start + 10).min(data.len()))
                    .map(|r| (r * 37 + epoch) % data.len())
                    .collect();
                let (g, _) = model.minibatch_gradient(&w, &data, &rows);
                opt.step_sparse(&mut w, &g);
            }
        }
        let rmse = model.evaluate(&w, &data).rmse.unwrap();
        assert!(rmse < baseline / 10.0, "rmse {rmse}, baseline {baseline}");
    }
}
