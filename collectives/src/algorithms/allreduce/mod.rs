//! Allreduce: every rank gets the reduction of all ranks' buffers. n = the buffer's bytes.

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
#[allow(unused_imports)]
use crate::{Element, Rank, Reduction, algorithms::blocks::Blocks};

/// The allreduce algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RecursiveDoubling,
    Algorithm::Ring,
    Algorithm::Rabenseifner,
];

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
    _buf: &mut [T],
    _op: &Reduction<T>,
) -> Result<()> {
    let _ = ctx;
    Err(not_offered(Collective::AllReduce, alg))
}
