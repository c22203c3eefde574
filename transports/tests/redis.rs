//! The redis transport against a real `redis-server`, one fresh server per test on a free
//! loopback port. Without `redis-server` on the PATH the tests say so and pass.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{CommId, ErrorKind, JobSpec, Secret, Tag, Transport};
use fccl_transports::redis::{RedisSpec, RedisTransport};
use tokio::time::Instant;

/// A `redis-server` child process on a free loopback port; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts a server and waits (up to 5 s) until it answers a PING; `None` if this
    /// machine has no `redis-server`.
    fn start() -> Option<Server> {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("an address").port()
        };
        let child = Server::spawn(port)?;
        let server = Server { child, port };
        server.wait_ready();
        Some(server)
    }

    /// Kills the server and starts a new one on the same port: a restart that lost
    /// everything (no persistence).
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Server::spawn(self.port).expect("redis-server restarts");
        self.wait_ready();
    }

    /// Starts `redis-server` on `port`; `None` if it is not installed.
    fn spawn(port: u16) -> Option<Child> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => Some(c),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The README's test command installs it: under CI a missing server fails.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "redis-server is not installed (scripts/test.sh installs it)"
                );
                eprintln!("redis-server is not installed: skipping this test");
                None
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        }
    }

    /// Waits (up to 5 s) until the server answers a PING.
    fn wait_ready(&self) {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let pong = self
                .try_conn()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            match pong {
                Ok(_) => return,
                Err(e) if std::time::Instant::now() > until => {
                    panic!(
                        "redis-server on port {} did not answer within 5 s: {e}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_conn(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// A plain client connection, as any process that can reach the server has.
    fn conn(&self) -> redis::Connection {
        self.try_conn().expect("a connection to the test server")
    }

    /// The number of keys on the server.
    fn dbsize(&self) -> usize {
        redis::cmd("DBSIZE")
            .query(&mut self.conn())
            .expect("DBSIZE")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tag(seq: u64) -> Tag {
    Tag {
        comm: CommId::WORLD,
        p2p: true,
        seq,
        step: 0,
        chunk: 0,
    }
}

/// Joins every rank of `job` concurrently, in rank order.
async fn join(job: &JobSpec) -> Vec<RedisTransport> {
    let spec = RedisSpec::parse(&job.transport).expect("a redis spec");
    let joins = (0..job.size).map(|rank| RedisTransport::connect(job, rank, &spec));
    futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|t| t.expect("every rank joins"))
        .collect()
}

async fn close_all(ranks: &[RedisTransport]) {
    let closes = ranks.iter().map(|t| t.close());
    for closed in futures_util::future::join_all(closes).await {
        closed.expect("a clean close");
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

#[tokio::test]
async fn three_ranks_exchange_by_tag_out_of_order() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    for (me, t) in ranks.iter().enumerate() {
        for to in 0..3 {
            for seq in 0..4 {
                let msg = format!("{me}->{to}#{seq}");
                t.send(to, tag(seq), Bytes::from(msg)).await.unwrap();
            }
        }
    }
    for (me, t) in ranks.iter().enumerate() {
        for from in [2, 0, 1] {
            for seq in (0..4).rev() {
                let got = t.recv(from, tag(seq), soon()).await.unwrap();
                assert_eq!(&got[..], format!("{from}->{me}#{seq}").as_bytes());
            }
        }
        assert_eq!(t.rejected_records(), 0);
    }
    // Messages with the same key come in the order they were sent.
    for i in 0..20u8 {
        ranks[0]
            .send(1, tag(99), Bytes::from(vec![i]))
            .await
            .unwrap();
    }
    for i in 0..20u8 {
        let got = ranks[1].recv(0, tag(99), soon()).await.unwrap();
        assert_eq!(&got[..], &[i]);
    }
    close_all(&ranks).await;
}

#[tokio::test]
async fn a_ten_mib_message_arrives_whole_in_parts() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let big: Vec<u8> = (0..10u32 << 20).map(|i| (i % 251) as u8).collect();
    let started = std::time::Instant::now();
    let (sent, got) = tokio::join!(
        ranks[0].send(1, tag(1), Bytes::from(big.clone())),
        ranks[1].recv(0, tag(1), soon())
    );
    sent.unwrap();
    let got = got.unwrap();
    eprintln!("10 MiB through redis in {:?}", started.elapsed());
    assert_eq!(got.len(), big.len());
    assert!(got[..] == big[..], "the message arrived changed");
    // An empty message and one exactly a part long arrive too.
    for len in [0, fccl_transports::redis::DEFAULT_CHUNK_BYTES] {
        ranks[1]
            .send(0, tag(2), Bytes::from(vec![7; len]))
            .await
            .unwrap();
        assert_eq!(ranks[0].recv(1, tag(2), soon()).await.unwrap().len(), len);
    }
    assert_eq!(ranks[1].rejected_records(), 0);
    close_all(&ranks).await;
}

#[tokio::test]
async fn records_from_outside_the_job_are_dropped_and_the_job_goes_on() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let inbox = ranks[1].inbox_key(1);
    let mut conn = server.conn();
    // Garbage, and a well-formed head claiming to be rank 0 with a made-up MAC.
    let mut forged = vec![1u8, 0, 0, 0, 0, 0];
    forged.extend_from_slice(&CommId::WORLD.0.to_le_bytes());
    forged.push(1);
    forged.extend_from_slice(&5u64.to_le_bytes()); // seq
    forged.extend_from_slice(&[0; 8]); // step, chunk
    forged.extend_from_slice(&[0; 8]); // message
    forged.extend_from_slice(&0u32.to_le_bytes());
    forged.extend_from_slice(&1u32.to_le_bytes());
    forged.extend_from_slice(&5u64.to_le_bytes());
    forged.extend_from_slice(&[0xAA; 16]);
    forged.extend_from_slice(b"evil!");
    let _: () = redis::cmd("RPUSH")
        .arg(&inbox)
        .arg(&b"garbage"[..])
        .arg(forged)
        .query(&mut conn)
        .unwrap();
    // A process that knows the job id but not the secret: its keys are not the job's, so
    // what it sends as rank 0 never reaches rank 1's inbox.
    let stranger = stranger(&job, 0).await;
    stranger
        .send(1, tag(5), Bytes::from_static(b"evil!"))
        .await
        .unwrap();

    ranks[0]
        .send(1, tag(5), Bytes::from_static(b"good"))
        .await
        .unwrap();
    let got = ranks[1].recv(0, tag(5), soon()).await.unwrap();
    assert_eq!(&got[..], b"good");
    let e = ranks[1]
        .recv(0, tag(5), Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(ranks[1].rejected_records(), 2);
    assert_ne!(stranger.inbox_key(1), inbox);
    // Its record copied into rank 1's inbox (by someone who can list the keys) is refused.
    let copied: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(stranger.inbox_key(1))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(copied.len(), 1);
    let _: () = redis::cmd("RPUSH")
        .arg(&inbox)
        .arg(&copied[0])
        .query(&mut conn)
        .unwrap();
    ranks[0]
        .send(1, tag(6), Bytes::from_static(b"exact"))
        .await
        .unwrap();
    assert_eq!(
        &ranks[1].recv(0, tag(6), soon()).await.unwrap()[..],
        b"exact"
    );
    let e = ranks[1]
        .recv(0, tag(5), Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(ranks[1].rejected_records(), 3);
    // The stranger's goodbye goes to its own keys; its own inbox is deleted when it closes.
    let _ = tokio::time::timeout(Duration::from_secs(1), stranger.close()).await;
    drop(stranger);
    close_all(&ranks).await;
}

/// A record of this job captured from the server and pushed again (a replay by someone who
/// can read and write the server, MAC and all) is refused: every message arrives once.
#[tokio::test]
async fn a_replayed_record_is_refused() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let spec = RedisSpec::parse(&job.transport).unwrap();
    // Rank 1 has not joined yet, so rank 0's records wait in its inbox to be captured.
    let sender = RedisTransport::connect(&job, 0, &spec).await.unwrap();
    for (seq, text) in [(5, &b"first"[..]), (6, b"second")] {
        sender.send(1, tag(seq), Bytes::from(text)).await.unwrap();
    }
    let inbox = sender.inbox_key(1);
    let mut conn = server.conn();
    let captured: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(&inbox)
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(captured.len(), 2);
    let receiver = RedisTransport::connect(&job, 1, &spec).await.unwrap();
    for (seq, text) in [(5, &b"first"[..]), (6, b"second")] {
        let got = receiver.recv(0, tag(seq), soon()).await.unwrap();
        assert_eq!(&got[..], text);
    }
    // Both records again, in the opposite order, after they were taken.
    let _: () = redis::cmd("RPUSH")
        .arg(&inbox)
        .arg(&captured[1])
        .arg(&captured[0])
        .query(&mut conn)
        .unwrap();
    for seq in [5, 6] {
        let e = receiver
            .recv(0, tag(seq), Instant::now() + Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    }
    assert_eq!(receiver.rejected_records(), 2);
    // The job goes on.
    sender
        .send(1, tag(7), Bytes::from_static(b"third"))
        .await
        .unwrap();
    assert_eq!(
        &receiver.recv(0, tag(7), soon()).await.unwrap()[..],
        b"third"
    );
    close_all(&[sender, receiver]).await;
}

#[tokio::test]
async fn an_abort_wakes_a_pending_receive() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let started = Instant::now();
    let abort = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ranks[0].abort(CommId::WORLD, &[1], "rank 0 gave up").await;
    };
    let (e, ()) = tokio::join!(ranks[1].recv(0, tag(1), soon()), abort);
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("rank 0 gave up"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    close_all(&ranks).await;
}

#[tokio::test]
async fn a_receive_with_nothing_coming_times_out_at_its_deadline() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let started = Instant::now();
    let deadline = started + Duration::from_millis(300);
    let e = ranks[0].recv(1, tag(1), deadline).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(1),
        "{took:?}"
    );
    close_all(&ranks).await;
}

#[tokio::test]
async fn leaving_says_goodbye_and_leaves_nothing_on_the_server() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"x"))
        .await
        .unwrap();
    ranks[2]
        .send(1, tag(1), Bytes::from_static(b"unread"))
        .await
        .unwrap();
    assert_eq!(&ranks[1].recv(0, tag(1), soon()).await.unwrap()[..], b"x");
    // Rank 0 leaves: a receive from it fails once its goodbye comes, not at the deadline.
    let started = Instant::now();
    // (Rank 0's close lingers until the others say goodbye too, or a few seconds pass.)
    let (closed, (e, took)) = tokio::join!(ranks[0].close(), async {
        let e = ranks[1].recv(0, tag(2), soon()).await.unwrap_err();
        (e, started.elapsed())
    });
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("left"), "{e}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let send = ranks[1].send(0, tag(3), Bytes::new()).await.unwrap_err();
    assert_eq!(send.kind(), ErrorKind::Remote, "{send}");
    closed.unwrap();
    close_all(&ranks[1..]).await;
    let mut conn = server.conn();
    for rank in 0..3 {
        let exists: bool = redis::cmd("EXISTS")
            .arg(ranks[0].inbox_key(rank))
            .query(&mut conn)
            .unwrap();
        assert!(!exists, "rank {rank}'s inbox is left behind");
    }
    assert_eq!(server.dbsize(), 0);
}

#[tokio::test]
async fn a_dropped_endpoint_leaves_in_the_background() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let mut ranks = join(&job).await;
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"x"))
        .await
        .unwrap();
    drop(ranks.remove(1));
    drop(ranks.remove(0));
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while server.dbsize() != 0 {
        assert!(std::time::Instant::now() < until, "inboxes left behind");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_fails_clearly_without_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut job = JobSpec::new(1, format!("redis://:s3cret@127.0.0.1:{port}")).unwrap();
    job.setup_timeout = Duration::from_secs(2);
    let spec = RedisSpec::parse(&job.transport).unwrap();
    let started = Instant::now();
    let e = match RedisTransport::connect(&job, 0, &spec).await {
        Ok(_) => panic!("joined a server that is not there"),
        Err(e) => e,
    };
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        matches!(e.kind(), ErrorKind::Transport | ErrorKind::Timeout),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

// Shared objects and counters.

fn obj_tag(seq: u64) -> Tag {
    Tag {
        p2p: false,
        ..tag(seq)
    }
}

/// Joins every rank of a job on `server` whose parts are `chunk` bytes long.
async fn join_with(server: &Server, size: usize, chunk: usize) -> (JobSpec, Vec<RedisTransport>) {
    let job = JobSpec::new(size, server.url()).unwrap();
    let mut spec = RedisSpec::parse(&job.transport).unwrap();
    spec.chunk_bytes = chunk;
    let joins = (0..size).map(|rank| RedisTransport::connect(&job, rank, &spec));
    let ranks = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|t| t.expect("every rank joins"))
        .collect();
    (job, ranks)
}

#[tokio::test]
async fn objects_are_read_by_every_rank_and_a_get_waits_for_the_put() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    assert!(ranks[0].profile().shared_objects);
    let objects: Vec<_> = ranks.iter().map(|t| t.shared().expect("objects")).collect();
    let started = Instant::now();
    // Ranks 1 and 2 wait before rank 0 puts.
    let put = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        objects[0]
            .put(obj_tag(1), Bytes::from_static(b"hello"))
            .await
    };
    let (put, got1, got2) = tokio::join!(
        put,
        objects[1].get(0, obj_tag(1), soon()),
        objects[2].get(0, obj_tag(1), soon())
    );
    put.unwrap();
    assert_eq!(&got1.unwrap()[..], b"hello");
    assert_eq!(&got2.unwrap()[..], b"hello");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    // The object stays for later readers, the owner included, and an empty one works too.
    assert_eq!(
        &objects[0].get(0, obj_tag(1), soon()).await.unwrap()[..],
        b"hello"
    );
    objects[2].put(obj_tag(2), Bytes::new()).await.unwrap();
    assert!(
        objects[1]
            .get(2, obj_tag(2), soon())
            .await
            .unwrap()
            .is_empty()
    );
    // Removed objects are gone from the server; removing twice is fine.
    objects[1].remove(0, obj_tag(1)).await.unwrap();
    objects[2].remove(2, obj_tag(2)).await.unwrap();
    objects[2].remove(2, obj_tag(2)).await.unwrap();
    let exists: usize = redis::cmd("EXISTS")
        .arg(ranks[0].inbox_key(0).replace(":inbox:0", ":obj:0:") + &obj_tag(1).to_string())
        .query(&mut server.conn())
        .unwrap();
    assert_eq!(exists, 0);
    close_all(&ranks).await;
    assert_eq!(server.dbsize(), 0);
}

#[tokio::test]
async fn a_multi_part_object_arrives_whole_and_close_removes_what_was_left() {
    let Some(server) = Server::start() else {
        return;
    };
    let (_, ranks) = join_with(&server, 2, 64 << 10).await;
    let big: Vec<u8> = (0..(1u32 << 20) + 7).map(|i| (i % 253) as u8).collect();
    let objects: Vec<_> = ranks.iter().map(|t| t.shared().unwrap()).collect();
    let (put, got) = tokio::join!(
        objects[0].put(obj_tag(1), Bytes::from(big.clone())),
        objects[1].get(0, obj_tag(1), soon())
    );
    put.unwrap();
    let got = got.unwrap();
    assert!(got[..] == big[..], "the object arrived changed");
    // 17 parts: a list and 16 strings.
    assert_eq!(
        server.dbsize() - 2,
        17,
        "the sentinels aside (the inboxes are empty)"
    );
    objects[1]
        .put(obj_tag(2), Bytes::from_static(b"left"))
        .await
        .unwrap();
    close_all(&ranks).await;
    assert_eq!(server.dbsize(), 0);
}

#[tokio::test]
async fn an_object_from_outside_the_job_is_refused() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let stranger = stranger(&job, 0).await;
    let shared = stranger.shared().unwrap();
    shared
        .put(obj_tag(1), Bytes::from_static(b"evil"))
        .await
        .unwrap();
    // Its object is under a key of its own; copied to where the job's would be (by someone
    // who can write to the server), it is refused.
    let real_key = ranks[0].object_key(0, obj_tag(1));
    assert_ne!(stranger.object_key(0, obj_tag(1)), real_key);
    let mut conn = server.conn();
    let evil: Vec<Vec<u8>> = redis::cmd("LRANGE")
        .arg(stranger.object_key(0, obj_tag(1)))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(evil.len(), 1);
    let _: () = redis::cmd("RPUSH")
        .arg(&real_key)
        .arg(&evil[0])
        .query(&mut conn)
        .unwrap();
    let put = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ranks[0]
            .shared()
            .unwrap()
            .put(obj_tag(1), Bytes::from_static(b"good"))
            .await
    };
    let (put, got) = tokio::join!(put, ranks[1].shared().unwrap().get(0, obj_tag(1), soon()));
    put.unwrap();
    assert_eq!(&got.unwrap()[..], b"good");
    assert!(ranks[1].rejected_records() >= 1);
    drop(stranger);
    close_all(&ranks).await;
}

#[tokio::test]
async fn counters_add_with_negative_deltas_and_wake_their_waiters() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    let objects: Vec<_> = ranks.iter().map(|t| t.shared().unwrap()).collect();
    let c = obj_tag(7);
    assert_eq!(objects[0].add(c, 5).await.unwrap(), 5);
    assert_eq!(objects[1].add(c, -8).await.unwrap(), -3);
    assert_eq!(objects[2].add(c, 0).await.unwrap(), -3);
    // Reached already: no wait.
    assert_eq!(objects[2].wait_for(c, -3, soon()).await.unwrap(), -3);
    // A barrier: each rank adds one and waits for three.
    let b = obj_tag(8);
    let started = Instant::now();
    let barrier = |rank: usize| {
        let o = objects[rank];
        async move {
            tokio::time::sleep(Duration::from_millis(100 * rank as u64)).await;
            o.add(b, 1).await.unwrap();
            o.wait_for(b, 3, soon()).await
        }
    };
    let (v0, v1, v2) = tokio::join!(barrier(0), barrier(1), barrier(2));
    assert_eq!((v0.unwrap(), v1.unwrap(), v2.unwrap()), (3, 3, 3));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // A waiter is woken when the value is crossed going up again after going down.
    let (waited, ()) = tokio::join!(objects[0].wait_for(c, 4, soon()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        objects[1].add(c, 2).await.unwrap(); // -1
        objects[1].add(c, -1).await.unwrap(); // -2
        objects[2].add(c, 10).await.unwrap(); // 8
    });
    assert_eq!(waited.unwrap(), 8);
    objects[0].remove_counter(c).await.unwrap();
    objects[0].remove_counter(c).await.unwrap();
    assert_eq!(
        objects[1].add(c, 1).await.unwrap(),
        1,
        "a removed counter starts at 0"
    );
    close_all(&ranks).await;
    assert_eq!(server.dbsize(), 0);
}

#[tokio::test]
async fn an_abort_or_a_departure_wakes_waiting_gets_and_waits() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    let objects: Vec<_> = ranks.iter().map(|t| t.shared().unwrap()).collect();
    let started = Instant::now();
    let abort = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ranks[0]
            .abort(CommId::WORLD, &[1, 2], "rank 0 gave up")
            .await;
    };
    let (get, wait, ()) = tokio::join!(
        objects[1].get(0, obj_tag(1), soon()),
        objects[2].wait_for(obj_tag(2), 1, soon()),
        abort
    );
    for e in [get.unwrap_err(), wait.unwrap_err()] {
        assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
        assert!(e.to_string().contains("rank 0 gave up"), "{e}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // Another communicator is not aborted; its owner leaving fails its get.
    let other = Tag {
        comm: CommId(42),
        ..obj_tag(3)
    };
    let started = Instant::now();
    let get = async {
        let got = objects[1].get(2, other, soon()).await;
        let took = started.elapsed();
        // Rank 2 lingers until the others say goodbye.
        close_all(&ranks[..2]).await;
        (got, took)
    };
    let ((get, took), closed) = tokio::join!(get, async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ranks[2].close().await
    });
    let e = get.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("left"), "{e}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    closed.unwrap();
    assert_eq!(server.dbsize(), 0);
}

#[tokio::test]
async fn gets_and_waits_time_out_at_their_deadline() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let objects = ranks[0].shared().unwrap();
    // Longer than one blocking command, so the wait is renewed once.
    for wait in [Duration::from_millis(300), Duration::from_millis(1300)] {
        let started = Instant::now();
        let (get, waited) = tokio::join!(
            objects.get(1, obj_tag(1), started + wait),
            objects.wait_for(obj_tag(2), 1, started + wait)
        );
        for e in [get.unwrap_err(), waited.unwrap_err()] {
            assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        }
        let took = started.elapsed();
        assert!(
            took >= wait && took < wait + Duration::from_millis(500),
            "{took:?}"
        );
    }
    close_all(&ranks).await;
    assert_eq!(server.dbsize(), 0);
}

// A server that loses the job's keys.

/// Has each rank of `ranks` wait on a receive (and rank 0 on a get too) while `lose` runs
/// on a blocking thread, and checks that each fails with an error that says so, containing
/// `says`, well before its deadline; later receives fail at once too.
async fn every_rank_fails_clearly<F>(ranks: &[RedisTransport], lose: F, says: &str)
where
    F: FnOnce() + Send + 'static,
{
    // The job is under way: a message went through.
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(&ranks[1].recv(0, tag(1), soon()).await.unwrap()[..], b"x");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let n = ranks.len();
    let waits = ranks.iter().enumerate().map(|(me, t)| async move {
        let got = t.recv((me + 1) % n, tag(2), deadline).await;
        (got.map(|_| ()), started.elapsed())
    });
    let get = async {
        let got = ranks[0]
            .shared()
            .unwrap()
            .get(1, obj_tag(3), deadline)
            .await;
        (got.map(|_| ()), started.elapsed())
    };
    let lose = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tokio::task::spawn_blocking(lose).await.unwrap();
    };
    let (waited, got, ()) = tokio::join!(futures_util::future::join_all(waits), get, lose);
    for (rank, (failed, took)) in waited.into_iter().chain([got]).enumerate() {
        let e = failed.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport, "rank {rank}: {e}");
        let text = e.to_string();
        assert!(text.contains(says), "rank {rank}: {text}");
        assert!(text.contains(ranks[0].server()), "rank {rank}: {text}");
        assert!(
            text.contains("this job's messages are lost"),
            "rank {rank}: {text}"
        );
        assert!(took < Duration::from_secs(5), "rank {rank} took {took:?}");
    }
    let later = ranks[2].recv(0, tag(9), deadline).await.unwrap_err();
    assert!(later.to_string().contains(says), "{later}");
    let send = ranks[2].send(0, tag(9), Bytes::new()).await.unwrap_err();
    assert!(send.to_string().contains(says), "{send}");
    close_all(ranks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_mid_job_fails_every_rank_clearly() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    let server = std::sync::Arc::new(std::sync::Mutex::new(server));
    let restart = {
        let server = std::sync::Arc::clone(&server);
        move || server.lock().unwrap().restart()
    };
    every_rank_fails_clearly(&ranks, restart, "restarted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_flushed_mid_job_fails_every_rank_clearly() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(3, server.url()).unwrap();
    let ranks = join(&job).await;
    let mut conn = server.conn();
    let flush = move || redis::cmd("FLUSHALL").query::<()>(&mut conn).unwrap();
    every_rank_fails_clearly(&ranks, flush, "lost this job's keys").await;
    assert_eq!(server.dbsize(), 0);
}

// Back-pressure.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_far_ahead_of_its_receiver_waits_for_it() {
    let Some(server) = Server::start() else {
        return;
    };
    const WINDOW: usize = 1 << 20;
    const MSG: usize = 64 << 10;
    const COUNT: usize = 4 * WINDOW / MSG;
    let job = JobSpec::new(2, server.url()).unwrap();
    let mut spec = RedisSpec::parse(&job.transport).unwrap();
    spec.chunk_bytes = 16 << 10;
    spec.window_bytes = WINDOW;
    let joins = (0..2).map(|rank| RedisTransport::connect(&job, rank, &spec));
    let ranks: Vec<_> = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let message = |i: usize| Bytes::from(vec![i as u8; MSG]);
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let send = async {
        for i in 0..COUNT {
            ranks[0].send(1, tag(i as u64), message(i)).await.unwrap();
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let receive = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stalled_at = sent.load(std::sync::atomic::Ordering::SeqCst);
        // The receiver reads them in reverse, the last one first: it waits on the sender,
        // which must be let on although the earlier messages are unclaimed.
        for i in (0..COUNT).rev() {
            let got = ranks[1].recv(0, tag(i as u64), soon()).await.unwrap();
            assert!(got == message(i), "message {i} arrived changed");
        }
        stalled_at
    };
    let ((), stalled_at) = tokio::join!(send, receive);
    eprintln!("the sender stalled after {stalled_at} of {COUNT} messages of {MSG} bytes");
    assert!(
        stalled_at * MSG >= WINDOW && stalled_at * MSG <= 3 * WINDOW,
        "{stalled_at} messages of {MSG} bytes sent before the receiver read"
    );
    assert_eq!(sent.into_inner(), COUNT);
    close_all(&ranks).await;
    assert_eq!(server.dbsize(), 0);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every key on the server, by `SCAN`, as any client of the server can list them.
fn scan(server: &Server, pattern: &str) -> Vec<String> {
    let mut conn = server.conn();
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
            .unwrap();
        keys.extend(page);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

/// Whoever lists the server's keys (`SCAN`) while a job runs sees opaque names only, all
/// under the job's prefix (so `SCAN MATCH prefix*` finds a job's keys), and none once the
/// job has left.
#[tokio::test]
async fn listed_keys_reveal_nothing_and_are_gone_after_close() {
    let Some(server) = Server::start() else {
        return;
    };
    let (job, ranks) = join_with(&server, 3, 4096).await;
    let prefix = ranks[0].key_prefix().to_string();
    for (me, t) in ranks.iter().enumerate() {
        for to in (0..3).filter(|&to| to != me) {
            t.send(to, tag(1), Bytes::from(vec![me as u8; 10_000]))
                .await
                .unwrap();
        }
    }
    let shared = |r: usize| ranks[r].shared().expect("objects");
    shared(2)
        .put(obj_tag(7), Bytes::from(vec![4; 10_000]))
        .await
        .unwrap();
    shared(1).add(obj_tag(8), 3).await.unwrap();
    let keys = scan(&server, "*");
    // Three inboxes, three alive keys, an object.
    assert!(keys.len() >= 7, "{keys:?}");
    let (id, secret) = (hex(&job.id.0), hex(job.secret.bytes()));
    for key in &keys {
        assert!(key.starts_with(&prefix), "{key} is not under {prefix}");
        let parts: Vec<&str> = key.split(':').collect();
        assert_eq!(parts.len(), 3, "{key}");
        assert_eq!(parts[0], "fccl", "{key}");
        for part in &parts[1..] {
            assert_eq!(part.len(), 32, "{key}");
            assert!(part.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        }
        for i in 0..=id.len() - 8 {
            assert!(!key.contains(&id[i..i + 8]), "{key} has job id digits");
        }
        for i in 0..=secret.len() - 8 {
            assert!(!key.contains(&secret[i..i + 8]), "{key} has secret digits");
        }
        for word in ["inbox", "alive", "obj", "ctr", "credit", "part", "/"] {
            assert!(!key.contains(word), "{key}");
        }
    }
    assert_eq!(scan(&server, &format!("{prefix}*")).len(), keys.len());
    for (me, t) in ranks.iter().enumerate() {
        for from in (0..3).filter(|&from| from != me) {
            let got = t.recv(from, tag(1), soon()).await.unwrap();
            assert_eq!(got, vec![from as u8; 10_000]);
        }
    }
    close_all(&ranks).await;
    assert_eq!(scan(&server, "*"), Vec::<String>::new());
}

/// A process that has the job id but another secret, joining as rank 1 beside the real
/// one, gets none of rank 1's messages: they are under keys it cannot name.
#[tokio::test]
async fn a_stranger_joining_as_a_rank_reads_none_of_its_messages() {
    let Some(server) = Server::start() else {
        return;
    };
    let job = JobSpec::new(2, server.url()).unwrap();
    let ranks = join(&job).await;
    let stranger = stranger(&job, 1).await;
    assert_ne!(stranger.key_prefix(), ranks[0].key_prefix());
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"for rank 1"))
        .await
        .unwrap();
    let e = stranger
        .recv(0, tag(1), Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(stranger.rejected_records(), 0);
    let got = ranks[1].recv(0, tag(1), soon()).await.unwrap();
    assert_eq!(&got[..], b"for rank 1");
    let _ = tokio::time::timeout(Duration::from_secs(5), stranger.close()).await;
    close_all(&ranks).await;
}

/// An endpoint of `job` as `rank`, joined by a process that has the job id but another
/// secret.
async fn stranger(job: &JobSpec, rank: usize) -> RedisTransport {
    let mut stranger_job = job.clone();
    stranger_job.secret = Secret::random();
    let spec = RedisSpec::parse(&job.transport).unwrap();
    RedisTransport::connect(&stranger_job, rank, &spec)
        .await
        .unwrap()
}
