//! The redis transport endpoint of one rank.
//!
//! Every rank has one inbox list on the server. A send pushes sealed records (see
//! `record.rs`) onto the destination's inbox and renews the list's expiry in the same
//! pipeline; a reader task pops this rank's inbox with `BLPOP` on a connection of its own,
//! checks each record, reassembles the parts of large messages and delivers them to the
//! rank's [`Mailbox`]. The connections and the reader live on an I/O thread of the
//! endpoint's own, so the endpoint works from any runtime, or none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::transport::mailbox::Mailbox;
use fccl_collectives::{
    BoxFuture, CommId, Error, ErrorKind, JobSpec, LinkProfile, Rank, Result, Tag, Transport,
};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisConnectionInfo};
use tokio::time::Instant;

use super::keys::Keys;
use super::record::{CONTEXT, Head, Reassembly, Sealer};
use super::spec::{MIN_CHUNK_BYTES, RedisSpec};
use crate::record::{Kind, reason_bytes};
use crate::tcp::io_thread::IoThread;

/// What the cost model assumes of a redis link: a round trip to a server in the same
/// region on each side of a message.
const PROFILE: LinkProfile = LinkProfile {
    latency: Duration::from_micros(200),
    bandwidth: 1e9,
    max_message_bytes: usize::MAX,
    usd_per_request: 0.0,
    usd_per_byte: 0.0,
    shared_objects: false,
    via_server: true,
};

/// How long one `BLPOP` blocks on the server before the reader looks again.
const BLOCK_SECS: u64 = 1;

/// How many more records the reader takes at once after a `BLPOP` returned one.
const DRAIN: usize = 128;

/// How long the reader tries to reconnect after its connection failed before it gives up.
const RECONNECT_GRACE: Duration = Duration::from_secs(5);

/// How much payload one pipeline pushes at most: the records of larger messages go in
/// several pipelines, so that a huge message is not copied whole into one command.
const PUSH_BATCH: usize = 16 << 20;

/// How long leaving waits for the peers to say goodbye too, so that none of their records
/// recreates this rank's inbox after it was deleted.
const LINGER: Duration = Duration::from_secs(5);

/// How long a goodbye or an abort may take to leave.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);

/// One rank's endpoint of a job whose messages travel through a redis server.
pub struct RedisTransport {
    inner: Arc<Inner>,
    io: IoThread,
}

struct Inner {
    job: JobSpec,
    rank: Rank,
    /// `HOST:PORT`, for messages.
    server: String,
    client: redis::Client,
    keys: Keys,
    sealer: Sealer,
    chunk: usize,
    /// The expiry every push renews on an inbox, in seconds.
    ttl_secs: u64,
    /// The connection senders share (it pipelines concurrent commands).
    conn: MultiplexedConnection,
    mailbox: Mailbox,
    /// Which peers said goodbye.
    left: Vec<AtomicBool>,
    /// Why the reader stopped, if it failed.
    broken: OnceLock<Error>,
    next_message: AtomicU64,
    rejected: AtomicU64,
    closed: AtomicBool,
    reader: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl RedisTransport {
    /// Joins `job` as `rank` through the redis server of `spec`: connects (by the job's
    /// set-up timeout) and starts reading this rank's inbox. Messages sent to this rank
    /// before it joined wait in its inbox.
    pub async fn connect(job: &JobSpec, rank: Rank, spec: &RedisSpec) -> Result<RedisTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        if spec.chunk_bytes < MIN_CHUNK_BYTES {
            return Err(Error::invalid(format!(
                "a redis part must hold at least {MIN_CHUNK_BYTES} bytes, not {}",
                spec.chunk_bytes
            )));
        }
        let io = IoThread::start(rank)?;
        let setup = io.handle.spawn(setup(job.clone(), rank, spec.clone()));
        let inner = setup
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("redis set-up failed: {e}")))??;
        Ok(RedisTransport { inner, io })
    }

    /// The redis server, as `HOST:PORT`.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// How many records arrived in this rank's inbox that it refused (a bad MAC, a
    /// malformed head, a part that does not fit its message) and so never delivered.
    pub fn rejected_records(&self) -> u64 {
        self.inner.rejected.load(Ordering::SeqCst)
    }

    /// The key of `rank`'s inbox list on the server.
    pub fn inbox_key(&self, rank: Rank) -> String {
        self.inner.keys.inbox(rank)
    }
}

fn redis_error(server: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!("redis server {server}: {what}: {e}"),
    )
}

/// Opens a connection whose every command ends within `response`.
async fn open(
    client: &redis::Client,
    server: &str,
    deadline: Instant,
    response: Duration,
) -> Result<MultiplexedConnection> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(left)
        .set_response_timeout(response);
    let connect = client.get_multiplexed_async_connection_with_config(&config);
    match tokio::time::timeout_at(deadline, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(redis_error(server, "cannot connect", e)),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("redis server {server}: no connection within the set-up timeout"),
        )),
    }
}

/// Connects both connections and starts the reader (on the I/O runtime).
async fn setup(job: JobSpec, rank: Rank, spec: RedisSpec) -> Result<Arc<Inner>> {
    let deadline = Instant::now() + job.setup_timeout;
    let server = spec.server();
    let info = ConnectionInfo {
        addr: ConnectionAddr::Tcp(spec.host.clone(), spec.port),
        redis: RedisConnectionInfo {
            username: spec.username.clone(),
            password: spec.password.clone(),
            ..RedisConnectionInfo::default()
        },
    };
    let client = redis::Client::open(info).map_err(|e| redis_error(&server, "bad address", e))?;
    let conn = open(&client, &server, deadline, job.timeout).await?;
    let read_timeout = Duration::from_secs(BLOCK_SECS) + job.timeout;
    let reader_conn = open(&client, &server, deadline, read_timeout).await?;
    let ttl = (job.setup_timeout + job.timeout).as_secs().max(60);
    let inner = Arc::new(Inner {
        keys: Keys::new(job.id),
        sealer: Sealer::new(CONTEXT, &job.secret, job.id),
        chunk: spec.chunk_bytes,
        ttl_secs: ttl,
        left: (0..job.size).map(|_| AtomicBool::new(false)).collect(),
        broken: OnceLock::new(),
        next_message: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        reader: std::sync::Mutex::new(None),
        mailbox: Mailbox::default(),
        job,
        rank,
        server,
        client,
        conn,
    });
    let reader = tokio::spawn(read_loop(Arc::clone(&inner), reader_conn));
    *inner.reader.lock().unwrap_or_else(|p| p.into_inner()) = Some(reader.abort_handle());
    Ok(inner)
}

/// Pops this rank's inbox until the task is ended, delivering what it accepts.
async fn read_loop(inner: Arc<Inner>, mut conn: MultiplexedConnection) {
    let key = inner.keys.inbox(inner.rank);
    let mut parts = Reassembly::default();
    let mut failing_since: Option<Instant> = None;
    loop {
        let popped: redis::RedisResult<Option<(Vec<u8>, Vec<u8>)>> = redis::cmd("BLPOP")
            .arg(&key)
            .arg(BLOCK_SECS)
            .query_async(&mut conn)
            .await;
        let record = match popped {
            Ok(record) => record,
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > RECONNECT_GRACE {
                    let _ = inner.broken.set(redis_error(
                        &inner.server,
                        "lost the connection that reads this rank's inbox",
                        e,
                    ));
                    inner.mailbox.wake();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                let until = Instant::now() + Duration::from_secs(1);
                let timeout = Duration::from_secs(BLOCK_SECS) + inner.job.timeout;
                if let Ok(c) = open(&inner.client, &inner.server, until, timeout).await {
                    conn = c;
                }
                continue;
            }
        };
        failing_since = None;
        let Some((_, record)) = record else { continue };
        inner.accept(Bytes::from(record), &mut parts);
        // Take what else waits without blocking, one round trip for many records.
        let more: redis::RedisResult<Option<Vec<Vec<u8>>>> = redis::cmd("LPOP")
            .arg(&key)
            .arg(DRAIN)
            .query_async(&mut conn)
            .await;
        for record in more.ok().flatten().unwrap_or_default() {
            inner.accept(Bytes::from(record), &mut parts);
        }
    }
}

impl Inner {
    /// Checks one record from this rank's inbox and acts on it; refused records are
    /// counted, never delivered.
    fn accept(&self, record: Bytes, parts: &mut Reassembly) {
        let Ok((head, payload)) = self.sealer.open(&record, self.rank, self.job.size) else {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return;
        };
        if self.left[head.source].load(Ordering::SeqCst) {
            // Nothing follows a goodbye: this is a replay.
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return;
        }
        match head.kind {
            Kind::Data => match parts.add(&head, payload) {
                Ok(Some(msg)) => self.mailbox.deliver(head.source, head.tag, 0, msg),
                Ok(None) => {}
                Err(_) => {
                    self.rejected.fetch_add(1, Ordering::SeqCst);
                }
            },
            Kind::Abort => {
                let reason = String::from_utf8_lossy(&payload);
                self.mailbox.abort(head.tag.comm, head.source, &reason);
            }
            Kind::Bye => {
                parts.forget(head.source);
                self.left[head.source].store(true, Ordering::SeqCst);
                self.mailbox.wake();
            }
        }
    }

    fn check_peer(&self, peer: Rank) -> Result<()> {
        if peer >= self.job.size {
            return Err(Error::invalid(format!(
                "rank {peer} is outside the job of {} ranks",
                self.job.size
            )));
        }
        Ok(())
    }

    fn head(&self, kind: Kind, tag: Tag, parts: u32, total: usize) -> Head {
        Head {
            kind,
            source: self.rank,
            tag,
            message: self.next_message.fetch_add(1, Ordering::SeqCst),
            part: 0,
            parts,
            total: total as u64,
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
        let mut conn = self.conn.clone();
        match tokio::time::timeout(limit, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(
                redis_error(&self.server, &format!("cannot send to rank {to}"), e).with_peer(to),
            ),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "redis server {}: a send to rank {to} took longer than {limit:?}",
                    self.server
                ),
            )
            .with_peer(to)),
        }
    }

    /// Sends `msg` to `to` as one or more records, in batches of at most [`PUSH_BATCH`].
    async fn send_data(&self, to: Rank, tag: Tag, msg: Bytes) -> Result<()> {
        let parts = msg.len().div_ceil(self.chunk).max(1);
        let parts_u32 = u32::try_from(parts)
            .map_err(|_| Error::invalid(format!("a message of {} bytes", msg.len())))?;
        let mut head = self.head(Kind::Data, tag, parts_u32, msg.len());
        let per_batch = (PUSH_BATCH / self.chunk).max(1);
        let deadline = Instant::now() + self.job.timeout;
        for first in (0..parts).step_by(per_batch) {
            let records: Vec<Vec<u8>> = (first..parts.min(first + per_batch))
                .map(|part| {
                    head.part = part as u32;
                    let start = part * self.chunk;
                    let end = (start + self.chunk).min(msg.len());
                    self.sealer.seal(&head, to, &msg[start..end])
                })
                .collect();
            let left = deadline.saturating_duration_since(Instant::now());
            self.push(to, &records, left).await?;
        }
        Ok(())
    }

    /// Sends a record without payload parts (an abort or a goodbye).
    async fn send_control(&self, to: Rank, kind: Kind, comm: CommId, payload: &[u8]) -> Result<()> {
        let tag = Tag {
            comm,
            p2p: false,
            seq: 0,
            step: 0,
            chunk: 0,
        };
        let head = self.head(kind, tag, 1, payload.len());
        let record = self.sealer.seal(&head, to, payload);
        self.push(to, &[record], CONTROL_TIMEOUT).await
    }

    fn gone_error(&self, peer: Rank, tag: Tag) -> Option<Error> {
        if peer == self.rank {
            return None;
        }
        if self.left[peer].load(Ordering::SeqCst) {
            return Some(Mailbox::left(peer, tag));
        }
        self.broken.get().cloned()
    }

    /// Says goodbye to every peer still here, waits (up to [`LINGER`]) for theirs, stops
    /// the reader and deletes this rank's inbox.
    async fn leave(&self) -> Result<()> {
        let peers: Vec<Rank> = (0..self.job.size)
            .filter(|&p| p != self.rank && !self.left[p].load(Ordering::SeqCst))
            .collect();
        let byes = peers
            .iter()
            .map(|&p| self.send_control(p, Kind::Bye, CommId::WORLD, &[]));
        let said = futures_util::future::join_all(byes).await;
        let until = Instant::now() + LINGER;
        while Instant::now() < until
            && self.broken.get().is_none()
            && peers.iter().any(|&p| !self.left[p].load(Ordering::SeqCst))
        {
            // The reader marks peers as it goes; a short poll is simpler than a notifier.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(reader) = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take() {
            reader.abort();
        }
        let mut conn = self.conn.clone();
        let mut del = redis::cmd("DEL");
        del.arg(self.keys.inbox(self.rank));
        let del = del.query_async::<()>(&mut conn);
        let deleted = match tokio::time::timeout(CONTROL_TIMEOUT, del).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(redis_error(
                &self.server,
                "cannot delete this rank's inbox",
                e,
            )),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "redis server {}: deleting this rank's inbox timed out",
                    self.server
                ),
            )),
        };
        said.into_iter().collect::<Result<Vec<()>>>()?;
        deleted
    }
}

fn closed() -> Error {
    Error::new(
        ErrorKind::Transport,
        "this rank's redis transport is closed",
    )
}

impl Transport for RedisTransport {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn rank(&self) -> Rank {
        self.inner.rank
    }

    fn size(&self) -> usize {
        self.inner.job.size
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.check_peer(to)?;
            if inner.closed.load(Ordering::SeqCst) {
                return Err(closed());
            }
            if to == inner.rank {
                inner.mailbox.deliver(to, tag, 0, msg);
                return Ok(());
            }
            if inner.left[to].load(Ordering::SeqCst) {
                return Err(Error::new(
                    ErrorKind::Remote,
                    format!("rank {to} left before {tag} was sent to it"),
                )
                .with_peer(to));
            }
            inner.send_data(to, tag, msg).await
        })
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.check_peer(from)?;
            let gone = || inner.gone_error(from, tag);
            inner.mailbox.recv(from, tag, deadline, gone).await
        })
    }

    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let inner = &self.inner;
            let reason = reason_bytes(reason);
            let sends = peers
                .iter()
                .filter(|&&p| p < inner.job.size && p != inner.rank)
                .map(|&p| inner.send_control(p, Kind::Abort, comm, reason));
            futures_util::future::join_all(sends).await;
        })
    }

    fn profile(&self) -> LinkProfile {
        PROFILE
    }

    /// Says goodbye to every peer, waits (up to a few seconds) for their goodbyes, deletes
    /// this rank's inbox, then stops the I/O thread.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.inner.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            let left = self.inner.leave().await;
            self.io.stop_and_join().await;
            left
        })
    }
}

impl Drop for RedisTransport {
    /// Leaves as [`Transport::close`] does, in the background on the I/O thread, which
    /// then stops.
    fn drop(&mut self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let stop = self.io.take_stop();
        self.io.handle.spawn(async move {
            let _ = inner.leave().await;
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
        });
    }
}
