//! The SQS transport against a real SQS look-alike, a fresh `moto_server` per test on a free
//! loopback port (the harness of `tests/src/servers.rs`). Without `moto_server` on the PATH
//! the tests say so and pass (under CI they fail).

#[path = "../../tests/src/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

use std::time::Duration;

use aws_sdk_sqs::config::Region;
use aws_sdk_sqs::types::QueueAttributeName;
use bytes::Bytes;
use fccl_collectives::{CommId, ErrorKind, JobSpec, Tag, Transport};
use fccl_transports::sqs::{SqsSpec, SqsTransport, queue_prefix, static_config};
use rand::seq::SliceRandom;
use servers::Moto;
use tokio::time::Instant;

fn tag(seq: u64) -> Tag {
    Tag {
        comm: CommId::WORLD,
        p2p: true,
        seq,
        step: 0,
        chunk: 0,
    }
}

fn job(server: &Moto, n: usize, prefix: &str, query: &str) -> JobSpec {
    let url = format!(
        "sqs://us-east-1/{prefix}?endpoint={}{query}",
        server.endpoint()
    );
    JobSpec::new(n, url).expect("a valid job")
}

/// Joins every rank of `job` concurrently, in rank order.
async fn join(job: &JobSpec) -> Vec<SqsTransport> {
    let spec = SqsSpec::parse(&job.transport).expect("an sqs spec");
    let config = static_config("testing", "testing");
    let joins =
        (0..job.size).map(|rank| SqsTransport::connect_with_config(job, rank, &spec, &config));
    futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|t| t.expect("every rank joins"))
        .collect()
}

async fn close_all(ranks: &[SqsTransport]) {
    for r in futures_util::future::join_all(ranks.iter().map(|t| t.close())).await {
        r.expect("every rank leaves");
    }
}

/// A client of the server, as anyone with keys has.
fn client(server: &Moto) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::config::Builder::from(&static_config("testing", "testing"))
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn send_raw(client: &aws_sdk_sqs::Client, url: &str, body: &str) {
    client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("a raw send");
}

/// What a tracing subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Log;
    fn make_writer(&'a self) -> Log {
        self.clone()
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_arrive_out_of_order_across_three_ranks() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 3, "tags", "")).await;
    for (from, sender) in ranks.iter().enumerate() {
        for to in (0..3).filter(|&t| t != from) {
            for seq in 0..4 {
                let msg = Bytes::from(format!("{from}->{to} #{seq}"));
                sender.send(to, tag(seq), msg).await.unwrap();
            }
        }
    }
    for (to, receiver) in ranks.iter().enumerate() {
        for from in (0..3).filter(|&f| f != to) {
            for seq in (0..4).rev() {
                let got = receiver.recv(from, tag(seq), soon()).await.unwrap();
                assert_eq!(got, format!("{from}->{to} #{seq}"));
            }
        }
    }
    // Two messages with one tag come in the order they were sent.
    ranks[0]
        .send(1, tag(9), Bytes::from_static(b"first"))
        .await
        .unwrap();
    ranks[0]
        .send(1, tag(9), Bytes::from_static(b"second"))
        .await
        .unwrap();
    assert_eq!(ranks[1].recv(0, tag(9), soon()).await.unwrap(), "first");
    assert_eq!(ranks[1].recv(0, tag(9), soon()).await.unwrap(), "second");
    assert_eq!(ranks[0].name(), "sqs");
    assert!(ranks[0].requests() > 0 && ranks[0].billed_requests() >= ranks[0].requests());
    close_all(&ranks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_of_many_parts_arrives_whole() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 2, "parts", "&max_message=16384")).await;
    assert!(ranks[0].profile().max_message_bytes < 16384);
    let msg: Bytes = (0..200 << 10)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    ranks[0].send(1, tag(1), msg.clone()).await.unwrap();
    ranks[1].send(0, tag(1), Bytes::new()).await.unwrap();
    assert_eq!(ranks[1].recv(0, tag(1), soon()).await.unwrap(), msg);
    assert_eq!(
        ranks[0].recv(1, tag(1), soon()).await.unwrap(),
        Bytes::new()
    );
    assert_eq!(ranks[1].rejected_records(), 0);
    close_all(&ranks).await;
}

/// Bodies of up to 1 MiB, the limit SQS has had since 2025: the queues are created with
/// that `MaximumMessageSize`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_one_mib_carry_large_parts() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 2, "large", "&max_message=1048576")).await;
    assert!(ranks[0].profile().max_message_bytes > 700 << 10);
    let msg: Bytes = (0..(1536 << 10))
        .map(|i| (i % 253) as u8)
        .collect::<Vec<u8>>()
        .into();
    ranks[0].send(1, tag(1), msg.clone()).await.unwrap();
    assert_eq!(ranks[1].recv(0, tag(1), soon()).await.unwrap(), msg);
    close_all(&ranks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_delays_and_reordering_deliver_each_message_once() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 2, "faults", "&max_message=4096")).await;
    let raw = client(&server);
    let url = ranks[0].queue_url(1).to_string();
    // Ten messages, some of several parts, every record sent twice or three times, all
    // shuffled, half of them after a delay.
    let msgs: Vec<Bytes> = (0..10u64)
        .map(|i| {
            (0..(i as usize * 1500))
                .map(|j| (j as u64 ^ i) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .collect();
    let mut bodies = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let b = ranks[0].encode_for_test(1, tag(i as u64 % 3), m).unwrap();
        for (k, body) in b.iter().enumerate() {
            bodies.extend(std::iter::repeat_n(body.clone(), 2 + (i + k) % 2));
        }
    }
    bodies.shuffle(&mut rand::rng());
    let (now, later) = bodies.split_at(bodies.len() / 2);
    for b in now {
        send_raw(&raw, &url, b).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for b in later {
        send_raw(&raw, &url, b).await;
    }
    // Each tag's messages come in the order they were numbered, each once.
    for (i, m) in msgs.iter().enumerate() {
        let got = ranks[1].recv(0, tag(i as u64 % 3), soon()).await.unwrap();
        assert_eq!(&got, m, "message {i}");
    }
    let late = Instant::now() + Duration::from_millis(2500);
    for seq in 0..3 {
        let e = ranks[1].recv(0, tag(seq), late).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
    assert!(ranks[1].duplicate_records() >= (bodies.len() / 2) as u64 - 10);
    assert_eq!(ranks[1].rejected_records(), 0);
    // The job goes on with ordinary sends after the copies.
    ranks[0]
        .send(1, tag(5), Bytes::from_static(b"after"))
        .await
        .unwrap();
    assert_eq!(ranks[1].recv(0, tag(5), soon()).await.unwrap(), "after");
    close_all(&ranks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_dropped_counted_and_warned_of() {
    let Some(server) = Moto::start() else { return };
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    // Each test runs in a process of its own under nextest; elsewhere another test may have
    // set the subscriber first, and the log is not checked.
    let logging = tracing::subscriber::set_global_default(subscriber).is_ok();
    let job1 = job(&server, 2, "bad", "");
    let ranks = join(&job1).await;
    let other = join(&job(&server, 2, "bad", "")).await;
    let raw = client(&server);
    let url = ranks[0].queue_url(1).to_string();
    let good = ranks[0].encode_for_test(1, tag(1), b"hello").unwrap();
    let mut flipped = good[0].clone().into_bytes();
    flipped[60] = if flipped[60] == b'A' { b'B' } else { b'A' };
    let bad = [
        "not Z85 at all!".to_string(),
        String::from_utf8(flipped).unwrap(),
        // A MAC for another destination, for another job.
        ranks[0]
            .encode_for_test(0, tag(1), b"hello")
            .unwrap()
            .remove(0),
        other[0]
            .encode_for_test(1, tag(1), b"hello")
            .unwrap()
            .remove(0),
        // A part index out of range, sealed with the job's own key.
        ranks[0].forge_for_test(1, tag(2), 100, 5, 2, 10, b"hello"),
        // Parts that do not make up their message.
        ranks[0].forge_for_test(1, tag(2), 101, 0, 2, 10, b"hel"),
        ranks[0].forge_for_test(1, tag(2), 101, 1, 2, 10, b"lo, world"),
    ];
    for b in &bad {
        send_raw(&raw, &url, b).await;
    }
    send_raw(&raw, &url, &good[0]).await;
    assert_eq!(ranks[1].recv(0, tag(1), soon()).await.unwrap(), "hello");
    let until = Instant::now() + Duration::from_secs(10);
    while ranks[1].rejected_records() < bad.len() as u64 - 1 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Of the two parts that do not make up their message, the one that completes it is
    // refused (and the message dropped).
    assert_eq!(ranks[1].rejected_records(), bad.len() as u64 - 1);
    if logging {
        let text = log.text();
        let warned = text
            .matches("dropped a message that is not this job's")
            .count();
        assert_eq!(warned, bad.len() - 1, "{text}");
        for why in [
            "not Z85",
            "bad MAC",
            "parts that do not make up their message",
        ] {
            assert!(text.contains(why), "{why}: {text}");
        }
        assert!(text.contains(ranks[1].queue_name(1)), "{text}");
    }
    let e = ranks[1]
        .recv(0, tag(2), Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    // The refused bodies were deleted from the queue, and the job goes on.
    ranks[0]
        .send(1, tag(3), Bytes::from_static(b"on"))
        .await
        .unwrap();
    assert_eq!(ranks[1].recv(0, tag(3), soon()).await.unwrap(), "on");
    close_all(&ranks).await;
    close_all(&other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_wakes_a_pending_receive_and_an_idle_receive_times_out() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 2, "abort", "")).await;
    let started = Instant::now();
    let e = ranks[1]
        .recv(0, tag(1), started + Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let (got, ()) = tokio::join!(ranks[1].recv(0, tag(2), soon()), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ranks[0].abort(CommId::WORLD, &[1], "rank 0 gave up").await;
    });
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote);
    assert!(e.to_string().contains("rank 0 gave up"), "{e}");
    close_all(&ranks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_are_gone_after_close() {
    let Some(server) = Moto::start() else { return };
    let job = job(&server, 3, "gone", "");
    let ranks = join(&job).await;
    let prefix = queue_prefix(&SqsSpec::parse(&job.transport).unwrap(), &job);
    let raw = client(&server);
    let list = || async {
        raw.list_queues()
            .queue_name_prefix(&prefix)
            .send()
            .await
            .expect("a listing")
            .queue_urls
            .unwrap_or_default()
    };
    assert_eq!(list().await.len(), 3);
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"x"))
        .await
        .unwrap();
    close_all(&ranks).await;
    assert_eq!(list().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_queues_carry_large_messages_and_are_gone_after_close() {
    let Some(server) = Moto::start() else { return };
    let job = job(&server, 2, "fifo", "&fifo=true&max_message=4096");
    let ranks = join(&job).await;
    let raw = client(&server);
    for r in 0..2 {
        let name = ranks[0].queue_name(r);
        assert!(name.ends_with(".fifo"), "{name}");
        let attributes = raw
            .get_queue_attributes()
            .queue_url(ranks[0].queue_url(r))
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("the queue's attributes")
            .attributes
            .unwrap_or_default();
        assert_eq!(
            attributes
                .get(&QueueAttributeName::FifoQueue)
                .map(String::as_str),
            Some("true")
        );
    }
    let big: Bytes = (0..20_000u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    ranks[0].send(1, tag(1), big.clone()).await.unwrap();
    ranks[1]
        .send(0, tag(2), Bytes::from_static(b"back"))
        .await
        .unwrap();
    assert_eq!(ranks[1].recv(0, tag(1), soon()).await.unwrap(), big);
    assert_eq!(ranks[0].recv(1, tag(2), soon()).await.unwrap(), "back");
    close_all(&ranks).await;
    let left = raw
        .list_queues()
        .queue_name_prefix("fifo-")
        .send()
        .await
        .expect("a listing")
        .queue_urls
        .unwrap_or_default();
    assert_eq!(left, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_deleted_under_a_job_fails_receives_clearly() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 2, "deleted", "")).await;
    let raw = client(&server);
    raw.delete_queue()
        .queue_url(ranks[1].queue_url(1))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let e = ranks[1].recv(0, tag(1), soon()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    let name = ranks[1].queue_name(1).to_string();
    assert!(
        e.to_string()
            .contains(&format!("sqs: rank 1's queue {name} was deleted")),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = ranks[0]
        .send(1, tag(1), Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("was deleted"), "{e}");
    drop(ranks);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The names of the queues whose names start with `prefix`, as anyone allowed
/// `sqs:ListQueues` sees them.
async fn listed(raw: &aws_sdk_sqs::Client, prefix: &str) -> Vec<String> {
    let urls = raw
        .list_queues()
        .queue_name_prefix(prefix)
        .send()
        .await
        .expect("a listing")
        .queue_urls
        .unwrap_or_default();
    urls.iter()
        .map(|u| u.rsplit('/').next().unwrap_or_default().to_string())
        .collect()
}

/// Whoever lists the account's queues while a job runs sees `{prefix}-{16 hex}-{10 hex}`
/// names that tell neither the job id nor the ranks, and none once the job has left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_queue_names_reveal_nothing_and_are_gone_after_close() {
    let Some(server) = Moto::start() else { return };
    let job = job(&server, 4, "opaque", "");
    let ranks = join(&job).await;
    let raw = client(&server);
    let names = listed(&raw, "opaque").await;
    assert_eq!(names.len(), 4, "{names:?}");
    let prefix = queue_prefix(&SqsSpec::parse(&job.transport).unwrap(), &job);
    let (id, secret) = (hex(&job.id.0), hex(job.secret.bytes()));
    let mut codes = Vec::new();
    for name in &names {
        assert!(name.len() <= 80, "{name}");
        assert!(name.starts_with(&prefix), "{name} is not under {prefix}");
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[0], "opaque");
        assert_eq!((parts[1].len(), parts[2].len()), (16, 10), "{name}");
        for part in &parts[1..] {
            assert!(part.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
            // Not a rank number in clear.
            assert!(part.parse::<u64>().map_or(true, |v| v > 1 << 20), "{name}");
        }
        for i in 0..=id.len() - 8 {
            assert!(!name.contains(&id[i..i + 8]), "{name} has job id digits");
        }
        for i in 0..=secret.len() - 8 {
            assert!(
                !name.contains(&secret[i..i + 8]),
                "{name} has secret digits"
            );
        }
        codes.push(parts[2].to_string());
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 4);
    for (r, t) in ranks.iter().enumerate() {
        assert!(names.iter().any(|n| n == t.queue_name(r)));
    }
    ranks[0]
        .send(3, tag(1), Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(ranks[3].recv(0, tag(1), soon()).await.unwrap(), "x");
    close_all(&ranks).await;
    assert_eq!(listed(&raw, "opaque").await, Vec::<String>::new());
}

/// A process that has the job id but another secret: joining as a rank fails (the job's
/// queues are not where it looks); a whole job of such strangers gets none of the real
/// job's messages, and a body of theirs put into a real rank's queue is dropped and counted
/// while the real messages arrive exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_without_the_secret_can_neither_join_read_nor_inject() {
    let Some(server) = Moto::start() else { return };
    let job = job(&server, 2, "strangers", "");
    let spec = SqsSpec::parse(&job.transport).unwrap();
    let config = static_config("testing", "testing");
    let mut stranger_job = job.clone();
    stranger_job.secret = fccl_collectives::Secret::random();
    stranger_job.setup_timeout = Duration::from_secs(1);
    let started = Instant::now();
    let alone = SqsTransport::connect_with_config(&stranger_job, 1, &spec, &config).await;
    let e = alone.err().expect("a stranger does not join");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let ranks = join(&job).await;
    stranger_job.setup_timeout = job.setup_timeout;
    let strangers = join(&stranger_job).await;
    assert_ne!(strangers[1].queue_name(1), ranks[1].queue_name(1));
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"for rank 1"))
        .await
        .unwrap();
    strangers[0]
        .send(1, tag(2), Bytes::from_static(b"forged"))
        .await
        .unwrap();
    // The stranger's record, as a body, into the real rank 1's queue.
    let forged = strangers[0].encode_for_test(1, tag(2), b"forged").unwrap();
    send_raw(&client(&server), ranks[0].queue_url(1), &forged[0]).await;
    let e = strangers[1]
        .recv(0, tag(1), Instant::now() + Duration::from_millis(1500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(
        ranks[1].recv(0, tag(1), soon()).await.unwrap(),
        "for rank 1"
    );
    let until = Instant::now() + Duration::from_secs(10);
    while ranks[1].rejected_records() < 1 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ranks[1].rejected_records(), 1);
    ranks[0]
        .send(1, tag(2), Bytes::from_static(b"real"))
        .await
        .unwrap();
    assert_eq!(ranks[1].recv(0, tag(2), soon()).await.unwrap(), "real");
    assert_eq!(strangers[1].rejected_records(), 0);
    close_all(&ranks).await;
    close_all(&strangers).await;
}

/// A body of this job sent again after it was delivered (a replay by someone who can send
/// to the queue) is never delivered a second time, and the job goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_record_is_refused() {
    let Some(server) = Moto::start() else { return };
    let ranks = join(&job(&server, 2, "replay", "")).await;
    let raw = client(&server);
    let url = ranks[0].queue_url(1).to_string();
    let bodies = ranks[0].encode_for_test(1, tag(1), b"once").unwrap();
    send_raw(&raw, &url, &bodies[0]).await;
    assert_eq!(ranks[1].recv(0, tag(1), soon()).await.unwrap(), "once");
    for _ in 0..2 {
        send_raw(&raw, &url, &bodies[0]).await;
    }
    let until = Instant::now() + Duration::from_secs(10);
    let refused = || ranks[1].duplicate_records() + ranks[1].rejected_records();
    while refused() < 2 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused(), 2);
    let e = ranks[1]
        .recv(0, tag(1), Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"next"))
        .await
        .unwrap();
    assert_eq!(ranks[1].recv(0, tag(1), soon()).await.unwrap(), "next");
    close_all(&ranks).await;
}
