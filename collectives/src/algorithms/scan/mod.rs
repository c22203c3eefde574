//! Scan and exscan: rank i gets the reduction of ranks 0..=i (inclusive) or 0..i (exclusive). n = the buffer's bytes.

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
#[allow(unused_imports)]
use crate::{Element, Rank, Reduction, algorithms::blocks::Blocks};

/// The scan algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::RecursiveDoubling, Algorithm::Linear];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    let _ = (alg, input);
    None
}

/// The messages and bytes `alg` sends.
pub fn traffic(
    alg: Algorithm,
    _p: usize,
    _count: usize,
    _elem: usize,
    _inclusive: bool,
) -> Traffic {
    let _ = alg;
    Traffic::default()
}

/// Runs `alg`.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    _send: &[T],
    _recv: &mut [T],
    _op: &Reduction<T>,
    _inclusive: bool,
) -> Result<()> {
    let _ = ctx;
    Err(not_offered(Collective::Scan, alg))
}
