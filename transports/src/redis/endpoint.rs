//! The state of one rank's endpoint, and what its sends and its leaving do on the server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{CommId, Error, ErrorKind, JobSpec, Rank, Result, Tag};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::conn::{BlockingPool, Lease, SharedConn, redis_error};
use super::flow::Flow;
use super::keys::Keys;
use super::record::{Head, Sealer};
use crate::peers::Peers;
use crate::recent::Recent;
use crate::record::Kind;
use crate::usage::Counters;

/// How much payload one pipeline pushes at most: the records of larger messages go in
/// several pipelines, so that a huge message is not copied whole into one command.
const PUSH_BATCH: usize = 16 << 20;

/// How long leaving waits for the peers to say goodbye too, so that none of their records
/// recreates this rank's inbox after it was deleted.
const LINGER: Duration = Duration::from_secs(5);

/// How long a goodbye or an abort may take to leave.
pub(super) const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);

/// How many keys one `DEL` names when leaving.
const DEL_BATCH: usize = 512;

/// One rank's endpoint: what its sends, its reader and its shared objects share.
pub(super) struct Inner {
    pub(super) job: JobSpec,
    pub(super) rank: Rank,
    /// `HOST:PORT`, for messages.
    pub(super) server: String,
    pub(super) client: redis::Client,
    pub(super) keys: Keys,
    /// This endpoint's key in [`Keys::alive`].
    pub(super) alive_key: String,
    /// The `run_id` of the server instance this endpoint joined.
    pub(super) run_id: String,
    pub(super) sealer: Sealer,
    /// Seals shared objects' parts.
    pub(super) object_sealer: Sealer,
    pub(super) chunk: usize,
    /// The expiry every write sets, in seconds.
    pub(super) ttl_secs: u64,
    /// The connection senders share (it pipelines concurrent commands).
    pub(super) conn: SharedConn,
    /// Connections for blocking commands.
    pub(super) blocking: BlockingPool,
    /// The mailbox, who left, and whether this endpoint broke or closed.
    pub(super) peers: Peers,
    /// The aborted communicators, as the mailbox has them too, for shared objects.
    pub(super) aborted: Mutex<HashMap<CommId, (Rank, String)>>,
    /// Wakes the waits of shared objects and stalled senders: an abort, a goodbye, a failure.
    pub(super) changed: Notify,
    /// The number of the next record sent to each rank (so a receiver can refuse replays).
    pub(super) next_message: Vec<AtomicU64>,
    /// Numbers this endpoint's waits on counters.
    pub(super) next_waiter: AtomicU64,
    pub(super) rejected: AtomicU64,
    /// The objects this rank put and did not remove: their tags and part counts (the most
    /// recent ones).
    pub(super) puts: Mutex<Recent<Tag, u32>>,
    /// The counters this rank used, with the wake lists of its waits on each (the most
    /// recent ones).
    pub(super) counters: Mutex<Recent<Tag, Vec<String>>>,
    pub(super) flow: Flow,
    /// The reader and the credit publisher, ended when the endpoint leaves.
    pub(super) tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Every command sent to the server, and the payload bytes pushed for peers.
    pub(super) usage: Counters,
}

impl Inner {
    /// Marks the endpoint broken (the first reason wins) and wakes every wait.
    pub(super) fn fail(&self, e: Error) {
        self.peers.fail(e);
        self.changed.notify_waiters();
    }

    fn head(&self, kind: Kind, to: Rank, tag: Tag, parts: u32, total: usize) -> Head {
        Head {
            kind,
            source: self.rank,
            tag,
            message: self.next_message[to].fetch_add(1, Ordering::SeqCst),
            part: 0,
            parts,
            total: total as u64,
        }
    }

    /// Runs `pipe` on the shared connection within `limit`; `what` names it in errors.
    pub(super) async fn run<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        limit: Duration,
        what: &str,
    ) -> Result<T> {
        let mut conn = self.conn.get();
        self.usage.requests(pipe.len());
        match tokio::time::timeout(limit, pipe.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self
                .peers
                .broken
                .get()
                .cloned()
                .unwrap_or_else(|| redis_error(&self.server, what, e))),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "redis server {}: {what}: no answer within {limit:?}",
                    self.server
                ),
            )),
        }
    }

    /// A connection for one blocking command; `None` (after a short pause) if none can be
    /// opened now: the caller looks at its failure conditions and deadline, then tries again,
    /// since the reader decides whether the server is lost.
    pub(super) async fn lease(&self, deadline: Instant) -> Option<Lease<'_>> {
        match self.blocking.lease(deadline).await {
            Ok(lease) => Some(lease),
            Err(_) => {
                tokio::time::sleep_until(deadline.min(Instant::now() + Duration::from_millis(100)))
                    .await;
                None
            }
        }
    }

    /// Pushes `records` onto `to`'s inbox and renews its expiry, within `limit`.
    async fn push(&self, to: Rank, records: &[Vec<u8>], limit: Duration) -> Result<()> {
        let key = self.keys.inbox(to);
        let mut pipe = redis::pipe();
        let rpush = pipe.cmd("RPUSH").arg(&key);
        for record in records {
            rpush.arg(record);
        }
        rpush.ignore();
        pipe.cmd("EXPIRE").arg(&key).arg(self.ttl_secs).ignore();
        let what = format!("cannot send to rank {to}");
        self.run::<()>(&pipe, limit, &what)
            .await
            .map_err(|e| e.with_peer(to))
    }

    /// Sends `msg` to `to` as one or more records, in batches of at most [`PUSH_BATCH`],
    /// each once the window to `to` has room for it.
    pub(super) async fn send_data(&self, to: Rank, tag: Tag, msg: Bytes) -> Result<()> {
        let parts = msg.len().div_ceil(self.chunk).max(1);
        let parts_u32 = u32::try_from(parts)
            .map_err(|_| Error::invalid(format!("a message of {} bytes", msg.len())))?;
        let mut head = self.head(Kind::Data, to, tag, parts_u32, msg.len());
        let per_batch = (PUSH_BATCH / self.chunk).max(1);
        let deadline = Instant::now() + self.job.timeout;
        for first in (0..parts).step_by(per_batch) {
            let last = parts.min(first + per_batch);
            let bytes = (last * self.chunk).min(msg.len()) - first * self.chunk;
            self.wait_for_room(to, bytes, deadline).await?;
            let records: Vec<Vec<u8>> = (first..last)
                .map(|part| {
                    head.part = part as u32;
                    let start = part * self.chunk;
                    let end = (start + self.chunk).min(msg.len());
                    self.sealer.seal(&head, to, &msg[start..end])
                })
                .collect();
            let left = deadline.saturating_duration_since(Instant::now());
            self.push(to, &records, left).await?;
            self.usage.sent(bytes);
        }
        Ok(())
    }

    /// Sends a record without payload parts (an abort or a goodbye).
    pub(super) async fn send_control(
        &self,
        to: Rank,
        kind: Kind,
        comm: CommId,
        payload: &[u8],
    ) -> Result<()> {
        let tag = Tag {
            comm,
            p2p: false,
            seq: 0,
            step: 0,
            chunk: 0,
        };
        let head = self.head(kind, to, tag, 1, payload.len());
        let record = self.sealer.seal(&head, to, payload);
        self.push(to, &[record], CONTROL_TIMEOUT).await
    }

    /// Why a wait on `tag` by `owner` must fail: an abort of `tag.comm`, or `gone_error`.
    pub(super) fn wait_failure(&self, owner: Rank, tag: Tag) -> Option<Error> {
        let aborted = self.aborted.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((who, reason)) = aborted.get(&tag.comm) {
            return Some(
                Error::new(
                    ErrorKind::Remote,
                    format!("rank {who} aborted the communicator: {reason}"),
                )
                .with_peer(*who),
            );
        }
        drop(aborted);
        self.peers.gone_error(owner, tag)
    }

    /// Says goodbye to every peer, waits (up to [`LINGER`]) for theirs, stops
    /// the reader and deletes this rank's keys: its inbox (and those of the peers that left),
    /// its sentinel, the objects it put,
    /// its wake lists, the credit it published and (once every peer has left, so none can
    /// still use them) the counters it used.
    pub(super) async fn leave(&self) -> Result<()> {
        if self.peers.broken.get().is_some() {
            // The server lost the job: nobody lingers for goodbyes, which would only
            // recreate inboxes; delete what may have been written since, every inbox included.
            self.stop_tasks();
            let mut keys = self.own_keys(true);
            keys.extend((0..self.job.size).map(|p| self.keys.inbox(p)));
            return self.delete(&keys).await;
        }
        // Every peer is told, even one whose goodbye came already: it lingers until ours
        // comes. Those first, so that every rank that sees our goodbye (and may then delete
        // the inboxes of the peers that left, see `own_keys`) sees it after theirs.
        let (gone, here): (Vec<Rank>, Vec<Rank>) = (0..self.job.size)
            .filter(|&p| p != self.rank)
            .partition(|&p| self.peers.has_left(p));
        let bye = |p| self.send_control(p, Kind::Bye, CommId::WORLD, &[]);
        let mut said = futures_util::future::join_all(gone.iter().map(|&p| bye(p))).await;
        said.extend(futures_util::future::join_all(here.iter().map(|&p| bye(p))).await);
        let peers: Vec<Rank> = gone.into_iter().chain(here).collect();
        let until = Instant::now() + LINGER;
        while Instant::now() < until
            && self.peers.broken.get().is_none()
            && peers.iter().any(|&p| !self.peers.has_left(p))
        {
            // The reader marks peers as it goes; a short poll is simpler than a notifier.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.stop_tasks();
        let everyone_left = (0..self.job.size).all(|p| p == self.rank || self.peers.has_left(p));
        let deleted = self.delete(&self.own_keys(everyone_left)).await;
        said.into_iter().collect::<Result<Vec<()>>>()?;
        deleted
    }

    fn stop_tasks(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        let mut deleted = Ok(());
        for batch in keys.chunks(DEL_BATCH) {
            let mut pipe = redis::pipe();
            pipe.cmd("DEL").arg(batch).ignore();
            let done = self
                .run::<()>(&pipe, CONTROL_TIMEOUT, "cannot delete this rank's keys")
                .await;
            deleted = deleted.and(done);
        }
        deleted
    }

    /// The keys this rank made and deletes when it leaves.
    fn own_keys(&self, with_counters: bool) -> Vec<String> {
        let mut keys = vec![self.keys.inbox(self.rank), self.alive_key.clone()];
        // The inboxes of the peers that left: our goodbye may have come after they deleted
        // theirs, and recreated it.
        keys.extend(
            (0..self.job.size)
                .filter(|&p| p != self.rank && self.peers.has_left(p))
                .map(|p| self.keys.inbox(p)),
        );
        for (tag, parts) in self.puts.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            keys.push(self.keys.object(self.rank, &tag));
            keys.extend((1..parts).map(|i| self.keys.object_part(self.rank, &tag, i)));
        }
        for (tag, wakes) in self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            if with_counters {
                keys.push(self.keys.counter(&tag));
                keys.push(self.keys.counter_waiters(&tag));
            }
            keys.extend(wakes);
        }
        keys.extend(
            self.flow
                .published_sources()
                .map(|s| self.keys.credit(s, self.rank)),
        );
        keys
    }
}
