//! Allgather: every rank's block to every rank. n = the gathered vector's bytes.

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
#[allow(unused_imports)]
use crate::{Element, Rank, Reduction, algorithms::blocks::Blocks};

/// The allgather algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ring,
    Algorithm::RecursiveDoubling,
    Algorithm::Bruck,
];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    let _ = (alg, input);
    None
}

/// The messages and bytes `alg` sends.
pub fn traffic(alg: Algorithm, _blocks: &Blocks, _elem: usize) -> Traffic {
    let _ = alg;
    Traffic::default()
}

/// Runs `alg`.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    _buf: &mut [T],
    _blocks: &Blocks,
) -> Result<()> {
    let _ = ctx;
    Err(not_offered(Collective::AllGather, alg))
}
