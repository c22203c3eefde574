//! Broadcast: the root's buffer to every rank. n = the buffer's bytes.

mod binomial;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::types::{Element, Rank};

/// The broadcast algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Binomial];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Binomial => Some(binomial::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends for `count` elements of `elem` bytes on `p` ranks.
pub fn traffic(alg: Algorithm, p: usize, count: usize, elem: usize) -> Traffic {
    match alg {
        Algorithm::Binomial => binomial::traffic(p, count * elem),
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
        _ => Err(not_offered(Collective::Broadcast, alg)),
    }
}
