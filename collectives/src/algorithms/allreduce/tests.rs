//! The allreduce algorithms against a sequential reference, and the helpers the reduce
//! tests share: inputs whose every result is exact, the reference, a non-commutative op and
//! a transport that counts what each call sends.

use half::f16;

use super::super::cost::CostInput;
use super::{ALGORITHMS, cost, traffic};
use crate::algorithms::counting::counting_fabric;
use crate::algorithms::fold::Fold;
use crate::transport::LinkProfile;
use crate::{
    Algorithm, Communicator, Element, ErrorKind, OpOptions, Rank, ReduceOp, Reduction, Result,
    local,
};

/// The rank counts every test runs.
pub(crate) const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];
/// Element counts: empty, one, fewer than p, not divisible by most p, and larger.
pub(crate) const COUNTS: [usize; 5] = [0, 1, 7, 13, 1000];

/// Options that force `alg`, or none.
pub(crate) fn options(alg: Option<Algorithm>) -> OpOptions {
    alg.map_or_else(OpOptions::new, |a| OpOptions::new().algorithm(a))
}

/// Whether `T` has negative values.
fn signed<T: Element>() -> bool {
    T::from_f64(-1.0).to_f64() < 0.0
}

/// Rank `rank`'s element `i` for `op`: small integers, so that sums and products stay exact
/// in every type (f16 included) and no integer wraps.
pub(crate) fn input<T: Element>(op: ReduceOp, rank: Rank, count: usize) -> Vec<T> {
    (0..count)
        .map(|i| {
            let v = match op {
                ReduceOp::Prod => [1.0, 2.0, 1.0, -1.0, 1.0][(rank + 2 * i) % 5],
                _ => ((rank * 7 + i * 3) % 11) as f64 - 5.0,
            };
            T::from_f64(if signed::<T>() { v } else { v.abs() })
        })
        .collect()
}

/// The reduction of every rank's [`input`], folded in rank order in f64 (Avg divided).
pub(crate) fn reference<T: Element>(op: ReduceOp, p: usize, count: usize) -> Vec<f64> {
    let mut acc: Vec<f64> = input::<T>(op, 0, count)
        .iter()
        .map(|v| v.to_f64())
        .collect();
    for rank in 1..p {
        for (a, x) in acc.iter_mut().zip(input::<T>(op, rank, count)) {
            let x = x.to_f64();
            *a = match op {
                ReduceOp::Sum | ReduceOp::Avg => *a + x,
                ReduceOp::Prod => *a * x,
                ReduceOp::Max => a.max(x),
                ReduceOp::Min => a.min(x),
            };
        }
    }
    if op == ReduceOp::Avg {
        acc.iter_mut().for_each(|a| *a /= p as f64);
    }
    acc
}

/// Compares a result with the reference: exactly, except a floating-point average, which
/// may differ by the last bit of an f16.
pub(crate) fn compare<T: Element>(got: &[T], want: &[f64], op: ReduceOp) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} elements, expected {}", got.len(), want.len()));
    }
    let float = T::DTYPE.is_float();
    for (i, (g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if op == ReduceOp::Avg && float {
            (g.to_f64() - w).abs() <= w.abs() / 1024.0
        } else {
            // `from_f64` truncates toward zero, as integer Avg does.
            *g == T::from_f64(w)
        };
        if !ok {
            return Some(format!("element {i} is {g:?}, expected {w}"));
        }
    }
    None
}

/// Runs allreduce with `alg` (or the selector's choice) over every op and count of type
/// `T`, recording what disagrees with the reference.
async fn allreduce_cases<T: Element>(
    comm: &mut Communicator,
    alg: Option<Algorithm>,
    fails: &mut Vec<String>,
) {
    let (rank, p) = (comm.rank(), comm.size());
    for op in ReduceOp::ALL {
        for count in COUNTS {
            let what = format!("{} {op} count {count} on rank {rank}/{p}", T::DTYPE);
            let mut buf = input::<T>(op, rank, count);
            let mut c = comm.with_options(options(alg));
            if let Err(e) = c.all_reduce(&mut buf, op).await {
                fails.push(format!("{what}: {e}"));
                return;
            }
            if alg.is_some() && c.last_algorithm() != alg {
                fails.push(format!("{what}: ran {:?}", c.last_algorithm()));
            }
            if let Some(f) = compare(&buf, &reference::<T>(op, p, count), op) {
                fails.push(format!("{what}: {f}"));
            }
        }
    }
}

/// Every rank count, type, op and count with `alg` forced (or not).
fn check_all(alg: Option<Algorithm>) {
    for p in RANKS {
        let fails: Vec<String> = local::run_with_store(p, |mut comm| async move {
            let mut fails = Vec::new();
            allreduce_cases::<i32>(&mut comm, alg, &mut fails).await;
            allreduce_cases::<u8>(&mut comm, alg, &mut fails).await;
            allreduce_cases::<f32>(&mut comm, alg, &mut fails).await;
            allreduce_cases::<f64>(&mut comm, alg, &mut fails).await;
            allreduce_cases::<f16>(&mut comm, alg, &mut fails).await;
            fails
        })
        .into_iter()
        .flatten()
        .collect();
        assert!(fails.is_empty(), "{alg:?} on {p} ranks: {fails:#?}");
    }
}

#[test]
fn recursive_doubling_matches_the_reference() {
    check_all(Some(Algorithm::RecursiveDoubling));
}

#[test]
fn ring_matches_the_reference() {
    check_all(Some(Algorithm::Ring));
}

#[test]
fn rabenseifner_matches_the_reference() {
    check_all(Some(Algorithm::Rabenseifner));
}

#[test]
fn the_default_choice_matches_the_reference() {
    check_all(None);
}

/// An affine map x ↦ a·x + b packed as `a << 32 | b` (arithmetic mod 2^32); `left ⊕ right`
/// applies `left` first. Associative, not commutative, and element-wise, so any algorithm
/// that keeps rank order may split the vector.
pub(crate) fn affine() -> Reduction<u64> {
    Reduction::custom(
        |acc: &mut [u64], right: &[u64]| {
            for (l, &r) in acc.iter_mut().zip(right) {
                *l = compose(*l, r);
            }
        },
        false,
    )
}

fn compose(l: u64, r: u64) -> u64 {
    let (a1, b1) = (l >> 32, l & 0xffff_ffff);
    let (a2, b2) = (r >> 32, r & 0xffff_ffff);
    let a = a1.wrapping_mul(a2) & 0xffff_ffff;
    let b = a2.wrapping_mul(b1).wrapping_add(b2) & 0xffff_ffff;
    a << 32 | b
}

/// Rank `rank`'s affine maps: distinct per rank and element.
pub(crate) fn affine_input(rank: Rank, count: usize) -> Vec<u64> {
    (0..count as u64)
        .map(|i| {
            let r = rank as u64;
            (2 + (r * 3 + i) % 5) << 32 | (1 + r * 11 + i * 7)
        })
        .collect()
}

/// The composition of every rank's maps in rank order.
pub(crate) fn affine_reference(p: usize, count: usize) -> Vec<u64> {
    let mut acc = affine_input(0, count);
    for rank in 1..p {
        for (a, x) in acc.iter_mut().zip(affine_input(rank, count)) {
            *a = compose(*a, x);
        }
    }
    acc
}

/// A product of 2×2 matrices `[a, b, c, d]` (row-major, wrapping i64): not element-wise, so
/// only for algorithms that never split the vector (recursive doubling, binomial).
pub(crate) fn matrix() -> Reduction<i64> {
    Reduction::custom(
        |acc: &mut [i64], right: &[i64]| {
            for (l, r) in acc.chunks_exact_mut(4).zip(right.chunks_exact(4)) {
                let m = matmul((&*l).try_into().unwrap(), r.try_into().unwrap());
                l.copy_from_slice(&m);
            }
        },
        false,
    )
}

fn matmul(l: [i64; 4], r: [i64; 4]) -> [i64; 4] {
    let dot = |x: i64, y: i64, z: i64, w: i64| x.wrapping_mul(y).wrapping_add(z.wrapping_mul(w));
    [
        dot(l[0], r[0], l[1], r[2]),
        dot(l[0], r[1], l[1], r[3]),
        dot(l[2], r[0], l[3], r[2]),
        dot(l[2], r[1], l[3], r[3]),
    ]
}

/// Rank `rank`'s `matrices` matrices with small entries.
pub(crate) fn matrix_input(rank: Rank, matrices: usize) -> Vec<i64> {
    (0..4 * matrices)
        .map(|i| ((rank * 5 + i * 3) % 7) as i64 - 3)
        .collect()
}

/// The product of every rank's matrices in rank order.
pub(crate) fn matrix_reference(p: usize, matrices: usize) -> Vec<i64> {
    let mut acc = matrix_input(0, matrices);
    for rank in 1..p {
        let x = matrix_input(rank, matrices);
        for (l, r) in acc.chunks_exact_mut(4).zip(x.chunks_exact(4)) {
            let m = matmul(l.try_into().unwrap(), r.try_into().unwrap());
            l.copy_from_slice(&m);
        }
    }
    acc
}

#[test]
fn non_commutative_ops_come_out_in_rank_order() {
    let algs = [
        Some(Algorithm::RecursiveDoubling),
        Some(Algorithm::Rabenseifner),
        None,
    ];
    for p in RANKS {
        let fails: Vec<String> = local::run(p, |mut comm| async move {
            let mut fails = Vec::new();
            let rank = comm.rank();
            for alg in algs {
                for count in COUNTS {
                    let mut buf = affine_input(rank, count);
                    let r = comm
                        .with_options(options(alg))
                        .all_reduce(&mut buf, affine())
                        .await;
                    match r {
                        Err(e) => fails.push(format!("affine {alg:?} count {count}: {e}")),
                        Ok(()) if buf != affine_reference(p, count) => {
                            fails.push(format!("affine {alg:?} count {count} on rank {rank}"));
                        }
                        Ok(()) => {}
                    }
                }
            }
            for alg in [Some(Algorithm::RecursiveDoubling), None] {
                for matrices in [0, 1, 7, 250] {
                    let mut buf = matrix_input(rank, matrices);
                    let r = comm
                        .with_options(options(alg))
                        .all_reduce(&mut buf, matrix())
                        .await;
                    match r {
                        Err(e) => fails.push(format!("matrix {alg:?} x{matrices}: {e}")),
                        Ok(()) if buf != matrix_reference(p, matrices) => {
                            fails.push(format!("matrix {alg:?} x{matrices} on rank {rank}"));
                        }
                        Ok(()) => {}
                    }
                }
            }
            fails
        })
        .into_iter()
        .flatten()
        .collect();
        assert!(fails.is_empty(), "{p} ranks: {fails:#?}");
    }
}

#[test]
fn ring_refuses_a_non_commutative_op_and_the_communicator_stays_usable() {
    let results = local::run(4, |mut comm| async move {
        let mut buf = affine_input(comm.rank(), 5);
        let refused = comm
            .with_options(options(Some(Algorithm::Ring)))
            .all_reduce(&mut buf, affine())
            .await
            .map_err(|e| e.kind());
        let mut sum = vec![comm.rank() as i32 + 1; 3];
        let after = comm.all_reduce(&mut sum, ReduceOp::Sum).await.map(|()| sum);
        (refused, after.map_err(|e| e.to_string()))
    });
    for (refused, after) in results {
        assert_eq!(refused, Err(ErrorKind::InvalidArgument));
        assert_eq!(after, Ok(vec![10, 10, 10]));
    }
}

#[test]
fn the_fold_keeps_rank_order() {
    for p in 1..20 {
        let fold = Fold::new(p);
        assert!(fold.pof2().is_power_of_two() && fold.pof2() <= p && 2 * fold.pof2() > p);
        let continuing: Vec<Rank> = (0..p).filter(|&r| fold.newrank(r).is_some()).collect();
        assert_eq!(continuing.len(), fold.pof2());
        for (newrank, &rank) in continuing.iter().enumerate() {
            assert_eq!(fold.newrank(rank), Some(newrank));
            assert_eq!(fold.old_rank(newrank), rank);
        }
    }
}

fn input_for(p: usize, bytes: usize, commutative: bool) -> CostInput {
    CostInput {
        ranks: p,
        bytes,
        profile: LinkProfile::IN_PROCESS,
        commutative,
    }
}

fn cheapest(input: &CostInput) -> Algorithm {
    ALGORITHMS
        .iter()
        .filter_map(|&a| cost(a, input).map(|c| (a, c)))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(a, _)| a)
        .expect("an algorithm")
}

#[test]
fn the_cost_model_picks_recursive_doubling_for_small_messages_only() {
    for p in [2, 3, 4, 7, 8, 16, 64] {
        assert_eq!(
            cheapest(&input_for(p, 64, true)),
            Algorithm::RecursiveDoubling
        );
        assert_ne!(
            cheapest(&input_for(p, 64 << 20, true)),
            Algorithm::RecursiveDoubling,
            "{p} ranks"
        );
        // Order-preserving choices only for a non-commutative op.
        assert_ne!(cheapest(&input_for(p, 64 << 20, false)), Algorithm::Ring);
        assert_eq!(cost(Algorithm::Ring, &input_for(p, 64, false)), None);
    }
}

#[test]
fn traffic_is_what_the_algorithms_send() {
    for p in RANKS {
        let (endpoints, ledger) = counting_fabric(p);
        local::run_on(endpoints, |mut comm| async move {
            for alg in ALGORITHMS {
                for count in COUNTS {
                    let mut buf = vec![1.5f32; count];
                    let mut c = comm.with_options(options(Some(*alg)));
                    c.all_reduce(&mut buf, ReduceOp::Sum).await.unwrap();
                }
            }
        });
        let ledger = ledger.lock().unwrap();
        let mut seq = 0;
        for alg in ALGORITHMS {
            for count in COUNTS {
                seq += 1;
                let sent = ledger.get(&seq).copied().unwrap_or_default();
                assert_eq!(
                    sent,
                    traffic(*alg, p, count, 4),
                    "{alg} on {p} ranks, {count} elements"
                );
            }
        }
    }
}

#[test]
fn ranks_that_disagree_on_the_count_get_mismatch() {
    for alg in ALGORITHMS {
        for p in [2, 3, 5, 8] {
            let kinds = local::run_with_store(p, |mut comm| async move {
                comm.set_timeout(std::time::Duration::from_secs(10));
                let count = if comm.rank() == 1 { 8 } else { 7 };
                let mut buf = vec![1i32; count];
                let mut c = comm.with_options(options(Some(*alg)));
                c.all_reduce(&mut buf, ReduceOp::Sum)
                    .await
                    .map_err(|e| e.kind())
            });
            assert!(kinds.iter().all(Result::is_err), "{alg} on {p}: {kinds:?}");
            assert!(
                kinds.contains(&Err(ErrorKind::Mismatch)),
                "{alg} on {p}: {kinds:?}"
            );
        }
    }
}
