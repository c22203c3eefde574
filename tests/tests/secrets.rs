//! The job secret never leaves through an error: every error that parsing a job string, a
//! Lambda payload or the environment, or joining a job, makes of bad input says what is
//! wrong without the secret, in its `Display`, its `Debug` and its sources. And job ids and
//! secrets are fresh random values.

use std::collections::HashSet;
use std::time::Duration;

use fccl::{Error, JobId, JobSpec, Secret};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fails if `e` (its text, its debug form or a source's text) holds any 16 hex digits of
/// `secret`, in either case, or the job string `job`.
fn assert_clean(e: &Error, secret: &Secret, job: &str, context: &str) {
    let mut texts = vec![e.to_string(), format!("{e:?}")];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        texts.push(s.to_string());
        texts.push(format!("{s:?}"));
        source = s.source();
    }
    let lower = hex(secret.bytes());
    for text in texts {
        let folded = text.to_ascii_lowercase();
        for i in 0..=lower.len() - 16 {
            assert!(
                !folded.contains(&lower[i..i + 16]),
                "{context}: the secret in {text:?}"
            );
        }
        assert!(!text.contains(job), "{context}: the job string in {text:?}");
    }
}

/// Every cut of a job string, every field made wrong, and every character replaced by a
/// few others (`:` among them, which moves the fields) fails to parse, and no error shows
/// the secret.
#[test]
fn job_string_errors_never_show_the_secret() {
    let job = JobSpec::new(4, "redis://user:pw@127.0.0.1:6379").unwrap();
    let text = job.to_string();
    let mut bad: Vec<String> = Vec::new();
    for cut in 0..text.len() {
        bad.push(text[..cut].to_string());
    }
    for i in 0..text.len() {
        for c in [':', 'g', ' ', 'A', '\u{e9}'] {
            let mut s = text[..i].to_string();
            s.push(c);
            s.push_str(&text[i + 1..]);
            bad.push(s);
        }
    }
    bad.push(format!("{text} trailing words"));
    bad.push(format!("fccl2{}", &text[5..]));
    bad.push(text.replace(":4:", ":0:"));
    bad.push(text.replace(":4:", &format!(":{}:", usize::MAX)));
    bad.push(format!("{text}\u{0}"));
    let mut refused = 0;
    for s in &bad {
        if let Err(e) = s.parse::<JobSpec>() {
            refused += 1;
            assert_clean(&e, &job.secret, &text, s);
        }
    }
    assert!(refused > bad.len() / 2, "{refused} of {}", bad.len());
}

/// Payloads that are not events, or whose job string is wrong, are refused without the
/// secret, even when the job string sits in a field of the wrong type.
#[test]
fn lambda_payload_errors_never_show_the_secret() {
    let job = JobSpec::new(2, "tcp://127.0.0.1:9").unwrap();
    let text = job.to_string();
    let broken = text.replace(":2:", ":x:");
    for payload in [
        serde_json::json!({"job": text, "rank": 5, "command": []}),
        serde_json::json!({"job": broken, "rank": 0, "command": []}),
        serde_json::json!({"job": [text], "rank": 0, "command": []}),
        serde_json::json!({"job": text, "rank": text, "command": []}),
        serde_json::json!({"job": text, "rank": 0, "command": text}),
        serde_json::json!({"job": text, "rank": 0, "command": [], "time_limit_ms": text}),
        serde_json::json!({"jobs": text}),
        serde_json::json!(text),
    ] {
        let e = match fccl::lambda::RankEvent::from_json(&payload) {
            Err(e) => e,
            Ok(event) => {
                assert!(!format!("{event:?}").contains(&hex(job.secret.bytes())));
                event.job().expect_err("a bad job or rank")
            }
        };
        assert_clean(&e, &job.secret, &text, &payload.to_string());
    }
}

/// Joining with transports that cannot be joined, servers that are not there, and a rank
/// out of range fails with errors that never show the secret.
#[test]
fn connect_errors_never_show_the_secret() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let specs = [
        "local".to_string(),
        "tcp".to_string(),
        "tcp://nowhere".to_string(),
        format!("tcp://127.0.0.1:{closed}"),
        format!("tcp://127.0.0.1:{closed}?fallback=nats://h:1"),
        format!("redis://127.0.0.1:{closed}"),
        format!("memcached://127.0.0.1:{closed}"),
        format!("memcached://127.0.0.1:{closed}?colour=blue"),
        format!("sqs://us-east-1/p?endpoint=http://127.0.0.1:{closed}"),
        "sqs://us-east-1/bad.prefix".to_string(),
        "nats://h:1".to_string(),
    ];
    for spec in &specs {
        let mut job = JobSpec::new(2, spec.clone()).unwrap();
        job.setup_timeout = Duration::from_secs(2);
        job.timeout = Duration::from_secs(2);
        let text = job.to_string();
        for rank in [0, 2] {
            let joined = runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), fccl::connect(&job, rank)).await
            });
            let e = match joined.expect("connect ends within its set-up timeout") {
                Ok(_) => panic!("{spec}: joined a job that cannot be joined"),
                Err(e) => e,
            };
            assert_clean(&e, &job.secret, &text, &format!("{spec} rank {rank}"));
        }
    }
}

/// Job ids are 16 bytes, 10,000 fresh ones are all distinct, and their bits are balanced
/// (each of the 128 bit positions set in about half of them: within 6 standard deviations),
/// as draws of the OS-seeded generator are; ids drawn on other threads (each with its own
/// generator, seeded from the OS) differ from them too. Secrets likewise.
#[test]
fn job_ids_and_secrets_are_fresh_random_values() {
    const N: usize = 10_000;
    let ids: Vec<JobId> = (0..N).map(|_| JobId::random()).collect();
    let secrets: Vec<Secret> = (0..N).map(|_| Secret::random()).collect();
    let other_thread: Vec<JobId> = std::thread::spawn(|| (0..N).map(|_| JobId::random()).collect())
        .join()
        .unwrap();
    let distinct: HashSet<[u8; 16]> = ids.iter().chain(&other_thread).map(|id| id.0).collect();
    assert_eq!(distinct.len(), 2 * N);
    let distinct: HashSet<[u8; 32]> = secrets.iter().map(|s| *s.bytes()).collect();
    assert_eq!(distinct.len(), N);
    // A set bit per draw is a fair coin: N/2 on average, sqrt(N)/2 = 50 standard deviation.
    let balanced = |bits: &mut dyn Iterator<Item = &[u8]>, width: usize| {
        let mut ones = vec![0usize; width * 8];
        for b in bits {
            assert_eq!(b.len(), width);
            for (i, count) in ones.iter_mut().enumerate() {
                *count += usize::from(b[i / 8] >> (i % 8) & 1);
            }
        }
        for (i, &count) in ones.iter().enumerate() {
            assert!(
                count.abs_diff(N / 2) < 6 * 50,
                "bit {i} set {count} times in {N}"
            );
        }
    };
    balanced(&mut ids.iter().map(|id| &id.0[..]), 16);
    balanced(&mut secrets.iter().map(|s| &s.bytes()[..]), 32);
    // Fresh jobs get fresh ids and secrets.
    let a = JobSpec::new(2, "tcp").unwrap();
    let b = JobSpec::new(2, "tcp").unwrap();
    assert_ne!((a.id, a.secret.bytes()), (b.id, b.secret.bytes()));
}
