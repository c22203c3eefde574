//! Faults on purpose, for the tests of how a job of functions fails: set `FCCL_WORKER_FAULT`
//! to `RANK:KIND` in the function's environment and that rank, in every job, panics
//! (`panic`), returns a function error (`error`), or sleeps inside its job until its
//! invocation's deadline (`hang`). Unset, nothing happens.

use std::time::Duration;

use fccl::Rank;

/// The variable that names a fault.
const FAULT_ENV: &str = "FCCL_WORKER_FAULT";

/// The fault this process injects into `rank`'s invocations, if any.
fn fault(rank: Rank) -> Option<String> {
    let value = std::env::var(FAULT_ENV).ok()?;
    let (on, kind) = value.split_once(':')?;
    (on.trim().parse::<Rank>().ok()? == rank).then(|| kind.trim().to_string())
}

/// Before the job starts: `panic` panics, `error` fails the invocation.
pub(super) async fn before_job(rank: Rank) -> Result<(), String> {
    match fault(rank).as_deref() {
        Some("panic") => panic!("{FAULT_ENV}: rank {rank} panics on purpose"),
        Some("error") => Err(format!("{FAULT_ENV}: rank {rank} fails on purpose")),
        _ => Ok(()),
    }
}

/// Inside the job, bounded by the invocation's deadline: `hang` never returns.
pub(super) async fn in_job(rank: Rank) {
    if fault(rank).as_deref() == Some("hang") {
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}
