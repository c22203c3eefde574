//! The bench harness over in-process ranks: every collective checks out correct with sane
//! numbers, forced algorithms are reported, and a wrong result is reported as wrong.

use fccl_benches::{BenchRecord, BenchSpec, Event, run};
use fccl_collectives::{Algorithm, Collective, CostInput, DataType, LinkProfile, ReduceOp, local};

/// Every collective `fccl bench` measures: all but communicator creation.
fn collectives() -> impl Iterator<Item = Collective> {
    Collective::ALL
        .into_iter()
        .filter(|c| *c != Collective::Split)
}

fn small(collective: Collective) -> BenchSpec {
    let mut spec = BenchSpec::new(collective, vec![4, 100, 1036]);
    spec.iters = 2;
    spec.warmup = 1;
    spec
}

/// Runs `spec` on `n` in-process ranks; returns every rank's records and checks that the
/// ranks agree and that the observer saw each point start and finish.
fn bench(n: usize, spec: &BenchSpec) -> Vec<BenchRecord> {
    let per_rank = local::run(n, |mut comm| {
        let spec = spec.clone();
        async move {
            let mut started = 0;
            let mut finished = Vec::new();
            let records = run(&mut comm, &spec, &mut |e| match e {
                Event::Started { index, .. } => {
                    assert_eq!(index, started);
                    started += 1;
                }
                Event::Finished(r) => finished.push(r.clone()),
            })
            .await
            .unwrap_or_else(|e| panic!("{} on {n} ranks: {e}", spec.collective));
            assert_eq!(finished, records);
            assert_eq!(started, records.len());
            records
        }
    });
    for other in &per_rank[1..] {
        assert_eq!(other, &per_rank[0], "ranks disagree on the records");
    }
    per_rank.into_iter().next().unwrap()
}

fn assert_sane(r: &BenchRecord, spec: &BenchSpec, n: usize) {
    let what = format!("{r:?}");
    assert!(r.correct, "{what}");
    assert_eq!(r.first_wrong, None);
    assert_eq!(r.collective, spec.collective.name());
    assert_eq!((r.ranks, r.iters), (n, spec.iters));
    assert_eq!(r.transport, "local");
    assert_eq!(r.dtype, spec.dtype.name());
    assert_eq!(r.op, spec.op_name());
    assert_eq!(r.bytes, r.count * spec.dtype.size(), "{what}");
    assert!(!r.algorithm.is_empty() && r.algorithm != "-", "{what}");
    assert!(r.time_us_min > 0.0, "{what}");
    assert!(
        r.time_us_min <= r.time_us && r.time_us <= r.time_us_max,
        "{what}"
    );
    assert!(r.peak_rss_mb > 0.0, "{what}");
    if spec.collective == Collective::Barrier {
        assert_eq!((r.bytes, r.algbw_gbps, r.busbw_gbps), (0, None, None));
    } else {
        let alg = r.algbw_gbps.unwrap();
        assert!((alg - r.bytes as f64 / r.time_us / 1e3).abs() <= 1e-9 * alg.max(1.0));
        assert!(r.busbw_gbps.unwrap() >= 0.0);
    }
}

#[test]
fn every_collective_is_correct_on_2_3_5_8_ranks() {
    for n in [2, 3, 5, 8] {
        for collective in collectives() {
            let spec = small(collective);
            let records = bench(n, &spec);
            let blocks = fccl_benches::sizes::has_blocks(collective);
            let expected_points = match collective {
                Collective::Barrier => 1,
                // 4 bytes round down to 0 elements: a zero-length point.
                _ => 3,
            };
            assert_eq!(records.len(), expected_points, "{collective} n={n}");
            for r in &records {
                assert_sane(r, &spec, n);
                if blocks {
                    assert_eq!(r.count % n, 0, "{r:?}");
                }
            }
            if collective != Collective::Barrier {
                let want = if blocks { 1036 / 4 / n * n } else { 1036 / 4 };
                assert_eq!(records.last().unwrap().count, want);
            }
        }
    }
}

#[test]
fn every_type_and_op_reduces_exactly() {
    for dtype in DataType::ALL {
        for op in ReduceOp::ALL {
            let reducing = [
                Collective::AllReduce,
                Collective::Reduce,
                Collective::ReduceScatter,
                Collective::Scan,
                Collective::ExScan,
            ];
            for collective in reducing {
                let mut spec = small(collective);
                spec.sizes = vec![600];
                spec.dtype = dtype;
                spec.op = op;
                for n in [3, 8] {
                    for r in bench(n, &spec) {
                        assert_sane(&r, &spec, n);
                    }
                }
            }
        }
    }
}

#[test]
fn rooted_collectives_take_any_root() {
    for collective in [
        Collective::Reduce,
        Collective::Broadcast,
        Collective::Gather,
        Collective::Scatter,
    ] {
        let mut spec = small(collective);
        spec.root = 4;
        spec.dtype = DataType::Bfloat16;
        for r in bench(5, &spec) {
            assert_sane(&r, &spec, 5);
        }
    }
}

/// Each collective's algorithms and cost function.
type Offered = (
    Collective,
    &'static [Algorithm],
    fn(Algorithm, &CostInput) -> Option<f64>,
);

#[test]
fn forced_algorithms_are_run_and_reported() {
    use fccl_collectives::algorithms::*;
    let offered: [Offered; 12] = [
        (
            Collective::AllReduce,
            allreduce::ALGORITHMS,
            allreduce::cost,
        ),
        (Collective::Reduce, reduce::ALGORITHMS, reduce::cost),
        (
            Collective::Broadcast,
            broadcast::ALGORITHMS,
            broadcast::cost,
        ),
        (
            Collective::ReduceScatter,
            reduce_scatter::ALGORITHMS,
            reduce_scatter::cost,
        ),
        (
            Collective::AllGather,
            allgather::ALGORITHMS,
            allgather::cost,
        ),
        (Collective::AllToAll, alltoall::ALGORITHMS, alltoall::cost),
        (
            Collective::AllToAllV,
            alltoallv::ALGORITHMS,
            alltoallv::cost,
        ),
        (Collective::Gather, gather::ALGORITHMS, gather::cost),
        (Collective::Scatter, scatter::ALGORITHMS, scatter::cost),
        (Collective::Scan, scan::ALGORITHMS, scan::cost),
        (Collective::ExScan, scan::ALGORITHMS, scan::cost),
        (Collective::Barrier, barrier::ALGORITHMS, barrier::cost),
    ];
    for (collective, algorithms, cost) in offered {
        for n in [3, 4] {
            let input = CostInput {
                ranks: n,
                bytes: 1036,
                profile: LinkProfile::IN_PROCESS,
                commutative: true,
            };
            for &alg in algorithms {
                if cost(alg, &input).is_none() {
                    continue;
                }
                let mut spec = small(collective);
                spec.algorithm = Some(alg);
                for r in bench(n, &spec) {
                    assert_sane(&r, &spec, n);
                    assert_eq!(r.algorithm, alg.name());
                }
            }
        }
    }
    let mut spec = small(Collective::Broadcast);
    spec.algorithm = Some(Algorithm::Dissemination);
    let errors = local::run(2, |mut comm| {
        let spec = spec.clone();
        async move { run(&mut comm, &spec, &mut |_| {}).await.unwrap_err() }
    });
    assert!(
        errors[0].to_string().contains("dissemination"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_wrong_result_is_reported_as_not_correct_on_every_rank() {
    for collective in [
        Collective::AllReduce,
        Collective::Reduce,
        Collective::Gather,
        Collective::AllToAllV,
        Collective::SendRecv,
    ] {
        let mut spec = small(collective);
        spec.sizes = vec![1024];
        spec.inject_fault = true;
        let per_rank = local::run(3, |mut comm| {
            let spec = spec.clone();
            async move { run(&mut comm, &spec, &mut |_| {}).await.unwrap() }
        });
        // The fault hits the last element of the output of a rank that checks it.
        let rank = if matches!(collective, Collective::Reduce | Collective::Gather) {
            0
        } else {
            2
        };
        for records in per_rank {
            let r = &records[0];
            assert!(!r.correct, "{collective}: {r:?}");
            let at = r.first_wrong.unwrap();
            assert_eq!(at.rank, rank, "{collective}");
            // (All-to-all-v's output length varies by rank.)
            if collective != Collective::AllToAllV {
                assert_eq!(at.index, r.count - 1, "{collective}");
            }
        }
    }
}

#[test]
fn one_rank_runs_everything() {
    for collective in collectives() {
        let spec = small(collective);
        for r in bench(1, &spec) {
            assert_sane(&r, &spec, 1);
        }
    }
}

#[test]
fn bad_specs_are_refused() {
    let mut zero_iters = small(Collective::AllReduce);
    zero_iters.iters = 0;
    let mut bad_root = small(Collective::Broadcast);
    bad_root.root = 2;
    let mut p2p_algorithm = small(Collective::SendRecv);
    p2p_algorithm.algorithm = Some(Algorithm::Ring);
    for spec in [
        zero_iters,
        bad_root,
        p2p_algorithm,
        small(Collective::Split),
    ] {
        let errors = local::run(2, |mut comm| {
            let spec = spec.clone();
            async move { run(&mut comm, &spec, &mut |_| {}).await.unwrap_err() }
        });
        assert_eq!(
            errors[0].kind(),
            fccl_collectives::ErrorKind::InvalidArgument
        );
    }
}
