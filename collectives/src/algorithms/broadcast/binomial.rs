//! Binomial-tree broadcast.
//!
//! The classic tree of MPICH's `bcast_intra_binomial` (Thakur, Rabenseifner and Gropp,
//! IJHPCA 2005): with ranks renumbered relative to the root, rank r receives from r minus
//! its lowest set bit, then sends to r + 2^k for every 2^k below that bit. Latency-optimal;
//! the root's link carries the whole message lg p times.
//!
//! Cost: ⌈lg p⌉·(α + n·β). Traffic: p - 1 messages of n bytes.

use futures_util::future::try_join_all;

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::types::{Element, Rank};

/// ⌈lg p⌉·(α + nβ).
pub(super) fn cost(input: &CostInput) -> f64 {
    input.lg_p() * (input.alpha() + input.n() * input.beta())
}

/// p - 1 messages of n bytes.
pub(super) fn traffic(p: usize, bytes: usize) -> Traffic {
    let mut t = Traffic::default();
    for _ in 1..p {
        t.message(bytes);
    }
    t
}

pub(super) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], root: Rank) -> Result<()> {
    let p = ctx.size();
    let relative = (ctx.rank() + p - root) % p;
    let actual = |r: usize| (r + root) % p;
    // Receive from the parent: the rank that differs in the lowest set bit.
    let mut mask = 1;
    while mask < p {
        if relative & mask != 0 {
            ctx.recv_into(actual(relative - mask), mask.trailing_zeros(), buf)
                .await?;
            break;
        }
        mask <<= 1;
    }
    // Send to the children below that bit, all at once.
    let mut sends = Vec::new();
    mask >>= 1;
    while mask > 0 {
        if relative + mask < p {
            sends.push(ctx.send(actual(relative + mask), mask.trailing_zeros(), buf));
        }
        mask >>= 1;
    }
    try_join_all(sends).await?;
    Ok(())
}
