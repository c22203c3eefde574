//! All-to-all: block j of rank i to block i of rank j. n = the bytes one rank sends in all
//! (p blocks, its own included).

mod bruck;
pub(crate) mod pairwise;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::types::Element;

/// The alltoall algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Pairwise, Algorithm::Bruck];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Pairwise => Some(pairwise::cost(input)),
        Algorithm::Bruck => Some(bruck::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends on `p` ranks for blocks of `block` elements of
/// `elem` bytes.
pub fn traffic(
    alg: Algorithm,
    p: usize,
    block: usize,
    elem: usize,
    profile: &LinkProfile,
) -> Traffic {
    match alg {
        Algorithm::Pairwise => pairwise::traffic(p, block, elem, profile),
        Algorithm::Bruck => bruck::traffic(p, block, elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: block j of `send` (`block` elements each) goes to rank j, which stores it as
/// block i = this rank of its `recv`. `send` and `recv` hold p blocks each.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: &mut [T],
    block: usize,
) -> Result<()> {
    match alg {
        Algorithm::Pairwise => pairwise::run(ctx, send, recv, block).await,
        Algorithm::Bruck => bruck::run(ctx, send, recv, block).await,
        _ => Err(not_offered(Collective::AllToAll, alg)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::algorithms::counting;
    use crate::transport::LinkProfile;
    use crate::{Communicator, ErrorKind, OpOptions, local};

    const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];

    /// What rank `src` sends to rank `dst` at index `k` of the block; exact in every type,
    /// and distinct between blocks in the wide types.
    fn value<T: Element>(src: usize, dst: usize, k: usize) -> T {
        let code = if size_of::<T>() <= 2 {
            (src * 31 + dst * 7 + k * 3) % 101
        } else {
            (src * 8 + dst) * 100_000 + k
        };
        T::from_f64(code as f64)
    }

    fn options(alg: Algorithm) -> OpOptions {
        OpOptions::new()
            .algorithm(alg)
            .timeout(Duration::from_secs(20))
    }

    /// Runs one all-to-all with `alg` and checks every received block against what the
    /// sequential definition says this rank gets.
    async fn check<T: Element>(comm: &mut Communicator, alg: Algorithm, block: usize) {
        let (rank, p) = (comm.rank(), comm.size());
        let send: Vec<T> = (0..p * block)
            .map(|x| value(rank, x / block.max(1), x % block.max(1)))
            .collect();
        let mut recv = vec![T::from_f64(113.0); p * block];
        comm.with_options(options(alg))
            .all_to_all(&send, &mut recv)
            .await
            .unwrap_or_else(|e| panic!("{alg} p={p} block={block} {}: {e}", T::DTYPE));
        assert_eq!(comm.last_algorithm(), Some(alg));
        let expected: Vec<T> = (0..p * block)
            .map(|x| value(x / block.max(1), rank, x % block.max(1)))
            .collect();
        assert!(
            recv == expected,
            "{alg} p={p} block={block} {} rank {rank}: wrong blocks",
            T::DTYPE
        );
    }

    async fn check_every_type(comm: &mut Communicator, alg: Algorithm, block: usize) {
        check::<i8>(comm, alg, block).await;
        check::<u8>(comm, alg, block).await;
        check::<i32>(comm, alg, block).await;
        check::<u32>(comm, alg, block).await;
        check::<i64>(comm, alg, block).await;
        check::<u64>(comm, alg, block).await;
        check::<half::f16>(comm, alg, block).await;
        check::<f32>(comm, alg, block).await;
        check::<f64>(comm, alg, block).await;
        check::<half::bf16>(comm, alg, block).await;
    }

    #[test]
    fn every_algorithm_matches_the_definition() {
        for p in RANKS {
            local::run(p, |mut comm| async move {
                for &alg in ALGORITHMS {
                    for block in [0, 1, 7, 1000] {
                        check::<i32>(&mut comm, alg, block).await;
                        check::<f64>(&mut comm, alg, block).await;
                    }
                    for block in [1, 7] {
                        check_every_type(&mut comm, alg, block).await;
                    }
                }
            });
        }
    }

    #[test]
    fn bruck_cuts_large_rounds_into_chunks() {
        // Rounds of more than one window, cut in the middle of blocks.
        local::run(7, |mut comm| async move {
            check::<f32>(&mut comm, Algorithm::Bruck, 40_000).await;
        });
        local::run(8, |mut comm| async move {
            check::<u64>(&mut comm, Algorithm::Bruck, 10_000).await;
        });
    }

    #[test]
    fn traffic_is_what_the_code_sends() {
        let mut cases: Vec<(usize, usize)> = RANKS
            .iter()
            .flat_map(|&p| [0, 1, 7, 1000].map(|b| (p, b)))
            .collect();
        cases.push((7, 40_000));
        for &alg in ALGORITHMS {
            for &(p, block) in &cases {
                let counted = counting::run_counted(p, |mut comm| async move {
                    check::<f32>(&mut comm, alg, block).await;
                });
                let want = traffic(alg, p, block, 4, &LinkProfile::IN_PROCESS);
                assert_eq!(counted, want, "{alg} p={p} b={block}");
            }
        }
        assert_eq!(
            traffic(Algorithm::Pairwise, 4, 10, 8, &LinkProfile::IN_PROCESS),
            Traffic {
                messages: 12,
                bytes: 960
            }
        );
    }

    #[test]
    fn disagreeing_block_sizes_are_a_mismatch() {
        for p in [2, 3, 5, 8] {
            for &alg in ALGORITHMS {
                let results = local::run(p, |mut comm| async move {
                    let block = if comm.rank() == 0 { 2 } else { 1 };
                    let send = vec![1u32; p * block];
                    let mut recv = vec![0u32; p * block];
                    let options = options(alg).timeout(Duration::from_secs(5));
                    comm.with_options(options)
                        .all_to_all(&send, &mut recv)
                        .await
                        .map_err(|e| e.kind())
                });
                assert!(
                    results.contains(&Err(ErrorKind::Mismatch)),
                    "{alg} p={p}: {results:?}"
                );
                for r in &results {
                    assert!(
                        matches!(r, Err(ErrorKind::Mismatch | ErrorKind::Remote)),
                        "{alg} p={p}: {results:?}"
                    );
                }
            }
        }
    }

    fn input(p: usize, bytes: usize, profile: LinkProfile) -> CostInput {
        CostInput {
            ranks: p,
            bytes,
            profile,
            commutative: true,
        }
    }

    fn cheapest(p: usize, block_bytes: usize, profile: LinkProfile) -> Algorithm {
        let i = input(p, p * block_bytes, profile);
        *ALGORITHMS
            .iter()
            .min_by(|a, b| cost(**a, &i).unwrap().total_cmp(&cost(**b, &i).unwrap()))
            .unwrap()
    }

    #[test]
    fn small_blocks_at_many_ranks_pick_bruck_and_large_ones_pairwise() {
        let lan = LinkProfile {
            latency: Duration::from_micros(50),
            bandwidth: 1e9,
            ..LinkProfile::IN_PROCESS
        };
        for profile in [LinkProfile::IN_PROCESS, lan] {
            for p in [8, 16, 64] {
                assert_eq!(cheapest(p, 8, profile), Algorithm::Bruck, "p={p}");
                assert_eq!(cheapest(p, 1 << 20, profile), Algorithm::Pairwise, "p={p}");
            }
            for block in [1, 1 << 20] {
                assert_eq!(cheapest(2, block, profile), Algorithm::Pairwise);
                assert_eq!(cheapest(3, block, profile), Algorithm::Pairwise);
            }
        }
    }
}
