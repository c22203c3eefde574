//! Every collective over SQS queues whose records come twice, out of order and late (made
//! so by the senders, below the receivers' de-duplication and reassembly), against one
//! `moto_server` on a free loopback port: each result must equal a reference computed here
//! element by element, and the receivers must have dropped the copies and delivered
//! each message once. Without
//! `moto_server` on the PATH the test says so and passes (under CI it fails).

use std::sync::Arc;
use std::time::Duration;

use fccl_collectives::{Communicator, JobSpec, ReduceOp, Transport, local};
use fccl_tests::servers::Moto;
use fccl_transports::sqs::{SendFaults, SqsSpec, SqsTransport, static_config};

const RANKS: usize = 3;

/// Elements per rank and block: 2,000 `i64` are 16 KB, several records of a 4 KiB body.
const M: usize = 2000;

/// Rank `r`'s `i`-th input element.
fn v(r: usize, i: usize) -> i64 {
    (r as i64 + 1) * 1_000_003 + i as i64 * 7
}

/// How many elements rank `r` sends to rank `b` in the all-to-all-v.
fn count_v(r: usize, b: usize) -> usize {
    100 * (r + 1) + 37 * b
}

/// The `j`-th element rank `r` sends to rank `b` in the all-to-all-v.
fn w(r: usize, b: usize, j: usize) -> i64 {
    (r * 10 + b) as i64 * 100_000 + j as i64
}

/// Joins `RANKS` ranks over `server` with the spec options `query`, each sending with
/// `faults` (seeded by its rank).
fn join(server: &Moto, query: &str, faults: SendFaults) -> Vec<Arc<SqsTransport>> {
    let url = format!(
        "sqs://us-east-1/faults?endpoint={}&max_message=4096{query}",
        server.endpoint()
    );
    let job = JobSpec::new(RANKS, url).expect("a valid job");
    let spec = SqsSpec::parse(&job.transport).expect("an sqs spec");
    let config = static_config("testing", "testing");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let joins = (0..RANKS).map(|r| SqsTransport::connect_with_config(&job, r, &spec, &config));
    runtime
        .block_on(futures_util::future::join_all(joins))
        .into_iter()
        .enumerate()
        .map(|(r, t)| {
            let t = t.expect("every rank joins");
            t.inject_faults(SendFaults {
                seed: r as u64,
                ..faults
            });
            Arc::new(t)
        })
        .collect()
}

/// Runs every collective once on `comm` and returns what differed from the reference.
async fn every_collective(mut comm: Communicator) -> Vec<String> {
    comm.set_timeout(Duration::from_secs(60));
    let (me, p) = (comm.rank(), comm.size());
    let mine: Vec<i64> = (0..M).map(|i| v(me, i)).collect();
    let sum = |f: &dyn Fn(usize) -> i64| (0..p).map(f).sum::<i64>();
    let mut wrong = Vec::new();
    let mut check = |what: &str, got: &[i64], want: &[i64]| {
        if got != want {
            let at = got.iter().zip(want).position(|(g, w)| g != w);
            wrong.push(format!("rank {me}: {what} differs (first at {at:?})"));
        }
    };

    let mut x = mine.clone();
    comm.all_reduce(&mut x, ReduceOp::Sum).await.unwrap();
    let want: Vec<i64> = (0..M).map(|i| sum(&|r| v(r, i))).collect();
    check("allreduce", &x, &want);

    let mut out = vec![0i64; M];
    let recv = (me == 1).then_some(&mut out[..]);
    comm.reduce(&mine, recv, ReduceOp::Sum, 1).await.unwrap();
    if me == 1 {
        check("reduce", &out, &want);
    }

    let mut x = if me == 2 { mine.clone() } else { vec![0; M] };
    comm.broadcast(&mut x, 2).await.unwrap();
    check(
        "broadcast",
        &x,
        &(0..M).map(|i| v(2, i)).collect::<Vec<_>>(),
    );

    let send: Vec<i64> = (0..p * M).map(|i| v(me, i)).collect();
    let mut out = vec![0i64; M];
    comm.reduce_scatter(&send, &mut out, ReduceOp::Sum)
        .await
        .unwrap();
    let want: Vec<i64> = (0..M).map(|j| sum(&|r| v(r, me * M + j))).collect();
    check("reduce_scatter", &out, &want);

    let mut all = vec![0i64; p * M];
    comm.all_gather(&mine, &mut all).await.unwrap();
    let blocks: Vec<i64> = (0..p).flat_map(|r| (0..M).map(move |i| v(r, i))).collect();
    check("allgather", &all, &blocks);

    let mut out = vec![0i64; p * M];
    comm.all_to_all(&send, &mut out).await.unwrap();
    let want: Vec<i64> = (0..p)
        .flat_map(|r| (0..M).map(move |j| v(r, me * M + j)))
        .collect();
    check("alltoall", &out, &want);

    let send_counts: Vec<usize> = (0..p).map(|b| count_v(me, b)).collect();
    let send_v: Vec<i64> = (0..p)
        .flat_map(|b| (0..count_v(me, b)).map(move |j| w(me, b, j)))
        .collect();
    let recv_counts: Vec<usize> = (0..p).map(|r| count_v(r, me)).collect();
    let mut out = vec![0i64; recv_counts.iter().sum()];
    comm.all_to_all_v(&send_v, &send_counts, &mut out, &recv_counts)
        .await
        .unwrap();
    let want: Vec<i64> = (0..p)
        .flat_map(|r| (0..count_v(r, me)).map(move |j| w(r, me, j)))
        .collect();
    check("alltoallv", &out, &want);

    let mut all = vec![0i64; p * M];
    let recv = (me == 0).then_some(&mut all[..]);
    comm.gather(&mine, recv, 0).await.unwrap();
    if me == 0 {
        check("gather", &all, &blocks);
    }

    let mut out = vec![0i64; M];
    let root_send = (me == 1).then_some(&blocks[..]);
    comm.scatter(root_send, &mut out, 1).await.unwrap();
    check("scatter", &out, &blocks[me * M..(me + 1) * M]);

    let mut out = vec![0i64; M];
    comm.scan(&mine, &mut out, ReduceOp::Sum).await.unwrap();
    let upto = |last: usize| -> Vec<i64> {
        (0..M)
            .map(|i| (0..last).map(|r| v(r, i)).sum::<i64>())
            .collect()
    };
    check("scan", &out, &upto(me + 1));

    let mut out = vec![0i64; M];
    comm.exscan(&mine, &mut out, ReduceOp::Sum).await.unwrap();
    if me > 0 {
        check("exscan", &out, &upto(me));
    }

    comm.barrier().await.unwrap();

    let next = (me + 1) % p;
    let prev = (me + p - 1) % p;
    comm.send(&mine, next, 7).await.unwrap();
    let mut got = vec![0i64; M];
    let n = comm.recv(&mut got, prev, 7).await.unwrap();
    check(
        "send/recv",
        &got[..n],
        &(0..M).map(|i| v(prev, i)).collect::<Vec<_>>(),
    );

    comm.barrier().await.unwrap();
    wrong
}

/// Runs [`every_collective`] on `ranks` and checks the results and that every message was
/// delivered once; returns how many copies the receivers dropped.
fn run_and_check(ranks: &[Arc<SqsTransport>]) -> u64 {
    let endpoints: Vec<Arc<dyn Transport>> = ranks
        .iter()
        .map(|t| Arc::clone(t) as Arc<dyn Transport>)
        .collect();
    let wrong: Vec<String> = local::run_on(endpoints, every_collective)
        .into_iter()
        .flatten()
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    let refused: u64 = ranks.iter().map(|t| t.rejected_records()).sum();
    assert_eq!(refused, 0, "records of this job were refused");
    let sent: u64 = ranks.iter().map(|t| t.messages_sent()).sum();
    let delivered: u64 = ranks.iter().map(|t| t.messages_delivered()).sum();
    assert_eq!(delivered, sent, "every message delivered once");
    ranks.iter().map(|t| t.duplicate_records()).sum()
}

#[test]
fn every_collective_is_exact_through_copies_reordering_and_delays() {
    let Some(server) = Moto::start() else { return };
    let faults = SendFaults {
        copies: 0.3,
        late: 0.2,
        max_delay: Duration::from_millis(300),
        seed: 0,
    };
    let ranks = join(&server, "", faults);
    let copies = run_and_check(&ranks);
    assert!(
        copies > 0,
        "the faults made no copies that reached a receiver"
    );
}

/// Over FIFO queues every record goes twice with its de-duplication id. SQS drops a copy
/// sent within five minutes of its record; moto drops it only while the record is still
/// in the queue, so copies that come after their record was taken still reach the
/// receivers, which must drop them as on standard queues.
#[test]
fn every_collective_is_exact_over_fifo_queues_with_records_sent_twice() {
    let Some(server) = Moto::start() else { return };
    let twice = SendFaults {
        copies: 1.0,
        late: 0.0,
        max_delay: Duration::ZERO,
        seed: 0,
    };
    let ranks = join(&server, "&fifo=true", twice);
    assert!(ranks[0].queue_name(1).ends_with(".fifo"));
    run_and_check(&ranks);
}
