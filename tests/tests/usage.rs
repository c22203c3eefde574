//! What tcp, redis and memcached endpoints count of their traffic ([`Usage`]), held to
//! what the algorithms must move, derived here by hand from the algorithms' definitions
//! rather than from fccl's own traffic accounting: three ranks run a ring allreduce and a
//! pairwise alltoall (forced), and one rank sends another a message. A store's commands
//! (`requests`) grow with the messages; nothing is billed per request.

use std::sync::Arc;

use fccl_collectives::{
    Algorithm, Communicator, JobSpec, OpOptions, ReduceOp, Transport, Usage, local,
};
use fccl_tests::servers::{Memcached, Redis};
use fccl_transports::memcached::{MemcachedSpec, MemcachedTransport};
use fccl_transports::redis::{RedisSpec, RedisTransport};
use fccl_transports::tcp::{TcpSpec, TcpTransport};

/// The ranks of every job here.
const P: usize = 3;

/// Every message is a frame: a 48-byte header, then the elements (DESIGN.md §3).
const HEADER: u64 = 48;

/// The ring algorithms send each block in pipeline chunks of at most 64 KiB.
const CHUNK: u64 = 64 << 10;

/// The f32 elements of each rank's buffer: divisible by `P`, and each ring block (256 KiB)
/// four chunks.
const COUNT: usize = P * 65_536;

/// The f32 elements of the point-to-point message (300,000 bytes).
const P2P_COUNT: usize = 75_000;

/// How many small messages rank 0 sends rank 1 to show that requests grow with messages.
const MANY: usize = 16;

/// The bytes all ranks send in a ring allreduce of `bytes` per rank on `p` ranks: each
/// rank passes 2(p - 1) blocks of bytes/p (p - 1 steps of reduce-scatter, p - 1 of
/// allgather), each block in ⌈(bytes/p) / 64 KiB⌉ messages.
fn ring_allreduce(p: u64, bytes: u64) -> u64 {
    let block = bytes / p;
    p * 2 * (p - 1) * (block + block.div_ceil(CHUNK) * HEADER)
}

/// The bytes all ranks send in a pairwise alltoall of `bytes` per rank on `p` ranks: each
/// rank sends every other rank its block of bytes/p, in pipeline chunks over a direct link
/// (`chunked`) and in one message through a server, and keeps its own.
fn pairwise_alltoall(p: u64, bytes: u64, chunked: bool) -> u64 {
    let block = bytes / p;
    let messages = if chunked { block.div_ceil(CHUNK) } else { 1 };
    p * (p - 1) * (block + messages * HEADER)
}

/// What each rank's medium counted during each call, every call after a barrier.
struct Counted {
    ring: Vec<Usage>,
    pairwise: Vec<Usage>,
    p2p: Vec<Usage>,
    /// Rank 0's counts while it sends rank 1 one small message, then [`MANY`].
    one: Usage,
    many: Usage,
}

/// The usage of `$comm`'s media while `$call` runs, after a barrier.
macro_rules! usage_of {
    ($comm:ident, $call:expr) => {{
        $comm.barrier().await.expect("a barrier");
        let before = $comm.usage().expect("the medium counts its traffic");
        $call.await.expect("the call succeeds");
        $comm.usage().expect("the medium counts").since(&before)
    }};
}

/// Runs the calls on ranks over `endpoints` and returns what they counted.
fn count(endpoints: Vec<Arc<dyn Transport>>) -> Counted {
    let per_rank = local::run_on(endpoints, |mut comm: Communicator| async move {
        let rank = comm.rank();
        let ring = OpOptions::new().algorithm(Algorithm::Ring);
        let pairwise = OpOptions::new().algorithm(Algorithm::Pairwise);
        let mut v = vec![1.0f32; COUNT];
        let allreduce = usage_of!(
            comm,
            comm.with_options(ring).all_reduce(&mut v, ReduceOp::Sum)
        );
        assert!(v.iter().all(|&x| x == P as f32));
        let send = vec![rank as f32; COUNT];
        let mut recv = vec![0.0f32; COUNT];
        let alltoall = usage_of!(
            comm,
            comm.with_options(pairwise).all_to_all(&send, &mut recv)
        );
        let mut msg = vec![7.0f32; P2P_COUNT];
        let p2p = usage_of!(comm, async {
            match rank {
                0 => comm.send(&msg, 1, 5).await,
                1 => comm.recv(&mut msg, 0, 5).await.map(|_| ()),
                _ => Ok(()),
            }
        });
        let mut small = [rank as u32; 4];
        let mut exchange = async |n: usize| {
            usage_of!(comm, async {
                for i in 0..n as u32 {
                    match rank {
                        0 => comm.send(&small, 1, i).await?,
                        1 => _ = comm.recv(&mut small, 0, i).await?,
                        _ => {}
                    }
                }
                Ok::<(), fccl_collectives::Error>(())
            })
        };
        let (one, many) = (exchange(1).await, exchange(MANY).await);
        (allreduce, alltoall, p2p, one, many)
    });
    Counted {
        ring: per_rank.iter().map(|r| r.0).collect(),
        pairwise: per_rank.iter().map(|r| r.1).collect(),
        p2p: per_rank.iter().map(|r| r.2).collect(),
        one: per_rank[0].3,
        many: per_rank[0].4,
    }
}

fn bytes_sent(usages: &[Usage]) -> u64 {
    usages.iter().map(|u| u.bytes_sent).sum()
}

/// Checks the bytes every call moved over `medium` (a direct link or not), and that
/// nothing was billed per request.
fn check_bytes(medium: &str, direct: bool, c: &Counted) {
    let bytes = (COUNT * 4) as u64;
    assert_eq!(
        bytes_sent(&c.ring),
        ring_allreduce(P as u64, bytes),
        "{medium} ring allreduce: {:?}",
        c.ring
    );
    // Every rank sends the same: 2(p - 1)/p of the buffer, and its messages' headers.
    assert!(c.ring.iter().all(|u| u.bytes_sent == c.ring[0].bytes_sent));
    assert_eq!(
        bytes_sent(&c.pairwise),
        pairwise_alltoall(P as u64, bytes, direct),
        "{medium} pairwise alltoall: {:?}",
        c.pairwise
    );
    let p2p: Vec<u64> = c.p2p.iter().map(|u| u.bytes_sent).collect();
    assert_eq!(p2p, [(P2P_COUNT * 4) as u64 + HEADER, 0, 0], "{medium} p2p");
    let all = c.ring.iter().chain(&c.pairwise).chain(&c.p2p);
    for u in all.chain([&c.one, &c.many]) {
        assert_eq!(
            (u.billed_requests, u.least_requests, u.usd),
            (0, 0.0, 0.0),
            "{medium}: nothing is billed per request: {u:?}"
        );
    }
}

/// Checks that a store's commands grow with the messages sent, at least one each.
fn check_requests(medium: &str, c: &Counted) {
    assert!(c.one.requests >= 1, "{medium}: {:?}", c.one);
    assert!(
        c.many.requests >= MANY as u64 && c.many.requests > c.one.requests,
        "{medium}: {MANY} messages made {} requests, one made {}",
        c.many.requests,
        c.one.requests
    );
    assert!(
        c.ring.iter().all(|u| u.requests > 0),
        "{medium}: {:?}",
        c.ring
    );
}

#[test]
fn tcp_counts_the_payload_written_to_peers_and_no_requests() {
    let c = count(fccl_tests::tcp::endpoints(P));
    check_bytes("tcp", true, &c);
    let all = c.ring.iter().chain(&c.pairwise).chain(&c.p2p);
    assert!(all.chain([&c.one, &c.many]).all(|u| u.requests == 0));
    assert_eq!(c.many.bytes_sent, MANY as u64 * (16 + HEADER));
}

/// With every pair relayed through a redis fallback, the tcp endpoint reports what its
/// fallback counted: the same payload, once, and the fallback's commands.
#[test]
fn tcp_counts_relayed_pairs_through_its_fallback_once() {
    let Some(server) = Redis::start() else {
        return;
    };
    let redis = format!("redis://{}", server.addr());
    let job = fccl_tests::tcp::job(P, &format!("?relay=always&fallback={redis}"));
    let (tcp, redis) = (
        TcpSpec::parse(&job.transport).expect("a tcp spec"),
        RedisSpec::parse(&redis).expect("a redis spec"),
    );
    let endpoints = fccl_tests::join::join_all(P, |rank| {
        let (job, tcp, redis) = (&job, &tcp, &redis);
        async move {
            let fallback = Arc::new(RedisTransport::connect(job, rank, redis).await?);
            TcpTransport::connect_with_fallback(job, rank, tcp, fallback).await
        }
    });
    let c = count(endpoints);
    check_bytes("tcp relayed through redis", true, &c);
    check_requests("tcp relayed through redis", &c);
}

#[test]
fn redis_counts_its_commands_and_the_payload_it_stores() {
    let Some(server) = Redis::start() else {
        return;
    };
    let job = JobSpec::new(P, format!("redis://{}", server.addr())).expect("a valid job");
    let spec = RedisSpec::parse(&job.transport).expect("a redis spec");
    let endpoints =
        fccl_tests::join::join_all(P, |rank| RedisTransport::connect(&job, rank, &spec));
    let c = count(endpoints);
    check_bytes("redis", false, &c);
    check_requests("redis", &c);
}

#[test]
fn memcached_counts_its_commands_and_the_payload_it_stores() {
    let Some(server) = Memcached::start(&["-m", "1024"]) else {
        return;
    };
    let job = JobSpec::new(P, format!("memcached://{}", server.addr())).expect("a valid job");
    let spec = MemcachedSpec::parse(&job.transport).expect("a memcached spec");
    let endpoints =
        fccl_tests::join::join_all(P, |rank| MemcachedTransport::connect(&job, rank, &spec));
    let c = count(endpoints);
    check_bytes("memcached", false, &c);
    check_requests("memcached", &c);
}
