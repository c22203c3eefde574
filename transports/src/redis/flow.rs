//! Back-pressure: a sender may be at most a window of payload bytes ahead of what its
//! receiver let in, so that neither the server nor the receiver's mailbox holds more than
//! about a window (plus one push batch) per pair of ranks.
//!
//! The receiver counts, per source, the payload bytes its reader took from the inbox
//! (`arrived`) and those its receives handed to the caller (`taken`). It *lets in* what
//! arrived as long as at most a window of it waits unclaimed, or while a receive waits on that
//! source (it may need a message behind the unclaimed ones: the rule of
//! [`Mailbox::room`](fccl_collectives::transport::mailbox::Mailbox::room)); otherwise what it
//! lets in stays where it was. A publisher task pushes the amount let in onto the list
//! [`Keys::credit`](super::keys::Keys::credit) of that pair (trimmed to its last element)
//! whenever it grew by a quarter window. A sender counts the bytes it pushed to each
//! destination; before a batch that starts more than a window past the last credit it saw, it
//! pops that list with `BLPOP` on a connection of its own until the credit catches up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Rank, Result};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::endpoint::Inner;

/// How long one `BLPOP` on a credit list blocks before the sender looks again.
const CREDIT_BLOCK: Duration = Duration::from_secs(1);

/// One source's bytes, as the receiver counts them.
#[derive(Clone, Copy, Default)]
struct Source {
    arrived: u64,
    taken: u64,
    waiting: usize,
    /// What the last credit pushed said.
    published: u64,
}

/// Both sides' counts of one endpoint.
pub(super) struct Flow {
    window: u64,
    /// Payload bytes pushed to each destination.
    sent: Vec<AtomicU64>,
    /// The largest credit seen from each destination.
    credit: Vec<AtomicU64>,
    /// One stalled send per destination pops its credit list at a time.
    stalled: Vec<tokio::sync::Mutex<()>>,
    sources: Mutex<Vec<Source>>,
    /// Wakes the publisher: a count changed.
    changed: Notify,
}

impl Flow {
    pub(super) fn new(size: usize, window: usize) -> Flow {
        Flow {
            window: window as u64,
            sent: (0..size).map(|_| AtomicU64::new(0)).collect(),
            credit: (0..size).map(|_| AtomicU64::new(0)).collect(),
            stalled: (0..size).map(|_| tokio::sync::Mutex::new(())).collect(),
            sources: Mutex::new(vec![Source::default(); size]),
            changed: Notify::new(),
        }
    }

    fn update(&self, source: Rank, f: impl FnOnce(&mut Source)) {
        f(&mut self.sources.lock().unwrap_or_else(|p| p.into_inner())[source]);
        self.changed.notify_one();
    }

    /// The reader took `bytes` of payload from `source` off the inbox.
    pub(super) fn arrived(&self, source: Rank, bytes: usize) {
        self.update(source, |s| s.arrived += bytes as u64);
    }

    /// A receive on `source` starts waiting; the guard counts it until dropped, with the
    /// bytes it took.
    pub(super) fn receiving(&self, source: Rank) -> Receiving<'_> {
        self.update(source, |s| s.waiting += 1);
        Receiving {
            flow: self,
            source,
            taken: 0,
        }
    }

    /// The sources this endpoint published credit for (whose credit lists it deletes).
    pub(super) fn published_sources(&self) -> impl Iterator<Item = Rank> {
        let sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let published: Vec<Rank> = (0..sources.len())
            .filter(|&s| sources[s].published > 0)
            .collect();
        published.into_iter()
    }

    /// The credits that grew enough to be worth publishing, marked as published.
    fn due(&self) -> Vec<(Rank, u64)> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        for (rank, s) in sources.iter_mut().enumerate() {
            let unclaimed = s.arrived.saturating_sub(s.taken);
            let let_in = if unclaimed <= self.window || s.waiting > 0 {
                s.arrived
            } else {
                s.published
            };
            if let_in >= s.published + (self.window / 4).max(1) {
                s.published = let_in;
                due.push((rank, let_in));
            }
        }
        due
    }
}

/// A receive waiting on a source; see [`Flow::receiving`].
pub(super) struct Receiving<'a> {
    flow: &'a Flow,
    source: Rank,
    pub(super) taken: usize,
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        let taken = self.taken as u64;
        self.flow.update(self.source, |s| {
            s.waiting -= 1;
            s.taken += taken;
        });
    }
}

impl Inner {
    /// Pushes the credits that are due, whenever the counts change, until the task is ended.
    pub(super) async fn publish_credit(&self) {
        loop {
            self.flow.changed.notified().await;
            for (source, let_in) in self.flow.due() {
                let key = self.keys.credit(source, self.rank);
                let mut pipe = redis::pipe();
                pipe.cmd("RPUSH").arg(&key).arg(let_in).ignore();
                pipe.cmd("LTRIM").arg(&key).arg(-1).arg(-1).ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(self.ttl_secs).ignore();
                // A lost credit is made good by the next; a broken endpoint fails anyway.
                let _ = self
                    .run::<()>(&pipe, Duration::from_secs(2), "cannot publish credit")
                    .await;
            }
        }
    }

    /// Waits until the window to `to` has room, then counts `bytes` as sent to it.
    pub(super) async fn wait_for_room(
        &self,
        to: Rank,
        bytes: usize,
        deadline: Instant,
    ) -> Result<()> {
        let flow = &self.flow;
        let behind = || {
            let sent = flow.sent[to].load(Ordering::SeqCst);
            sent.saturating_sub(flow.credit[to].load(Ordering::SeqCst)) >= flow.window
        };
        if behind() {
            let _one = flow.stalled[to].lock().await;
            while behind() {
                self.pop_credit(to, deadline).await?;
            }
        }
        flow.sent[to].fetch_add(bytes as u64, Ordering::SeqCst);
        Ok(())
    }

    /// Pops `to`'s credit list once (blocking up to [`CREDIT_BLOCK`]), failing once `to`
    /// left, the endpoint broke, or `deadline` passed.
    async fn pop_credit(&self, to: Rank, deadline: Instant) -> Result<()> {
        let changed = self.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let tag = fccl_collectives::Tag {
            comm: fccl_collectives::CommId::WORLD,
            p2p: true,
            seq: 0,
            step: 0,
            chunk: 0,
        };
        if let Some(e) = self.peers.gone_error(to, tag) {
            return Err(Error::new(
                e.kind(),
                format!("rank {to} will not read what is sent to it: {e}"),
            )
            .with_peer(to));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("rank {to} let in nothing more of what this rank sent within the timeout"),
            )
            .with_peer(to));
        }
        let block = deadline.saturating_duration_since(now).min(CREDIT_BLOCK);
        let Some(mut lease) = self.lease(deadline).await else {
            return Ok(());
        };
        let mut cmd = redis::cmd("BLPOP");
        cmd.arg(self.keys.credit(self.rank, to))
            .arg(block.as_secs_f64().max(0.001));
        self.usage.requests(1);
        let popped = tokio::select! {
            popped = cmd.query_async::<Option<(String, u64)>>(&mut lease.conn) => popped,
            _ = changed => return Ok(()),
        };
        match popped {
            Ok(credit) => {
                lease.keep();
                if let Some((_, credit)) = credit {
                    self.flow.credit[to].fetch_max(credit, Ordering::SeqCst);
                }
            }
            // The reader decides whether the server failed; look again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        Ok(())
    }
}
