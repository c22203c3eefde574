//! Shared objects and counters on the job's servers.
//!
//! An object is stored like a message: sealed parts of at most an item each, under
//! the logical name `obj:{owner}:{tag}:{part}` (hashed like every key, `keys.rs`), part 0 (whose head carries the part count and
//! length) written last as the commit. A reader polls part 0 with the poller's backoff,
//! then reads the other parts at once. A counter is one memcached counter,
//! `ctr:{tag}`, holding [`ZERO`] plus its value, so that negative values and
//! deltas work with memcached's unsigned arithmetic (incr and decr, created on first use).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use fccl_collectives::{BoxFuture, Error, ErrorKind, Rank, Result, SharedObjects, Tag};
use tokio::time::Instant;

use super::lanes::Short;
use super::poll::Backoff;
use super::transport::{Inner, MemcachedTransport, lock};
use crate::record::Kind;
use crate::sealed::Head;

/// What a counter's stored value is when the counter is 0.
pub const ZERO: u64 = 1 << 62;

impl Inner {
    /// Why a wait on `owner`'s object under `tag` can no longer succeed, if it cannot.
    fn object_failure(&self, owner: Option<Rank>, tag: &Tag) -> Option<Error> {
        if let Some((who, reason)) = lock(&self.aborts).get(&tag.comm) {
            return Some(
                Error::new(
                    ErrorKind::Remote,
                    format!("rank {who} aborted the communicator: {reason}"),
                )
                .with_peer(*who),
            );
        }
        if let Some(owner) = owner.filter(|&o| o != self.rank) {
            if self.peers.has_left(owner) {
                return Some(
                    Error::new(
                        ErrorKind::Remote,
                        format!("rank {owner} left before putting object {tag}"),
                    )
                    .with_peer(owner),
                );
            }
        }
        self.peers.broken.get().cloned()
    }

    /// Reads `owner`'s object `tag` if it is complete; `None` if its part 0 is not there.
    async fn read_object(&self, owner: Rank, tag: &Tag) -> Result<Option<Bytes>> {
        let key = |part| self.store.at(self.keys.obj(owner, tag, part));
        let Some(first) = self.store.get(&[key(0)]).await?.pop().flatten() else {
            return Ok(None);
        };
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Transport,
                format!("memcached: object {tag} of rank {owner} is broken: {why}"),
            )
            .with_peer(owner)
        };
        let open = |value: Vec<u8>, part: u32| {
            let record = Bytes::from(value);
            match self.obj_sealer.open(&record, owner, self.job.size) {
                Ok((h, p))
                    if h.kind == Kind::Data
                        && h.source == owner
                        && h.tag == *tag
                        && h.part == part =>
                {
                    Ok((h, p))
                }
                _ => {
                    self.rejected.fetch_add(1, Ordering::SeqCst);
                    Err(bad(&format!("part {part} was refused")))
                }
            }
        };
        let (head, payload) = open(first.value, 0)?;
        if head.parts == 1 {
            if payload.len() as u64 != head.total {
                return Err(bad("shorter than announced"));
            }
            return Ok(Some(payload));
        }
        let fits =
            |h: &Head, part: u32| h.kind == Kind::Data && h.source == owner && h.part == part;
        let got = self
            .read_parts(&self.obj_sealer, owner, &head, &payload, key, fits)
            .await?;
        match got {
            Ok(v) => Ok(Some(v)),
            Err(Short::Missing(part)) => Err(bad(&format!(
                "part {part} of {} was evicted from memcached",
                head.parts
            ))),
            Err(Short::Refused(0)) => Err(bad("shorter than announced")),
            Err(Short::Refused(part)) => Err(bad(&format!("part {part} was refused"))),
        }
    }

    /// After a look that found nothing: fails with `failure` (found before the look) or at
    /// `deadline`, else waits by `backoff`.
    async fn wait_more(
        &self,
        failure: Option<Error>,
        backoff: &mut Backoff,
        owner: Option<Rank>,
        deadline: Instant,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        if let Some(e) = failure {
            return Err(e);
        }
        if Instant::now() >= deadline {
            let e = Error::new(
                ErrorKind::Timeout,
                format!("{} before the deadline", what()),
            );
            return Err(match owner {
                Some(o) => e.with_peer(o),
                None => e,
            });
        }
        match backoff.next() {
            None => tokio::task::yield_now().await,
            Some(wait) => tokio::time::sleep_until(deadline.min(Instant::now() + wait)).await,
        }
        Ok(())
    }

    async fn counter(&self, tag: &Tag) -> Result<i64> {
        let key = self.store.at(self.keys.ctr(tag));
        let item = self.store.get(&[key]).await?.pop().flatten();
        let Some(item) = item else { return Ok(0) };
        std::str::from_utf8(&item.value)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|v| v.wrapping_sub(ZERO) as i64)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Transport,
                    format!("memcached: counter {tag} holds no number"),
                )
            })
    }

    async fn remove_object(&self, owner: Rank, tag: Tag) -> Result<()> {
        let mine = if owner == self.rank {
            lock(&self.objects).remove(&tag)
        } else {
            None
        };
        let parts = match mine {
            Some(parts) => parts,
            None => {
                let key = self.store.at(self.keys.obj(owner, &tag, 0));
                let first = self.store.get(&[key]).await?.pop().flatten();
                let record = first.map(|f| Bytes::from(f.value));
                record
                    .and_then(|r| self.obj_sealer.open(&r, owner, self.job.size).ok())
                    .map_or(1, |(h, _)| h.parts)
            }
        };
        // Part 0 first, so that nobody reads a partly removed object as complete.
        let mut keys: Vec<_> = (0..parts)
            .map(|p| self.store.at(self.keys.obj(owner, &tag, p)))
            .collect();
        let first = keys.remove(0);
        self.store.delete(&[first]).await?;
        self.store.delete(&keys).await
    }
}

impl SharedObjects for MemcachedTransport {
    fn put(&self, tag: Tag, value: Bytes) -> BoxFuture<'_, Result<()>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(self.on_io(async move {
            let me = inner.rank;
            lock(&inner.objects).insert(tag, inner.parts_of(value.len())?);
            let key = |part| inner.keys.obj(me, &tag, part);
            let sealer = &inner.obj_sealer;
            inner.store_parts(sealer, me, tag, 0, value, key).await
        }))
    }

    fn get(&self, owner: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(self.on_io(async move {
            if owner >= inner.job.size {
                return Err(Error::invalid(format!("rank {owner} is outside the job")));
            }
            let _watch = inner.watch(None);
            let mut backoff = Backoff::default();
            loop {
                let failure = inner.object_failure(Some(owner), &tag);
                if let Some(v) = inner.read_object(owner, &tag).await? {
                    return Ok(v);
                }
                let what = || format!("no object {tag} from rank {owner}");
                inner
                    .wait_more(failure, &mut backoff, Some(owner), deadline, what)
                    .await?;
            }
        }))
    }

    fn remove(&self, owner: Rank, tag: Tag) -> BoxFuture<'_, Result<()>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(self.on_io(async move { inner.remove_object(owner, tag).await }))
    }

    fn add(&self, tag: Tag, delta: i64) -> BoxFuture<'_, Result<i64>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(self.on_io(async move {
            lock(&inner.counters).insert(tag, ());
            let v = inner
                .store
                .arith(&inner.keys.ctr(&tag), ZERO, delta)
                .await?;
            Ok(v.wrapping_sub(ZERO) as i64)
        }))
    }

    fn wait_for(&self, tag: Tag, at_least: i64, deadline: Instant) -> BoxFuture<'_, Result<i64>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(self.on_io(async move {
            let _watch = inner.watch(None);
            let mut backoff = Backoff::default();
            loop {
                let failure = inner.object_failure(None, &tag);
                let v = inner.counter(&tag).await?;
                if v >= at_least {
                    return Ok(v);
                }
                let what = || format!("counter {tag} was {v}, not {at_least} or more,");
                inner
                    .wait_more(failure, &mut backoff, None, deadline, what)
                    .await?;
            }
        }))
    }

    fn remove_counter(&self, tag: Tag) -> BoxFuture<'_, Result<()>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(self.on_io(async move {
            lock(&inner.counters).remove(&tag);
            inner
                .store
                .delete(&[inner.store.at(inner.keys.ctr(&tag))])
                .await
        }))
    }
}
