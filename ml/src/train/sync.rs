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

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use fccl_collectives::{Communicator, ReduceOp};

use super::exchange::{Compression, GradientExchange, sum_sparse};
use crate::data::block_range;
use crate::error::{MlError, Result};
use crate::model::{Model, SparseGradient, check_parameters};
use crate::optim::Optimizer;

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
}

/// What one step measured (the same on every rank).
#[derive(Clone, Debug, PartialEq)]
pub struct SyncStep {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Rows in this step's global minibatch.
    pub rows: usize,
    /// The mean loss over the global minibatch, before the step.
    pub loss: f64,
    /// The gradient bytes this rank sent.
    pub bytes: usize,
}

/// The row order of `epoch`: a permutation of `0..n` seeded by `(seed, epoch)`.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rows: Vec<usize> = (0..n).collect();
    let mixed = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    rows.shuffle(&mut StdRng::seed_from_u64(mixed));
    rows
}

/// Trains `w` on `data` (every rank holds all of it and uses its share of each batch) with
/// `optimizer`, calling `on_step` after every step. Every rank must call this with the same
/// model, data, configuration and starting weights.
pub async fn train_sync<M: Model>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    optimizer: &mut dyn Optimizer,
    config: &SyncConfig,
    mut on_step: impl FnMut(&SyncStep, &[f32]),
) -> Result<()> {
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
    for epoch in 0..config.epochs {
        let order = epoch_order(n, config.seed, epoch);
        for batch in order.chunks(config.batch) {
            let mine = block_range(batch.len(), rank, size)
                .map(|r| &batch[r])
                .unwrap_or(&[]);
            grad.clear();
            // The loss sum and the number of nonzero gradient entries, over the ranks.
            let mut stats = [model.gradient(w, data, mine, &mut grad), grad.len() as f64];
            comm.all_reduce(&mut stats, ReduceOp::Sum).await?;
            let scale = 1.0 / batch.len() as f32;
            let sparse =
                config.compression == Compression::None && 8.0 * stats[1] < 4.0 * w.len() as f64;
            let bytes = if sparse {
                let mut sum = sum_sparse(comm, &grad).await?;
                sum.scale(scale);
                model.add_l2_sparse(w, &mut sum);
                optimizer.step_sparse(w, &sum);
                8 * grad.len()
            } else {
                // This rank's share of the batch's mean gradient.
                dense.fill(0.0);
                grad.add_to_dense(&mut dense);
                dense.iter_mut().for_each(|x| *x *= scale);
                exchange.sum(comm, &mut dense).await?;
                model.add_l2_dense(w, &mut dense);
                optimizer.step_dense(w, &dense);
                exchange.bytes_per_rank()
            };
            let step = SyncStep {
                epoch,
                rows: batch.len(),
                loss: stats[0] / batch.len() as f64,
                bytes,
            };
            on_step(&step, w);
        }
    }
    Ok(())
}
