//! The state of one rank's endpoint: its sends, its reader and its leaving.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fccl_collectives::{CommId, Error, ErrorKind, JobSpec, Rank, Result, Tag};
use tokio::time::Instant;

use super::queues::{Failure, Queues};
use super::records::{Added, Body, Head, Reassembly, Sealer, decode};
use crate::peers::Peers;
use crate::record::Kind;

/// How long leaving waits for the peers' goodbyes, so that theirs find this rank's queue.
const LINGER: Duration = Duration::from_secs(5);

/// How long a goodbye or an abort may take to leave.
pub(super) const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the reader retries failing receives before it declares the endpoint broken.
const RECEIVE_GRACE: Duration = Duration::from_secs(10);

/// How long a taken message may wait for nine others to share its delete request: well
/// within the visibility timeout, so that it does not come again. (A receive long-polls
/// for a second at most, so a lone message is deleted within about three.)
const DELETE_AFTER: Duration = Duration::from_secs(2);

/// How many batches of one message are in flight at once.
const BATCHES_AT_ONCE: usize = 4;

/// What the reader knows of the records it took: the reassembly and the goodbyes.
pub(super) struct ReadState {
    parts: Reassembly,
    /// The message number of each source's goodbye, until every message before it came.
    byes: Vec<Option<u64>>,
}

/// One rank's endpoint.
pub(super) struct Inner {
    pub(super) job: JobSpec,
    pub(super) rank: Rank,
    pub(super) queues: Queues,
    /// The queue names and URLs of every rank.
    pub(super) names: Vec<String>,
    /// How errors name every rank's queue: `rank R's queue NAME` (the name alone says
    /// nothing of the rank).
    pub(super) labels: Vec<String>,
    pub(super) urls: Vec<String>,
    pub(super) sealer: Sealer,
    /// The largest record body, and the payload bytes of one record.
    pub(super) max_message: usize,
    pub(super) part: usize,
    /// The next message number to each destination.
    pub(super) next_message: Vec<AtomicU64>,
    /// The mailbox, who left, and whether this endpoint broke or closed.
    pub(super) peers: Peers,
    pub(super) rejected: AtomicU64,
    pub(super) duplicates: AtomicU64,
    /// Data messages this endpoint sent to peers, and those it delivered from them.
    pub(super) messages_sent: AtomicU64,
    pub(super) messages_delivered: AtomicU64,
    pub(super) state: Mutex<ReadState>,
    pub(super) reader: Mutex<Option<tokio::task::AbortHandle>>,
    /// Faults that tests make this endpoint's sends show.
    pub(super) faults: OnceLock<super::faults::Faulty>,
}

impl Inner {
    pub(super) fn read_state(size: usize) -> Mutex<ReadState> {
        Mutex::new(ReadState {
            parts: Reassembly::new(size),
            byes: vec![None; size],
        })
    }

    /// The Z85 bodies of the records of `msg` to `to`, in part order.
    pub(super) fn bodies(&self, to: Rank, kind: Kind, tag: Tag, msg: &[u8]) -> Result<Vec<Body>> {
        let parts = msg.len().div_ceil(self.part).max(1);
        let parts = u32::try_from(parts)
            .map_err(|_| Error::invalid(format!("a message of {} bytes", msg.len())))?;
        let mut head = Head {
            kind,
            source: self.rank,
            tag,
            message: self.next_message[to].fetch_add(1, Ordering::SeqCst),
            part: 0,
            parts,
            total: msg.len() as u64,
        };
        Ok((0..parts as usize)
            .map(|i| {
                head.part = i as u32;
                let end = ((i + 1) * self.part).min(msg.len());
                Body::new(
                    &head,
                    &self.sealer.seal(&head, to, &msg[i * self.part..end]),
                )
            })
            .collect())
    }

    /// Sends `bodies` to `to`'s queue in batches of at most 10 and `max_message` bytes,
    /// a few batches at once, sending again what SQS did not take, until `deadline`.
    pub(super) async fn send_bodies(
        &self,
        to: Rank,
        bodies: &[Body],
        deadline: Instant,
    ) -> Result<()> {
        let mut batches: Vec<Vec<&Body>> = Vec::new();
        let mut bytes = 0;
        for body in bodies {
            let full = batches
                .last()
                .is_none_or(|b| b.len() == 10 || bytes + body.text.len() > self.max_message);
            if full {
                batches.push(Vec::new());
                bytes = 0;
            }
            bytes += body.text.len();
            batches.last_mut().expect("a batch").push(body);
        }
        self.queues.requests.message_sent(batches.len());
        let what = format!("cannot send to rank {to}");
        for group in batches.chunks(BATCHES_AT_ONCE) {
            let sends = group
                .iter()
                .map(|b| self.send_batch(to, b.clone(), deadline, &what));
            futures_util::future::join_all(sends)
                .await
                .into_iter()
                .collect::<Result<Vec<()>>>()?;
        }
        Ok(())
    }

    async fn send_batch(
        &self,
        to: Rank,
        mut batch: Vec<&Body>,
        deadline: Instant,
        what: &str,
    ) -> Result<()> {
        loop {
            let failed = self
                .queues
                .send_batch(&self.urls[to], &batch, deadline, what)
                .await
                .map_err(|f| f.into_error(&self.labels[to]).with_peer(to))?;
            if failed.is_empty() {
                return Ok(());
            }
            if Instant::now() + Duration::from_millis(50) >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("sqs: {what}: SQS refused part of a batch until the deadline"),
                )
                .with_peer(to));
            }
            batch = failed
                .into_iter()
                .filter_map(|i| batch.get(i).copied())
                .collect();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a one-record message of `kind` (an abort or a goodbye) to `to`.
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
        let bodies = self.bodies(to, kind, tag, payload)?;
        self.send_bodies(to, &bodies, Instant::now() + CONTROL_TIMEOUT)
            .await
    }

    /// Reads this rank's queue until the task is ended or the endpoint breaks.
    pub(super) async fn read_loop(self: Arc<Self>) {
        let url = &self.urls[self.rank];
        let name = &self.labels[self.rank];
        let mut failing_since: Option<Instant> = None;
        // Receipt handles of taken messages not yet deleted, and when the oldest came.
        let mut pending: Vec<String> = Vec::new();
        let mut oldest: Option<Instant> = None;
        loop {
            let limit = Instant::now()
                + Duration::from_secs(super::queues::WAIT_SECS as u64)
                + self.job.timeout;
            let messages = match self.queues.receive(url, limit).await {
                Ok(m) => m,
                Err(Failure::NoQueue) => return self.peers.fail(super::queues::deleted(name)),
                Err(Failure::Other(e)) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RECEIVE_GRACE {
                        return self.peers.fail(Error::new(
                            ErrorKind::Transport,
                            format!("sqs: cannot read {name} any more: {e}"),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            failing_since = None;
            for m in messages {
                self.accept(m.body().unwrap_or_default());
                pending.extend(m.receipt_handle);
                oldest.get_or_insert_with(Instant::now);
            }
            if pending.is_empty() {
                continue;
            }
            if self.queues.fifo_group.is_some() {
                // A FIFO queue holds back a group's later messages while earlier ones are
                // taken and not deleted: delete before the next receive.
                let until = Instant::now() + self.job.timeout;
                let _ = self
                    .queues
                    .delete_batch(url, pending.split_off(0), until)
                    .await;
                oldest = None;
                continue;
            }
            // Deletes go ten at a time, or fewer once the oldest waited DELETE_AFTER.
            while pending.len() >= 10 {
                let rest = pending.split_off(10);
                self.delete_later(std::mem::replace(&mut pending, rest));
            }
            if oldest.is_some_and(|t| t.elapsed() >= DELETE_AFTER) && !pending.is_empty() {
                self.delete_later(pending.split_off(0));
            }
            if pending.is_empty() {
                oldest = None;
            }
        }
    }

    /// Deletes the received messages of `handles` beside the next receives; a message whose
    /// delete failed comes again after the visibility timeout and is dropped as a copy.
    fn delete_later(self: &Arc<Self>, handles: Vec<String>) {
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let until = Instant::now() + inner.job.timeout;
            let url = &inner.urls[inner.rank];
            let _ = inner.queues.delete_batch(url, handles, until).await;
        });
    }

    /// Checks one message body from this rank's queue and acts on it; refused records are
    /// counted, never delivered.
    pub(super) fn accept(&self, body: &str) {
        let opened = decode(body).and_then(|r| self.sealer.open(&r, self.rank, self.job.size));
        let (head, payload) = match opened {
            Ok(record) => record,
            Err(why) => return self.refuse(why),
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let source = head.source;
        if state.parts.is_done(source, head.message) {
            self.duplicates.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if state.byes[source].is_some_and(|bye| head.message > bye) || self.peers.has_left(source) {
            return self.refuse("numbered after its sender's goodbye");
        }
        let fresh = || self.queues.requests.record_received();
        match head.kind {
            Kind::Data => match state.parts.add(&head, payload) {
                Ok(Added::Whole(tag, message, msg)) => {
                    fresh();
                    self.messages_delivered.fetch_add(1, Ordering::SeqCst);
                    self.peers.mailbox.deliver(source, tag, message, msg);
                }
                Ok(Added::Kept) => fresh(),
                Ok(Added::Duplicate) => {
                    self.duplicates.fetch_add(1, Ordering::SeqCst);
                }
                Err(why) => return self.refuse(why),
            },
            Kind::Abort => {
                fresh();
                state.parts.finish(source, head.message);
                let reason = String::from_utf8_lossy(&payload);
                self.peers.mailbox.abort(head.tag.comm, source, &reason);
            }
            Kind::Bye => {
                fresh();
                state.parts.finish(source, head.message);
                state.byes[source] = Some(head.message);
            }
        }
        // A goodbye counts once every message sent before it came.
        if let Some(bye) = state.byes[source] {
            if state.parts.all_below(source, bye) && !self.peers.has_left(source) {
                state.parts.forget(source);
                self.peers.mark_left(source);
            }
        }
    }

    /// Counts a record of this rank's queue that is not one of the job's (`why`), never
    /// to be delivered, and warns of it: of the first ten, then of every power of two, so
    /// that a queue full of strangers' messages does not flood the log.
    fn refuse(&self, why: &str) {
        let n = self.rejected.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= 10 || n.is_power_of_two() {
            tracing::warn!(
                "sqs: {}: dropped a message that is not this job's ({why}); {n} so far",
                self.labels[self.rank]
            );
        }
    }

    /// Says goodbye to every peer, waits (up to [`LINGER`]) for theirs, stops the reader
    /// and deletes this rank's queue.
    pub(super) async fn leave(&self) -> Result<()> {
        let peers: Vec<Rank> = (0..self.job.size).filter(|&p| p != self.rank).collect();
        let mut said = Ok(());
        if self.peers.broken.get().is_none() {
            let byes = peers
                .iter()
                .map(|&p| self.send_control(p, Kind::Bye, CommId::WORLD, &[]));
            for (p, r) in peers.iter().zip(futures_util::future::join_all(byes).await) {
                // A peer that left first may have deleted its queue: nothing to tell it.
                match r {
                    Err(_) if self.peers.has_left(*p) => {}
                    r => said = said.and(r),
                }
            }
            let until = Instant::now() + LINGER;
            while Instant::now() < until
                && self.peers.broken.get().is_none()
                && peers.iter().any(|&p| !self.peers.has_left(p))
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if let Some(reader) = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take() {
            reader.abort();
        }
        let until = Instant::now() + CONTROL_TIMEOUT;
        let deleted = self
            .queues
            .delete_queue(&self.urls[self.rank], &self.labels[self.rank], until)
            .await;
        said.and(deleted)
    }
}
