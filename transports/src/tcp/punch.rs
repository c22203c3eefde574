//! Pairing: how two ranks get one authenticated connection, through NATs.
//!
//! Each rank has one port, bound with `SO_REUSEADDR` and `SO_REUSEPORT`: its listener, its
//! rendezvous connection and every dial use it, so the NAT mapping the rendezvous server saw
//! is the one peers aim at. To pair with a peer, a rank dials the peer's candidates from that
//! port again and again until the deadline — private addresses first when both have the same
//! public address (they sit behind one NAT, which may not hairpin), then the public endpoint.
//! Both ends dial, so each NAT sees an outgoing SYN and lets the other's in: TCP simultaneous
//! open (Ford, Srisuresh and Kegel, "Peer-to-Peer Communication Across Network Address
//! Translators", USENIX 2005). A connection the listener accepts serves as well.
//!
//! Every connection runs the handshake (`handshake.rs`) and is offered to the pair's
//! [`Slot`]; the lower rank keeps the first and drops the rest.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Rank, Result};
use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, timeout_at};

use super::conn::Conn;
use super::handshake::{self, Proven, Side};
use super::spec::{Congestion, TcpSpec};
use super::transport::Inner;

/// How long one handshake may take.
const HANDSHAKE_TIME: Duration = Duration::from_secs(5);
/// How long one dial waits before it is retried (a NAT that drops SYNs leaves it hanging).
const DIAL_TIME: Duration = Duration::from_secs(2);
/// The first and the longest pause between dials to one candidate.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(2), Duration::from_millis(200));
/// How long private candidates get before the public endpoint is dialled too.
const PRIVATE_HEAD_START: Duration = Duration::from_millis(300);

/// A pair's state, from this rank's side.
pub(crate) enum PairState {
    /// Nobody asked for the pair yet.
    Idle,
    /// Dialling.
    Pairing,
    /// Connected.
    Ready(Arc<Conn>),
    /// Could not connect; final.
    Failed(Error),
    /// Not connected directly: the pair's messages go through the fallback transport.
    Relayed,
}

/// The pair with one peer: its state, and a notifier for changes.
pub(crate) struct Slot {
    pub(crate) state: std::sync::Mutex<PairState>,
    pub(crate) changed: Notify,
    /// The lower rank has kept a connection (it keeps only one).
    claimed: AtomicBool,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            state: std::sync::Mutex::new(PairState::Idle),
            changed: Notify::new(),
            claimed: AtomicBool::new(false),
        }
    }
}

impl Slot {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, PairState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_settled(&self) -> bool {
        !matches!(*self.lock(), PairState::Idle | PairState::Pairing)
    }

    fn settle(&self, state: PairState) {
        {
            let mut s = self.lock();
            if !matches!(*s, PairState::Idle | PairState::Pairing) {
                return;
            }
            *s = state;
        }
        self.changed.notify_waiters();
    }
}

/// A socket on the rank's port, ready to dial or to reach the rendezvous server.
pub(crate) fn port_socket(local: SocketAddr) -> Result<TcpSocket> {
    let socket = if local.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .and_then(|s| {
        s.set_reuseaddr(true)?;
        s.set_reuseport(true)?;
        s.bind(local)?;
        Ok(s)
    })
    .map_err(|e| {
        Error::new(
            ErrorKind::Transport,
            format!("cannot bind a socket to this rank's port {local}: {e}"),
        )
    })?;
    Ok(socket)
}

/// Settings every data connection gets: no Nagle delay; the spec's congestion control
/// (checked at setup, so a failure here only leaves the host's default); and a connection
/// that makes no progress for `stall` breaks (its reads and writes fail with "timed out"):
/// sent data unacknowledged that long (`TCP_USER_TIMEOUT`), or, while nothing is sent,
/// keepalive probes from half of `stall` on, one a second, that the peer stops answering.
fn tune(stream: &TcpStream, spec: &TcpSpec) {
    let _ = stream.set_nodelay(true);
    let stall = spec.stall;
    let idle = (stall / 2).max(Duration::from_secs(1));
    let keepalive = TcpKeepalive::new()
        .with_time(idle)
        .with_interval(Duration::from_secs(1))
        .with_retries(u32::try_from(stall.as_secs()).unwrap_or(u32::MAX).max(1));
    let socket = SockRef::from(stream);
    let _ = socket.set_tcp_keepalive(&keepalive);
    let _ = socket.set_tcp_user_timeout(Some(stall));
    if let Some(name) = spec.congestion.name() {
        let _ = socket.set_tcp_congestion(name.as_bytes());
    }
}

/// Checks on `socket` that this host lets the process choose the congestion control that
/// `cc=` names; the default's and `cc=system` always pass.
pub(crate) fn check_congestion(socket: SockRef<'_>, spec: &TcpSpec) -> Result<()> {
    let Congestion::Named(name) = &spec.congestion else {
        return Ok(());
    };
    socket.set_tcp_congestion(name.as_bytes()).map_err(|e| {
        let allowed = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
            .map_or_else(|_| "unknown".to_string(), |a| a.trim().to_string());
        Error::invalid(format!(
            "tcp spec cc={name}: this host does not let a process use it ({e}); allowed here: {allowed}"
        ))
    })
}

/// Connects this rank with `peer` by `deadline`, or marks the pair failed, naming why.
pub(crate) async fn pair(inner: Arc<Inner>, peer: Rank, deadline: Instant) {
    let slot = &inner.slots[peer];
    let (privates, public) = inner.candidates(peer);
    let last_error = std::sync::Mutex::new(String::from("no answer"));
    let note = |e: String| *last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    let mut dials: Vec<_> = privates
        .iter()
        .map(|&addr| Box::pin(dial(&inner, peer, addr, Duration::ZERO, deadline, &note)))
        .collect();
    let head_start = if privates.is_empty() {
        Duration::ZERO
    } else {
        PRIVATE_HEAD_START
    };
    dials.push(Box::pin(dial(
        &inner, peer, public, head_start, deadline, &note,
    )));
    let settled = async {
        loop {
            let changed = slot.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if slot.is_settled() {
                return;
            }
            changed.await;
        }
    };
    tokio::select! {
        _ = futures_util::future::join_all(dials) => {}
        _ = settled => {}
    }
    if !slot.is_settled() {
        let why = last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut tried: Vec<String> = privates.iter().map(ToString::to_string).collect();
        tried.push(public.to_string());
        let error = inner.spec.punch_failed(
            inner.rank,
            peer,
            &format!(
                "no connection within the deadline (tried {}; last error: {why})",
                tried.join(", ")
            ),
        );
        // The seam for pairs that cannot punch through: with a fallback transport, the
        // pair's messages go through it instead.
        slot.settle(match inner.fallback {
            Some(_) => PairState::Relayed,
            None => PairState::Failed(error),
        });
    }
}

/// Dials `addr` from this rank's port until the pair is settled or `deadline` passes.
async fn dial(
    inner: &Arc<Inner>,
    peer: Rank,
    addr: SocketAddr,
    wait_first: Duration,
    deadline: Instant,
    note: &(impl Fn(String) + Sync),
) {
    let slot = &inner.slots[peer];
    sleep(wait_first).await;
    let mut backoff = BACKOFF.0;
    while !slot.is_settled() && Instant::now() < deadline {
        let attempt = async {
            let socket = port_socket(inner.local_port_addr())?;
            let until = deadline.min(Instant::now() + DIAL_TIME);
            let stream = match timeout_at(until, socket.connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return Err(Error::new(ErrorKind::Transport, format!("{addr}: {e}")));
                }
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("{addr}: no answer to the connection request"),
                    ));
                }
            };
            offer(inner, stream, Side::Dialled(peer)).await
        };
        match attempt.await {
            Ok(()) => return,
            Err(e) => note(e.to_string()),
        }
        sleep(backoff.min(deadline.saturating_duration_since(Instant::now()))).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Accepts connections on the rank's listener for as long as the transport lives.
pub(crate) async fn accept_loop(inner: Arc<Inner>, listener: tokio::net::TcpListener) {
    // Strangers may open many connections; only so many handshakes run at once.
    let handshakes = Arc::new(tokio::sync::Semaphore::new(256));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
            continue;
        };
        let inner = Arc::clone(&inner);
        tokio::spawn(async move {
            let _ = offer(&inner, stream, Side::Accepted).await;
            drop(permit);
        });
    }
}

/// Runs the handshake on a new connection and, if it is the pair's, installs it.
async fn offer(inner: &Arc<Inner>, stream: TcpStream, side: Side) -> Result<()> {
    tune(&stream, &inner.spec);
    let deadline = Instant::now() + HANDSHAKE_TIME;
    let encrypt = inner.spec.encrypt;
    let proven = handshake::prove(stream, &inner.job, inner.rank, encrypt, side, deadline).await;
    let Proven {
        mut stream,
        peer,
        keys,
    } = match proven {
        Ok(proven) => proven,
        Err(e) => {
            // A rank of the job whose spec differs: no later attempt can do better, so the
            // pair fails now rather than at its deadline.
            if let (ErrorKind::Mismatch, Some(peer)) = (e.kind(), e.peer()) {
                inner.slots[peer].settle(PairState::Failed(e.clone()));
            }
            return Err(e);
        }
    };
    let slot = &inner.slots[peer];
    let refused = |why: &str| Err(Error::new(ErrorKind::Transport, why.to_string()));
    if inner.rank < peer {
        // The lower rank keeps the first connection and drops the others; the higher one
        // confirms, unless its side of the pair has settled otherwise (it gave up and
        // relays), so that the two never disagree on whether they are connected.
        if slot.is_settled() || slot.claimed.swap(true, Ordering::SeqCst) {
            let _ = handshake::send_decision(&mut stream, false, deadline).await;
            return refused("a duplicate connection (dropped)");
        }
        let confirmed = match handshake::send_decision(&mut stream, true, deadline).await {
            Ok(()) => handshake::read_decision(&mut stream, deadline).await,
            Err(e) => Err(e),
        };
        if !matches!(confirmed, Ok(true)) {
            slot.claimed.store(false, Ordering::SeqCst);
            return refused("the peer did not confirm the connection");
        }
    } else {
        if !handshake::read_decision(&mut stream, deadline).await? {
            return refused("a duplicate connection (the peer kept another)");
        }
        let accept = !slot.is_settled();
        handshake::send_decision(&mut stream, accept, deadline).await?;
        if !accept {
            return refused("the pair has settled without this connection");
        }
    }
    inner.install(peer, stream, keys);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::spec::PREFERRED_CONGESTION;

    /// A connected loopback stream, with its listener and peer kept open.
    async fn stream() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(l.local_addr().unwrap()), l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    fn spec(cc: &str) -> TcpSpec {
        TcpSpec::parse(&format!("tcp://127.0.0.1:1{cc}")).unwrap()
    }

    fn congestion(s: &TcpStream) -> String {
        let name = SockRef::from(s).tcp_congestion().unwrap();
        String::from_utf8_lossy(&name)
            .trim_end_matches('\0')
            .to_string()
    }

    #[tokio::test]
    async fn data_connections_get_the_specs_congestion_control() {
        let (a, _b) = stream().await;
        let system = congestion(&a);
        tune(&a, &spec(""));
        assert_eq!(congestion(&a), PREFERRED_CONGESTION);
        tune(&a, &spec("?cc=reno"));
        assert_eq!(congestion(&a), "reno");
        let (c, _d) = stream().await;
        tune(&c, &spec("?cc=system"));
        assert_eq!(congestion(&c), system);
    }

    #[tokio::test]
    async fn a_congestion_control_the_host_lacks_is_refused_by_name() {
        let (a, _b) = stream().await;
        check_congestion(SockRef::from(&a), &spec("")).unwrap();
        check_congestion(SockRef::from(&a), &spec("?cc=reno")).unwrap();
        let e = check_congestion(SockRef::from(&a), &spec("?cc=no_such_cc")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("cc=no_such_cc"), "{e}");
        assert!(
            e.to_string().contains("reno"),
            "the allowed ones are listed: {e}"
        );
    }
}
