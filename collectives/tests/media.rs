//! Communicators over several media: each collective runs over the medium the hint favours,
//! and the results are those of one medium.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::transport::local::LocalTransport;
use fccl_collectives::{
    Algorithm, BoxFuture, CommId, Communicator, ErrorKind, Hint, LinkProfile, OpOptions, Rank,
    ReduceOp, Result, Tag, Transport, local,
};
use tokio::time::Instant;

/// An in-process endpoint that declares another medium's name and prices, so the selector
/// sees two media with different costs.
struct Declared {
    inner: LocalTransport,
    name: &'static str,
    profile: LinkProfile,
}

impl Transport for Declared {
    fn name(&self) -> &'static str {
        self.name
    }
    fn rank(&self) -> Rank {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        self.inner.send(to, tag, msg)
    }
    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        self.inner.recv(from, tag, deadline)
    }
    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        self.inner.abort(comm, peers, reason)
    }
    fn profile(&self) -> LinkProfile {
        self.profile
    }
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}

/// A direct link: fast, free per request.
const DIRECT: LinkProfile = LinkProfile {
    latency: Duration::from_micros(50),
    bandwidth: 1e9,
    ..LinkProfile::IN_PROCESS
};

/// A queue-like medium: slow and billed per request (SQS's $0.40 per million).
const QUEUE: LinkProfile = LinkProfile {
    latency: Duration::from_millis(20),
    bandwidth: 5e7,
    usd_per_request: 0.4e-6,
    ..LinkProfile::IN_PROCESS
};

/// A store that is slower than the direct link but costs nothing per request.
const STORE: LinkProfile = LinkProfile {
    latency: Duration::from_micros(300),
    bandwidth: 1e9,
    ..LinkProfile::IN_PROCESS
};

/// Communicators for `n` ranks, each over one fabric per `(name, profile)`, in that order.
fn comms(n: usize, media: &[(&'static str, LinkProfile)]) -> Vec<Communicator> {
    let mut per_rank: Vec<Vec<Arc<dyn Transport>>> = (0..n).map(|_| Vec::new()).collect();
    for &(name, profile) in media {
        for (rank, inner) in LocalTransport::fabric(n).into_iter().enumerate() {
            per_rank[rank].push(Arc::new(Declared {
                inner,
                name,
                profile,
            }));
        }
    }
    per_rank
        .into_iter()
        .map(|m| Communicator::with_media(m).expect("matching media"))
        .collect()
}

/// Runs an allreduce of `len` floats with `hint` on every rank; returns each rank's medium
/// and whether its result was right.
fn allreduce_media(
    n: usize,
    media: &[(&'static str, LinkProfile)],
    hint: Hint,
    len: usize,
) -> Vec<(&'static str, bool)> {
    local::run_comms(comms(n, media), |mut comm| async move {
        comm.set_hint(hint);
        let mut v: Vec<f64> = (0..len).map(|i| (i + comm.rank()) as f64).collect();
        comm.all_reduce(&mut v, ReduceOp::Sum)
            .await
            .expect("allreduce");
        let p = comm.size() as f64;
        let want = |i: usize| p * i as f64 + p * (p - 1.0) / 2.0;
        let right = v.iter().enumerate().all(|(i, &x)| x == want(i));
        (comm.last_medium().expect("a medium"), right)
    })
}

#[test]
fn fast_takes_the_quicker_medium_whatever_its_place() {
    for media in [
        [("direct", DIRECT), ("store", STORE)],
        [("store", STORE), ("direct", DIRECT)],
    ] {
        for len in [1, 100_000] {
            let got = allreduce_media(4, &media, Hint::Fast, len);
            assert!(got.iter().all(|&g| g == ("direct", true)), "{got:?}");
        }
    }
}

#[test]
fn cheap_avoids_a_medium_billed_per_request_where_time_costs_less() {
    let media = [("queue", QUEUE), ("store", STORE)];
    // Per request billing makes the queue dear at any size; the store is also quicker.
    let got = allreduce_media(4, &media, Hint::Cheap, 16);
    assert!(got.iter().all(|&g| g == ("store", true)), "{got:?}");
    // A queue that is quicker than the store still loses on dollars when its requests
    // cost more than the ranks' time it saves ...
    let quick_queue = LinkProfile {
        latency: Duration::from_micros(250),
        ..QUEUE
    };
    let media = [("queue", quick_queue), ("store", STORE)];
    let fast = allreduce_media(4, &media, Hint::Fast, 16);
    assert!(fast.iter().all(|&g| g == ("queue", true)), "{fast:?}");
    let cheap = allreduce_media(4, &media, Hint::Cheap, 16);
    assert!(cheap.iter().all(|&g| g == ("store", true)), "{cheap:?}");
}

#[test]
fn every_collective_and_sub_communicator_work_across_media() {
    let results = local::run_comms(
        comms(3, &[("direct", DIRECT), ("store", STORE)]),
        |mut comm| async move {
            let r = comm.rank() as i32;
            let mut b = [r; 4];
            comm.broadcast(&mut b, 2).await.expect("broadcast");
            let mut g = [0; 3];
            comm.all_gather(&[r], &mut g).await.expect("allgather");
            comm.barrier().await.expect("barrier");
            let mut child = comm
                .split(Some(0), -r)
                .await
                .expect("split")
                .expect("a child");
            let mut s = [r];
            child
                .all_reduce(&mut s, ReduceOp::Sum)
                .await
                .expect("child allreduce");
            let (child_rank, media) = (child.rank(), child.media().len());
            comm.close().await.expect("close");
            (b, g, s[0], child_rank, media)
        },
    );
    for (r, (b, g, s, child_rank, media)) in results.into_iter().enumerate() {
        assert_eq!(b, [2; 4]);
        assert_eq!(g, [0, 1, 2]);
        assert_eq!(s, 3);
        assert_eq!(child_rank, 2 - r, "keys order the child");
        assert_eq!(media, 2);
    }
}

#[test]
fn a_forced_algorithm_is_honoured_on_the_medium_the_hint_favours() {
    let got = local::run_comms(
        comms(4, &[("store", STORE), ("direct", DIRECT)]),
        |mut comm| async move {
            let mut v = [1u32; 64];
            let options = OpOptions::new().algorithm(Algorithm::Ring);
            let mut forced = comm.with_options(options);
            forced
                .all_reduce(&mut v, ReduceOp::Sum)
                .await
                .expect("ring");
            (forced.last_algorithm(), forced.last_medium(), v[0])
        },
    );
    for g in got {
        assert_eq!(g, (Some(Algorithm::Ring), Some("direct"), 4));
    }
}

#[test]
fn media_of_different_ranks_or_sizes_are_refused() {
    let mut a = LocalTransport::fabric(2);
    let b = LocalTransport::fabric(3);
    let second = a.pop().expect("rank 1");
    let first = a.pop().expect("rank 0");
    let e = Communicator::with_media(vec![Arc::new(first), Arc::new(second)]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("rank 0 of 2"), "{e}");
    let one = b.into_iter().next().expect("rank 0");
    let zero = LocalTransport::fabric(2)
        .into_iter()
        .next()
        .expect("rank 0");
    let e = Communicator::with_media(vec![Arc::new(zero), Arc::new(one)]).unwrap_err();
    assert!(
        e.to_string().contains("1 ranks") || e.to_string().contains("of 3"),
        "{e}"
    );
    let e = Communicator::with_media(Vec::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn hints_parse_by_name() {
    assert_eq!("fast".parse::<Hint>().expect("fast"), Hint::Fast);
    assert_eq!("CHEAP".parse::<Hint>().expect("cheap"), Hint::Cheap);
    let e = "quick".parse::<Hint>().unwrap_err();
    assert!(e.to_string().contains("fast, cheap"), "{e}");
}
