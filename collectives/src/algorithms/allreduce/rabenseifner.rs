//! Rabenseifner's allreduce: reduce-scatter by recursive halving, then allgather by recursive
//! doubling.
//!
//! R. Rabenseifner, "Optimization of collective reduction operations", ICCS 2004 (MPICH's
//! `allreduce_intra_reduce_scatter_allgather`). After MPICH's fold of p ranks onto
//! pof2 = 2^⌊lg p⌋ (see [`Fold`](crate::algorithms::fold::Fold)), the vector is cut into pof2 balanced blocks.
//! In halving round k (partner distance 2^k, k = 0, 1, ...) each rank keeps one half of its
//! current blocks, sends the other half to its partner and combines the partner's copy of
//! the half it keeps; after lg pof2 rounds every rank holds one fully reduced block. The
//! allgather runs the same rounds backwards, sending what it holds and receiving the
//! partner's half. Every continuing rank sends 2·(pof2 - 1)/pof2·n bytes, close to the
//! bound, in 2·lg pof2 rounds; for large messages.
//!
//! This file is self-contained rather than a composition of the reduce-scatter and allgather
//! modules: folding once (one n-byte message in, one out, per pair) is cheaper than folding
//! in each part, and the vector is split among the pof2 continuing ranks instead of among p.
//! Partner distances grow from 1, so the data a rank holds for its blocks always covers a
//! contiguous range of ranks, and combining the partner's data on the side of the ranks it
//! covers keeps a non-commutative reduction in rank order.
//!
//! Cost, with q = lg pof2: 2q·α + 2·(pof2 - 1)/pof2·n·β + (pof2 - 1)/pof2·n·γ, plus
//! 2·α + 2·n·β + n·γ for the fold when p is not a power of two.
//!
//! Traffic: with rem = p - pof2, 2·rem fold messages of n bytes, and 2·pof2·q messages that
//! carry 2·(pof2 - 1)·n bytes in all (halving round k moves n·pof2/2^(k+1) bytes, and the
//! allgather mirrors the halving), over blocks of `Blocks::balanced(n, pof2)`.

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::algorithms::fold::Fold;
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// One halving round of a continuing rank, in blocks of `Blocks::balanced(n, pof2)`.
struct Round {
    /// The partner's folded rank.
    partner: usize,
    /// The blocks this rank keeps and reduces (and sends in the allgather's mirror round).
    keep: (usize, usize),
    /// The blocks it sends to the partner (and receives in the allgather's mirror round).
    give: (usize, usize),
}

/// The halving rounds of folded rank `newrank` among `pof2`: partner distance 1, 2, 4, ...;
/// the lower rank of a pair keeps the lower half.
fn halving(newrank: usize, pof2: usize) -> Vec<Round> {
    let mut rounds = Vec::new();
    let (mut lo, mut hi) = (0, pof2);
    let mut mask = 1;
    while mask < pof2 {
        let mid = lo + (hi - lo) / 2;
        let (keep, give) = if newrank & mask == 0 {
            ((lo, mid), (mid, hi))
        } else {
            ((mid, hi), (lo, mid))
        };
        rounds.push(Round {
            partner: newrank ^ mask,
            keep,
            give,
        });
        (lo, hi) = keep;
        mask <<= 1;
    }
    rounds
}

/// 2q·α + 2(pof2 - 1)/pof2·nβ + (pof2 - 1)/pof2·nγ, plus 2α + 2nβ + nγ for the fold.
pub(super) fn cost(input: &CostInput) -> f64 {
    let fold = Fold::new(input.ranks);
    let q = f64::from(fold.pof2().trailing_zeros());
    #[allow(clippy::cast_precision_loss)]
    let part = (fold.pof2() - 1) as f64 / fold.pof2() as f64 * input.n();
    let mut t = 2.0 * q * input.alpha() + 2.0 * part * input.beta() + part * input.gamma();
    if fold.rem() > 0 {
        t += 2.0 * (input.alpha() + input.n() * input.beta()) + input.n() * input.gamma();
    }
    t
}

/// The fold's 2·rem messages of n bytes, and every halving and allgather message.
pub(super) fn traffic(p: usize, count: usize, elem: usize) -> Traffic {
    let fold = Fold::new(p);
    let blocks = Blocks::balanced(count, fold.pof2());
    let mut t = Traffic::default();
    for _ in 0..2 * fold.rem() {
        t.message(count * elem);
    }
    for newrank in 0..fold.pof2() {
        for round in halving(newrank, fold.pof2()) {
            t.message(blocks.span(round.give.0, round.give.1).len() * elem);
            t.message(blocks.span(round.keep.0, round.keep.1).len() * elem);
        }
    }
    t
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
) -> Result<()> {
    let (rank, p, n) = (ctx.rank(), ctx.size(), buf.len());
    let fold = Fold::new(p);
    let q = fold.pof2().trailing_zeros();
    // Step 0: fold; 1..=q: halving; q+1..=2q: allgather; 2q + 1: unfold.
    let unfold_step = 2 * q + 1;
    if fold.paired(rank) {
        if rank % 2 == 0 {
            ctx.send(rank + 1, 0, buf).await?;
        } else {
            let left = ctx.recv::<T>(rank - 1, 0, n).await?;
            op.combine_from_left(&left.as_slice(), buf);
        }
    }
    if let Some(newrank) = fold.newrank(rank) {
        let blocks = Blocks::balanced(n, fold.pof2());
        let rounds = halving(newrank, fold.pof2());
        for (step, round) in (1..).zip(&rounds) {
            let partner = fold.old_rank(round.partner);
            let keep = blocks.span(round.keep.0, round.keep.1);
            let give = blocks.span(round.give.0, round.give.1);
            let (sent, got) = tokio::join!(
                ctx.send(partner, step, &buf[give]),
                ctx.recv::<T>(partner, step, keep.len())
            );
            sent?;
            let got = got?;
            if round.partner < newrank {
                op.combine_from_left(&got.as_slice(), &mut buf[keep]);
            } else {
                op.combine(&mut buf[keep], &got.as_slice());
            }
        }
        for (step, round) in (q + 1..).zip(rounds.iter().rev()) {
            let partner = fold.old_rank(round.partner);
            let keep = blocks.span(round.keep.0, round.keep.1);
            let give = blocks.span(round.give.0, round.give.1);
            let (sent, got) = tokio::join!(
                ctx.send(partner, step, &buf[keep]),
                ctx.recv::<T>(partner, step, give.len())
            );
            sent?;
            got?.copy_to(&mut buf[give]);
        }
    }
    if fold.paired(rank) {
        if rank % 2 == 1 {
            ctx.send(rank - 1, unfold_step, buf).await?;
        } else {
            ctx.recv_into(rank + 1, unfold_step, buf).await?;
        }
    }
    Ok(())
}
