//! Naming an optimizer with its hyperparameters, parsing that name, and the built optimizer
//! as one serialisable enum.
//!
//! The text form is `name[:key=value,...]` with `name` one of `sgd`, `momentum`,
//! `nesterov`, `adagrad`, `adam` and keys `lr`, `momentum`, `epsilon` (or `eps`), `beta1`,
//! `beta2` where they apply; e.g. `adam:lr=0.01,beta2=0.99`. Missing keys take the
//! defaults of [`OptimizerKind::default_for`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AdaGrad, Adam, Momentum, Nesterov, Optimizer, Sgd};
use crate::error::{MlError, Result};
use crate::model::SparseGradient;

/// An optimizer and its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "name")]
pub enum OptimizerKind {
    /// Plain SGD.
    Sgd {
        /// The learning rate.
        lr: f32,
    },
    /// Heavy-ball momentum.
    Momentum {
        /// The learning rate.
        lr: f32,
        /// The momentum μ in [0, 1).
        momentum: f32,
    },
    /// Nesterov momentum.
    Nesterov {
        /// The learning rate.
        lr: f32,
        /// The momentum μ in [0, 1).
        momentum: f32,
    },
    /// AdaGrad.
    #[serde(rename = "adagrad")]
    AdaGrad {
        /// The learning rate.
        lr: f32,
        /// Added to the root of the squared-gradient sum.
        epsilon: f32,
    },
    /// Adam.
    Adam {
        /// The learning rate.
        lr: f32,
        /// The first-moment decay β₁ in [0, 1).
        beta1: f32,
        /// The second-moment decay β₂ in [0, 1).
        beta2: f32,
        /// Added to the root of the second moment.
        epsilon: f32,
    },
}

/// The names [`OptimizerKind`] parses.
const NAMES: &str = "sgd, momentum, nesterov, adagrad, adam";

impl OptimizerKind {
    /// The optimizer `name` with its defaults: learning rate 0.01 (Adam 0.001), momentum
    /// 0.9, β₁ 0.9, β₂ 0.999, ε 1e-8.
    pub fn default_for(name: &str) -> Result<OptimizerKind> {
        Ok(match name {
            "sgd" => OptimizerKind::Sgd { lr: 0.01 },
            "momentum" => OptimizerKind::Momentum {
                lr: 0.01,
                momentum: 0.9,
            },
            "nesterov" => OptimizerKind::Nesterov {
                lr: 0.01,
                momentum: 0.9,
            },
            "adagrad" => OptimizerKind::AdaGrad {
                lr: 0.01,
                epsilon: 1e-8,
            },
            "adam" => OptimizerKind::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
            },
            other => {
                return Err(MlError::invalid(format!(
                    "unknown optimizer '{other}' (expected one of {NAMES})"
                )));
            }
        })
    }

    /// The optimizer's name as parsed.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Momentum { .. } => "momentum",
            OptimizerKind::Nesterov { .. } => "nesterov",
            OptimizerKind::AdaGrad { .. } => "adagrad",
            OptimizerKind::Adam { .. } => "adam",
        }
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f32 {
        match *self {
            OptimizerKind::Sgd { lr }
            | OptimizerKind::Momentum { lr, .. }
            | OptimizerKind::Nesterov { lr, .. }
            | OptimizerKind::AdaGrad { lr, .. }
            | OptimizerKind::Adam { lr, .. } => lr,
        }
    }

    /// The same optimizer with learning rate `lr`.
    pub fn with_learning_rate(mut self, new: f32) -> OptimizerKind {
        match &mut self {
            OptimizerKind::Sgd { lr }
            | OptimizerKind::Momentum { lr, .. }
            | OptimizerKind::Nesterov { lr, .. }
            | OptimizerKind::AdaGrad { lr, .. }
            | OptimizerKind::Adam { lr, .. } => *lr = new,
        }
        self
    }

    /// Checks the hyperparameters: a positive finite learning rate and ε, momenta and betas
    /// in [0, 1).
    pub fn validate(&self) -> Result<()> {
        let lr = self.learning_rate();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(MlError::invalid(format!(
                "{}: the learning rate must be positive and finite, not {lr}",
                self.name()
            )));
        }
        let unit = |what: &str, x: f32| {
            if (0.0..1.0).contains(&x) {
                Ok(())
            } else {
                Err(MlError::invalid(format!(
                    "{}: {what} must be in [0, 1), not {x}",
                    self.name()
                )))
            }
        };
        let positive = |x: f32| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(MlError::invalid(format!(
                    "{}: epsilon must be positive and finite, not {x}",
                    self.name()
                )))
            }
        };
        match *self {
            OptimizerKind::Sgd { .. } => Ok(()),
            OptimizerKind::Momentum { momentum, .. } | OptimizerKind::Nesterov { momentum, .. } => {
                unit("momentum", momentum)
            }
            OptimizerKind::AdaGrad { epsilon, .. } => positive(epsilon),
            OptimizerKind::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                unit("beta1", beta1)?;
                unit("beta2", beta2)?;
                positive(epsilon)
            }
        }
    }

    /// A fresh optimizer with zero state for `slots` coordinates.
    pub fn build(&self, slots: usize) -> AnyOptimizer {
        match *self {
            OptimizerKind::Sgd { lr } => AnyOptimizer::Sgd(Sgd::new(slots, lr)),
            OptimizerKind::Momentum { lr, momentum } => {
                AnyOptimizer::Momentum(Momentum::new(slots, lr, momentum))
            }
            OptimizerKind::Nesterov { lr, momentum } => {
                AnyOptimizer::Nesterov(Nesterov::new(slots, lr, momentum))
            }
            OptimizerKind::AdaGrad { lr, epsilon } => {
                AnyOptimizer::AdaGrad(AdaGrad::new(slots, lr, epsilon))
            }
            OptimizerKind::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => AnyOptimizer::Adam(Adam::new(slots, lr, beta1, beta2, epsilon)),
        }
    }
}

impl FromStr for OptimizerKind {
    type Err = MlError;

    /// Parses `name[:key=value,...]` (see the module docs) and validates the result.
    fn from_str(s: &str) -> Result<OptimizerKind> {
        let (name, params) = s.trim().split_once(':').unwrap_or((s.trim(), ""));
        let mut kind = OptimizerKind::default_for(&name.to_ascii_lowercase())?;
        for pair in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                MlError::invalid(format!("optimizer parameter '{pair}' is not key=value"))
            })?;
            let value: f32 = value.trim().parse().map_err(|_| {
                MlError::invalid(format!(
                    "optimizer parameter {key}: '{value}' is not a number"
                ))
            })?;
            let slot = match (&mut kind, key.trim()) {
                (_, "lr") => {
                    kind = kind.with_learning_rate(value);
                    continue;
                }
                (
                    OptimizerKind::Momentum { momentum, .. }
                    | OptimizerKind::Nesterov { momentum, .. },
                    "momentum",
                ) => momentum,
                (
                    OptimizerKind::AdaGrad { epsilon, .. } | OptimizerKind::Adam { epsilon, .. },
                    "epsilon" | "eps",
                ) => epsilon,
                (OptimizerKind::Adam { beta1, .. }, "beta1") => beta1,
                (OptimizerKind::Adam { beta2, .. }, "beta2") => beta2,
                (k, other) => {
                    return Err(MlError::invalid(format!(
                        "{} has no parameter '{other}'",
                        k.name()
                    )));
                }
            };
            *slot = value;
        }
        kind.validate()?;
        Ok(kind)
    }
}

impl fmt::Display for OptimizerKind {
    /// The text form [`OptimizerKind::from_str`] reads back, with every parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            OptimizerKind::Sgd { lr } => write!(f, "sgd:lr={lr}"),
            OptimizerKind::Momentum { lr, momentum } => {
                write!(f, "momentum:lr={lr},momentum={momentum}")
            }
            OptimizerKind::Nesterov { lr, momentum } => {
                write!(f, "nesterov:lr={lr},momentum={momentum}")
            }
            OptimizerKind::AdaGrad { lr, epsilon } => {
                write!(f, "adagrad:lr={lr},epsilon={epsilon}")
            }
            OptimizerKind::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            } => write!(
                f,
                "adam:lr={lr},beta1={beta1},beta2={beta2},epsilon={epsilon}"
            ),
        }
    }
}

/// Any built optimizer, with its state; serialise it (e.g. with `serde_json`) to checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnyOptimizer {
    /// Plain SGD.
    Sgd(Sgd),
    /// Heavy-ball momentum.
    Momentum(Momentum),
    /// Nesterov momentum.
    Nesterov(Nesterov),
    /// AdaGrad.
    #[serde(rename = "adagrad")]
    AdaGrad(AdaGrad),
    /// Adam.
    Adam(Adam),
}

impl AnyOptimizer {
    /// The optimizer inside, as a trait object.
    fn inner(&self) -> &dyn Optimizer {
        match self {
            AnyOptimizer::Sgd(o) => o,
            AnyOptimizer::Momentum(o) => o,
            AnyOptimizer::Nesterov(o) => o,
            AnyOptimizer::AdaGrad(o) => o,
            AnyOptimizer::Adam(o) => o,
        }
    }

    /// The optimizer inside, as a mutable trait object.
    fn inner_mut(&mut self) -> &mut dyn Optimizer {
        match self {
            AnyOptimizer::Sgd(o) => o,
            AnyOptimizer::Momentum(o) => o,
            AnyOptimizer::Nesterov(o) => o,
            AnyOptimizer::AdaGrad(o) => o,
            AnyOptimizer::Adam(o) => o,
        }
    }
}

impl Optimizer for AnyOptimizer {
    fn slots(&self) -> usize {
        self.inner().slots()
    }

    fn learning_rate(&self) -> f32 {
        self.inner().learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.inner_mut().set_learning_rate(lr);
    }

    fn step_at(&mut self, slot: usize, w: &mut f32, g: f32) {
        self.inner_mut().step_at(slot, w, g);
    }

    // The whole-vector steps dispatch once, then run the concrete type's loop.
    fn step_dense(&mut self, w: &mut [f32], grad: &[f32]) {
        self.inner_mut().step_dense(w, grad);
    }

    fn step_sparse(&mut self, w: &mut [f32], grad: &SparseGradient) {
        self.inner_mut().step_sparse(w, grad);
    }
}
