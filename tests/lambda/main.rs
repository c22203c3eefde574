//! `fccl run --launcher lambda` end to end against a local Lambda emulator
//! (`cargo lambda watch`) serving `fccl worker`: allreduce over tcp, memcached and SQS
//! across four functions, ranks that panic, fail or run past their deadline, and bad input.
//! Skipped without `cargo-lambda` (`pip install cargo-lambda`), except under CI.

mod emulator;
#[allow(dead_code)]
#[path = "../cli/support.rs"]
mod support;

mod faults;
mod jobs;

use std::process::Command;

use support::fccl;

/// `fccl run --launcher lambda --function fccl --endpoint ENDPOINT -n N --transport SPEC
/// OPTIONS -- COMMAND`, with keys the emulator does not check.
fn launch(
    endpoint: &str,
    ranks: usize,
    transport: &str,
    options: &[&str],
    command: &[&str],
) -> Command {
    launch_function("fccl", endpoint, ranks, transport, options, command)
}

/// [`launch`] of another function than `fccl`.
fn launch_function(
    function: &str,
    endpoint: &str,
    ranks: usize,
    transport: &str,
    options: &[&str],
    command: &[&str],
) -> Command {
    let mut run = fccl();
    run.args(["run", "--launcher", "lambda", "--function", function])
        .args(["--endpoint", endpoint, "--region", "us-east-1"])
        .args(["-n", &ranks.to_string(), "--transport", transport])
        .args(options)
        .arg("--")
        .args(command)
        .env("AWS_ACCESS_KEY_ID", "fccl-test")
        .env("AWS_SECRET_ACCESS_KEY", "fccl-test")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    run
}
