//! Scan and exscan: rank i gets the reduction of ranks 0..=i (inclusive) or 0..i (exclusive). n = the buffer's bytes.
//!
//! Both algorithms combine operands in rank order, so both run non-commutative reductions.
//! Recursive doubling wins on latency (⌈lg p⌉ rounds), the pipelined chain on bandwidth
//! (each link carries the vector once).

mod linear;
mod recursive_doubling;
#[cfg(test)]
pub(crate) mod tests;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::{Element, Reduction};

/// The scan algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::RecursiveDoubling, Algorithm::Linear];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::RecursiveDoubling => Some(recursive_doubling::cost(input)),
        Algorithm::Linear => Some(linear::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends for `count` elements of `elem` bytes on `p` ranks,
/// for a scan (`inclusive`) or an exscan (the two send the same).
pub fn traffic(alg: Algorithm, p: usize, count: usize, elem: usize, inclusive: bool) -> Traffic {
    let _ = inclusive;
    match alg {
        Algorithm::RecursiveDoubling => recursive_doubling::traffic(p, count * elem),
        Algorithm::Linear => linear::traffic(p, count, elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: on return `recv` holds `send₀ ⊕ … ⊕ send_rank` (`inclusive`) or
/// `send₀ ⊕ … ⊕ send_(rank-1)` (exclusive; rank 0's `recv` is not touched). Avg is not
/// divided here.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: &mut [T],
    op: &Reduction<T>,
    inclusive: bool,
) -> Result<()> {
    match alg {
        Algorithm::RecursiveDoubling => {
            recursive_doubling::run(ctx, send, recv, op, inclusive).await
        }
        Algorithm::Linear => linear::run(ctx, send, recv, op, inclusive).await,
        _ => Err(not_offered(
            if inclusive {
                Collective::Scan
            } else {
                Collective::ExScan
            },
            alg,
        )),
    }
}
