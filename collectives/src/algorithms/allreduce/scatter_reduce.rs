//! Allreduce through a store: LambdaML's ScatterReduce.
//!
//! J. Jiang, S. Gan, Y. Liu, F. Wang, G. Alonso, A. Klimovic, A. Singla, W. Wu, C. Zhang,
//! "Towards Demystifying Serverless Machine Learning Training", SIGMOD 2021, §3.3: the
//! store-native allreduce of serverless training, the store's counterpart of the ring.
//! The vector is cut into `Blocks::balanced(n, p)`; the store reduce-scatter (rank i puts
//! block j for rank j, rank j reduces the p − 1 blocks for it in rank order) leaves block j
//! reduced on rank j, and the store allgather (each rank puts its reduced block, every rank
//! gets the others) hands every rank every block. Every object is removed by its last
//! reader. Four rounds of requests whatever p, and rank order is kept, so non-commutative
//! reductions are exact; but each rank makes about 4·(p − 1) requests and (3·p − 2)·n bytes
//! pass through the server.
//!
//! Cost (store model, [`CostInput::store_round`]): the store reduce-scatter's plus the
//! store allgather's, for p ≥ 2
//! (5 + r)·α + (3·p − 2)·n·β + ((p − 1)/p)·n·γ, with r = 1 release round for p = 2 and 2
//! otherwise; 0 for p = 1.
//!
//! Traffic: the store reduce-scatter's plus the store allgather's over
//! `Blocks::balanced(n, p)`: (3·p − 2)·n bytes; 4·p·(p − 1) + p requests plus p releases of
//! p − 1 readers (1 request each for p = 2, p + 1 otherwise).

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::{Algorithm, allgather, reduce_scatter};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// The store reduce-scatter's cost plus the store allgather's (both take n = the whole
/// vector); `None` without shared objects.
pub(super) fn cost(input: &CostInput) -> Option<f64> {
    Some(
        reduce_scatter::cost(Algorithm::ScatterReduce, input)?
            + allgather::cost(Algorithm::SharedPut, input)?,
    )
}

/// The store reduce-scatter's traffic plus the store allgather's.
pub(super) fn traffic(p: usize, count: usize, elem: usize) -> Traffic {
    let blocks = Blocks::balanced(count, p);
    reduce_scatter::traffic(Algorithm::ScatterReduce, &blocks, elem)
        + allgather::traffic(Algorithm::SharedPut, &blocks, elem)
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
) -> Result<()> {
    let blocks = Blocks::balanced(buf.len(), ctx.size());
    reduce_scatter::run(Algorithm::ScatterReduce, &ctx.phase(1), buf, &blocks, op).await?;
    allgather::run(Algorithm::SharedPut, &ctx.phase(2), buf, &blocks).await
}
