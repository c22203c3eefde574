//! The in-process transport: ranks are threads (or tasks) of one process and messages are
//! handed over through per-rank mailboxes.
//!
//! Each rank has a mailbox (see `mailbox.rs`): a map from `(source, tag)` to a queue of
//! frames, guarded by a mutex, with a notifier that wakes the owner's waiting receives. When
//! an endpoint is dropped or closed its rank counts as gone, and receives from it fail with
//! `Remote` instead of waiting out their deadline.
//!
//! A fabric made by [`LocalTransport::fabric_with_store`] also holds a [`MemoryStore`] of
//! shared objects and counters, so the store-native algorithms run here too: its profile
//! says `shared_objects`, and its gets and waits end as its receives do (deadline, abort, a
//! departed owner). Objects a rank put stay when it leaves (like the frames it sent), so
//! readers can still get them; the whole store goes with the fabric. A plain
//! [`LocalTransport::fabric`] has no store, so the selector sees the same medium as before
//! and keeps choosing message algorithms for threads of one process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::time::Instant;

use super::mailbox::Mailbox;
use super::memory_store::MemoryStore;
use super::{BoxFuture, LinkProfile, SharedObjects, Transport};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{CommId, Tag};
use crate::types::Rank;

/// One rank's endpoint of an in-process fabric; create all of them with [`LocalTransport::fabric`].
pub struct LocalTransport {
    rank: Rank,
    fabric: Arc<Fabric>,
}

struct Fabric {
    mailboxes: Vec<Mailbox>,
    gone: Vec<AtomicBool>,
    store: Option<MemoryStore>,
}

/// The in-process medium with a store: memory-speed links, and shared objects in memory.
const STORE_PROFILE: LinkProfile = LinkProfile {
    shared_objects: true,
    ..LinkProfile::IN_PROCESS
};

impl LocalTransport {
    /// Endpoints for `size` ranks that talk to each other, in rank order.
    pub fn fabric(size: usize) -> Vec<LocalTransport> {
        Self::make(size, None)
    }

    /// Endpoints for `size` ranks that also share an in-memory store of objects and
    /// counters ([`Transport::shared`]), so store-native algorithms can run on them.
    pub fn fabric_with_store(size: usize) -> Vec<LocalTransport> {
        Self::make(size, Some(MemoryStore::default()))
    }

    fn make(size: usize, store: Option<MemoryStore>) -> Vec<LocalTransport> {
        let fabric = Arc::new(Fabric {
            mailboxes: (0..size).map(|_| Mailbox::default()).collect(),
            gone: (0..size).map(|_| AtomicBool::new(false)).collect(),
            store,
        });
        (0..size)
            .map(|rank| LocalTransport {
                rank,
                fabric: Arc::clone(&fabric),
            })
            .collect()
    }

    fn leave(&self) {
        if !self.fabric.gone[self.rank].swap(true, Ordering::SeqCst) {
            for mailbox in &self.fabric.mailboxes {
                mailbox.wake();
            }
            self.wake_store();
        }
    }

    fn wake_store(&self) {
        if let Some(store) = &self.fabric.store {
            store.wake();
        }
    }

    /// The shared objects and counters the job's store holds now, `(objects, counters)`
    /// (`(0, 0)` without a store). Store-native algorithms remove what they made, so this
    /// is `(0, 0)` between calls.
    pub fn stored(&self) -> (usize, usize) {
        self.fabric.store.as_ref().map_or((0, 0), MemoryStore::len)
    }

    /// A function that reports [`LocalTransport::stored`] for this fabric, for tests that
    /// check what a job leaves in its store after the endpoints moved into communicators.
    pub fn stored_fn(&self) -> impl Fn() -> (usize, usize) + Send + Sync + 'static {
        let fabric = Arc::clone(&self.fabric);
        move || fabric.store.as_ref().map_or((0, 0), MemoryStore::len)
    }

    /// The store; only reached through [`Transport::shared`], which is `None` without one.
    fn store(&self) -> &MemoryStore {
        self.fabric
            .store
            .as_ref()
            .expect("shared() offers the store only where there is one")
    }

    fn check_rank(&self, r: Rank) -> Result<()> {
        if r >= self.size() {
            return Err(Error::invalid(format!(
                "rank {r} is outside the job of {} ranks",
                self.size()
            )));
        }
        Ok(())
    }
}

impl Drop for LocalTransport {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Transport for LocalTransport {
    fn name(&self) -> &'static str {
        "local"
    }

    fn rank(&self) -> Rank {
        self.rank
    }

    fn size(&self) -> usize {
        self.fabric.mailboxes.len()
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        let result = match self.fabric.mailboxes.get(to) {
            None => Err(Error::invalid(format!(
                "rank {to} is outside the job of {} ranks",
                self.size()
            ))),
            Some(_) if self.fabric.gone[to].load(Ordering::SeqCst) => {
                Err(Error::new(ErrorKind::Remote, format!("rank {to} has left")).with_peer(to))
            }
            Some(mailbox) => {
                mailbox.deliver(self.rank, tag, 0, msg);
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            if from >= self.size() {
                return Err(Error::invalid(format!(
                    "rank {from} is outside the job of {} ranks",
                    self.size()
                )));
            }
            let gone = || {
                self.fabric.gone[from]
                    .load(Ordering::SeqCst)
                    .then(|| Mailbox::left(from, tag))
            };
            self.fabric.mailboxes[self.rank]
                .recv(from, tag, deadline, gone)
                .await
        })
    }

    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        for &peer in peers {
            if let Some(mailbox) = self.fabric.mailboxes.get(peer) {
                mailbox.abort(comm, self.rank, reason);
            }
        }
        self.wake_store();
        Box::pin(std::future::ready(()))
    }

    fn profile(&self) -> LinkProfile {
        if self.fabric.store.is_some() {
            STORE_PROFILE
        } else {
            LinkProfile::IN_PROCESS
        }
    }

    fn shared(&self) -> Option<&dyn SharedObjects> {
        self.fabric
            .store
            .is_some()
            .then_some(self as &dyn SharedObjects)
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.leave();
        Box::pin(std::future::ready(Ok(())))
    }
}

impl SharedObjects for LocalTransport {
    fn put(&self, tag: Tag, value: Bytes) -> BoxFuture<'_, Result<()>> {
        self.store().put(self.rank, tag, value);
        Box::pin(std::future::ready(Ok(())))
    }

    fn get(&self, owner: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            self.check_rank(owner)?;
            let failure = || {
                self.fabric.mailboxes[self.rank]
                    .aborted(tag.comm)
                    .or_else(|| {
                        self.fabric.gone[owner].load(Ordering::SeqCst).then(|| {
                            Error::new(
                                ErrorKind::Remote,
                                format!("rank {owner} left before putting {tag}"),
                            )
                            .with_peer(owner)
                        })
                    })
            };
            self.store().get(owner, tag, deadline, failure).await
        })
    }

    fn remove(&self, owner: Rank, tag: Tag) -> BoxFuture<'_, Result<()>> {
        let result = self.check_rank(owner);
        if result.is_ok() {
            self.store().remove(owner, tag);
        }
        Box::pin(std::future::ready(result))
    }

    fn add(&self, tag: Tag, delta: i64) -> BoxFuture<'_, Result<i64>> {
        Box::pin(std::future::ready(Ok(self.store().add(tag, delta))))
    }

    fn wait_for(&self, tag: Tag, at_least: i64, deadline: Instant) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let failure = || self.fabric.mailboxes[self.rank].aborted(tag.comm);
            self.store()
                .wait_for(tag, at_least, deadline, failure)
                .await
        })
    }

    fn remove_counter(&self, tag: Tag) -> BoxFuture<'_, Result<()>> {
        self.store().remove_counter(tag);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tag(seq: u64) -> Tag {
        Tag {
            comm: CommId::WORLD,
            p2p: false,
            seq,
            step: 0,
            chunk: 0,
        }
    }

    #[tokio::test]
    async fn delivers_by_key_in_order_and_times_out() {
        let eps = LocalTransport::fabric(2);
        let soon = Instant::now() + Duration::from_millis(50);
        eps[0]
            .send(1, tag(2), Bytes::from_static(b"b"))
            .await
            .unwrap();
        eps[0]
            .send(1, tag(1), Bytes::from_static(b"a1"))
            .await
            .unwrap();
        eps[0]
            .send(1, tag(1), Bytes::from_static(b"a2"))
            .await
            .unwrap();
        assert_eq!(&eps[1].recv(0, tag(1), soon).await.unwrap()[..], b"a1");
        assert_eq!(&eps[1].recv(0, tag(2), soon).await.unwrap()[..], b"b");
        assert_eq!(&eps[1].recv(0, tag(1), soon).await.unwrap()[..], b"a2");
        let e = eps[1].recv(0, tag(1), soon).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }

    #[tokio::test]
    async fn abort_and_departure_wake_receivers() {
        let mut eps = LocalTransport::fabric(3);
        let far = Instant::now() + Duration::from_secs(30);
        eps[2].abort(CommId::WORLD, &[0], "test").await;
        let e = eps[0].recv(1, tag(0), far).await.unwrap_err();
        assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)));
        // Another communicator is not affected by the abort, but rank 2 leaving is seen.
        let other = Tag {
            comm: CommId(9),
            ..tag(0)
        };
        drop(eps.pop());
        let e = eps[0].recv(2, other, far).await.unwrap_err();
        assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)));
        let e = eps[1].send(2, other, Bytes::new()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
    }

    #[tokio::test]
    async fn shared_objects_wait_time_out_and_end_on_abort_or_departure() {
        assert!(LocalTransport::fabric(1)[0].shared().is_none());
        let mut eps = LocalTransport::fabric_with_store(3);
        let soon = Instant::now() + Duration::from_millis(50);
        let far = Instant::now() + Duration::from_secs(30);
        let store = |r: usize| eps[r].shared().unwrap();
        // A get waits for the put; the object stays for other readers until removed.
        let (got, put) = tokio::join!(
            store(1).get(0, tag(1), far),
            store(0).put(tag(1), Bytes::from_static(b"x"))
        );
        put.unwrap();
        assert_eq!(&got.unwrap()[..], b"x");
        assert_eq!(&store(2).get(0, tag(1), soon).await.unwrap()[..], b"x");
        assert_eq!(eps[0].stored(), (1, 0));
        store(2).remove(0, tag(1)).await.unwrap();
        let e = store(1).get(0, tag(1), soon).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        // Counters: add returns the new value, wait_for waits for it.
        let (seen, added) = tokio::join!(store(0).wait_for(tag(2), 2, far), async {
            store(1).add(tag(2), 1).await.unwrap();
            store(2).add(tag(2), 1).await
        });
        assert_eq!((seen.unwrap(), added.unwrap()), (2, 2));
        store(0).remove_counter(tag(2)).await.unwrap();
        assert_eq!(eps[1].stored(), (0, 0));
        let e = store(0).wait_for(tag(2), 1, soon).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        // An abort ends waits on that communicator.
        eps[2].abort(CommId::WORLD, &[0], "test").await;
        let e = store(0).wait_for(tag(3), 1, far).await.unwrap_err();
        assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)));
        // A departed owner: what it put can still be read, what it did not cannot.
        store(2)
            .put(tag(4), Bytes::from_static(b"y"))
            .await
            .unwrap();
        drop(eps.pop());
        let e = eps[1]
            .shared()
            .unwrap()
            .get(2, tag(5), far)
            .await
            .unwrap_err();
        assert_eq!((e.kind(), e.peer()), (ErrorKind::Remote, Some(2)));
        let got = eps[1].shared().unwrap().get(2, tag(4), far).await.unwrap();
        assert_eq!(&got[..], b"y");
    }
}
