//! Reduce-scatter through a store: the first half of LambdaML's ScatterReduce.
//!
//! J. Jiang, S. Gan, Y. Liu, F. Wang, G. Alonso, A. Klimovic, A. Singla, W. Wu, C. Zhang,
//! "Towards Demystifying Serverless Machine Learning Training", SIGMOD 2021, §3.3
//! (ScatterReduce over S3, memcached and Redis). Every rank puts block j of its vector as
//! an object for rank j (p − 1 puts), and rank j gets the p − 1 objects for it, removes
//! each (it is their only reader) and reduces them with its own block. It reduces in rank
//! order, 0 to p − 1 with its own block in its place, so non-commutative reductions are
//! exact. One round of puts and one of gets whatever p; but each rank makes 2·(p − 1)
//! requests, and all (p − 1)·n bytes pass through the server twice.
//!
//! Cost (store model, [`CostInput::store_round`]), for p ≥ 2:
//! (α + (p − 1)·n·β) + (α + (p − 1)·n·β) + α + ((p − 1)/p)·n·γ
//! = 3·α + 2·(p − 1)·n·β + ((p − 1)/p)·n·γ; 0 for p = 1.
//!
//! Traffic: rank i puts and rank j gets block j of every rank i ≠ j, and removes it:
//! 3·p·(p − 1) requests and 2·(p − 1)·n bytes (none for p = 1).

use futures_util::future::{try_join, try_join_all};

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// 3·α + 2·(p − 1)·n·β + ((p − 1)/p)·n·γ (0 on one rank).
pub(crate) fn cost(input: &CostInput) -> f64 {
    if input.ranks <= 1 {
        return 0.0;
    }
    let (p, n) = (input.p(), input.n());
    let moved = (p - 1.0) * n;
    input.store_round(moved) + input.store_round(moved) + input.alpha() + moved / p * input.gamma()
}

/// For every rank i and block j ≠ i: a put and a get of block j, and a remove.
pub(crate) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let p = blocks.len();
    let mut t = Traffic::default();
    for i in 0..p {
        for j in (0..p).filter(|&j| j != i) {
            t.message(blocks.count(j) * elem);
            t.message(blocks.count(j) * elem);
            t.requests(1);
        }
    }
    t
}

/// The chunk that names the object for block `j`.
pub(crate) fn chunk(j: usize) -> u32 {
    u32::try_from(j).unwrap_or(u32::MAX)
}

pub(crate) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
    op: &Reduction<T>,
) -> Result<()> {
    let (r, p) = (ctx.rank(), ctx.size());
    if p == 1 {
        return Ok(());
    }
    let puts: Vec<_> = (0..p)
        .filter(|&j| j != r)
        .map(|j| ctx.put(0, chunk(j), &buf[blocks.range(j)]))
        .collect();
    let len = blocks.count(r);
    let gets = (0..p).filter(|&q| q != r).map(|q| async move {
        let block = ctx.get::<T>(q, 0, chunk(r), len).await?;
        ctx.release(q, 0, chunk(r), 1).await?;
        Ok(block)
    });
    let (_, got) = try_join(try_join_all(puts), try_join_all(gets)).await?;
    // got[q] for q < r, got[q - 1] for q > r: fold in rank order around the own block.
    let (below, above) = got.split_at(r);
    let own = &mut buf[blocks.range(r)];
    if let Some((first, rest)) = below.split_first() {
        let mut left = first.as_slice().into_owned();
        for x in rest {
            op.combine(&mut left, &x.as_slice());
        }
        op.combine_from_left(&left, own);
    }
    for x in above {
        op.combine(own, &x.as_slice());
    }
    Ok(())
}
