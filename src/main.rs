//! The `fccl` command-line program.

mod cli;

/// mimalloc keeps freed memory for reuse instead of handing it back to the system at once,
/// so the buffers a large collective frees and allocates again do not page-fault anew on
/// every message (glibc's allocator returned them, and refaulting cost about a tenth of a
/// 64 MiB allreduce on loopback).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // The library's warnings on standard error, at the level of FCCL_LOG (`warn` unless
    // set: `info`, `debug`, or a filter such as `fccl_transports=debug`).
    let filter = tracing_subscriber::EnvFilter::try_from_env("FCCL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    cli::main()
}
