//! `fccl bench`: runs the benchmark harness on N in-process ranks and reports.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use fccl_benches::sizes::{parse_sizes, shapes};
use fccl_benches::{BenchRecord, BenchSpec, Event, run, table};
use fccl_collectives::{Algorithm, Collective, DataType, Error, ErrorKind, ReduceOp, local};

use super::fail;
use super::output::Output;

/// Sizes in bytes, parsed from `MIN:MAX`, `A,B,C` or one size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sizes(Vec<usize>);

impl std::str::FromStr for Sizes {
    type Err = Error;
    fn from_str(s: &str) -> Result<Sizes, Error> {
        parse_sizes(s).map(Sizes)
    }
}

/// Arguments of `fccl bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The collective: allreduce, reduce, broadcast, reduce_scatter, allgather, alltoall,
    /// alltoallv, gather, scatter, scan, exscan, barrier or sendrecv.
    collective: Collective,
    /// Number of ranks.
    #[arg(short = 'n', long = "ranks", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    ranks: u32,
    /// Transport spec (`local`: ranks as threads of this process).
    #[arg(long, default_value = "local")]
    transport: String,
    /// Sizes in bytes: MIN:MAX (doubling), a list 8,1K,1M, or one size; suffixes K, M, G.
    #[arg(long, default_value = "8:16M")]
    sizes: Sizes,
    /// Element type: i8 u8 i32 u32 i64 u64 f16 f32 f64 bf16.
    #[arg(long, default_value = "f32")]
    dtype: DataType,
    /// Reduction of reducing collectives: sum, prod, max, min or avg.
    #[arg(long, default_value = "sum")]
    op: ReduceOp,
    /// Timed iterations per size.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// Untimed warm-up iterations per size.
    #[arg(long, default_value_t = 5)]
    warmup: u32,
    /// Force this algorithm instead of the selector's choice (ring, binomial, ...).
    #[arg(long)]
    algo: Option<Algorithm>,
    /// Root rank of reduce, broadcast, gather and scatter.
    #[arg(long, default_value_t = 0)]
    root: usize,
    /// Write one JSON object per size to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Give up on a collective after this many milliseconds without progress.
    #[arg(long, value_name = "T")]
    timeout_ms: Option<u64>,
}

impl BenchArgs {
    fn spec(&self) -> BenchSpec {
        let mut spec = BenchSpec::new(self.collective, self.sizes.0.clone());
        spec.dtype = self.dtype;
        spec.op = self.op;
        spec.iters = self.iters as usize;
        spec.warmup = self.warmup as usize;
        spec.algorithm = self.algo;
        spec.root = self.root;
        spec.transport = self.transport.clone();
        spec
    }
}

/// Refuses what this build cannot run yet: being one rank of a job started elsewhere, and
/// transports other than `local`.
fn check_supported(transport: &str, fccl_rank: Option<&str>) -> Result<(), String> {
    if let Some(rank) = fccl_rank {
        return Err(format!(
            "FCCL_RANK is set ({rank}): running as one rank of a multi-process job comes with \
             the tcp transport, which is not built yet; unset FCCL_RANK to run all ranks here"
        ));
    }
    if transport != "local" {
        return Err(format!(
            "transport {transport} is not built yet (only `local` is available)"
        ));
    }
    Ok(())
}

/// Runs `fccl bench`.
pub(super) fn main(args: BenchArgs) -> ExitCode {
    let fccl_rank = std::env::var("FCCL_RANK").ok();
    if let Err(e) = check_supported(&args.transport, fccl_rank.as_deref()) {
        return fail(e);
    }
    let spec = args.spec();
    let ranks = args.ranks as usize;
    if let Err(e) = spec.validate(ranks) {
        return fail(e);
    }
    let points = shapes(spec.collective, ranks, spec.dtype, &spec.sizes).len();
    let output = match Output::open(args.json.as_deref(), points) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let timeout = args.timeout_ms.map(Duration::from_millis);
    match bench_local(&spec, ranks, timeout, output) {
        Ok(records) => verdict(&records),
        Err(e) => fail(e),
    }
}

/// Runs `spec` on `ranks` in-process ranks; rank 0 streams its records to `output`.
fn bench_local(
    spec: &BenchSpec,
    ranks: usize,
    timeout: Option<Duration>,
    output: Output,
) -> Result<Vec<BenchRecord>, String> {
    let mut output = output;
    output
        .header(&table::header(spec, ranks))
        .map_err(|e| e.to_string())?;
    let output = Mutex::new(output);
    let results = local::run(ranks, |mut comm| {
        let output = &output;
        async move {
            if let Some(t) = timeout {
                comm.set_timeout(t);
            }
            let lead = comm.rank() == 0;
            let mut observe = |event: Event<'_>| {
                if lead {
                    let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
                    output.event(&event);
                }
            };
            run(&mut comm, spec, &mut observe).await
        }
    });
    let output = output.into_inner().unwrap_or_else(PoisonError::into_inner);
    output
        .finish()
        .map_err(|e| format!("cannot write the results: {e}"))?;
    first_cause(results).map_err(|e| e.to_string())
}

/// Rank 0's records, or the error that most likely caused the failure: the first that is
/// not a reaction to another rank's failure.
fn first_cause(results: Vec<Result<Vec<BenchRecord>, Error>>) -> Result<Vec<BenchRecord>, Error> {
    let errors: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(e) = errors
        .iter()
        .find(|e| e.kind() != ErrorKind::Remote)
        .or(errors.first())
    {
        return Err((*e).clone());
    }
    results.into_iter().next().expect("at least one rank")
}

/// Exit code 0 if every point was correct; otherwise says which were not and returns 1.
fn verdict(records: &[BenchRecord]) -> ExitCode {
    let wrong: Vec<&BenchRecord> = records.iter().filter(|r| !r.correct).collect();
    if wrong.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("{}", wrong_points(records.len(), &wrong));
    ExitCode::from(1)
}

fn wrong_points(total: usize, wrong: &[&BenchRecord]) -> String {
    let mut message = format!(
        "error: {} of {total} points gave wrong results:",
        wrong.len()
    );
    for r in wrong {
        let at = r.first_wrong.map_or_else(String::new, |w| {
            format!(": first wrong element {} on rank {}", w.index, w.rank)
        });
        message.push_str(&format!(
            "\n  {} {} B ({} x {}, {}, algorithm {}){at}",
            r.collective, r.bytes, r.count, r.dtype, r.op, r.algorithm
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn parse(line: &str) -> Result<BenchArgs, clap::Error> {
        let cli = Cli::try_parse_from(line.split_whitespace())?;
        let super::super::Command::Bench(args) = cli.command;
        Ok(args)
    }

    #[test]
    fn defaults_are_short_and_nccl_like() {
        let spec = parse("fccl bench allreduce").unwrap().spec();
        assert_eq!(spec.collective, Collective::AllReduce);
        assert_eq!((spec.dtype, spec.op), (DataType::Float32, ReduceOp::Sum));
        assert_eq!((spec.iters, spec.warmup, spec.root), (20, 5, 0));
        assert_eq!(spec.sizes.first(), Some(&8));
        assert_eq!(spec.sizes.last(), Some(&(16 << 20)));
        assert_eq!(spec.transport, "local");
        assert_eq!(parse("fccl bench allreduce").unwrap().ranks, 4);
    }

    #[test]
    fn every_option_parses() {
        let args = parse(
            "fccl bench reduce-scatter -n 8 --sizes 1K,4M --dtype bf16 --op max --iters 3 \
             --warmup 0 --algo ring --json out.json --timeout-ms 500 --root 2",
        )
        .unwrap();
        assert_eq!(args.ranks, 8);
        assert_eq!(args.timeout_ms, Some(500));
        assert_eq!(args.json.as_deref(), Some(std::path::Path::new("out.json")));
        let spec = args.spec();
        assert_eq!(spec.collective, Collective::ReduceScatter);
        assert_eq!(spec.sizes, vec![1024, 4 << 20]);
        assert_eq!((spec.dtype, spec.op), (DataType::Bfloat16, ReduceOp::Max));
        assert_eq!((spec.iters, spec.warmup, spec.root), (3, 0, 2));
        assert_eq!(spec.algorithm, Some(Algorithm::Ring));
    }

    #[test]
    fn bad_arguments_are_refused() {
        for line in [
            "fccl bench allreduse",
            "fccl bench allreduce -n 0",
            "fccl bench allreduce --iters 0",
            "fccl bench allreduce --sizes 1X",
            "fccl bench allreduce --sizes 64:8",
            "fccl bench allreduce --dtype f8",
            "fccl bench allreduce --op xor",
            "fccl bench allreduce --algo fastest",
            "fccl bench",
            "fccl run",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        assert!(
            Cli::try_parse_from(["fccl", "--version"])
                .is_err_and(|e| { e.kind() == clap::error::ErrorKind::DisplayVersion })
        );
    }

    #[test]
    fn unbuilt_transports_and_multi_process_jobs_are_refused_clearly() {
        assert!(check_supported("local", None).is_ok());
        let e = check_supported("tcp://1.2.3.4:5", None).unwrap_err();
        assert!(
            e.contains("transport tcp://1.2.3.4:5 is not built yet"),
            "{e}"
        );
        let e = check_supported("local", Some("3")).unwrap_err();
        assert!(e.contains("FCCL_RANK") && e.contains("tcp"), "{e}");
    }

    #[test]
    fn runs_and_writes_one_json_line_per_point() {
        let dir = std::env::temp_dir().join(format!("fccl-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench.json");
        for collective in ["allreduce", "broadcast", "alltoallv", "barrier", "sendrecv"] {
            let line = format!(
                "fccl bench {collective} -n 3 --sizes 8:1K --iters 2 --warmup 1 --json {}",
                path.display()
            );
            let args = parse(&line).unwrap();
            let spec = args.spec();
            let output = Output::open(args.json.as_deref(), 0).unwrap();
            let records = bench_local(&spec, 3, None, output).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let written: Vec<String> = records.iter().map(BenchRecord::to_json).collect();
            assert_eq!(text.lines().collect::<Vec<_>>(), written);
            let lines: Vec<BenchRecord> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let want = if collective == "barrier" { 1 } else { 8 };
            assert_eq!(lines.len(), want, "{collective}");
            assert!(lines.iter().all(|r| r.correct && r.ranks == 3));
            let object: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            for field in [
                "collective",
                "transport",
                "ranks",
                "dtype",
                "op",
                "bytes",
                "count",
                "algorithm",
                "iters",
                "time_us",
                "time_us_min",
                "time_us_max",
                "algbw_gbps",
                "busbw_gbps",
                "correct",
                "peak_rss_mb",
            ] {
                assert!(object.get(field).is_some(), "{field} missing in {object}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_points_fail_the_run_and_are_named() {
        let spec = BenchSpec::new(Collective::Gather, vec![64]);
        let output = Output::open(None, 0).unwrap();
        let mut records = bench_local(&spec, 2, None, output).unwrap();
        assert_eq!(verdict(&records), ExitCode::SUCCESS);
        records[0].correct = false;
        records[0].first_wrong = Some(fccl_benches::WrongAt { rank: 1, index: 7 });
        assert_eq!(verdict(&records), ExitCode::from(1));
        let message = wrong_points(1, &[&records[0]]);
        assert!(
            message.contains("first wrong element 7 on rank 1"),
            "{message}"
        );
        assert!(
            message.contains("1 of 1 points") && message.contains("gather 64 B"),
            "{message}"
        );
    }

    #[test]
    fn the_first_non_remote_error_is_the_cause() {
        let remote = Error::new(ErrorKind::Remote, "rank 1 failed");
        let timeout = Error::new(ErrorKind::Timeout, "waited");
        let e = first_cause(vec![Err(remote.clone()), Err(timeout), Ok(vec![])]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = first_cause(vec![Ok(vec![]), Err(remote)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        assert_eq!(first_cause(vec![Ok(vec![]), Ok(vec![])]).unwrap(), vec![]);
    }
}
