//! The memcached transport against real `memcached` processes, fresh ones per test on
//! free loopback ports (the harness of `tests/src/servers.rs`). Without `memcached` on the
//! PATH the tests say so and pass (under CI they fail).

#[path = "../../tests/src/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

use std::time::Duration;

use bytes::Bytes;
use fccl_collectives::{CommId, ErrorKind, JobSpec, SharedObjects, Tag, Transport};
use fccl_transports::memcached::{MemcachedSpec, MemcachedTransport};
use servers::Memcached;
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

fn url(servers: &[&Memcached], query: &str) -> String {
    let list: Vec<String> = servers.iter().map(|s| s.addr()).collect();
    format!("memcached://{}{query}", list.join(","))
}

/// Joins every rank of `job` concurrently, in rank order.
async fn join(job: &JobSpec) -> Vec<MemcachedTransport> {
    let spec = MemcachedSpec::parse(&job.transport).expect("a memcached spec");
    let joins = (0..job.size).map(|rank| MemcachedTransport::connect(job, rank, &spec));
    futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|t| t.expect("every rank joins"))
        .collect()
}

async fn close_all(ranks: &[MemcachedTransport]) {
    let closes = ranks.iter().map(|t| t.close());
    for closed in futures_util::future::join_all(closes).await {
        closed.expect("a clean close");
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn job_keys(server: &Memcached) -> Vec<String> {
    server
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("fccl:"))
        .collect()
}

#[tokio::test]
async fn three_ranks_exchange_by_tag_out_of_order() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(3, url(&[&server], "")).unwrap();
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
    // Messages with the same key come in the order they were sent, even sent at once.
    let sends = (0..20u8).map(|i| ranks[0].send(1, tag(99), Bytes::from(vec![i])));
    for sent in futures_util::future::join_all(sends).await {
        sent.unwrap();
    }
    for i in 0..20u8 {
        let got = ranks[1].recv(0, tag(99), soon()).await.unwrap();
        assert_eq!(&got[..], &[i]);
    }
    close_all(&ranks).await;
    assert_eq!(job_keys(&server), Vec::<String>::new());
}

#[tokio::test]
async fn a_six_mib_message_arrives_whole_in_parts() {
    let Some(server) =
        Memcached::start(&["-m", "256", "-I", "256k", "-o", "slab_chunk_max=131072"])
    else {
        return;
    };
    let job = JobSpec::new(2, url(&[&server], "")).unwrap();
    let ranks = join(&job).await;
    let part = ranks[0].part_bytes();
    assert!(part < 256 << 10 && part > 200 << 10, "{part}");
    let msg: Vec<u8> = (0..6 << 20).map(|i: u32| (i % 251) as u8).collect();
    ranks[0]
        .send(1, tag(1), Bytes::from(msg.clone()))
        .await
        .unwrap();
    let keys = job_keys(&server);
    let parts = msg.len().div_ceil(part);
    assert!(parts > 1);
    for p in 0..parts as u32 {
        assert!(keys.contains(&ranks[0].message_key(0, 1, 0, p)), "part {p}");
    }
    let got = ranks[1].recv(0, tag(1), soon()).await.unwrap();
    assert!(got[..] == msg[..], "the message arrives whole");
    close_all(&ranks).await;
    assert_eq!(job_keys(&server), Vec::<String>::new());
}

#[tokio::test]
async fn two_servers_share_the_keys() {
    let (Some(a), Some(b)) = (Memcached::start(&[]), Memcached::start(&[])) else {
        return;
    };
    let job = JobSpec::new(3, url(&[&a, &b], "?item=8192")).unwrap();
    let ranks = join(&job).await;
    for (me, t) in ranks.iter().enumerate() {
        for to in (0..3).filter(|&to| to != me) {
            for seq in 0..8 {
                let msg = vec![seq as u8; 20_000];
                t.send(to, tag(seq), Bytes::from(msg)).await.unwrap();
            }
        }
    }
    // Every message is 3 parts, numbered 0..8 per pair.
    let mut message_keys = std::collections::HashSet::new();
    for from in 0..3 {
        for to in (0..3).filter(|&to| to != from) {
            for seq in 0..8 {
                message_keys.extend((0..3).map(|p| ranks[0].message_key(from, to, seq, p)));
            }
        }
    }
    for s in [&a, &b] {
        let messages = job_keys(s)
            .iter()
            .filter(|k| message_keys.contains(*k))
            .count();
        assert!(messages > 10, "{} holds {messages} message keys", s.addr());
        // Every rank's sentinel is on every server.
        assert!(s.curr_items() >= 3 + messages as u64);
    }
    for (me, t) in ranks.iter().enumerate() {
        for from in (0..3).filter(|&from| from != me) {
            for seq in (0..8).rev() {
                let got = t.recv(from, tag(seq), soon()).await.unwrap();
                assert_eq!(got.len(), 20_000);
                assert!(got.iter().all(|&x| x == seq as u8));
            }
        }
    }
    close_all(&ranks).await;
    assert_eq!(job_keys(&a), Vec::<String>::new());
    assert_eq!(job_keys(&b), Vec::<String>::new());
}

#[tokio::test]
async fn records_from_outside_the_job_are_dropped() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(2, url(&[&server], "")).unwrap();
    let ranks = join(&job).await;
    // A record of another job moved to where rank 0 looks for rank 1's first message, and
    // garbage there.
    let other = JobSpec::new(2, job.transport.clone()).unwrap();
    let strangers = join(&other).await;
    strangers[1]
        .send(0, tag(1), Bytes::from_static(b"forged"))
        .await
        .unwrap();
    let forged = server.get(&strangers[1].message_key(1, 0, 0, 0));
    let forged = forged.expect("the stranger's record");
    close_all(&strangers).await;
    let key = ranks[0].message_key(1, 0, 0, 0);
    let recv = ranks[0].recv(1, tag(1), soon());
    let forge = async {
        for record in [forged.clone(), b"garbage".to_vec()] {
            // Counted before the record is put: the poller may reject it at once.
            let before = ranks[0].rejected_records();
            server.set(&key, &record);
            let until = std::time::Instant::now() + Duration::from_secs(5);
            while ranks[0].rejected_records() == before {
                assert!(std::time::Instant::now() < until, "the forgery is seen");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        ranks[1]
            .send(0, tag(1), Bytes::from_static(b"real"))
            .await
            .unwrap();
    };
    let (got, ()) = tokio::join!(recv, forge);
    assert_eq!(&got.unwrap()[..], b"real");
    assert!(ranks[0].rejected_records() >= 2);
    close_all(&ranks).await;
}

#[tokio::test]
async fn an_abort_wakes_a_pending_receive() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(2, url(&[&server], "")).unwrap();
    let ranks = join(&job).await;
    let started = Instant::now();
    let recv = ranks[0].recv(1, tag(5), soon());
    let abort = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ranks[1].abort(CommId::WORLD, &[0], "rank 1 gave up").await;
    };
    let (got, ()) = tokio::join!(recv, abort);
    let e = got.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Remote, "{e}");
    assert!(e.to_string().contains("rank 1 gave up"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    close_all(&ranks).await;
}

#[tokio::test]
async fn a_receive_with_nothing_coming_times_out_at_its_deadline() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(2, url(&[&server], "")).unwrap();
    let ranks = join(&job).await;
    let started = Instant::now();
    let e = ranks[0]
        .recv(1, tag(5), started + Duration::from_millis(300))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(800),
        "{took:?}"
    );
    close_all(&ranks).await;
}

#[tokio::test]
async fn close_leaves_no_key_even_of_messages_nobody_took() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(3, url(&[&server], "?item=8192")).unwrap();
    let ranks = join(&job).await;
    ranks[0]
        .send(1, tag(1), Bytes::from(vec![1; 50_000]))
        .await
        .unwrap();
    ranks[0]
        .send(2, tag(1), Bytes::from(vec![2; 10]))
        .await
        .unwrap();
    ranks[1]
        .send(2, tag(1), Bytes::from(vec![3; 30_000]))
        .await
        .unwrap();
    assert_eq!(
        ranks[1].recv(0, tag(1), soon()).await.unwrap().len(),
        50_000
    );
    ranks[2]
        .put(tag(7), Bytes::from(vec![4; 20_000]))
        .await
        .unwrap();
    ranks[1].add(tag(8), 3).await.unwrap();
    assert!(!job_keys(&server).is_empty());
    close_all(&ranks).await;
    assert_eq!(job_keys(&server), Vec::<String>::new());
    assert_eq!(server.curr_items(), 0);
}

/// Starts a receive on every rank from the next, runs `break_it`, and checks that every
/// receive fails (not times out) with an error containing `says`, well within its deadline.
async fn every_receive_fails(server: &mut Memcached, break_it: fn(&mut Memcached), says: &str) {
    let job = JobSpec::new(3, url(&[server], "")).unwrap();
    let ranks = join(&job).await;
    ranks[0]
        .send(1, tag(0), Bytes::from_static(b"before"))
        .await
        .unwrap();
    assert_eq!(
        &ranks[1].recv(0, tag(0), soon()).await.unwrap()[..],
        b"before"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let recvs = (0..3).map(|r| ranks[r].recv((r + 1) % 3, tag(1), deadline));
    let recvs = futures_util::future::join_all(recvs);
    let broken = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        break_it(server);
    };
    let (got, ()) = tokio::join!(recvs, broken);
    assert!(Instant::now() < deadline - Duration::from_secs(5));
    for (r, got) in got.into_iter().enumerate() {
        let e = got.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport, "rank {r}: {e}");
        assert!(e.to_string().contains(says), "rank {r}: {e}");
        assert!(e.to_string().contains(&server.addr()), "rank {r}: {e}");
    }
}

#[tokio::test]
async fn a_killed_server_fails_every_receive_within_its_deadline() {
    let Some(mut server) = Memcached::start(&[]) else {
        return;
    };
    every_receive_fails(&mut server, Memcached::kill, "memcached server").await;
}

#[tokio::test]
async fn a_restarted_server_fails_every_receive_with_lost_keys() {
    let Some(mut server) = Memcached::start(&[]) else {
        return;
    };
    every_receive_fails(&mut server, Memcached::restart, "lost this job's keys").await;
}

#[tokio::test]
async fn a_flushed_server_fails_every_receive_with_lost_keys() {
    let Some(mut server) = Memcached::start(&[]) else {
        return;
    };
    let flush: fn(&mut Memcached) = |s| s.flush_all();
    every_receive_fails(&mut server, flush, "lost this job's keys").await;
}

#[tokio::test]
async fn shared_objects_and_counters() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(3, url(&[&server], "?item=8192")).unwrap();
    let ranks = join(&job).await;
    let objects: Vec<&dyn SharedObjects> = ranks.iter().map(|t| t.shared().unwrap()).collect();
    let objects = &objects;
    assert!(ranks[0].profile().shared_objects);
    // Every rank reads every rank's object, some before it is put; one object has parts.
    let value = |r: usize| Bytes::from(vec![r as u8; if r == 2 { 100_000 } else { 10 }]);
    let gets = (0..3).flat_map(|me| (0..3).map(move |owner| (me, owner)));
    let gets = gets.map(|(me, owner)| async move {
        let got = objects[me].get(owner, tag(1), soon()).await.unwrap();
        assert!(got == value(owner), "{me} reads {owner}'s object");
    });
    let puts = (0..3).map(|r| async move {
        tokio::time::sleep(Duration::from_millis(50 * r as u64)).await;
        objects[r].put(tag(1), value(r)).await.unwrap();
    });
    tokio::join!(
        futures_util::future::join_all(gets),
        futures_util::future::join_all(puts)
    );
    // A get with nothing coming times out; one on an aborted communicator fails.
    let e = objects[0]
        .get(1, tag(2), Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Counters: concurrent adds, negative deltas, waits.
    let adds = (0..3).map(|r| objects[r].add(tag(3), r as i64 + 1));
    for added in futures_util::future::join_all(adds).await {
        added.unwrap();
    }
    assert_eq!(objects[0].wait_for(tag(3), 6, soon()).await.unwrap(), 6);
    assert_eq!(objects[1].add(tag(3), -10).await.unwrap(), -4);
    assert_eq!(objects[2].add(tag(4), -2).await.unwrap(), -2);
    let wait = objects[0].wait_for(tag(4), 1, soon());
    let add = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        objects[1].add(tag(4), 3).await.unwrap()
    };
    let (waited, added) = tokio::join!(wait, add);
    assert_eq!((waited.unwrap(), added), (1, 1));
    let e = objects[0]
        .wait_for(tag(4), 5, Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Removing leaves nothing of them.
    for r in 0..3 {
        objects[(r + 1) % 3].remove(r, tag(1)).await.unwrap();
    }
    objects[0].remove(0, tag(1)).await.unwrap();
    objects[0].remove_counter(tag(3)).await.unwrap();
    objects[2].remove_counter(tag(4)).await.unwrap();
    let left: Vec<String> = job_keys(&server)
        .into_iter()
        .filter(|k| k.contains(":obj:") || k.contains(":ctr:"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    // An abort fails a pending get.
    let get = objects[0].get(1, tag(9), soon());
    let abort = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ranks[1].abort(CommId::WORLD, &[0], "stop").await;
    };
    let (got, ()) = tokio::join!(get, abort);
    assert_eq!(got.unwrap_err().kind(), ErrorKind::Remote);
    close_all(&ranks).await;
    assert_eq!(job_keys(&server), Vec::<String>::new());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `key` is `fccl:{32 hex}:{32 hex}` under `prefix`, with nothing of the job
/// id, the secret or a logical name in it.
fn assert_opaque(key: &str, prefix: &str, job: &JobSpec) {
    assert!(key.starts_with(prefix), "{key} is not under {prefix}");
    let parts: Vec<&str> = key.split(':').collect();
    assert_eq!(parts.len(), 3, "{key}");
    assert_eq!(parts[0], "fccl", "{key}");
    for part in &parts[1..] {
        assert_eq!(part.len(), 32, "{key}");
        assert!(part.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    let (id, secret) = (hex(&job.id.0), hex(job.secret.bytes()));
    // No 8 hex digits of either (a chance of 2^-32 per place by accident).
    for i in 0..=id.len() - 8 {
        assert!(!key.contains(&id[i..i + 8]), "{key} has job id digits");
    }
    for i in 0..=secret.len() - 8 {
        assert!(!key.contains(&secret[i..i + 8]), "{key} has secret digits");
    }
    for word in ["msg", "alert", "sentinel", "obj", "ctr"] {
        assert!(!key.contains(word), "{key}");
    }
}

/// Whoever lists the server's keys while a job runs (`lru_crawler metadump all`) sees
/// opaque names only, all under the job's prefix, and none once the job has left.
#[tokio::test]
async fn listed_keys_reveal_nothing_and_are_gone_after_close() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(3, url(&[&server], "?item=8192")).unwrap();
    let ranks = join(&job).await;
    let prefix = ranks[0].key_prefix().to_string();
    assert!(ranks.iter().all(|r| r.key_prefix() == prefix));
    // Messages waiting, one of several parts, an object and a counter.
    for (me, t) in ranks.iter().enumerate() {
        for to in (0..3).filter(|&to| to != me) {
            t.send(to, tag(1), Bytes::from(vec![me as u8; 20_000]))
                .await
                .unwrap();
        }
    }
    ranks[2]
        .put(tag(7), Bytes::from(vec![4; 20_000]))
        .await
        .unwrap();
    ranks[1].add(tag(8), 3).await.unwrap();
    let keys = job_keys(&server);
    // Per rank a sentinel and an alert item, 6 messages of 3 parts, an object of 3 parts,
    // a counter.
    assert!(keys.len() >= 28, "{keys:?}");
    for key in &keys {
        assert_opaque(key, &prefix, &job);
    }
    // Another secret for the same job id names other keys.
    let mut stranger = job.clone();
    stranger.secret = fccl_collectives::Secret::random();
    let spec = MemcachedSpec::parse(&job.transport).unwrap();
    let stranger = MemcachedTransport::connect(&stranger, 0, &spec)
        .await
        .unwrap();
    let stranger_prefix = stranger.key_prefix().to_string();
    assert_ne!(stranger_prefix, prefix);
    stranger.close().await.unwrap();
    for (me, t) in ranks.iter().enumerate() {
        for from in (0..3).filter(|&from| from != me) {
            let got = t.recv(from, tag(1), soon()).await.unwrap();
            assert_eq!(got, vec![from as u8; 20_000]);
        }
    }
    close_all(&ranks).await;
    // (The stranger, alone in its job, leaves its alert item and sentinel to expire.)
    let left: Vec<String> = job_keys(&server)
        .into_iter()
        .filter(|k| !k.starts_with(&stranger_prefix))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// A process that has the job id but another secret: joining as a rank gets it none of
/// that rank's messages (it cannot even find their keys), and what it sends as a rank never
/// reaches the job, whose messages arrive exact.
#[tokio::test]
async fn a_stranger_without_the_secret_can_neither_read_nor_inject() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(2, url(&[&server], "")).unwrap();
    let spec = MemcachedSpec::parse(&job.transport).unwrap();
    let mut stranger_job = job.clone();
    stranger_job.secret = fccl_collectives::Secret::random();
    let ranks = join(&job).await;
    // The stranger joins as rank 1 beside the real one, and as rank 0.
    let as_1 = MemcachedTransport::connect(&stranger_job, 1, &spec)
        .await
        .unwrap();
    let as_0 = MemcachedTransport::connect(&stranger_job, 0, &spec)
        .await
        .unwrap();
    ranks[0]
        .send(1, tag(1), Bytes::from_static(b"for rank 1"))
        .await
        .unwrap();
    as_0.send(1, tag(2), Bytes::from_static(b"forged"))
        .await
        .unwrap();
    // Read before the stranger's rank 1 takes it.
    let forged = server
        .get(&as_0.message_key(0, 1, 0, 0))
        .expect("the record");
    let e = as_1
        .recv(0, tag(1), Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // The real rank 1 gets its message; the stranger's never comes.
    let got = ranks[1].recv(0, tag(1), soon()).await.unwrap();
    assert_eq!(&got[..], b"for rank 1");
    let e = ranks[1]
        .recv(0, tag(2), Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Copied to the key where rank 1 looks for rank 0's next message, the stranger's record
    // is refused and counted, and the real one still arrives.
    let key = ranks[0].message_key(0, 1, 1, 0);
    let recv = ranks[1].recv(0, tag(2), soon());
    let forge = async {
        server.set(&key, &forged);
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while ranks[1].rejected_records() == 0 {
            assert!(std::time::Instant::now() < until, "the forgery is seen");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ranks[0]
            .send(1, tag(2), Bytes::from_static(b"real"))
            .await
            .unwrap();
    };
    let (got, ()) = tokio::join!(recv, forge);
    assert_eq!(&got.unwrap()[..], b"real");
    assert_eq!(ranks[1].rejected_records(), 1);
    assert_eq!(as_1.rejected_records(), 0);
    for t in [as_0, as_1] {
        let _ = tokio::time::timeout(Duration::from_secs(5), t.close()).await;
    }
    close_all(&ranks).await;
}

/// A record of this job read from the server and stored again, at its own key after it was
/// taken or at the key of the next message, is never delivered twice.
#[tokio::test]
async fn a_replayed_record_is_refused() {
    let Some(server) = Memcached::start(&[]) else {
        return;
    };
    let job = JobSpec::new(2, url(&[&server], "")).unwrap();
    let ranks = join(&job).await;
    ranks[0]
        .send(1, tag(5), Bytes::from_static(b"first"))
        .await
        .unwrap();
    let captured = server
        .get(&ranks[0].message_key(0, 1, 0, 0))
        .expect("the record");
    let got = ranks[1].recv(0, tag(5), soon()).await.unwrap();
    assert_eq!(&got[..], b"first");
    server.set(&ranks[0].message_key(0, 1, 0, 0), &captured);
    server.set(&ranks[0].message_key(0, 1, 1, 0), &captured);
    let e = ranks[1]
        .recv(0, tag(5), Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(ranks[1].rejected_records(), 1);
    ranks[0]
        .send(1, tag(6), Bytes::from_static(b"second"))
        .await
        .unwrap();
    let got = ranks[1].recv(0, tag(6), soon()).await.unwrap();
    assert_eq!(&got[..], b"second");
    close_all(&ranks).await;
}
