//! All-to-all with a count per pair. n = the bytes one rank sends in all.

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
#[allow(unused_imports)]
use crate::{Element, Rank, Reduction, algorithms::blocks::Blocks};

/// The alltoallv algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Pairwise];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    let _ = (alg, input);
    None
}

/// The messages and bytes `alg` sends.
pub fn traffic(alg: Algorithm, _counts: &[Vec<usize>], _elem: usize) -> Traffic {
    let _ = alg;
    Traffic::default()
}

/// Runs `alg`.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    _send: &[T],
    _send_counts: &[usize],
    _recv: &mut [T],
    _recv_counts: &[usize],
) -> Result<()> {
    let _ = ctx;
    Err(not_offered(Collective::AllToAllV, alg))
}
