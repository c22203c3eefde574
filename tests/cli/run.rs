//! `fccl run`: N processes of a program, output passed through by rank, failures end the
//! whole job.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{
    Running, TempDir, eventually, fccl, gone, pids, recording_rank, run, signal, wait,
};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn every_line_is_prefixed_with_its_rank() {
    let done = run(
        fccl().args([
            "run",
            "-n",
            "3",
            "--",
            "sh",
            "-c",
            "echo rank $FCCL_RANK of $FCCL_SIZE; echo to stderr $FCCL_RANK >&2",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let mut lines: Vec<&str> = done.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["[0] rank 0 of 3", "[1] rank 1 of 3", "[2] rank 2 of 3"],
        "{done:?}"
    );
    for rank in 0..3 {
        assert!(
            done.stderr
                .contains(&format!("[{rank}] to stderr {rank}\n")),
            "{done:?}"
        );
    }
}

#[test]
fn each_rank_gets_the_job_and_its_rank() {
    let done = run(
        fccl().args([
            "run",
            "-n",
            "2",
            "--transport",
            "tcp?mesh=full",
            "--",
            "sh",
            "-c",
            "echo \"$FCCL_RANK $FCCL_JOB\"; [ -n \"$FCCL_RENDEZVOUS_TOKEN\" ] && echo token",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{done:?}");
    let jobs: Vec<fccl::JobSpec> = done
        .stdout
        .lines()
        .filter_map(|l| l.rsplit_once(' ').map(|(_, job)| job))
        .filter(|job| job.starts_with("fccl1:"))
        .map(|job| job.parse().expect("a job string"))
        .collect();
    assert_eq!(jobs.len(), 2, "{done:?}");
    assert_eq!(jobs[0], jobs[1]);
    assert_eq!(jobs[0].size, 2);
    let server = jobs[0]
        .transport
        .strip_prefix("tcp://127.0.0.1:")
        .expect("tcp");
    assert!(server.ends_with("?mesh=full"), "{}", jobs[0].transport);
    assert_eq!(done.stdout.matches("token").count(), 2, "{done:?}");
}

#[test]
fn a_failed_rank_fails_the_job_at_once() {
    let done = run(
        fccl().args([
            "run",
            "-n",
            "3",
            "--",
            "sh",
            "-c",
            "if [ $FCCL_RANK = 1 ]; then exit 3; fi; sleep 30",
        ]),
        LIMIT,
    );
    assert!(!done.status.success(), "{done:?}");
    assert!(done.elapsed < Duration::from_secs(10), "{done:?}");
    assert!(
        done.stderr
            .contains("fccl run: rank 1 failed (exit code 3)"),
        "{done:?}"
    );
}

#[test]
fn a_failed_rank_leaves_no_process_behind() {
    let out = TempDir::new("orphans");
    // Rank 1 fails once every rank (and its background child) has recorded its pid.
    let then = "if [ $FCCL_RANK = 1 ]; then i=0; \
                while [ $(ls $OUT | grep -c 'pid$') -lt 6 ] && [ $i -lt 400 ]; \
                do sleep 0.05; i=$((i+1)); done; exit 3; fi";
    let done = run(
        fccl().env("OUT", out.path()).args([
            "run",
            "-n",
            "3",
            "--",
            "sh",
            "-c",
            &recording_rank(then),
        ]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(3), "{done:?}");
    assert!(done.elapsed < Duration::from_secs(20), "{done:?}");
    assert!(done.stderr.contains("rank 1 failed"), "{done:?}");
    let pids = pids(out.path());
    assert_eq!(pids.len(), 6, "{pids:?}");
    assert!(
        eventually(Duration::from_secs(5), || pids.iter().all(|&p| gone(p))),
        "still running: {:?}",
        pids.iter().filter(|&&p| !gone(p)).collect::<Vec<_>>()
    );
}

#[test]
fn a_rank_killed_by_a_signal_is_named() {
    let done = run(
        fccl().args([
            "run",
            "-n",
            "2",
            "--",
            "sh",
            "-c",
            "if [ $FCCL_RANK = 0 ]; then kill -KILL $$; fi; sleep 30",
        ]),
        LIMIT,
    );
    assert!(
        done.stderr
            .contains("fccl run: rank 0 failed (killed by signal 9)"),
        "{done:?}"
    );
    assert_eq!(done.status.code(), Some(128 + 9), "{done:?}");
}

#[test]
fn sigterm_stops_every_rank() {
    let out = TempDir::new("sigterm");
    let mut launcher = Running(
        fccl()
            .env("OUT", out.path())
            .args(["run", "-n", "2", "--", "sh", "-c", &recording_rank("true")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fccl run starts"),
    );
    assert!(
        eventually(LIMIT, || pids(out.path()).len() == 4),
        "the ranks did not start"
    );
    let pids = pids(out.path());
    signal(launcher.0.id(), "TERM");
    let status = wait(&mut launcher.0, Duration::from_secs(20)).expect("fccl run stops");
    assert_eq!(status.code(), Some(128 + 15), "{status:?}");
    assert!(
        eventually(Duration::from_secs(5), || pids.iter().all(|&p| gone(p))),
        "still running: {pids:?}"
    );
}

#[test]
fn a_program_that_cannot_start_is_named() {
    let done = run(fccl().args(["run", "-n", "2", "--", "/nonexistent"]), LIMIT);
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(
        done.stderr.contains("cannot start /nonexistent"),
        "{done:?}"
    );
    let done = run(fccl().args(["run", "--", "/nonexistent"]), LIMIT);
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(done.stderr.contains("--ranks"), "{done:?}");
}

#[test]
fn local_transport_is_refused() {
    let done = run(
        fccl().args(["run", "-n", "2", "--transport", "local", "--", "true"]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{done:?}");
    assert!(done.stderr.contains("threads of one process"), "{done:?}");
}
