//! Linear (chain) scan and exscan, pipelined in chunks.
//!
//! The sequential prefix of MPI's reference implementations (MPICH's pre-2005 `MPI_Scan`,
//! Open MPI's `ompi_coll_base_scan_intra_linear`): rank r receives the prefix of ranks
//! 0..r from rank r - 1, folds in its own data on the right and passes the result to
//! rank r + 1. Operands meet in rank order, so non-commutative reductions are right. The
//! vector travels in chunks of at most [`CHUNK_BYTES`], and a rank forwards chunk k while it
//! receives chunk k + 1, so for large vectors the chain streams like a pipeline instead of
//! paying the whole transfer p - 1 times.
//!
//! Cost, with c = ⌈n / CHUNK_BYTES⌉ chunks: (p - 2 + c)·(α + (n/c)·(β + γ)) for p ≥ 2;
//! (p - 1)·(α + n(β + γ)) for a single chunk.
//! Traffic: (p - 1)·c messages, (p - 1)·n bytes in all (a count of 0 sends p - 1 empty
//! messages). The same for scan and exscan.

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// The largest chunk the chain forwards in one message.
pub(super) const CHUNK_BYTES: usize = 128 << 10;

/// Elements per chunk and the number of chunks for `count` elements of `elem` bytes (at
/// least one chunk, so a count of 0 still sends one empty message per link).
fn chunking(count: usize, elem: usize) -> (usize, usize) {
    let per = (CHUNK_BYTES / elem.max(1)).max(1);
    (per, count.div_ceil(per).max(1))
}

/// (p - 2 + c)·(α + (n/c)(β + γ)).
pub(super) fn cost(input: &CostInput) -> f64 {
    if input.ranks <= 1 {
        return 0.0;
    }
    let chunks = input.bytes.div_ceil(CHUNK_BYTES).max(1);
    #[allow(clippy::cast_precision_loss)]
    let c = chunks as f64;
    let per_chunk = input.n() / c;
    (input.p() - 2.0 + c) * (input.alpha() + per_chunk * (input.beta() + input.gamma()))
}

/// (p - 1)·c messages carrying n bytes per link.
pub(super) fn traffic(p: usize, count: usize, elem: usize) -> Traffic {
    let (per, chunks) = chunking(count, elem);
    let mut t = Traffic::default();
    for _ in 1..p {
        for k in 0..chunks {
            let len = per.min(count - (k * per).min(count));
            t.message(len * elem);
        }
    }
    t
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: &mut [T],
    op: &Reduction<T>,
    inclusive: bool,
) -> Result<()> {
    let (rank, p) = (ctx.rank(), ctx.size());
    let n = send.len();
    let (per, chunks) = chunking(n, size_of::<T>());
    let chunks_u32 = u32::try_from(chunks).expect("chunk count fits a header");
    let left = rank.checked_sub(1);
    let right = (rank + 1 < p).then_some(rank + 1);
    // What exscan forwards (its prefix with its own data folded in) when `recv` must keep
    // the prefix without it; one chunk, reused.
    let mut ahead: Vec<T> = Vec::new();
    // The send of the previous chunk, still to be driven.
    let mut previous = None;
    for k in 0..chunks {
        let range = (k * per).min(n)..((k + 1) * per).min(n);
        let chunk = u32::try_from(k).expect("chunk index fits a header");
        // Forward the previous chunk while this one arrives.
        let forward = async {
            match previous.take() {
                Some(f) => f.await,
                None => Ok(()),
            }
        };
        let incoming = async {
            match left {
                Some(l) => ctx
                    .recv_chunk::<T>(l, 0, chunk, chunks_u32, range.len())
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let (sent, got) = tokio::join!(forward, incoming);
        sent?;
        let out: &[T] = match got? {
            None if inclusive => {
                recv[range.clone()].copy_from_slice(&send[range.clone()]);
                &recv[range]
            }
            None => &send[range],
            Some(prefix) => {
                let mine = &mut recv[range.clone()];
                prefix.copy_to(mine);
                if inclusive {
                    op.combine(mine, &send[range]);
                    mine
                } else if right.is_some() {
                    ahead.clear();
                    ahead.extend_from_slice(mine);
                    op.combine(&mut ahead, &send[range]);
                    &ahead
                } else {
                    &[]
                }
            }
        };
        if let Some(r) = right {
            previous = Some(ctx.send_chunk(r, 0, chunk, chunks_u32, out));
        }
    }
    if let Some(f) = previous {
        f.await?;
    }
    Ok(())
}
