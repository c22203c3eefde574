//! AdaGrad (Duchi, Hazan and Singer, 2011): a per-coordinate sum of squared gradients
//! scales the step, `h ← h + g²`, `w ← w − η g / (√h + ε)`.

use serde::{Deserialize, Serialize};

use super::Optimizer;

/// AdaGrad; `history[j]` is slot `j`'s sum of squared gradients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaGrad {
    lr: f32,
    epsilon: f32,
    history: Vec<f32>,
}

impl AdaGrad {
    /// AdaGrad with learning rate `lr` and `ε` for `slots` coordinates, histories at 0.
    pub fn new(slots: usize, lr: f32, epsilon: f32) -> AdaGrad {
        AdaGrad {
            lr,
            epsilon,
            history: vec![0.0; slots],
        }
    }

    /// `ε`, which keeps the first steps finite.
    pub fn epsilon(&self) -> f32 {
        self.epsilon
    }

    /// The sum of squared gradients of every slot.
    pub fn history(&self) -> &[f32] {
        &self.history
    }
}

impl Optimizer for AdaGrad {
    fn slots(&self) -> usize {
        self.history.len()
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }

    #[inline]
    fn step_at(&mut self, slot: usize, w: &mut f32, g: f32) {
        let h = &mut self.history[slot];
        *h += g * g;
        *w -= self.lr * g / (h.sqrt() + self.epsilon);
    }
}
