//! `fccl bench`: runs the benchmark harness on N ranks and reports.
//!
//! Three ways to run:
//! - `--transport local`: N ranks as threads of this process.
//! - any other transport (`tcp`, the default): N processes of this program started by the
//!   local launcher, each running this same command as one rank; rank 0 writes the report
//!   to this process's standard output.
//! - with `FCCL_RANK` (and `FCCL_JOB`) set: one rank of a job started elsewhere.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use fccl::launch::local::{Exit, LocalLaunch, StdoutMode};
use fccl::{Hint, JobSpec, Rank};
use fccl_benches::cost::{CostModel, Prices};
use fccl_benches::plot::{PlotFormat, write_plot};
use fccl_benches::sizes::{parse_sizes, shapes};
use fccl_benches::{BenchRecord, BenchSpec, Event, run, table};
use fccl_collectives::{Algorithm, Collective, DataType, Error, ErrorKind, ReduceOp, local};

use super::fail;
use super::output::Output;

/// The number of ranks when `-n` is not given.
const DEFAULT_RANKS: u32 = 4;

/// How long the other ranks of a multi-process run may take to see that one failed and say
/// so themselves, before the launcher kills them.
const FAILURE_GRACE: Duration = Duration::from_secs(3);

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
    /// Number of ranks [default: 4]. As one rank of a job (FCCL_RANK set) the job's size
    /// counts: -n may be left out, and if given must equal it.
    #[arg(short = 'n', long = "ranks", value_parser = clap::value_parser!(u32).range(1..))]
    ranks: Option<u32>,
    /// Transport spec: `tcp` runs each rank as a process of this program, connected by TCP
    /// through an embedded rendezvous server (`tcp?mesh=full` connects every pair up front);
    /// tcp://HOST:PORT uses a running `fccl rendezvous`; redis://HOST:PORT goes through a
    /// Redis server; several media joined by `+` (`tcp+redis://HOST:PORT`) let each size
    /// run over the medium the cost model favours (shown as algorithm@medium); `local` runs
    /// the ranks as threads of this process. As one rank of a job (FCCL_RANK set), the job's
    /// transport counts.
    #[arg(long, value_name = "SPEC", default_value = "tcp")]
    transport: String,
    /// With several media: choose each size's medium for the least time (`fast`) or the
    /// fewest dollars (`cheap`).
    #[arg(long, default_value = "fast")]
    hint: Hint,
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
    /// Draw the median time and the bus bandwidth against size to FILE (SVG or PNG, by
    /// its extension), as rank 0 sees them; `fccl plot` draws several runs' JSON in one
    /// picture.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<PathBuf>,
    /// Add each size's estimated dollars per 1,000 operations at this provider's list
    /// prices (the ranks' function time, queue requests, and the servers' hours); the JSON
    /// gets usd_per_op and its parts.
    #[arg(long, value_name = "PROVIDER")]
    cost: Option<CostProvider>,
    /// Use the prices in FILE (an edited copy of benches/prices/aws.json) for --cost.
    #[arg(long, value_name = "FILE")]
    prices: Option<PathBuf>,
}

/// Whose prices `--cost` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CostProvider {
    /// Amazon Web Services (Lambda, SQS, ElastiCache, EC2), US East.
    Aws,
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

    /// The rates of `--cost` for a job over `transport` (the whole spec: FIFO queues cost
    /// more), from `--prices FILE` or the built-in list; `None` without `--cost`.
    fn cost_model(&self, transport: &str) -> Result<Option<CostModel>, String> {
        let prices = match (self.cost, &self.prices) {
            (None, None) => return Ok(None),
            (None, Some(_)) => return Err("--prices needs --cost aws".to_string()),
            (Some(CostProvider::Aws), None) => Prices::aws(),
            (Some(CostProvider::Aws), Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| Prices::parse(&text))
                .map_err(|e| format!("--prices {}: {e}", path.display()))?,
        };
        Ok(Some(CostModel::new(&prices, transport)))
    }
}

/// Runs `fccl bench`.
pub(super) fn main(args: BenchArgs) -> ExitCode {
    match fccl::job_from_env() {
        Err(e) => fail(e),
        Ok(Some((job, rank))) => bench_rank(&args, &job, rank),
        Ok(None) if args.transport == "local" => bench_threads(&args),
        Ok(None) => bench_processes(&args, std::env::args_os().skip(1).collect()),
    }
}

/// Runs every rank as a thread of this process.
fn bench_threads(args: &BenchArgs) -> ExitCode {
    let mut spec = args.spec();
    spec.cost = match args.cost_model(&args.transport) {
        Ok(cost) => cost,
        Err(e) => return fail(e),
    };
    let ranks = args.ranks.unwrap_or(DEFAULT_RANKS) as usize;
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
        Ok(records) => plot_then_verdict(args, &records),
        Err(e) => fail(e),
    }
}

/// Runs every rank as a process of this program with the same arguments (`bench_args`),
/// each of which then takes the [`bench_rank`] path. Rank 0's standard output is this
/// process's; the other ranks' is dropped; every rank's standard error is passed through
/// with its rank.
fn bench_processes(args: &BenchArgs, bench_args: Vec<OsString>) -> ExitCode {
    let ranks = args.ranks.unwrap_or(DEFAULT_RANKS) as usize;
    if let Err(e) = args.spec().validate(ranks) {
        return fail(e);
    }
    if let Err(e) = args.cost_model(&args.transport) {
        return fail(e);
    }
    if let Some(Err(e)) = args.plot.as_deref().map(PlotFormat::of) {
        return fail(e);
    }
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot find this program to start the ranks: {e}")),
    };
    let mut launch = LocalLaunch::new(ranks, program);
    launch.args = bench_args;
    launch.transport = args.transport.clone();
    launch.timeout = args.timeout_ms.map(Duration::from_millis);
    launch.stdout = StdoutMode::LeadOnly;
    launch.grace = FAILURE_GRACE;
    launch.forward_signals = true;
    let outcome = match launch.run() {
        Ok(outcome) => outcome,
        Err(e) => return fail(e),
    };
    if outcome.interrupted.is_some() {
        return ExitCode::from(outcome.exit_code());
    }
    match outcome.failure {
        None => ExitCode::SUCCESS,
        // Wrong results: rank 0 has said which points.
        Some(f) if f.how == Exit::Code(1) => ExitCode::from(1),
        Some(f) => fail(format!("fccl bench: {f}")),
    }
}

/// Runs as `rank` of `job`, a job started elsewhere: rank 0 reports; every rank exits 1 if
/// a point was wrong (the ranks agree on that) and 2 on an error.
fn bench_rank(args: &BenchArgs, job: &JobSpec, rank: Rank) -> ExitCode {
    let spec = match job_spec(args, job) {
        Ok(spec) => spec,
        Err(e) => return fail(e),
    };
    let lead = rank == 0;
    let output = if lead {
        let points = shapes(spec.collective, job.size, spec.dtype, &spec.sizes).len();
        match Output::open(args.json.as_deref(), points) {
            Ok(o) => o,
            Err(e) => return fail(e),
        }
    } else {
        Output::quiet()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let records = runtime.block_on(async {
        let comm = fccl::connect(job, rank).await.map_err(|e| e.to_string())?;
        bench_joined(comm, args, &spec, output).await
    });
    match records {
        Ok(records) if lead => plot_then_verdict(args, &records),
        Ok(records) if records.iter().all(|r| r.correct) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => fail(e),
    }
}

/// The bench of `args` as one rank of `job`, checked against the job (its size, the
/// transport the report names).
pub(super) fn job_spec(args: &BenchArgs, job: &JobSpec) -> Result<BenchSpec, String> {
    ranks_of_job(args.ranks, job)?;
    let mut spec = args.spec();
    spec.cost = args.cost_model(&job.transport)?;
    // The report names the transport, not the job's rendezvous address.
    spec.transport = fccl::transport_name(&job.transport).to_string();
    spec.validate(job.size).map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Whether `args` send JSON lines to stdout (`--json -`).
pub(super) fn json_to_stdout(args: &BenchArgs) -> bool {
    args.json.as_deref() == Some(std::path::Path::new("-"))
}

/// Runs `spec` on `comm`, a communicator of a job just joined, with the options of `args`;
/// leaves the job after.
pub(super) async fn bench_joined(
    mut comm: fccl::Communicator,
    args: &BenchArgs,
    spec: &BenchSpec,
    output: Output,
) -> Result<Vec<BenchRecord>, String> {
    if let Some(t) = args.timeout_ms.map(Duration::from_millis) {
        comm.set_timeout(t);
    }
    comm.set_hint(args.hint);
    let records = bench_comm(&mut comm, spec, output).await;
    // Leave together: a rank that exits while peers still talk to it would reset
    // their connections.
    let _ = comm.close().await;
    records
}

/// Checks `-n` against the job's size: it may be left out, and must match if given.
fn ranks_of_job(ranks: Option<u32>, job: &JobSpec) -> Result<(), String> {
    match ranks {
        Some(n) if n as usize != job.size => Err(format!(
            "-n {n} does not match the size of the job in FCCL_JOB ({} ranks): leave -n out \
             or give the job's size",
            job.size
        )),
        _ => Ok(()),
    }
}

/// Runs `spec` on this rank's communicator, reporting to `output`.
async fn bench_comm(
    comm: &mut fccl::Communicator,
    spec: &BenchSpec,
    mut output: Output,
) -> Result<Vec<BenchRecord>, String> {
    output
        .header(&table::header(spec, comm.size(), comm.usage().is_some()))
        .map_err(|e| e.to_string())?;
    let mut observe = |event: Event<'_>| output.event(&event);
    let records = run(comm, spec, &mut observe).await;
    if records.is_ok() {
        let pairs = relayed_pairs(comm).await.map_err(|e| e.to_string())?;
        if let Some(note) = relayed_note(&pairs) {
            output.header(&note).map_err(|e| e.to_string())?;
        }
    }
    output
        .finish()
        .map_err(|e| format!("cannot write the results: {e}"))?;
    records.map_err(|e| e.to_string())
}

/// The pairs of ranks `(i, j)`, `i < j`, whose messages go through a relay rather than
/// directly (tcp pairs that could not punch through), as every rank of `comm` sees them:
/// each rank says which of its peers it relays to, and every rank learns all of it.
async fn relayed_pairs(comm: &mut fccl::Communicator) -> fccl::Result<Vec<(Rank, Rank)>> {
    let p = comm.size();
    let mut mine = vec![0u8; p];
    for medium in comm.media() {
        for peer in medium.relayed_peers() {
            mine[peer] = 1;
        }
    }
    let mut all = vec![0u8; p * p];
    comm.all_gather(&mine, &mut all).await?;
    Ok((0..p)
        .flat_map(|i| (i + 1..p).map(move |j| (i, j)))
        .filter(|&(i, j)| all[i * p + j] == 1 || all[j * p + i] == 1)
        .collect())
}

/// The report's line on relayed pairs; none when every pair is direct.
fn relayed_note(pairs: &[(Rank, Rank)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    let list: Vec<String> = pairs.iter().map(|(i, j)| format!("{i}-{j}")).collect();
    Some(format!(
        "# relayed pairs (through the fallback medium, not direct): {}",
        list.join(" ")
    ))
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
        .header(&table::header(spec, ranks, false))
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

/// Draws `records` to `--plot FILE` if asked, then gives the [`verdict`].
fn plot_then_verdict(args: &BenchArgs, records: &[BenchRecord]) -> ExitCode {
    if let Some(path) = &args.plot {
        if let Err(e) = write_plot(records, path) {
            return fail(e);
        }
    }
    verdict(records)
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

/// Says which points of `total` were wrong.
pub(super) fn wrong_points(total: usize, wrong: &[&BenchRecord]) -> String {
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
        let super::super::Command::Bench(args) = cli.command else {
            panic!("not fccl bench: {line}");
        };
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
        assert_eq!(spec.transport, "tcp");
        assert_eq!(parse("fccl bench allreduce").unwrap().ranks, None);
    }

    #[test]
    fn every_option_parses() {
        let args = parse(
            "fccl bench reduce-scatter -n 8 --sizes 1K,4M --dtype bf16 --op max --iters 3 \
             --warmup 0 --algo ring --json out.json --timeout-ms 500 --root 2",
        )
        .unwrap();
        assert_eq!(args.ranks, Some(8));
        assert_eq!(args.transport, "tcp");
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
    fn as_a_rank_of_a_job_the_job_sets_the_size() {
        let job = JobSpec::new(3, "tcp://127.0.0.1:9").unwrap();
        assert!(ranks_of_job(None, &job).is_ok());
        assert!(ranks_of_job(Some(3), &job).is_ok());
        let e = ranks_of_job(Some(4), &job).unwrap_err();
        assert!(e.contains("-n 4") && e.contains("3 ranks"), "{e}");
        let args = parse("fccl bench allreduce --transport local -n 2").unwrap();
        assert_eq!((args.transport.as_str(), args.ranks), ("local", Some(2)));
    }

    #[test]
    fn runs_and_writes_one_json_line_per_point() {
        let dir = std::env::temp_dir().join(format!("fccl-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench.json");
        for collective in ["allreduce", "broadcast", "alltoallv", "barrier", "sendrecv"] {
            let line = format!(
                "fccl bench {collective} -n 3 --transport local --sizes 8:1K --iters 2 \
                 --warmup 1 --json {}",
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
