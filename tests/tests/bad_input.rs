//! Bad input: wrong lengths, ranks out of range, missing buffers, algorithms that cannot
//! run, and ranks that disagree or leave. Each test asserts the exact `ErrorKind` and that
//! the message names what was wrong; every wait has a short deadline, so nothing hangs.

use std::time::{Duration, Instant};

use fccl_collectives::algorithms::{allreduce, reduce, reduce_scatter, scan, selector};
use fccl_collectives::{
    Algorithm, Collective, Communicator, CostInput, Error, ErrorKind, LinkProfile, OpOptions,
    ReduceOp, Reduction, local,
};

/// Short enough that a missing message fails the test fast, long enough for a loaded machine.
const TIMEOUT: Duration = Duration::from_secs(5);

fn expect_err<T: std::fmt::Debug>(
    result: fccl_collectives::Result<T>,
    kind: ErrorKind,
    words: &[&str],
) -> Error {
    let e = result.expect_err("the call must fail");
    assert_eq!(e.kind(), kind, "wrong kind: {e}");
    let text = e.to_string();
    for w in words {
        assert!(text.contains(w), "the message '{text}' should name '{w}'");
    }
    e
}

/// `n` ranks with short timeouts.
fn run<R: Send, Fut: std::future::Future<Output = R>>(
    n: usize,
    f: impl Fn(Communicator) -> Fut + Sync,
) -> Vec<R> {
    local::run(n, |mut comm| {
        comm.set_timeout(TIMEOUT);
        f(comm)
    })
}

/// A broadcast from rank 0 that every rank checks, to show a communicator still works.
async fn still_works(comm: &mut Communicator) {
    let mut v = if comm.rank() == 0 {
        vec![7i32, 8, 9]
    } else {
        vec![0; 3]
    };
    comm.broadcast(&mut v, 0)
        .await
        .expect("the communicator still works");
    assert_eq!(v, [7, 8, 9]);
    assert!(comm.poisoned().is_none());
}

#[test]
fn buffer_lengths_that_do_not_match_the_count() {
    run(2, |mut comm| async move {
        let words = ["receive buffer", "3", "4"];
        let r = comm
            .all_reduce_into(&[1i32; 4], &mut [0; 3], ReduceOp::Sum)
            .await;
        expect_err(r, ErrorKind::InvalidArgument, &words);

        let r = comm
            .reduce_scatter(&[1f32; 5], &mut [0.0; 2], ReduceOp::Sum)
            .await;
        expect_err(r, ErrorKind::InvalidArgument, &["send buffer", "5", "4"]);

        let r = comm.all_gather(&[1u8; 3], &mut [0; 5]).await;
        expect_err(r, ErrorKind::InvalidArgument, &["receive buffer", "5", "6"]);

        let r = comm.all_to_all(&[1i64; 7], &mut [0; 7]).await;
        expect_err(r, ErrorKind::InvalidArgument, &["7", "2 equal blocks"]);
        let r = comm.all_to_all(&[1i64; 6], &mut [0; 4]).await;
        expect_err(r, ErrorKind::InvalidArgument, &["receive buffer", "4", "6"]);

        let r = comm
            .all_to_all_v(&[1u32; 4], &[2, 3], &mut [0; 10], &[1, 1])
            .await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["send_counts add up to 5", "4"],
        );
        let r = comm
            .all_to_all_v(&[1u32; 4], &[2, 2], &mut [0; 3], &[2, 2])
            .await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["recv_counts add up to 4", "3"],
        );
        let r = comm
            .all_to_all_v(&[1u32; 4], &[4], &mut [0; 4], &[2, 2])
            .await;
        expect_err(r, ErrorKind::InvalidArgument, &["send_counts", "1", "2"]);

        let r = comm.scan(&[1i32; 3], &mut [0; 2], ReduceOp::Sum).await;
        expect_err(r, ErrorKind::InvalidArgument, &["receive buffer", "2", "3"]);
        let r = comm.exscan(&[1i32; 3], &mut [0; 4], ReduceOp::Sum).await;
        expect_err(r, ErrorKind::InvalidArgument, &["receive buffer", "4", "3"]);

        // Nothing was sent: the communicator is fine.
        still_works(&mut comm).await;
    });
}

#[test]
fn roots_and_peers_out_of_range() {
    run(3, |mut comm| async move {
        let words = ["root 3", "out of range", "3 ranks"];
        expect_err(
            comm.broadcast(&mut [0u8; 2], 3).await,
            ErrorKind::InvalidArgument,
            &words,
        );
        let r = comm
            .reduce(&[1i32; 2], Some(&mut [0; 2]), ReduceOp::Sum, 3)
            .await;
        expect_err(r, ErrorKind::InvalidArgument, &words);
        let r = comm.gather(&[1i32; 2], Some(&mut [0; 6]), 3).await;
        expect_err(r, ErrorKind::InvalidArgument, &words);
        let r = comm
            .scatter(Some(&[1i32; 6]), &mut [0; 2], usize::MAX)
            .await;
        expect_err(r, ErrorKind::InvalidArgument, &["root", "out of range"]);

        let words = ["peer 3", "out of range"];
        expect_err(
            comm.send(&[1u8], 3, 0).await,
            ErrorKind::InvalidArgument,
            &words,
        );
        expect_err(
            comm.recv(&mut [0u8], 3, 0).await,
            ErrorKind::InvalidArgument,
            &words,
        );

        still_works(&mut comm).await;
    });
}

#[test]
fn missing_or_short_buffers_at_the_root() {
    run(2, |mut comm| async move {
        let root = comm.rank(); // every rank tries as the root of its own (refused) call
        let r = comm.gather(&[1i32; 2], None, root).await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["root of gather", "receive buffer"],
        );
        let r = comm.gather(&[1i32; 2], Some(&mut [0; 3]), root).await;
        expect_err(r, ErrorKind::InvalidArgument, &["receive buffer", "3", "4"]);

        let r = comm.reduce(&[1i32; 2], None, ReduceOp::Sum, root).await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["root of reduce", "receive buffer"],
        );
        let r = comm
            .reduce(&[1i32; 2], Some(&mut [0; 1]), ReduceOp::Sum, root)
            .await;
        expect_err(r, ErrorKind::InvalidArgument, &["receive buffer", "1", "2"]);

        let r = comm.scatter(None, &mut [0i32; 2], root).await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["root of scatter", "send buffer"],
        );
        let r = comm.scatter(Some(&[0i32; 3]), &mut [0; 2], root).await;
        expect_err(r, ErrorKind::InvalidArgument, &["send buffer", "3", "4"]);

        still_works(&mut comm).await;
    });
}

#[test]
fn receiving_a_longer_message_is_a_mismatch() {
    let results = run(2, |mut comm| async move {
        if comm.rank() == 0 {
            comm.send(&[1i32, 2, 3, 4, 5], 1, 9).await
        } else {
            let mut short = [0i32; 3];
            let r = comm.recv(&mut short, 0, 9).await.map(|_| ());
            let e = expect_err(r, ErrorKind::Mismatch, &["5 elements", "only 3", "peer 0"]);
            assert_eq!(e.peer(), Some(0));
            assert_eq!(short, [0; 3], "nothing may be written on error");
            Ok(())
        }
    });
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn forcing_an_algorithm_that_is_not_offered() {
    run(2, |mut comm| async move {
        let mut v = [1u8; 4];
        let options = OpOptions::new().algorithm(Algorithm::Ring);
        let r = comm.with_options(options).broadcast(&mut v, 0).await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["ring", "not a broadcast algorithm", "binomial"],
        );
        let options = OpOptions::new().algorithm(Algorithm::Bruck);
        let r = comm.with_options(options).barrier().await;
        expect_err(
            r,
            ErrorKind::InvalidArgument,
            &["bruck", "not a barrier algorithm"],
        );
        // The options apply to that call only, and the communicator is fine.
        still_works(&mut comm).await;
    });
}

#[test]
fn the_selector_refuses_a_forced_algorithm_that_cannot_run() {
    let offered = [Algorithm::Ring, Algorithm::Linear];
    let cost = |a: Algorithm| (a == Algorithm::Linear).then_some(1.0);
    let r = selector::select(Collective::Scan, &offered, Some(Algorithm::Ring), cost);
    expect_err(
        r,
        ErrorKind::InvalidArgument,
        &["ring", "cannot run", "scan"],
    );
    // Unforced, it picks what can run, and with nothing runnable it says so.
    assert_eq!(
        selector::select(Collective::Scan, &offered, None, cost).unwrap(),
        Algorithm::Linear
    );
    let r = selector::select(Collective::Scan, &offered, None, |_| None);
    expect_err(r, ErrorKind::InvalidArgument, &["no scan algorithm"]);
}

/// Every algorithm a module declines for a non-commutative reduction must be refused with
/// `InvalidArgument` when forced, and leave the communicator working.
#[test]
fn forcing_an_algorithm_that_declines_a_non_commutative_op() {
    let order_matters =
        || Reduction::custom(|a: &mut [u64], b: &[u64]| a[0] = a[0] * 3 + b[0], false);
    type CostFn = fn(Algorithm, &CostInput) -> Option<f64>;
    let modules: [(&str, &[Algorithm], CostFn); 4] = [
        ("allreduce", allreduce::ALGORITHMS, allreduce::cost),
        ("reduce", reduce::ALGORITHMS, reduce::cost),
        (
            "reduce_scatter",
            reduce_scatter::ALGORITHMS,
            reduce_scatter::cost,
        ),
        ("scan", scan::ALGORITHMS, scan::cost),
    ];
    run(2, |mut comm| async move {
        for (name, algorithms, cost) in modules {
            for &alg in algorithms {
                let input = CostInput {
                    ranks: 2,
                    bytes: 8,
                    profile: LinkProfile::IN_PROCESS,
                    commutative: false,
                };
                if cost(alg, &input).is_some() {
                    continue;
                }
                let me = comm.rank();
                let mut c = comm.with_options(OpOptions::new().algorithm(alg));
                let (send, mut recv) = ([1u64], [0u64]);
                let r = match name {
                    "allreduce" => c.all_reduce_into(&send, &mut recv, order_matters()).await,
                    "reduce" => c.reduce(&send, Some(&mut recv), order_matters(), me).await,
                    "reduce_scatter" => c.reduce_scatter(&[1, 2], &mut recv, order_matters()).await,
                    _ => c.scan(&send, &mut recv, order_matters()).await,
                };
                expect_err(r, ErrorKind::InvalidArgument, &[alg.name(), "cannot run"]);
            }
        }
        still_works(&mut comm).await;
    });
}

/// Ranks that disagree: the ranks that see a wrong header get `Mismatch`; every rank fails
/// by its next call at the latest (`Remote` from the abort, or the poison's own kind).
fn disagreement<F, Fut>(n: usize, involved: &[usize], words: &'static [&'static str], call: F)
where
    F: Fn(Communicator) -> Fut + Sync,
    Fut: std::future::Future<Output = (Communicator, fccl_collectives::Result<()>)>,
{
    let started = Instant::now();
    let outcomes = run(n, |comm| async {
        let (mut comm, first) = call(comm).await;
        let next = comm.barrier().await;
        (comm.rank(), first, next)
    });
    assert!(
        started.elapsed() < TIMEOUT,
        "a disagreement must not wait out a timeout"
    );
    for (rank, first, next) in outcomes {
        if involved.contains(&rank) {
            expect_err(first.clone(), ErrorKind::Mismatch, words);
        } else if let Err(e) = &first {
            assert!(
                matches!(e.kind(), ErrorKind::Mismatch | ErrorKind::Remote),
                "rank {rank}: {e}"
            );
        }
        let e = next.expect_err("every rank fails by its next call");
        let want = match &first {
            Err(first) => first.kind(),
            Ok(()) => ErrorKind::Remote,
        };
        assert_eq!(e.kind(), want, "rank {rank}'s next call: {e}");
    }
}

fn binomial() -> OpOptions {
    OpOptions::new().algorithm(Algorithm::Binomial)
}

#[test]
fn ranks_that_disagree_on_the_count() {
    // Binomial tree from 0 on 4 ranks: 0 -> 1, 0 -> 2 -> 3; rank 3 expects more.
    disagreement(4, &[3], &["count", "10", "11"], |mut comm| async move {
        let mut v = vec![1i64; if comm.rank() == 3 { 11 } else { 10 }];
        let r = comm.with_options(binomial()).broadcast(&mut v, 0).await;
        (comm, r)
    });
}

#[test]
fn ranks_that_disagree_on_the_type() {
    disagreement(
        2,
        &[1],
        &["data type", "i32", "f32"],
        |mut comm| async move {
            let r = if comm.rank() == 0 {
                comm.with_options(binomial())
                    .broadcast(&mut [1i32; 4], 0)
                    .await
            } else {
                comm.with_options(binomial())
                    .broadcast(&mut [0f32; 4], 0)
                    .await
            };
            (comm, r)
        },
    );
}

#[test]
fn ranks_that_disagree_on_the_root() {
    // Rank 2 believes it is the root and sends to rank 3 what rank 3 expects from rank 2
    // under root 0 (its parent in both trees), but with the other root in the header.
    disagreement(4, &[3], &["root", "2", "0"], |mut comm| async move {
        let root = if comm.rank() == 2 { 2 } else { 0 };
        let r = comm
            .with_options(binomial())
            .broadcast(&mut [5u8; 8], root)
            .await;
        (comm, r)
    });
}

#[test]
fn ranks_that_disagree_on_the_collective() {
    // Rank 1's barrier receives, as its first message from rank 0, rank 0's broadcast.
    disagreement(
        2,
        &[1],
        &["operation", "broadcast", "barrier"],
        |mut comm| async move {
            let r = if comm.rank() == 0 {
                comm.with_options(binomial())
                    .broadcast(&mut [1u8; 4], 0)
                    .await
            } else {
                comm.barrier().await
            };
            (comm, r)
        },
    );
}

#[test]
fn ranks_that_disagree_on_the_op() {
    // Every allreduce algorithm receives from its partner on 2 ranks.
    disagreement(2, &[0, 1], &["reduction code"], |mut comm| async move {
        let op = if comm.rank() == 0 {
            ReduceOp::Sum
        } else {
            ReduceOp::Max
        };
        let r = comm.all_reduce(&mut [1i32; 4], op).await;
        (comm, r)
    });
}

#[test]
fn a_rank_that_leaves_early() {
    let started = Instant::now();
    let outcomes = run(3, |mut comm| async move {
        if comm.rank() == 2 {
            return None; // drops its communicator and its endpoint
        }
        Some(comm.barrier().await)
    });
    assert!(
        started.elapsed() < TIMEOUT,
        "a departure must not wait out a timeout"
    );
    for r in outcomes.into_iter().flatten() {
        let e = r.expect_err("a barrier without rank 2 fails");
        assert!(
            matches!(e.kind(), ErrorKind::Remote | ErrorKind::Timeout),
            "kind {:?}: {e}",
            e.kind()
        );
        assert!(
            e.to_string().contains("barrier"),
            "names the collective: {e}"
        );
    }
}

#[test]
fn calls_after_a_poisoning_error_fail_fast_with_its_kind() {
    run(2, |mut comm| async move {
        let first = if comm.rank() == 0 {
            comm.send(&[1i32; 5], 1, 0).await.map(|_| ())
        } else {
            comm.recv(&mut [0i32; 2], 0, 0).await.map(|_| ())
        };
        if comm.rank() == 0 {
            assert!(first.is_ok());
            return;
        }
        expect_err(first, ErrorKind::Mismatch, &["receive buffer"]);
        let started = Instant::now();
        let again = comm.broadcast(&mut [0u8; 4], 0).await;
        let e = expect_err(again, ErrorKind::Mismatch, &["poisoned", "broadcast"]);
        assert_eq!(e.collective(), Some(Collective::Broadcast));
        let again = comm.all_reduce(&mut [0u8; 4], ReduceOp::Sum).await;
        expect_err(again, ErrorKind::Mismatch, &["poisoned"]);
        assert!(
            started.elapsed() < TIMEOUT,
            "a poisoned communicator fails at once"
        );
        assert_eq!(comm.poisoned().map(Error::kind), Some(ErrorKind::Mismatch));
    });
}
