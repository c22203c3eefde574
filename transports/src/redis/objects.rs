//! Shared objects on the server: put once by their owner, read by any rank.
//!
//! An object of `n` parts (each at most [`RedisSpec::chunk_bytes`](super::RedisSpec) long)
//! is `n` records sealed like inbox records, under a MAC context of their own and with the
//! owner as destination, so that no client without the job secret can forge an object or
//! pass one part (or one inbox record) for another. A put writes parts `1..n` first, as
//! strings (`SET .. EX`, a few at a time, concurrently), then publishes part 0 by pushing it
//! onto the one-element list [`Keys::object`](super::keys::Keys::object). A reader waits
//! on that list with `BLMOVE key key LEFT RIGHT timeout`, which returns the element once
//! there and leaves it in place for the other readers; part 0 being there means every part
//! is, and says how many there are. The wait runs on a leased blocking connection (see
//! `conn.rs`); an abort of the tag's communicator, the owner's goodbye or a broken endpoint
//! wakes it at once (dropping the leased connection, which may still be blocked), and it
//! fails with `Timeout` at its deadline. An element that fails its check (written by a
//! stranger) is removed from the list with `LREM` and counted as rejected.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fccl_collectives::{BoxFuture, Error, ErrorKind, Rank, Result, SharedObjects, Tag};
use futures_util::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use super::endpoint::Inner;
use super::record::Head;
use crate::record::Kind;

/// How many parts of one object are written or read at once.
const PARTS_AT_ONCE: usize = 4;

/// How long one `BLMOVE` blocks before the reader looks again.
const GET_BLOCK: Duration = Duration::from_secs(1);

/// What a stored part turned out to be.
enum Part {
    Good(Head, Bytes),
    Forged,
}

impl Inner {
    fn object_head(&self, tag: Tag, part: u32, parts: u32, total: usize) -> Head {
        Head {
            kind: Kind::Data,
            source: self.rank,
            tag,
            message: 0,
            part,
            parts,
            total: total as u64,
        }
    }

    /// Checks that `record` is part `part` of `owner`'s object `tag`.
    fn open_part(&self, record: &Bytes, owner: Rank, tag: Tag, part: u32) -> Part {
        match self.object_sealer.open(record, owner, self.job.size) {
            Ok((head, payload))
                if head.kind == Kind::Data
                    && head.source == owner
                    && head.tag == tag
                    && head.part == part =>
            {
                Part::Good(head, payload)
            }
            _ => {
                self.rejected.fetch_add(1, Ordering::SeqCst);
                Part::Forged
            }
        }
    }

    async fn put_object(&self, tag: Tag, value: Bytes) -> Result<()> {
        if let Some(e) = self.peers.broken.get() {
            return Err(e.clone());
        }
        let parts = value.len().div_ceil(self.chunk).max(1);
        let parts = u32::try_from(parts)
            .map_err(|_| Error::invalid(format!("an object of {} bytes", value.len())))?;
        // Tracked before anything is written, so that close removes a half-written object.
        self.puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tag, parts);
        let limit = self.job.timeout;
        let seal = |part: u32| {
            let start = part as usize * self.chunk;
            let end = (start + self.chunk).min(value.len());
            let head = self.object_head(tag, part, parts, value.len());
            self.object_sealer
                .seal(&head, self.rank, &value[start..end])
        };
        futures_util::stream::iter(1..parts)
            .map(|part| {
                let mut pipe = redis::pipe();
                let key = self.keys.object_part(self.rank, &tag, part);
                pipe.cmd("SET")
                    .arg(key)
                    .arg(seal(part))
                    .arg("EX")
                    .arg(self.ttl_secs);
                pipe.ignore();
                async move { self.run::<()>(&pipe, limit, "cannot put an object").await }
            })
            .buffer_unordered(PARTS_AT_ONCE)
            .try_collect::<()>()
            .await?;
        let key = self.keys.object(self.rank, &tag);
        let mut pipe = redis::pipe();
        pipe.cmd("RPUSH").arg(&key).arg(seal(0)).ignore();
        pipe.cmd("EXPIRE").arg(&key).arg(self.ttl_secs).ignore();
        self.run::<()>(&pipe, limit, "cannot put an object").await?;
        self.usage.sent(value.len());
        Ok(())
    }

    /// The whole object whose part 0 is `first`; `Ok(None)` if `first` is forged.
    async fn read_object(&self, owner: Rank, tag: Tag, first: Bytes) -> Result<Option<Bytes>> {
        let Part::Good(head, payload) = self.open_part(&first, owner, tag, 0) else {
            return Ok(None);
        };
        if head.parts == 1 {
            return Ok(Some(payload));
        }
        let mut whole = BytesMut::with_capacity(head.total as usize);
        whole.extend_from_slice(&payload);
        let limit = self.job.timeout;
        let mut rest = futures_util::stream::iter(1..head.parts)
            .map(|part| {
                let mut pipe = redis::pipe();
                pipe.cmd("GET")
                    .arg(self.keys.object_part(owner, &tag, part));
                async move {
                    let got: (Option<Vec<u8>>,) =
                        self.run(&pipe, limit, "cannot get an object").await?;
                    Ok::<_, Error>((part, got.0))
                }
            })
            .buffered(PARTS_AT_ONCE);
        while let Some((part, record)) = rest.try_next().await? {
            let broken = |why: &str| {
                Error::new(
                    ErrorKind::Transport,
                    format!("part {part} of rank {owner}'s object {tag} {why}"),
                )
                .with_peer(owner)
            };
            let record = Bytes::from(record.ok_or_else(|| broken("is gone (removed or expired)"))?);
            match self.open_part(&record, owner, tag, part) {
                Part::Good(h, p) if h.parts == head.parts && h.total == head.total => {
                    whole.extend_from_slice(&p);
                }
                _ => return Err(broken("failed its check (not written by the job)")),
            }
        }
        if whole.len() as u64 != head.total {
            return Err(Error::new(
                ErrorKind::Transport,
                format!("rank {owner}'s object {tag} is shorter than announced"),
            ));
        }
        Ok(Some(whole.freeze()))
    }

    /// Removes a forged element from the head list of an object.
    async fn drop_forged(&self, key: &str, record: &Bytes) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("LREM").arg(key).arg(1).arg(&record[..]).ignore();
        self.run::<()>(&pipe, self.job.timeout, "cannot remove a forged object")
            .await
    }

    /// One look at the object without waiting.
    async fn look(&self, owner: Rank, tag: Tag) -> Result<Option<Bytes>> {
        let mut pipe = redis::pipe();
        pipe.cmd("LINDEX").arg(self.keys.object(owner, &tag)).arg(0);
        let (first,): (Option<Vec<u8>>,) = self
            .run(&pipe, self.job.timeout, "cannot get an object")
            .await?;
        match first {
            Some(first) => self.read_object(owner, tag, Bytes::from(first)).await,
            None => Ok(None),
        }
    }

    async fn get_object(&self, owner: Rank, tag: Tag, deadline: Instant) -> Result<Bytes> {
        self.peers.check_peer(owner)?;
        let key = self.keys.object(owner, &tag);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(e) = self.wait_failure(owner, tag) {
                // An object put before its owner left may still be there: one more look.
                if self.peers.broken.get().is_none() {
                    if let Ok(Some(value)) = self.look(owner, tag).await {
                        return Ok(value);
                    }
                }
                return Err(e);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("rank {owner} put no object {tag} before the deadline"),
                )
                .with_peer(owner));
            }
            let block = deadline.saturating_duration_since(now).min(GET_BLOCK);
            let Some(mut lease) = self.lease(deadline).await else {
                continue;
            };
            let mut cmd = redis::cmd("BLMOVE");
            cmd.arg(&key).arg(&key).arg("LEFT").arg("RIGHT");
            cmd.arg(block.as_secs_f64().max(0.001));
            self.usage.requests(1);
            let moved = tokio::select! {
                moved = cmd.query_async::<Option<Vec<u8>>>(&mut lease.conn) => moved,
                _ = &mut changed => continue,
                _ = tokio::time::sleep_until(deadline + Duration::from_millis(20)) => continue,
            };
            match moved {
                Ok(Some(first)) => {
                    lease.keep();
                    let first = Bytes::from(first);
                    match self.read_object(owner, tag, first.clone()).await? {
                        Some(value) => return Ok(value),
                        None => self.drop_forged(&key, &first).await?,
                    }
                }
                Ok(None) => lease.keep(),
                // The reader decides whether the server failed; look again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    async fn remove_object(&self, owner: Rank, tag: Tag) -> Result<()> {
        self.peers.check_peer(owner)?;
        let mine = (owner == self.rank)
            .then(|| {
                let mut puts = self.puts.lock().unwrap_or_else(|p| p.into_inner());
                puts.remove(&tag)
            })
            .flatten();
        let parts = match mine {
            Some(parts) => parts,
            // Another rank's object: its first part says how many there are.
            None => {
                let mut pipe = redis::pipe();
                pipe.cmd("LINDEX").arg(self.keys.object(owner, &tag)).arg(0);
                let (first,): (Option<Vec<u8>>,) = self
                    .run(&pipe, self.job.timeout, "cannot remove an object")
                    .await?;
                match first.map(|f| self.open_part(&Bytes::from(f), owner, tag, 0)) {
                    Some(Part::Good(head, _)) => head.parts,
                    _ => 1,
                }
            }
        };
        let mut keys = vec![self.keys.object(owner, &tag)];
        keys.extend((1..parts).map(|i| self.keys.object_part(owner, &tag, i)));
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(keys).ignore();
        self.run::<()>(&pipe, self.job.timeout, "cannot remove an object")
            .await
    }
}

impl SharedObjects for Inner {
    fn put(&self, tag: Tag, value: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.put_object(tag, value))
    }

    fn get(&self, owner: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(self.get_object(owner, tag, deadline))
    }

    fn remove(&self, owner: Rank, tag: Tag) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.remove_object(owner, tag))
    }

    fn add(&self, tag: Tag, delta: i64) -> BoxFuture<'_, Result<i64>> {
        Box::pin(self.add_counter(tag, delta))
    }

    fn wait_for(&self, tag: Tag, at_least: i64, deadline: Instant) -> BoxFuture<'_, Result<i64>> {
        Box::pin(self.wait_counter(tag, at_least, deadline))
    }

    fn remove_counter(&self, tag: Tag) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.remove_counter_keys(tag))
    }
}
