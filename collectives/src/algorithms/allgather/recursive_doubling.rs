//! Recursive-doubling allgather.
//!
//! R. Thakur, R. Rabenseifner and W. Gropp, "Optimization of collective communication
//! operations in MPICH", IJHPCA 19(1), 2005, §4.1 (MPICH
//! `allgather_intra_recursive_doubling.c`). On p' = 2^k ranks, round j pairs rank i with
//! i xor 2^j; each holds the blocks of its aligned group of 2^j ranks, a contiguous span,
//! sends it whole and receives the partner's, so the held span doubles every round. For
//! other p the extra ranks fold in (see [`Fold`]), as MPICH's allreduce folds them rather
//! than with MPICH's allgather tree correction: rank 2i hands its block to rank 2i + 1,
//! which stands for both in the power-of-two phase and sends rank 2i the whole vector at
//! the end.
//!
//! Cost: lg p'·α + ((p'−1)/p')·n·(β + δ), plus 2α + (n/p)·β + n·(β + δ) when p ≠ p'
//! (δ: the time to copy a byte out of a message).
//!
//! Traffic: in round j each of the p'/2^j groups sends its span 2^j times, so the
//! power-of-two phase sends p'·lg p' messages and (p'−1)·n bytes whatever the block sizes;
//! the fold adds p − p' messages of the folded ranks' blocks and p − p' of n bytes.

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::copy_seconds_per_byte;
use crate::algorithms::fold::{Fold, Role};
use crate::error::Result;
use crate::types::Element;

/// lg p'·α + ((p'−1)/p')·n·(β+δ) [+ 2α + (n/p)·β + n·(β+δ) if p ≠ p'].
#[allow(clippy::cast_precision_loss)]
pub(super) fn cost(input: &CostInput) -> f64 {
    let fold = Fold::new(input.ranks);
    let (p, n) = (input.p(), input.n());
    let pof2 = fold.pof2() as f64;
    let (alpha, beta, delta) = (input.alpha(), input.beta(), copy_seconds_per_byte(input));
    let mut t = pof2.log2() * alpha + (pof2 - 1.0) / pof2 * n * (beta + delta);
    if fold.rem() > 0 {
        t += 2.0 * alpha + n / p * beta + n * (beta + delta);
    }
    t
}

/// A round of new rank `i`: its partner, the new ranks whose blocks `i` holds before the
/// round and those whose blocks the partner holds (half-open).
struct Round {
    partner: usize,
    mine: (usize, usize),
    theirs: (usize, usize),
}

/// The rounds of new rank `i` among `pof2`, in order.
fn rounds(pof2: usize, i: usize) -> impl Iterator<Item = Round> {
    std::iter::successors(Some(1usize), |m| Some(m * 2))
        .take_while(move |&m| m < pof2)
        .map(move |m| {
            let (lo, other) = (i & !(m - 1), (i ^ m) & !(m - 1));
            Round {
                partner: i ^ m,
                mine: (lo, lo + m),
                theirs: (other, other + m),
            }
        })
}

/// The exact messages: the fold, each round of each new rank, the results.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let fold = Fold::new(blocks.len());
    let mut t = Traffic::default();
    for i in 0..fold.rem() {
        t.message(blocks.count(2 * i) * elem);
        t.message(blocks.total() * elem);
    }
    for i in 0..fold.pof2() {
        for round in rounds(fold.pof2(), i) {
            let (a, b) = round.mine;
            t.message(blocks.span(fold.first(a), fold.first(b)).len() * elem);
        }
    }
    t
}

pub(crate) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], blocks: &Blocks) -> Result<()> {
    let (r, p) = (ctx.rank(), ctx.size());
    if p == 1 {
        return Ok(());
    }
    let fold = Fold::new(p);
    let last = 1 + fold.pof2().trailing_zeros();
    let (new, absorbs) = match fold.role(r) {
        Role::Out { partner } => {
            ctx.send(partner, 0, &buf[blocks.range(r)]).await?;
            return ctx.recv_into(partner, last, buf).await;
        }
        Role::In { new, absorbs } => (new, absorbs),
    };
    if let Some(even) = absorbs {
        ctx.recv_into(even, 0, &mut buf[blocks.range(even)]).await?;
    }
    let span = |(a, b): (usize, usize)| blocks.span(fold.first(a), fold.first(b));
    for (round, step) in rounds(fold.pof2(), new).zip(1..) {
        let peer = fold.old_rank(round.partner);
        let (sent, got) = tokio::join!(
            ctx.send(peer, step, &buf[span(round.mine)]),
            ctx.recv_into(peer, step, &mut buf[span(round.theirs)])
        );
        sent?;
        got?;
    }
    if let Some(even) = absorbs {
        ctx.send(even, last, buf).await?;
    }
    Ok(())
}
