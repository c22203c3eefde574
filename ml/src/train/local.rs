//! Local SGD (model averaging): each rank takes minibatch steps on its own block of the
//! rows, and every `average_every` steps (and at the end) the ranks average their weights
//! with one allreduce, so they communicate `H` times less often than synchronous SGD.
//!
//! Cost per round of `H` steps: `H` local steps of `batch` rows, then one allreduce of the
//! `d` weights (`2(p−1)/p · 4d` bytes per rank with Rabenseifner).
//!
//! The optimizer state stays local (it is not averaged), as in the usual local-SGD
//! formulation.

use std::time::{Duration, Instant};

use fccl_collectives::{Communicator, ReduceOp};

use super::sync::block_order;
use crate::data::block_range;
use crate::error::{MlError, Result};
use crate::model::{Model, SparseGradient, check_parameters};
use crate::optim::Optimizer;

/// What a local-SGD run does.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalConfig {
    /// Rows per local minibatch (each rank's).
    pub batch: usize,
    /// Passes over each rank's block of rows.
    pub epochs: usize,
    /// Local steps between two averagings (`H`).
    pub average_every: usize,
    /// Seeds the row order of every epoch (each rank's differs).
    pub seed: u64,
    /// Steps already taken (a checkpoint's, saved after an averaging): the run goes on
    /// after them.
    pub start: usize,
    /// Stop at the first averaging after any rank passes this instant (the ranks agree).
    pub stop_at: Option<Instant>,
}

impl Default for LocalConfig {
    /// One epoch of 1-row batches, averaging every step, seed 0, from the start.
    fn default() -> LocalConfig {
        LocalConfig {
            batch: 1,
            epochs: 1,
            average_every: 1,
            seed: 0,
            start: 0,
            stop_at: None,
        }
    }
}

/// What one round (the local steps between two averagings, and the averaging) measured on
/// this rank.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalRound {
    /// Local steps taken since the start.
    pub steps: usize,
    /// Rows in this round's steps on this rank.
    pub rows: usize,
    /// The mean loss of the round's minibatches on this rank.
    pub loss: f64,
    /// Time in the round's local steps.
    pub compute: Duration,
    /// Time in the averaging (which includes waiting for slower ranks).
    pub communicate: Duration,
}

/// Local steps each rank takes per epoch for `rows` rows over `size` ranks: as many as the
/// smallest block allows.
pub fn local_steps_per_epoch(rows: usize, size: usize, batch: usize) -> usize {
    (rows / size.max(1)).div_ceil(batch.max(1))
}

/// Trains `w` with local SGD; `data` holds all rows on every rank and rank `r` uses the
/// `r`-th block. `on_round(round, w, optimizer)` runs after every averaging (a checkpoint
/// can save both there; the optimizer state is this rank's). Every rank ends with the same
/// weights. Returns the steps taken since the start of the run: all of them, or fewer when
/// `stop_at` ended it.
pub async fn train_local<M: Model, O: Optimizer + ?Sized>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    optimizer: &mut O,
    config: &LocalConfig,
    mut on_round: impl FnMut(&LocalRound, &[f32], &O),
) -> Result<usize> {
    check_parameters(model, w)?;
    model.validate(data)?;
    if config.batch == 0 || config.average_every == 0 {
        return Err(MlError::invalid(
            "local SGD needs a batch and an averaging period of at least 1",
        ));
    }
    let (rank, size) = (comm.rank(), comm.size());
    let n = model.examples(data);
    let block = block_range(n, rank, size)?;
    let steps_per_epoch = local_steps_per_epoch(n, size, config.batch);
    let mut grad = SparseGradient::new();
    let mut dense = vec![0f32; w.len()];
    let mut steps = 0usize;
    let mut round = Round::default();
    for epoch in 0..config.epochs {
        let rows = block_order(&block, config.seed, rank, epoch);
        for batch in rows.chunks(config.batch).take(steps_per_epoch) {
            steps += 1;
            if steps <= config.start {
                continue;
            }
            let started = Instant::now();
            grad.clear();
            round.loss += model.gradient(w, data, batch, &mut grad);
            round.rows += batch.len();
            dense.fill(0.0);
            grad.add_to_dense(&mut dense);
            dense.iter_mut().for_each(|x| *x /= batch.len() as f32);
            model.add_l2_dense(w, &mut dense);
            optimizer.step_dense(w, &dense);
            round.compute += started.elapsed();
            if steps % config.average_every == 0
                && round
                    .finish(comm, w, steps, config, optimizer, &mut on_round)
                    .await?
            {
                return Ok(steps);
            }
        }
    }
    if steps > config.start && steps % config.average_every != 0 {
        round
            .finish(comm, w, steps, config, optimizer, &mut on_round)
            .await?;
    }
    Ok(steps)
}

/// A round's sums so far.
#[derive(Default)]
struct Round {
    loss: f64,
    rows: usize,
    compute: Duration,
}

impl Round {
    /// Averages the weights, reports the round and starts the next; whether the ranks
    /// agreed to stop (only asked when the run has a `stop_at`).
    async fn finish<O: Optimizer + ?Sized>(
        &mut self,
        comm: &mut Communicator,
        w: &mut [f32],
        steps: usize,
        config: &LocalConfig,
        optimizer: &O,
        on_round: &mut impl FnMut(&LocalRound, &[f32], &O),
    ) -> Result<bool> {
        let talk = Instant::now();
        comm.all_reduce(w, ReduceOp::Avg).await?;
        let stop = match config.stop_at {
            None => false,
            Some(t) => {
                let mut any = [u8::from(Instant::now() >= t)];
                comm.all_reduce(&mut any, ReduceOp::Max).await?;
                any[0] > 0
            }
        };
        let report = LocalRound {
            steps,
            rows: self.rows,
            loss: self.loss / self.rows.max(1) as f64,
            compute: self.compute,
            communicate: talk.elapsed(),
        };
        on_round(&report, w, optimizer);
        *self = Round::default();
        Ok(stop)
    }
}
