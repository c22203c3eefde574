//! The rendezvous server: one task per connection around a table of unfinished jobs.
//!
//! A connection reads one `Register` (within `read_timeout`), admits it into its job under
//! a short lock, and waits for the job's outcome on a oneshot channel. The last rank to
//! arrive takes the job out of the table, encodes the full table once and hands the same
//! [`Bytes`] to every waiting connection. Each waiting connection also sleeps until its
//! job's expiry; the first to wake expires the job for all of them. A job in the table
//! therefore always has a waiting connection to expire it, and when its last waiting rank
//! disconnects it is forgotten.
//!
//! Connections are capped (`max_connections`). Past the cap a new connection displaces the
//! oldest one that has not delivered its registration yet: a rank sends its registration
//! the moment it connects, so under a flood of silent or slow clients the oldest reader is
//! almost surely one of them, and a real rank still gets in. Only when every connection
//! holds a registered rank is the new one closed at once. Running out of file descriptors
//! evicts the oldest reader the same way, so a cap above the process's limit still cannot
//! lock out ranks.
//!
//! Nothing here logs: refusals go to the client that caused them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle as ThreadHandle;
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{Error, ErrorKind, JobId, Result};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::protocol::{
    FrameError, JobKey, PeerAddrs, REGISTER_LIMIT, REPLY_LIMIT, Registration, Reply, ct_eq,
    read_frame,
};

/// How long the accept loop pauses after a failed accept (say, out of file descriptors),
/// so that it waits for connections to end instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// The listen backlog: a whole job's ranks may connect in the same instant.
const BACKLOG: i32 = 4096;

/// Limits and settings of a [`RendezvousServer`].
#[derive(Clone)]
pub struct ServerConfig {
    /// The operator token: registrations without it are refused with
    /// [`ErrorKind::Auth`]. `None` (or empty) accepts every registration.
    pub token: Option<String>,
    /// The longest a job may stay unfinished, whatever wait its ranks ask for.
    pub max_wait: Duration,
    /// How long a client has to deliver its registration before it is dropped: the bound
    /// on what a silent or slow (one byte at a time) client costs.
    pub read_timeout: Duration,
    /// How long a client has to take its reply before it is dropped.
    pub write_timeout: Duration,
    /// Open connections the server keeps. Past it, a new connection displaces the oldest
    /// one that is still to deliver its registration; if every connection holds a
    /// registered rank, the new one is closed at once. Each connection costs a file
    /// descriptor and a few kilobytes, so the cap bounds the server's memory.
    pub max_connections: usize,
    /// Unfinished jobs past which registrations for new jobs are refused.
    pub max_jobs: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            token: None,
            max_wait: Duration::from_secs(120),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_connections: 16384,
            max_jobs: 4096,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("token", &self.token.as_ref().map(|_| ".."))
            .field("max_wait", &self.max_wait)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_jobs", &self.max_jobs)
            .finish()
    }
}

/// The rendezvous server, bound and ready to [`run`](Self::run).
pub struct RendezvousServer {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl RendezvousServer {
    /// Listens on `addr` (port 0 picks a free port, see [`local_addr`](Self::local_addr)).
    /// Needs no runtime: the listener joins one in [`run`](Self::run).
    pub fn bind(addr: SocketAddr, config: ServerConfig) -> Result<RendezvousServer> {
        check_config(&config)?;
        let listener = listen(addr).map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!("the rendezvous server could not listen on {addr}: {e}"),
            )
            .with_source(e)
        })?;
        let addr = listener.local_addr().map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!("the rendezvous server on {addr} could not read its address: {e}"),
            )
            .with_source(e)
        })?;
        Ok(RendezvousServer {
            listener,
            addr,
            shared: Arc::new(Shared::new(config)),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the future is dropped, which also drops every open connection. It
    /// returns only if the listener cannot join the current tokio runtime.
    pub async fn run(self) -> Result<()> {
        let listener = TcpListener::from_std(self.listener).map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!(
                    "the rendezvous server on {} could not start: {e}",
                    self.addr
                ),
            )
            .with_source(e)
        })?;
        // Owning the connection tasks in a JoinSet ties their lives to this future.
        let mut connections = JoinSet::new();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if out_of_descriptors(&e) {
                        self.shared.evict_oldest_reader();
                    }
                    sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            if connections.len() >= self.shared.config.max_connections
                && !self.shared.evict_oldest_reader()
            {
                drop(stream);
                continue;
            }
            let conn = self.shared.next_id();
            let evicted = self.shared.reading(conn);
            connections.spawn(serve(self.shared.clone(), stream, peer, conn, evicted));
        }
    }

    /// Runs the server as a task of the current tokio runtime; dropping the handle stops it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn(self) -> ServerHandle {
        ServerHandle {
            addr: self.addr,
            task: tokio::spawn(self.run()),
        }
    }

    /// Binds `addr` and runs the server on a thread of its own, with its own runtime, for
    /// embedding (the local launcher, tests); dropping the result stops it.
    pub fn start_background(addr: SocketAddr, config: ServerConfig) -> Result<BackgroundServer> {
        let server = RendezvousServer::bind(addr, config)?;
        let addr = server.addr;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("could not build the rendezvous server's runtime: {e}"),
                )
                .with_source(e)
            })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fccl-rendezvous".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // `stopped` resolves when the sender is used or dropped.
                    tokio::select! {
                        _ = server.run() => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("could not start the rendezvous server's thread: {e}"),
                )
                .with_source(e)
            })?;
        Ok(BackgroundServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A server running as a task; dropping it stops the server.
pub struct ServerHandle {
    addr: SocketAddr,
    task: JoinHandle<Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server running on its own thread; dropping it stops the server and joins the thread.
pub struct BackgroundServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<ThreadHandle<()>>,
}

impl BackgroundServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn check_config(config: &ServerConfig) -> Result<()> {
    if config.max_connections == 0 || config.max_jobs == 0 {
        return Err(Error::invalid(
            "a rendezvous server needs max_connections and max_jobs of at least 1",
        ));
    }
    if config.read_timeout.is_zero() || config.write_timeout.is_zero() {
        return Err(Error::invalid(
            "a rendezvous server needs positive read and write timeouts",
        ));
    }
    Ok(())
}

/// Whether a failed accept ran out of file descriptors (EMFILE, ENFILE on Linux and macOS).
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// A non-blocking listener with a backlog deep enough for a job's burst of connections,
/// and `SO_REUSEADDR` so that a restarted server need not wait out `TIME_WAIT`.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// What every connection task shares.
struct Shared {
    config: ServerConfig,
    /// SHA-256 of the token: comparing fixed-length digests hides the token's length.
    token: Option<[u8; 32]>,
    jobs: Mutex<HashMap<JobId, PendingJob>>,
    /// The connections still to deliver their registration, oldest (lowest id) first;
    /// dropping one's sender evicts it.
    readers: Mutex<BTreeMap<u64, oneshot::Sender<()>>>,
    ids: AtomicU64,
}

/// A job that is waiting for ranks.
struct PendingJob {
    /// Tells this job from a later one with the same id (after expiry).
    instance: u64,
    size: u32,
    key: JobKey,
    wait: Duration,
    expires: Instant,
    /// Grows with registrations only, so a claimed size costs nothing.
    ranks: HashMap<u32, Waiter>,
}

/// A registered rank waiting on its connection.
struct Waiter {
    conn: u64,
    addrs: PeerAddrs,
    reply: oneshot::Sender<Bytes>,
}

/// The outcome of admitting a registration.
enum Admitted {
    /// The rank waits for the others.
    Waiting(Ticket),
    /// The rank completed the job, now out of the table.
    Full(PendingJob, u32, PeerAddrs),
}

/// What a waiting connection needs to wait, expire or leave.
struct Ticket {
    job: JobId,
    instance: u64,
    rank: u32,
    conn: u64,
    expires: Instant,
    reply: oneshot::Receiver<Bytes>,
}

impl Shared {
    fn new(config: ServerConfig) -> Shared {
        let token = config
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(digest);
        Shared {
            config,
            token,
            jobs: Mutex::new(HashMap::new()),
            readers: Mutex::new(BTreeMap::new()),
            ids: AtomicU64::new(0),
        }
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The table stays consistent under every panic-free path, so a poisoned lock (which
    /// no code here should cause) is still usable.
    fn jobs(&self) -> MutexGuard<'_, HashMap<JobId, PendingJob>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn readers(&self) -> MutexGuard<'_, BTreeMap<u64, oneshot::Sender<()>>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters connection `conn` among the readers; the receiver resolves if it is evicted.
    fn reading(&self, conn: u64) -> oneshot::Receiver<()> {
        let (evict, evicted) = oneshot::channel();
        self.readers().insert(conn, evict);
        evicted
    }

    /// Takes `conn` out of the readers once its registration is read; `false` if it was
    /// evicted meanwhile (and must then leave without registering).
    fn done_reading(&self, conn: u64) -> bool {
        self.readers().remove(&conn).is_some()
    }

    /// Evicts the oldest connection still reading, if there is one.
    fn evict_oldest_reader(&self) -> bool {
        self.readers().pop_first().is_some()
    }

    fn check_token(&self, reg: &Registration) -> Result<()> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        match reg.token.as_deref() {
            None => Err(Error::new(
                ErrorKind::Auth,
                "this server wants an operator token (FCCL_RENDEZVOUS_TOKEN), and none came",
            )),
            Some(token) if ct_eq(&digest(token), expected) => Ok(()),
            Some(_) => Err(Error::new(ErrorKind::Auth, "wrong operator token")),
        }
    }

    /// Admits `reg` into its job, under the lock; refusals leave the job untouched.
    fn admit(&self, reg: Registration, public: SocketAddr, conn: u64) -> Result<Admitted> {
        let addrs = PeerAddrs {
            public,
            private: reg.private,
        };
        let mut jobs = self.jobs();
        let unfinished = jobs.len();
        let job = match jobs.entry(reg.job) {
            Entry::Occupied(entry) => {
                let job = entry.get();
                if job.key != reg.key {
                    return Err(Error::new(ErrorKind::Auth, "job key does not match"));
                }
                if job.size != reg.size {
                    return Err(Error::invalid(format!(
                        "job {} has {} ranks, not {}",
                        reg.job, job.size, reg.size
                    )));
                }
                if job.ranks.contains_key(&reg.rank) {
                    return Err(Error::new(
                        ErrorKind::Rendezvous,
                        format!("rank {} of job {} is already registered", reg.rank, reg.job),
                    ));
                }
                if job.ranks.len() + 1 == job.size as usize {
                    return Ok(Admitted::Full(entry.remove(), reg.rank, addrs));
                }
                entry.into_mut()
            }
            Entry::Vacant(entry) => {
                let wait = reg.wait.min(self.config.max_wait);
                let job = PendingJob {
                    instance: self.next_id(),
                    size: reg.size,
                    key: reg.key,
                    wait,
                    expires: Instant::now() + wait,
                    ranks: HashMap::new(),
                };
                // A job of one is done at once and never takes a place in the table.
                if reg.size == 1 {
                    return Ok(Admitted::Full(job, reg.rank, addrs));
                }
                if unfinished >= self.config.max_jobs {
                    return Err(Error::new(
                        ErrorKind::Rendezvous,
                        format!(
                            "the server has {unfinished} unfinished jobs, its limit; try later"
                        ),
                    ));
                }
                entry.insert(job)
            }
        };
        let (tx, rx) = oneshot::channel();
        job.ranks.insert(
            reg.rank,
            Waiter {
                conn,
                addrs,
                reply: tx,
            },
        );
        Ok(Admitted::Waiting(Ticket {
            job: reg.job,
            instance: job.instance,
            rank: reg.rank,
            conn,
            expires: job.expires,
            reply: rx,
        }))
    }

    /// Takes the job out if it is still `instance`, and tells its waiting ranks it expired.
    fn expire(&self, job: JobId, instance: u64) {
        let expired = {
            let mut jobs = self.jobs();
            match jobs.get(&job) {
                Some(pending) if pending.instance == instance => jobs.remove(&job),
                _ => None,
            }
        };
        let Some(expired) = expired else { return };
        let message = format!(
            "job {job} expired: {} of {} ranks registered within {}",
            expired.ranks.len(),
            expired.size,
            show(expired.wait)
        );
        let reply = Reply::encode_refusal(ErrorKind::Timeout, &message);
        for waiter in expired.ranks.into_values() {
            let _ = waiter.reply.send(reply.clone());
        }
    }

    /// Frees the rank of a connection that went away, so that it can register again; a job
    /// left with no rank is forgotten (nothing would be left to expire it).
    fn leave(&self, ticket: &Ticket) {
        let mut jobs = self.jobs();
        let Some(job) = jobs.get_mut(&ticket.job) else {
            return;
        };
        if job.instance != ticket.instance
            || job
                .ranks
                .get(&ticket.rank)
                .is_none_or(|w| w.conn != ticket.conn)
        {
            return;
        }
        job.ranks.remove(&ticket.rank);
        if job.ranks.is_empty() {
            jobs.remove(&ticket.job);
        }
    }
}

/// Sends the completed job's table to its waiting ranks, and returns it for the last one.
fn finish(job: PendingJob, rank: u32, addrs: PeerAddrs) -> Bytes {
    let mut rows = Vec::with_capacity(job.size as usize);
    let mut replies = Vec::with_capacity(job.ranks.len());
    for (rank, waiter) in job.ranks {
        rows.push((rank, waiter.addrs));
        replies.push(waiter.reply);
    }
    rows.push((rank, addrs));
    rows.sort_unstable_by_key(|(rank, _)| *rank);
    let table: Vec<PeerAddrs> = rows.into_iter().map(|(_, addrs)| addrs).collect();
    let mut reply = Reply::encode_table(&table);
    if reply.len() - 4 > REPLY_LIMIT {
        reply = Reply::encode_refusal(
            ErrorKind::Rendezvous,
            &format!(
                "the table of {} ranks takes {} bytes, more than the {REPLY_LIMIT} a rank accepts",
                table.len(),
                reply.len() - 4
            ),
        );
    }
    for tx in replies {
        let _ = tx.send(reply.clone());
    }
    reply
}

/// One connection, from its registration to its reply; a connection evicted while it
/// reads its registration is closed without a word.
async fn serve(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    conn: u64,
    evicted: oneshot::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let read_timeout = shared.config.read_timeout;
    let read = tokio::select! {
        read = timeout(read_timeout, read_frame(&mut stream, REGISTER_LIMIT)) => read,
        _ = evicted => return,
    };
    if !shared.done_reading(conn) {
        return;
    }
    let reply = match read {
        Ok(Ok(body)) => handle(&shared, &body, &mut stream, peer, conn).await,
        Ok(Err(FrameError::TooLong { len, limit })) => Some(refusal(&Error::new(
            ErrorKind::Rendezvous,
            format!("a registration of {len} bytes, more than the {limit} accepted"),
        ))),
        // Nobody is left to tell.
        Ok(Err(FrameError::Closed { .. } | FrameError::Io(_))) => None,
        Err(_) => Some(refusal(&Error::new(
            ErrorKind::Rendezvous,
            format!("no registration within {}", show(read_timeout)),
        ))),
    };
    if let Some(reply) = reply {
        let _ = timeout(shared.config.write_timeout, stream.write_all(&reply)).await;
    }
}

/// Decodes, checks and admits a registration, then waits for its outcome; `None` when the
/// client went away.
async fn handle(
    shared: &Shared,
    body: &[u8],
    stream: &mut TcpStream,
    peer: SocketAddr,
    conn: u64,
) -> Option<Bytes> {
    let admitted = Registration::decode(body)
        .and_then(|reg| {
            shared.check_token(&reg)?;
            reg.validate()?;
            Ok(reg)
        })
        .and_then(|reg| shared.admit(reg, public_addr(peer), conn));
    match admitted {
        Err(e) => Some(refusal(&e)),
        Ok(Admitted::Full(job, rank, addrs)) => Some(finish(job, rank, addrs)),
        Ok(Admitted::Waiting(ticket)) => wait(shared, ticket, stream).await,
    }
}

/// Waits for the job to fill or expire, and watches the connection meanwhile: a client
/// sends nothing after its registration, so any read that completes means it left (or
/// misbehaves) and its rank is freed.
async fn wait(shared: &Shared, mut ticket: Ticket, stream: &mut TcpStream) -> Option<Bytes> {
    let mut probe = [0u8; 1];
    tokio::select! {
        biased;
        reply = &mut ticket.reply => return Some(reply.unwrap_or_else(|_| lost())),
        _ = sleep_until(ticket.expires) => shared.expire(ticket.job, ticket.instance),
        _ = stream.read(&mut probe) => {
            shared.leave(&ticket);
            // The job may have completed in the meantime: then the reply is already here.
            return ticket.reply.try_recv().ok();
        }
    }
    // Whoever removed the job (this expiry, another rank's, or the last rank) has sent, or
    // is about to send, every waiter its reply.
    Some((&mut ticket.reply).await.unwrap_or_else(|_| lost()))
}

/// The reply for a waiter whose job vanished without an outcome (a bug if it happens).
fn lost() -> Bytes {
    Reply::encode_refusal(ErrorKind::Rendezvous, "the server lost track of the job")
}

fn refusal(e: &Error) -> Bytes {
    Reply::encode_refusal(e.kind(), e.message())
}

/// The peer's address as IPv4 when it came through a dual-stack socket as IPv4-mapped IPv6.
fn public_addr(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(peer.ip().to_canonical(), peer.port())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A wait for people: `300 ms`, `60 s`, `1.5 s`.
fn show(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
