//! The reader task of an endpoint, and how it tells that the server lost this job.
//!
//! The reader pops this rank's inbox with `BLPOP` (blocking at most [`BLOCK`]), checks each
//! record, reassembles the parts of large messages and delivers them to the mailbox. It also
//! watches the server: at least every [`HEALTH_EVERY`] it renews this endpoint's sentinel key
//! (`EXPIRE`, which answers 0 once the key is gone: a `FLUSHALL`, an eviction, a restart),
//! and when it reconnects after a failure it compares the server's `run_id` (`INFO server`)
//! with the one it joined. Either loss marks the endpoint broken, which fails every pending
//! and later receive, get and wait at once: the records that were on the server are gone, so
//! waiting could only end in a timeout, or worse, in a message that never matches.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{Error, ErrorKind, Result};
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use super::conn::{open, redis_error};
use super::endpoint::Inner;
use super::record::Reassembly;
use crate::consumed::Consumed;
use crate::record::Kind;

/// How long one `BLPOP` blocks on the server before the reader looks again.
pub(super) const BLOCK: Duration = Duration::from_millis(500);

/// How often, at least, the reader checks that the server still holds this job's keys.
const HEALTH_EVERY: Duration = Duration::from_millis(500);

/// How many more records the reader takes at once after a `BLPOP` returned one.
const DRAIN: usize = 128;

/// How long the reader tries to reconnect after its connection failed before it gives up.
const RECONNECT_GRACE: Duration = Duration::from_secs(5);

/// The `run_id` of the server behind `conn`.
pub(super) async fn run_id(conn: &mut MultiplexedConnection) -> redis::RedisResult<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .unwrap_or_default()
        .trim()
        .to_string())
}

impl Inner {
    fn lost_keys(&self) -> Error {
        Error::new(
            ErrorKind::Transport,
            format!(
                "redis server {} lost this job's keys (flushed, evicted or restarted): \
                 this job's messages are lost",
                self.server
            ),
        )
    }

    fn restarted(&self) -> Error {
        Error::new(
            ErrorKind::Transport,
            format!(
                "redis server {} restarted: this job's messages are lost",
                self.server
            ),
        )
    }

    /// Renews the sentinel; fails if it is gone.
    async fn check_keys(&self, conn: &mut MultiplexedConnection) -> Result<()> {
        self.usage.requests(1);
        let renewed: redis::RedisResult<i64> = redis::cmd("EXPIRE")
            .arg(&self.alive_key)
            .arg(self.ttl_secs)
            .query_async(conn)
            .await;
        match renewed {
            Ok(0) => Err(self.lost_keys()),
            // A failed check is the next command's failure, handled as any other.
            _ => Ok(()),
        }
    }

    /// After a failure: a new connection to the same server instance, which still holds
    /// this job's keys; `Ok(None)` if the server cannot be reached yet; `Err` if it is
    /// another instance or lost the keys.
    async fn reconnect(&self) -> Result<Option<MultiplexedConnection>> {
        let until = Instant::now() + Duration::from_secs(1);
        let timeout = BLOCK + self.job.timeout;
        let Ok(mut conn) = open(&self.client, &self.server, until, timeout).await else {
            return Ok(None);
        };
        // The shared and the blocking connections may have failed with this one. (After a
        // restart, leaving still deletes through the new shared one what was written since.)
        if let Ok(shared) = open(&self.client, &self.server, until, self.job.timeout).await {
            self.conn.replace(shared);
        }
        self.blocking.clear();
        self.usage.requests(1);
        match run_id(&mut conn).await {
            Ok(id) if id != self.run_id => return Err(self.restarted()),
            Ok(_) => {}
            Err(_) => return Ok(None),
        }
        self.check_keys(&mut conn).await?;
        Ok(Some(conn))
    }

    /// Pops this rank's inbox until the task is ended or the endpoint breaks.
    pub(super) async fn read_loop(self: Arc<Self>, mut conn: MultiplexedConnection) {
        let key = self.keys.inbox(self.rank);
        let mut parts = Reassembly::default();
        let mut seen: Vec<Consumed> = (0..self.job.size).map(|_| Consumed::default()).collect();
        let mut failing_since: Option<Instant> = None;
        let mut checked = Instant::now();
        loop {
            if checked.elapsed() >= HEALTH_EVERY {
                checked = Instant::now();
                if let Err(e) = self.check_keys(&mut conn).await {
                    return self.fail(e);
                }
            }
            self.usage.requests(1);
            let popped: redis::RedisResult<Option<(Vec<u8>, Vec<u8>)>> = redis::cmd("BLPOP")
                .arg(&key)
                .arg(BLOCK.as_secs_f64())
                .query_async(&mut conn)
                .await;
            let record = match popped {
                Ok(record) => record,
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RECONNECT_GRACE {
                        return self.fail(redis_error(
                            &self.server,
                            "lost the connection that reads this rank's inbox",
                            e,
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    match self.reconnect().await {
                        Ok(Some(c)) => conn = c,
                        Ok(None) => {}
                        Err(e) => return self.fail(e),
                    }
                    continue;
                }
            };
            failing_since = None;
            let Some((_, record)) = record else { continue };
            self.accept(Bytes::from(record), &mut parts, &mut seen);
            // Take what else waits without blocking, one round trip for many records.
            self.usage.requests(1);
            let more: redis::RedisResult<Option<Vec<Vec<u8>>>> = redis::cmd("LPOP")
                .arg(&key)
                .arg(DRAIN)
                .query_async(&mut conn)
                .await;
            for record in more.ok().flatten().unwrap_or_default() {
                self.accept(Bytes::from(record), &mut parts, &mut seen);
            }
        }
    }

    /// Checks one record from this rank's inbox and acts on it; refused records are
    /// counted, never delivered.
    ///
    /// Every record carries its sender's number for this destination, so a record whose
    /// message was already taken (`seen`) is a replay, refused like a forgery.
    fn accept(&self, record: Bytes, parts: &mut Reassembly, seen: &mut [Consumed]) {
        let Ok((head, payload)) = self.sealer.open(&record, self.rank, self.job.size) else {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return;
        };
        if self.peers.has_left(head.source) || seen[head.source].contains(head.message) {
            // Nothing follows a goodbye, and no message comes twice: this is a replay.
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if head.kind != Kind::Data {
            seen[head.source].mark(head.message);
        }
        match head.kind {
            Kind::Data => {
                let len = payload.len();
                match parts.add(&head, payload) {
                    Ok(whole) => {
                        if let Some(msg) = whole {
                            seen[head.source].mark(head.message);
                            self.peers.mailbox.deliver(head.source, head.tag, 0, msg);
                        }
                        self.flow.arrived(head.source, len);
                    }
                    Err(_) => {
                        self.rejected.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            Kind::Abort => {
                let reason = String::from_utf8_lossy(&payload);
                self.peers
                    .mailbox
                    .abort(head.tag.comm, head.source, &reason);
                self.aborted
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(head.tag.comm)
                    .or_insert_with(|| (head.source, reason.into_owned()));
                self.changed.notify_waiters();
            }
            Kind::Bye => {
                parts.forget(head.source);
                self.peers.mark_left(head.source);
                self.changed.notify_waiters();
            }
        }
    }
}
