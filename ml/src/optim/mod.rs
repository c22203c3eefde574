//! First-order optimizers with per-coordinate state.
//!
//! Unlike Cirrus (one scalar momentum shared by every coordinate), each optimizer keeps its
//! state per coordinate ("slot"). [`Optimizer::step_at`] updates one slot, so a
//! parameter-server shard can create an optimizer for the `n` keys it owns and map each
//! global key to a local slot; [`Optimizer::step_dense`] and [`Optimizer::step_sparse`]
//! are the whole-vector forms where slot `j` is coordinate `j`.
//!
//! Sparse steps are *lazy*: only the coordinates the gradient touches move, and only their
//! state changes. For SGD and AdaGrad that equals a dense step with zeros elsewhere; for
//! momentum, Nesterov and Adam it is the usual lazy variant (as TensorFlow's `LazyAdam` or
//! PyTorch's `SparseAdam`): an untouched coordinate's velocity neither decays nor moves it.
//! Adam counts steps per coordinate, so its bias correction stays right under lazy steps.
//!
//! All optimizers *descend*: `w ← w − η · direction(g)`, with `g` the gradient of the loss.
//! [`OptimizerKind`] names one with its hyperparameters (parsed from `sgd`, `momentum`,
//! `nesterov`, `adagrad`, `adam`, optionally with `:key=value,...`), and [`AnyOptimizer`] is
//! a built one whose state serialises with serde for checkpoints.

mod adagrad;
mod adam;
mod kind;
mod momentum;
mod nesterov;
mod sgd;

pub use adagrad::AdaGrad;
pub use adam::Adam;
pub use kind::{AnyOptimizer, OptimizerKind};
pub use momentum::Momentum;
pub use nesterov::Nesterov;
pub use sgd::Sgd;

use crate::model::SparseGradient;

/// An optimizer over a fixed number of slots, each with its own state.
pub trait Optimizer {
    /// The number of slots (coordinates) this optimizer keeps state for.
    fn slots(&self) -> usize;

    /// The learning rate `η`.
    fn learning_rate(&self) -> f32;

    /// Changes the learning rate (for schedules); the state is kept.
    fn set_learning_rate(&mut self, lr: f32);

    /// One update of the parameter `w` held in `slot` with gradient `g`.
    ///
    /// # Panics
    /// If `slot >= slots()`.
    fn step_at(&mut self, slot: usize, w: &mut f32, g: f32);

    /// One update of every coordinate: slot `j` is `w[j]`.
    ///
    /// # Panics
    /// If `w`, `grad` and the slots differ in length.
    fn step_dense(&mut self, w: &mut [f32], grad: &[f32]) {
        assert_eq!(w.len(), grad.len(), "parameter and gradient lengths");
        assert_eq!(w.len(), self.slots(), "parameter and optimizer lengths");
        for (j, (x, &g)) in w.iter_mut().zip(grad).enumerate() {
            self.step_at(j, x, g);
        }
    }

    /// One lazy update of the coordinates `grad` touches (slot `j` is `w[j]`); every other
    /// coordinate and its state is left alone.
    ///
    /// # Panics
    /// If an index is beyond `w` or the slots.
    fn step_sparse(&mut self, w: &mut [f32], grad: &SparseGradient) {
        for (j, g) in grad.iter() {
            self.step_at(j as usize, &mut w[j as usize], g);
        }
    }
}

#[cfg(test)]
mod tests;
