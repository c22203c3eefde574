//! The one tokio runtime every communicator of the process runs on.
//!
//! A multi-thread runtime, started on first use and never shut down: its worker threads
//! drive the transports' I/O and the operations queued on every communicator, so that a
//! non-blocking operation progresses while the caller computes. A blocking call waits on a
//! channel; it never runs the runtime on the caller's thread. The number of worker threads
//! is `FCCL_THREADS` (default 2).
//!
//! The runtime's threads do not survive `fork`: a process that forks must create its
//! communicators after the fork.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

use crate::error::Fail;

/// The environment variable that sets the runtime's worker threads.
const THREADS_ENV: &str = "FCCL_THREADS";

/// The runtime, started on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, Fail> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let threads = std::env::var(THREADS_ENV)
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .filter(|&t| t > 0)
                .unwrap_or(2);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("fccl-runtime")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start fccl's runtime: {e}"))
        })
        .as_ref()
        .map_err(|message| Fail {
            code: crate::error::FCCL_ERR_INTERNAL,
            message: message.clone(),
        })
}
