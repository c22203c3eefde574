//! What a training run reports: one record per evaluation, and a last one marked final.
//! `fccl train --json FILE` writes them as JSON lines.

use std::time::Duration;

use serde::Serialize;

use crate::model::Metrics;

/// A training run's state at an evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// The model (`lr`, `mf`, `softmax`).
    pub model: &'static str,
    /// The mode (`sync`, `ps`, `local`).
    pub mode: &'static str,
    /// Ranks in the job.
    pub ranks: usize,
    /// Epochs completed (fractional within an epoch).
    pub epoch: f64,
    /// Model updates so far: synchronous steps, local steps of one rank, or (ps mode)
    /// gradients the servers applied.
    pub updates: u64,
    /// Training rows processed so far, over all ranks.
    pub samples: u64,
    /// The mean training minibatch loss since the last report (the last report's if no
    /// step came between; `None` where the run does not see it: the parameter server).
    pub train_loss: Option<f64>,
    /// Held-out data loss (without regularisation); `None` without a test split.
    pub test_loss: Option<f64>,
    /// Held-out accuracy (classifiers).
    pub accuracy: Option<f64>,
    /// Held-out root-mean-square error (matrix factorization).
    pub rmse: Option<f64>,
    /// The regularised objective on the training rows (data loss plus the L2 term).
    pub objective: f64,
    /// Seconds since the run started (after loading the data).
    pub elapsed_s: f64,
    /// Updates per second of training since the start (evaluation excluded).
    pub updates_per_s: f64,
    /// Training rows per second of training since the start (evaluation excluded), over
    /// all ranks.
    pub samples_per_s: f64,
    /// Gradient bytes one rank sent per update (mean).
    pub bytes_per_update: f64,
    /// Seconds this rank spent computing (gradients and steps; in ps mode a worker's
    /// gradients); `None` where the split is not measured.
    pub compute_s: Option<f64>,
    /// Seconds this rank spent in communication (including waiting for the others).
    pub communicate_s: Option<f64>,
    /// Seconds rank 0 spent evaluating (the held-out metrics and the objective of every
    /// report so far, this one included): not training time.
    pub eval_s: f64,
    /// Whether this is the run's last record.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// On the final record: whether every epoch ran (false when the time limit stopped the
    /// run; its checkpoint resumes it).
    pub finished: bool,
}

/// Running totals a trainer keeps between reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) updates: u64,
    pub(crate) samples: u64,
    pub(crate) bytes: u64,
    pub(crate) compute: Duration,
    pub(crate) communicate: Duration,
    /// Time spent evaluating.
    pub(crate) eval: Duration,
    /// The loss sum and rows since the last report.
    pub(crate) loss_sum: f64,
    pub(crate) loss_rows: u64,
    /// The last window's mean loss, for a report with no rows since the one before.
    pub(crate) last_loss: Option<f64>,
}

impl Totals {
    /// Adds `updates` updates over `rows` rows whose mean loss was `loss`, sending `bytes`.
    pub(crate) fn add(&mut self, updates: u64, rows: usize, loss: f64, bytes: usize) {
        self.updates += updates;
        self.samples += rows as u64;
        self.bytes += bytes as u64;
        self.loss_sum += loss * rows as f64;
        self.loss_rows += rows as u64;
    }

    /// The report of the totals now, with the held-out metrics `test` and the training
    /// objective; starts a new loss window.
    pub(crate) fn report(
        &mut self,
        elapsed: Duration,
        epoch: f64,
        test: Option<Metrics>,
        objective: f64,
    ) -> Report {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let training = (elapsed.saturating_sub(self.eval)).as_secs_f64().max(1e-9);
        let report = Report {
            epoch,
            updates: self.updates,
            samples: self.samples,
            train_loss: match self.loss_rows {
                0 => self.last_loss,
                rows => Some(self.loss_sum / rows as f64),
            },
            test_loss: test.map(|m| m.loss),
            accuracy: test.and_then(|m| m.accuracy),
            rmse: test.and_then(|m| m.rmse),
            objective,
            elapsed_s: seconds,
            updates_per_s: self.updates as f64 / training,
            samples_per_s: self.samples as f64 / training,
            bytes_per_update: self.bytes as f64 / self.updates.max(1) as f64,
            compute_s: Some(self.compute.as_secs_f64()),
            communicate_s: Some(self.communicate.as_secs_f64()),
            eval_s: self.eval.as_secs_f64(),
            ..Report::default()
        };
        (self.loss_sum, self.loss_rows) = (0.0, 0);
        self.last_loss = report.train_loss;
        report
    }
}
