//! Broadcast from every root, every algorithm forced in turn.

use half::bf16;

use super::{ALGORITHMS, traffic};
use crate::algorithms::counting::run_counted;
use crate::transport::LinkProfile;
use crate::{Algorithm, Communicator, Element, ErrorKind, OpOptions, Rank, local};

const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];

fn value(root: Rank, i: usize) -> f64 {
    ((root * 31 + i * 7) % 101) as f64 - 50.0
}

async fn check<T: Element>(comm: &mut Communicator, alg: Algorithm, root: Rank, count: usize) {
    let rank = comm.rank();
    let want: Vec<T> = (0..count).map(|i| T::from_f64(value(root, i))).collect();
    let mut buf = if rank == root {
        want.clone()
    } else {
        vec![T::from_f64(99.0); count]
    };
    let mut c = comm.with_options(OpOptions::new().algorithm(alg));
    c.broadcast(&mut buf, root).await.unwrap();
    assert_eq!(c.last_algorithm(), Some(alg));
    assert!(
        buf == want,
        "{alg} {} count {count} root {root} rank {rank} of {}",
        T::DTYPE,
        c.size()
    );
}

#[test]
fn every_rank_gets_the_roots_buffer() {
    for p in RANKS {
        local::run_with_store(p, |mut comm| async move {
            for alg in ALGORITHMS.iter().copied() {
                for root in 0..p {
                    // Counts below p leave some scatter blocks empty; 1000 and 100_003 are
                    // uneven over most p.
                    for count in [0, 1, 7, 1000, 100_003] {
                        check::<i32>(&mut comm, alg, root, count).await;
                        check::<f64>(&mut comm, alg, root, count).await;
                        check::<bf16>(&mut comm, alg, root, count).await;
                    }
                }
            }
        });
    }
}

#[test]
fn selector_prefers_binomial_for_small_and_scatter_allgather_for_large() {
    local::run(8, |mut comm| async move {
        let mut small = [comm.rank() as u8; 16];
        comm.broadcast(&mut small, 3).await.unwrap();
        assert_eq!(comm.last_algorithm(), Some(Algorithm::Binomial));
        assert_eq!(small, [3; 16]);
        let mut large = vec![comm.rank() as f32; 1 << 20];
        comm.broadcast(&mut large, 5).await.unwrap();
        assert_eq!(comm.last_algorithm(), Some(Algorithm::ScatterAllgather));
        assert!(large.iter().all(|&x| x == 5.0));
    });
}

#[test]
fn ranks_that_disagree_on_the_count_get_mismatch() {
    for alg in ALGORITHMS.iter().copied() {
        let kinds = local::run_with_store(4, |mut comm| async move {
            let count = if comm.rank() == 2 { 11 } else { 10 };
            let mut buf = vec![1i32; count];
            comm.set_timeout(std::time::Duration::from_secs(5));
            let mut c = comm.with_options(OpOptions::new().algorithm(alg));
            c.broadcast(&mut buf, 0).await.err().map(|e| e.kind())
        });
        assert!(
            kinds.contains(&Some(ErrorKind::Mismatch)),
            "{alg}: {kinds:?}"
        );
    }
}

#[test]
fn traffic_is_exact() {
    for p in RANKS {
        for alg in ALGORITHMS.iter().copied() {
            for root in 0..p {
                for count in [0, 5, 1001, 70_000] {
                    let got = run_counted(p, |mut comm| async move {
                        let mut buf = vec![half::f16::from_f64(root as f64); count];
                        let mut c = comm.with_options(OpOptions::new().algorithm(alg));
                        c.broadcast(&mut buf, root).await.unwrap();
                    });
                    let elem = size_of::<half::f16>();
                    let want = traffic(alg, p, count, elem, root, &LinkProfile::IN_PROCESS);
                    assert_eq!(got, want, "{alg} p {p} root {root} count {count}");
                }
            }
        }
    }
}
