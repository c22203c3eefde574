//! Synchronous data-parallel SGD: every step each rank computes the gradient of its share
//! of one global minibatch, the shares are summed by a dense allreduce, and every rank
//! applies the same averaged gradient (plus the global L2 term) with its own copy of the
//! optimizer, so the weights stay equal on every rank.
//!
//! Cost per step, with `d` parameters, `p` ranks and the allreduce the selector picks
//! (Rabenseifner for large `d`): compute `B/p` rows, communicate `2(p−1)/p · 4d` bytes per
//! rank in `2 log p` rounds.
//!
//! The global minibatches are the same on every rank count: epoch `e` visits the rows in a
//! permutation seeded by `(seed, e)`, cut into batches of `batch` rows (the last may be
//! shorter), and rank `r` of `p` takes the `r`-th contiguous block of each batch. So `p`
//! ranks take the same steps as one process with the same global batch and seed, up to the
//! order of floating-point sums (with [`Compression::None`]; the compressed formats of
//! [`super::exchange`] change the arithmetic).
//!
//! Without compression, a step whose gradients are sparse enough (their (index, value)
//! pairs over all ranks take fewer bytes than one dense vector: `8·Σnnz < 4d`) exchanges
//! the pairs exactly instead and takes a sparse step: the global L2 term and the optimizer
//! then touch only the coordinates the batch touched (lazy L2, lazy optimizer state), as a
//! single process's sparse step would.

use std::ops::Range;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use fccl_collectives::{Communicator, ReduceOp};

use super::exchange::{Compression, GradientExchange, sum_sparse};
use crate::data::block_range;
use crate::error::{MlError, Result};
use crate::model::{Model, SparseGradient, check_parameters};
use crate::optim::Optimizer;

/// A place in a run: the epoch and the steps taken in it. Where a run starts (a resumed
/// one later than the beginning) and where it stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Progress {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Steps taken in `epoch`.
    pub step: usize,
}

/// What a synchronous run does.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// Rows per global minibatch (over all ranks together).
    pub batch: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Seeds the row order of every epoch.
    pub seed: u64,
    /// The format gradients travel in.
    pub compression: Compression,
    /// Where to start: a checkpoint's [`Progress`] to resume a run (steps before it are
    /// skipped; the row orders are those of the whole run).
    pub start: Progress,
    /// Stop early, after the step during which any rank passes this instant (the ranks agree
    /// on the step, so they stop together with equal weights).
    pub stop_at: Option<Instant>,
}

impl Default for SyncConfig {
    /// One epoch of batches of 1 row, seed 0, uncompressed, from the start, no early stop.
    fn default() -> SyncConfig {
        SyncConfig {
            batch: 1,
            epochs: 1,
            seed: 0,
            compression: Compression::None,
            start: Progress::default(),
            stop_at: None,
        }
    }
}

/// What one step measured (the same on every rank, but the times).
#[derive(Clone, Debug, PartialEq)]
pub struct SyncStep {
    /// Where the run is after this step.
    pub progress: Progress,
    /// Rows in this step's global minibatch.
    pub rows: usize,
    /// The mean loss over the global minibatch, before the step.
    pub loss: f64,
    /// The gradient bytes this rank sent.
    pub bytes: usize,
    /// This rank's time computing the gradient and applying the step.
    pub compute: Duration,
    /// This rank's time in collectives (which includes waiting for slower ranks).
    pub communicate: Duration,
}

/// The row order of `epoch`: a permutation of `0..n` seeded by `(seed, epoch)`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..n).collect();
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    rows.shuffle(&mut StdRng::seed_from_u64(mixed));
    rows
}

/// The row order of `epoch` within `rank`'s block of rows (local SGD and the parameter
/// server's workers): a permutation of `block` seeded by `(seed, rank, epoch)`.
pub(crate) fn block_order(
    block: &Range<usize>,
    seed: u64,
    rank: usize,
    epoch: usize,
) -> Vec<usize> {
    let order = epoch_order(block.len(), seed ^ ((rank as u64) << 32), epoch);
    order.iter().map(|&i| block.start + i).collect()
}

/// Trains `w` on `data` (every rank holds all of it and uses its share of each batch) with
/// `optimizer`, calling `on_step(step, w, optimizer)` after every step (a checkpoint can
/// save both there). Every rank must call this with the same model, data, configuration and
/// starting weights and optimizer state. Returns where the run ended: the end of the last
/// epoch, or earlier at `stop_at`.
pub async fn train_sync<M: Model, O: Optimizer + ?Sized>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    optimizer: &mut O,
    config: &SyncConfig,
    mut on_step: impl FnMut(&SyncStep, &[f32], &O),
) -> Result<Progress> {
    check_parameters(model, w)?;
    model.validate(data)?;
    if config.batch == 0 {
        return Err(MlError::invalid("the batch must have at least one row"));
    }
    let (rank, size) = (comm.rank(), comm.size());
    if config.batch < size {
        return Err(MlError::invalid(format!(
            "a global batch of {} rows leaves some of the {size} ranks without rows",
            config.batch
        )));
    }
    let n = model.examples(data);
    let mut exchange = GradientExchange::new(config.compression, w.len(), size)?;
    let mut grad = SparseGradient::new();
    let mut dense = vec![0f32; w.len()];
    let mut at = config.start;
    while at.epoch < config.epochs {
        let order = epoch_order(n, config.seed, at.epoch);
        for batch in order.chunks(config.batch).skip(at.step) {
            let started = Instant::now();
            let mine = block_range(batch.len(), rank, size)
                .map(|r| &batch[r])
                .unwrap_or(&[]);
            grad.clear();
            let loss = model.gradient(w, data, mine, &mut grad);
            let stop = config.stop_at.is_some_and(|t| Instant::now() >= t);
            let mut compute = started.elapsed();
            // Over the ranks: the loss sum, the nonzero gradient entries, the ranks that
            // want to stop.
            let mut stats = [loss, grad.len() as f64, f64::from(u8::from(stop))];
            let talk = Instant::now();
            comm.all_reduce(&mut stats, ReduceOp::Sum).await?;
            let mut communicate = talk.elapsed();
            let scale = 1.0 / batch.len() as f32;
            let sparse =
                config.compression == Compression::None && 8.0 * stats[1] < 4.0 * w.len() as f64;
            let bytes = if sparse {
                let talk = Instant::now();
                let mut sum = sum_sparse(comm, &grad).await?;
                communicate += talk.elapsed();
                let work = Instant::now();
                sum.scale(scale);
                model.add_l2_sparse(w, &mut sum);
                optimizer.step_sparse(w, &sum);
                compute += work.elapsed();
                8 * grad.len()
            } else {
                // This rank's share of the batch's mean gradient.
                let work = Instant::now();
                dense.fill(0.0);
                grad.add_to_dense(&mut dense);
                dense.iter_mut().for_each(|x| *x *= scale);
                compute += work.elapsed();
                let talk = Instant::now();
                exchange.sum(comm, &mut dense).await?;
                communicate += talk.elapsed();
                let work = Instant::now();
                model.add_l2_dense(w, &mut dense);
                optimizer.step_dense(w, &dense);
                compute += work.elapsed();
                exchange.bytes_per_rank()
            };
            at.step += 1;
            let step = SyncStep {
                progress: at,
                rows: batch.len(),
                loss: stats[0] / batch.len() as f64,
                bytes,
                compute,
                communicate,
            };
            on_step(&step, w, optimizer);
            if stats[2] > 0.0 {
                return Ok(at);
            }
        }
        at = Progress {
            epoch: at.epoch + 1,
            step: 0,
        };
    }
    Ok(at)
}
