//! Binomial-tree gather.
//!
//! The tree of MPICH's `gather_intra_binomial` (Thakur, Rabenseifner and Gropp, IJHPCA 2005;
//! the same tree as the binomial broadcast, walked leaves first). With ranks renumbered
//! relative to the root, relative rank r owns the subtree r..r + s(r), where s(r) is the
//! lowest set bit of r capped at p - r (s(0) = p). A rank receives from its children
//! r + 2^k (2^k < s(r)) their subtrees, which land next to each other in relative order, and
//! then sends its whole subtree to its parent r - lowbit(r) in one message. Leaves send their
//! own block straight from the user's buffer; interior ranks assemble their subtree in a
//! scratch buffer of s(r) blocks; the root assembles straight into its receive buffer and
//! rotates it from relative to rank order in place. Works for any p and any root.
//!
//! With n the gathered bytes: cost ⌈lg p⌉·α + n·(p - 1)/p·β. Traffic: p - 1 messages, the
//! one from relative rank r carrying s(r) blocks: Σ_{r=1}^{p-1} min(lowbit(r), p - r)
//! blocks in all.

use futures_util::future::try_join_all;

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::{Error, ErrorKind, Result};
use crate::types::{Element, Rank};

/// ⌈lg p⌉·α + n·(p - 1)/p·β.
pub(super) fn cost(input: &CostInput) -> f64 {
    let p = input.p();
    input.lg_p() * input.alpha() + input.n() * (p - 1.0) / p * input.beta()
}

/// The blocks in the subtree of relative rank `rel` of a binomial tree over `p` ranks:
/// `rel..rel + subtree(p, rel)`.
pub(crate) fn subtree(p: usize, rel: usize) -> usize {
    if rel == 0 {
        p
    } else {
        (1 << rel.trailing_zeros()).min(p - rel)
    }
}

/// p - 1 messages; relative rank r ≥ 1 sends `subtree(p, r)` blocks of `block_bytes`.
pub(crate) fn traffic(p: usize, block_bytes: usize) -> Traffic {
    let mut t = Traffic::default();
    for rel in 1..p {
        t.message(subtree(p, rel) * block_bytes);
    }
    t
}

/// The step of the message between a parent and its child at distance `mask`.
fn step(mask: usize) -> u32 {
    mask.trailing_zeros()
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: Option<&mut [T]>,
    root: Rank,
) -> Result<()> {
    let (rank, p, b) = (ctx.rank(), ctx.size(), send.len());
    let rel = (rank + p - root) % p;
    let actual = |r: usize| (r + root) % p;
    let size = subtree(p, rel);
    if rel != 0 && size == 1 {
        let mask = 1 << rel.trailing_zeros();
        return ctx.send(actual(rel - mask), step(mask), send).await;
    }
    let mut scratch;
    let buf: &mut [T] = if rel == 0 {
        recv.ok_or_else(|| Error::new(ErrorKind::Internal, "gather root without a buffer"))?
    } else {
        scratch = vec![T::zeroed(); size * b];
        &mut scratch
    };
    let (own, mut rest) = buf[..size * b].split_at_mut(b);
    own.copy_from_slice(send);
    // The child at distance mask sends blocks mask..min(2·mask, size) of this subtree.
    let mut receives = Vec::new();
    let mut mask = 1;
    while mask < size {
        let (region, tail) = std::mem::take(&mut rest).split_at_mut(mask.min(size - mask) * b);
        receives.push(ctx.recv_into(actual(rel + mask), step(mask), region));
        rest = tail;
        mask <<= 1;
    }
    try_join_all(receives).await?;
    if rel == 0 {
        // Relative block r is rank r + root's.
        buf.rotate_right(root * b);
        Ok(())
    } else {
        let lowbit = 1 << rel.trailing_zeros();
        ctx.send(actual(rel - lowbit), step(lowbit), buf).await
    }
}
