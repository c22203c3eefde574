//! The conformance suite over tcp with every rank a process of its own, joined as ranks
//! started elsewhere are: `FCCL_JOB` and `FCCL_RANK` in the environment, and
//! `fccl::init_from_env()`. The test re-runs this test binary once per rank (the `rank`
//! test below, which does nothing unless it is such a child).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Tells a child run of this binary that it is a rank.
const CHILD: &str = "FCCL_TEST_CONFORMANCE_RANK";

/// How long a whole job may take before its ranks are killed.
const JOB_LIMIT: Duration = Duration::from_secs(240);

/// One rank: runs the suite on the communicator from the environment and fails if any case
/// failed on this rank. Not a test of its own outside a child run.
#[test]
fn rank() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let failures = runtime.block_on(async {
        let comm = fccl::init_from_env().await.expect("the rank joins its job");
        fccl_tests::conformance::run_process_rank(comm).await
    });
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn spawn_rank(job: &str, rank: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "rank", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("FCCL_JOB", job)
        .env("FCCL_RANK", rank.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a rank process")
}

/// Waits for every rank, killing all of them at the job's limit; returns what failed.
fn wait_all(mut ranks: Vec<Child>) -> Vec<String> {
    let until = Instant::now() + JOB_LIMIT;
    let mut failed = Vec::new();
    for (r, child) in ranks.iter_mut().enumerate() {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                if !status.success() {
                    let mut err = String::new();
                    use std::io::Read;
                    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                    failed.push(format!("rank {r} exited with {status}:\n{err}"));
                }
                break;
            }
            if Instant::now() > until {
                failed.push(format!("rank {r} still ran after {JOB_LIMIT:?}"));
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    failed
}

fn suite_over_processes(n: usize) {
    let job = fccl_tests::tcp::job(n, "").to_string();
    let ranks: Vec<Child> = (0..n).map(|r| spawn_rank(&job, r)).collect();
    let failed = wait_all(ranks);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn two_processes() {
    suite_over_processes(2);
}

#[test]
fn five_processes() {
    suite_over_processes(5);
}

#[test]
fn eight_processes() {
    suite_over_processes(8);
}
