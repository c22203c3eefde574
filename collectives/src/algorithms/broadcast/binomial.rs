//! Binomial-tree broadcast.
//!
//! The classic tree of MPICH's `bcast_intra_binomial` (Thakur, Rabenseifner and Gropp,
//! IJHPCA 2005): with ranks renumbered relative to the root, rank r receives from r minus
//! its lowest set bit, then sends to r + 2^k for every 2^k below that bit. Latency-optimal;
//! the root's link carries the whole message lg p times.
//!
//! On a direct link the buffer travels in pipeline chunks: a rank forwards each chunk to its children as
//! soon as it has it, so every level of the tree works at once on a large buffer, and the
//! copy of a chunk out of its frame overlaps the transfer of the next. A buffer of one chunk
//! or less takes one message per edge, as the unpipelined tree does.
//!
//! Between two ranks nobody forwards, so the chunks are larger
//! ([`ONE_HOP_CHUNK_BYTES`]): they only bound the size of a record.
//!
//! Cost: ⌈lg p⌉·(α + n·β) (the root's link carries n bytes ⌈lg p⌉ times; pipelining takes the
//! store-and-forward of the whole buffer at every level off the critical path).
//! Traffic: p - 1 edges, each carrying n bytes in ⌈n / chunk⌉ messages (at least one) on a
//! direct link, in one message through a server.

use futures_util::stream::FuturesUnordered;

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::pipeline::{
    Chunks, ONE_HOP_CHUNK_BYTES, SEND_WINDOW, chunks_traffic, drive_sends, finish_sends,
    while_sending,
};
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::types::{Element, Rank};

/// ⌈lg p⌉·(α + nβ).
pub(super) fn cost(input: &CostInput) -> f64 {
    input.lg_p() * (input.alpha() + input.n() * input.beta())
}

/// p - 1 edges of `count` elements of `elem` bytes, each in the chunks of [`chunking`].
pub(super) fn traffic(p: usize, count: usize, elem: usize, profile: &LinkProfile) -> Traffic {
    let mut t = Traffic::default();
    for _ in 1..p {
        chunks_traffic(&mut t, chunking(profile, p, count, elem), count, elem);
    }
    t
}

/// How a buffer of `len` elements of `elem` bytes travels on `profile`'s medium among `p`
/// ranks: in pipeline chunks on direct links, in one-hop chunks between two ranks, and
/// whole through a server.
fn chunking(profile: &LinkProfile, p: usize, len: usize, elem: usize) -> Chunks {
    if p == 2 && !profile.via_server {
        Chunks::sized(len, elem, ONE_HOP_CHUNK_BYTES)
    } else {
        Chunks::on(profile, len, elem)
    }
}

/// A tree edge: the rank at its other end (relative to the root) and its step.
type Edge = (usize, u32);

/// The tree around `relative` (a rank relative to the root) among `p` ranks: its parent
/// (the rank that differs in its lowest set bit) and its children (relative + 2^k for every
/// 2^k below that bit, largest first), each with the step of their edge (k).
fn tree(relative: usize, p: usize) -> (Option<Edge>, Vec<Edge>) {
    let mut mask = 1;
    let mut parent = None;
    while mask < p {
        if relative & mask != 0 {
            parent = Some((relative - mask, mask.trailing_zeros()));
            break;
        }
        mask <<= 1;
    }
    let mut children = Vec::new();
    mask >>= 1;
    while mask > 0 {
        if relative + mask < p {
            children.push((relative + mask, mask.trailing_zeros()));
        }
        mask >>= 1;
    }
    (parent, children)
}

pub(super) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], root: Rank) -> Result<()> {
    let p = ctx.size();
    let actual = |r: usize| (r + root) % p;
    let (parent, children) = tree((ctx.rank() + p - root) % p, p);
    let chunks = chunking(&ctx.transport().profile(), p, buf.len(), size_of::<T>());
    // The buffer in its chunks: each is written once (received), then only read (sent from,
    // while later chunks arrive).
    let mut sends = FuturesUnordered::new();
    for (k, piece) in (0..chunks.count()).zip(chunks.split(buf)) {
        if let Some((from, step)) = parent {
            let chunk = (k, chunks.count());
            let recv = ctx.recv_chunk_into(actual(from), step, chunk, &mut *piece);
            while_sending(recv, &mut sends).await??;
        }
        let piece: &[T] = piece;
        for &(to, step) in &children {
            sends.push(ctx.send_chunk_from(actual(to), (step, k, chunks.count()), piece));
        }
        drive_sends(&mut sends)?;
        // Frames wait in memory only while the children are behind by a window.
        while sends.len() > SEND_WINDOW as usize * children.len().max(1) {
            if let Some(sent) = futures_util::StreamExt::next(&mut sends).await {
                sent?;
            }
        }
    }
    finish_sends(&mut sends).await
}

#[cfg(test)]
mod tests {
    use super::tree;

    #[test]
    fn every_rank_but_the_root_has_the_parent_that_lists_it() {
        for p in 1..=17 {
            assert_eq!(tree(0, p).0, None);
            for r in 1..p {
                let (parent, step) = tree(r, p).0.expect("a parent");
                assert!(parent < r);
                assert!(tree(parent, p).1.contains(&(r, step)), "p {p} rank {r}");
            }
            let edges: usize = (0..p).map(|r| tree(r, p).1.len()).sum();
            assert_eq!(edges, p - 1);
        }
    }
}
