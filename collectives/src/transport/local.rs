//! The in-process transport: ranks are threads (or tasks) of one process and messages are
//! handed over through per-rank mailboxes.
//!
//! Each rank has a mailbox (see `mailbox.rs`): a map from `(source, tag)` to a queue of
//! frames, guarded by a mutex, with a notifier that wakes the owner's waiting receives. When
//! an endpoint is dropped or closed its rank counts as gone, and receives from it fail with
//! `Remote` instead of waiting out their deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::time::Instant;

use super::mailbox::Mailbox;
use super::{BoxFuture, LinkProfile, Transport};
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
}

impl LocalTransport {
    /// Endpoints for `size` ranks that talk to each other, in rank order.
    pub fn fabric(size: usize) -> Vec<LocalTransport> {
        let fabric = Arc::new(Fabric {
            mailboxes: (0..size).map(|_| Mailbox::default()).collect(),
            gone: (0..size).map(|_| AtomicBool::new(false)).collect(),
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
        }
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
        Box::pin(std::future::ready(()))
    }

    fn profile(&self) -> LinkProfile {
        LinkProfile::IN_PROCESS
    }

    fn close(&self) -> BoxFuture<'_, Result<()>> {
        self.leave();
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
}
