//! Allreduce: every rank gets the reduction of all ranks' buffers. n = the buffer's bytes.

mod rabenseifner;
mod recursive_doubling;
mod ring;

#[cfg(test)]
pub(crate) mod tests;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic, pow2_floor};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::{Element, Rank, Reduction};

/// The allreduce algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RecursiveDoubling,
    Algorithm::Ring,
    Algorithm::Rabenseifner,
];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::RecursiveDoubling => Some(recursive_doubling::cost(input)),
        Algorithm::Ring => ring::cost(input),
        Algorithm::Rabenseifner => Some(rabenseifner::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends for `count` elements of `elem` bytes on `p` ranks.
pub fn traffic(alg: Algorithm, p: usize, count: usize, elem: usize) -> Traffic {
    match alg {
        Algorithm::RecursiveDoubling => recursive_doubling::traffic(p, count * elem),
        Algorithm::Ring => ring::traffic(p, count, elem),
        Algorithm::Rabenseifner => rabenseifner::traffic(p, count, elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg` in place: on return every rank's `buf` holds the combination of all ranks'
/// buffers, in rank order (`Avg` is left undivided; the Communicator divides).
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    op: &Reduction<T>,
) -> Result<()> {
    match alg {
        Algorithm::RecursiveDoubling => recursive_doubling::run(ctx, buf, op).await,
        Algorithm::Ring => ring::run(ctx, buf, op).await,
        Algorithm::Rabenseifner => rabenseifner::run(ctx, buf, op).await,
        _ => Err(not_offered(Collective::AllReduce, alg)),
    }
}

/// MPICH's fold of p ranks onto the largest power of two `pof2 ≤ p`.
///
/// With `rem = p - pof2`, each even rank below `2·rem` hands its data to the odd rank above
/// it and sits out; the odd one continues as `rank / 2`, and every rank from `2·rem` up as
/// `rank - rem`. The renumbering keeps rank order, and every continuing rank holds the data
/// of a contiguous range of ranks, so exchanges between the continuing ranks can keep the
/// order of a non-commutative reduction.
#[derive(Clone, Copy, Debug)]
struct Fold {
    pof2: usize,
    rem: usize,
}

impl Fold {
    fn new(p: usize) -> Fold {
        let pof2 = pow2_floor(p);
        Fold {
            pof2,
            rem: p - pof2,
        }
    }

    /// Whether `rank` is one of the `2·rem` ranks that pair up before and after.
    fn paired(&self, rank: Rank) -> bool {
        rank < 2 * self.rem
    }

    /// The folded rank of `rank`, or `None` if it sits out.
    fn newrank(&self, rank: Rank) -> Option<usize> {
        if !self.paired(rank) {
            Some(rank - self.rem)
        } else if rank % 2 == 1 {
            Some(rank / 2)
        } else {
            None
        }
    }

    /// The rank that continues as `newrank`.
    fn rank(&self, newrank: usize) -> Rank {
        if newrank < self.rem {
            2 * newrank + 1
        } else {
            newrank + self.rem
        }
    }
}
