//! Recursive-doubling scan and exscan.
//!
//! The parallel-prefix scheme of MPICH's `scan_intra_recursive_doubling` and
//! `exscan_intra_recursive_doubling` (Thakur, Rabenseifner and Gropp, "Optimization of
//! Collective Communication Operations in MPICH", IJHPCA 2005; the pattern is Hillis and
//! Steele's data-parallel prefix, CACM 29(12), 1986). Every rank keeps a *partial*: the
//! reduction of the aligned group of 2^k ranks it belongs to after round k. In round k it
//! swaps partials with `rank XOR 2^k` (when that rank exists). A partner below folds into
//! both the prefix and the partial from the left, a partner above only into the partial from
//! the right, so operands always meet in rank order and non-commutative reductions are
//! right. Works for any p: a partner past the last rank is skipped.
//!
//! Cost: ⌈lg p⌉·(α + nβ + 2nγ) (a rank with a lower partner combines twice in a round).
//! Traffic: for every round k < ⌈lg p⌉, one message of n bytes from each rank r with
//! `r XOR 2^k < p`; p·lg p messages when p is a power of two. The same for scan and exscan.

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::op::Reduction;
use crate::types::Element;

/// ⌈lg p⌉·(α + nβ + 2nγ).
pub(super) fn cost(input: &CostInput) -> f64 {
    let n = input.n();
    input.lg_p() * (input.alpha() + n * input.beta() + 2.0 * n * input.gamma())
}

/// One message of n bytes per rank and round whose partner exists.
pub(super) fn traffic(p: usize, bytes: usize) -> Traffic {
    let mut t = Traffic::default();
    let mut mask = 1;
    while mask < p {
        for rank in 0..p {
            if rank ^ mask < p {
                t.message(bytes);
            }
        }
        mask <<= 1;
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
    // The reduction of every rank this one has heard from, itself included, in rank order.
    let mut partial = send.to_vec();
    if inclusive {
        recv.copy_from_slice(send);
    }
    // Whether `recv` holds a prefix yet; exscan's stays untouched until a lower partner
    // answers, so rank 0's is never written.
    let mut have_prefix = inclusive;
    let mut mask = 1;
    let mut round = 0;
    while mask < p {
        let partner = rank ^ mask;
        let last_round = mask << 1 >= p;
        if partner < p {
            let (sent, got) = tokio::join!(
                ctx.send(partner, round, &partial),
                ctx.recv::<T>(partner, round, n)
            );
            sent?;
            let got = got?;
            let theirs = got.as_slice();
            if partner < rank {
                if have_prefix {
                    op.combine_from_left(&theirs, recv);
                } else {
                    recv.copy_from_slice(&theirs);
                    have_prefix = true;
                }
                // Nobody reads the partial after the last round.
                if !last_round {
                    op.combine_from_left(&theirs, &mut partial);
                }
            } else if !last_round {
                op.combine(&mut partial, &theirs);
            }
        }
        mask <<= 1;
        round += 1;
    }
    Ok(())
}
