//! Random rank counts, lengths, values and roots for the main collectives, checked against
//! a sequential reference: exact for `i32` (wrapping sums), within 1e-9·p relative for
//! `f64` sums (the reduction order is the algorithm's).

use fccl_collectives::{ReduceOp, local};
use proptest::collection::vec;
use proptest::prelude::*;

/// `p` ranks, each with `len` values.
fn ranks_of<T: std::fmt::Debug>(
    value: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (usize, Vec<Vec<T>>)> {
    (1..=8usize, 0..300usize)
        .prop_flat_map(move |(p, len)| (Just(p), vec(vec(value.clone(), len), p)))
}

/// A rank's result as a proptest outcome.
fn ok<T>(r: fccl_collectives::Result<T>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(e.to_string()))
}

fn wrapping_sum(rows: &[Vec<i32>], range: std::ops::Range<usize>) -> Vec<i32> {
    range
        .map(|i| rows.iter().fold(0i32, |acc, row| acc.wrapping_add(row[i])))
        .collect()
}

proptest! {
    // Failures print the minimal case; nothing is written into the source tree.
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn allreduce_i32_sum((p, rows) in ranks_of(any::<i32>())) {
        let want = wrapping_sum(&rows, 0..rows[0].len());
        let rows = &rows;
        let got = local::run(p, |mut comm| async move {
            let mut buf = rows[comm.rank()].clone();
            comm.all_reduce(&mut buf, ReduceOp::Sum).await.map(|()| buf)
        });
        for g in got {
            prop_assert_eq!(ok(g)?, want.clone());
        }
    }

    #[test]
    fn allreduce_f64_sum((p, rows) in ranks_of(-1e6..1e6f64)) {
        let len = rows[0].len();
        let want: Vec<f64> = (0..len).map(|i| rows.iter().map(|r| r[i]).sum()).collect();
        let scale: Vec<f64> = (0..len).map(|i| rows.iter().map(|r| r[i].abs()).sum()).collect();
        let rows = &rows;
        let got = local::run(p, |mut comm| async move {
            let mut buf = rows[comm.rank()].clone();
            comm.all_reduce(&mut buf, ReduceOp::Sum).await.map(|()| buf)
        });
        #[allow(clippy::cast_precision_loss)]
        let tolerance = 1e-9 * p as f64;
        for g in got {
            let g = ok(g)?;
            for i in 0..len {
                prop_assert!(
                    (g[i] - want[i]).abs() <= tolerance * scale[i],
                    "index {}: got {}, want {}", i, g[i], want[i]
                );
            }
        }
    }

    #[test]
    fn reduce_scatter_i32_sum(
        (p, block, rows) in (1..=8usize, 0..40usize).prop_flat_map(|(p, block)| {
            (Just(p), Just(block), vec(vec(any::<i32>(), p * block), p))
        }),
    ) {
        let rows = &rows;
        let got = local::run(p, |mut comm| async move {
            let mut recv = vec![0i32; block];
            let r = comm.reduce_scatter(&rows[comm.rank()], &mut recv, ReduceOp::Sum).await;
            r.map(|()| recv)
        });
        for (r, g) in got.into_iter().enumerate() {
            let want = wrapping_sum(rows, r * block..(r + 1) * block);
            prop_assert_eq!(ok(g)?, want);
        }
    }

    #[test]
    fn allgather_i32((p, rows) in ranks_of(any::<i32>())) {
        let want: Vec<i32> = rows.concat();
        let rows = &rows;
        let got = local::run(p, |mut comm| async move {
            let mut recv = vec![0i32; p * rows[0].len()];
            comm.all_gather(&rows[comm.rank()], &mut recv).await.map(|()| recv)
        });
        for g in got {
            prop_assert_eq!(ok(g)?, want.clone());
        }
    }

    #[test]
    fn alltoallv_i32(
        (p, counts) in (1..=8usize).prop_flat_map(|p| (Just(p), vec(vec(0..40usize, p), p))),
        salt in any::<i32>(),
    ) {
        // Rank i sends counts[i][j] elements to rank j; element k of that piece is
        // (i, j, k) mixed with the salt.
        let value = |i: usize, j: usize, k: usize| {
            salt.wrapping_add((i * 1_000_000 + j * 1000 + k) as i32)
        };
        let counts = &counts;
        let got = local::run(p, |mut comm| async move {
            let r = comm.rank();
            let send: Vec<i32> = (0..p)
                .flat_map(|j| (0..counts[r][j]).map(move |k| value(r, j, k)))
                .collect();
            let recv_counts: Vec<usize> = (0..p).map(|i| counts[i][r]).collect();
            let mut recv = vec![0i32; recv_counts.iter().sum()];
            comm.all_to_all_v(&send, &counts[r], &mut recv, &recv_counts)
                .await
                .map(|()| recv)
        });
        for (r, g) in got.into_iter().enumerate() {
            let want: Vec<i32> = (0..p)
                .flat_map(|i| (0..counts[i][r]).map(move |k| value(i, r, k)))
                .collect();
            prop_assert_eq!(ok(g)?, want);
        }
    }

    #[test]
    fn broadcast_i32((p, rows) in ranks_of(any::<i32>()), root in 0..8usize) {
        let root = root % p;
        let want = rows[root].clone();
        let rows = &rows;
        let got = local::run(p, |mut comm| async move {
            let mut buf = rows[comm.rank()].clone();
            comm.broadcast(&mut buf, root).await.map(|()| buf)
        });
        for g in got {
            prop_assert_eq!(ok(g)?, want.clone());
        }
    }
}
