//! Dissemination barrier.
//!
//! D. Hensgen, R. Finkel, U. Manber, "Two algorithms for barrier synchronization",
//! International Journal of Parallel Programming 17(1), 1988. In round k every rank signals
//! rank + 2^k and waits for rank - 2^k (mod p); after ⌈lg p⌉ rounds every rank has heard,
//! directly or not, from every other. Works for any p.
//!
//! Cost: ⌈lg p⌉·α. Traffic: p·⌈lg p⌉ empty messages.

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic, ceil_log2};
use crate::error::Result;

/// ⌈lg p⌉·α.
pub(super) fn cost(input: &CostInput) -> f64 {
    input.lg_p() * input.alpha()
}

/// p·⌈lg p⌉ messages of no payload.
pub(super) fn traffic(p: usize) -> Traffic {
    Traffic {
        messages: p as u64 * u64::from(ceil_log2(p)),
        bytes: 0,
    }
}

pub(super) async fn run(ctx: &OpCtx<'_>) -> Result<()> {
    let (rank, p) = (ctx.rank(), ctx.size());
    let mut distance = 1;
    let mut round = 0;
    while distance < p {
        let to = (rank + distance) % p;
        let from = (rank + p - distance) % p;
        let empty: [u8; 0] = [];
        let (sent, got) = tokio::join!(ctx.send(to, round, &empty), ctx.recv::<u8>(from, round, 0));
        sent?;
        got?;
        distance *= 2;
        round += 1;
    }
    Ok(())
}
