//! Heavy-ball momentum with a velocity per coordinate (PyTorch's convention, no dampening):
//! `v ← μ v + g`, `w ← w − η v`.

use serde::{Deserialize, Serialize};

use super::Optimizer;

/// Momentum SGD; `velocity[j]` belongs to slot `j`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Momentum {
    lr: f32,
    momentum: f32,
    velocity: Vec<f32>,
}

impl Momentum {
    /// Momentum SGD with learning rate `lr` and momentum `μ` for `slots` coordinates, every
    /// velocity starting at 0.
    pub fn new(slots: usize, lr: f32, momentum: f32) -> Momentum {
        Momentum {
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

impl Optimizer for Momentum {
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
        *w -= self.lr * *v;
    }
}
