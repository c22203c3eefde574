//! The tcp transport endpoint of one rank.
//!
//! The endpoint's I/O — the listener, the pairing dials, one reader task per connection —
//! runs either on the runtime of the rank that joined ([`TcpTransport::connect_here`], what
//! `fccl::connect` does: arriving data wakes the rank's own thread, as MPI ranks progress
//! their own messages) or on an I/O thread of its own ([`TcpTransport::connect`]: works
//! from any runtime or none, and reads while the caller computes). Senders write to the
//! socket directly from their own task, and a receive polls its peer's socket for a short
//! while before it parks, so the common message costs no hop between threads.
//!
//! A pair's state lives in its [`Slot`](super::punch::Slot): idle, pairing, connected,
//! failed, or relayed through the fallback transport.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::transport::mailbox::Mailbox;
use fccl_collectives::transport::{joined, place};
use fccl_collectives::{
    BoxFuture, CommId, Error, ErrorKind, JobSpec, LinkProfile, Rank, Result, Tag, Transport, Usage,
};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::conn::{Conn, Ended};
use super::io_thread::IoThread;
use super::punch::{self, PairState, Slot};
use super::rendezvous::{self, JobKey, PeerAddrs, Registration};
use super::seal::Keys;
use super::spec::{Mesh, Relay, TcpSpec};
use super::spin::{self, Landed};
use super::wire::{Kind, control_tag};
use crate::record::reason_bytes;
use crate::usage::Counters;

/// What the cost model assumes of a tcp link until it is measured: a loopback or
/// same-region path.
const PROFILE: LinkProfile = LinkProfile {
    latency: Duration::from_micros(30),
    bandwidth: 1.5e9,
    max_message_bytes: usize::MAX,
    usd_per_request: 0.0,
    usd_per_byte: 0.0,
    shared_objects: false,
    via_server: false,
};

/// One rank's endpoint of a tcp job.
pub struct TcpTransport {
    inner: Arc<Inner>,
    /// The endpoint's own I/O thread, unless its I/O runs on the caller's runtime.
    io: Option<IoThread>,
}

/// The state the endpoint's tasks share.
pub(crate) struct Inner {
    pub(crate) job: JobSpec,
    pub(crate) spec: TcpSpec,
    pub(crate) rank: Rank,
    /// Every rank's addresses, from the rendezvous.
    table: Vec<PeerAddrs>,
    /// The address this rank's sockets bind: the wildcard address and the rank's port.
    port_addr: SocketAddr,
    pub(crate) slots: Vec<Slot>,
    mailbox: Mailbox,
    /// Why each peer can send nothing more, once it cannot.
    gone: Vec<std::sync::OnceLock<Ended>>,
    io: tokio::runtime::Handle,
    /// The tasks that would run forever (the listener, the readers): ended on leaving.
    tasks: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    closed: AtomicBool,
    /// How long a receive polls its peer's socket before it parks.
    spin: Duration,
    /// The transport of pairs that are not connected directly (see [`Relay`]).
    pub(crate) fallback: Option<Arc<dyn Transport>>,
    /// The payload bytes of the data records written to peers (no requests: no server).
    usage: Counters,
}

/// How a message reaches a peer.
enum Route<'a> {
    /// The pair's own connection.
    Direct(Arc<Conn>),
    /// The fallback transport.
    Relay(&'a dyn Transport),
}

/// How long leaving waits for the peers to leave too, so that nothing still in flight to
/// this rank makes its socket answer with a reset (which would discard data the peer has
/// yet to read).
const LINGER: Duration = Duration::from_secs(5);

impl TcpTransport {
    /// Sends the message `first` followed by `rest` to `to`: delivered at once to this rank
    /// itself, written from where both lie on a direct connection, joined into one buffer
    /// for a relayed pair's fallback.
    async fn send_message(&self, to: Rank, tag: Tag, first: Bytes, rest: &[u8]) -> Result<()> {
        let inner = &self.inner;
        inner.check_peer(to)?;
        let whole = || joined(&first, rest);
        if to == inner.rank {
            inner.mailbox.deliver(to, tag, 0, whole());
            return Ok(());
        }
        if let Some(e) = inner.gone_error(to, tag) {
            return Err(e);
        }
        let far = Instant::now() + inner.job.setup_timeout;
        match inner.route(to, far).await? {
            Route::Direct(conn) => {
                conn.send_parts(Kind::Data, tag, &first, rest).await?;
                inner.usage.sent(first.len() + rest.len());
                Ok(())
            }
            // The fallback counts what it carries (see `usage`).
            Route::Relay(fallback) => fallback.send(to, tag, whole()).await,
        }
    }

    /// Joins `job` as `rank` through the rendezvous server of `spec`: registers, learns the
    /// other ranks' endpoints, and (for [`Mesh::Full`]) connects every pair. Every phase
    /// ends by the job's set-up timeout.
    ///
    /// The endpoint gets an I/O thread of its own, so it works from any runtime, or none
    /// (the runtime that awaits this may end before the endpoint does).
    pub async fn connect(job: &JobSpec, rank: Rank, spec: &TcpSpec) -> Result<TcpTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        let io = IoThread::start(rank)?;
        let inner = TcpTransport::setup_on(&io.handle, job, rank, spec, None).await?;
        Ok(TcpTransport {
            inner,
            io: Some(io),
        })
    }

    /// Like [`TcpTransport::connect`], with `fallback` carrying the messages of every pair
    /// that is not connected directly: pairs that cannot punch through by their deadline,
    /// or every pair with `relay=always` in the spec. `fallback` must be this rank's
    /// endpoint of a transport every rank of the job joined (a memory store, say). Both
    /// ends of a pair agree whether it is relayed: a connection that either end has given
    /// up on is refused in the handshake. (A punch that ends at its deadline on one end
    /// while the other end's last attempt is still in its handshake can leave the two
    /// disagreeing; a receive that waits on the other medium then times out: a clear error,
    /// never wrong data.)
    pub async fn connect_with_fallback(
        job: &JobSpec,
        rank: Rank,
        spec: &TcpSpec,
        fallback: Arc<dyn Transport>,
    ) -> Result<TcpTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        if fallback.rank() != rank || fallback.size() != job.size {
            return Err(Error::invalid(format!(
                "the fallback is rank {} of {}, not rank {rank} of {}",
                fallback.rank(),
                fallback.size(),
                job.size
            )));
        }
        let io = IoThread::start(rank)?;
        let inner = TcpTransport::setup_on(&io.handle, job, rank, spec, Some(fallback)).await?;
        Ok(TcpTransport {
            inner,
            io: Some(io),
        })
    }

    /// Like [`TcpTransport::connect`], but the endpoint's I/O (its listener and readers)
    /// runs on the tokio runtime that calls this, which must outlive the endpoint. On a
    /// current-thread runtime, arriving data then wakes the rank's own thread rather than a
    /// second one that would have to wake it in turn, as MPI ranks progress their own
    /// messages; this is how `fccl::connect` joins.
    pub async fn connect_here(job: &JobSpec, rank: Rank, spec: &TcpSpec) -> Result<TcpTransport> {
        job.validate()?;
        job.check_rank(rank)?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::invalid("TcpTransport::connect_here must be called inside a tokio runtime")
        })?;
        let inner = TcpTransport::setup_on(&handle, job, rank, spec, None).await?;
        Ok(TcpTransport { inner, io: None })
    }

    async fn setup_on(
        io: &tokio::runtime::Handle,
        job: &JobSpec,
        rank: Rank,
        spec: &TcpSpec,
        fallback: Option<Arc<dyn Transport>>,
    ) -> Result<Arc<Inner>> {
        if spec.relay == Relay::Always && fallback.is_none() {
            return Err(Error::invalid(
                "relay=always needs a fallback transport to relay through",
            ));
        }
        let setup = io.spawn(setup(job.clone(), rank, spec.clone(), io.clone(), fallback));
        setup
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("tcp set-up failed: {e}")))?
    }

    /// The port this rank listens and dials on.
    pub fn port(&self) -> u16 {
        self.inner.port_addr.port()
    }

    /// Every rank's public endpoint, as the rendezvous server saw it.
    pub fn public_endpoints(&self) -> Vec<SocketAddr> {
        self.inner.table.iter().map(|p| p.public).collect()
    }

    /// Connects to `peer` now rather than at the first message, waiting until `deadline`
    /// (for a relayed pair: settles that it is relayed).
    pub async fn connect_peer(&self, peer: Rank, deadline: Instant) -> Result<()> {
        self.inner.check_peer(peer)?;
        if peer == self.inner.rank {
            return Ok(());
        }
        self.inner.route(peer, deadline).await.map(|_| ())
    }

    /// The address this rank's connection with `peer` reaches it at (its private address
    /// for a peer behind the same NAT, its public endpoint otherwise); `None` while the two
    /// are not connected.
    pub fn peer_addr(&self, peer: Rank) -> Option<SocketAddr> {
        match &*self.inner.slots.get(peer)?.lock() {
            PairState::Ready(conn) => conn.remote,
            _ => None,
        }
    }

    /// The ranks this rank has a connection with now.
    pub fn connected_peers(&self) -> Vec<Rank> {
        (0..self.inner.job.size)
            .filter(|&p| matches!(*self.inner.slots[p].lock(), PairState::Ready(_)))
            .collect()
    }
}

/// Binds the rank's port, registers, and (for a full mesh) connects every pair.
async fn setup(
    job: JobSpec,
    rank: Rank,
    spec: TcpSpec,
    io: tokio::runtime::Handle,
    fallback: Option<Arc<dyn Transport>>,
) -> Result<Arc<Inner>> {
    let deadline = Instant::now() + job.setup_timeout;
    let server = resolve(&spec.server).await?;
    let wildcard: IpAddr = if server.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let listener = punch::port_socket(SocketAddr::new(wildcard, 0))?
        .listen(1024)
        .map_err(|e| Error::new(ErrorKind::Transport, format!("cannot listen: {e}")))?;
    punch::check_congestion(socket2::SockRef::from(&listener), &spec)?;
    let port_addr = listener
        .local_addr()
        .map_err(|e| Error::new(ErrorKind::Transport, format!("cannot listen: {e}")))?;
    let registration = Registration {
        token: spec.token.clone(),
        job: job.id,
        key: JobKey::derive(&job.secret, job.id),
        size: job.size as u32,
        rank: rank as u32,
        wait: job.setup_timeout,
        private: Vec::new(),
    };
    let socket = punch::port_socket(port_addr)?;
    let table = rendezvous::register(socket, server, &registration, deadline).await?;
    let spin = spin::budget(&table, rank);
    let relay_all = spec.relay == Relay::Always;
    let inner = Arc::new(Inner {
        spin,
        fallback,
        usage: Counters::default(),
        slots: (0..job.size)
            .map(|p| {
                let slot = Slot::default();
                if relay_all && p != rank {
                    *slot.lock() = PairState::Relayed;
                }
                slot
            })
            .collect(),
        gone: (0..job.size).map(|_| std::sync::OnceLock::new()).collect(),
        mailbox: Mailbox::default(),
        job,
        spec,
        rank,
        table,
        port_addr,
        io,
        tasks: std::sync::Mutex::new(Vec::new()),
        closed: AtomicBool::new(false),
    });
    inner.track(tokio::spawn(punch::accept_loop(
        Arc::clone(&inner),
        listener,
    )));
    if inner.spec.mesh == Mesh::Full && !relay_all {
        let peers = (0..inner.job.size).filter(|&p| p != rank);
        let all = peers.map(|p| inner.route(p, deadline));
        for result in futures_util::future::join_all(all).await {
            result?;
        }
    }
    Ok(inner)
}

/// The least time a pair gets to punch through.
const MIN_PUNCH: Duration = Duration::from_secs(5);

async fn resolve(server: &str) -> Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(server).await.map_err(|e| {
        Error::new(
            ErrorKind::Rendezvous,
            format!("cannot resolve the rendezvous server {server}: {e}"),
        )
    })?;
    addrs.next().ok_or_else(|| {
        Error::new(
            ErrorKind::Rendezvous,
            format!("the rendezvous server {server} has no address"),
        )
    })
}

impl Inner {
    pub(crate) fn local_port_addr(&self) -> SocketAddr {
        self.port_addr
    }

    /// Where to dial `peer`: its private addresses if it shares this rank's public address
    /// (behind the same NAT), and its public endpoint.
    pub(crate) fn candidates(&self, peer: Rank) -> (Vec<SocketAddr>, SocketAddr) {
        let (mine, theirs) = (&self.table[self.rank], &self.table[peer]);
        let public = theirs.public;
        let privates = if mine.public.ip() == public.ip() {
            theirs
                .private
                .iter()
                .copied()
                .filter(|&a| a != public)
                .collect()
        } else {
            Vec::new()
        };
        (privates, public)
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

    /// How messages reach `peer`, pairing first if nobody has; waits until `deadline`.
    async fn route(self: &Arc<Self>, peer: Rank, deadline: Instant) -> Result<Route<'_>> {
        let slot = &self.slots[peer];
        loop {
            let changed = slot.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = slot.lock();
                match &*state {
                    PairState::Ready(conn) => return Ok(Route::Direct(Arc::clone(conn))),
                    PairState::Failed(e) => return Err(e.clone()),
                    PairState::Relayed => {
                        let fallback = self.fallback.as_deref().ok_or_else(|| {
                            Error::new(ErrorKind::Internal, "a relayed pair without a fallback")
                        })?;
                        return Ok(Route::Relay(fallback));
                    }
                    PairState::Pairing => {}
                    PairState::Idle => {
                        // The pair punches until the first asker's deadline, and for at
                        // least a few seconds.
                        *state = PairState::Pairing;
                        let punch_deadline = deadline.max(Instant::now() + MIN_PUNCH);
                        self.io
                            .spawn(punch::pair(Arc::clone(self), peer, punch_deadline));
                    }
                }
            }
            if self.closed.load(Ordering::SeqCst) {
                return Err(closed());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                if let Some(e) = self.not_connected(peer).await {
                    return Err(e);
                }
                // It settled at the deadline (connected or relayed): take that route.
            }
        }
    }

    /// The error of a wait for `peer`'s connection that reached its deadline: the pair's
    /// own verdict if it comes within a moment (it ends at the same deadline, and says why),
    /// else a timeout; `None` if the pair settled after all (connected, or relayed).
    async fn not_connected(&self, peer: Rank) -> Option<Error> {
        let slot = &self.slots[peer];
        let until = Instant::now() + Duration::from_millis(500);
        loop {
            let changed = slot.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match &*slot.lock() {
                PairState::Failed(e) => return Some(e.clone()),
                PairState::Ready(_) | PairState::Relayed => return None,
                _ => {}
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return Some(
                    Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "ranks {} and {peer} were still trying to connect at the deadline",
                            self.rank
                        ),
                    )
                    .with_peer(peer),
                );
            }
        }
    }

    /// Makes `stream` the connection with `peer` and starts reading from it; `keys` seal
    /// and open its records if the job encrypts.
    pub(crate) fn install(self: &Arc<Self>, peer: Rank, stream: TcpStream, keys: Option<Keys>) {
        let (reader, writer) = stream.into_split();
        let conn = Arc::new(Conn::new(peer, reader, writer, keys, self.job.timeout));
        {
            let mut state = self.slots[peer].lock();
            *state = PairState::Ready(Arc::clone(&conn));
        }
        self.slots[peer].changed.notify_waiters();
        let inner = Arc::clone(self);
        self.track(tokio::spawn(async move {
            let ended = conn.reader.run(&inner.mailbox).await;
            inner.ended(peer, ended);
        }));
    }

    /// Keeps `task` to be ended when this rank leaves.
    fn track(&self, task: tokio::task::JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }

    /// Leaves, then ends the listener and the readers.
    async fn leave_and_stop(&self) {
        self.leave().await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
        }
    }

    /// Records that `peer` can send nothing more, and wakes the receives.
    fn ended(&self, peer: Rank, ended: Ended) {
        let _ = self.gone[peer].set(ended);
        self.mailbox.wake();
    }

    /// Says goodbye on every connection and closes its sending side, then waits until
    /// every connected peer has closed too, or [`LINGER`] has passed.
    async fn leave(&self) {
        for slot in &self.slots {
            slot.changed.notify_waiters();
        }
        let connected: Vec<(Rank, Arc<Conn>)> = (0..self.job.size)
            .filter_map(|p| match &*self.slots[p].lock() {
                PairState::Ready(c) => Some((p, Arc::clone(c))),
                _ => None,
            })
            .collect();
        let byes = connected.iter().map(|(_, c)| async move {
            let bye = c.send(Kind::Bye, control_tag(CommId::WORLD), Bytes::new());
            if tokio::time::timeout(Duration::from_secs(1), bye)
                .await
                .is_ok()
            {
                c.shutdown().await;
            }
        });
        futures_util::future::join_all(byes).await;
        let until = Instant::now() + LINGER;
        while Instant::now() < until && connected.iter().any(|&(p, _)| self.gone[p].get().is_none())
        {
            // Readers end on their own; a short poll is simpler than one more notifier.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn gone_error(&self, peer: Rank, tag: Tag) -> Option<Error> {
        self.gone[peer].get().map(|ended| match ended {
            Ended::Bye => Mailbox::left(peer, tag),
            Ended::Broken(e) => e.clone(),
        })
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::Transport, "this rank's tcp transport is closed")
}

impl Transport for TcpTransport {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn relayed_peers(&self) -> Vec<Rank> {
        (0..self.inner.job.size)
            .filter(|&p| matches!(*self.inner.slots[p].lock(), PairState::Relayed))
            .collect()
    }

    fn rank(&self) -> Rank {
        self.inner.rank
    }

    fn size(&self) -> usize {
        self.inner.job.size
    }

    fn send(&self, to: Rank, tag: Tag, msg: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.send_message(to, tag, msg, &[]).await })
    }

    fn send_parts<'a>(
        &'a self,
        to: Rank,
        tag: Tag,
        head: Bytes,
        body: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.send_message(to, tag, head, body))
    }

    fn recv(&self, from: Rank, tag: Tag, deadline: Instant) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.check_peer(from)?;
            if let Some(frame) = inner.mailbox.try_take(from, tag) {
                return Ok(frame);
            }
            if from != inner.rank {
                let conn = match inner.route(from, deadline).await? {
                    Route::Direct(conn) => conn,
                    Route::Relay(fallback) => return fallback.recv(from, tag, deadline).await,
                };
                if !inner.spin.is_zero() {
                    let ended = |ended| inner.ended(from, ended);
                    let polled =
                        spin::poll_for(&inner.mailbox, &conn, from, tag, inner.spin, &ended);
                    if let Some(frame) = polled.await {
                        return Ok(frame);
                    }
                }
            }
            let gone = || inner.gone_error(from, tag);
            inner.mailbox.recv(from, tag, deadline, gone).await
        })
    }

    fn recv_into<'a>(
        &'a self,
        from: Rank,
        tag: Tag,
        deadline: Instant,
        head: &'a mut [u8],
        body: &'a mut [u8],
    ) -> BoxFuture<'a, Result<Option<Bytes>>> {
        Box::pin(async move {
            let inner = &self.inner;
            inner.check_peer(from)?;
            let polls = from != inner.rank && !inner.spin.is_zero();
            if polls && !inner.mailbox.holds(from, tag) {
                let conn = match inner.route(from, deadline).await? {
                    Route::Direct(conn) => conn,
                    Route::Relay(fallback) => {
                        return fallback.recv_into(from, tag, deadline, head, body).await;
                    }
                };
                let ended = |ended| inner.ended(from, ended);
                let buffers = (&mut *head, &mut *body);
                let polled = spin::poll_into(
                    &inner.mailbox,
                    &conn,
                    (from, tag),
                    buffers,
                    inner.spin,
                    &ended,
                );
                match polled.await {
                    Some(Landed::Whole) => return Ok(None),
                    Some(Landed::Message(msg)) => return Ok(place(msg, head, body)),
                    None => {}
                }
            }
            let msg = self.recv(from, tag, deadline).await?;
            Ok(place(msg, head, body))
        })
    }

    fn abort<'a>(&'a self, comm: CommId, peers: &'a [Rank], reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let reason_text = reason;
            let reason = Bytes::copy_from_slice(reason_bytes(reason));
            let sends = peers
                .iter()
                .filter_map(|&p| match &*self.inner.slots.get(p)?.lock() {
                    PairState::Ready(conn) => {
                        let conn = Arc::clone(conn);
                        let reason = reason.clone();
                        Some(async move {
                            let _ = conn.send(Kind::Abort, control_tag(comm), reason).await;
                        })
                    }
                    _ => None,
                });
            let relayed: Vec<Rank> = peers
                .iter()
                .copied()
                .filter(|&p| {
                    let slot = self.inner.slots.get(p);
                    slot.is_some_and(|s| matches!(*s.lock(), PairState::Relayed))
                })
                .collect();
            let relay = async {
                if let (Some(fallback), false) = (&self.inner.fallback, relayed.is_empty()) {
                    fallback.abort(comm, &relayed, reason_text).await;
                }
            };
            futures_util::future::join(futures_util::future::join_all(sends), relay).await;
        })
    }

    fn profile(&self) -> LinkProfile {
        PROFILE
    }

    /// The payload bytes this endpoint wrote to its directly connected peers, plus all
    /// that its fallback counted (the relayed pairs' messages and the fallback's requests,
    /// its set-up and polls included). Direct pairs make no requests: no server is between
    /// them.
    fn usage(&self) -> Option<Usage> {
        let direct = self.inner.usage.usage();
        let relayed = self.inner.fallback.as_ref().and_then(|f| f.usage());
        Some(relayed.map_or(direct, |r| direct.plus(&r)))
    }

    /// Says goodbye to every connected peer, waits (up to a few seconds) until they have
    /// said goodbye too, then stops the I/O thread.
    fn close(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.inner.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            self.inner.leave_and_stop().await;
            let relay_closed = match &self.inner.fallback {
                Some(fallback) => fallback.close().await,
                None => Ok(()),
            };
            if let Some(io) = &self.io {
                io.stop_and_join().await;
            }
            relay_closed
        })
    }
}

impl Drop for TcpTransport {
    /// Leaves as [`Transport::close`] does, in the background: the I/O thread says goodbye,
    /// lingers, and stops.
    fn drop(&mut self) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let stop = self.io.as_ref().and_then(IoThread::take_stop);
        self.inner.io.spawn(async move {
            inner.leave_and_stop().await;
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
        });
    }
}
