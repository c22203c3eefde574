//! Plain stochastic gradient descent: `w ← w − η g`. No state.

use serde::{Deserialize, Serialize};

use super::Optimizer;

/// Plain SGD over `slots` coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    lr: f32,
    slots: usize,
}

impl Sgd {
    /// SGD with learning rate `lr` for `slots` coordinates.
    pub fn new(slots: usize, lr: f32) -> Sgd {
        Sgd { lr, slots }
    }
}

impl Optimizer for Sgd {
    fn slots(&self) -> usize {
        self.slots
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    #[inline]
    fn step_at(&mut self, slot: usize, w: &mut f32, g: f32) {
        assert!(slot < self.slots, "slot {slot} beyond {}", self.slots);
        *w -= self.lr * g;
    }
}
