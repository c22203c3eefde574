//! The command line: `fccl <subcommand>`, in the style of cargo.

mod bench;
mod job;
mod output;
mod rendezvous;
mod run;

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
    /// Run N processes of a program as the ranks of one job (like mpirun).
    Run(run::RunArgs),
    /// Run a rendezvous server, through which the ranks of tcp jobs find each other.
    Rendezvous(rendezvous::RendezvousArgs),
    /// Make job strings for ranks started elsewhere.
    Job(job::JobArgs),
}

/// Parses the command line and runs the subcommand.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::main(args),
        Command::Run(args) => run::main(args),
        Command::Rendezvous(args) => rendezvous::main(args),
        Command::Job(args) => job::main(args),
    }
}

/// Prints `message` as an error and returns the exit code for failures that are not about
/// results (bad arguments, a transport that failed).
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// A default timeout in whole milliseconds, for options' defaults.
const fn millis(timeout: std::time::Duration) -> u64 {
    timeout.as_millis() as u64
}
