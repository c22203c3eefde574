//! Nesterov momentum in the form of Sutskever et al. (2013) as PyTorch writes it, with a
//! velocity per coordinate: `v ← μ v + g`, `w ← w − η (g + μ v)`.
//!
//! This form needs no look-ahead weights, so a parameter server serves plain `w` on pull
//! (Cirrus instead returned `w + μ m` from one scalar `m` shared by all coordinates).

use serde::{Deserialize, Serialize};

use super::Optimizer;

/// Nesterov momentum; `velocity[j]` belongs to slot `j`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nesterov {
    lr: f32,
    momentum: f32,
    velocity: Vec<f32>,
}

impl Nesterov {
    /// Nesterov momentum with learning rate `lr` and momentum `μ` for `slots` coordinates,
    /// every velocity starting at 0.
    pub fn new(slots: usize, lr: f32, momentum: f32) -> Nesterov {
        Nesterov {
            lr,
            momentum,
            velocity: vec![0.0; slots],
        }
    }

    /// The momentum `μ`.
    pub fn momentum(&self) -> f32 {
        self.momentum
    }

    /// The velocity of every slot.
    pub fn velocity(&self) -> &[f32] {
        &self.velocity
    }
}

impl Optimizer for Nesterov {
    fn slots(&self) -> usize {
        self.velocity.len()
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    #[inline]
    fn step_at(&mut self, slot: usize, w: &mut f32, g: f32) {
        let v = &mut self.velocity[slot];
        *v = self.momentum * *v + g;
        *w -= self.lr * (g + self.momentum * *v);
    }
}
