//! Chunked, pipelined transfers shared by the ring algorithms.
//!
//! A block is cut into chunks of at most [`CHUNK_BYTES`]; both ends derive the cut from the
//! block's length alone, so they agree on the chunk count without telling each other. A
//! received chunk is consumed (reduced or stored, then forwarded) while the later chunks are
//! still in flight, so local work overlaps the transfer and each message stays small.

use std::future::Future;
use std::ops::Range;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

use crate::algorithms::blocks::Blocks;
use crate::algorithms::context::{OpCtx, Payload};
use crate::algorithms::cost::Traffic;
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::types::Element;

/// The largest payload of one pipeline chunk, in bytes: large enough that the per-message
/// cost stays small next to the transfer, small enough to stay in cache while it is reduced.
pub(crate) const CHUNK_BYTES: usize = 64 << 10;

/// The largest payload of one chunk where no rank forwards what it receives (a broadcast
/// between two ranks): chunks there only bound the records, as there is no later hop for
/// them to overlap with, so they are larger and fewer (1 MiB on 2 ranks: 120 µs against
/// 210 µs in 64 KiB chunks, benches/README.md).
pub(crate) const ONE_HOP_CHUNK_BYTES: usize = 512 << 10;

/// How many chunks of its first block a ring rank sends ahead of what it has received.
pub(crate) const SEND_WINDOW: u32 = 32;

/// How a block of some length is cut into pipeline chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunks {
    per_chunk: usize,
    count: u32,
}

impl Chunks {
    /// The chunks of a block on `profile`'s medium: pipeline chunks on direct links; the
    /// whole block in one message through a server, where every message is a request and
    /// the transport cuts large ones itself.
    pub(crate) fn on(profile: &LinkProfile, len: usize, elem: usize) -> Chunks {
        if profile.via_server {
            Chunks {
                per_chunk: len.max(1),
                count: 1,
            }
        } else {
            Chunks::new(len, elem)
        }
    }

    /// The chunks of a block of `len` elements of `elem` bytes: at least one, so that an empty
    /// block still sends one (empty) message and ranks that disagree on counts still meet.
    pub(crate) fn new(len: usize, elem: usize) -> Chunks {
        Chunks::sized(len, elem, CHUNK_BYTES)
    }

    /// The chunks of a block of `len` elements of `elem` bytes, in chunks of at most
    /// `bytes` (at least one element each).
    pub(crate) fn sized(len: usize, elem: usize, bytes: usize) -> Chunks {
        let per_chunk = (bytes / elem.max(1)).max(1);
        let count = len.div_ceil(per_chunk).max(1);
        Chunks {
            per_chunk,
            count: u32::try_from(count).expect("fewer than 2^32 chunks in a block"),
        }
    }

    /// `block` cut into these chunks, each borrowed on its own (one empty piece for an empty
    /// block), so that one chunk can be sent from while another is written.
    pub(crate) fn split<T>(self, block: &mut [T]) -> Vec<&mut [T]> {
        if block.is_empty() {
            vec![block]
        } else {
            block.chunks_mut(self.per_chunk).collect()
        }
    }

    /// The number of chunks.
    pub(crate) fn count(self) -> u32 {
        self.count
    }

    /// The elements of chunk `k` of the block that occupies `block`.
    pub(crate) fn range(self, block: &Range<usize>, k: u32) -> Range<usize> {
        let start = (block.start + k as usize * self.per_chunk).min(block.end);
        start..(start + self.per_chunk).min(block.end)
    }
}

/// The traffic of a pipelined ring that passes every block p − 1 times in its chunks:
/// (p−1)·Σ_b chunks(b) messages and (p−1)·n bytes.
pub(crate) fn ring_traffic(blocks: &Blocks, elem: usize) -> Traffic {
    let mut t = Traffic::default();
    for b in 0..blocks.len() {
        let range = blocks.range(b);
        let chunks = Chunks::new(range.len(), elem);
        for k in 0..chunks.count() {
            let bytes = chunks.range(&range, k).len() * elem;
            for _ in 1..blocks.len() {
                t.message(bytes);
            }
        }
    }
    t
}

/// Awaits `f` while driving the sends queued in `sends`, so that messages leave as soon as
/// the transport takes them even while this rank waits for a receive. A failed send ends the
/// wait with its error.
pub(crate) async fn while_sending<F, S>(f: F, sends: &mut FuturesUnordered<S>) -> Result<F::Output>
where
    F: Future,
    S: Future<Output = Result<()>>,
{
    let mut f = std::pin::pin!(f);
    loop {
        tokio::select! {
            out = &mut f => return Ok(out),
            Some(sent) = sends.next(), if !sends.is_empty() => sent?,
        }
    }
}

/// Polls the sends queued in `sends` once, without waiting: a send whose peer can take it
/// now leaves now instead of at the next wait. A failed send is returned.
pub(crate) fn drive_sends<S>(sends: &mut FuturesUnordered<S>) -> Result<()>
where
    S: Future<Output = Result<()>>,
{
    while let Some(Some(sent)) = sends.next().now_or_never() {
        sent?;
    }
    Ok(())
}

/// Sends `send` to `to` and receives `recv` from `from` as step `step`, both cut into
/// pipeline chunks: every received chunk is copied out while later ones are in flight, and
/// the sends, written from `send` where the transport can, run at most [`SEND_WINDOW`]
/// chunks ahead of the receives. Both ends derive the chunk count from the block's length, so the exchanges of a
/// pairwise all-to-all need no extra message.
pub(crate) async fn exchange<T: Element>(
    ctx: &OpCtx<'_>,
    (to, from): (usize, usize),
    step: u32,
    send: &[T],
    recv: &mut [T],
) -> Result<()> {
    let (elem, profile) = (size_of::<T>(), ctx.transport().profile());
    let outgoing = Chunks::on(&profile, send.len(), elem);
    let incoming = Chunks::on(&profile, recv.len(), elem);
    let (whole_send, whole_recv) = (0..send.len(), 0..recv.len());
    let mut sends = FuturesUnordered::new();
    let mut sent = 0;
    for k in 0..incoming.count() {
        while sent < outgoing.count().min(k.saturating_add(SEND_WINDOW)) {
            let range = outgoing.range(&whole_send, sent);
            let chunk = (step, sent, outgoing.count());
            sends.push(ctx.send_chunk_from(to, chunk, &send[range]));
            sent += 1;
        }
        drive_sends(&mut sends)?;
        let range = incoming.range(&whole_recv, k);
        let recv_chunk = ctx.recv_chunk_into(from, step, (k, incoming.count()), &mut recv[range]);
        while_sending(recv_chunk, &mut sends).await??;
    }
    while sent < outgoing.count() {
        let range = outgoing.range(&whole_send, sent);
        let chunk = (step, sent, outgoing.count());
        sends.push(ctx.send_chunk_from(to, chunk, &send[range]));
        sent += 1;
    }
    finish_sends(&mut sends).await
}

/// The messages and bytes of sending a block of `len` elements of `elem` bytes once, in the
/// chunks of [`Chunks::on`] `profile`'s medium.
pub(crate) fn chunked_traffic(t: &mut Traffic, profile: &LinkProfile, len: usize, elem: usize) {
    chunks_traffic(t, Chunks::on(profile, len, elem), len, elem);
}

/// The messages and bytes of sending a block of `len` elements of `elem` bytes once, cut
/// into `chunks`.
pub(crate) fn chunks_traffic(t: &mut Traffic, chunks: Chunks, len: usize, elem: usize) {
    let block = 0..len;
    for k in 0..chunks.count() {
        t.message(chunks.range(&block, k).len() * elem);
    }
}

/// Awaits every send still queued in `sends`.
pub(crate) async fn finish_sends<S>(sends: &mut FuturesUnordered<S>) -> Result<()>
where
    S: Future<Output = Result<()>>,
{
    while let Some(sent) = sends.next().await {
        sent?;
    }
    Ok(())
}

/// `buf` cut into the pipeline chunks of each of `blocks` ([`Chunks::split`]): `pieces[b][k]`
/// is chunk k of block b.
fn pieces<'b, T>(buf: &'b mut [T], blocks: &Blocks) -> Vec<Vec<&'b mut [T]>> {
    let mut rest = &mut buf[blocks.span(0, 0).start..];
    let mut pieces = Vec::with_capacity(blocks.len());
    for b in 0..blocks.len() {
        let (block, after) = std::mem::take(&mut rest).split_at_mut(blocks.range(b).len());
        rest = after;
        pieces.push(Chunks::new(block.len(), size_of::<T>()).split(block));
    }
    pieces
}

/// What a ring pass does with each chunk it receives.
pub(crate) enum Fold<F> {
    /// Stores it in its place in the buffer (allgather): received straight into it where
    /// the transport can.
    Store,
    /// Combines it into the buffer's chunk with this function (reduce-scatter).
    Merge(F),
}

/// The chunked ring both ring algorithms run (p − 1 steps). Rank r first sends block
/// r − `lag`; at step s it receives block r − s − 1 − `lag` from rank r − 1 chunk by chunk,
/// folds each chunk into `buf` with `merge` as soon as it arrives, and passes it on to rank
/// r + 1 unless the step is the last, so transfer and merging overlap. Allgather stores
/// (`lag` 0); reduce-scatter combines (`lag` 1, so block r is complete at the end). Every
/// chunk of `buf` is written at most once in a pass and only read after that (the first
/// block is never received), so the sends are written from `buf` itself where the transport
/// can.
pub(crate) async fn ring_pass<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
    lag: usize,
    fold: Fold<impl Fn(&mut [T], Payload<T>)>,
) -> Result<()> {
    let (r, p) = (ctx.rank(), ctx.size());
    if p == 1 {
        return Ok(());
    }
    let next = (r + 1) % p;
    let prev = (r + p - 1) % p;
    let mut pieces = pieces(buf, blocks);
    let mut sends = FuturesUnordered::new();
    // The first block leaves at most SEND_WINDOW chunks ahead of what this rank has
    // received, so that the sends of later steps are not queued behind all of it.
    let first: Vec<&[T]> = std::mem::take(&mut pieces[(r + p - lag) % p])
        .into_iter()
        .map(|piece| -> &[T] { piece })
        .collect();
    let first_count = u32::try_from(first.len()).expect("fewer than 2^32 chunks in a block");
    let mut first_sent = 0;
    macro_rules! send_first_upto {
        ($upto:expr) => {
            while first_sent < first_count.min($upto) {
                let chunk = (0, first_sent, first_count);
                sends.push(ctx.send_chunk_from(next, chunk, first[first_sent as usize]));
                first_sent += 1;
            }
        };
    }
    send_first_upto!(SEND_WINDOW);
    let steps = p - 1;
    let mut received = 0;
    for s in 0..steps {
        let block = std::mem::take(&mut pieces[(r + 2 * p - s - 1 - lag) % p]);
        let count = u32::try_from(block.len()).expect("fewer than 2^32 chunks in a block");
        let step = s as u32;
        for (k, piece) in (0..count).zip(block) {
            received += 1;
            send_first_upto!(received + SEND_WINDOW);
            match &fold {
                Fold::Store => {
                    let recv = ctx.recv_chunk_into(prev, step, (k, count), &mut *piece);
                    while_sending(recv, &mut sends).await??;
                }
                Fold::Merge(merge) => {
                    let recv = ctx.recv_chunk::<T>(prev, step, k, count, piece.len());
                    merge(piece, while_sending(recv, &mut sends).await??);
                }
            }
            if s + 1 < steps {
                let piece: &[T] = piece;
                sends.push(ctx.send_chunk_from(next, (step + 1, k, count), piece));
            }
        }
    }
    send_first_upto!(u32::MAX);
    finish_sends(&mut sends).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_block_and_agree_on_count() {
        let per = CHUNK_BYTES / 8;
        for len in [0, 1, per - 1, per, per + 1, 3 * per + 5] {
            let c = Chunks::new(len, 8);
            let block = 10..10 + len;
            let covered: usize = (0..c.count()).map(|k| c.range(&block, k).len()).sum();
            assert_eq!(covered, len);
            assert_eq!(c.count() as usize, len.div_ceil(per).max(1));
            for k in 1..c.count() {
                assert_eq!(c.range(&block, k - 1).end, c.range(&block, k).start);
            }
        }
        assert_eq!(Chunks::new(0, 4).range(&(3..3), 0), 3..3);
    }

    #[test]
    fn pieces_are_the_chunks_of_every_block() {
        let per = CHUNK_BYTES / 4;
        let blocks = Blocks::from_counts(&[0, 3, per + 1, 2 * per]);
        let mut buf: Vec<u32> = (0..blocks.span(0, 4).len() as u32).collect();
        let pieces = pieces(&mut buf, &blocks);
        let lens: Vec<Vec<usize>> = pieces
            .iter()
            .map(|b| b.iter().map(|p| p.len()).collect())
            .collect();
        assert_eq!(lens, [vec![0], vec![3], vec![per, 1], vec![per, per]]);
        for (b, chunks) in pieces.iter().enumerate() {
            let whole = blocks.range(b);
            let c = Chunks::new(whole.len(), 4);
            for (k, piece) in chunks.iter().enumerate() {
                let want: Vec<u32> = c.range(&whole, k as u32).map(|i| i as u32).collect();
                assert_eq!(&piece[..], &want[..], "block {b} chunk {k}");
            }
        }
    }

    #[test]
    fn a_block_through_a_server_is_one_message_and_on_a_direct_link_is_chunked() {
        let server = LinkProfile {
            via_server: true,
            ..LinkProfile::IN_PROCESS
        };
        let len = 3 * CHUNK_BYTES / 4 + 1;
        assert_eq!(Chunks::on(&server, len, 4).count(), 1);
        assert_eq!(Chunks::on(&server, len, 4).range(&(0..len), 0), 0..len);
        assert_eq!(Chunks::on(&server, 0, 4).count(), 1);
        assert_eq!(Chunks::on(&LinkProfile::IN_PROCESS, len, 4).count(), 4);
        let (mut through, mut direct) = (Traffic::default(), Traffic::default());
        chunked_traffic(&mut through, &server, len, 4);
        chunked_traffic(&mut direct, &LinkProfile::IN_PROCESS, len, 4);
        assert_eq!((through.messages, through.bytes), (1, 4 * len as u64));
        assert_eq!((direct.messages, direct.bytes), (4, 4 * len as u64));
    }
}
