//! The command line: `fccl bench ...` (the other subcommands of DESIGN §5 come later).

mod bench;
mod sizes;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// fccl, the FaaS Collective Communication Library.
#[derive(Debug, Parser)]
#[command(name = "fccl", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Time a collective over a range of sizes, nccl-tests style, checking every result.
    Bench(bench::BenchArgs),
}

/// Parses the command line and runs it; exit code 1 when a benchmark result is wrong, 2 on
/// any other error.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bench(args) => bench::run(args, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
