//! A whole training run from a [`TrainSpec`]: load and split the data, build the model and
//! the optimizer, train in the chosen mode, evaluate on the held-out rows, checkpoint, and
//! report. `fccl train` is this on every rank; rank 0's reports carry the metrics.

mod report;
mod spec;

use std::time::Instant;

use fccl_collectives::{Communicator, ReduceOp};

use crate::data::{Dataset, by_name};
use crate::error::{MlError, Result};
use crate::model::{MatrixFactorization, Metrics, Model, Softmax, SparseLogistic};
use crate::train::{
    Checkpoint, LocalConfig, Progress, PsConfig, SyncConfig, train_local, train_ps, train_sync,
};

pub use report::Report;
pub use spec::{Mode, ModelKind, TrainSpec};

use report::Totals;

/// What a run tells its caller as it goes.
#[derive(Clone, Copy, Debug)]
pub enum TrainEvent<'a> {
    /// `done` of `total` updates are done (this rank's count; a progress bar's).
    Step {
        /// Updates done.
        done: u64,
        /// Updates the run will take.
        total: u64,
    },
    /// An evaluation (rank 0 only), or the final record (every rank).
    Report(&'a Report),
}

/// Runs `spec` on `comm` (every rank calls this with the same spec) and returns the final
/// report. Every wait is bounded by the communicator's timeout.
pub async fn train(
    comm: &mut Communicator,
    spec: &TrainSpec,
    mut on_event: impl FnMut(TrainEvent<'_>),
) -> Result<Report> {
    spec.validate()?;
    let data = by_name(&spec.data)?;
    let on_event = &mut on_event;
    match (spec.model, data) {
        (ModelKind::Logistic, Dataset::Sparse(all)) => {
            let (train, test) = split_sparse(&all, spec)?;
            let model = SparseLogistic::new(all.features(), spec.l2, true)?;
            Trainer::new(comm, &model, &train, test.as_ref(), spec)
                .run(on_event)
                .await
        }
        (ModelKind::Softmax, Dataset::Sparse(all)) => {
            let (train, test) = split_sparse(&all, spec)?;
            let classes = Softmax::classes_of(&all)?;
            let model = Softmax::new(all.features(), classes, spec.l2, true)?;
            Trainer::new(comm, &model, &train, test.as_ref(), spec)
                .run(on_event)
                .await
        }
        (ModelKind::Factorization, Dataset::Ratings(all)) => {
            let (train, test) = if spec.test_fraction > 0.0 {
                let (train, test) = all.split(spec.test_fraction, spec.seed)?;
                (train, Some(test))
            } else {
                (all.clone(), None)
            };
            let model = MatrixFactorization::new(
                all.users,
                all.items,
                spec.factors,
                train.mean(),
                spec.l2,
            )?;
            Trainer::new(comm, &model, &train, test.as_ref(), spec)
                .run(on_event)
                .await
        }
        (kind, _) => Err(MlError::invalid(format!(
            "--model {} needs {} data",
            kind.name(),
            if kind == ModelKind::Factorization {
                "ratings (user, item, rating)"
            } else {
                "labelled sparse rows (LIBSVM)"
            }
        ))),
    }
}

/// The training and held-out rows of `all`.
fn split_sparse(
    all: &crate::data::SparseDataset,
    spec: &TrainSpec,
) -> Result<(
    crate::data::SparseDataset,
    Option<crate::data::SparseDataset>,
)> {
    if spec.test_fraction > 0.0 {
        let (train, test) = all.split(spec.test_fraction, spec.seed)?;
        Ok((train, Some(test)))
    } else {
        Ok((all.clone(), None))
    }
}

/// What evaluating a run needs, apart from the communicator.
struct Scene<'a, M: Model> {
    model: &'a M,
    train: &'a M::Data,
    test: Option<&'a M::Data>,
    spec: &'a TrainSpec,
    ranks: usize,
    started: Instant,
}

impl<M: Model> Clone for Scene<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Model> Copy for Scene<'_, M> {}

impl<M: Model> Scene<'_, M> {
    /// The report of `totals` now, evaluated at `w` after `epoch` epochs.
    fn report(&self, totals: &mut Totals, w: &[f32], epoch: f64) -> Report {
        let evaluating = Instant::now();
        let test: Option<Metrics> = self.test.map(|t| self.model.evaluate(w, t));
        let objective = self.model.evaluate(w, self.train).objective;
        totals.eval += evaluating.elapsed();
        let mut report = totals.report(self.started.elapsed(), epoch, test, objective);
        report.model = self.spec.model.name();
        report.mode = self.spec.mode.name();
        report.ranks = self.ranks;
        report
    }

    /// The final report.
    fn finish(&self, totals: &mut Totals, w: &[f32], epoch: f64, finished: bool) -> Report {
        let mut report = self.report(totals, w, epoch);
        report.is_final = true;
        report.finished = finished;
        report
    }
}

/// One run's pieces.
struct Trainer<'a, M: Model> {
    comm: &'a mut Communicator,
    scene: Scene<'a, M>,
    totals: Totals,
}

impl<'a, M: Model> Trainer<'a, M> {
    fn new(
        comm: &'a mut Communicator,
        model: &'a M,
        train: &'a M::Data,
        test: Option<&'a M::Data>,
        spec: &'a TrainSpec,
    ) -> Trainer<'a, M> {
        let ranks = comm.size();
        Trainer {
            comm,
            scene: Scene {
                model,
                train,
                test,
                spec,
                ranks,
                started: Instant::now(),
            },
            totals: Totals::default(),
        }
    }

    async fn run(self, on_event: &mut impl FnMut(TrainEvent<'_>)) -> Result<Report> {
        let w = self.scene.model.init(self.scene.spec.seed);
        match self.scene.spec.mode {
            Mode::Sync => self.sync(w, on_event).await,
            Mode::Local => self.local(w, on_event).await,
            Mode::ParameterServer => self.parameter_server(w, on_event).await,
        }
    }

    /// Synchronous SGD, with checkpoints and the time limit.
    async fn sync(
        mut self,
        mut w: Vec<f32>,
        on_event: &mut impl FnMut(TrainEvent<'_>),
    ) -> Result<Report> {
        let scene = self.scene;
        let spec = scene.spec;
        let identity = spec.run_identity(scene.ranks);
        let mut optimizer = spec.optimizer.build(scene.model.parameters());
        let mut start = Progress::default();
        if let Some(path) = &spec.checkpoint
            && let Some(saved) = Checkpoint::load(path)?
        {
            let saved = saved.for_run(&identity, w.len())?;
            (w, optimizer, start) = (saved.weights, saved.optimizer, saved.progress);
        }
        let config = SyncConfig {
            batch: spec.batch,
            epochs: spec.epochs,
            seed: spec.seed,
            compression: spec.compression,
            start,
            stop_at: spec.time_limit.map(|t| scene.started + t),
        };
        let per_epoch = scene.model.examples(scene.train).div_ceil(spec.batch) as u64;
        let total = per_epoch * spec.epochs as u64;
        let done_at = |p: Progress| p.epoch as u64 * per_epoch + p.step as u64;
        let epochs_at = |p: Progress| done_at(p) as f64 / per_epoch as f64;
        let lead = self.comm.rank() == 0;
        let mut saving: Result<()> = Ok(());
        let totals = &mut self.totals;
        let end = train_sync(
            self.comm,
            scene.model,
            scene.train,
            &mut w,
            &mut optimizer,
            &config,
            |step, w, optimizer| {
                totals.add(1, step.rows, step.loss, step.bytes);
                totals.compute += step.compute;
                totals.communicate += step.communicate;
                let done = done_at(step.progress);
                on_event(TrainEvent::Step { done, total });
                let epoch_end = step.progress.step as u64 == per_epoch;
                // The last step's evaluation is the final report's.
                if lead && done < total && due(spec.eval_every, totals.updates, epoch_end) {
                    let report = scene.report(totals, w, epochs_at(step.progress));
                    on_event(TrainEvent::Report(&report));
                }
                if let Some(path) = &spec.checkpoint
                    && lead
                    && saving.is_ok()
                    && due(spec.checkpoint_every, totals.updates, epoch_end)
                {
                    let c =
                        Checkpoint::new(&identity, step.progress, w.to_vec(), optimizer.clone());
                    saving = c.save(path);
                }
            },
        )
        .await?;
        saving?;
        if let Some(path) = &spec.checkpoint
            && lead
        {
            Checkpoint::new(&identity, end, w.clone(), optimizer).save(path)?;
        }
        let finished = end.epoch >= spec.epochs;
        let report = scene.finish(&mut self.totals, &w, epochs_at(end), finished);
        on_event(TrainEvent::Report(&report));
        Ok(report)
    }

    /// Local SGD.
    async fn local(
        mut self,
        mut w: Vec<f32>,
        on_event: &mut impl FnMut(TrainEvent<'_>),
    ) -> Result<Report> {
        let scene = self.scene;
        let spec = scene.spec;
        let (lead, size) = (self.comm.rank() == 0, scene.ranks);
        let mut optimizer = spec.optimizer.build(scene.model.parameters());
        let config = LocalConfig {
            batch: spec.batch,
            epochs: spec.epochs,
            average_every: spec.average_every,
            seed: spec.seed,
        };
        let n = scene.model.examples(scene.train);
        let per_epoch = ((n / size).div_ceil(spec.batch) as u64).max(1);
        let total = per_epoch * spec.epochs as u64;
        let every = if spec.eval_every == 0 {
            per_epoch
        } else {
            spec.eval_every as u64
        };
        let totals = &mut self.totals;
        let mut last_report = 0;
        train_local(
            self.comm,
            scene.model,
            scene.train,
            &mut w,
            &mut optimizer,
            &config,
            |round, w| {
                let steps = round.steps as u64 - totals.updates;
                // One averaging of the weights per round; every rank takes as many rows.
                totals.add(steps, round.rows * size, round.loss, 4 * w.len());
                totals.compute += round.compute;
                totals.communicate += round.communicate;
                on_event(TrainEvent::Step {
                    done: totals.updates,
                    total,
                });
                if lead && totals.updates < total && totals.updates >= last_report + every {
                    last_report = totals.updates;
                    let epoch = totals.updates as f64 / per_epoch as f64;
                    let report = scene.report(totals, w, epoch);
                    on_event(TrainEvent::Report(&report));
                }
            },
        )
        .await?;
        let report = scene.finish(&mut self.totals, &w, spec.epochs as f64, true);
        on_event(TrainEvent::Report(&report));
        Ok(report)
    }

    /// The asynchronous parameter server: reports once, at the end.
    async fn parameter_server(
        mut self,
        mut w: Vec<f32>,
        on_event: &mut impl FnMut(TrainEvent<'_>),
    ) -> Result<Report> {
        let scene = self.scene;
        let spec = scene.spec;
        let slots = scene.model.parameters().div_ceil(spec.servers.max(1));
        let mut optimizer = spec.optimizer.build(slots);
        let config = PsConfig {
            servers: spec.servers,
            batch: spec.batch,
            epochs: spec.epochs,
            seed: spec.seed,
            staleness: spec.staleness,
        };
        let workers = scene.ranks.saturating_sub(spec.servers).max(1);
        let n = scene.model.examples(scene.train);
        let total = (n / workers).div_ceil(spec.batch) as u64 * spec.epochs as u64;
        // This rank's own steps (a worker's; a server takes none).
        let mut mine = Totals::default();
        let ps = train_ps(
            self.comm,
            scene.model,
            scene.train,
            &mut w,
            &mut optimizer,
            &config,
            |step| {
                mine.add(1, step.rows, step.loss, step.bytes);
                mine.compute += step.compute;
                mine.communicate += step.communicate;
                on_event(TrainEvent::Step {
                    done: step.steps as u64,
                    total,
                });
            },
        )
        .await?;
        // Over the ranks: pushes the servers applied (one per shard per worker step), rows
        // the workers trained on, and the bytes they sent.
        let applied = if self.comm.rank() < workers {
            0
        } else {
            ps.updates
        };
        let mut sums = [applied as f64, mine.samples as f64, mine.bytes as f64];
        self.comm.all_reduce(&mut sums, ReduceOp::Sum).await?;
        let gradients = (sums[0] / spec.servers as f64) as u64;
        (mine.updates, mine.samples, mine.bytes) = (gradients, sums[1] as u64, sums[2] as u64);
        self.totals = mine;
        let report = scene.finish(&mut self.totals, &w, spec.epochs as f64, true);
        on_event(TrainEvent::Report(&report));
        Ok(report)
    }
}

/// Whether something done every `every` updates (0: at every epoch's end) is due after
/// `updates` updates.
fn due(every: usize, updates: u64, epoch_end: bool) -> bool {
    if every == 0 {
        epoch_end
    } else {
        updates % every as u64 == 0
    }
}
