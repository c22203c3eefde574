//! Models over one flat `f32` parameter vector: sparse logistic regression, biased matrix
//! factorisation and softmax regression.
//!
//! Every model implements [`Model`]. Conventions shared by all of them:
//!
//! - **Parameters** are one `Vec<f32>` ([`Model::parameters`] long), so a dense gradient can
//!   be allreduced as is and a parameter server can shard coordinates by hash. Each model
//!   documents its layout.
//! - **Gradients are sums over rows.** [`Model::gradient`] adds `Σ_{r ∈ rows} ∇ℓ_r(w)` and
//!   returns `Σ ℓ_r(w)`; the caller divides by the global batch size. A data-parallel sum of
//!   per-rank gradients is then the single-process gradient up to the order of additions.
//!   Contributions are summed in `f64` in row order and rounded to `f32` once per call.
//! - **Regularisation** comes in two kinds, so that sums over rows stay exactly additive:
//!   - a *per-example* term that is part of `ℓ_r` itself (matrix factorisation's Funk-style
//!     penalty on the row's user and item; see [`MatrixFactorization`]);
//!   - a *global* L2 term `Σ_j (λ_j / 2) w_j²` on the mean objective (logistic and softmax
//!     regression), which is not in [`Model::gradient`]. Add it after dividing by the batch
//!     size: [`Model::add_l2_dense`] on every coordinate (allreduce, full batch: then the
//!     step direction is exactly the gradient of [`Model::objective`]) or
//!     [`Model::add_l2_sparse`] on the touched coordinates only (lazy L2 for sparse SGD and
//!     the parameter server; untouched coordinates are not decayed that step).
//! - **Objective**: [`Model::objective`] is `(1/N) Σ_r ℓ_r(w) + Σ_j (λ_j / 2) w_j²`.
//! - **Reads**: a gradient over `rows` reads `w` only at [`Model::touched`]`(rows)`, so a
//!   parameter-server worker need only pull those coordinates.

mod factorization;
mod gradient;
mod logistic;
mod math;
mod softmax;

pub use factorization::MatrixFactorization;
pub use gradient::SparseGradient;
pub use logistic::SparseLogistic;
pub use softmax::Softmax;

pub(crate) use gradient::{Accumulator, sorted_unique};

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// How well parameters fit a dataset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The mean per-example data loss without any regularisation: logistic loss,
    /// cross-entropy, or half the squared error.
    pub loss: f64,
    /// The fraction of examples classified correctly (classifiers only).
    pub accuracy: Option<f64>,
    /// The root-mean-square prediction error (regression only).
    pub rmse: Option<f64>,
    /// [`Model::objective`] on the same data.
    pub objective: f64,
}

/// A differentiable model over a flat parameter vector; see the module docs for the
/// conventions.
pub trait Model {
    /// The dataset type the model learns from.
    type Data;

    /// The number of parameters (the length of `w`).
    fn parameters(&self) -> usize;

    /// Seeded initial parameters: the same seed gives the same vector.
    fn init(&self, seed: u64) -> Vec<f32>;

    /// Checks that `data` fits the model (feature and id ranges, labels). The other methods
    /// may panic on data that fails this check.
    fn validate(&self, data: &Self::Data) -> Result<()>;

    /// The number of examples in `data` (what `rows` index).
    fn examples(&self, data: &Self::Data) -> usize;

    /// Adds `Σ_{r ∈ rows} ∇ℓ_r(w)` into `grad` and returns `Σ_{r ∈ rows} ℓ_r(w)` (including
    /// any per-example regularisation, excluding the global L2 term).
    ///
    /// # Panics
    /// If `w` is not [`Model::parameters`] long or a row is out of range.
    fn gradient(
        &self,
        w: &[f32],
        data: &Self::Data,
        rows: &[usize],
        grad: &mut SparseGradient,
    ) -> f64;

    /// The coordinates a gradient over `rows` reads and may write, strictly increasing:
    /// what a parameter-server worker must pull.
    fn touched(&self, data: &Self::Data, rows: &[usize]) -> Vec<u32>;

    /// The global L2 strength `λ_j` of coordinate `j` (0 for unregularised coordinates).
    fn l2_at(&self, j: usize) -> f32;

    /// Metrics of `w` on all of `data`.
    fn evaluate(&self, w: &[f32], data: &Self::Data) -> Metrics;

    /// The mean objective `(1/N) Σ_r ℓ_r(w) + Σ_j (λ_j / 2) w_j²` over all of `data`.
    fn objective(&self, w: &[f32], data: &Self::Data) -> f64 {
        let n = self.examples(data);
        let rows: Vec<usize> = (0..n).collect();
        let mut scratch = SparseGradient::new();
        let sum = self.gradient(w, data, &rows, &mut scratch);
        sum / n.max(1) as f64 + self.l2_penalty(w)
    }

    /// The global L2 penalty `Σ_j (λ_j / 2) w_j²`.
    fn l2_penalty(&self, w: &[f32]) -> f64 {
        w.iter()
            .enumerate()
            .map(|(j, &x)| 0.5 * f64::from(self.l2_at(j)) * f64::from(x) * f64::from(x))
            .sum()
    }

    /// `grad[j] += λ_j · w[j]` for every coordinate (a dense, already averaged gradient).
    fn add_l2_dense(&self, w: &[f32], grad: &mut [f32]) {
        for (j, (g, &x)) in grad.iter_mut().zip(w).enumerate() {
            *g += self.l2_at(j) * x;
        }
    }

    /// `grad[j] += λ_j · w[j]` for the coordinates `grad` touches (lazy L2).
    fn add_l2_sparse(&self, w: &[f32], grad: &mut SparseGradient) {
        for (&j, g) in grad.indices.iter().zip(&mut grad.values) {
            *g += self.l2_at(j as usize) * w[j as usize];
        }
    }

    /// The averaged minibatch gradient with lazy L2, for plain single-process SGD:
    /// `(1/|rows|) Σ ∇ℓ_r + λ ⊙ w` on the touched coordinates, and the mean loss.
    fn minibatch_gradient(
        &self,
        w: &[f32],
        data: &Self::Data,
        rows: &[usize],
    ) -> (SparseGradient, f64) {
        let mut grad = SparseGradient::new();
        let sum = self.gradient(w, data, rows, &mut grad);
        let n = rows.len().max(1);
        grad.scale(1.0 / n as f32);
        self.add_l2_sparse(w, &mut grad);
        (grad, sum / n as f64)
    }

    /// The full-batch gradient of [`Model::objective`] as a dense vector, and the objective.
    fn full_gradient(&self, w: &[f32], data: &Self::Data) -> (Vec<f32>, f64) {
        let n = self.examples(data);
        let rows: Vec<usize> = (0..n).collect();
        let mut grad = SparseGradient::new();
        let sum = self.gradient(w, data, &rows, &mut grad);
        grad.scale(1.0 / n.max(1) as f32);
        let mut dense = grad.to_dense(self.parameters());
        self.add_l2_dense(w, &mut dense);
        (dense, sum / n.max(1) as f64 + self.l2_penalty(w))
    }
}

/// Checks that `w` fits `model`, for constructors of training loops.
pub fn check_parameters<M: Model>(model: &M, w: &[f32]) -> Result<()> {
    if w.len() != model.parameters() {
        return Err(crate::error::MlError::invalid(format!(
            "the model has {} parameters but the vector has {}",
            model.parameters(),
            w.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing;
