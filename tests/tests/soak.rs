//! Soak: thousands of allreduces across 4 ranks (threads of this process) with faults
//! injected into every message by `FaultyTransport` — random delays that reorder them, and
//! copies — on each medium:
//!
//! - every result is exact (checked against sums computed here);
//! - the process's resident memory grows by less than 10% from just after the warm-up to
//!   the end: rank 0 reads it every hundredth of the run, and the mean of the readings
//!   over the tenth after the warm-up (the first fifth of the run) is compared with the
//!   mean over the last tenth (single readings swing by several percent as the allocator's
//!   per-thread arenas grow and shrink);
//! - every copy is taken out of the transport, and after the job closes nothing of it is
//!   left on the server (memcached's keys, Redis's keys, SQS's queues).
//!
//! The suite runs 10,000 allreduces over tcp and fewer over the stores, whose every
//! message is a request to the server ([`store_ops`]); `FCCL_SOAK=full` runs 10,000 over
//! every medium, past nextest's time limits, so through libtest:
//! `FCCL_SOAK=full cargo test -p fccl-tests --test soak -- --nocapture` (about two
//! minutes each over memcached and Redis, and a quarter of an hour over moto's SQS).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fccl_collectives::transport::faulty::{Faults, FaultyTransport};
use fccl_collectives::{JobSpec, ReduceOp, Transport, local};
use fccl_tests::servers::{Memcached, Moto, Redis};
use fccl_transports::memcached::{MemcachedSpec, MemcachedTransport};
use fccl_transports::redis::{RedisSpec, RedisTransport};
use fccl_transports::sqs::{SqsSpec, SqsTransport, static_config};

/// Ranks in the soak job.
const RANKS: usize = 4;
/// The allreduces of a full soak.
const FULL_OPS: usize = 10_000;
/// The element counts the allreduces cycle through (8 B to 128 KiB of i64).
const COUNTS: [usize; 4] = [1, 64, 1024, 16_384];

/// How many allreduces a store soak runs: `ci` in the test suite, [`FULL_OPS`] with
/// `FCCL_SOAK=full`.
fn store_ops(ci: usize) -> usize {
    if std::env::var("FCCL_SOAK").is_ok_and(|v| v == "full") {
        FULL_OPS
    } else {
        ci
    }
}

/// This process's resident memory, in bytes (`/proc/self/statm`).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's resident field");
    pages * 4096
}

/// Element `j` of rank `r`'s contribution to allreduce `i`.
fn value(r: usize, i: usize, j: usize) -> i64 {
    ((r as i64 + 1) << 40) ^ ((i as i64) << 16) ^ j as i64
}

/// Runs `ops` checked allreduces on `endpoints` with delays up to `delay` and a copy of
/// one message in fifty, closes the job, and checks memory and copies.
fn soak(medium: &str, endpoints: Vec<Arc<dyn Transport>>, ops: usize, delay: Duration) {
    assert!(ops >= 100, "a soak of at least 100 allreduces");
    let every = ops / 100;
    let faults = Faults::none().delay(delay).duplicate(0.02).seed(ops as u64);
    let (endpoints, log) = FaultyTransport::wrap(endpoints, faults);
    let memory = Mutex::new(Vec::new());
    let started = Instant::now();
    let outcomes = local::run_on(endpoints, |mut comm| {
        let memory = &memory;
        async move {
            let r = comm.rank();
            for i in 0..ops {
                let count = COUNTS[i % COUNTS.len()];
                let mut data: Vec<i64> = (0..count).map(|j| value(r, i, j)).collect();
                comm.all_reduce(&mut data, ReduceOp::Sum).await?;
                let exact = data
                    .iter()
                    .enumerate()
                    .all(|(j, &got)| got == (0..RANKS).map(|q| value(q, i, j)).sum::<i64>());
                assert!(
                    exact,
                    "{medium}: rank {r}: allreduce {i} of {count} is not exact"
                );
                if r == 0 && i % every == 0 {
                    memory.lock().unwrap().push((i, resident_bytes()));
                }
            }
            comm.close().await
        }
    });
    for (r, outcome) in outcomes.into_iter().enumerate() {
        outcome.unwrap_or_else(|e| panic!("{medium}: rank {r}: {e}"));
    }
    let samples = memory.into_inner().unwrap();
    let mean = |from: usize, to: usize| {
        let window: Vec<u64> = samples
            .iter()
            .filter(|&&(i, _)| (from..to).contains(&i))
            .map(|&(_, bytes)| bytes)
            .collect();
        window.iter().sum::<u64>() / window.len() as u64
    };
    let warmup = ops / 5;
    let (warm, end) = (mean(warmup, warmup + ops / 10), mean(ops - ops / 10, ops));
    let counts = log.counts();
    println!(
        "soak {medium}: {ops} allreduces on {RANKS} ranks in {:.1?}; resident memory {:.1} MiB \
         just after the warm-up, {:.1} MiB at the end ({:+.1}%); faults {counts:?}",
        started.elapsed(),
        warm as f64 / (1 << 20) as f64,
        end as f64 / (1 << 20) as f64,
        (end as f64 / warm as f64 - 1.0) * 100.0
    );
    assert!(
        end * 10 < warm * 11,
        "{medium}: resident memory grew from {warm} to {end} bytes after the warm-up"
    );
    assert!(
        counts.delayed > 0 && counts.duplicates_injected > 0,
        "{counts:?}"
    );
    assert_eq!(
        counts.duplicates_discarded, counts.duplicates_injected,
        "{medium}: every copy is taken out of the transport"
    );
}

#[test]
fn ten_thousand_allreduces_over_tcp_with_faults() {
    let endpoints = fccl_tests::tcp::endpoints(RANKS);
    soak("tcp", endpoints, FULL_OPS, Duration::from_micros(200));
}

#[test]
fn allreduces_over_memcached_with_faults_leave_nothing() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(RANKS, format!("memcached://{}", server.addr())).expect("a job");
    let spec = MemcachedSpec::parse(&job.transport).expect("a memcached spec");
    let endpoints =
        fccl_tests::join::join_all(RANKS, |rank| MemcachedTransport::connect(&job, rank, &spec));
    soak(
        "memcached",
        endpoints,
        store_ops(2_000),
        Duration::from_micros(500),
    );
    assert_eq!(
        server.keys(),
        Vec::<String>::new(),
        "keys left after the job closed"
    );
}

#[test]
fn allreduces_over_redis_with_faults_leave_nothing() {
    let Some(server) = Redis::start() else {
        return;
    };
    let job = JobSpec::new(RANKS, format!("redis://{}", server.addr())).expect("a job");
    let spec = RedisSpec::parse(&job.transport).expect("a redis spec");
    let endpoints =
        fccl_tests::join::join_all(RANKS, |rank| RedisTransport::connect(&job, rank, &spec));
    soak(
        "redis",
        endpoints,
        store_ops(2_000),
        Duration::from_micros(500),
    );
    assert_eq!(server.dbsize(), 0, "keys left after the job closed");
}

#[test]
fn allreduces_over_sqs_with_faults_leave_nothing() {
    let Some(server) = Moto::start() else {
        return;
    };
    let url = format!("sqs://us-east-1/soak?endpoint={}", server.endpoint());
    let job = JobSpec::new(RANKS, url).expect("a job");
    let spec = SqsSpec::parse(&job.transport).expect("an sqs spec");
    let config = static_config("testing", "testing");
    let endpoints = fccl_tests::join::join_all(RANKS, |rank| {
        SqsTransport::connect_with_config(&job, rank, &spec, &config)
    });
    soak("sqs", endpoints, store_ops(600), Duration::from_millis(1));
    assert_eq!(
        server.queue_urls(),
        Vec::<String>::new(),
        "queues left after the job closed"
    );
}
