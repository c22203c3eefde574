//! The command line: `fccl <subcommand>`, in the style of cargo.

mod bench;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// fccl: MPI/NCCL-style collective communication for serverless functions.
#[derive(Debug, Parser)]
#[command(name = "fccl", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure a collective over a range of sizes (an nccl-tests-style table).
    Bench(bench::BenchArgs),
}

/// Parses the command line and runs the subcommand.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::main(args),
    }
}

/// Prints `message` as an error and returns the exit code for failures that are not about
/// results (bad arguments, a transport that failed).
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
