//! Gather: every rank's block to the root. n = the gathered bytes at the root.

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
#[allow(unused_imports)]
use crate::{Element, Rank, Reduction, algorithms::blocks::Blocks};

/// The gather algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Binomial];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    let _ = (alg, input);
    None
}

/// The messages and bytes `alg` sends.
pub fn traffic(alg: Algorithm, _p: usize, _count: usize, _elem: usize) -> Traffic {
    let _ = alg;
    Traffic::default()
}

/// Runs `alg`.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    _send: &[T],
    _recv: Option<&mut [T]>,
    _root: Rank,
) -> Result<()> {
    let _ = ctx;
    Err(not_offered(Collective::Gather, alg))
}
