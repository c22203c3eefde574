//! The rendezvous server under abuse: about two thousand silent, slow, oversized and
//! garbage clients at once, next to a real job whose ranks must still get their table
//! promptly, with every abuser disconnected after the server's read timeout. The server
//! runs in this process (on its own thread), so the resident memory read from `/proc` is
//! the server's plus this test's few megabytes of clients.

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fccl_collectives::{JobId, Secret};
use fccl_transports::tcp::rendezvous::{JobKey, PeerAddrs, Registration, register};

use fccl_transports::tcp::rendezvous::{RendezvousServer, ServerConfig};

/// Clients that connect and send nothing.
const SILENT: usize = 1000;
/// Clients that claim the largest registration the server reads, then drip a byte every
/// [`DRIP`].
const SLOW: usize = 500;
/// Clients whose length prefix claims about 4 GiB.
const OVERSIZED: usize = 300;
/// Clients that send 64 bytes of noise or a short frame of text.
const GARBAGE: usize = 300;
const DRIP: Duration = Duration::from_millis(100);
/// The server's read timeout, given on its command line.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// The real job.
const RANKS: u32 = 4;
/// How long the real job may take to register, abusers and all (it takes milliseconds).
const PROMPT: Duration = Duration::from_secs(5);
/// The process's resident memory may not pass this, abusers and all: measured about 8 MiB
/// (4 MiB idle, then about 2 KiB per connection), so three times that.
const RSS_LIMIT_KB: u64 = 24 << 10;
/// The largest registration body the server reads (protocol.rs, `REGISTER_LIMIT`).
const REGISTER_LIMIT: u32 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Silent,
    Slow,
    Oversized,
    Garbage,
}

struct Abuser {
    kind: Kind,
    stream: TcpStream,
    received: Vec<u8>,
    closed: bool,
}

#[test]
fn rendezvous_stays_responsive_and_bounded_under_thousands_of_abusive_clients() {
    let abusers_total = SILENT + SLOW + OVERSIZED + GARBAGE;
    // Each abuser, each slow one's clone for the dripping thread, and some to spare.
    ensure_open_files((2 * abusers_total + SLOW + 256) as u64);
    let server = RendezvousServer::start_background(
        "127.0.0.1:0".parse().unwrap(),
        ServerConfig {
            read_timeout: READ_TIMEOUT,
            ..ServerConfig::default()
        },
    )
    .expect("a server");
    let addr = server.addr();
    let pid = std::process::id();
    let idle_kb = status_kb(pid, "VmRSS");

    let mut abusers = Vec::with_capacity(abusers_total);
    let mut noise = 0x9e37_79b9_7f4a_7c15_u64;
    let kinds = [
        (Kind::Silent, SILENT),
        (Kind::Slow, SLOW),
        (Kind::Oversized, OVERSIZED),
        (Kind::Garbage, GARBAGE),
    ];
    let opening = Instant::now();
    for (i, kind) in kinds
        .iter()
        .flat_map(|&(kind, n)| std::iter::repeat_n(kind, n))
        .enumerate()
    {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("an abuser connects");
        let first: Vec<u8> = match kind {
            Kind::Silent => vec![],
            Kind::Slow => REGISTER_LIMIT.to_le_bytes().to_vec(),
            Kind::Oversized => 0xFFFF_FFF0_u32.to_le_bytes().to_vec(),
            Kind::Garbage if i % 2 == 0 => {
                let mut frame = 16u32.to_le_bytes().to_vec();
                frame.extend_from_slice(b"not a rendezvous");
                frame
            }
            Kind::Garbage => (0..64).map(|_| xorshift(&mut noise) as u8).collect(),
        };
        stream.write_all(&first).expect("an abuser writes");
        abusers.push(Abuser {
            kind,
            stream,
            received: Vec::new(),
            closed: false,
        });
    }
    let opened = opening.elapsed();

    // One thread drips a byte into every slow client's registration every DRIP.
    let stop = Arc::new(AtomicBool::new(false));
    let slow: Vec<TcpStream> = abusers
        .iter()
        .filter(|a| a.kind == Kind::Slow)
        .map(|a| a.stream.try_clone().expect("a clone"))
        .collect();
    let dripper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut slow = slow;
            while !stop.load(Ordering::Relaxed) {
                for stream in &mut slow {
                    // Fails once the server has closed it, which is the point.
                    let _ = stream.write(b"F");
                }
                std::thread::sleep(DRIP);
            }
        })
    };

    // The silent and slow clients are all held open by the server at once (this process
    // holds both ends of every connection, and a clone of each slow one).
    let held = 2 * (SILENT + SLOW) + SLOW;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds = open_fds(pid);
    while fds < held && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        fds = open_fds(pid);
    }
    assert!(
        fds >= held,
        "the server holds {fds} descriptors, not {held}"
    );

    // A real job registers meanwhile, promptly.
    let registering = Instant::now();
    let tables = real_job(addr);
    let took = registering.elapsed();
    assert!(took < PROMPT, "the job took {took:?} to register");
    for (rank, (me, table)) in tables.iter().enumerate() {
        assert_eq!(table, &tables[0].1, "rank {rank} got another table");
        assert_eq!(table[rank].public, *me, "rank {rank}'s observed endpoint");
    }
    let busy_kb = status_kb(pid, "VmRSS");
    assert!(
        busy_kb < RSS_LIMIT_KB,
        "the server's resident memory is {busy_kb} KiB, over {RSS_LIMIT_KB} KiB"
    );

    // After the read timeout every abuser has been disconnected.
    let deadline = Instant::now() + READ_TIMEOUT + Duration::from_secs(10);
    for abuser in &abusers {
        abuser.stream.set_nonblocking(true).expect("non-blocking");
    }
    let mut open = abusers.len();
    while open > 0 && Instant::now() < deadline {
        open = 0;
        for abuser in abusers.iter_mut().filter(|a| !a.closed) {
            drain(abuser);
            open += usize::from(!abuser.closed);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let all_closed = opening.elapsed();
    stop.store(true, Ordering::Relaxed);
    dripper.join().expect("the dripping thread");
    assert_eq!(open, 0, "{open} abusers are still connected");
    let peak_kb = status_kb(pid, "VmHWM");
    assert!(
        peak_kb < RSS_LIMIT_KB,
        "the server's peak resident memory is {peak_kb} KiB, over {RSS_LIMIT_KB} KiB"
    );

    // What the abusers were told: refusals that name their fault. The server resets a
    // connection that sent bytes it did not read, which may discard the refusal before
    // the client reads it: so only the clients that stop sending must get theirs.
    for abuser in &abusers {
        let refusal = refusal(&abuser.received);
        let (expected, certain) = match abuser.kind {
            Kind::Silent => ("no registration within 3 s", true),
            Kind::Oversized => ("a registration of 4294967280 bytes", true),
            Kind::Slow => ("no registration within 3 s", false),
            Kind::Garbage => ("malformed rendezvous registration", false),
        };
        let Some(message) = refusal else {
            assert!(!certain, "a {:?} client got no refusal", abuser.kind);
            continue;
        };
        // Noise whose prefix claims too much is refused for its length instead.
        let expected = if abuser.kind == Kind::Garbage && !message.contains(expected) {
            "more than the 4096 accepted"
        } else {
            expected
        };
        assert!(message.contains(expected), "{:?}: {message}", abuser.kind);
    }
    eprintln!(
        "{abusers_total} abusers opened in {opened:?}; the job of {RANKS} registered in {took:?}; \
         server RSS {idle_kb} KiB idle, {busy_kb} KiB under abuse, peak {peak_kb} KiB; \
         all abusers closed {all_closed:?} after the first connected"
    );
}

/// Registers a job of [`RANKS`] ranks; returns each rank's own address and table.
fn real_job(server: SocketAddr) -> Vec<(SocketAddr, Vec<PeerAddrs>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let job = JobId::random();
        let key = JobKey::derive(&Secret::random(), job);
        let deadline = tokio::time::Instant::now() + PROMPT;
        let ranks = (0..RANKS).map(|rank| {
            let reg = Registration {
                token: None,
                job,
                key,
                size: RANKS,
                rank,
                wait: PROMPT,
                private: vec![],
            };
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
                socket
                    .bind("127.0.0.1:0".parse().unwrap())
                    .expect("a local port");
                let me = socket.local_addr().expect("its address");
                let table = register(socket, server, &reg, deadline).await;
                (me, table.unwrap_or_else(|e| panic!("rank {rank}: {e}")))
            })
        });
        let mut tables = Vec::new();
        for rank in ranks.collect::<Vec<_>>() {
            tables.push(rank.await.expect("a rank's task"));
        }
        tables
    })
}

/// Reads what has arrived on a non-blocking abuser; marks it closed at its end.
fn drain(abuser: &mut Abuser) {
    let mut buf = [0; 1024];
    loop {
        match abuser.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => abuser.received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == IoKind::WouldBlock => return,
            Err(e) if e.kind() == IoKind::Interrupted => {}
            // Reset: the server closed without reading everything.
            Err(_) => break,
        }
    }
    abuser.closed = true;
}

/// The message of a refusal frame (length u32, status 1, code u8, length u16, message).
fn refusal(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 8 || bytes[4] != 1 {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[8..]).into_owned())
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// Fails the test unless this process may open `needed` files.
fn ensure_open_files(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let soft: Option<u64> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3)?.parse().ok());
    assert!(
        soft.is_none_or(|soft| soft >= needed),
        "this test needs {needed} open files, the soft limit is {soft:?} (ulimit -n)"
    );
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
