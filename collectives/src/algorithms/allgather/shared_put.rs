//! Allgather through a store: every rank puts its block once and gets everyone else's.
//!
//! The gather half of LambdaML's ScatterReduce (J. Jiang et al., "Towards Demystifying
//! Serverless Machine Learning Training", SIGMOD 2021, §3.3), and the way Cirrus-style
//! workers share their state through storage. Each block object has p − 1 readers; the last
//! to release it removes it. One round of puts and one of gets whatever p, but every byte
//! passes through the store's server, where the p − 1 reads of each block queue up.
//!
//! Cost (store model, [`CostInput::store_round`]), for p ≥ 2:
//! (α + n·β) + (α + (p − 1)·n·β) + r·α = (2 + r)·α + p·n·β, with r = 1 release round for
//! p = 2 and 2 otherwise; 0 for p = 1.
//!
//! Traffic: p puts (n bytes in all), p·(p − 1) gets ((p − 1)·n bytes) and p releases of
//! p − 1 readers (1 request each for p = 2, p + 1 otherwise); none for p = 1.

use futures_util::future::{try_join, try_join_all};

use super::super::blocks::Blocks;
use super::super::context::{OpCtx, release_requests};
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::types::Element;

/// (2 + r)·α + p·n·β (0 on one rank).
pub(super) fn cost(input: &CostInput) -> f64 {
    if input.ranks <= 1 {
        return 0.0;
    }
    let (p, n) = (input.p(), input.n());
    input.store_round(n) + input.store_round((p - 1.0) * n) + input.store_release(input.ranks - 1)
}

/// A put of every block, p − 1 gets of it, and its release.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let p = blocks.len();
    let mut t = Traffic::default();
    if p <= 1 {
        return t;
    }
    for b in 0..p {
        for _ in 0..p {
            t.message(blocks.count(b) * elem);
        }
        t.requests(release_requests(p - 1));
    }
    t
}

pub(crate) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], blocks: &Blocks) -> Result<()> {
    let (r, p) = (ctx.rank(), ctx.size());
    if p == 1 {
        return Ok(());
    }
    let put = ctx.put(0, 0, &buf[blocks.range(r)]);
    // One disjoint slice per block, so the gets can fill them at once.
    let mut parts = Vec::with_capacity(p);
    let mut rest = buf;
    for b in 0..p {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(blocks.count(b));
        parts.push(part);
        rest = tail;
    }
    let gets = parts
        .into_iter()
        .enumerate()
        .filter(|&(q, _)| q != r)
        .map(|(q, part)| async move {
            ctx.get::<T>(q, 0, 0, part.len()).await?.copy_to(part);
            ctx.release(q, 0, 0, p - 1).await
        });
    try_join(put, try_join_all(gets)).await?;
    Ok(())
}
