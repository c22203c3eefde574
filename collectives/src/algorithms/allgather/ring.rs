//! Pipelined ring allgather.
//!
//! The ring of R. Thakur, R. Rabenseifner and W. Gropp, "Optimization of collective
//! communication operations in MPICH", IJHPCA 19(1), 2005, §4.1 (MPICH
//! `allgather_intra_ring.c`), the allgather half of Patarasuk and Yuan's ring allreduce. In
//! step s (0 ≤ s < p − 1) rank r sends block r − s to rank r + 1 and receives block
//! r − s − 1 from rank r − 1 (indices mod p). Each block travels in chunks of at most
//! [`CHUNK_BYTES`]; a chunk is stored and forwarded at once as part of the next step, so the
//! copy out of each message overlaps the transfer of the later chunks. Nearest-neighbour
//! traffic only, which is what makes it the choice for long messages.
//!
//! Cost: (p−1)·α + ((p−1)/p)·n·max(β, δ) + (p−1)·c·min(β, δ), with δ the time to copy a
//! byte and c = min(n/p, chunk) the one chunk per step whose transfer and copy do not
//! overlap.
//!
//! Traffic: every block b is sent once by every rank but b − 1, in its chunks:
//! (p−1)·Σ_b chunks(b) messages and (p−1)·n bytes.

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::copy_seconds_per_byte;
use crate::algorithms::context::Payload;
use crate::algorithms::pipeline::{CHUNK_BYTES, Fold, ring_pass, ring_traffic};
use crate::error::Result;
use crate::types::Element;

/// (p−1)·α + ((p−1)/p)·n·max(β, δ) + (p−1)·min(n/p, chunk)·min(β, δ).
#[allow(clippy::cast_precision_loss)]
pub(super) fn cost(input: &CostInput) -> f64 {
    let (p, n) = (input.p(), input.n());
    let (beta, delta) = (input.beta(), copy_seconds_per_byte(input));
    let chunk = (n / p).min(CHUNK_BYTES as f64);
    (p - 1.0) * (input.alpha() + chunk * beta.min(delta)) + (p - 1.0) / p * n * beta.max(delta)
}

/// (p−1)·Σ_b chunks(b) messages, (p−1)·n bytes.
pub(super) fn traffic(blocks: &Blocks, elem: usize) -> Traffic {
    ring_traffic(blocks, elem)
}

pub(crate) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], blocks: &Blocks) -> Result<()> {
    let store = Fold::<fn(&mut [T], Payload<T>)>::Store;
    ring_pass(ctx, buf, blocks, 0, store).await
}
