//! What a training run does: everything `fccl train` takes on its command line, as one
//! value every rank holds.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};
use crate::optim::OptimizerKind;
use crate::train::Compression;

/// Which model to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelKind {
    /// Sparse logistic regression with hashed features (`lr`).
    Logistic,
    /// Biased matrix factorization (`mf`).
    Factorization,
    /// Dense softmax regression (`softmax`).
    Softmax,
}

impl FromStr for ModelKind {
    type Err = MlError;
    fn from_str(s: &str) -> Result<ModelKind> {
        match s {
            "lr" => Ok(ModelKind::Logistic),
            "mf" => Ok(ModelKind::Factorization),
            "softmax" => Ok(ModelKind::Softmax),
            other => Err(MlError::invalid(format!(
                "unknown model {other:?}: expected lr, mf or softmax"
            ))),
        }
    }
}

impl ModelKind {
    /// The name `fccl train --model` takes.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Logistic => "lr",
            ModelKind::Factorization => "mf",
            ModelKind::Softmax => "softmax",
        }
    }
}

/// How the ranks train together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Synchronous data-parallel SGD (allreduce or sparse allgather every step).
    Sync,
    /// The asynchronous parameter server.
    ParameterServer,
    /// Local SGD, the models averaged every H steps.
    Local,
}

impl FromStr for Mode {
    type Err = MlError;
    fn from_str(s: &str) -> Result<Mode> {
        match s {
            "sync" => Ok(Mode::Sync),
            "ps" => Ok(Mode::ParameterServer),
            "local" => Ok(Mode::Local),
            other => Err(MlError::invalid(format!(
                "unknown mode {other:?}: expected sync, ps or local"
            ))),
        }
    }
}

impl Mode {
    /// The name `fccl train --mode` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::ParameterServer => "ps",
            Mode::Local => "local",
        }
    }
}

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// The model.
    pub model: ModelKind,
    /// The dataset's name or path (see [`crate::data::by_name`]).
    pub data: String,
    /// How the ranks train together.
    pub mode: Mode,
    /// The optimizer and its settings.
    pub optimizer: OptimizerKind,
    /// Rows per minibatch: the global batch in sync mode, each worker's or rank's
    /// otherwise.
    pub batch: usize,
    /// Passes over the training rows.
    pub epochs: usize,
    /// The gradient format of sync mode.
    pub compression: Compression,
    /// The L2 regularisation coefficient.
    pub l2: f32,
    /// Latent factors of matrix factorization.
    pub factors: usize,
    /// Ranks serving the weights in ps mode (the last ones).
    pub servers: usize,
    /// In ps mode, how many steps a worker may be ahead of the slowest one when it reads
    /// weights (`None`: no bound).
    pub staleness: Option<usize>,
    /// Local steps between averagings in local mode.
    pub average_every: usize,
    /// The fraction of rows held out for evaluation.
    pub test_fraction: f64,
    /// Seeds the split, the initial weights and the row orders.
    pub seed: u64,
    /// Evaluate every this many steps (0: at the end of every epoch).
    pub eval_every: usize,
    /// Save the run here and resume from it if it exists: this file in sync mode (rank 0
    /// saves it), `FILE.rank{r}` for each rank in ps and local mode.
    pub checkpoint: Option<PathBuf>,
    /// Save every this many steps (0: at the end of every epoch; at averagings in local
    /// mode), and always at the end (ps mode saves only at the end).
    pub checkpoint_every: usize,
    /// Stop after this long (the ranks agree on the step), saving the checkpoint.
    pub time_limit: Option<Duration>,
}

impl TrainSpec {
    /// A run of `model` on `data` with the defaults `fccl train` shows.
    pub fn new(model: ModelKind, data: impl Into<String>) -> TrainSpec {
        TrainSpec {
            model,
            data: data.into(),
            mode: Mode::Sync,
            optimizer: OptimizerKind::Sgd { lr: 0.1 },
            batch: 64,
            epochs: 1,
            compression: Compression::None,
            l2: 1e-4,
            factors: 10,
            servers: 1,
            staleness: None,
            average_every: 8,
            test_fraction: 0.2,
            seed: 1,
            eval_every: 0,
            checkpoint: None,
            checkpoint_every: 0,
            time_limit: None,
        }
    }

    /// Checks the settings that do not depend on the data or the ranks.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        if self.batch == 0 || self.epochs == 0 {
            return Err(MlError::invalid("--batch and --epochs must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err(MlError::invalid(format!(
                "the test fraction {} must be in [0, 1)",
                self.test_fraction
            )));
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(MlError::invalid(format!("--l2 {} must be >= 0", self.l2)));
        }
        if self.model == ModelKind::Factorization && self.factors == 0 {
            return Err(MlError::invalid("--factors must be at least 1"));
        }
        if self.mode != Mode::Sync && self.compression != Compression::None {
            return Err(MlError::invalid(
                "--compress applies to --mode sync only (ps sends sparse pairs, local averages \
                 weights)",
            ));
        }
        if self.mode == Mode::Local && self.average_every == 0 {
            return Err(MlError::invalid("--average-every must be at least 1"));
        }
        Ok(())
    }

    /// What tells this run apart from others, for checkpoints: everything that changes the
    /// steps but the number of epochs (which a resumed run may extend).
    pub fn run_identity(&self, ranks: usize) -> String {
        format!(
            "model={} data={} mode={} ranks={ranks} batch={} seed={} optimizer={:?} \
             compress={:?} l2={} factors={} test={}",
            self.model.name(),
            self.data,
            self.mode.name(),
            self.batch,
            self.seed,
            self.optimizer,
            self.compression,
            self.l2,
            self.factors,
            self.test_fraction
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_settings_are_refused() {
        assert_eq!("mf".parse::<ModelKind>().unwrap(), ModelKind::Factorization);
        assert_eq!("ps".parse::<Mode>().unwrap(), Mode::ParameterServer);
        assert!("svm".parse::<ModelKind>().is_err());
        assert!("async".parse::<Mode>().is_err());
        let good = TrainSpec::new(ModelKind::Logistic, "heart_scale");
        good.validate().unwrap();
        let cases = [
            TrainSpec {
                batch: 0,
                ..good.clone()
            },
            TrainSpec {
                test_fraction: 1.0,
                ..good.clone()
            },
            TrainSpec {
                l2: -1.0,
                ..good.clone()
            },
            TrainSpec {
                mode: Mode::ParameterServer,
                compression: Compression::F16,
                ..good.clone()
            },
            TrainSpec {
                mode: Mode::Local,
                average_every: 0,
                ..good.clone()
            },
        ];
        for spec in cases {
            assert!(spec.validate().is_err(), "{spec:?}");
        }
    }

    #[test]
    fn the_identity_ignores_the_epochs_only() {
        let a = TrainSpec::new(ModelKind::Logistic, "heart_scale");
        let more = TrainSpec {
            epochs: 9,
            ..a.clone()
        };
        let other = TrainSpec {
            batch: 9,
            ..a.clone()
        };
        assert_eq!(a.run_identity(2), more.run_identity(2));
        assert_ne!(a.run_identity(2), other.run_identity(2));
        assert_ne!(a.run_identity(2), a.run_identity(4));
    }
}
