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

use futures_util::stream::FuturesUnordered;

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::copy_seconds_per_byte;
use crate::algorithms::pipeline::{CHUNK_BYTES, Chunks, finish_sends, ring_traffic, while_sending};
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
    let (r, p) = (ctx.rank(), ctx.size());
    if p == 1 {
        return Ok(());
    }
    let (next, prev) = ((r + 1) % p, (r + p - 1) % p);
    let elem = size_of::<T>();
    let mut sends = FuturesUnordered::new();
    let own = blocks.range(r);
    let chunks = Chunks::new(own.len(), elem);
    for k in 0..chunks.count() {
        let range = chunks.range(&own, k);
        sends.push(ctx.send_chunk(next, 0, k, chunks.count(), &buf[range]));
    }
    let steps = p - 1;
    for s in 0..steps {
        let block = blocks.range((r + 2 * p - s - 1) % p);
        let chunks = Chunks::new(block.len(), elem);
        let step = s as u32;
        for k in 0..chunks.count() {
            let range = chunks.range(&block, k);
            let recv = ctx.recv_chunk::<T>(prev, step, k, chunks.count(), range.len());
            while_sending(recv, &mut sends)
                .await??
                .copy_to(&mut buf[range.clone()]);
            if s + 1 < steps {
                sends.push(ctx.send_chunk(next, step + 1, k, chunks.count(), &buf[range]));
            }
        }
    }
    finish_sends(&mut sends).await
}
