//! Allgather: every rank's block to every rank. n = the gathered vector's bytes.
//!
//! On entry block `ctx.rank()` of `buf` (cut into one block per rank by a [`Blocks`];
//! blocks may differ in size and be empty) holds this rank's data; on return every block
//! holds its owner's.

mod bruck;
mod recursive_doubling;
mod ring;
mod shared_put;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::algorithms::blocks::Blocks;
use crate::collective::Collective;
use crate::error::Result;
use crate::types::Element;

/// The allgather algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ring,
    Algorithm::RecursiveDoubling,
    Algorithm::Bruck,
    Algorithm::SharedPut,
];

/// δ in the cost formulas: seconds to copy one byte out of a message or within the buffer.
/// A copy reads one operand where a reduction reads two, so half of γ.
fn copy_seconds_per_byte(input: &CostInput) -> f64 {
    input.gamma() / 2.0
}

/// The estimated time of `alg`, or `None` where it cannot run the call (shared-put on a
/// transport without shared objects).
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Ring => Some(ring::cost(input)),
        Algorithm::RecursiveDoubling => Some(recursive_doubling::cost(input)),
        Algorithm::Bruck => Some(bruck::cost(input)),
        Algorithm::SharedPut if input.has_shared_objects() => Some(shared_put::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends over `blocks` of `elem`-byte elements.
pub fn traffic(alg: Algorithm, blocks: &Blocks, elem: usize) -> Traffic {
    match alg {
        Algorithm::Ring => ring::traffic(blocks, elem),
        Algorithm::RecursiveDoubling => recursive_doubling::traffic(blocks, elem),
        Algorithm::Bruck => bruck::traffic(blocks, elem),
        Algorithm::SharedPut => shared_put::traffic(blocks, elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: fills every block of `buf` with its owner's data.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    buf: &mut [T],
    blocks: &Blocks,
) -> Result<()> {
    match alg {
        Algorithm::Ring => ring::run(ctx, buf, blocks).await,
        Algorithm::RecursiveDoubling => recursive_doubling::run(ctx, buf, blocks).await,
        Algorithm::Bruck => bruck::run(ctx, buf, blocks).await,
        Algorithm::SharedPut => shared_put::run(ctx, buf, blocks).await,
        _ => Err(not_offered(Collective::AllGather, alg)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::algorithms::cost::{ceil_log2, pow2_floor};
    use crate::algorithms::reduce_scatter::tests::{CHUNK, RANKS, ctx_for, input, layouts};
    use crate::{LinkProfile, OpOptions, local};

    /// What every rank must hold afterwards: block b of rank b's input.
    fn gathered(blocks: &Blocks) -> Vec<i64> {
        let n = blocks.total();
        let mut want = vec![0i64; n];
        for b in 0..blocks.len() {
            want[blocks.range(b)].copy_from_slice(&input(b, n)[blocks.range(b)]);
        }
        want
    }

    #[test]
    fn every_algorithm_matches_the_reference_through_the_communicator() {
        for p in RANKS {
            local::run_with_store(p, |mut comm| async move {
                let r = comm.rank();
                for &alg in ALGORITHMS {
                    for block in [0, 1, 5, 2 * CHUNK + 3] {
                        let blocks = Blocks::uniform(p, block);
                        let send = input(r, p * block)[blocks.range(r)].to_vec();
                        let mut recv = vec![-1i64; p * block];
                        comm.with_options(OpOptions::new().algorithm(alg))
                            .all_gather(&send, &mut recv)
                            .await
                            .unwrap();
                        assert_eq!(comm.last_algorithm(), Some(alg));
                        assert_eq!(
                            recv,
                            gathered(&blocks),
                            "{alg} p={p} block={block} rank {r}"
                        );
                    }
                }
            });
        }
    }

    #[test]
    fn uneven_blocks_through_the_module() {
        for p in RANKS {
            local::run_with_store(p, |comm| async move {
                let r = comm.rank();
                let members: Vec<usize> = (0..p).collect();
                let mut seq = 0;
                for &alg in ALGORITHMS {
                    for blocks in layouts(p) {
                        seq += 1;
                        let n = blocks.total();
                        let ctx = ctx_for(&comm, &members, Collective::AllGather, 0, n, seq);
                        // Only the own block is meaningful on entry; the rest is garbage.
                        let mut buf = vec![-7i64; n];
                        buf[blocks.range(r)].copy_from_slice(&input(r, n)[blocks.range(r)]);
                        run(alg, &ctx, &mut buf, &blocks).await.unwrap();
                        assert_eq!(buf, gathered(&blocks), "{alg} p={p} {blocks:?} rank {r}");
                    }
                }
            });
        }
    }

    #[test]
    fn traffic_matches_the_closed_forms() {
        for p in 1..=13 {
            let mut all = layouts(p);
            all.push(Blocks::uniform(p, 2 * CHUNK));
            for blocks in all {
                let n = blocks.total() as u64 * 8;
                let p64 = p as u64;
                let (pof2, rem) = (pow2_floor(p) as u64, (p - pow2_floor(p)) as u64);
                let chunks: u64 = (0..p)
                    .map(|b| blocks.count(b).div_ceil(CHUNK).max(1) as u64)
                    .sum();
                assert_eq!(
                    traffic(Algorithm::Ring, &blocks, 8),
                    Traffic {
                        messages: (p64 - 1) * chunks,
                        bytes: (p64 - 1) * n
                    }
                );
                let folded: u64 = (0..rem as usize)
                    .map(|i| blocks.count(2 * i) as u64 * 8)
                    .sum();
                let lg = u64::from(ceil_log2(pof2 as usize));
                assert_eq!(
                    traffic(Algorithm::RecursiveDoubling, &blocks, 8),
                    Traffic {
                        messages: pof2 * lg + 2 * rem,
                        bytes: (pof2 - 1) * n + rem * n + folded
                    }
                );
                assert_eq!(
                    traffic(Algorithm::Bruck, &blocks, 8),
                    Traffic {
                        messages: p64 * u64::from(ceil_log2(p)),
                        bytes: (p64 - 1) * n
                    }
                );
            }
        }
    }

    #[test]
    fn the_selector_picks_log_rounds_for_small_and_the_ring_for_large_vectors() {
        let tcp = LinkProfile {
            latency: Duration::from_micros(50),
            bandwidth: 1.25e9,
            ..LinkProfile::IN_PROCESS
        };
        for profile in [LinkProfile::IN_PROCESS, tcp] {
            for p in [3, 4, 6, 8, 13, 16] {
                let pick = |bytes: usize| {
                    let input = CostInput {
                        ranks: p,
                        bytes,
                        profile,
                        commutative: true,
                    };
                    crate::algorithms::selector::select(
                        Collective::AllGather,
                        ALGORITHMS,
                        None,
                        |a| cost(a, &input),
                    )
                    .unwrap()
                };
                let small = if p.is_power_of_two() {
                    Algorithm::RecursiveDoubling
                } else if p == 3 {
                    // Two rounds either way, and the ring needs no rotation.
                    Algorithm::Ring
                } else {
                    Algorithm::Bruck
                };
                assert_eq!(pick(1 << 10), small, "p={p}");
                assert_eq!(pick(64 << 20), Algorithm::Ring, "p={p}");
            }
        }
    }
}
