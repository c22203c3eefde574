//! Adam (Kingma and Ba, 2015) with per-coordinate moments *and* step counts:
//! `t ← t + 1`, `m ← β₁ m + (1 − β₁) g`, `v ← β₂ v + (1 − β₂) g²`,
//! `w ← w − η (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)`.
//!
//! Counting steps per coordinate makes a lazy sparse step exact Adam for the coordinates it
//! touches (their bias correction uses how often *they* were updated); with dense steps all
//! counts are equal and this is textbook Adam.

use serde::{Deserialize, Serialize};

use super::Optimizer;

/// Adam; `m[j]`, `v[j]` and `steps[j]` belong to slot `j`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    lr: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: Vec<u32>,
}

impl Adam {
    /// Adam with learning rate `lr`, `β₁`, `β₂` and `ε` for `slots` coordinates, all state 0.
    pub fn new(slots: usize, lr: f32, beta1: f32, beta2: f32, epsilon: f32) -> Adam {
        Adam {
            lr,
            beta1,
            beta2,
            epsilon,
            m: vec![0.0; slots],
            v: vec![0.0; slots],
            steps: vec![0; slots],
        }
    }

    /// `(β₁, β₂, ε)`.
    pub fn hyperparameters(&self) -> (f32, f32, f32) {
        (self.beta1, self.beta2, self.epsilon)
    }

    /// The first moment of every slot.
    pub fn first_moment(&self) -> &[f32] {
        &self.m
    }

    /// The second moment of every slot.
    pub fn second_moment(&self) -> &[f32] {
        &self.v
    }

    /// How many times each slot has been updated.
    pub fn steps(&self) -> &[u32] {
        &self.steps
    }
}

impl Optimizer for Adam {
    fn slots(&self) -> usize {
        self.m.len()
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    #[inline]
    fn step_at(&mut self, slot: usize, w: &mut f32, g: f32) {
        let t = self.steps[slot].saturating_add(1);
        self.steps[slot] = t;
        let (m, v) = (&mut self.m[slot], &mut self.v[slot]);
        *m = self.beta1 * *m + (1.0 - self.beta1) * g;
        *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
        // β^t underflows to 0 for large t, which is the right limit of the correction.
        let t = i32::try_from(t).unwrap_or(i32::MAX);
        let m_hat = *m / (1.0 - self.beta1.powi(t));
        let v_hat = *v / (1.0 - self.beta2.powi(t));
        *w -= self.lr * m_hat / (v_hat.sqrt() + self.epsilon);
    }
}
