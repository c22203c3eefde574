//! Runs the harness for every collective on a few rank counts and checks the records.

use fccl_benches::spec::busbw_factor;
use fccl_benches::{BenchSpec, run_bench};
use fccl_collectives::{Collective, DataType, ReduceOp, local};

const COLLECTIVES: [Collective; 13] = [
    Collective::AllReduce,
    Collective::Reduce,
    Collective::Broadcast,
    Collective::ReduceScatter,
    Collective::AllGather,
    Collective::AllToAll,
    Collective::AllToAllV,
    Collective::Gather,
    Collective::Scatter,
    Collective::Scan,
    Collective::ExScan,
    Collective::Barrier,
    Collective::SendRecv,
];

fn spec(c: Collective, dtype: DataType, op: ReduceOp) -> BenchSpec {
    BenchSpec {
        dtype,
        op,
        iters: Some(2),
        warmup: Some(1),
        // 13 elements of 4 bytes is not a multiple of any p here; 4 KiB is.
        ..BenchSpec::new(c, vec![52, 4096])
    }
}

#[test]
fn every_collective_is_correct_and_sane() {
    for p in [2, 3, 5, 8] {
        let all = local::run(p, |mut comm| async move {
            let mut out = Vec::new();
            for c in COLLECTIVES {
                let s = spec(c, DataType::Float32, ReduceOp::Sum);
                out.push(run_bench(&mut comm, &s, &mut |_| {}).await.unwrap());
            }
            out
        });
        for (c, records) in COLLECTIVES.iter().zip(&all[0]) {
            let want_points = if *c == Collective::Barrier { 1 } else { 2 };
            assert_eq!(records.len(), want_points, "{c} p={p}");
            for (r, size) in records.iter().zip([52usize, 4096]) {
                assert!(
                    r.correct,
                    "{c} p={p} {size} B: wrong at {:?}",
                    r.first_error
                );
                assert_eq!(r.collective, c.name());
                assert_eq!(r.ranks, p);
                assert_eq!(r.iters, 2);
                let blocked = fccl_benches::spec::blocked(*c);
                let want_count = match *c {
                    Collective::Barrier => 0,
                    _ if blocked => size / 4 / p * p,
                    _ => size / 4,
                };
                assert_eq!(r.count as usize, want_count, "{c} p={p}");
                assert_eq!(r.bytes as usize, want_count * 4);
                assert!(r.time_us_min <= r.time_us && r.time_us <= r.time_us_max);
                assert!(r.time_us_min > 0.0);
                let algbw = r.bytes as f64 / r.time_us / 1e3;
                assert!((r.algbw_gbps - algbw).abs() <= 1e-9 * algbw.max(1.0));
                let busbw = algbw * busbw_factor(*c, p);
                assert!((r.busbw_gbps - busbw).abs() <= 1e-9 * busbw.max(1.0));
                assert_ne!(r.algorithm, "-");
            }
            // Every rank reports the same record (times are the slowest rank's); the peak
            // RSS is the process's, read at slightly different moments by the rank threads.
            let i = COLLECTIVES.iter().position(|x| x == c).unwrap();
            let no_rss = |rs: &[fccl_benches::BenchRecord]| {
                rs.iter()
                    .map(|r| fccl_benches::BenchRecord {
                        peak_rss_mb: 0.0,
                        ..r.clone()
                    })
                    .collect::<Vec<_>>()
            };
            for rank in &all[1..] {
                assert_eq!(no_rss(&rank[i]), no_rss(records));
            }
        }
    }
    assert_eq!(busbw_factor(Collective::AllReduce, 4), 1.5);
    assert_eq!(busbw_factor(Collective::AllGather, 4), 0.75);
    assert_eq!(busbw_factor(Collective::Broadcast, 4), 1.0);
}

#[test]
fn every_dtype_and_op_is_exact() {
    let reducing = [
        Collective::AllReduce,
        Collective::Reduce,
        Collective::ReduceScatter,
        Collective::Scan,
        Collective::ExScan,
    ];
    for p in [3, 8] {
        let bad = local::run(p, |mut comm| async move {
            let mut bad = Vec::new();
            for dtype in DataType::ALL {
                for op in ReduceOp::ALL {
                    for c in reducing {
                        let mut s = spec(c, dtype, op);
                        s.sizes = vec![8 * 1000 + 8];
                        let r = run_bench(&mut comm, &s, &mut |_| {}).await.unwrap();
                        if !r[0].correct {
                            bad.push(format!("{c} {dtype} {op} at {:?}", r[0].first_error));
                        }
                    }
                }
                let mut s = spec(Collective::AllToAllV, dtype, ReduceOp::Sum);
                s.sizes = vec![4000];
                let r = run_bench(&mut comm, &s, &mut |_| {}).await.unwrap();
                if !r[0].correct {
                    bad.push(format!("alltoallv {dtype}"));
                }
            }
            bad
        });
        assert!(bad[0].is_empty(), "p={p}: {:?}", bad[0]);
    }
}
