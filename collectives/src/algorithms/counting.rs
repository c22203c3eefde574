//! A transport wrapper (tests only) that counts the collective messages and payload bytes
//! all ranks send, in total and per call, so tests can hold each algorithm's `traffic` to
//! what its code really sends. Store requests count as messages: a put's and a get's
//! payload bytes (headers excluded) as bytes, the other requests with no bytes.

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
use crate::transport::{BoxFuture, LinkProfile, SharedObjects, Transport};
use crate::types::Rank;

/// What each collective call (by sequence number) sent, over all ranks.
pub(crate) type Ledger = Arc<Mutex<HashMap<u64, Traffic>>>;

struct Counting {
    inner: LocalTransport,
    ledger: Ledger,
}

/// In-process endpoints for `n` ranks, with a store, whose collective messages and store
/// requests are booked in the returned ledger.
pub(crate) fn counting_fabric(n: usize) -> (Vec<Arc<dyn Transport>>, Ledger) {
    let ledger = Ledger::default();
    let endpoints = LocalTransport::fabric_with_store(n)
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

impl Counting {
    fn book(&self, tag: Tag, bytes: usize) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        ledger.entry(tag.seq).or_default().message(bytes);
    }

    fn store(&self) -> &dyn SharedObjects {
        self.inner
            .shared()
            .expect("the local transport has shared objects")
    }
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
            self.book(tag, msg.len() - FRAME_OVERHEAD);
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
    fn shared(&self) -> Option<&dyn SharedObjects> {
        Some(self)
    }
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.close()
    }
}

impl SharedObjects for Counting {
    fn put(&self, tag: Tag, value: Bytes) -> BoxFuture<'_, Result<()>> {
        self.book(tag, value.len() - FRAME_OVERHEAD);
        self.store().put(tag, value)
    }
    fn get(&self, owner: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let value = self.store().get(owner, tag, deadline).await?;
            self.book(tag, value.len() - FRAME_OVERHEAD);
            Ok(value)
        })
    }
    fn remove(&self, owner: Rank, tag: Tag) -> BoxFuture<'_, Result<()>> {
        self.book(tag, 0);
        self.store().remove(owner, tag)
    }
    fn add(&self, tag: Tag, delta: i64) -> BoxFuture<'_, Result<i64>> {
        self.book(tag, 0);
        self.store().add(tag, delta)
    }
    fn wait_for(&self, tag: Tag, at_least: i64, deadline: Instant) -> BoxFuture<'_, Result<i64>> {
        self.book(tag, 0);
        self.store().wait_for(tag, at_least, deadline)
    }
    fn remove_counter(&self, tag: Tag) -> BoxFuture<'_, Result<()>> {
        self.book(tag, 0);
        self.store().remove_counter(tag)
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
