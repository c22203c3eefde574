//! Reduce as reduce-scatter, then gather to the root.
//!
//! Rabenseifner's reduce (R. Rabenseifner, "Optimization of collective reduction
//! operations", ICCS 2004; MPICH's `reduce_intra_reduce_scatter_gather`). The vector is cut
//! into p balanced blocks; a reduce-scatter leaves block i fully reduced on rank i (ring or
//! recursive halving, whichever the cost model prefers for this call), then every rank sends
//! its block straight to the root, whose p - 1 receives run concurrently, each into its
//! place in the buffer. Each rank sends about 2·(p - 1)/p·n bytes instead of the binomial
//! tree's n·⌈lg p⌉ at its root; for large messages. Commutative reductions only.
//!
//! Cost: the chosen reduce-scatter's (ring: (p - 1)·α + (p - 1)/p·n·(β + γ); recursive
//! halving: ⌈lg p⌉·α + (p - 1)/p·n·(β + γ) for p a power of two), plus the gather's
//! ⌈lg p⌉·α + (p - 1)/p·n·β. The gather's latencies overlap because its receives are
//! concurrent; the model still charges ⌈lg p⌉·α (what a binomial gather pays), between the
//! α of perfect overlap and the (p - 1)·α of one receive at a time, since the root still
//! handles p - 1 messages.
//!
//! Traffic: the reduce-scatter's over `Blocks::balanced(n, p)`, plus p - 1 gather messages
//! carrying every block but the root's.

use futures_util::future::try_join_all;

use super::super::blocks::Blocks;
use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use super::super::{Algorithm, reduce_scatter};
use crate::error::{Error, ErrorKind, Result};
use crate::op::Reduction;
use crate::transport::LinkProfile;
use crate::types::{Element, Rank};

/// The reduce-scatter algorithms this reduce may run.
const SCATTERS: [Algorithm; 2] = [Algorithm::RecursiveHalving, Algorithm::Ring];

/// The cheapest reduce-scatter for the call and its cost (every rank computes the same).
fn scatter(input: &CostInput) -> Option<(Algorithm, f64)> {
    SCATTERS
        .iter()
        .filter_map(|&a| reduce_scatter::cost(a, input).map(|c| (a, c)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
}

/// The cheaper reduce-scatter's cost plus ⌈lg p⌉·α + (p - 1)/p·nβ; `None` for a
/// non-commutative reduction.
pub(super) fn cost(input: &CostInput) -> Option<f64> {
    if !input.commutative {
        return None;
    }
    let (_, scatter) = scatter(input)?;
    let gather =
        input.lg_p() * input.alpha() + (input.p() - 1.0) / input.p() * input.n() * input.beta();
    Some(scatter + gather)
}

/// The reduce-scatter's traffic plus p - 1 messages with every block but the root's.
pub(super) fn traffic(
    p: usize,
    count: usize,
    elem: usize,
    root: Rank,
    profile: &LinkProfile,
) -> Traffic {
    let blocks = Blocks::balanced(count, p);
    let input = CostInput {
        ranks: p,
        bytes: count * elem,
        profile: *profile,
        commutative: true,
    };
    let mut t = match scatter(&input) {
        Some((alg, _)) => reduce_scatter::traffic(alg, &blocks, elem),
        None => Traffic::default(),
    };
    for rank in (0..p).filter(|&r| r != root) {
        t.message(blocks.count(rank) * elem);
    }
    t
}

pub(super) async fn run<T: Element>(
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
    root: Rank,
) -> Result<()> {
    let (rank, p) = (ctx.rank(), ctx.size());
    let blocks = Blocks::balanced(buf.len(), p);
    let input = CostInput {
        ranks: p,
        bytes: size_of_val(buf),
        profile: ctx.transport().profile(),
        commutative: op.is_commutative(),
    };
    let (alg, _) = scatter(&input).ok_or_else(|| {
        Error::new(
            ErrorKind::Internal,
            "no reduce-scatter algorithm can run this reduce",
        )
    })?;
    reduce_scatter::run(alg, &ctx.phase(1), buf, &blocks, op).await?;
    let gather = ctx.phase(2);
    if rank != root {
        return gather.send(root, 0, &buf[blocks.range(rank)]).await;
    }
    // Cut the buffer into the blocks, so that every receive writes straight into its own.
    let mut parts = Vec::with_capacity(p);
    let mut rest = buf;
    for i in 0..p {
        let (part, tail) = rest.split_at_mut(blocks.count(i));
        parts.push(part);
        rest = tail;
    }
    let receives = parts
        .into_iter()
        .enumerate()
        .filter(|&(from, _)| from != root)
        .map(|(from, part)| gather.recv_into(from, 0, part));
    try_join_all(receives).await?;
    Ok(())
}
