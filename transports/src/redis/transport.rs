//! The redis transport endpoint of one rank.
//!
//! Every rank has one inbox list on the server. A send pushes sealed records (see
//! `record.rs`) onto the destination's inbox and renews the list's expiry in the same
//! pipeline; a reader task (`reader.rs`) pops this rank's inbox with `BLPOP` on a
//! connection of its own, checks each record, reassembles the parts of large messages and
//! delivers them to the rank's [`Mailbox`](fccl_collectives::transport::mailbox::Mailbox).
//! The connections and the reader live on an I/O thread of the endpoint's own, so the
//! endpoint works from any runtime, or none. Shared objects and counters are in
//! `objects.rs` and `counters.rs`, back-pressure in `flow.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{
    BoxFuture, CommId, Error, ErrorKind, JobSpec, LinkProfile, Rank, Result, SharedObjects, Tag,
    Transport, Usage,
};
use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::conn::{BlockingPool, SharedConn, open, redis_error};
use super::endpoint::Inner;
use super::flow::Flow;
use super::keys::Keys;
use super::reader::{BLOCK, run_id};
use super::record::{CONTEXT, OBJECT_CONTEXT, Sealer};
use super::spec::{MIN_CHUNK_BYTES, RedisSpec};
use crate::peers::Peers;
use crate::record::{Kind, reason_bytes};
use crate::tcp::io_thread::IoThread;
use crate::usage::Counters;

/// What the cost model assumes of a redis link: a round trip to a server in the same
/// region on each side of a message.
const PROFILE: LinkProfile = LinkProfile {
    latency: Duration::from_micros(200),
    bandwidth: 1e9,
    max_message_bytes: usize::MAX,
    usd_per_request: 0.0,
    usd_per_byte: 0.0,
    shared_objects: true,
    via_server: true,
};

/// One rank's endpoint of a job whose messages travel through a redis server.
pub struct RedisTransport {
    inner: Arc<Inner>,
    io: IoThread,
}

impl RedisTransport {
    /// Joins `job` as `rank` through the redis server of `spec`: connects (by the job's
    /// set-up timeout) and starts reading this rank's inbox. Messages sent to this rank
    /// before it joined wait in its inbox.
    pub async fn connect(job: &JobSpec, rank: Rank, spec: &RedisSpec) -> Result<RedisTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        if spec.chunk_bytes < MIN_CHUNK_BYTES || spec.window_bytes < MIN_CHUNK_BYTES {
            return Err(Error::invalid(format!(
                "a redis part and window must hold at least {MIN_CHUNK_BYTES} bytes, not {} \
                 and {}",
                spec.chunk_bytes, spec.window_bytes
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

    /// The key of the list that holds the first part of `owner`'s shared object `tag`.
    #[doc(hidden)]
    pub fn object_key(&self, owner: Rank, tag: Tag) -> String {
        self.inner.keys.object(owner, &tag)
    }

    /// What every key of this job starts with (`fccl:` and a keyed hash of the job id): a
    /// job's keys are found by it (`SCAN MATCH {prefix}*`), and reveal nothing else.
    pub fn key_prefix(&self) -> &str {
        self.inner.keys.prefix()
    }
}

/// Connects, records the server instance and this endpoint's sentinel, and starts the
/// reader and the credit publisher (on the I/O runtime).
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
    let mut conn = open(&client, &server, deadline, job.timeout).await?;
    let read_timeout = BLOCK + job.timeout;
    let reader_conn = open(&client, &server, deadline, read_timeout).await?;
    let ttl = (job.setup_timeout + job.timeout).as_secs().max(60);
    let keys = Keys::new(&job.secret, job.id);
    let alive_key = keys.alive(rank, rand::random());
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg(&alive_key)
        .arg(1)
        .arg("EX")
        .arg(ttl)
        .ignore();
    let usage = Counters::default();
    usage.requests(1 + pipe.len());
    let started = async {
        let id = run_id(&mut conn).await?;
        pipe.query_async::<()>(&mut conn).await?;
        Ok::<_, redis::RedisError>(id)
    };
    let run_id = match tokio::time::timeout_at(deadline, started).await {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => return Err(redis_error(&server, "cannot join", e)),
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("redis server {server}: no answer within the set-up timeout"),
            ));
        }
    };
    let blocking = BlockingPool::new(
        client.clone(),
        server.clone(),
        Duration::from_secs(1) + job.timeout,
        tokio::runtime::Handle::current(),
    );
    let inner = Arc::new(Inner {
        keys,
        alive_key,
        run_id,
        sealer: Sealer::new(CONTEXT, &job.secret, job.id),
        object_sealer: Sealer::new(OBJECT_CONTEXT, &job.secret, job.id),
        chunk: spec.chunk_bytes,
        ttl_secs: ttl,
        next_message: (0..job.size).map(|_| AtomicU64::new(0)).collect(),
        next_waiter: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        tasks: Mutex::new(Vec::new()),
        peers: Peers::new(rank, job.size, "redis"),
        aborted: Mutex::new(HashMap::new()),
        changed: Notify::new(),
        puts: Mutex::default(),
        counters: Mutex::default(),
        flow: Flow::new(job.size, spec.window_bytes),
        usage,
        conn: SharedConn::new(conn),
        blocking,
        job,
        rank,
        server,
        client,
    });
    let reader = tokio::spawn(Arc::clone(&inner).read_loop(reader_conn));
    let publisher = {
        let inner = Arc::clone(&inner);
        tokio::spawn(async move { inner.publish_credit().await })
    };
    let mut tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
    tasks.extend([reader.abort_handle(), publisher.abort_handle()]);
    drop(tasks);
    Ok(inner)
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
            let Some(msg) = inner.peers.before_send(to, tag, msg)? else {
                return Ok(());
            };
            inner.send_data(to, tag, msg).await
        })
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.peers.check_peer(from)?;
            let gone = || inner.peers.gone_error(from, tag);
            if from == inner.rank {
                return inner.peers.mailbox.recv(from, tag, deadline, gone).await;
            }
            let mut receiving = inner.flow.receiving(from);
            let msg = inner.peers.mailbox.recv(from, tag, deadline, gone).await?;
            receiving.taken = msg.len();
            Ok(msg)
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

    /// Every command this endpoint sent to the server (each of a pipeline's; the reader's
    /// blocking pops and health checks, set-up and leaving included) and the payload bytes
    /// of the messages and objects it stored for peers. The server is billed by the hour:
    /// no request is billed.
    fn usage(&self) -> Option<Usage> {
        Some(self.inner.usage.usage())
    }

    /// Objects and counters on the server, under the job's prefix (see `objects.rs`).
    fn shared(&self) -> Option<&dyn SharedObjects> {
        Some(&*self.inner)
    }

    /// Says goodbye to every peer, waits (up to a few seconds) for their goodbyes, deletes
    /// this rank's keys (its inbox, the objects it put and nobody removed, its wake lists,
    /// and the counters it used once every peer has left), then stops the I/O thread.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.inner.peers.closed.swap(true, Ordering::SeqCst) {
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
        if self.inner.peers.closed.swap(true, Ordering::SeqCst) {
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
