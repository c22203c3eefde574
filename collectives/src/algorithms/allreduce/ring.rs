//! Ring allreduce: ring reduce-scatter, then ring allgather.
//!
//! P. Patarasuk and X. Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
//! workstations", JPDC 69(2), 2009 (MPICH's `allreduce_intra_ring`, gloo's
//! `allreduce_ring`). The vector is cut into p balanced blocks; a ring reduce-scatter leaves
//! block i fully reduced on rank i, and a ring allgather passes the reduced blocks around.
//! Every rank sends and receives 2·(p - 1)/p·n bytes, the least any allreduce can, at the
//! price of 2·(p - 1) rounds; for large messages. The pipelining of each round's message
//! (so that reduction overlaps transfer) lives in the ring reduce-scatter. A block's partial
//! result travels round the ring starting after its owner, so the order of the operands
//! wraps: commutative reductions only.
//!
//! Cost: the ring reduce-scatter's plus the ring allgather's, about
//! 2·(p - 1)·α + 2·(p - 1)/p·n·β + (p - 1)/p·n·γ (the pipelined reduce-scatter hides most of
//! the γ term behind the β term).
//!
//! Traffic: the ring reduce-scatter's plus the ring allgather's over `Blocks::balanced(n, p)`:
//! 2·(p - 1)·n bytes in all, in 2·p·(p - 1) messages when no block needs more than one chunk.

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::{Algorithm, allgather, reduce_scatter};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// The ring reduce-scatter's cost plus the ring allgather's (both take n = the whole
/// vector); `None` for a non-commutative reduction.
pub(super) fn cost(input: &CostInput) -> Option<f64> {
    if !input.commutative {
        return None;
    }
    Some(reduce_scatter::cost(Algorithm::Ring, input)? + allgather::cost(Algorithm::Ring, input)?)
}

/// The ring reduce-scatter's traffic plus the ring allgather's.
pub(super) fn traffic(p: usize, count: usize, elem: usize) -> Traffic {
    let blocks = Blocks::balanced(count, p);
    reduce_scatter::traffic(Algorithm::Ring, &blocks, elem)
        + allgather::traffic(Algorithm::Ring, &blocks, elem)
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
) -> Result<()> {
    let blocks = Blocks::balanced(buf.len(), ctx.size());
    reduce_scatter::run(Algorithm::Ring, &ctx.phase(1), buf, &blocks, op).await?;
    allgather::run(Algorithm::Ring, &ctx.phase(2), buf, &blocks).await
}
