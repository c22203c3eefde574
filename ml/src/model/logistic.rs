//! Sparse binary logistic regression over hashed features.
//!
//! The data is already hashed into `features` buckets (see [`crate::data`]). Labels are ±1;
//! 0 is read as −1 so 0/1 data works too. The loss of a row is
//! `ℓ(w) = ln(1 + exp(−y · (w·x + b)))`, computed without overflow, and the global L2 term
//! `(λ/2)|w|²` leaves the bias out. With `λ = 1/(C·N)` the mean objective is LIBLINEAR's
//! `-s 0` primal `0.5|w|² + C Σ ℓ` divided by `C·N` ([`SparseLogistic::liblinear`]).
//!
//! Layout: `w[0..features]` are the feature weights and, with a bias, `w[features]` is it.

use super::math::{log1p_exp, sigmoid};
use super::{Accumulator, Metrics, Model, SparseGradient, sorted_unique};
use crate::data::{SparseDataset, SparseRow};
use crate::error::{MlError, Result};

/// Sparse logistic regression with feature hashing, L2 and an optional bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseLogistic {
    features: usize,
    l2: f32,
    bias: bool,
}

impl SparseLogistic {
    /// A model over `features` hashed buckets with global L2 strength `l2` (on the mean
    /// objective) and, if `bias`, an unregularised bias.
    pub fn new(features: usize, l2: f32, bias: bool) -> Result<SparseLogistic> {
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(MlError::invalid(format!(
                "the L2 strength must be finite and non-negative, not {l2}"
            )));
        }
        let parameters = features + usize::from(bias);
        if parameters == 0 || parameters > u32::MAX as usize {
            return Err(MlError::invalid(format!(
                "logistic regression needs between 1 and 2^32 - 1 parameters, not {parameters}"
            )));
        }
        Ok(SparseLogistic { features, l2, bias })
    }

    /// The model whose mean objective is LIBLINEAR's `-s 0 -c C` primal (no bias) divided by
    /// `C · examples`: `λ = 1 / (C · examples)`.
    pub fn liblinear(features: usize, c: f64, examples: usize) -> Result<SparseLogistic> {
        if !(c.is_finite() && c > 0.0) || examples == 0 {
            return Err(MlError::invalid(format!(
                "LIBLINEAR's C must be positive and the data non-empty (C = {c}, {examples} examples)"
            )));
        }
        SparseLogistic::new(features, (1.0 / (c * examples as f64)) as f32, false)
    }

    /// The number of hashed feature buckets.
    pub fn features(&self) -> usize {
        self.features
    }

    /// The global L2 strength `λ`.
    pub fn l2(&self) -> f32 {
        self.l2
    }

    /// Whether the model has a bias (at `w[features]`).
    pub fn has_bias(&self) -> bool {
        self.bias
    }

    /// The label of a row as ±1 (positive labels are +1, zero and negative ones −1).
    pub fn sign_of(label: f32) -> f64 {
        if label > 0.0 { 1.0 } else { -1.0 }
    }

    /// The decision value `w·x + b` of a row.
    pub fn margin(&self, w: &[f32], row: SparseRow<'_>) -> f64 {
        let dot: f64 = row
            .indices
            .iter()
            .zip(row.values)
            .map(|(&j, &x)| f64::from(w[j as usize]) * f64::from(x))
            .sum();
        if self.bias {
            dot + f64::from(w[self.features])
        } else {
            dot
        }
    }

    /// The probability that a row is positive.
    pub fn predict(&self, w: &[f32], row: SparseRow<'_>) -> f64 {
        sigmoid(self.margin(w, row))
    }

    /// LIBLINEAR's `-s 0` primal objective `0.5 |w|² + C Σ ln(1 + exp(−y w·x))` over all of
    /// `data` (the bias, if any, is regularised here as LIBLINEAR's `-B` does).
    pub fn liblinear_objective(&self, w: &[f32], data: &SparseDataset, c: f64) -> f64 {
        let norm: f64 = w.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let loss: f64 = data
            .rows()
            .map(|row| log1p_exp(-Self::sign_of(row.label) * self.margin(w, row)))
            .sum();
        0.5 * norm + c * loss
    }
}

impl Model for SparseLogistic {
    type Data = SparseDataset;

    fn parameters(&self) -> usize {
        self.features + usize::from(self.bias)
    }

    /// Zeros: the problem is convex, so the seed does not matter.
    fn init(&self, _seed: u64) -> Vec<f32> {
        vec![0.0; self.parameters()]
    }

    fn validate(&self, data: &SparseDataset) -> Result<()> {
        if data.features() > self.features {
            return Err(MlError::invalid(format!(
                "the data has {} features but the model only {}",
                data.features(),
                self.features
            )));
        }
        if let Some((r, &label)) = data
            .labels()
            .iter()
            .enumerate()
            .find(|&(_, &l)| !(l == 1.0 || l == -1.0 || l == 0.0))
        {
            return Err(MlError::invalid(format!(
                "row {r} has label {label}; logistic regression takes -1/+1 (or 0/1)"
            )));
        }
        Ok(())
    }

    fn examples(&self, data: &SparseDataset) -> usize {
        data.len()
    }

    fn gradient(
        &self,
        w: &[f32],
        data: &SparseDataset,
        rows: &[usize],
        grad: &mut SparseGradient,
    ) -> f64 {
        assert_eq!(w.len(), self.parameters(), "parameter vector length");
        let mut acc = Accumulator::default();
        let mut loss = 0.0;
        for &r in rows {
            let row = data.row(r);
            let y = Self::sign_of(row.label);
            let m = y * self.margin(w, row);
            loss += log1p_exp(-m);
            // d/dz ln(1 + e^{-y z}) = -y σ(-y z).
            let coef = -y * sigmoid(-m);
            for (&j, &x) in row.indices.iter().zip(row.values) {
                acc.push(j, coef * f64::from(x));
            }
            if self.bias {
                acc.push(self.features as u32, coef);
            }
        }
        acc.finish_into(grad);
        loss
    }

    fn touched(&self, data: &SparseDataset, rows: &[usize]) -> Vec<u32> {
        let mut all: Vec<u32> = rows
            .iter()
            .flat_map(|&r| data.row(r).indices.iter().copied())
            .collect();
        if self.bias && !rows.is_empty() {
            all.push(self.features as u32);
        }
        sorted_unique(all)
    }

    fn l2_at(&self, j: usize) -> f32 {
        if j < self.features { self.l2 } else { 0.0 }
    }

    fn evaluate(&self, w: &[f32], data: &SparseDataset) -> Metrics {
        let (mut loss, mut correct) = (0.0, 0usize);
        for row in data.rows() {
            let y = Self::sign_of(row.label);
            let z = self.margin(w, row);
            loss += log1p_exp(-y * z);
            let predicted = if z > 0.0 { 1.0 } else { -1.0 };
            correct += usize::from(predicted == y);
        }
        let n = data.len().max(1) as f64;
        Metrics {
            loss: loss / n,
            accuracy: Some(correct as f64 / n),
            rmse: None,
            objective: loss / n + self.l2_penalty(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{check_gradient, random_sparse};
    use crate::optim::{Optimizer, OptimizerKind};

    #[test]
    fn gradient_matches_finite_differences() {
        for bias in [false, true] {
            let data = random_sparse(12, 9, 2, 11);
            let model = SparseLogistic::new(9, 0.3, bias).unwrap();
            model.validate(&data).unwrap();
            check_gradient(&model, &data, 5);
        }
    }

    #[test]
    fn objective_at_a_known_point_by_hand() {
        let mut data = SparseDataset::new(2);
        data.push(1.0, &[0], &[2.0]).unwrap();
        data.push(0.0, &[0, 1], &[1.0, -1.0]).unwrap(); // 0 is read as -1
        let model = SparseLogistic::new(2, 0.5, false).unwrap();
        let w = [0.5, -1.0];
        // Row 1: y = +1, z = 1.0 → ln(1 + e^-1); row 2: y = -1, z = 0.5 + 1.0 = 1.5 → ln(1 + e^1.5).
        let l1 = (1.0 + (-1.0f64).exp()).ln();
        let l2 = (1.0 + 1.5f64.exp()).ln();
        let norm = 0.25 + 1.0;
        let lib = model.liblinear_objective(&w, &data, 2.0);
        assert!(
            (lib - (0.5 * norm + 2.0 * (l1 + l2))).abs() < 1e-12,
            "{lib}"
        );
        let mean = model.objective(&w, &data);
        assert!(
            (mean - ((l1 + l2) / 2.0 + 0.25 * norm)).abs() < 1e-12,
            "{mean}"
        );
        let metrics = model.evaluate(&w, &data);
        assert_eq!(metrics.accuracy, Some(0.5));
        assert!((metrics.objective - mean).abs() < 1e-12);
    }

    #[test]
    fn l2_pulls_weights_toward_zero() {
        // No data term at all: the step direction must shrink every weight, not grow it.
        let data = SparseDataset::new(3);
        let model = SparseLogistic::new(3, 0.1, true).unwrap();
        let w = [1.0, -2.0, 0.5, 4.0];
        let mut g = vec![0.0; 4];
        model.add_l2_dense(&w, &mut g);
        assert_eq!(g, vec![0.1, -0.2, 0.05, 0.0], "the bias is not regularised");
        assert_eq!(model.touched(&data, &[]), Vec::<u32>::new());
    }

    #[test]
    fn labels_other_than_plus_minus_one_are_refused() {
        let mut data = SparseDataset::new(2);
        data.push(2.0, &[0], &[1.0]).unwrap();
        let err = SparseLogistic::new(2, 0.0, false)
            .unwrap()
            .validate(&data)
            .unwrap_err();
        assert!(err.to_string().contains("row 0 has label 2"), "{err}");
        let wide = SparseLogistic::new(1, 0.0, false).unwrap();
        assert!(wide.validate(&SparseDataset::new(2)).is_err());
    }

    #[test]
    fn separable_data_is_learned_exactly() {
        // Feature 0 alone decides the class; feature 2 is noise shared by everyone.
        let mut data = SparseDataset::new(3);
        for i in 0..40 {
            let x = 0.5 + (i % 7) as f32 * 0.1;
            let (label, idx) = if i % 2 == 0 { (1.0, 0) } else { (0.0, 1) };
            data.push(label, &[idx, 2], &[x, 1.0]).unwrap();
        }
        let model = SparseLogistic::new(3, 1e-4, true).unwrap();
        let mut w = model.init(0);
        let mut opt = OptimizerKind::Sgd { lr: 1.0 }.build(model.parameters());
        let first = model.objective(&w, &data);
        for _ in 0..200 {
            let (g, _) = model.full_gradient(&w, &data);
            opt.step_dense(&mut w, &g);
        }
        let m = model.evaluate(&w, &data);
        assert_eq!(m.accuracy, Some(1.0));
        assert!(m.objective < first / 10.0, "{} vs {first}", m.objective);
    }
}
