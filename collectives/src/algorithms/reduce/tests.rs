//! The reduce algorithms against a sequential reference, at every root.

use half::f16;

use super::super::allreduce::tests::{
    COUNTS, RANKS, affine, affine_input, affine_reference, compare, input, matrix, matrix_input,
    matrix_reference, options, reference,
};
use super::super::cost::CostInput;
use super::{ALGORITHMS, cost, traffic};
use crate::algorithms::counting::counting_fabric;
use crate::transport::LinkProfile;
use crate::{Algorithm, Communicator, Element, ErrorKind, ReduceOp, Reduction, local};

/// Runs reduce with `alg` (or the selector's choice) at every root over every op and count
/// of type `T`, recording what disagrees with the reference at the root.
async fn reduce_cases<T: Element>(
    comm: &mut Communicator,
    alg: Option<Algorithm>,
    fails: &mut Vec<String>,
) {
    let (rank, p) = (comm.rank(), comm.size());
    for root in 0..p {
        for op in ReduceOp::ALL {
            for count in COUNTS {
                let what = format!("{} {op} count {count} root {root} on {p} ranks", T::DTYPE);
                let send = input::<T>(op, rank, count);
                let mut recv = vec![T::from_f64(99.0); count];
                let out = (rank == root).then_some(&mut recv[..]);
                let mut c = comm.with_options(options(alg));
                if let Err(e) = c.reduce(&send, out, op, root).await {
                    fails.push(format!("{what}, rank {rank}: {e}"));
                    return;
                }
                if alg.is_some() && c.last_algorithm() != alg {
                    fails.push(format!("{what}: ran {:?}", c.last_algorithm()));
                }
                if rank == root {
                    if let Some(f) = compare(&recv, &reference::<T>(op, p, count), op) {
                        fails.push(format!("{what}: {f}"));
                    }
                }
            }
        }
    }
}

fn check_all(alg: Option<Algorithm>) {
    for p in RANKS {
        let fails: Vec<String> = local::run(p, |mut comm| async move {
            let mut fails = Vec::new();
            reduce_cases::<i32>(&mut comm, alg, &mut fails).await;
            reduce_cases::<u8>(&mut comm, alg, &mut fails).await;
            reduce_cases::<f32>(&mut comm, alg, &mut fails).await;
            reduce_cases::<f64>(&mut comm, alg, &mut fails).await;
            reduce_cases::<f16>(&mut comm, alg, &mut fails).await;
            fails
        })
        .into_iter()
        .flatten()
        .collect();
        assert!(fails.is_empty(), "{alg:?} on {p} ranks: {fails:#?}");
    }
}

#[test]
fn binomial_matches_the_reference_at_every_root() {
    check_all(Some(Algorithm::Binomial));
}

#[test]
fn reduce_scatter_gather_matches_the_reference_at_every_root() {
    check_all(Some(Algorithm::ReduceScatterGather));
}

#[test]
fn the_default_choice_matches_the_reference_at_every_root() {
    check_all(None);
}

/// Reduces `send` to `root` with `op` and returns the root's result (`None` elsewhere).
async fn reduce_to<T: Element>(
    comm: &mut Communicator,
    alg: Option<Algorithm>,
    send: &[T],
    op: Reduction<T>,
    root: usize,
) -> crate::Result<Option<Vec<T>>> {
    let at_root = comm.rank() == root;
    let mut recv = vec![T::from_f64(0.0); send.len()];
    let out = at_root.then_some(&mut recv[..]);
    comm.with_options(options(alg))
        .reduce(send, out, op, root)
        .await?;
    Ok(at_root.then_some(recv))
}

#[test]
fn non_commutative_ops_come_out_in_rank_order_at_every_root() {
    for p in RANKS {
        let fails: Vec<String> = local::run(p, |mut comm| async move {
            let mut fails = Vec::new();
            let rank = comm.rank();
            for alg in [Some(Algorithm::Binomial), None] {
                for root in 0..p {
                    for count in COUNTS {
                        let what = format!("affine {alg:?} root {root} count {count}");
                        let send = affine_input(rank, count);
                        match reduce_to(&mut comm, alg, &send, affine(), root).await {
                            Err(e) => fails.push(format!("{what}: {e}")),
                            Ok(Some(got)) if got != affine_reference(p, count) => {
                                fails.push(what);
                            }
                            Ok(_) => {}
                        }
                    }
                    for matrices in [0, 1, 7, 250] {
                        let what = format!("matrix {alg:?} root {root} x{matrices}");
                        let send = matrix_input(rank, matrices);
                        match reduce_to(&mut comm, alg, &send, matrix(), root).await {
                            Err(e) => fails.push(format!("{what}: {e}")),
                            Ok(Some(got)) if got != matrix_reference(p, matrices) => {
                                fails.push(what);
                            }
                            Ok(_) => {}
                        }
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
fn reduce_scatter_gather_refuses_a_non_commutative_op_and_the_communicator_stays_usable() {
    let results = local::run(3, |mut comm| async move {
        let send = affine_input(comm.rank(), 4);
        let alg = Some(Algorithm::ReduceScatterGather);
        let refused = reduce_to(&mut comm, alg, &send, affine(), 1)
            .await
            .map_err(|e| e.kind());
        let ones = [comm.rank() as u8 + 1; 2];
        let after = reduce_to(&mut comm, None, &ones, ReduceOp::Sum.into(), 2)
            .await
            .map_err(|e| e.to_string());
        (refused, after)
    });
    for (rank, (refused, after)) in results.into_iter().enumerate() {
        assert_eq!(refused, Err(ErrorKind::InvalidArgument));
        assert_eq!(after, Ok((rank == 2).then_some(vec![6, 6])));
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
fn the_cost_model_picks_binomial_for_small_messages_and_reduce_scatter_gather_for_large() {
    for p in [2, 3, 4, 7, 8, 16, 64] {
        assert_eq!(cheapest(&input_for(p, 64, true)), Algorithm::Binomial);
        assert_eq!(
            cheapest(&input_for(p, 64 << 20, false)),
            Algorithm::Binomial
        );
        assert_eq!(
            cost(Algorithm::ReduceScatterGather, &input_for(p, 64, false)),
            None
        );
        if p > 2 {
            assert_eq!(
                cheapest(&input_for(p, 64 << 20, true)),
                Algorithm::ReduceScatterGather,
                "{p} ranks"
            );
        }
    }
}

#[test]
fn traffic_is_what_the_algorithms_send() {
    // (algorithm, commutative) in the order each rank runs them, at every root and count.
    let runs = [
        (Algorithm::Binomial, true),
        (Algorithm::Binomial, false),
        (Algorithm::ReduceScatterGather, true),
    ];
    for p in RANKS {
        let (endpoints, ledger) = counting_fabric(p);
        local::run_on(endpoints, |mut comm| async move {
            for (alg, commutative) in runs {
                for root in 0..p {
                    for count in COUNTS {
                        let send = affine_input(comm.rank(), count);
                        let op = if commutative {
                            ReduceOp::Sum.into()
                        } else {
                            affine()
                        };
                        reduce_to(&mut comm, Some(alg), &send, op, root)
                            .await
                            .unwrap();
                    }
                }
            }
        });
        let ledger = ledger.lock().unwrap();
        let mut seq = 0;
        for (alg, commutative) in runs {
            for root in 0..p {
                for count in COUNTS {
                    seq += 1;
                    let sent = ledger.get(&seq).copied().unwrap_or_default();
                    let profile = LinkProfile::IN_PROCESS;
                    assert_eq!(
                        sent,
                        traffic(alg, p, count, 8, root, commutative, &profile),
                        "{alg} (commutative: {commutative}) root {root} on {p} ranks, {count} elements"
                    );
                }
            }
        }
    }
}

#[test]
fn ranks_that_disagree_on_the_count_get_mismatch() {
    for alg in ALGORITHMS {
        for p in [2, 3, 5, 8] {
            let kinds = local::run(p, |mut comm| async move {
                comm.set_timeout(std::time::Duration::from_secs(10));
                let count = if comm.rank() == p - 1 { 8 } else { 7 };
                let send = vec![1i32; count];
                reduce_to(&mut comm, Some(*alg), &send, ReduceOp::Sum.into(), 0)
                    .await
                    .map_err(|e| e.kind())
            });
            assert!(kinds[0].is_err(), "{alg} on {p}: {kinds:?}");
            assert!(
                kinds.contains(&Err(ErrorKind::Mismatch)),
                "{alg} on {p}: {kinds:?}"
            );
        }
    }
}
