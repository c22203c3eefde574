//! Chunked, pipelined transfers shared by the ring algorithms.
//!
//! A block is cut into chunks of at most [`CHUNK_BYTES`]; both ends derive the cut from the
//! block's length alone, so they agree on the chunk count without telling each other. A
//! received chunk is consumed (reduced or stored, then forwarded) while the later chunks are
//! still in flight, so local work overlaps the transfer and each message stays small.

use std::future::Future;
use std::ops::Range;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::algorithms::blocks::Blocks;
use crate::algorithms::cost::Traffic;
use crate::error::Result;

/// The largest payload of one pipeline chunk, in bytes: large enough that the per-message
/// cost stays small next to the transfer, small enough to stay in cache while it is reduced.
pub(crate) const CHUNK_BYTES: usize = 64 << 10;

/// How a block of some length is cut into pipeline chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunks {
    per_chunk: usize,
    count: u32,
}

impl Chunks {
    /// The chunks of a block of `len` elements of `elem` bytes: at least one, so that an empty
    /// block still sends one (empty) message and ranks that disagree on counts still meet.
    pub(crate) fn new(len: usize, elem: usize) -> Chunks {
        let per_chunk = (CHUNK_BYTES / elem.max(1)).max(1);
        let count = len.div_ceil(per_chunk).max(1);
        Chunks {
            per_chunk,
            count: u32::try_from(count).expect("fewer than 2^32 chunks in a block"),
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
}
