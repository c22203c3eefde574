//! All-to-all with a count per pair. n = the bytes one rank sends in all.
//!
//! Displacements are packed: rank j's part of `send` starts at `sum(send_counts[..j])`, and
//! the part from rank i is stored in `recv` at `sum(recv_counts[..i])`.

mod pairwise;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;
use crate::transport::LinkProfile;
use crate::types::Element;

/// The alltoallv algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Pairwise];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Pairwise => Some(pairwise::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends when rank i sends `counts[i][j]` elements of `elem`
/// bytes to rank j (p = `counts.len()`).
pub fn traffic(
    alg: Algorithm,
    counts: &[Vec<usize>],
    elem: usize,
    profile: &LinkProfile,
) -> Traffic {
    match alg {
        Algorithm::Pairwise => pairwise::traffic(counts, elem, profile),
        _ => Traffic::default(),
    }
}

/// Runs `alg`: the next `send_counts[j]` elements of `send` go to rank j, and the
/// `recv_counts[i]` elements from rank i are stored in turn in `recv`.
pub async fn run<T: Element>(
    alg: Algorithm,
    ctx: &OpCtx<'_>,
    send: &[T],
    send_counts: &[usize],
    recv: &mut [T],
    recv_counts: &[usize],
) -> Result<()> {
    match alg {
        Algorithm::Pairwise => pairwise::run(ctx, send, send_counts, recv, recv_counts).await,
        _ => Err(not_offered(Collective::AllToAllV, alg)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::algorithms::counting;
    use crate::{Communicator, ErrorKind, OpOptions, local};

    const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];

    /// Irregular counts with zeros: the elements rank `src` sends rank `dst` in `shape`.
    fn count(shape: usize, src: usize, dst: usize) -> usize {
        match shape {
            0 => 0,
            1 => 1,
            2 => (src * 7 + dst * 3 + 1) % 5,
            3 => (src * 5 + dst * 11) % 4 * 7,
            _ => (src * 3 + dst * 7 + 2) % 5 * 250,
        }
    }
    const SHAPES: usize = 5;

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

    /// Runs one alltoallv and checks the result against the sequential definition; both
    /// buffers are longer than the counts need, and the tail of `recv` must stay untouched.
    async fn check<T: Element>(comm: &mut Communicator, alg: Algorithm, shape: usize) {
        let (rank, p) = (comm.rank(), comm.size());
        let send_counts: Vec<usize> = (0..p).map(|j| count(shape, rank, j)).collect();
        let recv_counts: Vec<usize> = (0..p).map(|i| count(shape, i, rank)).collect();
        let mut send: Vec<T> = (0..p)
            .flat_map(|j| (0..send_counts[j]).map(move |k| value(rank, j, k)))
            .collect();
        send.extend([T::from_f64(55.0); 3]);
        let mut expected: Vec<T> = (0..p)
            .flat_map(|i| (0..recv_counts[i]).map(move |k| value(i, rank, k)))
            .collect();
        let sentinel = T::from_f64(113.0);
        expected.extend([sentinel; 2]);
        let mut recv = vec![sentinel; expected.len()];
        comm.with_options(options(alg))
            .all_to_all_v(&send, &send_counts, &mut recv, &recv_counts)
            .await
            .unwrap_or_else(|e| panic!("{alg} p={p} shape={shape} {}: {e}", T::DTYPE));
        assert!(
            recv == expected,
            "{alg} p={p} shape={shape} {} rank {rank}: wrong parts",
            T::DTYPE
        );
    }

    #[test]
    fn every_algorithm_matches_the_definition() {
        for p in RANKS {
            local::run(p, |mut comm| async move {
                for &alg in ALGORITHMS {
                    for shape in 0..SHAPES {
                        check::<i32>(&mut comm, alg, shape).await;
                        check::<f64>(&mut comm, alg, shape).await;
                    }
                    check::<i8>(&mut comm, alg, 2).await;
                    check::<u8>(&mut comm, alg, 3).await;
                    check::<u32>(&mut comm, alg, 2).await;
                    check::<i64>(&mut comm, alg, 3).await;
                    check::<u64>(&mut comm, alg, 2).await;
                    check::<half::f16>(&mut comm, alg, 3).await;
                    check::<f32>(&mut comm, alg, 4).await;
                    check::<half::bf16>(&mut comm, alg, 2).await;
                }
            });
        }
    }

    #[test]
    fn traffic_is_what_the_code_sends() {
        for &alg in ALGORITHMS {
            for p in RANKS {
                for shape in 0..SHAPES {
                    let counts: Vec<Vec<usize>> = (0..p)
                        .map(|i| (0..p).map(|j| count(shape, i, j)).collect())
                        .collect();
                    let counted = counting::run_counted(p, |mut comm| async move {
                        check::<u64>(&mut comm, alg, shape).await;
                    });
                    let want = traffic(alg, &counts, 8, &LinkProfile::IN_PROCESS);
                    assert_eq!(counted, want, "{alg} p={p} s={shape}");
                }
            }
        }
    }

    #[test]
    fn a_count_the_sender_and_receiver_disagree_on_is_a_mismatch() {
        for p in [2, 3, 4, 5, 8] {
            for &alg in ALGORITHMS {
                let results = local::run(p, |mut comm| async move {
                    let rank = comm.rank();
                    let mut send_counts: Vec<usize> = (0..p).map(|j| count(2, rank, j)).collect();
                    let recv_counts: Vec<usize> = (0..p).map(|i| count(2, i, rank)).collect();
                    if rank == 0 {
                        // Rank 1 expects one element fewer from rank 0.
                        send_counts[1] += 1;
                    }
                    let send = vec![7i64; send_counts.iter().sum()];
                    let mut recv = vec![0i64; recv_counts.iter().sum()];
                    let options = options(alg).timeout(Duration::from_secs(5));
                    comm.with_options(options)
                        .all_to_all_v(&send, &send_counts, &mut recv, &recv_counts)
                        .await
                        .map_err(|e| (e.kind(), e.peer()))
                });
                assert_eq!(
                    results[1],
                    Err((ErrorKind::Mismatch, Some(0))),
                    "{alg} p={p}"
                );
                for r in &results {
                    assert!(
                        matches!(
                            r,
                            Ok(()) | Err((ErrorKind::Mismatch | ErrorKind::Remote, _))
                        ),
                        "{alg} p={p}: {results:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_rank_that_disagrees_with_itself_is_a_mismatch() {
        for &alg in ALGORITHMS {
            let results = local::run(3, |mut comm| async move {
                let rank = comm.rank();
                let mut send_counts = vec![2; 3];
                if rank == 2 {
                    send_counts[2] = 1;
                }
                let send = vec![1u8; 6];
                let mut recv = vec![0u8; 6];
                let options = options(alg).timeout(Duration::from_secs(5));
                comm.with_options(options)
                    .all_to_all_v(&send, &send_counts, &mut recv, &[2; 3])
                    .await
                    .map_err(|e| e.kind())
            });
            assert_eq!(results[2], Err(ErrorKind::Mismatch));
            for r in &results[..2] {
                assert!(matches!(r, Err(ErrorKind::Remote)), "{results:?}");
            }
        }
    }
}
