//! Binomial-tree scatter.
//!
//! The tree of MPICH's `scatter_intra_binomial` (Thakur, Rabenseifner and Gropp, IJHPCA
//! 2005), the mirror of the binomial gather. With ranks renumbered relative to the root,
//! relative rank r owns the subtree r..r + s(r), where s(r) is the lowest set bit of r capped
//! at p - r (s(0) = p). A rank receives its whole subtree's blocks from its parent
//! r - lowbit(r) in one message, keeps the first, and sends each child r + 2^k (2^k < s(r))
//! that child's subtree. Interior ranks forward slices of the received frame itself, so
//! they need no scratch; the root sends slices of its send buffer, packing only the one
//! subtree whose blocks wrap past the last rank. Works for any p and any root.
//!
//! With n the scattered bytes: cost ⌈lg p⌉·α + n·(p - 1)/p·β. Traffic: p - 1 messages, the
//! one to relative rank r carrying s(r) blocks: Σ_{r=1}^{p-1} min(lowbit(r), p - r)
//! blocks in all.

use futures_util::future::try_join_all;

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::gather::binomial::subtree;
use crate::error::{Error, ErrorKind, Result};
use crate::types::{Element, Rank};

/// ⌈lg p⌉·α + n·(p - 1)/p·β.
pub(super) fn cost(input: &CostInput) -> f64 {
    let p = input.p();
    input.lg_p() * input.alpha() + input.n() * (p - 1.0) / p * input.beta()
}

/// p - 1 messages; relative rank r ≥ 1 receives `subtree(p, r)` blocks of `block_bytes`.
pub(super) fn traffic(p: usize, block_bytes: usize) -> Traffic {
    super::super::gather::binomial::traffic(p, block_bytes)
}

/// The children of a rank whose subtree has `size` blocks: (distance, blocks of the child's
/// subtree), nearest first.
fn children(size: usize) -> impl Iterator<Item = (usize, usize)> {
    std::iter::successors(Some(1usize), |m| m.checked_mul(2))
        .take_while(move |&m| m < size)
        .map(move |m| (m, m.min(size - m)))
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    send: Option<&[T]>,
    recv: &mut [T],
    root: Rank,
) -> Result<()> {
    let (rank, p, b) = (ctx.rank(), ctx.size(), recv.len());
    let rel = (rank + p - root) % p;
    let actual = |r: usize| (r + root) % p;
    let size = subtree(p, rel);
    if rel == 0 {
        let send =
            send.ok_or_else(|| Error::new(ErrorKind::Internal, "scatter root without data"))?;
        recv.copy_from_slice(&send[root * b..(root + 1) * b]);
        // Relative block r is rank r + root's; a child's blocks are contiguous in the send
        // buffer unless they wrap past rank p - 1, which happens to one child at most.
        let mut wrapped = Vec::new();
        for (mask, len) in children(size) {
            let start = actual(mask);
            if start + len > p {
                wrapped.extend_from_slice(&send[start * b..]);
                wrapped.extend_from_slice(&send[..(start + len - p) * b]);
            }
        }
        let sends = children(size).map(|(mask, len)| {
            let start = actual(mask);
            let data = if start + len > p {
                &wrapped[..]
            } else {
                &send[start * b..(start + len) * b]
            };
            ctx.send(start, mask.trailing_zeros(), data)
        });
        try_join_all(sends).await?;
        return Ok(());
    }
    let lowbit = 1 << rel.trailing_zeros();
    let payload = ctx
        .recv::<T>(actual(rel - lowbit), lowbit.trailing_zeros(), size * b)
        .await?;
    let data = payload.as_slice();
    recv.copy_from_slice(&data[..b]);
    let sends = children(size).map(|(mask, len)| {
        ctx.send(
            actual(rel + mask),
            mask.trailing_zeros(),
            &data[mask * b..(mask + len) * b],
        )
    });
    try_join_all(sends).await?;
    Ok(())
}
