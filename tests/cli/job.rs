//! `fccl job new`: job strings for ranks started elsewhere.

use std::time::Duration;

use fccl::JobSpec;

use crate::support::{fccl, run};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn job_new_prints_a_fresh_job_string() {
    let new = || {
        let done = run(
            fccl().args([
                "job",
                "new",
                "--size",
                "4",
                "--transport",
                "tcp://127.0.0.1:7000?mesh=full",
                "--timeout-ms",
                "2500",
            ]),
            LIMIT,
        );
        assert!(done.status.success(), "{done:?}");
        assert_eq!(done.stdout.lines().count(), 1, "{done:?}");
        done.stdout
            .trim_end()
            .parse::<JobSpec>()
            .expect("a job string")
    };
    let (a, b) = (new(), new());
    assert_eq!(a.size, 4);
    assert_eq!(a.transport, "tcp://127.0.0.1:7000?mesh=full");
    assert_eq!(a.timeout, Duration::from_millis(2500));
    assert_ne!(a.id, b.id);
    assert_ne!(a.secret, b.secret);
}

#[test]
fn job_new_refuses_tcp_without_an_address() {
    let done = run(
        fccl().args(["job", "new", "--size", "2", "--transport", "tcp"]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(done.stdout.is_empty(), "{done:?}");
    assert!(
        done.stderr.contains("fccl run") && done.stderr.contains("tcp://HOST:PORT"),
        "{done:?}"
    );
}
