//! The rendezvous server and client over real loopback sockets: whole jobs, refusals,
//! expiry, and hostile clients next to a job that must still complete.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use fccl_collectives::{ErrorKind, JobId, Result, Secret};
use fccl_transports::tcp::rendezvous::{
    JobKey, PeerAddrs, Registration, RendezvousServer, ServerConfig, register,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

/// No test runs longer than this, whatever goes wrong.
const TEST_LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    timeout(TEST_LIMIT, test)
        .await
        .expect("the test overran its limit")
}

fn server(config: ServerConfig) -> fccl_transports::tcp::rendezvous::BackgroundServer {
    RendezvousServer::start_background("127.0.0.1:0".parse().unwrap(), config).unwrap()
}

/// A rank's socket, bound the way the transport binds it.
fn socket() -> (TcpSocket, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.set_reuseport(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A job with a fresh id and its key.
fn job() -> (JobId, JobKey) {
    let id = JobId::random();
    (id, JobKey::derive(&Secret::random(), id))
}

fn reg(job: (JobId, JobKey), size: u32, rank: u32, wait: Duration) -> Registration {
    Registration {
        token: None,
        job: job.0,
        key: job.1,
        size,
        rank,
        wait,
        private: vec![],
    }
}

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// Registers from a fresh socket; returns the socket's address with the outcome.
async fn join(server: SocketAddr, reg: Registration) -> (SocketAddr, Result<Vec<PeerAddrs>>) {
    let (socket, addr) = socket();
    (addr, register(socket, server, &reg, soon(5)).await)
}

/// Registers every rank of `size` concurrently.
fn join_all(
    tasks: &mut JoinSet<(u32, SocketAddr, Result<Vec<PeerAddrs>>)>,
    server: SocketAddr,
    job: (JobId, JobKey),
    size: u32,
) {
    for rank in 0..size {
        let reg = reg(job, size, rank, Duration::from_secs(5));
        tasks.spawn(async move {
            let (addr, table) = join(server, reg).await;
            (rank, addr, table)
        });
    }
}

/// Checks that every rank got the same table, listing each rank's own socket.
async fn expect_tables(mut tasks: JoinSet<(u32, SocketAddr, Result<Vec<PeerAddrs>>)>) {
    let mut results = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (rank, addr, table) = done.unwrap();
        results.push((rank, addr, table.unwrap()));
    }
    results.sort_by_key(|(rank, _, _)| *rank);
    for (rank, addr, table) in &results {
        assert_eq!(table.len(), results.len());
        assert_eq!(table, &results[0].2, "rank {rank} got another table");
        let me = &table[*rank as usize];
        assert_eq!(me.public, *addr, "rank {rank}'s observed endpoint");
        assert_eq!(me.private, vec![*addr], "rank {rank}'s private address");
    }
}

/// Waits until `job` has a registered rank. The probe is a job of size 1 with the same id
/// and key: while the job is pending the server refuses it (size mismatch), otherwise the
/// probe completes alone without ever entering the server's table, so it never interferes.
async fn wait_for_job(server: SocketAddr, job: (JobId, JobKey), present: bool) {
    loop {
        let (_, probe) = join(server, reg(job, 1, 0, Duration::ZERO)).await;
        match probe {
            Err(e) if e.kind() == ErrorKind::InvalidArgument && present => return,
            Ok(_) if !present => return,
            Ok(_) | Err(_) => sleep(Duration::from_millis(5)).await,
        }
    }
}

fn expect_err<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind, words: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert!(err.message().contains(words), "{err:?} lacks {words:?}");
}

#[tokio::test]
async fn three_ranks_get_the_same_full_table() {
    bounded(async {
        let server = server(ServerConfig::default());
        let mut tasks = JoinSet::new();
        join_all(&mut tasks, server.addr(), job(), 3);
        expect_tables(tasks).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_ranks_register_at_once() {
    bounded(async {
        let server = RendezvousServer::bind("127.0.0.1:0".parse().unwrap(), Default::default())
            .unwrap()
            .spawn();
        let mut tasks = JoinSet::new();
        join_all(&mut tasks, server.addr(), job(), 1000);
        expect_tables(tasks).await;
    })
    .await;
}

#[tokio::test]
async fn interleaved_jobs_do_not_mix() {
    bounded(async {
        let server = server(ServerConfig::default());
        let (a, b) = (job(), job());
        let mut tasks_a = JoinSet::new();
        let mut tasks_b = JoinSet::new();
        // Interleave the two jobs' registrations.
        for rank in 0..4 {
            for (job, tasks) in [(a, &mut tasks_a), (b, &mut tasks_b)] {
                let reg = reg(job, 4, rank, Duration::from_secs(5));
                let addr = server.addr();
                tasks.spawn(async move {
                    let (me, table) = join(addr, reg).await;
                    (rank, me, table)
                });
            }
        }
        expect_tables(tasks_a).await;
        expect_tables(tasks_b).await;
    })
    .await;
}

#[tokio::test]
async fn a_taken_rank_is_refused_and_the_job_completes() {
    bounded(async {
        let server = server(ServerConfig::default());
        let addr = server.addr();
        let job = job();
        let first = tokio::spawn(join(addr, reg(job, 2, 0, Duration::from_secs(5))));
        wait_for_job(addr, job, true).await;

        let (_, again) = join(addr, reg(job, 2, 0, Duration::from_secs(5))).await;
        let err = again.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rendezvous);
        let expected = format!(
            "rendezvous server {addr} refused rank 0 of job {}: rank 0 of job {} is already registered",
            job.0, job.0
        );
        assert_eq!(err.message(), expected);

        let (_, last) = join(addr, reg(job, 2, 1, Duration::from_secs(5))).await;
        let (_, table) = first.await.unwrap();
        assert_eq!(table.unwrap(), last.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_wrong_job_key_is_refused() {
    bounded(async {
        let server = server(ServerConfig::default());
        let addr = server.addr();
        let job = job();
        let first = tokio::spawn(join(addr, reg(job, 2, 0, Duration::from_secs(5))));
        wait_for_job(addr, job, true).await;

        let stranger = (job.0, JobKey([0; 32]));
        let (_, spoiled) = join(addr, reg(stranger, 2, 1, Duration::from_secs(5))).await;
        expect_err(spoiled, ErrorKind::Auth, "job key does not match");

        let (_, last) = join(addr, reg(job, 2, 1, Duration::from_secs(5))).await;
        assert_eq!(first.await.unwrap().1.unwrap(), last.unwrap());
    })
    .await;
}

#[tokio::test]
async fn the_operator_token_is_required() {
    bounded(async {
        let server = server(ServerConfig {
            token: Some("let me in".into()),
            ..Default::default()
        });
        let addr = server.addr();
        let job = job();
        let with = |token: Option<&str>| Registration {
            token: token.map(str::to_string),
            ..reg(job, 1, 0, Duration::from_secs(1))
        };
        expect_err(join(addr, with(None)).await.1, ErrorKind::Auth, "token");
        expect_err(
            join(addr, with(Some("let me out"))).await.1,
            ErrorKind::Auth,
            "wrong operator token",
        );
        let err = join(addr, with(Some("let me out"))).await.1.unwrap_err();
        assert!(!format!("{err} {err:?}").contains("let me"), "{err:?}");
        assert_eq!(
            join(addr, with(Some("let me in"))).await.1.unwrap().len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn a_wrong_size_or_rank_is_an_invalid_argument() {
    bounded(async {
        let server = server(ServerConfig::default());
        let addr = server.addr();
        let job = job();
        let first = tokio::spawn(join(addr, reg(job, 2, 0, Duration::from_secs(5))));
        wait_for_job(addr, job, true).await;

        let (_, wrong_size) = join(addr, reg(job, 3, 1, Duration::from_secs(5))).await;
        expect_err(wrong_size, ErrorKind::InvalidArgument, "has 2 ranks, not 3");
        // The client checks the rank itself; a raw registration shows the server does too.
        let (_, wrong_rank) = join(addr, reg(job, 2, 2, Duration::from_secs(5))).await;
        expect_err(
            wrong_rank,
            ErrorKind::InvalidArgument,
            "rank 2 is out of range",
        );
        let frame = raw_registration(reg(job, 2, 1, Duration::from_secs(5)), |body| {
            // The rank sits after magic, version, empty token, job id, key and size.
            let at = 4 + 1 + 1 + 16 + 32 + 4;
            body[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
        });
        let (kind, message) = raw_exchange(addr, frame, false).await.unwrap();
        assert_eq!(kind, 3, "{message}");
        assert!(message.contains("rank 7 is out of range"), "{message}");

        let (_, last) = join(addr, reg(job, 2, 1, Duration::from_secs(5))).await;
        assert_eq!(first.await.unwrap().1.unwrap(), last.unwrap());
    })
    .await;
}

#[tokio::test]
async fn an_unfinished_job_expires_within_its_wait() {
    bounded(async {
        let server = server(ServerConfig::default());
        let addr = server.addr();
        let job = job();
        let start = Instant::now();
        let wait = Duration::from_millis(300);
        let (a, b) = tokio::join!(
            join(addr, reg(job, 3, 0, wait)),
            join(addr, reg(job, 3, 2, wait))
        );
        for result in [a.1, b.1] {
            expect_err(
                result,
                ErrorKind::Timeout,
                "expired: 2 of 3 ranks registered within 300 ms",
            );
        }
        let took = start.elapsed();
        assert!(took >= wait && took < Duration::from_secs(2), "{took:?}");
        // The job is forgotten: it can start over.
        wait_for_job(addr, job, false).await;
    })
    .await;
}

#[tokio::test]
async fn the_server_caps_the_wait() {
    bounded(async {
        let server = server(ServerConfig {
            max_wait: Duration::from_millis(200),
            ..Default::default()
        });
        let start = Instant::now();
        let (_, alone) = join(server.addr(), reg(job(), 2, 0, Duration::from_secs(60))).await;
        expect_err(
            alone,
            ErrorKind::Timeout,
            "1 of 2 ranks registered within 200 ms",
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    })
    .await;
}

#[tokio::test]
async fn the_client_deadline_names_the_phase() {
    bounded(async {
        let server = server(ServerConfig::default());
        let (socket, _) = socket();
        let deadline = Instant::now() + Duration::from_millis(200);
        let reg = reg(job(), 2, 0, Duration::from_secs(10));
        let result = register(socket, server.addr(), &reg, deadline).await;
        expect_err(
            result,
            ErrorKind::Timeout,
            "timed out waiting for the other ranks",
        );
    })
    .await;
}

#[tokio::test]
async fn an_absent_server_is_a_transport_error() {
    bounded(async {
        let (socket, closed) = socket();
        drop(socket); // nothing listens on `closed` now
        let (_, result) = join(closed, reg(job(), 1, 0, Duration::from_secs(1))).await;
        expect_err(result, ErrorKind::Transport, "could not connect");
    })
    .await;
}

#[tokio::test]
async fn a_rank_that_disconnects_is_freed() {
    bounded(async {
        let server = server(ServerConfig::default());
        let addr = server.addr();
        let job = job();
        let frame = raw_registration(reg(job, 2, 0, Duration::from_secs(5)), |_| {});
        let mut quitter = TcpStream::connect(addr).await.unwrap();
        quitter.write_all(&frame).await.unwrap();
        wait_for_job(addr, job, true).await;
        drop(quitter);
        // Its only rank gone, the job is forgotten; rank 0 is free again.
        wait_for_job(addr, job, false).await;
        let mut tasks = JoinSet::new();
        join_all(&mut tasks, addr, job, 2);
        expect_tables(tasks).await;
    })
    .await;
}

#[tokio::test]
async fn too_many_jobs_are_refused() {
    bounded(async {
        let server = server(ServerConfig {
            max_jobs: 1,
            ..Default::default()
        });
        let addr = server.addr();
        let first_job = job();
        let first = tokio::spawn(join(addr, reg(first_job, 2, 0, Duration::from_secs(5))));
        wait_for_job(addr, first_job, true).await;
        let (_, second) = join(addr, reg(job(), 2, 0, Duration::from_secs(5))).await;
        expect_err(second, ErrorKind::Rendezvous, "unfinished jobs");
        let (_, last) = join(addr, reg(first_job, 2, 1, Duration::from_secs(5))).await;
        assert_eq!(first.await.unwrap().1.unwrap(), last.unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_silent_clients_make_room_for_ranks() {
    bounded(async {
        const CAP: usize = 50;
        let server = server(ServerConfig {
            max_connections: CAP,
            read_timeout: Duration::from_secs(10),
            ..Default::default()
        });
        let addr = server.addr();
        // Four times the cap of silent clients, in order: the newest CAP stay connected.
        let mut silent = Vec::new();
        for _ in 0..4 * CAP {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut closed = Vec::new();
        for (i, stream) in silent.iter_mut().enumerate() {
            // The displaced close at once; a short look suffices for the others.
            let look = if i < 3 * CAP { 2000 } else { 20 };
            closed.push(is_closed(stream, Duration::from_millis(look)).await);
        }
        let evicted = closed.iter().filter(|&&c| c).count();
        assert_eq!(evicted, 3 * CAP, "{closed:?}");
        assert!(closed[..3 * CAP].iter().all(|&c| c), "the oldest go first");

        // A whole job still registers, each rank displacing a silent client.
        let size = 5;
        let mut tasks = JoinSet::new();
        join_all(&mut tasks, addr, job(), size);
        expect_tables(tasks).await;
        let mut still = 0;
        for stream in &mut silent[3 * CAP..] {
            still += usize::from(!is_closed(stream, Duration::from_millis(50)).await);
        }
        assert_eq!(still, CAP - size as usize);
    })
    .await;
}

#[tokio::test]
async fn past_the_connection_cap_of_waiting_ranks_new_connections_are_closed() {
    bounded(async {
        let server = server(ServerConfig {
            max_connections: 2,
            read_timeout: Duration::from_secs(5),
            ..Default::default()
        });
        let addr = server.addr();
        let the_job = job();
        let waiting: Vec<_> = (0..2)
            .map(|rank| tokio::spawn(join(addr, reg(the_job, 3, rank, Duration::from_secs(5)))))
            .collect();
        // Time to register (a rank does in a millisecond); no probe can check it, as a
        // probe would need a connection of its own.
        sleep(Duration::from_millis(500)).await;
        // Every connection holds a registered rank: nothing to displace.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        assert!(is_closed(&mut extra, Duration::from_secs(2)).await);
        for rank in waiting {
            assert!(!rank.is_finished(), "a registered rank was displaced");
            rank.abort();
        }
    })
    .await;
}

/// Whether the server closes `stream` within `within` (it sends nothing before).
async fn is_closed(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0; 16];
    matches!(
        timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_do_not_disturb_a_job() {
    bounded(async {
        let server = server(ServerConfig {
            read_timeout: Duration::from_millis(1500),
            ..Default::default()
        });
        let addr = server.addr();
        let start = Instant::now();

        // Connected before the job and silent throughout.
        let silent = tokio::spawn(raw_exchange(addr, vec![], false));
        let huge = tokio::spawn(raw_exchange(
            addr,
            0xFFFF_FFF0u32.to_le_bytes().to_vec(),
            false,
        ));
        let mut garbage = 16u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(b"not a rendezvous");
        let garbage = tokio::spawn(raw_exchange(addr, garbage, false));
        let http = tokio::spawn(raw_exchange(
            addr,
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            false,
        ));
        let valid = raw_registration(reg(job(), 2, 0, Duration::from_secs(5)), |_| {});
        let truncated = valid[..valid.len() - 3].to_vec();
        let cut = tokio::spawn(raw_exchange(addr, truncated.clone(), true));
        let stalled = tokio::spawn(raw_exchange(addr, truncated, false));

        let mut tasks = JoinSet::new();
        join_all(&mut tasks, addr, job(), 3);
        expect_tables(tasks).await;
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "the job waited for the silent client"
        );

        let (kind, message) = huge.await.unwrap().expect("a refusal");
        assert_eq!(kind, 2);
        assert!(message.contains("4294967280 bytes"), "{message}");
        let (kind, message) = garbage.await.unwrap().expect("a refusal");
        assert_eq!(kind, 2);
        assert!(
            message.contains("malformed rendezvous registration"),
            "{message}"
        );
        // The server may reset a connection whose bytes it did not read, so the refusal may
        // be lost; if it arrives it is a rendezvous one.
        if let Some((kind, _)) = http.await.unwrap() {
            assert_eq!(kind, 2);
        }
        assert_eq!(cut.await.unwrap(), None);
        for slow in [silent, stalled] {
            let (kind, message) = slow.await.unwrap().expect("a refusal");
            assert_eq!(kind, 2);
            assert!(
                message.contains("no registration within 1.5 s"),
                "{message}"
            );
        }
    })
    .await;
}

/// A valid registration frame, edited by `edit` (which sees the body).
fn raw_registration(reg: Registration, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut frame = reg.encode().unwrap();
    edit(&mut frame[4..]);
    frame
}

/// Sends `bytes` on a raw connection (closing its sending side if `shut`), waits for the
/// server to close it, and returns the refusal it sent, if any, as (code, message).
async fn raw_exchange(addr: SocketAddr, bytes: Vec<u8>, shut: bool) -> Option<(u8, String)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    if shut {
        stream.shutdown().await.unwrap();
    }
    let mut reply = Vec::new();
    let closed = timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    assert!(closed.is_ok(), "the server kept a hostile connection open");
    // Reply frame: length u32, status 1, code u8, message length u16, message.
    if reply.len() < 8 {
        return None;
    }
    assert_eq!(reply[4], 1, "not a refusal: {reply:?}");
    Some((reply[5], String::from_utf8_lossy(&reply[8..]).into_owned()))
}
