//! Reduce: the root gets the reduction of all ranks' buffers. n = the buffer's bytes.

mod binomial;
mod reduce_scatter_gather;

#[cfg(test)]
mod tests;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::{Element, Rank, Reduction};

/// The reduce algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Binomial, Algorithm::ReduceScatterGather];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Binomial => Some(binomial::cost(input)),
        Algorithm::ReduceScatterGather => reduce_scatter_gather::cost(input),
        _ => None,
    }
}

/// The messages and bytes `alg` sends for `count` elements of `elem` bytes on `p` ranks
/// with root `root`.
///
/// Unlike most collectives' `traffic`, this needs to know more of the call: a binomial
/// reduce with a non-commutative op runs its tree at rank 0 and forwards the result to a
/// root other than 0, and reduce-scatter-gather picks its reduce-scatter by the cost model
/// over the transport's `profile`.
pub fn traffic(
    alg: Algorithm,
    p: usize,
    count: usize,
    elem: usize,
    root: Rank,
    commutative: bool,
    profile: &LinkProfile,
) -> Traffic {
    match alg {
        Algorithm::Binomial => binomial::traffic(p, count * elem, root, commutative),
        Algorithm::ReduceScatterGather => {
            reduce_scatter_gather::traffic(p, count, elem, root, profile)
        }
        _ => Traffic::default(),
    }
}

/// Runs `alg`: `buf` is this rank's input and scratch; on return the root's `buf` holds the
/// combination of all ranks' buffers in rank order (`Avg` undivided), and the other ranks'
/// `buf` holds anything.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
    root: Rank,
) -> Result<()> {
    match alg {
        Algorithm::Binomial => binomial::run(ctx, buf, op, root).await,
        Algorithm::ReduceScatterGather => reduce_scatter_gather::run(ctx, buf, op, root).await,
        _ => Err(not_offered(Collective::Reduce, alg)),
    }
}
