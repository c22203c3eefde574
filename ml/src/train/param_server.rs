//! A Cirrus-style asynchronous parameter server: the last `servers` ranks each own the
//! weights `j` with `j mod servers` equal to their number, with the optimizer state of
//! those weights; the other ranks are workers. A worker's step pulls only the weights its
//! minibatch touches from the shards that own them, computes the minibatch gradient and
//! pushes it as (index, value) pairs; a server applies each push as it arrives (no barrier,
//! no waiting for other workers), with lazy L2 on the pushed coordinates.
//!
//! Cost per worker step, with `t` touched weights: `2·min(servers, t)` round trips of
//! `4t` (pull) and `8t` (push) bytes in total; a server's throughput is bounded by the rate
//! at which it applies pushes (Cirrus's "updates per second").
//!
//! Staleness is at most one step per other worker: a worker's pull sees every push that
//! reached the server before it. No explicit bound is enforced yet.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use fccl_collectives::{Communicator, Payload, PostedRecv, Rank, ReduceOp};

use super::sync::epoch_order;
use crate::data::block_range;
use crate::error::{MlError, Result};
use crate::model::{Model, SparseGradient, check_parameters};
use crate::optim::Optimizer;

/// Requests from workers to servers.
const REQUEST: u32 = 21;
/// Weights from servers to workers.
const REPLY: u32 = 22;
/// A request's first word.
const PULL: u32 = 1;
const PUSH: u32 = 2;
const DONE: u32 = 3;

/// What a parameter-server run does.
#[derive(Clone, Debug, PartialEq)]
pub struct PsConfig {
    /// How many ranks serve weights (the last ones); the others work.
    pub servers: usize,
    /// Rows per worker minibatch.
    pub batch: usize,
    /// Passes of each worker over its block of rows.
    pub epochs: usize,
    /// Seeds the row order (each worker's differs).
    pub seed: u64,
}

/// What one rank did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsReport {
    /// Gradients this rank applied (a server) or pushed (a worker).
    pub updates: usize,
    /// Weights this rank sent (a server) or received (a worker) in pulls.
    pub pulled: usize,
}

/// Trains with the parameter server. Every rank passes the same model, data (workers use
/// their block of the rows), starting weights and configuration; `optimizer` must have
/// `⌈d / servers⌉` slots on a server (see [`PsConfig`]) and is unused on a worker. Every rank
/// ends with the servers' final weights in `w`.
pub async fn train_ps<M: Model>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    optimizer: &mut dyn Optimizer,
    config: &PsConfig,
) -> Result<PsReport> {
    check_parameters(model, w)?;
    model.validate(data)?;
    let size = comm.size();
    if config.servers == 0 || config.servers >= size || config.batch == 0 {
        return Err(MlError::invalid(format!(
            "a parameter server over {size} ranks needs 1 to {} servers and a batch of at \
             least 1 row",
            size.saturating_sub(1)
        )));
    }
    let workers = size - config.servers;
    let report = if comm.rank() >= workers {
        serve(comm, model, w, optimizer, workers, config.servers).await?
    } else {
        work(comm, model, data, w, workers, config).await?
    };
    // Every rank gets the final weights: each server contributes its shard.
    if comm.rank() < workers {
        w.fill(0.0);
    } else {
        let shard = comm.rank() - workers;
        for (j, x) in w.iter_mut().enumerate() {
            if j % config.servers != shard {
                *x = 0.0;
            }
        }
    }
    comm.all_reduce(w, ReduceOp::Sum).await?;
    Ok(report)
}

/// A server's loop: answers pulls and applies pushes until every worker is done.
async fn serve<M: Model>(
    comm: &mut Communicator,
    model: &M,
    w: &mut [f32],
    optimizer: &mut dyn Optimizer,
    workers: usize,
    servers: usize,
) -> Result<PsReport> {
    let shard = comm.rank() - workers;
    let slots = w.len().div_ceil(servers);
    if optimizer.slots() < slots {
        return Err(MlError::invalid(format!(
            "a server of {servers} needs an optimizer with {slots} slots, not {}",
            optimizer.slots()
        )));
    }
    let mut report = PsReport::default();
    let mut pending = FuturesUnordered::new();
    for worker in 0..workers {
        let posted = comm.post_recv::<u32>(worker, REQUEST)?;
        pending.push(from_worker(worker, posted));
    }
    let mut done = 0;
    while done < workers {
        let Some((worker, message)) = pending.next().await else {
            break;
        };
        let message: Payload<u32> = message?;
        let words = message.as_slice();
        match words.first().copied() {
            Some(PULL) => {
                let keys = check_keys(&words[1..], w.len(), servers, shard, worker)?;
                let values: Vec<f32> = keys.iter().map(|&j| w[j as usize]).collect();
                report.pulled += values.len();
                comm.send(&values, worker, REPLY).await?;
            }
            Some(PUSH) if words.len() % 2 == 1 => {
                let n = words.len() / 2;
                let keys = check_keys(&words[1..=n], w.len(), servers, shard, worker)?;
                for (&j, &bits) in keys.iter().zip(&words[n + 1..]) {
                    let j = j as usize;
                    let g = f32::from_bits(bits) + model.l2_at(j) * w[j];
                    optimizer.step_at(j / servers, &mut w[j], g);
                }
                report.updates += 1;
            }
            Some(DONE) => {
                done += 1;
                continue;
            }
            _ => {
                return Err(MlError::invalid(format!(
                    "worker {worker} sent a malformed request of {} words",
                    words.len()
                )));
            }
        }
        let posted = comm.post_recv::<u32>(worker, REQUEST)?;
        pending.push(from_worker(worker, posted));
    }
    Ok(report)
}

/// A posted request, labelled with the worker it comes from.
async fn from_worker(
    worker: Rank,
    posted: PostedRecv<u32>,
) -> (Rank, fccl_collectives::Result<Payload<u32>>) {
    (worker, posted.await)
}

/// The keys of a request, checked to be this shard's and within the model.
fn check_keys(
    keys: &[u32],
    parameters: usize,
    servers: usize,
    shard: usize,
    worker: Rank,
) -> Result<&[u32]> {
    match keys
        .iter()
        .find(|&&j| j as usize >= parameters || j as usize % servers != shard)
    {
        None => Ok(keys),
        Some(j) => Err(MlError::invalid(format!(
            "worker {worker} asked shard {shard} of {servers} for weight {j} of {parameters}, \
             which it does not own"
        ))),
    }
}

/// A worker's loop: pull, compute, push, for every minibatch of its block.
async fn work<M: Model>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    workers: usize,
    config: &PsConfig,
) -> Result<PsReport> {
    let (rank, servers) = (comm.rank(), config.servers);
    let block = block_range(model.examples(data), rank, workers)?;
    let mut report = PsReport::default();
    let mut grad = SparseGradient::new();
    for epoch in 0..config.epochs {
        let order = epoch_order(block.len(), config.seed ^ ((rank as u64) << 32), epoch);
        let rows: Vec<usize> = order.iter().map(|&i| block.start + i).collect();
        for batch in rows.chunks(config.batch) {
            let touched = model.touched(data, batch);
            for shard in 0..servers {
                let keys: Vec<u32> = touched
                    .iter()
                    .copied()
                    .filter(|&j| j as usize % servers == shard)
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                let mut request = vec![PULL];
                request.extend_from_slice(&keys);
                comm.send(&request, workers + shard, REQUEST).await?;
                let mut values = vec![0f32; keys.len()];
                let got = comm.recv(&mut values, workers + shard, REPLY).await?;
                if got != keys.len() {
                    return Err(MlError::invalid(format!(
                        "shard {shard} answered {got} weights for {} keys",
                        keys.len()
                    )));
                }
                for (&j, &x) in keys.iter().zip(&values) {
                    w[j as usize] = x;
                }
                report.pulled += keys.len();
            }
            grad.clear();
            model.gradient(w, data, batch, &mut grad);
            grad.scale(1.0 / batch.len() as f32);
            for shard in 0..servers {
                let pairs: Vec<(u32, f32)> = grad
                    .iter()
                    .filter(|&(j, _)| j as usize % servers == shard)
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                let mut push = vec![PUSH];
                push.extend(pairs.iter().map(|&(j, _)| j));
                push.extend(pairs.iter().map(|&(_, g)| g.to_bits()));
                comm.send(&push, workers + shard, REQUEST).await?;
            }
            report.updates += 1;
        }
    }
    for shard in 0..servers {
        comm.send(&[DONE], workers + shard, REQUEST).await?;
    }
    Ok(report)
}
