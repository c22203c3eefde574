//! Allreduce: every rank gets the reduction of all ranks' buffers. n = the buffer's bytes.

mod rabenseifner;
mod recursive_doubling;
mod ring;
mod scatter_reduce;

#[cfg(test)]
pub(crate) mod tests;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::{Element, Reduction};

/// The allreduce algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RecursiveDoubling,
    Algorithm::Ring,
    Algorithm::Rabenseifner,
    Algorithm::ScatterReduce,
];

/// The estimated time of `alg`, or `None` where it cannot run the call (the ring for a
/// non-commutative reduction, scatter-reduce on a transport without shared objects).
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::RecursiveDoubling => Some(recursive_doubling::cost(input)),
        Algorithm::Ring => ring::cost(input),
        Algorithm::Rabenseifner => Some(rabenseifner::cost(input)),
        Algorithm::ScatterReduce => scatter_reduce::cost(input),
        _ => None,
    }
}

/// The messages and bytes `alg` sends for `count` elements of `elem` bytes on `p` ranks.
pub fn traffic(alg: Algorithm, p: usize, count: usize, elem: usize) -> Traffic {
    match alg {
        Algorithm::RecursiveDoubling => recursive_doubling::traffic(p, count * elem),
        Algorithm::Ring => ring::traffic(p, count, elem),
        Algorithm::Rabenseifner => rabenseifner::traffic(p, count, elem),
        Algorithm::ScatterReduce => scatter_reduce::traffic(p, count, elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg` in place: on return every rank's `buf` holds the combination of all ranks'
/// buffers, in rank order (`Avg` is left undivided; the Communicator divides).
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
) -> Result<()> {
    match alg {
        Algorithm::RecursiveDoubling => recursive_doubling::run(ctx, buf, op).await,
        Algorithm::Ring => ring::run(ctx, buf, op).await,
        Algorithm::Rabenseifner => rabenseifner::run(ctx, buf, op).await,
        Algorithm::ScatterReduce => scatter_reduce::run(ctx, buf, op).await,
        _ => Err(not_offered(Collective::AllReduce, alg)),
    }
}
