//! A rank's mailbox, shared by the in-process and the simulated transport.
//!
//! A mailbox maps `(source, tag)` to a queue of frames, guarded by a mutex, with a
//! [`Notify`] that wakes the owner's waiting receives. Each frame carries an order key
//! (the simulator's per-link sequence number; 0 for the in-process transport), and a queue
//! is kept sorted by it, so frames with the same key come out in the order they were sent
//! even if the medium delivered them out of order.
//!
//! Network transports use it too: their reader tasks deliver, and [`Mailbox::room`] lets a
//! reader stop reading (so TCP pushes back on the sender) while too many bytes from one
//! source wait unclaimed and no receive is waiting on that source.

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
pub struct Mailbox {
    state: Mutex<MailboxState>,
    arrived: Notify,
    /// Wakes readers waiting for [`Mailbox::room`]: a frame was taken or a receive waits.
    taken: Notify,
}

#[derive(Default)]
struct MailboxState {
    frames: HashMap<(Rank, Tag), VecDeque<(u64, Bytes)>>,
    aborted: HashMap<CommId, (Rank, String)>,
    /// Bytes queued per source.
    queued: HashMap<Rank, usize>,
    /// Receives waiting per source.
    waiting: HashMap<Rank, usize>,
}

/// Counts a receive as waiting on its source while it lives.
struct Waiting<'a> {
    mailbox: &'a Mailbox,
    from: Rank,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.mailbox.lock();
        if let Some(n) = state.waiting.get_mut(&self.from) {
            *n -= 1;
            if *n == 0 {
                state.waiting.remove(&self.from);
            }
        }
    }
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, MailboxState> {
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one insert or remove), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a frame from `from` under `tag`, after every queued frame of that key whose
    /// order key is not larger, and wakes the receives.
    pub fn deliver(&self, from: Rank, tag: Tag, order: u64, frame: Bytes) {
        {
            let mut state = self.lock();
            *state.queued.entry(from).or_default() += frame.len();
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
    pub fn abort(&self, comm: CommId, who: Rank, reason: &str) {
        self.lock()
            .aborted
            .entry(comm)
            .or_insert_with(|| (who, reason.to_string()));
        self.arrived.notify_waiters();
    }

    /// Wakes the receives so they look again (a peer left, or something else changed).
    pub fn wake(&self) {
        self.arrived.notify_waiters();
    }

    /// Whether a frame `(from, tag)` is here.
    pub fn holds(&self, from: Rank, tag: Tag) -> bool {
        self.lock().frames.contains_key(&(from, tag))
    }

    /// Takes the frame `(from, tag)` if it is here, without waiting.
    pub fn try_take(&self, from: Rank, tag: Tag) -> Option<Bytes> {
        let frame = {
            let mut state = self.lock();
            let queue = state.frames.get_mut(&(from, tag))?;
            let frame = queue.pop_front();
            if queue.is_empty() {
                state.frames.remove(&(from, tag));
            }
            if let Some((_, f)) = &frame {
                if let Some(q) = state.queued.get_mut(&from) {
                    *q -= f.len();
                }
            }
            frame
        };
        self.taken.notify_waiters();
        frame.map(|(_, f)| f)
    }

    /// Waits until at most `window` bytes from `from` wait unclaimed, or a receive waits on
    /// `from` (it may need a frame that comes after them): a reader calls this before reading
    /// on, so that a source that runs ahead is held back by TCP instead of filling memory.
    pub async fn room(&self, from: Rank, window: usize) {
        loop {
            let taken = self.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            {
                let state = self.lock();
                let queued = state.queued.get(&from).copied().unwrap_or(0);
                if queued <= window || state.waiting.contains_key(&from) {
                    return;
                }
            }
            taken.await;
        }
    }

    /// The error of a receive from `from` that cannot be satisfied because `from` left.
    pub fn left(from: Rank, tag: Tag) -> Error {
        Error::new(
            ErrorKind::Remote,
            format!("rank {from} left before sending {tag}"),
        )
        .with_peer(from)
    }

    /// The error of any wait on communicator `comm` once a rank told this one it aborted
    /// `comm`, or `None`.
    pub fn aborted(&self, comm: CommId) -> Option<Error> {
        self.lock().aborted.get(&comm).map(|(who, reason)| {
            Error::new(
                ErrorKind::Remote,
                format!("rank {who} aborted the communicator: {reason}"),
            )
            .with_peer(*who)
        })
    }

    fn failure(&self, tag: Tag, gone: &impl Fn() -> Option<Error>) -> Option<Error> {
        self.aborted(tag.comm).or_else(gone)
    }

    /// Takes the frame `(from, tag)`, waiting until `deadline`. Fails with `Remote` once the
    /// communicator was aborted, with the error `gone()` returns once no frame from `from` can
    /// come any more ([`Mailbox::left`] where nothing more specific is known), and with
    /// `Timeout` at the deadline.
    pub async fn recv(
        &self,
        from: Rank,
        tag: Tag,
        deadline: Instant,
        gone: impl Fn() -> Option<Error>,
    ) -> Result<Bytes> {
        if let Some(frame) = self.try_take(from, tag) {
            return Ok(frame);
        }
        *self.lock().waiting.entry(from).or_default() += 1;
        let _waiting = Waiting {
            mailbox: self,
            from,
        };
        self.taken.notify_waiters();
        loop {
            // Register for wake-ups before looking, so an arrival in between is not missed.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(frame) = self.try_take(from, tag) {
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
            if let Some(e) = self.failure(tag, &gone) {
                // The frame may have come between the look above and this check, its sender
                // leaving right after: a rank's frames are delivered before it counts as
                // gone, so one more look settles it.
                return self.try_take(from, tag).ok_or(e);
            }
            // Either way, look again: the timer fires at or after the deadline.
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}
