//! Recursive-halving reduce-scatter.
//!
//! R. Thakur, R. Rabenseifner and W. Gropp, "Optimization of collective communication
//! operations in MPICH", IJHPCA 19(1), 2005, §4.3 (MPICH
//! `reduce_scatter_intra_recursive_halving.c`). On p' = 2^k ranks, round j pairs each rank
//! with the one at distance p'/2^(j+1); the pair splits the blocks it is still responsible
//! for in two, each sends the half the other keeps and reduces the half it receives into its
//! own. After lg p' rounds each rank holds its own block, reduced. For other p the extra
//! ranks fold in first (see [`Fold`]): rank 2i hands its whole vector to rank 2i + 1, which
//! then stands for blocks 2i and 2i + 1 and, at the end, sends rank 2i its block. Partials
//! combine in an order that is not rank order, so only commutative reductions may use it.
//!
//! Cost: lg p'·α + ((p'−1)/p')·n·(β + γ), plus 2α + n·(β + γ) + (n/p)·β when p is not a
//! power of two.
//!
//! Traffic: in round j the p'/2^(j+1) pairs that share a range exchange all of it, so the
//! power-of-two phase sends p'·lg p' messages and (p'−1)·n bytes whatever the block sizes;
//! the fold adds p − p' messages of n bytes and p − p' of the folded ranks' blocks.

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::fold_in;
use crate::algorithms::fold::Fold;
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// lg p'·α + ((p'−1)/p')·n·(β+γ) [+ 2α + n·(β+γ) + (n/p)·β if p ≠ p'].
#[allow(clippy::cast_precision_loss)]
pub(super) fn cost(input: &CostInput) -> f64 {
    let fold = Fold::new(input.ranks);
    let (p, n) = (input.p(), input.n());
    let pof2 = fold.pof2() as f64;
    let (alpha, beta, gamma) = (input.alpha(), input.beta(), input.gamma());
    let mut t = pof2.log2() * alpha + (pof2 - 1.0) / pof2 * n * (beta + gamma);
    if fold.rem() > 0 {
        t += 2.0 * alpha + n * (beta + gamma) + n / p * beta;
    }
    t
}

/// One round of the halving for one new rank: the partner and the new-rank ranges kept and
/// sent (half-open, in super-blocks).
struct Round {
    partner: usize,
    keep: (usize, usize),
    give: (usize, usize),
}

/// The rounds new rank `i` of a group of `pof2` runs, in order.
fn rounds(pof2: usize, i: usize) -> impl Iterator<Item = Round> {
    let (mut lo, mut hi) = (0, pof2);
    std::iter::successors(Some(pof2 / 2), |m| Some(m / 2))
        .take_while(|&m| m > 0)
        .map(move |mask| {
            let mid = lo + mask;
            let partner = i ^ mask;
            let (keep, give) = if i < partner {
                ((lo, mid), (mid, hi))
            } else {
                ((mid, hi), (lo, mid))
            };
            (lo, hi) = keep;
            Round {
                partner,
                keep,
                give,
            }
        })
}

/// The exact messages: the fold, each halving round of each new rank, the results.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let p = blocks.len();
    let fold = Fold::new(p);
    let span = |(a, b): (usize, usize)| blocks.span(fold.first(a), fold.first(b)).len() * elem;
    let mut t = Traffic::default();
    for i in 0..fold.rem() {
        t.message(blocks.total() * elem);
        t.message(blocks.count(2 * i) * elem);
    }
    for i in 0..fold.pof2() {
        for round in rounds(fold.pof2(), i) {
            t.message(span(round.give));
        }
    }
    t
}

pub(crate) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
    op: &Reduction<T>,
) -> Result<()> {
    let p = ctx.size();
    if p == 1 {
        return Ok(());
    }
    let fold = Fold::new(p);
    let last = 1 + fold.pof2().trailing_zeros();
    let Some((new, absorbs)) = fold_in(ctx, fold, buf, blocks, op, last).await? else {
        return Ok(());
    };
    let span = |(a, b): (usize, usize)| blocks.span(fold.first(a), fold.first(b));
    for (round, step) in rounds(fold.pof2(), new).zip(1..) {
        let peer = fold.old_rank(round.partner);
        let keep = span(round.keep);
        let (sent, got) = tokio::join!(
            ctx.send(peer, step, &buf[span(round.give)]),
            ctx.recv::<T>(peer, step, keep.len())
        );
        sent?;
        op.combine(&mut buf[keep], &got?.as_slice());
    }
    if let Some(even) = absorbs {
        ctx.send(even, last, &buf[blocks.range(even)]).await?;
    }
    Ok(())
}
