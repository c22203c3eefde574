//! Scan and exscan against a sequential reference, every algorithm forced in turn.

use half::bf16;

use super::{ALGORITHMS, linear, traffic};
use crate::algorithms::counting::run_counted;
use crate::{
    Algorithm, Communicator, Element, ErrorKind, OpOptions, Rank, ReduceOp, Reduction, local,
};

const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];
const SENTINEL: f64 = 99.0;

/// Small integers, so every type (bf16 too) holds every partial result exactly.
fn value(op: ReduceOp, rank: Rank, i: usize) -> f64 {
    match op {
        // Products of at most eight factors in {-1, 1, 2} with few 2s.
        ReduceOp::Prod => {
            if (rank + i) % 3 == 0 {
                2.0
            } else if (rank * 5 + i) % 7 == 0 {
                -1.0
            } else {
                1.0
            }
        }
        _ => ((rank * 7 + i * 3) % 9) as f64 - 4.0,
    }
}

/// The sequential prefixes of ranks `0..rank` and `0..=rank` at every element, in `f64`
/// (exact for the small integers of [`value`]); `Avg` not yet divided.
fn reference(op: ReduceOp, rank: Rank, count: usize) -> (Vec<f64>, Vec<f64>) {
    let mut exclusive = vec![f64::NAN; count];
    let mut inclusive: Vec<f64> = (0..count).map(|i| value(op, 0, i)).collect();
    for r in 1..=rank {
        exclusive.copy_from_slice(&inclusive);
        for (i, acc) in inclusive.iter_mut().enumerate() {
            let x = value(op, r, i);
            *acc = match op {
                ReduceOp::Sum | ReduceOp::Avg => *acc + x,
                ReduceOp::Prod => *acc * x,
                ReduceOp::Max => acc.max(x),
                ReduceOp::Min => acc.min(x),
            };
        }
    }
    (exclusive, inclusive)
}

/// Counts that exercise the empty call, odd sizes and the chain's pipelining (three chunks
/// of the widest type tested).
fn counts() -> [usize; 5] {
    let per_chunk = linear::CHUNK_BYTES / size_of::<f64>();
    [0, 1, 7, 1000, 2 * per_chunk + 3]
}

async fn check<T: Element>(
    comm: &mut Communicator,
    alg: Algorithm,
    op: ReduceOp,
    inclusive: bool,
    prefix: &[f64],
) {
    let (rank, count) = (comm.rank(), prefix.len());
    let send: Vec<T> = (0..count)
        .map(|i| T::from_f64(value(op, rank, i)))
        .collect();
    let mut recv = vec![T::from_f64(SENTINEL); count];
    let mut c = comm.with_options(OpOptions::new().algorithm(alg));
    if inclusive {
        c.scan(&send, &mut recv, op).await.unwrap();
    } else {
        c.exscan(&send, &mut recv, op).await.unwrap();
    }
    assert_eq!(c.last_algorithm(), Some(alg));
    let terms = if inclusive { rank + 1 } else { rank };
    let integer = !T::DTYPE.is_float();
    for (i, (got, want)) in recv.iter().zip(prefix).enumerate() {
        let got = got.to_f64();
        if terms == 0 {
            assert_eq!(got, SENTINEL, "exscan touched rank 0's buffer");
            continue;
        }
        let mut want = *want;
        if op == ReduceOp::Avg {
            want /= terms as f64;
            if integer {
                want = want.trunc();
            }
        }
        // bf16 Avg rounds the f32 quotient again; everything else is exact.
        let tol = if op == ReduceOp::Avg && T::DTYPE.size() == 2 {
            want.abs() / 128.0
        } else {
            0.0
        };
        assert!(
            (got - want).abs() <= tol,
            "{alg} {} {op} {} count {count} rank {rank} of {}: element {i} is {got}, want {want}",
            if inclusive { "scan" } else { "exscan" },
            T::DTYPE,
            c.size()
        );
    }
}

#[test]
fn builtin_ops_match_the_sequential_prefix() {
    for p in RANKS {
        local::run(p, |mut comm| async move {
            for (k, count) in counts().into_iter().enumerate() {
                for op in ReduceOp::ALL {
                    // The long vector only needs the ops that test the chain's order and Avg.
                    if k == 4 && !matches!(op, ReduceOp::Sum | ReduceOp::Avg) {
                        continue;
                    }
                    let (exclusive, inclusive) = reference(op, comm.rank(), count);
                    for alg in ALGORITHMS.iter().copied() {
                        for (incl, prefix) in [(true, &inclusive), (false, &exclusive)] {
                            check::<i32>(&mut comm, alg, op, incl, prefix).await;
                            check::<f64>(&mut comm, alg, op, incl, prefix).await;
                            check::<bf16>(&mut comm, alg, op, incl, prefix).await;
                        }
                    }
                }
            }
        });
    }
}

/// A 2x2 matrix over integers mod 2^16, its entries packed into the four 16-bit lanes of
/// one `i64`, so that the product is an elementwise (and non-commutative) reduction.
fn matmul(a: i64, b: i64) -> i64 {
    let lane = |x: i64, k: u32| (x >> (16 * k)) as u16;
    let (a0, a1, a2, a3) = (lane(a, 0), lane(a, 1), lane(a, 2), lane(a, 3));
    let (b0, b1, b2, b3) = (lane(b, 0), lane(b, 1), lane(b, 2), lane(b, 3));
    let dot = |x: u16, y: u16, z: u16, w: u16| x.wrapping_mul(y).wrapping_add(z.wrapping_mul(w));
    pack([
        dot(a0, b0, a1, b2),
        dot(a0, b1, a1, b3),
        dot(a2, b0, a3, b2),
        dot(a2, b1, a3, b3),
    ])
}

fn pack(m: [u16; 4]) -> i64 {
    (0..4).fold(0u64, |acc, k| acc | (u64::from(m[k]) << (16 * k))) as i64
}

fn matrix(rank: Rank, i: usize) -> i64 {
    let small = |v: usize| (v % 4) as u16;
    pack([
        1 + small(rank + i),
        small(rank * 3 + 1 + i),
        small(rank + 2 * i + 2),
        1 + small(rank * 2 + i),
    ])
}

fn matrix_product() -> Reduction<i64> {
    Reduction::custom(
        |acc: &mut [i64], right: &[i64]| {
            for (a, b) in acc.iter_mut().zip(right) {
                *a = matmul(*a, *b);
            }
        },
        false,
    )
}

#[test]
fn non_commutative_ops_keep_rank_order() {
    // The product of the test matrices depends on the order, so a reordering algorithm fails.
    assert_ne!(
        matmul(matrix(0, 0), matrix(1, 0)),
        matmul(matrix(1, 0), matrix(0, 0))
    );
    // Two chunks of the chain, the second short.
    let big = linear::CHUNK_BYTES / size_of::<i64>() + 5;
    for p in RANKS {
        local::run(p, |mut comm| async move {
            let rank = comm.rank();
            for count in [0, 1, 7, 1000, big] {
                let send: Vec<i64> = (0..count).map(|i| matrix(rank, i)).collect();
                // The products of ranks 0..rank and 0..=rank, in order (rank 0's exscan
                // buffer stays as it was).
                let exclusive: Vec<i64> = match rank {
                    0 => vec![-1; count],
                    _ => (0..count)
                        .map(|i| (1..rank).fold(matrix(0, i), |acc, r| matmul(acc, matrix(r, i))))
                        .collect(),
                };
                let inclusive: Vec<i64> = match rank {
                    0 => send.clone(),
                    _ => exclusive
                        .iter()
                        .zip(&send)
                        .map(|(&e, &s)| matmul(e, s))
                        .collect(),
                };
                for alg in ALGORITHMS.iter().copied() {
                    for (incl, want) in [(true, &inclusive), (false, &exclusive)] {
                        let mut recv = vec![-1i64; count];
                        let mut c = comm.with_options(OpOptions::new().algorithm(alg));
                        if incl {
                            c.scan(&send, &mut recv, matrix_product()).await.unwrap();
                        } else {
                            c.exscan(&send, &mut recv, matrix_product()).await.unwrap();
                        }
                        assert!(
                            recv == *want,
                            "{alg} inclusive {incl} p {p} rank {rank} count {count}"
                        );
                    }
                }
            }
        });
    }
}

#[test]
fn selector_prefers_recursive_doubling_for_small_and_the_chain_for_large() {
    local::run(8, |mut comm| async move {
        let small = [1.0f32; 4];
        let mut out = [0.0f32; 4];
        comm.scan(&small, &mut out, ReduceOp::Sum).await.unwrap();
        assert_eq!(comm.last_algorithm(), Some(Algorithm::RecursiveDoubling));
        let large = vec![1.0f32; 1 << 18];
        let mut out = vec![0.0f32; large.len()];
        comm.exscan(&large, &mut out, ReduceOp::Max).await.unwrap();
        assert_eq!(comm.last_algorithm(), Some(Algorithm::Linear));
        let want = if comm.rank() == 0 { 0.0 } else { 1.0 };
        assert!(out.iter().all(|&x| x == want));
    });
}

#[test]
fn ranks_that_disagree_on_the_count_get_mismatch() {
    for alg in ALGORITHMS.iter().copied() {
        let kinds = local::run(3, |mut comm| async move {
            let count = if comm.rank() == 1 { 5 } else { 4 };
            let send = vec![1i32; count];
            let mut recv = vec![0i32; count];
            comm.set_timeout(std::time::Duration::from_secs(5));
            let mut c = comm.with_options(OpOptions::new().algorithm(alg));
            c.scan(&send, &mut recv, ReduceOp::Sum)
                .await
                .err()
                .map(|e| e.kind())
        });
        assert!(
            kinds.contains(&Some(ErrorKind::Mismatch)),
            "{alg}: {kinds:?}"
        );
    }
}

#[test]
fn traffic_is_exact() {
    let big = 2 * linear::CHUNK_BYTES / size_of::<u32>() + 1;
    for p in RANKS {
        for alg in ALGORITHMS.iter().copied() {
            for count in [0, 7, big] {
                for inclusive in [true, false] {
                    let got = run_counted(p, |mut comm| async move {
                        let send = vec![1u32; count];
                        let mut recv = vec![0u32; count];
                        let mut c = comm.with_options(OpOptions::new().algorithm(alg));
                        if inclusive {
                            c.scan(&send, &mut recv, ReduceOp::Sum).await.unwrap();
                        } else {
                            c.exscan(&send, &mut recv, ReduceOp::Sum).await.unwrap();
                        }
                    });
                    let want = traffic(alg, p, count, size_of::<u32>(), inclusive);
                    assert_eq!(got, want, "{alg} p {p} count {count} inclusive {inclusive}");
                }
            }
        }
    }
}
