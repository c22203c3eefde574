//! Pipelined ring reduce-scatter.
//!
//! The reduce-scatter half of the bandwidth-optimal ring allreduce of P. Patarasuk and
//! X. Yuan, "Bandwidth optimal all-reduce algorithms for clusters of workstations", JPDC
//! 69(2), 2009 (MPICH `allreduce_intra_ring.c`). In step s (0 ≤ s < p − 1) rank r sends
//! its partial of block r − s − 1 to rank r + 1 and reduces the partial of block r − s − 2
//! that rank r − 1 sends into its own (indices mod p); after p − 1 steps block r holds the
//! reduction over all ranks. Every block travels in chunks of at most
//! [`CHUNK_BYTES`](crate::algorithms::pipeline::CHUNK_BYTES): a chunk is reduced as soon as it arrives
//! and forwarded at once as part of the next step, so reduction overlaps the transfer of the
//! later chunks and a block never waits for the whole of its predecessor. Partials combine
//! in ring order, not rank order, so only commutative reductions may use it.
//!
//! Cost: (p−1)·α + ((p−1)/p)·n·max(β, γ) + (p−1)·c·min(β, γ), where c = min(n/p, chunk) is
//! the one chunk per step whose transfer and reduction do not overlap.
//!
//! Traffic: every block b is sent by every rank but b, in its chunks:
//! (p−1)·Σ_b chunks(b) messages and (p−1)·n bytes.

use super::super::blocks::Blocks;
use super::super::context::{OpCtx, Payload};
use super::super::cost::{CostInput, Traffic};
use crate::algorithms::pipeline::{CHUNK_BYTES, Fold, ring_pass, ring_traffic};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// (p−1)·α + ((p−1)/p)·n·max(β, γ) + (p−1)·min(n/p, chunk)·min(β, γ).
#[allow(clippy::cast_precision_loss)]
pub(super) fn cost(input: &CostInput) -> f64 {
    let (p, n) = (input.p(), input.n());
    let (beta, gamma) = (input.beta(), input.gamma());
    let chunk = (n / p).min(CHUNK_BYTES as f64);
    (p - 1.0) * (input.alpha() + chunk * beta.min(gamma)) + (p - 1.0) / p * n * beta.max(gamma)
}

/// (p−1)·Σ_b chunks(b) messages, (p−1)·n bytes.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    ring_traffic(blocks, elem)
}

pub(crate) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
    op: &Reduction<T>,
) -> Result<()> {
    let merge = |dst: &mut [T], got: Payload<T>| op.combine(dst, &got.as_slice());
    ring_pass(ctx, buf, blocks, 1, Fold::Merge(merge)).await
}
