//! Recursive-doubling allreduce.
//!
//! MPICH's `allreduce_intra_recursive_doubling` (Thakur, Rabenseifner and Gropp, "Optimization
//! of Collective Communication Operations in MPICH", IJHPCA 2005): in round k every rank
//! swaps its whole vector with the rank whose number differs in bit k and combines, so after
//! lg p rounds every rank holds the full reduction. For p not a power of two the first
//! 2·(p - pof2) ranks pair up first (each even rank hands its vector to the odd one above,
//! see [`Fold`](crate::algorithms::fold::Fold)) and get the result back at the end. Each combine puts the
//! partner's data on the side of the ranks it covers, so a non-commutative reduction comes
//! out in rank order. Latency-optimal; for small messages.
//!
//! Cost (pof2 = p): lg p·(α + n·β + n·γ). Otherwise, with q = lg pof2:
//! (q + 2)·α + (q + 2)·n·β + (q + 1)·n·γ.
//!
//! Traffic: with rem = p - pof2, 2·rem + pof2·lg pof2 messages of n bytes each.

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::algorithms::fold::Fold;
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// Rounds of message passing and of reduction on the critical path.
fn rounds(p: usize) -> (f64, f64) {
    let fold = Fold::new(p);
    let q = f64::from(fold.pof2().trailing_zeros());
    if fold.rem() == 0 {
        (q, q)
    } else {
        (q + 2.0, q + 1.0)
    }
}

/// lg p·(α + nβ + nγ), plus the fold's two messages and one reduction for p not a power of two.
pub(super) fn cost(input: &CostInput) -> f64 {
    let (sends, reductions) = rounds(input.ranks);
    sends * (input.alpha() + input.n() * input.beta()) + reductions * input.n() * input.gamma()
}

/// 2·rem + pof2·lg pof2 messages of n bytes.
pub(super) fn traffic(p: usize, bytes: usize) -> Traffic {
    let fold = Fold::new(p);
    let messages = 2 * fold.rem() + fold.pof2() * fold.pof2().trailing_zeros() as usize;
    let mut t = Traffic::default();
    for _ in 0..messages {
        t.message(bytes);
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
    let rounds = fold.pof2().trailing_zeros();
    // Step 0: fold; steps 1..=rounds: exchanges; step rounds + 1: unfold.
    let unfold_step = rounds + 1;
    if fold.paired(rank) {
        if rank % 2 == 0 {
            ctx.send(rank + 1, 0, buf).await?;
        } else {
            let left = ctx.recv::<T>(rank - 1, 0, n).await?;
            op.combine_from_left(&left.as_slice(), buf);
        }
    }
    if let Some(newrank) = fold.newrank(rank) {
        let mut mask = 1;
        let mut step = 1;
        while mask < fold.pof2() {
            let partner_new = newrank ^ mask;
            let partner = fold.old_rank(partner_new);
            let (sent, got) = tokio::join!(
                ctx.send(partner, step, buf),
                ctx.recv::<T>(partner, step, n)
            );
            sent?;
            let got = got?;
            if partner_new < newrank {
                op.combine_from_left(&got.as_slice(), buf);
            } else {
                op.combine(buf, &got.as_slice());
            }
            mask <<= 1;
            step += 1;
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
