//! Faults injected into the messages of real transports by `FaultyTransport`
//! (`collectives/src/transport/faulty.rs`), ranks as threads of this process:
//!
//! - delayed, reordered and duplicated messages leave every collective exact: the
//!   conformance suite over tcp at 3 and 4 ranks, and a job of mixed collectives over tcp,
//!   memcached and redis, whose copies are all taken out of the transport by its close;
//! - a lost message makes the rank waiting for it fail with `Timeout` by its deadline
//!   (plus a second), naming the peer;
//! - a reset link makes both of its ends fail with `Remote` naming each other, long before
//!   the op timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fccl_collectives::transport::faulty::{FaultCounts, FaultLog, Faults, FaultyTransport};
use fccl_collectives::{ErrorKind, JobSpec, OpOptions, ReduceOp, Transport, local};
use fccl_tests::servers::{Memcached, Redis};
use fccl_transports::memcached::{MemcachedSpec, MemcachedTransport};
use fccl_transports::redis::{RedisSpec, RedisTransport};

/// Delays of up to 300 µs (so messages overtake each other) and a copy of one message in
/// twenty.
fn delays_and_copies(seed: u64) -> Faults {
    Faults::none()
        .delay(Duration::from_micros(300))
        .duplicate(0.05)
        .seed(seed)
}

/// The conformance suite (every collective, algorithm, type, op and count against a
/// sequential reference) over `p` tcp ranks whose messages are delayed and duplicated.
fn conformance_with_faults(p: usize) {
    let log: Mutex<Option<FaultLog>> = Mutex::new(None);
    let make = |n| {
        let (endpoints, faults) =
            FaultyTransport::wrap(fccl_tests::tcp::endpoints(n), delays_and_copies(p as u64));
        *log.lock().unwrap() = Some(faults);
        endpoints
    };
    fccl_tests::conformance::run_ranks("tcp with delays and copies", &make, p);
    let counts = log
        .lock()
        .unwrap()
        .as_ref()
        .expect("the suite made endpoints")
        .counts();
    println!("faults injected: {counts:?}");
    assert!(
        counts.delayed > 1000 && counts.duplicates_injected > 50,
        "too few faults to mean anything: {counts:?}"
    );
}

#[test]
fn the_conformance_suite_over_tcp_survives_delays_and_copies_on_3_ranks() {
    conformance_with_faults(3);
}

#[test]
fn the_conformance_suite_over_tcp_survives_delays_and_copies_on_4_ranks() {
    conformance_with_faults(4);
}

/// Element `j` of rank `r`'s contribution to round `round`.
fn value(r: usize, round: usize, j: usize) -> i64 {
    ((r + 1) * 1_000_003 + round * 7919 + j * 31) as i64 % 1_000_000_007
}

/// Runs rounds of allreduce, alltoall and broadcast at several sizes on `endpoints` with
/// `faults`, checks every result against the sum or block computed here, closes the job
/// and returns what was injected.
fn mixed_job(endpoints: Vec<Arc<dyn Transport>>, faults: Faults) -> FaultCounts {
    let (endpoints, log) = FaultyTransport::wrap(endpoints, faults);
    let p = endpoints.len();
    let outcomes = local::run_on(endpoints, |mut comm| async move {
        let r = comm.rank();
        for (round, count) in [1usize, 100, 5000, 40_000].into_iter().enumerate() {
            let mut data: Vec<i64> = (0..count).map(|j| value(r, round, j)).collect();
            comm.all_reduce(&mut data, ReduceOp::Sum).await?;
            let want: Vec<i64> = (0..count)
                .map(|j| (0..p).map(|q| value(q, round, j)).sum())
                .collect();
            assert!(data == want, "rank {r}: allreduce of {count} differs");

            let send: Vec<i64> = (0..count * p).map(|j| value(r, round, j)).collect();
            let mut recv = vec![0i64; count * p];
            comm.all_to_all(&send, &mut recv).await?;
            for q in 0..p {
                let want: Vec<i64> = (0..count).map(|j| value(q, round, r * count + j)).collect();
                assert!(
                    recv[q * count..][..count] == want[..],
                    "rank {r}: block from {q} differs"
                );
            }

            let root = round % p;
            let mut data: Vec<i64> = (0..count).map(|j| value(r, round, j)).collect();
            comm.broadcast(&mut data, root).await?;
            let want: Vec<i64> = (0..count).map(|j| value(root, round, j)).collect();
            assert!(data == want, "rank {r}: broadcast from {root} differs");
        }
        comm.close().await
    });
    for (r, outcome) in outcomes.into_iter().enumerate() {
        outcome.unwrap_or_else(|e| panic!("rank {r}: {e}"));
    }
    let counts = log.counts();
    println!("faults injected: {counts:?}");
    assert!(
        counts.delayed > 0 && counts.duplicates_injected > 0,
        "{counts:?}"
    );
    assert_eq!(
        counts.duplicates_discarded, counts.duplicates_injected,
        "every copy is taken out of the transport by the close"
    );
    counts
}

#[test]
fn a_job_over_tcp_survives_delays_and_copies_and_keeps_no_copy() {
    let faults = Faults::none()
        .delay(Duration::from_micros(300))
        .duplicate(0.2)
        .seed(1);
    mixed_job(fccl_tests::tcp::endpoints(4), faults);
}

#[test]
fn a_job_over_memcached_survives_delays_and_copies_and_leaves_nothing() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(3, format!("memcached://{}", server.addr())).expect("a valid job");
    let spec = MemcachedSpec::parse(&job.transport).expect("a memcached spec");
    let endpoints =
        fccl_tests::join::join_all(3, |rank| MemcachedTransport::connect(&job, rank, &spec));
    mixed_job(
        endpoints,
        Faults::none()
            .delay(Duration::from_millis(1))
            .duplicate(0.2)
            .seed(2),
    );
    assert_eq!(
        server.keys(),
        Vec::<String>::new(),
        "keys left after the job closed"
    );
}

#[test]
fn a_job_over_redis_survives_delays_and_copies_and_leaves_nothing() {
    let Some(server) = Redis::start() else {
        return;
    };
    let job = JobSpec::new(3, format!("redis://{}", server.addr())).expect("a valid job");
    let spec = RedisSpec::parse(&job.transport).expect("a redis spec");
    let endpoints =
        fccl_tests::join::join_all(3, |rank| RedisTransport::connect(&job, rank, &spec));
    mixed_job(
        endpoints,
        Faults::none()
            .delay(Duration::from_millis(1))
            .duplicate(0.2)
            .seed(3),
    );
    assert_eq!(server.dbsize(), 0, "keys left after the job closed");
}

/// The op timeout of the failure tests.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How a rank's allreduce failed: the error's kind, peer and message, and how long after
/// the start it came.
type Failure = (ErrorKind, Option<usize>, String, Duration);

/// Runs one allreduce on each of `p` tcp ranks with `faults` and [`TIMEOUT`]; returns each
/// rank's failure, or `None` where it succeeded.
fn failing_allreduce(p: usize, faults: Faults) -> Vec<Option<Failure>> {
    let (endpoints, _log) = FaultyTransport::wrap(fccl_tests::tcp::endpoints(p), faults);
    local::run_on(endpoints, |mut comm| async move {
        let started = Instant::now();
        let mut data = vec![comm.rank() as u64; 1000];
        let options = OpOptions::new().timeout(TIMEOUT);
        let result = comm
            .with_options(options)
            .all_reduce(&mut data, ReduceOp::Sum)
            .await;
        result
            .err()
            .map(|e| (e.kind(), e.peer(), e.to_string(), started.elapsed()))
    })
}

#[test]
fn lost_messages_fail_the_waiting_ranks_by_their_deadline_naming_the_peer() {
    let outcomes = failing_allreduce(3, Faults::none().drop(1.0));
    for (r, outcome) in outcomes.iter().enumerate() {
        let (kind, peer, message, after) = outcome.clone().unwrap_or_else(|| {
            panic!("rank {r} finished an allreduce whose every message was lost")
        });
        assert!(
            matches!(kind, ErrorKind::Timeout | ErrorKind::Remote),
            "rank {r}: {kind:?}: {message}"
        );
        assert!(
            peer.is_some_and(|q| q != r && q < 3),
            "rank {r}: the error names no peer: {message}"
        );
        assert!(
            after <= TIMEOUT + Duration::from_secs(1),
            "rank {r} failed after {after:?}: {message}"
        );
    }
    // At least one rank timed out itself (the others may have learnt of its failure).
    assert!(
        outcomes.iter().flatten().any(|o| o.0 == ErrorKind::Timeout),
        "{outcomes:?}"
    );
}

#[test]
fn a_reset_link_fails_both_ends_at_once_naming_each_other() {
    // The first message of the job resets its link; a 2-rank allreduce needs that link.
    let outcomes = failing_allreduce(2, Faults::none().reset_after(1));
    for (r, outcome) in outcomes.iter().enumerate() {
        let (kind, peer, message, after) = outcome
            .clone()
            .unwrap_or_else(|| panic!("rank {r} finished an allreduce over a reset link"));
        assert_eq!(kind, ErrorKind::Remote, "rank {r}: {message}");
        assert_eq!(peer, Some(1 - r), "rank {r}: {message}");
        assert!(message.contains("reset"), "rank {r}: {message}");
        assert!(
            after < TIMEOUT / 2,
            "rank {r} took {after:?} to learn of the reset: {message}"
        );
    }
}
