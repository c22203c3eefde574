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

use super::sync::epoch_order;
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

/// Trains `w` with local SGD; `data` holds all rows on every rank and rank `r` uses the
/// `r`-th block. `on_round(round, w)` runs after every averaging. Every rank ends with the
/// same weights.
pub async fn train_local<M: Model>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    optimizer: &mut dyn Optimizer,
    config: &LocalConfig,
    mut on_round: impl FnMut(&LocalRound, &[f32]),
) -> Result<()> {
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
    // Every rank takes as many steps per epoch as the smallest block allows.
    let smallest = n / size;
    let steps_per_epoch = smallest.div_ceil(config.batch);
    let mut grad = SparseGradient::new();
    let mut dense = vec![0f32; w.len()];
    let mut steps = 0usize;
    let mut round = Round::default();
    for epoch in 0..config.epochs {
        let order = epoch_order(block.len(), config.seed ^ ((rank as u64) << 32), epoch);
        let rows: Vec<usize> = order.iter().map(|&i| block.start + i).collect();
        for batch in rows.chunks(config.batch).take(steps_per_epoch) {
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
            steps += 1;
            if steps % config.average_every == 0 {
                round.finish(comm, w, steps, &mut on_round).await?;
            }
        }
    }
    if steps % config.average_every != 0 {
        round.finish(comm, w, steps, &mut on_round).await?;
    }
    Ok(())
}

/// A round's sums so far.
#[derive(Default)]
struct Round {
    loss: f64,
    rows: usize,
    compute: Duration,
}

impl Round {
    /// Averages the weights, reports the round and starts the next.
    async fn finish(
        &mut self,
        comm: &mut Communicator,
        w: &mut [f32],
        steps: usize,
        on_round: &mut impl FnMut(&LocalRound, &[f32]),
    ) -> Result<()> {
        let talk = Instant::now();
        comm.all_reduce(w, ReduceOp::Avg).await?;
        let report = LocalRound {
            steps,
            rows: self.rows,
            loss: self.loss / self.rows.max(1) as f64,
            compute: self.compute,
            communicate: talk.elapsed(),
        };
        on_round(&report, w);
        *self = Round::default();
        Ok(())
    }
}
