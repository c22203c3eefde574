//! The `fccl` command-line program.

mod cli;

/// mimalloc keeps freed memory for reuse instead of handing it back to the system at once,
/// so the buffers a large collective frees and allocates again do not page-fault anew on
/// every message (glibc's allocator returned them, and refaulting cost about a tenth of a
/// 64 MiB allreduce on loopback).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
