//! Bruck's all-to-all.
//!
//! J. Bruck, C.-T. Ho, S. Kipnis, E. Upfal, D. Weathersby, "Efficient algorithms for
//! all-to-all communications in multiport message-passing systems", IEEE TPDS 8(11), 1997
//! (the index algorithm; MPICH's `alltoall_intra_brucks`). Works for any p in ⌈lg p⌉ rounds:
//!
//! 1. rotate locally, so that block i is the one bound for rank + i;
//! 2. in round k, send every block whose index has bit k set to rank + 2^k, and receive the
//!    same positions from rank - 2^k; a block with index i thus travels i ranks in all, and
//!    ends on its destination still at index i, now holding what rank - i sent;
//! 3. put block i at index rank - i (an in-place involution, done by swaps).
//!
//! The rotation runs from the send buffer into the receive buffer, and the rounds work in
//! the receive buffer itself; the blocks of a round are packed into a scratch window of at
//! most [`WINDOW_BYTES`] and sent as chunks of that size, so scratch stays bounded whatever
//! n is. Each block is sent about lg p / 2 times, so this is the algorithm for small blocks
//! at larger p, where its ⌈lg p⌉ latencies beat pairwise exchange's p - 1.
//!
//! With b = n/p the block size, c_k the number of indices in 0..p with bit k set (about p/2)
//! and w_k = max(1, ⌈c_k·b / WINDOW_BYTES⌉) the chunks of round k: cost
//! Σ_k (w_k·α + c_k·b·β) + (2·Σ_k c_k·b + 2n)·γ (packing, unpacking, rotation and the final
//! swaps). Traffic: in round k every rank sends w_k messages with c_k·b bytes in all, so
//! p·Σ_k w_k messages and p·b·Σ_k c_k bytes (the window is counted in whole elements).

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::types::Element;

/// The largest chunk a round sends, and so the scratch a rank needs.
pub(crate) const WINDOW_BYTES: usize = 256 * 1024;

/// The elements of `elem` bytes in one window (at least one).
fn window_elems(elem: usize) -> usize {
    (WINDOW_BYTES / elem.max(1)).max(1)
}

/// The number of chunks of at most `window` elements that carry `total` (at least one, so
/// that an empty round still exchanges a message).
fn chunk_count(total: usize, window: usize) -> usize {
    total.div_ceil(window).max(1)
}

/// The block indices in `0..p` that round `dist = 2^k` moves: those with bit k set.
fn moved(p: usize, dist: usize) -> impl Iterator<Item = usize> {
    (0..p).filter(move |i| i & dist != 0)
}

/// The distances 1, 2, 4, ... below p: one per round.
fn distances(p: usize) -> impl Iterator<Item = usize> {
    std::iter::successors(Some(1usize), |d| d.checked_mul(2)).take_while(move |&d| d < p)
}

/// Σ_k (w_k·α + c_k·b·β) + (2·Σ_k c_k·b + 2n)·γ.
#[allow(clippy::cast_precision_loss)]
pub(super) fn cost(input: &CostInput) -> f64 {
    let (p, n) = (input.ranks, input.n());
    let block = n / input.p();
    let mut t = 0.0;
    let mut packed_total = 0.0;
    for dist in distances(p) {
        let packed = moved(p, dist).count() as f64 * block;
        let chunks = (packed / WINDOW_BYTES as f64).ceil().max(1.0);
        t += chunks * input.alpha() + packed * input.beta();
        packed_total += packed;
    }
    t + (2.0 * packed_total + 2.0 * n) * input.gamma()
}

/// p·Σ_k w_k messages carrying p·b·Σ_k c_k bytes.
pub(super) fn traffic(p: usize, block: usize, elem: usize) -> Traffic {
    let window = window_elems(elem);
    let mut t = Traffic::default();
    for dist in distances(p) {
        let total = moved(p, dist).count() * block;
        let chunks = chunk_count(total, window);
        t = t + Traffic {
            messages: (p * chunks) as u64,
            bytes: (p * total * elem) as u64,
        };
    }
    t
}

/// Calls `f(at, from, len)` for each piece of elements `range` of the stream formed by the
/// blocks `picked` (each `block` long, in order): `at` is the piece's offset in the buffer,
/// `from` its offset from `range.start`.
fn for_pieces(
    picked: &[usize],
    block: usize,
    range: std::ops::Range<usize>,
    mut f: impl FnMut(usize, usize, usize),
) {
    let mut pos = range.start;
    while pos < range.end {
        let (j, off) = (pos / block, pos % block);
        let len = (block - off).min(range.end - pos);
        f(picked[j] * block + off, pos - range.start, len);
        pos += len;
    }
}

/// A round or chunk number as frame headers carry it (fewer than 64 rounds; chunk counts
/// would need exabytes to overflow).
fn header_u32(x: usize) -> u32 {
    u32::try_from(x).expect("a round or chunk number fits a frame header")
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: &mut [T],
    block: usize,
) -> Result<()> {
    let (rank, p) = (ctx.rank(), ctx.size());
    let n = p * block;
    // Rotate: block i is the one bound for rank + i.
    let split = rank * block;
    recv[..n - split].copy_from_slice(&send[split..]);
    recv[n - split..].copy_from_slice(&send[..split]);

    let window = window_elems(size_of::<T>());
    let mut scratch: Vec<T> = Vec::new();
    let mut picked: Vec<usize> = Vec::with_capacity(p.div_ceil(2));
    for (round, dist) in distances(p).enumerate() {
        let step = header_u32(round);
        let (to, from) = ((rank + dist) % p, (rank + p - dist) % p);
        picked.clear();
        picked.extend(moved(p, dist));
        let total = picked.len() * block;
        let chunks = chunk_count(total, window);
        let wire_chunks = header_u32(chunks);
        for c in 0..chunks {
            let range = (c * window).min(total)..((c + 1) * window).min(total);
            scratch.clear();
            for_pieces(&picked, block, range.clone(), |at, _, len| {
                scratch.extend_from_slice(&recv[at..at + len]);
            });
            let chunk = header_u32(c);
            let (sent, got) = tokio::join!(
                ctx.send_chunk(to, step, chunk, wire_chunks, &scratch),
                ctx.recv_chunk::<T>(from, step, chunk, wire_chunks, range.len()),
            );
            let got = got?;
            sent?;
            let got = got.as_slice();
            for_pieces(&picked, block, range, |at, off, len| {
                recv[at..at + len].copy_from_slice(&got[off..off + len]);
            });
        }
    }

    // Block i now holds what rank - i sent; it belongs at index rank - i.
    if block > 0 {
        for i in 0..p {
            let j = (rank + p - i) % p;
            if i < j {
                let (lo, hi) = recv.split_at_mut(j * block);
                lo[i * block..(i + 1) * block].swap_with_slice(&mut hi[..block]);
            }
        }
    }
    Ok(())
}
