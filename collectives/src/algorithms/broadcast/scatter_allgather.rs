//! Scatter-allgather broadcast for large messages.
//!
//! Van de Geijn's broadcast (M. Barnett, L. Shuler, R. van de Geijn, S. Gupta, D. Payne,
//! J. Watts, "Interprocessor collective communication library (InterCom)", SHPCC 1994), as
//! MPICH's `bcast_intra_scatter_ring_allgather` runs it (Thakur, Rabenseifner and Gropp,
//! IJHPCA 2005): the root's buffer, cut into `Blocks::balanced(n, p)` (block i for rank i),
//! is scattered down a binomial tree rooted at the root, then a ring allgather hands every
//! rank every block. Each rank sends about 2n bytes instead of the n·⌈lg p⌉ the root of a
//! binomial broadcast sends, at the price of p - 1 more rounds.
//!
//! The tree works on ranks relative to the root, the blocks on actual ranks, so a subtree's
//! blocks wrap past the last rank when the root is not rank 0; such a subtree is sent as two
//! chunks (its blocks up to the last rank, then from rank 0), never copied together.
//!
//! Cost: (⌈lg p⌉ + p - 1)·α + 2·((p-1)/p)·nβ.
//! Traffic: scatter, one message per non-root rank (two when its subtree's blocks wrap)
//! carrying the blocks of its subtree; then the ring allgather's traffic over the blocks.

use futures_util::future::try_join_all;

use super::super::Algorithm;
use super::super::allgather;
use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::types::{Element, Rank};

/// (⌈lg p⌉ + p - 1)α + 2((p-1)/p)nβ.
pub(super) fn cost(input: &CostInput) -> f64 {
    let p = input.p();
    (input.lg_p() + p - 1.0) * input.alpha() + 2.0 * (p - 1.0) / p * input.n() * input.beta()
}

/// The binomial scatter's messages plus the ring allgather's.
pub(super) fn traffic(p: usize, count: usize, elem: usize, root: Rank) -> Traffic {
    let blocks = Blocks::balanced(count, p);
    let tree = Tree { p, root };
    let mut t = Traffic::default();
    for relative in 1..p {
        let low = relative & relative.wrapping_neg();
        for part in tree.parts(&blocks, relative, low) {
            t.message(part.len() * elem);
        }
    }
    t + allgather::traffic(Algorithm::Ring, &blocks, elem)
}

/// The binomial tree over ranks relative to the root.
#[derive(Clone, Copy)]
struct Tree {
    p: usize,
    root: Rank,
}

impl Tree {
    /// The element ranges (one, or two when they wrap past rank p - 1) of the blocks of the
    /// subtree rooted at relative rank `relative`, which spans up to `span` relative ranks.
    fn parts(
        self,
        blocks: &Blocks,
        relative: usize,
        span: usize,
    ) -> impl Iterator<Item = std::ops::Range<usize>> {
        let len = span.min(self.p - relative);
        let first = (relative + self.root) % self.p;
        let end = first + len;
        let (head, tail) = if end <= self.p {
            (blocks.span(first, end), None)
        } else {
            (
                blocks.span(first, self.p),
                Some(blocks.span(0, end - self.p)),
            )
        };
        std::iter::once(head).chain(tail)
    }
}

pub(super) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], root: Rank) -> Result<()> {
    let p = ctx.size();
    if p == 1 {
        return Ok(());
    }
    let blocks = Blocks::balanced(buf.len(), p);
    scatter(ctx, buf, &blocks, root).await?;
    allgather::run(Algorithm::Ring, &ctx.phase(1), buf, &blocks).await
}

/// Binomial scatter: on return rank i holds block i (the root holds every block).
async fn scatter<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
    root: Rank,
) -> Result<()> {
    let p = ctx.size();
    let tree = Tree { p, root };
    let relative = (ctx.rank() + p - root) % p;
    let actual = |r: usize| (r + root) % p;
    // Receive this subtree's blocks from the parent, which differs in the lowest set bit.
    let mut mask = 1;
    while mask < p {
        if relative & mask != 0 {
            let parent = actual(relative - mask);
            let step = mask.trailing_zeros();
            let parts: Vec<_> = tree.parts(blocks, relative, mask).collect();
            let chunks = u32::try_from(parts.len()).expect("one or two parts");
            for (chunk, range) in (0u32..).zip(parts) {
                ctx.recv_chunk_into(parent, step, (chunk, chunks), &mut buf[range])
                    .await?;
            }
            break;
        }
        mask <<= 1;
    }
    // Hand each child its subtree's blocks, all children at once.
    let mut sends = Vec::new();
    mask >>= 1;
    while mask > 0 {
        let child = relative + mask;
        if child < p {
            let step = mask.trailing_zeros();
            let parts: Vec<_> = tree.parts(blocks, child, mask).collect();
            let chunks = u32::try_from(parts.len()).expect("one or two parts");
            for (chunk, range) in (0u32..).zip(parts) {
                sends.push(ctx.send_chunk(actual(child), step, chunk, chunks, &buf[range]));
            }
        }
        mask >>= 1;
    }
    try_join_all(sends).await?;
    Ok(())
}
