//! `fccl bench`: runs the benchmark harness on N ranks and reports.
//!
//! Three ways to run:
//! - `--transport local`: N ranks as threads of this process (see [`threads`]).
//! - any other transport (`tcp`, the default): N processes of this program started by the
//!   local launcher, each running this same command as one rank; rank 0 writes the report
//!   to this process's standard output (see [`processes`]).
//! - with `FCCL_RANK` (and `FCCL_JOB`) set: one rank of a job started elsewhere.
//!
//! `-n`, `--dtype` and `--op` take lists, which make the run a [`Sweep`]: one rank count at
//! a time (a set of threads, or a job of processes, each), and on each every element type
//! with every reduction, a block of the table each.

mod processes;
mod relayed;
mod threads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use fccl::{Hint, JobSpec, Rank};
use fccl_benches::cost::{CostModel, Prices};
use fccl_benches::plot::write_plot;
use fccl_benches::sizes::parse_sizes;
use fccl_benches::{BenchRecord, BenchSpec, Event, Sweep, run, table};
use fccl_collectives::{Algorithm, Collective, DataType, Error, ReduceOp};

use super::fail;
use super::output::{JsonFile, Output, Progress};
use processes::SweepPart;

/// The number of ranks when `-n` is not given.
const DEFAULT_RANKS: usize = 4;

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
    /// Number of ranks [default: 4], or a list 2,4,8 run one after another. As one rank of
    /// a job (FCCL_RANK set) the job's size counts: -n may be left out, and if given must
    /// be exactly it.
    #[arg(
        short = 'n',
        long = "ranks",
        value_name = "N[,N...]",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    ranks: Vec<u32>,
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
    /// Element type: i8 u8 i32 u32 i64 u64 f16 f32 f64 bf16, or a list f32,f16,bf16 (each
    /// runs in turn).
    #[arg(
        long,
        value_name = "T[,T...]",
        value_delimiter = ',',
        default_value = "f32"
    )]
    dtype: Vec<DataType>,
    /// Reduction of reducing collectives: sum, prod, max, min or avg, or a list sum,max
    /// (each runs in turn; collectives that do not reduce run once, op none).
    #[arg(
        long,
        value_name = "OP[,OP...]",
        value_delimiter = ',',
        default_value = "sum"
    )]
    op: Vec<ReduceOp>,
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
    /// Draw the median time and the bus bandwidth against size to FILE (SVG or PNG, by its
    /// extension), as rank 0 sees them, a line per rank count (and element type and
    /// reduction, if several); `fccl plot` draws several runs' JSON in one picture.
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
    /// The rank counts of `-n`, in order: [`DEFAULT_RANKS`] if it is not given.
    fn rank_counts(&self) -> Vec<usize> {
        if self.ranks.is_empty() {
            return vec![DEFAULT_RANKS];
        }
        self.ranks.iter().map(|&n| n as usize).collect()
    }

    /// The spec of the first element type and reduction; the sweep varies them.
    fn spec(&self) -> BenchSpec {
        let mut spec = BenchSpec::new(self.collective, self.sizes.0.clone());
        spec.dtype = self.dtype.first().copied().unwrap_or(spec.dtype);
        spec.op = self.op.first().copied().unwrap_or(spec.op);
        spec.iters = self.iters as usize;
        spec.warmup = self.warmup as usize;
        spec.algorithm = self.algo;
        spec.root = self.root;
        spec.transport = self.transport.clone();
        spec
    }

    /// The sweep of these arguments on `ranks` (every rank count of `-n`, or one job's).
    fn sweep(&self, ranks: Vec<usize>) -> Sweep {
        Sweep {
            base: self.spec(),
            ranks,
            dtypes: self.dtype.clone(),
            ops: self.op.clone(),
        }
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
        Ok(Some((job, rank))) => match SweepPart::from_env() {
            Ok(part) => bench_rank(&args, &job, rank, part),
            Err(e) => fail(e),
        },
        Ok(None) if args.transport == "local" => threads::bench_threads(&args),
        Ok(None) => processes::bench_processes(&args, std::env::args_os().skip(1).collect()),
    }
}

/// Runs as `rank` of `job`: a job started elsewhere, or with `part`, one job of a sweep
/// this program started (see [`processes`]). Rank 0 reports; every rank exits 1 if a point
/// was wrong (the ranks agree on that) and 2 on an error.
fn bench_rank(args: &BenchArgs, job: &JobSpec, rank: Rank, part: Option<SweepPart>) -> ExitCode {
    let sweep = match job_sweep(args, job, part.is_some()) {
        Ok(sweep) => sweep,
        Err(e) => return fail(e),
    };
    let lead = rank == 0;
    let output = if lead {
        let (mode, progress) = match &part {
            Some(part) => (JsonFile::Append, part.progress),
            None => (JsonFile::Create, Progress::whole(sweep.points())),
        };
        match Output::open(args.json.as_deref(), mode, progress) {
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
        bench_joined(comm, args, &sweep, output).await
    });
    match (records, part) {
        // The launcher of the sweep draws the plot, from every job's records.
        (Ok(records), Some(part)) if lead => match part.keep(&records) {
            Ok(()) => verdict(&records),
            Err(e) => fail(e),
        },
        (Ok(records), None) if lead => plot_then_verdict(args, &records),
        (Ok(records), _) if records.iter().all(|r| r.correct) => ExitCode::SUCCESS,
        (Ok(_), _) => ExitCode::from(1),
        (Err(e), _) => fail(e),
    }
}

/// The bench of `args` as one rank of `job`, checked against the job (its size, the
/// transport the report names): the sweep of every element type and reduction on the
/// job's size. `part_of_sweep` is for a job this program started as one rank count of `-n`.
pub(super) fn job_sweep(
    args: &BenchArgs,
    job: &JobSpec,
    part_of_sweep: bool,
) -> Result<Sweep, String> {
    ranks_of_job(args, job, part_of_sweep)?;
    let mut sweep = args.sweep(vec![job.size]);
    sweep.base.cost = args.cost_model(&job.transport)?;
    // The report names the transport, not the job's rendezvous address.
    sweep.base.transport = fccl::transport_name(&job.transport).to_string();
    sweep.validate().map_err(|e| e.to_string())?;
    Ok(sweep)
}

/// Whether `args` send JSON lines to stdout (`--json -`).
pub(super) fn json_to_stdout(args: &BenchArgs) -> bool {
    args.json.as_deref() == Some(std::path::Path::new("-"))
}

/// Runs every spec of `sweep` on `comm`, a communicator of a job just joined, with the
/// options of `args`; leaves the job after.
pub(super) async fn bench_joined(
    mut comm: fccl::Communicator,
    args: &BenchArgs,
    sweep: &Sweep,
    output: Output,
) -> Result<Vec<BenchRecord>, String> {
    if let Some(t) = args.timeout_ms.map(Duration::from_millis) {
        comm.set_timeout(t);
    }
    comm.set_hint(args.hint);
    let records = bench_comm(&mut comm, &sweep.specs(), output).await;
    // Leave together: a rank that exits while peers still talk to it would reset
    // their connections.
    let _ = comm.close().await;
    records
}

/// Checks `-n` against the size of `job`. As a rank of a job started elsewhere, `-n` may be
/// left out and must be exactly the job's size if given; as one job of a sweep this
/// program started (`part_of_sweep`), the job's size is the rank count it runs, one of `-n`.
fn ranks_of_job(args: &BenchArgs, job: &JobSpec, part_of_sweep: bool) -> Result<(), String> {
    let list = || {
        let counts: Vec<String> = args.ranks.iter().map(u32::to_string).collect();
        counts.join(",")
    };
    if part_of_sweep {
        return if args.rank_counts().contains(&job.size) {
            Ok(())
        } else {
            Err(format!(
                "this job of {} ranks is not one of the sweep's rank counts (-n {})",
                job.size,
                list()
            ))
        };
    }
    match args.ranks[..] {
        [] => Ok(()),
        [n] if n as usize == job.size => Ok(()),
        [n] => Err(format!(
            "-n {n} does not match the size of the job in FCCL_JOB ({} ranks): leave -n out \
             or give the job's size",
            job.size
        )),
        _ => Err(format!(
            "-n {} lists several rank counts, but a rank of the job in FCCL_JOB runs the \
             job's size only ({} ranks): leave -n out or give the job's size; fccl bench \
             with no job of its own starts a job per rank count",
            list(),
            job.size
        )),
    }
}

/// Runs `specs` one after another on this rank's communicator, a block of the table each,
/// reporting to `output`.
async fn bench_comm(
    comm: &mut fccl::Communicator,
    specs: &[BenchSpec],
    mut output: Output,
) -> Result<Vec<BenchRecord>, String> {
    let mut records = Vec::new();
    let mut outcome = Ok(());
    for spec in specs {
        output.block_header(&table::header(spec, comm.size(), comm.usage().is_some()));
        let mut observe = |event: Event<'_>| output.event(&event);
        match run(comm, spec, &mut observe).await {
            Ok(more) => records.extend(more),
            Err(e) => {
                outcome = Err(e.to_string());
                break;
            }
        }
    }
    if outcome.is_ok() {
        let pairs = relayed::relayed_pairs(comm)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(note) = relayed::relayed_note(&pairs) {
            output.note(&note).map_err(|e| e.to_string())?;
        }
    }
    output
        .finish()
        .map_err(|e| format!("cannot write the results: {e}"))?;
    outcome.map(|()| records)
}

/// Draws `records` to `--plot FILE` if asked, then gives the [`verdict`].
pub(super) fn plot_then_verdict(args: &BenchArgs, records: &[BenchRecord]) -> ExitCode {
    if let Some(path) = &args.plot {
        if let Err(e) = write_plot(records, path) {
            return fail(e);
        }
    }
    verdict(records)
}

/// Exit code 0 if every point was correct; otherwise says which were not and returns 1.
pub(super) fn verdict(records: &[BenchRecord]) -> ExitCode {
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
        let args = parse("fccl bench allreduce").unwrap();
        assert_eq!(args.rank_counts(), [DEFAULT_RANKS]);
        let sweep = args.sweep(args.rank_counts());
        assert_eq!(sweep.specs(), [args.spec()]);
    }

    #[test]
    fn every_option_parses() {
        let args = parse(
            "fccl bench reduce-scatter -n 8 --sizes 1K,4M --dtype bf16 --op max --iters 3 \
             --warmup 0 --algo ring --json out.json --timeout-ms 500 --root 2",
        )
        .unwrap();
        assert_eq!(args.ranks, [8]);
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
    fn ranks_types_and_ops_take_lists() {
        let args =
            parse("fccl bench allreduce -n 2,4,8 --dtype f32,f16,bf16 --op sum,max").unwrap();
        assert_eq!(args.rank_counts(), [2, 4, 8]);
        assert_eq!(
            args.dtype,
            [DataType::Float32, DataType::Float16, DataType::Bfloat16]
        );
        assert_eq!(args.op, [ReduceOp::Sum, ReduceOp::Max]);
        let sweep = args.sweep(args.rank_counts());
        assert_eq!(sweep.specs().len(), 6);
        assert!(sweep.validate().is_ok());
        // Repeating the option adds to its list, as a list does.
        let args = parse("fccl bench allgather --ranks 3 -n 5 --dtype i8 --dtype u64").unwrap();
        assert_eq!(args.rank_counts(), [3, 5]);
        assert_eq!(args.dtype, [DataType::Int8, DataType::Uint64]);
        // A collective that does not reduce runs each type once, whatever the ops.
        let args = parse("fccl bench allgather --dtype f32,i32 --op sum,max,min").unwrap();
        let specs = args.sweep(vec![2]).specs();
        assert_eq!(specs.len(), 2);
        assert!(specs.iter().all(|s| s.op_name() == "none"));
    }

    #[test]
    fn bad_lists_are_refused() {
        for line in [
            "fccl bench allreduce -n 2,0",
            "fccl bench allreduce -n 2,",
            "fccl bench allreduce -n ,4",
            "fccl bench allreduce -n 2;4",
            "fccl bench allreduce -n 2,-4",
            "fccl bench allreduce --dtype f32,x",
            "fccl bench allreduce --dtype f32,,f16",
            "fccl bench allreduce --op sum,xor",
        ] {
            let e = parse(line).expect_err(line).to_string();
            assert!(e.contains("invalid value"), "{line}: {e}");
        }
        let e = parse("fccl bench allreduce --dtype f32,x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown") && e.contains("'x'"), "{e}");
        for (line, says) in [
            (
                "fccl bench allreduce -n 2,4,2",
                "rank count 2 is listed twice",
            ),
            (
                "fccl bench allreduce --dtype f32,float",
                "f32 is listed twice",
            ),
            ("fccl bench allreduce --op max,max", "max is listed twice"),
            (
                "fccl bench reduce -n 4,2 --root 3",
                "root 3 is out of range for 2",
            ),
        ] {
            let args = parse(line).unwrap();
            let e = args.sweep(args.rank_counts()).validate().unwrap_err();
            assert!(e.to_string().contains(says), "{line}: {e}");
        }
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
        let check = |line: &str, part_of_sweep: bool| {
            ranks_of_job(&parse(line).unwrap(), &job, part_of_sweep)
        };
        assert!(check("fccl bench allreduce", false).is_ok());
        assert!(check("fccl bench allreduce -n 3", false).is_ok());
        let e = check("fccl bench allreduce -n 4", false).unwrap_err();
        assert!(e.contains("-n 4") && e.contains("3 ranks"), "{e}");
        // A list is refused even if it holds the job's size: the rest would not run.
        let e = check("fccl bench allreduce -n 2,3", false).unwrap_err();
        assert!(e.contains("-n 2,3 lists several rank counts"), "{e}");
        // A job of a sweep runs the rank count of its size.
        assert!(check("fccl bench allreduce -n 2,3", true).is_ok());
        let e = check("fccl bench allreduce -n 2,4", true).unwrap_err();
        assert!(e.contains("job of 3 ranks"), "{e}");
        let sweep = job_sweep(
            &parse("fccl bench allreduce -n 2,3 --dtype f32,i8").unwrap(),
            &job,
            true,
        )
        .unwrap();
        assert_eq!((&sweep.ranks[..], sweep.specs().len()), (&[3][..], 2));
        assert_eq!(sweep.base.transport, "tcp");
        let args = parse("fccl bench allreduce --transport local -n 2").unwrap();
        assert_eq!(
            (args.transport.as_str(), &args.ranks[..]),
            ("local", &[2][..])
        );
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
            let progress = Progress::whole(0);
            let mut output =
                Output::open(args.json.as_deref(), JsonFile::Create, progress).unwrap();
            let records = threads::bench_local(&[spec], 3, None, &mut output).unwrap();
            output.finish().unwrap();
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
        let mut output = Output::open(None, JsonFile::Create, Progress::whole(1)).unwrap();
        let mut records = threads::bench_local(&[spec], 2, None, &mut output).unwrap();
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
}
