//! A transport wrapper that counts the collective messages and payload bytes all ranks send,
//! so tests can hold each algorithm's `traffic` to what its code really sends.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::time::Instant;

use crate::algorithms::context::FRAME_OVERHEAD;
use crate::algorithms::cost::Traffic;
use crate::comm::Communicator;
use crate::error::Result;
use crate::frame::{CommId, Tag};
use crate::transport::local::LocalTransport;
use crate::transport::{BoxFuture, LinkProfile, Transport};
use crate::types::Rank;

#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    bytes: AtomicU64,
}

struct Counting {
    inner: LocalTransport,
    counts: Arc<Counts>,
}

impl Transport for Counting {
    fn rank(&self) -> Rank {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        if !tag.p2p {
            self.counts.messages.fetch_add(1, Ordering::SeqCst);
            let payload = msg.len() - FRAME_OVERHEAD;
            self.counts
                .bytes
                .fetch_add(payload as u64, Ordering::SeqCst);
        }
        self.inner.send(to, tag, msg)
    }
    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        self.inner.recv(from, tag, deadline)
    }
    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        self.inner.abort(comm, peers, reason)
    }
    fn profile(&self) -> LinkProfile {
        self.inner.profile()
    }
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}

/// Runs `f` on `n` in-process ranks (like [`crate::local::run`]) and returns the messages
/// and payload bytes of every collective frame they sent.
pub(crate) fn run_counted<F, Fut>(n: usize, f: F) -> Traffic
where
    F: Fn(Communicator) -> Fut + Sync,
    Fut: Future<Output = ()>,
{
    let counts = Arc::new(Counts::default());
    let endpoints = LocalTransport::fabric(n)
        .into_iter()
        .map(|inner| {
            Arc::new(Counting {
                inner,
                counts: Arc::clone(&counts),
            }) as Arc<dyn Transport>
        })
        .collect();
    crate::local::run_on(endpoints, f);
    Traffic {
        messages: counts.messages.load(Ordering::SeqCst),
        bytes: counts.bytes.load(Ordering::SeqCst),
    }
}
