//! Pairwise-exchange all-to-all.
//!
//! The algorithm of MPICH's `alltoall_intra_pairwise` (Thakur, Rabenseifner and Gropp,
//! "Optimization of Collective Communication Operations in MPICH", IJHPCA 2005): p - 1
//! rounds, in each of which every rank sends one block and receives one. When p is a power
//! of two the partner of round i is rank XOR i, so both directions of a pair share a round;
//! otherwise a rank sends to rank + i and receives from rank - i (mod p). The own block is
//! copied locally. Every block crosses one link once, from the send buffer into the receive
//! buffer, so this is the algorithm for large blocks. On a direct link a block travels in
//! pipeline chunks
//! (`pipeline::exchange`), so the copy of one chunk out of its frame overlaps the transfer
//! of the next and the framed copies stay bounded.
//!
//! With b = n/p the block size: cost (p - 1)·(α + b·β) + n·γ (the copies out of received
//! frames and of the own block). Traffic: p·(p - 1) blocks of b bytes, each in
//! ⌈b / chunk⌉ messages (at least one) on a direct link, in one through a server.

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::pipeline::{chunked_traffic, exchange};
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::types::{Element, Rank};

/// (p - 1)·(α + (n/p)·β) + n·γ.
pub(super) fn cost(input: &CostInput) -> f64 {
    let p = input.p();
    let block = input.n() / p;
    (p - 1.0) * (input.alpha() + block * input.beta()) + input.n() * input.gamma()
}

/// p·(p - 1) blocks of `block` elements of `elem` bytes, each in the chunks of `profile`'s
/// medium.
pub(super) fn traffic(p: usize, block: usize, elem: usize, profile: &LinkProfile) -> Traffic {
    let mut t = Traffic::default();
    for _ in 0..p * p.saturating_sub(1) {
        chunked_traffic(&mut t, profile, block, elem);
    }
    t
}

/// The ranks `rank` sends to and receives from in round `round` (1..p) of a pairwise
/// exchange among `p` ranks: rank XOR round both ways when p is a power of two, else
/// rank + round and rank - round. Over the p - 1 rounds every other rank comes up once in
/// each direction, and the peer `rank` sends to in a round receives from `rank` in that round.
pub(crate) fn peers(rank: Rank, p: usize, round: usize) -> (Rank, Rank) {
    if p.is_power_of_two() {
        let partner = rank ^ round;
        (partner, partner)
    } else {
        ((rank + round) % p, (rank + p - round) % p)
    }
}

/// The step of round `round`: the round number itself.
pub(crate) fn step(round: usize) -> u32 {
    u32::try_from(round).expect("a round number fits a step")
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: &mut [T],
    block: usize,
) -> Result<()> {
    let (rank, p) = (ctx.rank(), ctx.size());
    let range = |r: Rank| r * block..(r + 1) * block;
    recv[range(rank)].copy_from_slice(&send[range(rank)]);
    for round in 1..p {
        let (to, from) = peers(rank, p, round);
        exchange(
            ctx,
            (to, from),
            step(round),
            &send[range(to)],
            &mut recv[range(from)],
        )
        .await?;
    }
    Ok(())
}
