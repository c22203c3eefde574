//! A Cirrus-style asynchronous parameter server: the last `servers` ranks each own the
//! weights `j` with `j mod servers` equal to their number, with the optimizer state of
//! those weights; the other ranks are workers. A worker's step pulls only the weights its
//! minibatch touches from the shards that own them, computes the minibatch gradient and
//! pushes each shard its part as (index, value) pairs (every shard, even with no pairs); a
//! server applies each push as it arrives (no barrier, no waiting for other workers), with
//! lazy L2 on the pushed coordinates.
//!
//! Cost per worker step, with `t` touched weights: `min(servers, t)` pull round trips
//! moving `8t` bytes (keys out, weights back) and `servers` one-way pushes of `8t +
//! 4·servers` bytes in total (a shard the gradient misses still gets the 4-byte header); a
//! server's throughput is bounded by the rate at which it applies pushes (Cirrus's "updates
//! per second").
//!
//! Staleness. Without a bound, a pull sees every push that reached the server before it,
//! however far the other workers lag. With [`PsConfig::staleness`] `= Some(s)` the servers
//! enforce a stale-synchronous-parallel bound (Ho et al., NIPS 2013, as in Petuum): a
//! worker's clock is the number of steps it has pushed, and a worker at clock `c` has a
//! pull answered only once every unfinished worker has clock `≥ c − s`; a server defers
//! other pulls and answers them as soon as a push or DONE lets it. No message carries a
//! clock: every step pushes to every shard, so a shard's count of a worker's pushes is its
//! clock, and since a worker's messages arrive in order its own pushes are counted before
//! its pull is read. A worker that sent DONE counts as infinitely far ahead. The
//! bookkeeping is in `clocks.rs`.
//!
//! Why the bound cannot deadlock: only pulls wait, and a server keeps a receive posted for
//! every unfinished worker while it defers pulls. Take the unfinished worker with the
//! smallest clock `c`: every other unfinished worker has already sent its first `c` pushes
//! to every shard and the finished ones their DONE, so once those arrive (each within the
//! communicator's timeout) it leads nobody (`0 ≤ s`) and its pull is answered.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use fccl_collectives::{Communicator, Payload, PostedRecv, Rank, ReduceOp};

use super::clocks::Clocks;
use super::sync::{Progress, block_order};
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
    /// How many steps a worker's reads may run ahead of the slowest unfinished worker
    /// (stale synchronous parallel; `Some(0)` is lockstep); `None` leaves it unbounded.
    pub staleness: Option<usize>,
    /// Where this worker starts (its checkpoint's [`PsReport::progress`]); each worker
    /// passes its own, servers ignore it.
    pub start: Progress,
    /// A worker that passes this instant stops after its current step and says it is done
    /// (asynchronous: the workers stop at different steps; their pushes are all applied).
    pub stop_at: Option<Instant>,
}

impl Default for PsConfig {
    /// One server, 1-row minibatches, one epoch, seed 0, no staleness bound.
    fn default() -> Self {
        Self {
            servers: 1,
            batch: 1,
            epochs: 1,
            seed: 0,
            staleness: None,
            start: Progress::default(),
            stop_at: None,
        }
    }
}

/// What one rank did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsReport {
    /// Pushes this rank applied, header-only ones included (a server), or steps it pushed
    /// (a worker).
    pub updates: usize,
    /// Weights this rank sent (a server) or received (a worker) in pulls.
    pub pulled: usize,
    /// On a server, the most steps a worker was ahead of the slowest other unfinished
    /// worker (by the clocks the server knew) when one of its pulls was answered: at most
    /// [`PsConfig::staleness`] when that is set, 0 if no pull was ever ahead; 0 on a worker.
    pub max_staleness: usize,
    /// On a worker, where it ended: the end of its last epoch, or earlier at `stop_at`
    /// (resume it from there); the default on a server.
    pub progress: Progress,
}

/// What one worker step measured (on that worker).
#[derive(Clone, Debug, PartialEq)]
pub struct PsStep {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Steps this worker has taken, over all epochs.
    pub steps: usize,
    /// Rows in the minibatch.
    pub rows: usize,
    /// The minibatch's mean loss, at the weights pulled for it.
    pub loss: f64,
    /// Bytes of the step's pull requests and pushes.
    pub bytes: usize,
    /// Time computing the gradient.
    pub compute: Duration,
    /// Time pulling and pushing (waiting for the servers included).
    pub communicate: Duration,
}

/// Trains with the parameter server. Every rank passes the same model, data (workers use
/// their block of the rows), starting weights and configuration; `optimizer` must have
/// `⌈d / servers⌉` slots on a server (see [`PsConfig`]) and is unused on a worker. A worker
/// calls `on_step` after each of its steps. Every rank ends with the servers' final weights
/// in `w`.
pub async fn train_ps<M: Model>(
    comm: &mut Communicator,
    model: &M,
    data: &M::Data,
    w: &mut [f32],
    optimizer: &mut dyn Optimizer,
    config: &PsConfig,
    on_step: impl FnMut(&PsStep),
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
        serve(comm, model, w, optimizer, workers, config).await?
    } else {
        work(comm, model, data, w, workers, config, on_step).await?
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

/// A server's loop: applies pushes and answers pulls (once the staleness bound allows)
/// until every worker is done.
async fn serve<M: Model>(
    comm: &mut Communicator,
    model: &M,
    w: &mut [f32],
    optimizer: &mut dyn Optimizer,
    workers: usize,
    config: &PsConfig,
) -> Result<PsReport> {
    let (shard, servers) = (comm.rank() - workers, config.servers);
    let slots = w.len().div_ceil(servers);
    if optimizer.slots() < slots {
        return Err(MlError::invalid(format!(
            "a server of {servers} needs an optimizer with {slots} slots, not {}",
            optimizer.slots()
        )));
    }
    let mut report = PsReport::default();
    let mut clocks = Clocks::new(workers, config.staleness);
    // Pulls not answered yet: the worker and its keys (at most one per worker).
    let mut deferred: Vec<(Rank, Vec<u32>)> = Vec::new();
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
                deferred.push((worker, keys.to_vec()));
            }
            Some(PUSH) if words.len() % 2 == 1 => {
                let n = words.len() / 2;
                let keys = check_keys(&words[1..=n], w.len(), servers, shard, worker)?;
                for (&j, &bits) in keys.iter().zip(&words[n + 1..]) {
                    let j = j as usize;
                    let g = f32::from_bits(bits) + model.l2_at(j) * w[j];
                    optimizer.step_at(j / servers, &mut w[j], g);
                }
                clocks.pushed(worker);
                report.updates += 1;
            }
            Some(DONE) => {
                clocks.done(worker);
                done += 1;
            }
            _ => {
                return Err(MlError::invalid(format!(
                    "worker {worker} sent a malformed request of {} words",
                    words.len()
                )));
            }
        }
        answer_ready(comm, w, &clocks, &mut deferred, &mut report).await?;
        if !clocks.is_done(worker) {
            let posted = comm.post_recv::<u32>(worker, REQUEST)?;
            pending.push(from_worker(worker, posted));
        }
    }
    Ok(report)
}

/// Answers the deferred pulls the clocks now allow, in the order they came.
async fn answer_ready(
    comm: &mut Communicator,
    w: &[f32],
    clocks: &Clocks,
    deferred: &mut Vec<(Rank, Vec<u32>)>,
    report: &mut PsReport,
) -> Result<()> {
    let (ready, waiting) = std::mem::take(deferred)
        .into_iter()
        .partition(|&(worker, _)| clocks.may_answer(worker));
    *deferred = waiting;
    for (worker, keys) in ready {
        report.max_staleness = report.max_staleness.max(clocks.lead(worker));
        let values: Vec<f32> = keys.iter().map(|&j| w[j as usize]).collect();
        report.pulled += values.len();
        comm.send(&values, worker, REPLY).await?;
    }
    Ok(())
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
    mut on_step: impl FnMut(&PsStep),
) -> Result<PsReport> {
    let rank = comm.rank();
    let block = block_range(model.examples(data), rank, workers)?;
    let mut report = PsReport::default();
    let mut grad = SparseGradient::new();
    let mut at = config.start;
    'epochs: while at.epoch < config.epochs {
        let rows = block_order(&block, config.seed, rank, at.epoch);
        for batch in rows.chunks(config.batch).skip(at.step) {
            let talk = Instant::now();
            let touched = model.touched(data, batch);
            let pulled = pull(comm, w, &touched, workers, config.servers).await?;
            let mut communicate = talk.elapsed();
            let work = Instant::now();
            grad.clear();
            let loss = model.gradient(w, data, batch, &mut grad);
            grad.scale(1.0 / batch.len() as f32);
            let compute = work.elapsed();
            let talk = Instant::now();
            push(comm, &grad, workers, config.servers).await?;
            communicate += talk.elapsed();
            report.pulled += pulled;
            report.updates += 1;
            // A pull request per shard that owns a touched weight, a push to every shard.
            let shards = config.servers.min(touched.len());
            let bytes = 4 * (shards + touched.len()) + 4 * (config.servers + 2 * grad.len());
            on_step(&PsStep {
                epoch: at.epoch,
                steps: report.updates,
                rows: batch.len(),
                loss: loss / batch.len() as f64,
                bytes,
                compute,
                communicate,
            });
            at.step += 1;
            if config.stop_at.is_some_and(|t| Instant::now() >= t) {
                break 'epochs;
            }
        }
        at = Progress {
            epoch: at.epoch + 1,
            step: 0,
        };
    }
    report.progress = at;
    for shard in 0..config.servers {
        comm.send(&[DONE], workers + shard, REQUEST).await?;
    }
    Ok(report)
}

/// Fetches the `touched` weights into `w` from the shards that own them (skipping shards
/// that own none); returns how many it fetched.
async fn pull(
    comm: &mut Communicator,
    w: &mut [f32],
    touched: &[u32],
    workers: usize,
    servers: usize,
) -> Result<usize> {
    let mut pulled = 0;
    for shard in 0..servers {
        let mut request = vec![PULL];
        request.extend(touched.iter().filter(|&&j| j as usize % servers == shard));
        let keys = &request[1..];
        if keys.is_empty() {
            continue;
        }
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
        pulled += keys.len();
    }
    Ok(pulled)
}

/// Sends each shard its part of `grad` as `[PUSH, keys…, value bits…]`. Every shard gets a
/// push, if only the header: counting them is how a shard knows this worker's clock.
async fn push(
    comm: &mut Communicator,
    grad: &SparseGradient,
    workers: usize,
    servers: usize,
) -> Result<()> {
    for shard in 0..servers {
        let pairs: Vec<(u32, f32)> = grad
            .iter()
            .filter(|&(j, _)| j as usize % servers == shard)
            .collect();
        let mut push = vec![PUSH];
        push.extend(pairs.iter().map(|&(j, _)| j));
        push.extend(pairs.iter().map(|&(_, g)| g.to_bits()));
        comm.send(&push, workers + shard, REQUEST).await?;
    }
    Ok(())
}
