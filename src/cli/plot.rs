//! `fccl plot`: draws the JSON lines of one or more `fccl bench --json` runs in one
//! picture, one line per collective, transport, rank count, element type and reduction.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use fccl_benches::BenchRecord;
use fccl_benches::plot::{PlotFormat, write_plot};

use super::fail;

/// Arguments of `fccl plot`.
#[derive(Debug, Args)]
pub(crate) struct PlotArgs {
    /// JSON-lines files written by `fccl bench --json`.
    #[arg(required = true, value_name = "FILE.jsonl")]
    inputs: Vec<PathBuf>,
    /// The picture to write: SVG or PNG, by its extension.
    #[arg(short = 'o', long = "output", value_name = "FILE.svg|FILE.png")]
    output: PathBuf,
}

/// Runs `fccl plot`.
pub(super) fn main(args: PlotArgs) -> ExitCode {
    match plot(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn plot(args: &PlotArgs) -> Result<(), String> {
    PlotFormat::of(&args.output)?;
    let mut records = Vec::new();
    for path in &args.inputs {
        records.extend(read_records(path)?);
    }
    write_plot(&records, &args.output)
}

/// The records of a JSON-lines file written by `fccl bench --json` (blank lines skipped).
pub(super) fn read_records(path: &Path) -> Result<Vec<BenchRecord>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                format!(
                    "{} line {}: not a record of fccl bench: {e}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}
