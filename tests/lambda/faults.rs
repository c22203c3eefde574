//! Jobs that fail: a rank that panics, returns an error, or runs past its deadline is
//! reported as that rank's failure, the others end with an error (not a hang), and the
//! launcher exits non-zero; bad input is refused with a clear message.

use std::time::Duration;

use crate::emulator::Emulator;
use crate::support::{Finished, fccl, rendezvous, run};
use crate::{launch, launch_function};

/// No run here may take longer; each ends in well under half of it.
const LIMIT: Duration = Duration::from_secs(60);

/// A short bench, enough to need every rank.
const BENCH: [&str; 8] = [
    "bench",
    "allreduce",
    "--sizes",
    "8:1K",
    "--iters",
    "2",
    "--warmup",
    "1",
];

/// Runs [`BENCH`] on four functions, rank `rank` of which has `fault`, with `options`.
fn with_fault(rank: usize, fault: &str, options: &[&str]) -> Option<Finished> {
    let fault = format!("{rank}:{fault}");
    let emulator = Emulator::start(4, &[("FCCL_WORKER_FAULT", &fault)])?;
    let (_server, addr) = rendezvous();
    let transport = format!("tcp://{addr}");
    let done = run(
        &mut launch(&emulator.endpoint(), 4, &transport, options, &BENCH),
        LIMIT,
    );
    eprintln!("{done:?}");
    Some(done)
}

/// Checks that the ranks but `faulty` failed with an error of their own.
fn others_failed(done: &Finished, faulty: usize) {
    for rank in (0..4).filter(|&r| r != faulty) {
        assert!(
            done.stderr.contains(&format!("rank {rank} failed: ")),
            "rank {rank}: {done:?}"
        );
    }
    assert!(done.stderr.contains("4 ranks: 0 succeeded"), "{done:?}");
}

#[test]
fn a_rank_that_panics_is_reported_and_the_others_fail() {
    let Some(done) = with_fault(1, "panic", &["--setup-timeout-ms", "5000"]) else {
        return;
    };
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr
            .contains("rank 1 failed: function error (Unhandled): Lambda panicked: FCCL_WORKER_FAULT: rank 1 panics on purpose"),
        "{done:?}"
    );
    others_failed(&done, 1);
    assert!(done.elapsed < Duration::from_secs(30), "{done:?}");
}

#[test]
fn a_rank_that_returns_an_error_is_reported_and_the_others_fail() {
    let Some(done) = with_fault(2, "error", &["--setup-timeout-ms", "5000"]) else {
        return;
    };
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr.contains(
            "rank 2 failed: function error (Unhandled, FcclFault): FCCL_WORKER_FAULT: rank 2 \
             fails on purpose"
        ),
        "{done:?}"
    );
    others_failed(&done, 2);
    assert!(done.elapsed < Duration::from_secs(30), "{done:?}");
}

#[test]
fn a_rank_past_its_deadline_times_out_and_the_others_fail() {
    // The rank hangs in its job; its deadline (the launcher's time limit, 8 s) ends it a
    // second early, and the others give up on it by their set-up timeout (3 s).
    let options = ["--time-limit-ms", "8000", "--setup-timeout-ms", "3000"];
    let Some(done) = with_fault(3, "hang", &options) else {
        return;
    };
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert!(
        done.stderr
            .contains("rank 3 timed out: rank 3 stopped 1000 ms before its invocation's deadline"),
        "{done:?}"
    );
    others_failed(&done, 3);
    assert!(done.stderr.contains("3 failed, 1 timed out"), "{done:?}");
    assert!(done.elapsed < Duration::from_secs(30), "{done:?}");
}

#[test]
fn an_unknown_function_or_an_absent_emulator_is_said_clearly() {
    let Some(emulator) = Emulator::start(2, &[]) else {
        return;
    };
    let (_server, addr) = rendezvous();
    let transport = format!("tcp://{addr}");
    let endpoint = emulator.endpoint();
    let mut unknown = launch_function("no-such-function", &endpoint, 2, &transport, &[], &BENCH);
    let done = run(&mut unknown, LIMIT);
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(
        done.stderr
            .contains("rank 0 could not be invoked: there is no function no-such-function"),
        "{done:?}"
    );
    assert!(done.elapsed < Duration::from_secs(10), "{done:?}");

    let done = run(
        &mut launch(&endpoint, 2, &transport, &[], &["ls", "-l"]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    for rank in 0..2 {
        let says = format!("rank {rank} failed: ls is not a built-in job a worker runs");
        assert!(done.stderr.contains(&says), "{done:?}");
    }

    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let nobody = format!("http://{free}");
    let done = run(&mut launch(&nobody, 2, &transport, &[], &BENCH), LIMIT);
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(
        done.stderr
            .contains("could not be invoked: cannot reach the Lambda endpoint"),
        "{done:?}"
    );
    assert!(done.stderr.contains("is it running?"), "{done:?}");
}

#[test]
fn a_malformed_payload_to_the_worker_is_refused_clearly() {
    // `fccl` with no arguments, as a function's bootstrap, is `fccl worker`.
    let Some(emulator) = Emulator::start(1, &[("FCCL_TEST_BOOTSTRAP", "1")]) else {
        return;
    };
    for (payload, says) in [
        (
            r#"{"hello": 1}"#,
            "malformed fccl payload (unknown field `hello`",
        ),
        (r#"{"job": "fccl1:nope", "rank": 0}"#, "payload's job"),
        ("[1, 2]", "malformed fccl payload"),
    ] {
        let (status, body) = emulator.invoke_raw("fccl", payload);
        // Lambda answers a function error with 200 and X-Amz-Function-Error; the emulator
        // with 500. Either way the body is the function's error.
        assert!(status == 200 || status == 500, "{status} {body}");
        let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["errorType"], "FcclInvalidPayload", "{body}");
        let message = error["errorMessage"].as_str().expect("a message");
        assert!(message.contains(says), "{payload}: {message}");
    }
}

#[test]
fn the_worker_outside_lambda_and_commands_that_are_not_jobs_are_refused() {
    let done = run(
        fccl().arg("worker").env_remove("AWS_LAMBDA_RUNTIME_API"),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(
        done.stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{done:?}"
    );
    for (transport, command, says) in [
        ("tcp", "bench allreduce", "functions cannot reach"),
        (
            "tcp://127.0.0.1:9",
            "bench allreduce -n 3",
            "-n 3 does not match",
        ),
        ("tcp://127.0.0.1:9", "bench nonsense", "unknown collective"),
    ] {
        let command: Vec<&str> = command.split(' ').collect();
        let done = run(
            &mut launch("http://127.0.0.1:9", 2, transport, &[], &command),
            LIMIT,
        );
        assert_eq!(done.status.code(), Some(2), "{done:?}");
        assert!(
            done.stderr.contains(says),
            "{transport} {command:?}: {done:?}"
        );
    }
    let done = run(
        fccl().args(["run", "-n", "2", "--function", "f", "--", "true"]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(
        done.stderr
            .contains("--function is an option of --launcher lambda"),
        "{done:?}"
    );
}
