//! The tcp transport's own behaviour on loopback: which pairs connect, strangers on a rank's
//! port, peers that leave or abort, large messages and back-pressure, encryption.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{CommId, ErrorKind, ReduceOp, Secret, Tag, Transport, local};
use fccl_tests::tcp::{job, join};
use fccl_transports::tcp::{TcpSpec, TcpTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

fn tag(seq: u64) -> Tag {
    Tag {
        comm: CommId::WORLD,
        p2p: true,
        seq,
        step: 0,
        chunk: 0,
    }
}

fn joined(n: usize, options: &str) -> Vec<TcpTransport> {
    join(&job(n, options))
        .into_iter()
        .map(|t| t.expect("every rank joins"))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[test]
fn lazy_jobs_connect_only_the_pairs_that_talk_and_full_meshes_connect_all() {
    let ranks = joined(4, "");
    assert!(ranks.iter().all(|t| t.connected_peers().is_empty()));
    runtime().block_on(async {
        let (sent, got) = tokio::join!(
            ranks[0].send(1, tag(1), Bytes::from_static(b"hi")),
            ranks[1].recv(0, tag(1), soon())
        );
        sent.unwrap();
        assert_eq!(&got.unwrap()[..], b"hi");
    });
    assert_eq!(ranks[0].connected_peers(), vec![1]);
    assert_eq!(ranks[1].connected_peers(), vec![0]);
    assert!(ranks[2].connected_peers().is_empty());

    let mesh = joined(5, "?mesh=full");
    for (r, t) in mesh.iter().enumerate() {
        let others: Vec<usize> = (0..5).filter(|&p| p != r).collect();
        assert_eq!(t.connected_peers(), others, "rank {r}");
    }
}

#[test]
fn a_full_mesh_of_many_ranks_runs_collectives() {
    let endpoints: Vec<Arc<dyn Transport>> = joined(16, "?mesh=full")
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect();
    let sums = local::run_on(endpoints, |mut comm| async move {
        let mut v = vec![comm.rank() as u64; 1000];
        comm.all_reduce(&mut v, ReduceOp::Sum).await.unwrap();
        v[999]
    });
    assert_eq!(sums, vec![(0..16).sum::<u64>(); 16]);
}

#[test]
fn strangers_on_a_ranks_port_are_refused_and_the_job_goes_on() {
    let ranks = joined(2, "");
    let port = ranks[0].port();
    runtime().block_on(async {
        // Garbage, a hello of another job, and a silent connection.
        let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        garbage.write_all(&[0xAB; 64]).await.unwrap();
        let mut hello = b"FCHS\x02".to_vec();
        hello.extend_from_slice(&[7; 16 + 4 + 16]);
        hello.push(0);
        let mut other_job = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        other_job.write_all(&hello).await.unwrap();
        let _silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        for stream in [&mut garbage, &mut other_job] {
            // The rank answers with its own hello at most, then closes the connection.
            let mut sink = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink));
            assert!(
                read.await.is_ok(),
                "the rank did not close a stranger's connection"
            );
            assert!(sink.len() <= 42, "a stranger got {} bytes", sink.len());
        }
        let (sent, got) = tokio::join!(
            ranks[1].send(0, tag(1), Bytes::from_static(b"still here")),
            ranks[0].recv(1, tag(1), soon())
        );
        sent.unwrap();
        assert_eq!(&got.unwrap()[..], b"still here");
    });
    assert_eq!(ranks[0].connected_peers(), vec![1]);
}

#[test]
fn a_peer_that_leaves_or_aborts_fails_receives_at_once() {
    let mut ranks = joined(3, "?mesh=full");
    runtime().block_on(async {
        let far = Instant::now() + Duration::from_secs(60);
        let started = Instant::now();
        let waiting = ranks[0].recv(1, tag(5), far);
        let abort = ranks[2].abort(CommId::WORLD, &[0], "rank 2 gave up");
        let (e, ()) = tokio::join!(waiting, abort);
        let e = e.unwrap_err();
        assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)), "{e}");
        assert!(e.to_string().contains("rank 2 gave up"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    let gone = ranks.pop().unwrap();
    let rank1 = ranks.pop().unwrap();
    runtime().block_on(async {
        let other = Tag {
            comm: CommId(42),
            ..tag(1)
        };
        let far = Instant::now() + Duration::from_secs(60);
        let started = Instant::now();
        let waiting = ranks[0].recv(2, other, far);
        let leave = tokio::spawn(async move { gone.close().await });
        let e = waiting.await.unwrap_err();
        assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        leave.await.unwrap().unwrap();
        // A rank that vanishes without a goodbye (its process killed) is noticed as well.
        drop(rank1);
        let e = ranks[0].recv(1, other, far).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
        let e = ranks[0].send(2, other, Bytes::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    });
}

#[test]
fn large_messages_arrive_whole_and_a_peer_that_reads_nothing_holds_the_sender_back() {
    let ranks = joined(2, "?mesh=full");
    runtime().block_on(async {
        let big: Vec<u8> = (0..(96usize << 20)).map(|i| (i * 7 % 251) as u8).collect();
        let big = Bytes::from(big);
        let (sent, got) = tokio::join!(
            ranks[0].send(1, tag(1), big.clone()),
            ranks[1].recv(0, tag(1), soon())
        );
        sent.unwrap();
        assert!(got.unwrap() == big, "the 96 MiB message changed on the way");

        // 40 messages of 4 MiB (160 MiB) to a rank that receives none of them: the sender
        // gets past the 64 MiB window but not to the end, then finishes once the receiver
        // takes them.
        let ranks: Vec<Arc<TcpTransport>> = ranks.into_iter().map(Arc::new).collect();
        let done = Arc::new(AtomicUsize::new(0));
        let sender = tokio::spawn({
            let (to, done) = (Arc::clone(&ranks[0]), Arc::clone(&done));
            async move {
                let chunk = Bytes::from(vec![1u8; 4 << 20]);
                for k in 0..40 {
                    to.send(1, tag(100 + k), chunk.clone()).await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        let early = done.load(Ordering::SeqCst);
        assert!(
            (16..40).contains(&early),
            "{early} of 40 sends completed while nobody received"
        );
        for k in 0..40 {
            let got = ranks[1].recv(0, tag(100 + k), soon()).await.unwrap();
            assert_eq!(got.len(), 4 << 20);
        }
        sender.await.unwrap();
    });
}

#[test]
fn relayed_pairs_make_no_connections_and_a_relay_needs_a_fallback() {
    let ranks = fccl_tests::tcp::join_relayed(&job(3, "?relay=always&fallback=local"));
    runtime().block_on(async {
        let (sent, got) = tokio::join!(
            ranks[2].send(0, tag(1), Bytes::from_static(b"via the fallback")),
            ranks[0].recv(2, tag(1), soon())
        );
        sent.unwrap();
        assert_eq!(&got.unwrap()[..], b"via the fallback");
        ranks[1].connect_peer(0, soon()).await.unwrap();
    });
    assert!(ranks.iter().all(|t| t.connected_peers().is_empty()));

    let lone = job(1, "?relay=always");
    let spec = fccl_transports::tcp::TcpSpec::parse(&lone.transport).unwrap();
    let e = runtime()
        .block_on(TcpTransport::connect(&lone, 0, &spec))
        .err()
        .expect("relay=always without a fallback is refused");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

/// A process that has the job id but another secret: registering as a rank is refused by
/// the rendezvous server (its job key is not the job's), so it is in no rank's table and
/// reads nothing; a handshake on a rank's port with a proof it cannot make is closed, and
/// the real job's messages arrive exact.
#[test]
fn a_stranger_without_the_secret_can_neither_join_nor_inject() {
    let job = job(2, "");
    let spec = TcpSpec::parse(&job.transport).unwrap();
    let mut stranger = job.clone();
    stranger.secret = Secret::random();
    stranger.setup_timeout = Duration::from_secs(5);
    let (real0, (refused, real1)) = runtime().block_on(async {
        let real0 = TcpTransport::connect(&job, 0, &spec);
        let others = async {
            // Rank 0 registers first, so the pending job holds the real job key.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let refused = TcpTransport::connect(&stranger, 1, &spec).await;
            (refused, TcpTransport::connect(&job, 1, &spec).await)
        };
        tokio::join!(real0, others)
    });
    let e = refused.err().expect("the stranger is refused");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    let ranks = [real0.unwrap(), real1.unwrap()];
    runtime().block_on(async {
        // A hello of this job as rank 1, then a proof made without the secret.
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", ranks[0].port()))
            .await
            .unwrap();
        // Version 2: magic, version, job id, rank, nonce, flags (no encryption).
        let mut hello = b"FCHS\x02".to_vec();
        hello.extend_from_slice(&job.id.0);
        hello.extend_from_slice(&1u32.to_le_bytes());
        hello.extend_from_slice(&[0x5c; 16]);
        hello.push(0);
        conn.write_all(&hello).await.unwrap();
        let _ = conn.write_all(&[0xa5; 32]).await;
        let _ = conn.write_all(b"injected data").await;
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut sink));
        assert!(
            read.await.is_ok(),
            "the rank did not close the stranger's connection"
        );
        let (sent, got) = tokio::join!(
            ranks[1].send(0, tag(1), Bytes::from_static(b"exact")),
            ranks[0].recv(1, tag(1), soon())
        );
        sent.unwrap();
        assert_eq!(&got.unwrap()[..], b"exact");
        let e = ranks[0]
            .recv(1, tag(1), Instant::now() + Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    });
}

/// Rank `r`'s value at index `i`, different for every rank and index.
fn value(r: usize, i: usize) -> u64 {
    ((r as u64) << 40) ^ (i as u64).wrapping_mul(0x9E37_79B9)
}

#[test]
fn an_encrypted_job_gives_exact_results_at_several_sizes() {
    const P: usize = 3;
    const SIZES: [usize; 4] = [1, 1000, 3 * 65_537, 1 << 20];
    let endpoints: Vec<Arc<dyn Transport>> = joined(P, "?encrypt=on")
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect();
    let results = local::run_on(endpoints, |mut comm| async move {
        let r = comm.rank();
        let mut out = Vec::new();
        for n in SIZES {
            let mut sum: Vec<u64> = (0..n).map(|i| value(r, i)).collect();
            comm.all_reduce(&mut sum, ReduceOp::Sum).await.unwrap();
            let send: Vec<u64> = (0..n * P).map(|i| value(r, i)).collect();
            let mut all = vec![0; n * P];
            comm.all_to_all(&send, &mut all).await.unwrap();
            let mut root: Vec<u64> = match r {
                1 => (0..n).map(|i| value(1, i)).collect(),
                _ => vec![0; n],
            };
            comm.broadcast(&mut root, 1).await.unwrap();
            out.push((sum, all, root));
        }
        out
    });
    for (r, per_size) in results.iter().enumerate() {
        for (n, (sum, all, root)) in SIZES.into_iter().zip(per_size) {
            let want: Vec<u64> = (0..n).map(|i| (0..P).map(|q| value(q, i)).sum()).collect();
            assert!(*sum == want, "allreduce of {n} at rank {r}");
            // Block q of rank r's result is block r of rank q's send buffer.
            let want: Vec<u64> = (0..P)
                .flat_map(|q| (0..n).map(move |j| value(q, r * n + j)))
                .collect();
            assert!(*all == want, "alltoall of {n} at rank {r}");
            let want: Vec<u64> = (0..n).map(|i| value(1, i)).collect();
            assert!(*root == want, "broadcast of {n} at rank {r}");
        }
    }
}

#[test]
fn ranks_that_disagree_on_encryption_fail_to_connect_at_once_and_say_why() {
    let mut job = job(2, "?mesh=full&encrypt=on");
    job.setup_timeout = Duration::from_secs(30);
    let on = TcpSpec::parse(&job.transport).unwrap();
    let off = TcpSpec {
        encrypt: false,
        ..on.clone()
    };
    let started = std::time::Instant::now();
    let (zero, one) = runtime().block_on(async {
        tokio::join!(
            TcpTransport::connect(&job, 0, &on),
            TcpTransport::connect(&job, 1, &off)
        )
    });
    // Far sooner than the set-up timeout, which a pair that kept retrying would reach.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    for (e, peer) in [(zero.err().unwrap(), 1), (one.err().unwrap(), 0)] {
        assert_eq!(e.kind(), ErrorKind::Mismatch, "{e}");
        assert_eq!(e.peer(), Some(peer), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("encrypt=on") && text.contains("encrypt=off"),
            "{text}"
        );
        assert!(text.contains("same spec"), "{text}");
    }
}
