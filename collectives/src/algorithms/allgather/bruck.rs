//! Bruck allgather.
//!
//! J. Bruck, C.-T. Ho, S. Kipnis, E. Upfal and D. Weathersby, "Efficient algorithms for
//! all-to-all communications in multiport message-passing systems", IEEE TPDS 8(11), 1997
//! (MPICH `allgather_intra_brucks.c`). Rank r views its vector rotated so that position j
//! holds block r + j (mod p): then it owns positions 0..1. In round k, with d = 2^k, it
//! sends positions 0..min(d, p − d) to rank r − d and receives positions d..d + min(d, p − d)
//! from rank r + d, which are that rank's first positions. After ⌈lg p⌉ rounds every
//! position is filled, for any p and any block sizes; rotating back puts every block in its
//! place. The rotations are done in place, so the only scratch is the messages.
//!
//! Cost: ⌈lg p⌉·α + ((p−1)/p)·n·(β + δ) + 2n·δ (δ: the time to copy a byte; the last term
//! is the two rotations).
//!
//! Traffic: p·⌈lg p⌉ messages; position j travels min(d, p − d) summed over rounds = p − 1
//! times over all ranks, so (p−1)·n bytes whatever the block sizes.

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::copy_seconds_per_byte;
use crate::error::Result;
use crate::types::Element;

/// ⌈lg p⌉·α + ((p−1)/p)·n·(β+δ) + 2n·δ.
pub(super) fn cost(input: &CostInput) -> f64 {
    let (p, n) = (input.p(), input.n());
    let delta = copy_seconds_per_byte(input);
    input.lg_p() * input.alpha() + (p - 1.0) / p * n * (input.beta() + delta) + 2.0 * n * delta
}

/// The rounds: (distance d, positions sent min(d, p − d)).
fn rounds(p: usize) -> impl Iterator<Item = (usize, usize)> {
    std::iter::successors(Some(1usize), |d| Some(d * 2))
        .take_while(move |&d| d < p)
        .map(move |d| (d, d.min(p - d)))
}

/// The exact messages: every rank sends its first positions in every round.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let p = blocks.len();
    let mut t = Traffic::default();
    for r in 0..p {
        for (_, count) in rounds(p) {
            let elems: usize = (0..count).map(|j| blocks.count((r + j) % p)).sum();
            t.message(elems * elem);
        }
    }
    t
}

pub(crate) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], blocks: &Blocks) -> Result<()> {
    let (r, p) = (ctx.rank(), ctx.size());
    if p == 1 {
        return Ok(());
    }
    let (offset, total) = (blocks.range(r).start, blocks.total());
    // Where position j (block r + j) starts in the rotated vector; position p is its end.
    let at = |j: usize| match (r + j) % p {
        _ if j == p => total,
        b if b >= r => blocks.range(b).start - offset,
        b => blocks.range(b).start + total - offset,
    };
    buf.rotate_left(offset);
    for ((d, count), step) in rounds(p).zip(0..) {
        let (to, from) = ((r + p - d) % p, (r + d) % p);
        let (sent, got) = tokio::join!(
            ctx.send(to, step, &buf[at(0)..at(count)]),
            ctx.recv_into(from, step, &mut buf[at(d)..at(d + count)])
        );
        sent?;
        got?;
    }
    buf.rotate_right(offset);
    Ok(())
}
