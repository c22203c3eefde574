//! A transport wrapper (tests only) that counts the collective messages and payload bytes
//! all ranks send, in total and per call, so tests can hold each algorithm's `traffic` to
//! what its code really sends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

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

/// What each collective call (by sequence number) sent, over all ranks.
pub(crate) type Ledger = Arc<Mutex<HashMap<u64, Traffic>>>;

struct Counting {
    inner: LocalTransport,
    ledger: Ledger,
}

/// In-process endpoints for `n` ranks whose collective messages are booked in the returned
/// ledger.
pub(crate) fn counting_fabric(n: usize) -> (Vec<Arc<dyn Transport>>, Ledger) {
    let ledger = Ledger::default();
    let endpoints = LocalTransport::fabric(n)
        .into_iter()
        .map(|inner| {
            Arc::new(Counting {
                inner,
                ledger: Arc::clone(&ledger),
            }) as Arc<dyn Transport>
        })
        .collect();
    (endpoints, ledger)
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
            let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
            ledger
                .entry(tag.seq)
                .or_default()
                .message(msg.len() - FRAME_OVERHEAD);
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
    let (endpoints, ledger) = counting_fabric(n);
    crate::local::run_on(endpoints, f);
    let ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
    ledger.values().fold(Traffic::default(), |a, b| a + *b)
}
