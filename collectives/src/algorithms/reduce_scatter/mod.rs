//! Reduce-scatter: the reduction of all ranks' vectors, block i to rank i. n = the whole vector's bytes.

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
#[allow(unused_imports)]
use crate::{Element, Rank, Reduction, algorithms::blocks::Blocks};

/// The reduce_scatter algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Ring, Algorithm::RecursiveHalving];

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
    _op: &Reduction<T>,
) -> Result<()> {
    let _ = ctx;
    Err(not_offered(Collective::ReduceScatter, alg))
}
