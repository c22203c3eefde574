//! Shared objects and counters in memory, for the in-process transport.
//!
//! One map of objects keyed by `(owner, tag)` and one of counters keyed by tag, behind a
//! mutex, with a [`Notify`] that wakes every waiting `get` and `wait_for` whenever anything
//! changes (a put, an add, an abort, a rank leaving); each waiter then looks again. The
//! waits end the way a mailbox receive does: with the value, with `Timeout` at the deadline,
//! or with the error the caller's `failure` check returns (an abort, a departed owner).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::Tag;
use crate::types::Rank;

/// The objects and counters of one in-process job.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    objects: HashMap<(Rank, Tag), Bytes>,
    counters: HashMap<Tag, i64>,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update is one insert or remove, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `owner`'s object `tag` (replacing one put before) and wakes the waiters.
    pub fn put(&self, owner: Rank, tag: Tag, value: Bytes) {
        self.lock().objects.insert((owner, tag), value);
        self.changed.notify_waiters();
    }

    /// Removes `owner`'s object `tag`, if it is there.
    pub fn remove(&self, owner: Rank, tag: Tag) {
        self.lock().objects.remove(&(owner, tag));
    }

    /// Adds `delta` to counter `tag` (created at 0), wakes the waiters, returns the new value.
    pub fn add(&self, tag: Tag, delta: i64) -> i64 {
        let value = {
            let mut state = self.lock();
            let c = state.counters.entry(tag).or_default();
            *c += delta;
            *c
        };
        self.changed.notify_waiters();
        value
    }

    /// Removes counter `tag`, if it is there.
    pub fn remove_counter(&self, tag: Tag) {
        self.lock().counters.remove(&tag);
    }

    /// Wakes the waiters so they look again (an abort, a rank leaving).
    pub fn wake(&self) {
        self.changed.notify_waiters();
    }

    /// How many objects and counters are stored.
    pub fn len(&self) -> (usize, usize) {
        let state = self.lock();
        (state.objects.len(), state.counters.len())
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// Reads `owner`'s object `tag`, waiting until it is put, `deadline` passes, or
    /// `failure()` has an error.
    pub async fn get(
        &self,
        owner: Rank,
        tag: Tag,
        deadline: Instant,
        failure: impl Fn() -> Option<Error>,
    ) -> Result<Bytes> {
        let look = |s: &State| s.objects.get(&(owner, tag)).cloned();
        let late = || {
            Error::new(
                ErrorKind::Timeout,
                format!("rank {owner} put no object {tag} before the deadline"),
            )
            .with_peer(owner)
        };
        self.wait(deadline, look, failure, late).await
    }

    /// Waits until counter `tag` is at least `at_least` and returns it; fails as
    /// [`MemoryStore::get`] does.
    pub async fn wait_for(
        &self,
        tag: Tag,
        at_least: i64,
        deadline: Instant,
        failure: impl Fn() -> Option<Error>,
    ) -> Result<i64> {
        let look = |s: &State| {
            let v = s.counters.get(&tag).copied().unwrap_or(0);
            (v >= at_least).then_some(v)
        };
        let late = || {
            Error::new(
                ErrorKind::Timeout,
                format!("counter {tag} did not reach {at_least} before the deadline"),
            )
        };
        self.wait(deadline, look, failure, late).await
    }

    async fn wait<R>(
        &self,
        deadline: Instant,
        look: impl Fn(&State) -> Option<R>,
        failure: impl Fn() -> Option<Error>,
        late: impl Fn() -> Error,
    ) -> Result<R> {
        loop {
            // Register for wake-ups before looking, so a change in between is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(r) = look(&self.lock()) {
                return Ok(r);
            }
            if Instant::now() >= deadline {
                return Err(late());
            }
            if let Some(e) = failure() {
                // What was waited for may have come just before the failure: look once more.
                return look(&self.lock()).ok_or(e);
            }
            let _ = tokio::time::timeout_at(deadline, changed).await;
        }
    }
}
