//! Binomial-tree reduce.
//!
//! MPICH's `reduce_intra_binomial` (Thakur, Rabenseifner and Gropp, IJHPCA 2005): with ranks
//! renumbered relative to the tree's root, in round k a rank whose bit k is clear receives
//! the partial result of rank + 2^k and combines it, and a rank whose bit k is set sends its
//! partial result to rank - 2^k and is done. Latency-optimal; every message carries the
//! whole vector, so for small messages.
//!
//! The subtree of relative rank r covers the relative ranks r..r + 2^k, and r receives them
//! in increasing order, so with the tree rooted at rank 0 the result comes out in rank
//! order. A non-commutative op therefore runs the tree at rank 0, which then sends the
//! result to the root if that is another rank (as MPICH does); a commutative one runs the
//! tree at the root.
//!
//! Cost: ⌈lg p⌉·(α + n·β + n·γ), plus α + n·β for the forward of a non-commutative result.
//!
//! Traffic: p - 1 messages of n bytes, plus one for a non-commutative op with root ≠ 0.

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic, ceil_log2};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::{Element, Rank};

/// ⌈lg p⌉·(α + nβ + nγ) (the selector does not know the root, so the forward of a
/// non-commutative result is left out; binomial is then the only choice anyway).
pub(super) fn cost(input: &CostInput) -> f64 {
    input.lg_p() * (input.alpha() + input.n() * (input.beta() + input.gamma()))
}

/// p - 1 messages of n bytes, plus the forward to a root ≠ 0 of a non-commutative result.
pub(super) fn traffic(p: usize, bytes: usize, root: Rank, commutative: bool) -> Traffic {
    let mut t = Traffic::default();
    for _ in 1..p {
        t.message(bytes);
    }
    if !commutative && root != 0 {
        t.message(bytes);
    }
    t
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
    root: Rank,
) -> Result<()> {
    let (rank, p, n) = (ctx.rank(), ctx.size(), buf.len());
    let tree_root = if op.is_commutative() { root } else { 0 };
    let relative = (rank + p - tree_root) % p;
    let actual = |r: usize| (r + tree_root) % p;
    let mut mask = 1;
    while mask < p {
        let step = mask.trailing_zeros();
        if relative & mask == 0 {
            // The child's subtree covers the ranks just above those combined so far.
            let child = relative | mask;
            if child < p {
                let got = ctx.recv::<T>(actual(child), step, n).await?;
                op.combine(buf, &got.as_slice());
            }
        } else {
            ctx.send(actual(relative & !mask), step, buf).await?;
            break;
        }
        mask <<= 1;
    }
    if tree_root != root {
        let step = ceil_log2(p);
        if rank == tree_root {
            ctx.send(root, step, buf).await?;
        } else if rank == root {
            ctx.recv_into(tree_root, step, buf).await?;
        }
    }
    Ok(())
}
