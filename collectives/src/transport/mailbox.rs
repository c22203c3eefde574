//! A rank's mailbox, shared by the in-process and the simulated transport.
//!
//! A mailbox maps `(source, tag)` to a queue of frames, guarded by a mutex, with a
//! [`Notify`] that wakes the owner's waiting receives. Each frame carries an order key
//! (the simulator's per-link sequence number; 0 for the in-process transport), and a queue
//! is kept sorted by it, so frames with the same key come out in the order they were sent
//! even if the medium delivered them out of order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{CommId, Tag};
use crate::types::Rank;

/// One rank's incoming frames and the aborts it was told of.
#[derive(Default)]
pub(crate) struct Mailbox {
    state: Mutex<MailboxState>,
    arrived: Notify,
}

#[derive(Default)]
struct MailboxState {
    frames: HashMap<(Rank, Tag), VecDeque<(u64, Bytes)>>,
    aborted: HashMap<CommId, (Rank, String)>,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a frame from `from` under `tag`, after every queued frame of that key whose
    /// order key is not larger, and wakes the receives.
    pub(crate) fn deliver(&self, from: Rank, tag: Tag, order: u64, frame: Bytes) {
        {
            let mut state = self.lock();
            let queue = state.frames.entry((from, tag)).or_default();
            let at = queue
                .iter()
                .rposition(|&(o, _)| o <= order)
                .map_or(0, |i| i + 1);
            queue.insert(at, (order, frame));
        }
        self.arrived.notify_waiters();
    }

    /// Records that rank `who` aborted communicator `comm` (the first reason wins) and wakes
    /// the receives.
    pub(crate) fn abort(&self, comm: CommId, who: Rank, reason: &str) {
        self.lock()
            .aborted
            .entry(comm)
            .or_insert_with(|| (who, reason.to_string()));
        self.arrived.notify_waiters();
    }

    /// Wakes the receives so they look again (a peer left, or something else changed).
    pub(crate) fn wake(&self) {
        self.arrived.notify_waiters();
    }

    fn take(&self, from: Rank, tag: Tag) -> Option<Bytes> {
        let mut state = self.lock();
        let queue = state.frames.get_mut(&(from, tag))?;
        let frame = queue.pop_front();
        if queue.is_empty() {
            state.frames.remove(&(from, tag));
        }
        frame.map(|(_, f)| f)
    }

    fn failure(&self, from: Rank, tag: Tag, gone: &impl Fn() -> bool) -> Option<Error> {
        if let Some((who, reason)) = self.lock().aborted.get(&tag.comm) {
            return Some(
                Error::new(
                    ErrorKind::Remote,
                    format!("rank {who} aborted the communicator: {reason}"),
                )
                .with_peer(*who),
            );
        }
        if gone() {
            return Some(
                Error::new(
                    ErrorKind::Remote,
                    format!("rank {from} left before sending {tag}"),
                )
                .with_peer(from),
            );
        }
        None
    }

    /// Takes the frame `(from, tag)`, waiting until `deadline`. Fails with `Remote` once the
    /// communicator was aborted or once `gone()` says no frame from `from` can come any more,
    /// and with `Timeout` at the deadline.
    pub(crate) async fn recv(
        &self,
        from: Rank,
        tag: Tag,
        deadline: Instant,
        gone: impl Fn() -> bool,
    ) -> Result<Bytes> {
        loop {
            // Register for wake-ups before looking, so an arrival in between is not missed.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(frame) = self.take(from, tag) {
                return Ok(frame);
            }
            // Past the deadline the wait has failed by timing out, whatever else happened
            // at the same instant (a peer that timed out too and left, say).
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no message {tag} from rank {from} before the deadline"),
                )
                .with_peer(from));
            }
            if let Some(e) = self.failure(from, tag, &gone) {
                // The frame may have come between the look above and this check, its sender
                // leaving right after: a rank's frames are delivered before it counts as
                // gone, so one more look settles it.
                return self.take(from, tag).ok_or(e);
            }
            // Either way, look again: the timer fires at or after the deadline.
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}
