//! Gather: every rank's block to the root. n = the gathered bytes at the root.

pub(crate) mod binomial;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::types::{Element, Rank};

/// The gather algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Binomial];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Binomial => Some(binomial::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends on `p` ranks that each contribute `count` elements of
/// `elem` bytes.
pub fn traffic(alg: Algorithm, p: usize, count: usize, elem: usize) -> Traffic {
    match alg {
        Algorithm::Binomial => binomial::traffic(p, count * elem),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: the root's `recv` (`Some` there only, p·`send.len()` elements) gets every
/// rank's `send` in rank order.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    send: &[T],
    recv: Option<&mut [T]>,
    root: Rank,
) -> Result<()> {
    match alg {
        Algorithm::Binomial => binomial::run(ctx, send, recv, root).await,
        _ => Err(not_offered(Collective::Gather, alg)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::algorithms::counting;
    use crate::{Communicator, ErrorKind, OpOptions, local};

    const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];

    /// Element `k` of rank `src`'s block in a call with root `root`.
    fn value<T: Element>(src: usize, root: usize, k: usize) -> T {
        let code = if size_of::<T>() <= 2 {
            (src * 31 + root * 7 + k * 3) % 101
        } else {
            (src * 8 + root) * 100_000 + k
        };
        T::from_f64(code as f64)
    }

    fn options(alg: Algorithm) -> OpOptions {
        OpOptions::new()
            .algorithm(alg)
            .timeout(Duration::from_secs(20))
    }

    /// Runs one gather and checks the root's result against the sequential definition.
    async fn check<T: Element>(comm: &mut Communicator, alg: Algorithm, root: Rank, block: usize) {
        let (rank, p) = (comm.rank(), comm.size());
        let send: Vec<T> = (0..block).map(|k| value(rank, root, k)).collect();
        let mut recv = vec![T::from_f64(113.0); p * block];
        let out = (rank == root).then_some(&mut recv[..]);
        comm.with_options(options(alg))
            .gather(&send, out, root)
            .await
            .unwrap_or_else(|e| panic!("{alg} p={p} root={root} block={block} {}: {e}", T::DTYPE));
        if rank == root {
            let expected: Vec<T> = (0..p * block)
                .map(|x| value(x / block, root, x % block))
                .collect();
            assert!(
                recv == expected,
                "{alg} p={p} root={root} block={block} {}: wrong blocks",
                T::DTYPE
            );
        }
    }

    #[test]
    fn every_algorithm_and_root_matches_the_definition() {
        for p in RANKS {
            local::run(p, |mut comm| async move {
                for &alg in ALGORITHMS {
                    for root in 0..p {
                        for block in [0, 1, 7, 1000] {
                            check::<i32>(&mut comm, alg, root, block).await;
                            check::<f64>(&mut comm, alg, root, block).await;
                        }
                        check::<i8>(&mut comm, alg, root, 7).await;
                        check::<u8>(&mut comm, alg, root, 1).await;
                        check::<u32>(&mut comm, alg, root, 7).await;
                        check::<i64>(&mut comm, alg, root, 1).await;
                        check::<u64>(&mut comm, alg, root, 7).await;
                        check::<half::f16>(&mut comm, alg, root, 1).await;
                        check::<f32>(&mut comm, alg, root, 7).await;
                        check::<half::bf16>(&mut comm, alg, root, 7).await;
                    }
                }
            });
        }
    }

    #[test]
    fn traffic_is_what_the_code_sends() {
        for &alg in ALGORITHMS {
            for p in RANKS {
                for block in [0, 1, 7, 1000] {
                    let counted = counting::run_counted(p, |mut comm| async move {
                        check::<f32>(&mut comm, alg, p / 2, block).await;
                    });
                    assert_eq!(counted, traffic(alg, p, block, 4), "{alg} p={p} b={block}");
                }
            }
        }
        // Relative ranks 1..7 of 8 send 1, 2, 1, 4, 1, 2, 1 blocks.
        assert_eq!(traffic(Algorithm::Binomial, 8, 1, 1).bytes, 12);
        assert_eq!(traffic(Algorithm::Binomial, 5, 1, 1).bytes, 1 + 2 + 1 + 1);
    }

    #[test]
    fn a_rank_with_another_count_is_a_mismatch() {
        for p in [2, 3, 5, 8] {
            for &alg in ALGORITHMS {
                let results = local::run(p, |mut comm| async move {
                    let rank = comm.rank();
                    let block = if rank == p - 1 { 3 } else { 2 };
                    let send = vec![1u32; block];
                    let mut recv = vec![0u32; p * block];
                    let out = (rank == 0).then_some(&mut recv[..]);
                    let options = options(alg).timeout(Duration::from_secs(5));
                    comm.with_options(options)
                        .gather(&send, out, 0)
                        .await
                        .map_err(|e| e.kind())
                });
                assert!(
                    results.contains(&Err(ErrorKind::Mismatch)),
                    "{alg} p={p}: {results:?}"
                );
                assert!(results[0].is_err(), "{alg} p={p}: {results:?}");
                for r in &results {
                    assert!(
                        matches!(r, Ok(()) | Err(ErrorKind::Mismatch | ErrorKind::Remote)),
                        "{alg} p={p}: {results:?}"
                    );
                }
            }
        }
    }
}
