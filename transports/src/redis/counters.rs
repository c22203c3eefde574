//! Shared counters on the server, and waiting for one to reach a value without polling.
//!
//! A counter is a string (`INCRBY` and `EXPIRE` in one pipeline, which also reads `ZCARD`
//! of its waiters). A wait registers itself in the counter's waiters, a sorted set scored by
//! the value it waits for (`ZADD`), then reads the counter (`GET`, in the same pipeline); if
//! the value is short it blocks (`BLPOP`, on a leased connection) on a wake list of its own.
//! An `add` that saw waiters reads those whose value is reached (`ZRANGEBYSCORE -inf
//! value`), pushes the value onto their wake lists and unregisters them. Since a wait
//! registers before it reads and an add increments before it looks for waiters, a server
//! that runs commands one at a time lets no wake-up slip between the two. Each `BLPOP`
//! blocks at most [`WAIT_BLOCK`], after which the wait reads the counter once more: one
//! `GET` a second at worst, should an adder have failed between its two round trips.
//!
//! Counters carry no MAC (`INCRBY` works on plain integers): a client of the server that
//! knows the job id could change them.

use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Result, Tag};
use tokio::time::Instant;

use super::endpoint::Inner;

/// How long one `BLPOP` on a wake list blocks before the wait reads the counter again.
const WAIT_BLOCK: Duration = Duration::from_secs(1);

impl Inner {
    /// Remembers that this rank used counter `tag` (and, if given, made the wake list).
    fn track_counter(&self, tag: Tag, wake: Option<String>) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let wakes = counters.entry(tag, Vec::new);
        wakes.extend(wake);
    }

    pub(super) async fn add_counter(&self, tag: Tag, delta: i64) -> Result<i64> {
        if let Some(e) = self.peers.broken.get() {
            return Err(e.clone());
        }
        self.track_counter(tag, None);
        let key = self.keys.counter(&tag);
        let waiters_key = self.keys.counter_waiters(&tag);
        let mut pipe = redis::pipe();
        pipe.cmd("INCRBY").arg(&key).arg(delta);
        pipe.cmd("EXPIRE").arg(&key).arg(self.ttl_secs).ignore();
        pipe.cmd("ZCARD").arg(&waiters_key);
        let limit = self.job.timeout;
        let (value, waiting): (i64, u64) =
            self.run(&pipe, limit, "cannot add to a counter").await?;
        if waiting == 0 || delta <= 0 {
            // A negative or zero delta reaches no value that was not reached before.
            return Ok(value);
        }
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGEBYSCORE")
            .arg(&waiters_key)
            .arg("-inf")
            .arg(value);
        let (reached,): (Vec<String>,) = self.run(&pipe, limit, "cannot wake a waiter").await?;
        if reached.is_empty() {
            return Ok(value);
        }
        let mut pipe = redis::pipe();
        for waiter in &reached {
            let wake = self.keys.counter_wake(&tag, waiter);
            pipe.cmd("RPUSH").arg(&wake).arg(value).ignore();
            pipe.cmd("EXPIRE").arg(&wake).arg(self.ttl_secs).ignore();
        }
        pipe.cmd("ZREM").arg(&waiters_key).arg(&reached).ignore();
        self.run::<()>(&pipe, limit, "cannot wake a waiter").await?;
        Ok(value)
    }

    pub(super) async fn wait_counter(
        &self,
        tag: Tag,
        at_least: i64,
        deadline: Instant,
    ) -> Result<i64> {
        let waiter = format!(
            "{}.{}",
            self.rank,
            self.next_waiter
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let wake = self.keys.counter_wake(&tag, &waiter);
        self.track_counter(tag, Some(wake.clone()));
        let waiters_key = self.keys.counter_waiters(&tag);
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&waiters_key)
            .arg(at_least)
            .arg(&waiter)
            .ignore();
        pipe.cmd("EXPIRE")
            .arg(&waiters_key)
            .arg(self.ttl_secs)
            .ignore();
        pipe.cmd("GET").arg(self.keys.counter(&tag));
        let (first,): (Option<i64>,) = self
            .run(&pipe, self.job.timeout, "cannot wait on a counter")
            .await?;
        let waited = match first.unwrap_or(0) {
            value if value >= at_least => Ok(value),
            _ => self.block_on_wake(tag, at_least, &wake, deadline).await,
        };
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM").arg(&waiters_key).arg(&waiter).ignore();
        pipe.cmd("DEL").arg(&wake).ignore();
        let cleaned = self
            .run::<()>(&pipe, self.job.timeout, "cannot stop waiting on a counter")
            .await;
        let value = waited?;
        cleaned?;
        Ok(value)
    }

    /// Blocks on the wake list `wake` until it brings a value of at least `at_least`.
    async fn block_on_wake(
        &self,
        tag: Tag,
        at_least: i64,
        wake: &str,
        deadline: Instant,
    ) -> Result<i64> {
        let counter = self.keys.counter(&tag);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(e) = self.wait_failure(self.rank, tag) {
                return Err(e);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("counter {tag} did not reach {at_least} before the deadline"),
                ));
            }
            let block = deadline.saturating_duration_since(now).min(WAIT_BLOCK);
            let Some(mut lease) = self.lease(deadline).await else {
                continue;
            };
            let mut cmd = redis::cmd("BLPOP");
            cmd.arg(wake).arg(block.as_secs_f64().max(0.001));
            self.usage.requests(1);
            let popped = tokio::select! {
                popped = cmd.query_async::<Option<(String, i64)>>(&mut lease.conn) => popped,
                _ = &mut changed => continue,
                _ = tokio::time::sleep_until(deadline + Duration::from_millis(20)) => continue,
            };
            match popped {
                Ok(Some((_, value))) if value >= at_least => {
                    lease.keep();
                    return Ok(value);
                }
                Ok(_) => {
                    lease.keep();
                    // Nothing came for a while: read the counter, in case a wake-up was lost.
                    let mut pipe = redis::pipe();
                    pipe.cmd("GET").arg(&counter);
                    let (value,): (Option<i64>,) = self
                        .run(&pipe, self.job.timeout, "cannot wait on a counter")
                        .await?;
                    if let Some(value) = value.filter(|&v| v >= at_least) {
                        return Ok(value);
                    }
                }
                // The reader decides whether the server failed; look again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub(super) async fn remove_counter_keys(&self, tag: Tag) -> Result<()> {
        let wakes = self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&tag)
            .unwrap_or_default();
        let mut pipe = redis::pipe();
        pipe.cmd("DEL")
            .arg(self.keys.counter(&tag))
            .arg(self.keys.counter_waiters(&tag))
            .arg(wakes)
            .ignore();
        self.run::<()>(&pipe, self.job.timeout, "cannot remove a counter")
            .await
    }
}
