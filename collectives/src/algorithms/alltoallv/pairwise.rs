//! Pairwise-exchange all-to-all with a count per pair.
//!
//! The rounds of MPICH's `alltoall_intra_pairwise` (Thakur, Rabenseifner and Gropp,
//! "Optimization of Collective Communication Operations in MPICH", IJHPCA 2005) with the
//! per-pair counts of Open MPI's `ompi_coll_base_alltoallv_intra_pairwise`
//! (`coll_base_alltoallv.c`): p - 1 rounds; in round i a rank sends
//! its part for rank + i and receives the part from rank - i (rank XOR i both ways when p is
//! a power of two), each between the user's buffers in pipeline chunks
//! (`pipeline::exchange`); the own part is copied locally. The receive length from rank j is
//! this rank's `recv_counts[j]`, checked against the frames, so a sender and a receiver that
//! disagree on a count end in `Mismatch` on the receiver.
//!
//! With n the bytes this rank sends: cost (p - 1)·α + n·(p - 1)/p·β + n·γ (counts assumed
//! even). Traffic: one part from every rank i to every other rank j, of
//! counts\[i\]\[j\] elements in ⌈counts\[i\]\[j\]·elem / chunk⌉ messages (at least one) on a
//! direct link, in one through a server:
//! Σ_{i≠j} counts\[i\]\[j\]·elem bytes.

use super::super::alltoall::pairwise::{peers, step};
use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::pipeline::{chunked_traffic, exchange};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::LinkProfile;
use crate::types::Element;

/// (p - 1)·α + n·(p - 1)/p·β + n·γ.
pub(super) fn cost(input: &CostInput) -> f64 {
    let p = input.p();
    (p - 1.0) * input.alpha() + input.n() * ((p - 1.0) / p * input.beta() + input.gamma())
}

/// A part of `counts[i][j]` elements, in the chunks of `profile`'s medium, for every pair
/// i ≠ j.
pub(super) fn traffic(counts: &[Vec<usize>], elem: usize, profile: &LinkProfile) -> Traffic {
    let mut t = Traffic::default();
    for (i, row) in counts.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if i != j {
                chunked_traffic(&mut t, profile, c, elem);
            }
        }
    }
    t
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    send: &[T],
    send_counts: &[usize],
    recv: &mut [T],
    recv_counts: &[usize],
) -> Result<()> {
    let (rank, p) = (ctx.rank(), ctx.size());
    if send_counts[rank] != recv_counts[rank] {
        return Err(Error::new(
            ErrorKind::Mismatch,
            format!(
                "this rank sends itself {} elements but expects {}",
                send_counts[rank], recv_counts[rank]
            ),
        )
        .with_peer(rank));
    }
    let sends = Blocks::from_counts(send_counts);
    let recvs = Blocks::from_counts(recv_counts);
    recv[recvs.range(rank)].copy_from_slice(&send[sends.range(rank)]);
    for round in 1..p {
        let (to, from) = peers(rank, p, round);
        let (out, into) = (&send[sends.range(to)], &mut recv[recvs.range(from)]);
        exchange(ctx, (to, from), step(round), out, into).await?;
    }
    Ok(())
}
