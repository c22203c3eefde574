//! The command line: `fccl <subcommand>`, in the style of cargo.

mod bench;
mod job;
mod output;
mod plot;
mod rendezvous;
mod run;
mod run_lambda;
mod train;
mod worker;

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
    /// Draw the JSON of `fccl bench` runs (time and bus bandwidth against size) as SVG.
    Plot(plot::PlotArgs),
    /// Train a model on N ranks (synchronous SGD, a parameter server or local SGD).
    Train(train::TrainArgs),
    /// Serve one rank of a built-in job per invocation, as an AWS Lambda function's handler
    /// (what `fccl run --launcher lambda` invokes).
    Worker(worker::WorkerArgs),
}

/// Parses the command line and runs the subcommand. With no arguments in a Lambda
/// environment (`AWS_LAMBDA_RUNTIME_API` set) it is `fccl worker`, so that the program
/// deploys as a function's `bootstrap` as it is.
pub(crate) fn main() -> ExitCode {
    if std::env::args_os().len() == 1 && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return worker::main(worker::WorkerArgs {});
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => bench::main(args),
        Command::Run(args) => run::main(args),
        Command::Rendezvous(args) => rendezvous::main(args),
        Command::Job(args) => job::main(args),
        Command::Plot(args) => plot::main(args),
        Command::Train(args) => train::main(args),
        Command::Worker(args) => worker::main(args),
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

/// The timeouts of a job that `fccl job new` and `fccl run` mint.
#[derive(Clone, Copy, Debug, clap::Args)]
pub(crate) struct JobTimeouts {
    /// Collective timeout of the job in milliseconds.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = millis(fccl::JobSpec::DEFAULT_TIMEOUT))]
    timeout_ms: u64,
    /// How long joining the job may take, in milliseconds.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = millis(fccl::JobSpec::DEFAULT_SETUP_TIMEOUT))]
    setup_timeout_ms: u64,
}

impl JobTimeouts {
    /// The collective timeout.
    pub(crate) fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }

    /// The set-up timeout.
    pub(crate) fn setup_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.setup_timeout_ms)
    }
}
