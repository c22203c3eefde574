//! The store-native algorithms (shared-put broadcast and allgather, the shared-counter
//! barrier, scatter-reduce allreduce and reduce-scatter) on the in-process store: results
//! against sequential references, an empty store after every call, their traffic, what
//! happens without shared objects, and what the selector makes of them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::allreduce::tests::{affine, affine_input, affine_reference, compare, input, reference};
use super::cost::{CostInput, Traffic};
use super::counting::counting_fabric;
use super::{allgather, allreduce, barrier, broadcast, reduce_scatter, selector};
use crate::transport::local::LocalTransport;
use crate::transport::{LinkProfile, Transport};
use crate::{Algorithm, Collective, Communicator, Element, ErrorKind, OpOptions, ReduceOp, local};

const PS: [usize; 5] = [1, 2, 3, 5, 8];
/// Empty, one, fewer than p, uneven over every p here, and larger.
const COUNTS: [usize; 5] = [0, 1, 7, 13, 1003];

type CostFn = fn(Algorithm, &CostInput) -> Option<f64>;

type Gauge = Arc<dyn Fn() -> (usize, usize) + Send + Sync>;

/// Runs `f` on `p` ranks sharing an in-process store; `f` gets a gauge of what the store
/// holds.
fn run_with_gauge<F, Fut, R>(p: usize, f: F) -> Vec<R>
where
    F: Fn(Communicator, Gauge) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    let endpoints = LocalTransport::fabric_with_store(p);
    let gauge: Gauge = Arc::new(endpoints[0].stored_fn());
    let endpoints = endpoints
        .into_iter()
        .map(|e| Arc::new(e) as Arc<dyn Transport>)
        .collect();
    local::run_on(endpoints, |comm| f(comm, Arc::clone(&gauge)))
}

fn forced(alg: Algorithm) -> OpOptions {
    OpOptions::new().algorithm(alg)
}

/// Once every rank finished the last call, the store must be empty.
async fn settle(comm: &mut Communicator, gauge: &Gauge, what: &str, fails: &mut Vec<String>) {
    let message_barrier = forced(Algorithm::Dissemination);
    comm.with_options(message_barrier).barrier().await.unwrap();
    let left = gauge();
    if left != (0, 0) {
        fails.push(format!(
            "{what}: the store holds {left:?} (objects, counters)"
        ));
    }
    comm.with_options(message_barrier).barrier().await.unwrap();
}

async fn allreduce_builtin<T: Element>(comm: &mut Communicator, count: usize) -> Vec<String> {
    let (r, p) = (comm.rank(), comm.size());
    let mut fails = Vec::new();
    for op in ReduceOp::ALL {
        let mut buf = input::<T>(op, r, count);
        comm.with_options(forced(Algorithm::ScatterReduce))
            .all_reduce(&mut buf, op)
            .await
            .unwrap();
        if let Some(f) = compare(&buf, &reference::<T>(op, p, count), op) {
            fails.push(format!("allreduce {} {op} count {count}: {f}", T::DTYPE));
        }
    }
    fails
}

#[test]
fn store_algorithms_match_the_reference_and_leave_the_store_empty() {
    for p in PS {
        let fails: Vec<String> = run_with_gauge(p, |mut comm, gauge| async move {
            let r = comm.rank();
            let mut fails = Vec::new();
            for count in COUNTS {
                for root in 0..p {
                    let want: Vec<i32> = (0..count).map(|i| (root * 31 + i * 7) as i32).collect();
                    let mut buf = if r == root {
                        want.clone()
                    } else {
                        vec![-1; count]
                    };
                    comm.with_options(forced(Algorithm::SharedPut))
                        .broadcast(&mut buf, root)
                        .await
                        .unwrap();
                    if buf != want {
                        fails.push(format!("broadcast root {root} count {count}"));
                    }
                }
                settle(&mut comm, &gauge, "broadcast", &mut fails).await;

                fails.extend(allreduce_builtin::<i32>(&mut comm, count).await);
                fails.extend(allreduce_builtin::<half::f16>(&mut comm, count).await);
                let mut maps = affine_input(r, count);
                comm.with_options(forced(Algorithm::ScatterReduce))
                    .all_reduce(&mut maps, affine())
                    .await
                    .unwrap();
                if maps != affine_reference(p, count) {
                    fails.push(format!("allreduce non-commutative count {count}"));
                }
                settle(&mut comm, &gauge, "allreduce", &mut fails).await;

                // Reduce-scatter of blocks of `count`, non-commutative: block r of the
                // rank-order composition.
                let send = affine_input(r, p * count);
                let mut recv = vec![0u64; count];
                comm.with_options(forced(Algorithm::ScatterReduce))
                    .reduce_scatter(&send, &mut recv, affine())
                    .await
                    .unwrap();
                let all = affine_reference(p, p * count);
                if recv != all[r * count..(r + 1) * count] {
                    fails.push(format!("reduce_scatter non-commutative block {count}"));
                }
                settle(&mut comm, &gauge, "reduce_scatter", &mut fails).await;

                let send: Vec<i64> = (0..count).map(|i| (r * 1000 + i) as i64).collect();
                let mut recv = vec![-1i64; p * count];
                comm.with_options(forced(Algorithm::SharedPut))
                    .all_gather(&send, &mut recv)
                    .await
                    .unwrap();
                let want: Vec<i64> = (0..p * count)
                    .map(|e| ((e / count.max(1)) * 1000 + e % count.max(1)) as i64)
                    .collect();
                if recv != want {
                    fails.push(format!("allgather block {count}"));
                }
                settle(&mut comm, &gauge, "allgather", &mut fails).await;
            }
            for _ in 0..3 {
                comm.with_options(forced(Algorithm::SharedCounter))
                    .barrier()
                    .await
                    .unwrap();
            }
            settle(&mut comm, &gauge, "barrier", &mut fails).await;
            fails
                .into_iter()
                .map(|f| format!("rank {r}: {f}"))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        assert!(fails.is_empty(), "{p} ranks: {fails:#?}");
    }
}

#[test]
fn traffic_is_what_the_store_algorithms_request() {
    for p in PS {
        let (endpoints, ledger) = counting_fabric(p);
        let block = 5;
        local::run_on(endpoints, |mut comm| async move {
            let r = comm.rank();
            let mut send = vec![r as i32; p * block];
            let mut recv = vec![0i32; block];
            comm.with_options(forced(Algorithm::ScatterReduce))
                .reduce_scatter(&send, &mut recv, ReduceOp::Sum)
                .await
                .unwrap();
            comm.with_options(forced(Algorithm::SharedPut))
                .all_gather(&recv, &mut send)
                .await
                .unwrap();
            comm.with_options(forced(Algorithm::SharedCounter))
                .barrier()
                .await
                .unwrap();
            comm.with_options(forced(Algorithm::ScatterReduce))
                .all_reduce(&mut send, ReduceOp::Sum)
                .await
                .unwrap();
        });
        let ledger = ledger.lock().unwrap();
        let sent = |seq: u64| ledger.get(&seq).copied().unwrap_or_default();
        let blocks = super::blocks::Blocks::uniform(p, block);
        let (p64, n) = (p as u64, (p * block * 4) as u64);
        let rs = reduce_scatter::traffic(Algorithm::ScatterReduce, &blocks, 4);
        let ag = allgather::traffic(Algorithm::SharedPut, &blocks, 4);
        let release = super::context::release_requests(p - 1);
        assert_eq!(sent(1), rs, "reduce_scatter on {p} ranks");
        assert_eq!(sent(2), ag, "allgather on {p} ranks");
        assert_eq!(sent(3), barrier::traffic(Algorithm::SharedCounter, p));
        let ar = allreduce::traffic(Algorithm::ScatterReduce, p, p * block, 4);
        assert_eq!(sent(4), ar, "allreduce on {p} ranks");
        if p > 1 {
            // The closed forms in the algorithm files.
            let want_rs = Traffic {
                messages: 3 * p64 * (p64 - 1),
                bytes: 2 * (p64 - 1) * n,
            };
            assert_eq!(rs, want_rs);
            let want_ag = Traffic {
                messages: p64 * p64 + p64 * release,
                bytes: p64 * n,
            };
            assert_eq!(ag, want_ag);
            assert_eq!(ar.bytes, (3 * p64 - 2) * n);
            assert_eq!(
                barrier::traffic(Algorithm::SharedCounter, p).messages,
                3 * p64
            );
        } else {
            assert_eq!(rs + ag + ar, Traffic::default());
        }
    }
}

/// The store-native algorithms of each collective, and its cost function.
const STORE_ALGORITHMS: [(Collective, Algorithm, CostFn); 5] = [
    (Collective::Broadcast, Algorithm::SharedPut, broadcast::cost),
    (Collective::AllGather, Algorithm::SharedPut, allgather::cost),
    (Collective::Barrier, Algorithm::SharedCounter, barrier::cost),
    (
        Collective::AllReduce,
        Algorithm::ScatterReduce,
        allreduce::cost,
    ),
    (
        Collective::ReduceScatter,
        Algorithm::ScatterReduce,
        reduce_scatter::cost,
    ),
];

fn input_for(profile: LinkProfile, ranks: usize, bytes: usize) -> CostInput {
    CostInput {
        ranks,
        bytes,
        profile,
        commutative: false,
    }
}

#[test]
fn store_algorithms_run_only_where_the_transport_has_shared_objects() {
    let store = LinkProfile {
        shared_objects: true,
        ..LinkProfile::IN_PROCESS
    };
    for (collective, alg, cost) in STORE_ALGORITHMS {
        assert!(alg.needs_shared_objects());
        for p in PS {
            let none = cost(alg, &input_for(LinkProfile::IN_PROCESS, p, 64));
            assert_eq!(none, None, "{collective} {alg}");
            // Offered for non-commutative reductions too: they keep rank order.
            assert!(
                cost(alg, &input_for(store, p, 64)).is_some(),
                "{collective} {alg}"
            );
        }
    }
    let kinds = local::run(3, |mut comm| async move {
        comm.with_options(forced(Algorithm::SharedCounter))
            .barrier()
            .await
            .map_err(|e| e.kind())
    });
    assert!(kinds.iter().all(|k| *k == Err(ErrorKind::InvalidArgument)));
}

/// What the selector picks for `collective` on `p` ranks and `bytes` bytes.
fn pick(collective: Collective, profile: LinkProfile, p: usize, bytes: usize) -> Algorithm {
    let input = CostInput {
        commutative: true,
        ..input_for(profile, p, bytes)
    };
    let (offered, cost): (&[Algorithm], CostFn) = match collective {
        Collective::Broadcast => (broadcast::ALGORITHMS, broadcast::cost),
        Collective::AllReduce => (allreduce::ALGORITHMS, allreduce::cost),
        Collective::AllGather => (allgather::ALGORITHMS, allgather::cost),
        Collective::ReduceScatter => (reduce_scatter::ALGORITHMS, reduce_scatter::cost),
        _ => (barrier::ALGORITHMS, barrier::cost),
    };
    selector::select(collective, offered, None, |a| cost(a, &input)).unwrap()
}

#[test]
fn the_selector_keeps_message_algorithms_on_the_local_store_and_takes_the_counter_for_many_ranks() {
    let store = LocalTransport::fabric_with_store(1)[0].profile();
    for bytes in [8, 1 << 20, 64 << 20] {
        for collective in [
            Collective::Broadcast,
            Collective::AllReduce,
            Collective::AllGather,
            Collective::ReduceScatter,
        ] {
            for p in [2, 4, 8] {
                let with = pick(collective, store, p, bytes);
                let without = pick(collective, LinkProfile::IN_PROCESS, p, bytes);
                assert_eq!(with, without, "{collective} p {p} {bytes} B");
            }
        }
    }
    // Four store requests beat ⌈lg p⌉ rounds of messages from 17 ranks on.
    assert_eq!(
        pick(Collective::Barrier, store, 16, 0),
        Algorithm::Dissemination
    );
    assert_eq!(
        pick(Collective::Barrier, store, 17, 0),
        Algorithm::SharedCounter
    );
}

#[test]
fn a_missing_rank_times_out_and_a_departed_root_fails_fast() {
    let kinds = local::run_with_store(3, |mut comm| async move {
        comm.set_timeout(Duration::from_millis(300));
        if comm.rank() == 2 {
            return None;
        }
        Some(
            comm.with_options(forced(Algorithm::SharedCounter))
                .barrier()
                .await
                .map_err(|e| e.kind()),
        )
    });
    // The first of ranks 0 and 1 to time out tells the other, which may hear it before its
    // own timeout: at least one timed out, and neither got anything but an error.
    let ended: Vec<Option<ErrorKind>> =
        kinds[..2].iter().map(|k| k.and_then(Result::err)).collect();
    assert!(ended.contains(&Some(ErrorKind::Timeout)), "{ended:?}");
    assert!(
        ended
            .iter()
            .all(|k| matches!(k, Some(ErrorKind::Timeout | ErrorKind::Remote))),
        "{ended:?}"
    );
    let kinds = local::run_with_store(3, |mut comm| async move {
        comm.set_timeout(Duration::from_secs(30));
        if comm.rank() == 0 {
            return None;
        }
        let mut buf = [0u8; 4];
        let mut c = comm.with_options(forced(Algorithm::SharedPut));
        Some(
            c.broadcast(&mut buf, 0)
                .await
                .map_err(|e| (e.kind(), e.peer())),
        )
    });
    // The first to see the root gone aborts, so the other may hear of that first.
    let errs: Vec<_> = kinds[1..].iter().map(|k| k.unwrap().unwrap_err()).collect();
    assert!(errs.iter().all(|e| e.0 == ErrorKind::Remote), "{errs:?}");
    assert!(errs.contains(&(ErrorKind::Remote, Some(0))), "{errs:?}");
}
