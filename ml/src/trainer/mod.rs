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
    Checkpoint, LocalConfig, Progress, PsConfig, SyncConfig, local_steps_per_epoch, train_local,
    train_ps, train_sync,
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

    /// The final report of the weights `w` after `epochs` epochs, sent to `on_event` too;
    /// `finished` if the run trained every epoch it was asked for.
    fn conclude(
        mut self,
        w: &[f32],
        epochs: f64,
        finished: bool,
        on_event: &mut impl FnMut(TrainEvent<'_>),
    ) -> Report {
        let report = self.scene.finish(&mut self.totals, w, epochs, finished);
        on_event(TrainEvent::Report(&report));
        report
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
        Ok(self.conclude(&w, epochs_at(end), finished, on_event))
    }

    /// Local SGD, with a checkpoint file per rank (the weights agree after every
    /// averaging, the optimizer states are each rank's own).
    async fn local(
        mut self,
        mut w: Vec<f32>,
        on_event: &mut impl FnMut(TrainEvent<'_>),
    ) -> Result<Report> {
        let scene = self.scene;
        let spec = scene.spec;
        let (rank, size) = (self.comm.rank(), scene.ranks);
        let identity = spec.run_identity(size);
        let n = scene.model.examples(scene.train);
        let per_epoch = local_steps_per_epoch(n, size, spec.batch).max(1);
        let mut optimizer = spec.optimizer.build(scene.model.parameters());
        let saved = load_own(spec, rank, &identity, w.len())?;
        let start = saved
            .as_ref()
            .map_or(0, |c| c.progress.epoch * per_epoch + c.progress.step);
        if let Some(c) = saved {
            (w, optimizer) = (c.weights, c.optimizer);
        }
        let config = LocalConfig {
            batch: spec.batch,
            epochs: spec.epochs,
            average_every: spec.average_every,
            seed: spec.seed,
            start,
            stop_at: spec.time_limit.map(|t| scene.started + t),
        };
        let total = (per_epoch * spec.epochs) as u64;
        let every = |setting: usize| match setting {
            0 => per_epoch as u64,
            n => n as u64,
        };
        let progress = |steps: usize| Progress {
            epoch: steps / per_epoch,
            step: steps % per_epoch,
        };
        let path = own_checkpoint(spec, rank);
        let totals = &mut self.totals;
        let (mut last_report, mut last_save) = (start as u64, start as u64);
        let mut saving: Result<()> = Ok(());
        let end = train_local(
            self.comm,
            scene.model,
            scene.train,
            &mut w,
            &mut optimizer,
            &config,
            |round, w, optimizer| {
                let steps = round.steps as u64 - start as u64 - totals.updates;
                // One averaging of the weights per round; every rank takes as many rows.
                totals.add(steps, round.rows * size, round.loss, 4 * w.len());
                totals.compute += round.compute;
                totals.communicate += round.communicate;
                let done = round.steps as u64;
                on_event(TrainEvent::Step { done, total });
                if rank == 0 && done < total && done >= last_report + every(spec.eval_every) {
                    last_report = done;
                    let report = scene.report(totals, w, done as f64 / per_epoch as f64);
                    on_event(TrainEvent::Report(&report));
                }
                if let Some(path) = &path
                    && saving.is_ok()
                    && done >= last_save + every(spec.checkpoint_every)
                {
                    last_save = done;
                    let c = Checkpoint::new(
                        &identity,
                        progress(round.steps),
                        w.to_vec(),
                        optimizer.clone(),
                    );
                    saving = c.save(path);
                }
            },
        )
        .await?;
        saving?;
        if let Some(path) = &path {
            Checkpoint::new(&identity, progress(end), w.clone(), optimizer).save(path)?;
        }
        let finished = end as u64 >= total;
        let epochs = end as f64 / per_epoch as f64;
        Ok(self.conclude(&w, epochs, finished, on_event))
    }

    /// The asynchronous parameter server: reports once, at the end. With a checkpoint,
    /// every rank saves its own part at the end (the weights, a server's optimizer state,
    /// a worker's place), and a time limit stops each worker after its current step.
    async fn parameter_server(
        mut self,
        mut w: Vec<f32>,
        on_event: &mut impl FnMut(TrainEvent<'_>),
    ) -> Result<Report> {
        let scene = self.scene;
        let spec = scene.spec;
        let rank = self.comm.rank();
        let identity = spec.run_identity(scene.ranks);
        let slots = scene.model.parameters().div_ceil(spec.servers.max(1));
        let mut optimizer = spec.optimizer.build(slots);
        let mut start = Progress::default();
        if let Some(c) = load_own(spec, rank, &identity, w.len())? {
            (w, optimizer, start) = (c.weights, c.optimizer, c.progress);
        }
        let config = PsConfig {
            servers: spec.servers,
            batch: spec.batch,
            epochs: spec.epochs,
            seed: spec.seed,
            staleness: spec.staleness,
            start,
            stop_at: spec.time_limit.map(|t| scene.started + t),
        };
        let workers = scene.ranks.saturating_sub(spec.servers).max(1);
        let n = scene.model.examples(scene.train);
        let per_epoch = (n / workers).div_ceil(spec.batch).max(1) as u64;
        let total = per_epoch * spec.epochs as u64;
        let done_before = start.epoch as u64 * per_epoch + start.step as u64;
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
                    done: done_before + step.steps as u64,
                    total,
                });
            },
        )
        .await?;
        let worker = rank < workers;
        if let Some(path) = own_checkpoint(spec, rank) {
            Checkpoint::new(&identity, ps.progress, w.clone(), optimizer).save(&path)?;
        }
        // Over the ranks: pushes the servers applied (one per shard per worker step), rows
        // the workers trained on, the bytes they sent, and the workers that stopped early.
        let applied = if worker { 0 } else { ps.updates };
        let stopped = worker && ps.progress.epoch < spec.epochs;
        let mut sums = [
            applied as f64,
            mine.samples as f64,
            mine.bytes as f64,
            f64::from(u8::from(stopped)),
        ];
        self.comm.all_reduce(&mut sums, ReduceOp::Sum).await?;
        let gradients = (sums[0] / spec.servers as f64) as u64;
        (mine.updates, mine.samples, mine.bytes) = (gradients, sums[1] as u64, sums[2] as u64);
        self.totals = mine;
        let epochs = if worker {
            (ps.progress.epoch as u64 * per_epoch + ps.progress.step as u64) as f64
                / per_epoch as f64
        } else {
            spec.epochs as f64
        };
        Ok(self.conclude(&w, epochs, sums[3] == 0.0, on_event))
    }
}

/// This rank's checkpoint file in ps and local mode: `FILE.rank{r}` (each rank saves its
/// own optimizer state and place), if the run has a checkpoint.
fn own_checkpoint(spec: &TrainSpec, rank: usize) -> Option<std::path::PathBuf> {
    spec.checkpoint.as_ref().map(|path| {
        let mut name = path.as_os_str().to_os_string();
        name.push(format!(".rank{rank}"));
        name.into()
    })
}

/// This rank's saved state in ps and local mode, checked to be of this run.
fn load_own(
    spec: &TrainSpec,
    rank: usize,
    identity: &str,
    parameters: usize,
) -> Result<Option<Checkpoint>> {
    match own_checkpoint(spec, rank) {
        None => Ok(None),
        Some(path) => Checkpoint::load(&path)?
            .map(|c| c.for_run(identity, parameters))
            .transpose(),
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
