//! Broadcast: the root's buffer to every rank. n = the buffer's bytes.
//!
//! Binomial is latency-optimal and wins for small buffers; scatter-allgather sends about
//! 2n bytes per rank instead of n·⌈lg p⌉ through the root and wins for large ones.
//! Shared-put (only where the transport has shared objects) puts the buffer in the store
//! once for every rank to read.

mod binomial;
mod scatter_allgather;
mod shared_put;
#[cfg(test)]
mod tests;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::types::{Element, Rank};

/// The broadcast algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::Binomial,
    Algorithm::ScatterAllgather,
    Algorithm::SharedPut,
];

/// The estimated time of `alg`, or `None` where it cannot run the call (shared-put on a
/// transport without shared objects).
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Binomial => Some(binomial::cost(input)),
        Algorithm::ScatterAllgather => Some(scatter_allgather::cost(input)),
        Algorithm::SharedPut if input.has_shared_objects() => Some(shared_put::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends for `count` elements of `elem` bytes on `p` ranks
/// from `root` (scatter-allgather's depend on the root when the blocks are uneven).
pub fn traffic(
    alg: Algorithm,
    p: usize,
    count: usize,
    elem: usize,
    root: Rank,
    profile: &LinkProfile,
) -> Traffic {
    match alg {
        Algorithm::Binomial => binomial::traffic(p, count, elem, profile),
        Algorithm::ScatterAllgather => scatter_allgather::traffic(p, count, elem, root),
        Algorithm::SharedPut => shared_put::traffic(p, count * elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: on return every rank's `buf` holds the root's.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    root: Rank,
) -> Result<()> {
    match alg {
        Algorithm::Binomial => binomial::run(ctx, buf, root).await,
        Algorithm::ScatterAllgather => scatter_allgather::run(ctx, buf, root).await,
        Algorithm::SharedPut => shared_put::run(ctx, buf, root).await,
        _ => Err(not_offered(Collective::Broadcast, alg)),
    }
}
