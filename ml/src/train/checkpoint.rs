//! Checkpoints: a training run's weights, optimizer state and [`Progress`], saved to a file
//! so that a run can stop (a function's time limit) and go on later from the same step.
//!
//! The file is CBOR (through `ciborium`), written to a temporary sibling and renamed over
//! the old one, so a reader sees either the previous checkpoint or the new one, never half
//! of one. A checkpoint names the run it belongs to (`run`: whatever the caller uses to
//! tell runs apart, such as the model, data and settings); resuming another run is refused.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sync::Progress;
use crate::error::{MlError, Result};
use crate::optim::AnyOptimizer;

/// The format version this code writes and reads.
const FORMAT: u32 = 1;

/// A saved training state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The format version ([`FORMAT`]).
    format: u32,
    /// The run this state belongs to.
    pub run: String,
    /// Where the run was when it was saved.
    pub progress: Progress,
    /// The model's parameters.
    pub weights: Vec<f32>,
    /// The optimizer with its per-coordinate state.
    pub optimizer: AnyOptimizer,
}

impl Checkpoint {
    /// A checkpoint of `run` at `progress`.
    pub fn new(
        run: impl Into<String>,
        progress: Progress,
        weights: Vec<f32>,
        optimizer: AnyOptimizer,
    ) -> Checkpoint {
        Checkpoint {
            format: FORMAT,
            run: run.into(),
            progress,
            weights,
            optimizer,
        }
    }

    /// Writes the checkpoint to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let temporary = temporary_path(path);
        let context = || format!("cannot write the checkpoint {}", temporary.display());
        let file = std::fs::File::create(&temporary).map_err(|e| MlError::io(context(), e))?;
        let mut out = BufWriter::new(file);
        ciborium::into_writer(self, &mut out)
            .map_err(|e| MlError::invalid(format!("{}: {e}", context())))?;
        let file = out
            .into_inner()
            .map_err(|e| MlError::io(context(), e.into_error()))?;
        file.sync_all().map_err(|e| MlError::io(context(), e))?;
        std::fs::rename(&temporary, path).map_err(|e| {
            MlError::io(
                format!("cannot rename the checkpoint to {}", path.display()),
                e,
            )
        })
    }

    /// Reads the checkpoint at `path`: `None` if there is no file, an error if it is not a
    /// checkpoint of this format.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(MlError::io(
                    format!("cannot read the checkpoint {}", path.display()),
                    e,
                ));
            }
        };
        let checkpoint: Checkpoint = ciborium::from_reader(BufReader::new(file)).map_err(|e| {
            MlError::invalid(format!("{} is not an fccl checkpoint: {e}", path.display()))
        })?;
        if checkpoint.format != FORMAT {
            return Err(MlError::invalid(format!(
                "{} is a checkpoint of format {}; this version reads format {FORMAT}",
                path.display(),
                checkpoint.format
            )));
        }
        Ok(Some(checkpoint))
    }

    /// The checkpoint if it belongs to `run` and fits `parameters` weights, else an error
    /// that says what differs.
    pub fn for_run(self, run: &str, parameters: usize) -> Result<Checkpoint> {
        if self.run != run {
            return Err(MlError::invalid(format!(
                "the checkpoint is of another run ({}), not this one ({run}); remove it or \
                 choose another file",
                self.run
            )));
        }
        if self.weights.len() != parameters {
            return Err(MlError::invalid(format!(
                "the checkpoint holds {} weights; the model has {parameters}",
                self.weights.len()
            )));
        }
        Ok(self)
    }
}

/// `path` with `.tmp` added to its name.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{Optimizer, OptimizerKind};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fccl-ckpt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("run.ckpt")
    }

    #[test]
    fn saves_and_loads_the_state_exactly() {
        let path = scratch("roundtrip");
        let mut optimizer = "adam:lr=0.1".parse::<OptimizerKind>().unwrap().build(3);
        let mut w = vec![1.0, -2.5, 3.25];
        optimizer.step_dense(&mut w, &[0.5, 0.25, -1.0]);
        let progress = Progress { epoch: 2, step: 7 };
        let saved = Checkpoint::new("lr sync", progress, w.clone(), optimizer);
        saved.save(&path).unwrap();
        let loaded = Checkpoint::load(&path).unwrap().unwrap();
        assert_eq!(loaded, saved);
        assert!(!temporary_path(&path).exists());
        assert!(loaded.clone().for_run("lr sync", 3).is_ok());
        let other = loaded.clone().for_run("mf sync", 3).unwrap_err();
        assert!(other.to_string().contains("another run"), "{other}");
        assert!(loaded.for_run("lr sync", 4).is_err());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_missing_file_is_none_and_garbage_is_an_error() {
        let path = scratch("garbage");
        assert!(Checkpoint::load(&path).unwrap().is_none());
        std::fs::write(&path, b"not cbor at all").unwrap();
        let e = Checkpoint::load(&path).unwrap_err();
        assert!(e.to_string().contains("not an fccl checkpoint"), "{e}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
