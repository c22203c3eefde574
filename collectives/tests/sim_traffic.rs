//! Every algorithm's stated traffic, checked against what the simulated network counts.
//!
//! For each collective, each algorithm in its `ALGORITHMS` (forced through the call's
//! options), p in {1, 2, 3, 4, 5, 8} and a range of counts (including a large one that
//! pipelined algorithms cut into chunks), the public `Communicator` call runs on the
//! simulator, and the messages and payload bytes it sent must equal the module's
//! `traffic(...)` exactly. The results are checked against a sequential reference, so a
//! traffic check cannot pass on a broken algorithm. Cases whose `cost` is `None` (the
//! algorithm cannot run that call) are skipped. Every failing case is listed, not only the
//! first.
//!
//! Then the simulator's own model: the virtual time of a binomial broadcast, exact results
//! under reordering and duplication, and a lost-message barrier that times out instead of
//! hanging.

use std::time::Duration;

use fccl_collectives::algorithms::blocks::Blocks;
use fccl_collectives::algorithms::{
    allgather, allreduce, alltoall, alltoallv, barrier, broadcast, gather, reduce, reduce_scatter,
    scan, scatter,
};
use fccl_collectives::transport::sim::{self, SimConfig, SimReport, SimTransport};
use fccl_collectives::{
    Algorithm, CostInput, ErrorKind, LinkProfile, OpOptions, ReduceOp, Result, Traffic, Transport,
};

/// Rank counts every case runs on.
const PS: [usize; 6] = [1, 2, 3, 4, 5, 8];
/// Element counts; the last is large enough that pipelined algorithms send several chunks.
const COUNTS: [usize; 5] = [0, 1, 7, 1000, LARGE];
/// About 400 KB of `i32`: several 64 KB chunks.
const LARGE: usize = 100_000;
/// Bytes per element of the test data (`i32`).
const ELEM: usize = 4;

fn config() -> SimConfig {
    SimConfig::new()
}

fn profile() -> LinkProfile {
    SimTransport::fabric(1, config())[0].profile()
}

fn cost_input(p: usize, bytes: usize) -> CostInput {
    CostInput {
        ranks: p,
        bytes,
        profile: profile(),
        commutative: true,
    }
}

/// Rank `rank`'s `len` input elements: small, varied integers, so sums are exact.
fn data(rank: usize, len: usize) -> Vec<i32> {
    (0..len)
        .map(|e| ((rank * 7919 + e * 104_729) % 1000) as i32 - 500)
        .collect()
}

/// The element-wise sum of ranks `0..upto`'s inputs of `len` elements.
fn sum_of(upto: usize, len: usize) -> Vec<i32> {
    let mut acc = vec![0; len];
    for r in 0..upto {
        for (a, x) in acc.iter_mut().zip(data(r, len)) {
            *a += x;
        }
    }
    acc
}

/// For the collectives whose count is a per-rank block: a block size such that the whole
/// buffer stays about `LARGE` elements at the large count.
fn block_count(p: usize, count: usize) -> usize {
    if count == LARGE { LARGE / p } else { count }
}

fn with(a: Algorithm) -> OpOptions {
    OpOptions::new().algorithm(a)
}

/// Compares a run with the expected results (per rank) and traffic; describes any difference.
fn verdict(
    report: &SimReport<Result<Vec<i32>>>,
    expected: impl Fn(usize) -> Vec<i32>,
    traffic: Traffic,
) -> std::result::Result<(), String> {
    let mut problems = Vec::new();
    for (rank, result) in report.results.iter().enumerate() {
        match result {
            Err(e) => problems.push(format!("rank {rank} failed: {e}")),
            Ok(got) => {
                let want = expected(rank);
                if got.len() != want.len() {
                    problems.push(format!(
                        "rank {rank} got {} elements, expected {}",
                        got.len(),
                        want.len()
                    ));
                } else if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                    problems.push(format!(
                        "rank {rank} element {i} is {}, expected {}",
                        got[i], want[i]
                    ));
                }
            }
        }
    }
    if report.traffic() != traffic {
        problems.push(format!(
            "traffic: formula says {} messages / {} bytes, simulator measured {} / {}",
            traffic.messages, traffic.bytes, report.messages, report.bytes
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Runs `case(algorithm, p, count)` over every algorithm, p and count and fails with the
/// list of failing cases. `case` returns `None` where the algorithm cannot run the call.
fn sweep(
    collective: &str,
    algorithms: &[Algorithm],
    counts: &[usize],
    case: impl Fn(Algorithm, usize, usize) -> Option<std::result::Result<(), String>>,
) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for &a in algorithms {
        for p in PS {
            for &n in counts {
                match case(a, p, n) {
                    None => {}
                    Some(Ok(())) => ran += 1,
                    Some(Err(why)) => {
                        ran += 1;
                        failures.push(format!("{collective}/{a} p={p} count={n}: {why}"));
                    }
                }
            }
        }
    }
    eprintln!("{collective}: {ran} cases ran, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {ran} {collective} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn allreduce_traffic_matches() {
    sweep("allreduce", allreduce::ALGORITHMS, &COUNTS, |a, p, n| {
        allreduce::cost(a, &cost_input(p, n * ELEM))?;
        let report = sim::run(p, config(), |mut comm| async move {
            let mut buf = data(comm.rank(), n);
            let mut c = comm.with_options(with(a));
            c.all_reduce(&mut buf, ReduceOp::Sum).await.map(|()| buf)
        });
        let sum = sum_of(p, n);
        Some(verdict(
            &report,
            |_| sum.clone(),
            allreduce::traffic(a, p, n, ELEM),
        ))
    });
}

#[test]
fn reduce_traffic_matches() {
    sweep("reduce", reduce::ALGORITHMS, &COUNTS, |a, p, n| {
        reduce::cost(a, &cost_input(p, n * ELEM))?;
        let root = p / 2;
        let report = sim::run(p, config(), |mut comm| async move {
            let send = data(comm.rank(), n);
            let mut recv = vec![0; if comm.rank() == root { n } else { 0 }];
            let at_root = (comm.rank() == root).then_some(&mut recv[..]);
            let mut c = comm.with_options(with(a));
            c.reduce(&send, at_root, ReduceOp::Sum, root)
                .await
                .map(|()| recv)
        });
        let sum = sum_of(p, n);
        let expected = |r: usize| if r == root { sum.clone() } else { Vec::new() };
        let traffic = reduce::traffic(a, p, n, ELEM, root, true, &profile());
        Some(verdict(&report, expected, traffic))
    });
}

#[test]
fn broadcast_traffic_matches() {
    sweep("broadcast", broadcast::ALGORITHMS, &COUNTS, |a, p, n| {
        broadcast::cost(a, &cost_input(p, n * ELEM))?;
        let root = p / 2;
        let report = sim::run(p, config(), |mut comm| async move {
            let mut buf = if comm.rank() == root {
                data(root, n)
            } else {
                vec![0; n]
            };
            let mut c = comm.with_options(with(a));
            c.broadcast(&mut buf, root).await.map(|()| buf)
        });
        let want = data(root, n);
        Some(verdict(
            &report,
            |_| want.clone(),
            broadcast::traffic(a, p, n, ELEM, root, &profile()),
        ))
    });
}

#[test]
fn reduce_scatter_traffic_matches() {
    sweep(
        "reduce_scatter",
        reduce_scatter::ALGORITHMS,
        &COUNTS,
        |a, p, n| {
            let block = block_count(p, n);
            reduce_scatter::cost(a, &cost_input(p, p * block * ELEM))?;
            let report = sim::run(p, config(), |mut comm| async move {
                let send = data(comm.rank(), p * block);
                let mut recv = vec![0; block];
                let mut c = comm.with_options(with(a));
                c.reduce_scatter(&send, &mut recv, ReduceOp::Sum)
                    .await
                    .map(|()| recv)
            });
            let sum = sum_of(p, p * block);
            let expected = |r: usize| sum[r * block..(r + 1) * block].to_vec();
            let traffic = reduce_scatter::traffic(a, &Blocks::uniform(p, block), ELEM);
            Some(verdict(&report, expected, traffic))
        },
    );
}

#[test]
fn allgather_traffic_matches() {
    sweep("allgather", allgather::ALGORITHMS, &COUNTS, |a, p, n| {
        let block = block_count(p, n);
        allgather::cost(a, &cost_input(p, p * block * ELEM))?;
        let report = sim::run(p, config(), |mut comm| async move {
            let send = data(comm.rank(), block);
            let mut recv = vec![0; p * block];
            let mut c = comm.with_options(with(a));
            c.all_gather(&send, &mut recv).await.map(|()| recv)
        });
        let all: Vec<i32> = (0..p).flat_map(|r| data(r, block)).collect();
        let traffic = allgather::traffic(a, &Blocks::uniform(p, block), ELEM);
        Some(verdict(&report, |_| all.clone(), traffic))
    });
}

/// Rank `i`'s all-to-all receive buffer: block `j` is block `i` of rank `j`'s send buffer.
fn alltoall_expected(p: usize, block: usize, i: usize) -> Vec<i32> {
    (0..p)
        .flat_map(|j| data(j, p * block)[i * block..(i + 1) * block].to_vec())
        .collect()
}

#[test]
fn alltoall_traffic_matches() {
    sweep("alltoall", alltoall::ALGORITHMS, &COUNTS, |a, p, n| {
        let block = block_count(p, n);
        alltoall::cost(a, &cost_input(p, p * block * ELEM))?;
        let report = sim::run(p, config(), |mut comm| async move {
            let send = data(comm.rank(), p * block);
            let mut recv = vec![0; p * block];
            let mut c = comm.with_options(with(a));
            c.all_to_all(&send, &mut recv).await.map(|()| recv)
        });
        let expected = |i: usize| alltoall_expected(p, block, i);
        Some(verdict(
            &report,
            expected,
            alltoall::traffic(a, p, block, ELEM, &profile()),
        ))
    });
}

/// Elements rank `i` sends to rank `j` in the all-to-all-v cases of size `n`: uneven,
/// some zero.
fn v_count(n: usize, i: usize, j: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 3 * i + 5 * j) % (n + 1)
    }
}

#[test]
fn alltoallv_traffic_matches() {
    sweep("alltoallv", alltoallv::ALGORITHMS, &COUNTS, |a, p, n| {
        let n = if n == LARGE { LARGE / (p * p) } else { n };
        let counts: Vec<Vec<usize>> = (0..p)
            .map(|i| (0..p).map(|j| v_count(n, i, j)).collect())
            .collect();
        let sent = |i: usize| counts[i].iter().sum::<usize>();
        alltoallv::cost(a, &cost_input(p, sent(0) * ELEM))?;
        // The segment of rank i's send buffer that goes to rank j.
        let segment = |i: usize, j: usize| {
            let start: usize = counts[i][..j].iter().sum();
            data(i, sent(i))[start..start + counts[i][j]].to_vec()
        };
        let counts = &counts;
        let report = sim::run(p, config(), |mut comm| async move {
            let i = comm.rank();
            let send_counts = counts[i].clone();
            let recv_counts: Vec<usize> = (0..p).map(|j| counts[j][i]).collect();
            let send = data(i, send_counts.iter().sum());
            let mut recv = vec![0; recv_counts.iter().sum()];
            let mut c = comm.with_options(with(a));
            c.all_to_all_v(&send, &send_counts, &mut recv, &recv_counts)
                .await
                .map(|()| recv)
        });
        let expected = |i: usize| (0..p).flat_map(|j| segment(j, i)).collect();
        Some(verdict(
            &report,
            expected,
            alltoallv::traffic(a, counts, ELEM, &profile()),
        ))
    });
}

#[test]
fn gather_traffic_matches() {
    sweep("gather", gather::ALGORITHMS, &COUNTS, |a, p, n| {
        let block = block_count(p, n);
        gather::cost(a, &cost_input(p, p * block * ELEM))?;
        let root = p / 2;
        let report = sim::run(p, config(), |mut comm| async move {
            let send = data(comm.rank(), block);
            let mut recv = vec![0; if comm.rank() == root { p * block } else { 0 }];
            let at_root = (comm.rank() == root).then_some(&mut recv[..]);
            let mut c = comm.with_options(with(a));
            c.gather(&send, at_root, root).await.map(|()| recv)
        });
        let all: Vec<i32> = (0..p).flat_map(|r| data(r, block)).collect();
        let expected = |r: usize| if r == root { all.clone() } else { Vec::new() };
        Some(verdict(
            &report,
            expected,
            gather::traffic(a, p, block, ELEM),
        ))
    });
}

#[test]
fn scatter_traffic_matches() {
    sweep("scatter", scatter::ALGORITHMS, &COUNTS, |a, p, n| {
        let block = block_count(p, n);
        scatter::cost(a, &cost_input(p, p * block * ELEM))?;
        let root = p / 2;
        let report = sim::run(p, config(), |mut comm| async move {
            let send = data(root, p * block);
            let at_root = (comm.rank() == root).then_some(&send[..]);
            let mut recv = vec![0; block];
            let mut c = comm.with_options(with(a));
            c.scatter(at_root, &mut recv, root).await.map(|()| recv)
        });
        let all = data(root, p * block);
        let expected = |r: usize| all[r * block..(r + 1) * block].to_vec();
        Some(verdict(
            &report,
            expected,
            scatter::traffic(a, p, block, ELEM),
        ))
    });
}

fn scan_sweep(inclusive: bool) {
    let name = if inclusive { "scan" } else { "exscan" };
    sweep(name, scan::ALGORITHMS, &COUNTS, |a, p, n| {
        scan::cost(a, &cost_input(p, n * ELEM))?;
        let report = sim::run(p, config(), |mut comm| async move {
            let send = data(comm.rank(), n);
            // Exscan leaves rank 0's buffer as it was.
            let mut recv = vec![777; n];
            let mut c = comm.with_options(with(a));
            let done = if inclusive {
                c.scan(&send, &mut recv, ReduceOp::Sum).await
            } else {
                c.exscan(&send, &mut recv, ReduceOp::Sum).await
            };
            done.map(|()| recv)
        });
        let expected = |r: usize| match (inclusive, r) {
            (true, _) => sum_of(r + 1, n),
            (false, 0) => vec![777; n],
            (false, _) => sum_of(r, n),
        };
        Some(verdict(
            &report,
            expected,
            scan::traffic(a, p, n, ELEM, inclusive),
        ))
    });
}

#[test]
fn scan_traffic_matches() {
    scan_sweep(true);
}

#[test]
fn exscan_traffic_matches() {
    scan_sweep(false);
}

#[test]
fn barrier_traffic_matches() {
    sweep("barrier", barrier::ALGORITHMS, &[0], |a, p, _| {
        barrier::cost(a, &cost_input(p, 0))?;
        let report = sim::run(p, config(), |mut comm| async move {
            comm.with_options(with(a))
                .barrier()
                .await
                .map(|()| Vec::new())
        });
        Some(verdict(&report, |_| Vec::new(), barrier::traffic(a, p)))
    });
}

/// A binomial broadcast of one chunk takes ⌈lg p⌉ rounds of one latency plus one frame's
/// transfer time at p = 8 (links are per pair, so a parent's sends to its children do not
/// queue behind each other). In general the rounds are the tree's depth, the most set bits
/// of a relative rank below p: 2 rather than ⌈lg 5⌉ = 3 at p = 5, where rank 4 hangs off the
/// root. A buffer of C chunks pipelines: depth·L + (C + depth − 1) chunk transfers. Between
/// two ranks nobody forwards, and the buffer goes in 512 KiB chunks: one here.
#[test]
fn binomial_broadcast_takes_lg_p_rounds_of_virtual_time() {
    let latency = Duration::from_millis(1);
    let bandwidth = 1e8;
    // Elements: 64,000 bytes (one pipeline chunk of at most 64 KiB), then two and four
    // whole chunks.
    for (n, chunks) in [(16_000, 1), (2 * 16_384, 2), (4 * 16_384, 4)] {
        for (p, depth) in [(8, 3), (5, 2), (2, 1)] {
            let chunks = if p == 2 { 1 } else { chunks };
            let config = SimConfig::new().latency(latency).bandwidth(bandwidth);
            let report = sim::run(p, config, |mut comm| async move {
                let mut buf = if comm.rank() == 0 {
                    data(0, n)
                } else {
                    vec![0; n]
                };
                let mut c = comm.with_options(with(Algorithm::Binomial));
                c.broadcast(&mut buf, 0).await.map(|()| buf)
            });
            let want_data = data(0, n);
            assert!(
                report
                    .results
                    .iter()
                    .all(|r| r.as_ref().ok() == Some(&want_data))
            );
            // A frame is its chunk plus the 48-byte header. Along the deepest path of the
            // tree the chunks pipeline: the first link sends all of them, and each further
            // level adds one chunk's transfer; every level adds the latency.
            let frame = (n / chunks * ELEM + fccl_collectives::frame::HEADER_LEN) as f64;
            let transfers = (chunks + depth - 1) as f64;
            let want = depth as f64 * latency.as_secs_f64() + transfers * frame / bandwidth;
            let got = report.elapsed.as_secs_f64();
            assert!(
                (got - want).abs() < 1e-6,
                "p={p}, {chunks} chunks: broadcast took {got} s of virtual time, expected {want} s"
            );
        }
    }
}

/// Reordered and duplicated frames change neither results nor counted traffic.
#[test]
fn reorder_and_duplicates_leave_results_exact() {
    let faulty = || SimConfig::new().reorder(true).duplicate(0.3).seed(42);
    let (p, n) = (5, 1000);
    for &a in allreduce::ALGORITHMS {
        if allreduce::cost(a, &cost_input(p, n * ELEM)).is_none() {
            continue;
        }
        let report = sim::run(p, faulty(), |mut comm| async move {
            let mut buf = data(comm.rank(), n);
            let mut c = comm.with_options(with(a));
            c.all_reduce(&mut buf, ReduceOp::Sum).await.map(|()| buf)
        });
        let sum = sum_of(p, n);
        verdict(&report, |_| sum.clone(), allreduce::traffic(a, p, n, ELEM))
            .unwrap_or_else(|e| panic!("allreduce/{a} with faults: {e}"));
        assert!(
            report.duplicates_injected > 0,
            "allreduce/{a}: no duplicates"
        );
        assert!(
            report.duplicates_discarded > 0,
            "allreduce/{a}: none discarded"
        );
    }
    for &a in alltoall::ALGORITHMS {
        let report = sim::run(p, faulty(), |mut comm| async move {
            let send = data(comm.rank(), p * n);
            let mut recv = vec![0; p * n];
            let mut c = comm.with_options(with(a));
            c.all_to_all(&send, &mut recv).await.map(|()| recv)
        });
        let expected = |i: usize| alltoall_expected(p, n, i);
        verdict(
            &report,
            expected,
            alltoall::traffic(a, p, n, ELEM, &profile()),
        )
        .unwrap_or_else(|e| panic!("alltoall/{a} with faults: {e}"));
        assert!(
            report.duplicates_injected > 0,
            "alltoall/{a}: no duplicates"
        );
    }
}

/// When every frame is lost, a barrier fails with `Timeout` on every rank at the deadline
/// (in virtual time, so at once in real time) instead of hanging.
#[test]
fn lost_messages_time_out_instead_of_hanging() {
    let timeout = Duration::from_secs(5);
    let started = std::time::Instant::now();
    let report = sim::run(4, SimConfig::new().drop(1.0), |mut comm| async move {
        let mut c = comm.with_options(OpOptions::new().timeout(timeout));
        c.barrier().await
    });
    for (rank, result) in report.results.iter().enumerate() {
        let e = result
            .as_ref()
            .expect_err("a barrier with every frame lost");
        assert_eq!(e.kind(), ErrorKind::Timeout, "rank {rank}: {e}");
    }
    assert!(report.dropped > 0);
    assert!(report.elapsed >= timeout && report.elapsed < timeout + Duration::from_secs(1));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "virtual time ran in real time"
    );
}
