//! `fccl train`: trains a model on N ranks with the ML module and reports as it goes.
//!
//! As `fccl bench`, three ways to run: `--transport local` (ranks as threads of this
//! process), any other transport (N processes of this program started by the local
//! launcher, rank 0's output on this process's stdout), or one rank of a job started
//! elsewhere (`FCCL_RANK` and `FCCL_JOB` set).
//!
//! Exit codes: 0 when every epoch ran, 3 when `--time-limit` stopped the run (its
//! checkpoint resumes it: run the same command again), 2 on an error.

mod output;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use fccl::JobSpec;
use fccl::launch::local::{LocalLaunch, StdoutMode};
use fccl_collectives::local;
use fccl_ml::OptimizerKind;
use fccl_ml::train::Compression;
use fccl_ml::trainer::{Mode, ModelKind, Report, TrainSpec, train};

use super::fail;
use super::output::Captured;
use output::TrainOutput;

/// The exit code of a run that the time limit stopped (its checkpoint resumes it).
const STOPPED: u8 = 3;

/// How long the other ranks may take to see that one failed, before the launcher kills
/// them.
const FAILURE_GRACE: Duration = Duration::from_secs(3);

/// Arguments of `fccl train`.
#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// The model: lr (sparse logistic regression), mf (biased matrix factorization) or
    /// softmax (softmax regression).
    #[arg(long)]
    model: ModelKind,
    /// The dataset: heart_scale, movielens100k, synthetic:criteo?rows=..&bits=..,
    /// synthetic:netflix?users=..&items=..&ratings=.., or a path (LIBSVM; .csv ratings).
    #[arg(long, value_name = "DATA")]
    data: String,
    /// Number of ranks. As one rank of a job (FCCL_RANK set) the job's size counts.
    #[arg(short = 'n', long = "ranks", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    ranks: u32,
    /// How the ranks train: sync (allreduce every step), ps (asynchronous parameter
    /// server on the last --servers ranks) or local (model averaging every
    /// --average-every steps).
    #[arg(long, default_value = "sync")]
    mode: Mode,
    /// The optimizer with its settings: sgd, momentum, nesterov, adagrad or adam, as
    /// `adam:lr=0.01,beta2=0.99`.
    #[arg(long, default_value = "sgd")]
    optimizer: OptimizerKind,
    /// The learning rate (overrides the one in --optimizer).
    #[arg(long)]
    lr: Option<f32>,
    /// Rows per minibatch: the global batch in sync mode, each worker's or rank's in ps
    /// and local mode.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Passes over the training rows.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Gradient format in sync mode: none, f16, bf16 or topk:FRACTION.
    #[arg(long = "compress", default_value = "none")]
    compression: Compression,
    /// L2 regularisation coefficient.
    #[arg(long, default_value_t = 1e-4)]
    l2: f32,
    /// Latent factors of mf.
    #[arg(long, default_value_t = 10)]
    factors: usize,
    /// Ranks that serve the weights in ps mode.
    #[arg(long, default_value_t = 1)]
    servers: usize,
    /// In ps mode, how many steps a worker may be ahead of the slowest one when it reads
    /// weights (stale-synchronous parallel); unbounded if not given.
    #[arg(long, value_name = "STEPS")]
    staleness: Option<usize>,
    /// Local steps between model averagings in local mode.
    #[arg(long, default_value_t = 8)]
    average_every: usize,
    /// Fraction of the rows held out for evaluation (0 for none).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Seeds the split, the initial weights and the row order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Evaluate every N steps (0: at the end of every epoch).
    #[arg(long, value_name = "N", default_value_t = 0)]
    eval_every: usize,
    /// Save the run to FILE and resume from it when it exists (ps and local mode: each
    /// rank to FILE.rank{r}).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Save the checkpoint every N steps (0: at the end of every epoch), and at the end.
    #[arg(long, value_name = "N", default_value_t = 0)]
    checkpoint_every: usize,
    /// Stop after this many seconds, at a step the ranks agree on, saving the checkpoint
    /// (exit code 3); the same command then resumes the run.
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
    /// Transport spec (as `fccl bench`): tcp (the default) runs each rank as a process of
    /// this program; local runs them as threads of this process.
    #[arg(long, value_name = "SPEC", default_value = "tcp")]
    transport: String,
    /// Write one JSON object per evaluation, and a final one, to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Give up on a collective after this many milliseconds without progress.
    #[arg(long, value_name = "T")]
    timeout_ms: Option<u64>,
}

impl TrainArgs {
    /// The run these arguments describe, checked.
    pub(in crate::cli) fn spec(&self) -> Result<TrainSpec, String> {
        let time_limit = match self.time_limit {
            None => None,
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => return Err(format!("--time-limit {s} must be a number of seconds >= 0")),
        };
        let optimizer = match self.lr {
            Some(lr) => self.optimizer.with_learning_rate(lr),
            None => self.optimizer,
        };
        let spec = TrainSpec {
            model: self.model,
            data: self.data.clone(),
            mode: self.mode,
            optimizer,
            batch: self.batch,
            epochs: self.epochs,
            compression: self.compression,
            l2: self.l2,
            factors: self.factors,
            servers: self.servers,
            staleness: self.staleness,
            average_every: self.average_every,
            test_fraction: self.test_fraction,
            seed: self.seed,
            eval_every: self.eval_every,
            checkpoint: self.checkpoint.clone(),
            checkpoint_every: self.checkpoint_every,
            time_limit,
        };
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}

/// Runs `fccl train`.
pub(super) fn main(args: TrainArgs) -> ExitCode {
    let spec = match args.spec() {
        Ok(spec) => spec,
        Err(e) => return fail(e),
    };
    match fccl::job_from_env() {
        Err(e) => fail(e),
        Ok(Some((job, rank))) => train_rank(&args, &spec, &job, rank),
        Ok(None) if args.transport == "local" => train_threads(&args, &spec),
        Ok(None) => train_processes(&args, std::env::args_os().skip(1).collect()),
    }
}

/// The exit code of a finished run's last report.
fn verdict(last: &Report) -> ExitCode {
    if last.finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(STOPPED)
    }
}

/// Runs every rank as a thread of this process.
fn train_threads(args: &TrainArgs, spec: &TrainSpec) -> ExitCode {
    let mut output = match TrainOutput::open(args.json.as_deref()) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let sink = std::sync::Mutex::new(&mut output);
    let results = local::run(args.ranks as usize, |mut comm| {
        let sink = &sink;
        async move {
            if let Some(t) = timeout {
                comm.set_timeout(t);
            }
            let lead = comm.rank() == 0;
            train(&mut comm, spec, |event| {
                if lead {
                    sink.lock().unwrap_or_else(|p| p.into_inner()).event(event);
                }
            })
            .await
        }
    });
    let finished = output.finish();
    match results.into_iter().collect::<Result<Vec<_>, _>>() {
        Err(e) => fail(e),
        Ok(_) if finished.is_err() => fail(finished.unwrap_err()),
        Ok(reports) => verdict(&reports[0]),
    }
}

/// Runs every rank as a process of this program with the same arguments (`train_args`),
/// each of which then takes the [`train_rank`] path.
fn train_processes(args: &TrainArgs, train_args: Vec<OsString>) -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot find this program to start the ranks: {e}")),
    };
    let mut launch = LocalLaunch::new(args.ranks as usize, program);
    launch.args = train_args;
    launch.transport = args.transport.clone();
    launch.timeout = args.timeout_ms.map(Duration::from_millis);
    launch.stdout = StdoutMode::LeadOnly;
    launch.grace = FAILURE_GRACE;
    launch.forward_signals = true;
    match launch.run() {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => fail(e),
    }
}

/// Runs as `rank` of `job`, a job started elsewhere: rank 0 reports.
fn train_rank(args: &TrainArgs, spec: &TrainSpec, job: &JobSpec, rank: usize) -> ExitCode {
    if args.ranks != 1 && args.ranks as usize != job.size {
        return fail(format!(
            "-n {} does not match the size of the job in FCCL_JOB ({} ranks)",
            args.ranks, job.size
        ));
    }
    let mut output = if rank == 0 {
        match TrainOutput::open(args.json.as_deref()) {
            Ok(o) => o,
            Err(e) => return fail(e),
        }
    } else {
        TrainOutput::quiet()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let last = runtime.block_on(async {
        let comm = fccl::connect(job, rank).await.map_err(|e| e.to_string())?;
        train_joined(comm, args, spec, &mut output).await
    });
    let finished = output.finish();
    match last {
        Err(e) => fail(e),
        Ok(_) if finished.is_err() => fail(finished.unwrap_err()),
        Ok(last) => verdict(&last),
    }
}

/// Trains `spec` on `comm`, a communicator of a job just joined, reporting to `output`;
/// leaves the job after.
async fn train_joined(
    mut comm: fccl::Communicator,
    args: &TrainArgs,
    spec: &TrainSpec,
    output: &mut TrainOutput,
) -> Result<Report, String> {
    if let Some(t) = args.timeout_ms.map(Duration::from_millis) {
        comm.set_timeout(t);
    }
    let last = train(&mut comm, spec, |event| output.event(event)).await;
    // Leave together: a rank that exits while peers still talk to it would reset their
    // connections.
    let _ = comm.close().await;
    last.map_err(|e| e.to_string())
}

/// `fccl train` as one rank in a function that has `left` before its deadline: the run
/// stops in time to report (as `--time-limit` does; its checkpoint, on storage the next
/// invocation sees, resumes it); rank 0's lines (or JSON lines, with `--json -`) are the
/// output.
pub(super) async fn train_in_function(
    args: &TrainArgs,
    comm: fccl::Communicator,
    left: Duration,
    captured: Captured,
) -> Result<String, String> {
    let mut spec = args.spec()?;
    // Keep time for the final evaluation and the checkpoint.
    let budget = left.mul_f64(0.9);
    spec.time_limit = Some(spec.time_limit.map_or(budget, |t| t.min(budget)));
    let mut output = if comm.rank() == 0 {
        TrainOutput::captured(captured.clone(), args.json.as_deref() == Some("-".as_ref()))
    } else {
        TrainOutput::quiet()
    };
    let last = train_joined(comm, args, &spec, &mut output).await;
    let _ = output.finish();
    last.map(|_| captured.text())
}
