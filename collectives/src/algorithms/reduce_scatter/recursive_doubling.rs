//! Recursive-doubling reduce-scatter, order-preserving (for non-commutative reductions).
//!
//! R. Thakur, R. Rabenseifner and W. Gropp, "Optimization of collective communication
//! operations in MPICH", IJHPCA 19(1), 2005, §4.3 (MPICH
//! `reduce_scatter_intra_recursive_doubling.c`). On p' = 2^k ranks, round j pairs rank i
//! with i xor 2^j; before it each holds the reduction over its aligned group of 2^j ranks
//! of its own block and of every block outside the group. Each sends the partner what the
//! partner still needs (the partner's block and the blocks outside their merged group of
//! 2^(j+1)) and combines what it receives in rank order: `acc ⊕ theirs` when the partner's
//! group holds the higher ranks, `theirs ⊕ acc` when it holds the lower. Groups are always
//! contiguous rank ranges, so the result is x0 ⊕ x1 ⊕ … ⊕ x(p−1) for any associative
//! reduction. For other p the extra ranks fold in first, keeping order (see [`Fold`]): rank
//! 2i hands its vector to rank 2i + 1, which reduces `x(2i) ⊕ x(2i+1)`, stands for both
//! blocks and at the end sends rank 2i its block. The blocks a rank sends in a round form
//! up to three contiguous runs; each run is one chunk of the round's message, so nothing is
//! packed.
//!
//! Cost: Σ_j (a_j·α + (n·(1 − 2^(j+1)/p') + n/p')·(β + γ)) over the lg p' rounds, with
//! a_j = 2 runs but in the last round, plus 2α + n·(β + γ) + (n/p)·β when p ≠ p'.
//!
//! Traffic: one message per run per round per rank of the power-of-two group, of the
//! blocks named above (exactly as [`traffic`] enumerates them), plus p − p' messages of n
//! bytes and p − p' of the folded ranks' blocks.

use futures_util::stream::FuturesUnordered;

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::fold_in;
use crate::algorithms::fold::Fold;
use crate::algorithms::pipeline::{finish_sends, while_sending};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// Σ_j (a_j·α + (n·(1 − 2^(j+1)/p') + n/p')·(β+γ)) [+ 2α + n·(β+γ) + (n/p)·β if p ≠ p'].
#[allow(clippy::cast_precision_loss)]
pub(super) fn cost(input: &CostInput) -> f64 {
    let fold = Fold::new(input.ranks);
    let (p, n) = (input.p(), input.n());
    let pof2 = fold.pof2() as f64;
    let (alpha, beta, gamma) = (input.alpha(), input.beta(), input.gamma());
    let mut t = 0.0;
    let mut group = 2.0;
    while group <= pof2 {
        let runs = if group < pof2 { 2.0 } else { 1.0 };
        t += runs * alpha + (n * (1.0 - group / pof2) + n / pof2) * (beta + gamma);
        group *= 2.0;
    }
    if fold.rem() > 0 {
        t += 2.0 * alpha + n * (beta + gamma) + n / p * beta;
    }
    t
}

/// The runs of new-rank blocks (half-open) that new rank `x` needs from its partner when
/// the two merge into `group`: its own and every one outside the group, adjacent ones joined.
fn needs(x: usize, group: (usize, usize), pof2: usize) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::with_capacity(3);
    for (a, b) in [(0, group.0), (x, x + 1), (group.1, pof2)] {
        match runs.last_mut() {
            _ if a == b => {}
            Some(last) if last.1 == a => last.1 = b,
            _ => runs.push((a, b)),
        }
    }
    runs
}

/// The rounds of new rank `i` among `pof2`: (partner, merged group).
fn rounds(pof2: usize, i: usize) -> impl Iterator<Item = (usize, (usize, usize))> {
    std::iter::successors(Some(1usize), |m| Some(m * 2))
        .take_while(move |&m| m < pof2)
        .map(move |m| {
            let lo = i & !(2 * m - 1);
            (i ^ m, (lo, lo + 2 * m))
        })
}

/// The exact messages: the fold, each run of each round of each new rank, the results.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let p = blocks.len();
    let fold = Fold::new(p);
    let mut t = Traffic::default();
    for i in 0..fold.rem() {
        t.message(blocks.total() * elem);
        t.message(blocks.count(2 * i) * elem);
    }
    for i in 0..fold.pof2() {
        for (partner, group) in rounds(fold.pof2(), i) {
            for (a, b) in needs(partner, group, fold.pof2()) {
                t.message(blocks.span(fold.first(a), fold.first(b)).len() * elem);
            }
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
    for ((partner, group), step) in rounds(fold.pof2(), new).zip(1..) {
        let peer = fold.old_rank(partner);
        let give = needs(partner, group, fold.pof2());
        let take = needs(new, group, fold.pof2());
        let mut sends = FuturesUnordered::new();
        for (k, &run) in (0..).zip(&give) {
            sends.push(ctx.send_chunk(peer, step, k, give.len() as u32, &buf[span(run)]));
        }
        for (k, &run) in (0..).zip(&take) {
            let range = span(run);
            let recv = ctx.recv_chunk::<T>(peer, step, k, take.len() as u32, range.len());
            let theirs = while_sending(recv, &mut sends).await??;
            if partner > new {
                op.combine(&mut buf[range], &theirs.as_slice());
            } else {
                op.combine_from_left(&theirs.as_slice(), &mut buf[range]);
            }
        }
        finish_sends(&mut sends).await?;
    }
    if let Some(even) = absorbs {
        ctx.send(even, last, &buf[blocks.range(even)]).await?;
    }
    Ok(())
}
