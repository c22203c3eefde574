//! `fccl worker`: the entry point of a Lambda function that runs one rank of a built-in job
//! (`bench ...` or `train ...`) per invocation, as `fccl run --launcher lambda` asks.
//!
//! Each invocation's payload is a [`RankEvent`]; the result is a [`RankResult`]. A rank
//! whose job fails returns `ok: false` with the error (and the output so far); a payload
//! that is not an fccl event, and a panic, end the invocation with a function error, which
//! the launcher reports as that rank's failure.

mod fault;

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser};
use fccl::JobSpec;
use fccl::lambda::lambda_runtime::{self, Diagnostic, LambdaEvent, service_fn};
use fccl::lambda::{
    DEADLINE_MARGIN, RankEvent, RankResult, connect_until, invocation_deadline, time_left,
};
use fccl_benches::BenchRecord;

use super::output::{Captured, Output};
use super::{Cli, Command, bench, fail, train};

/// The variables the Lambda runtime reads at start-up (it panics without them).
const LAMBDA_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// A rank that ends with less than this on top of [`DEADLINE_MARGIN`] left of its
/// invocation is reported as timed out: its deadline, not a peer, ended it.
const DEADLINE_SLACK: Duration = Duration::from_millis(500);

/// Arguments of `fccl worker` (none: everything comes in each invocation's payload).
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {}

/// Runs `fccl worker`: serves invocations until Lambda ends the process.
pub(super) fn main(_args: WorkerArgs) -> ExitCode {
    if let Some(missing) = LAMBDA_ENV.iter().find(|v| std::env::var_os(v).is_none()) {
        return fail(format!(
            "fccl worker is the handler of an AWS Lambda function, and {missing} is not set: \
             deploy it as a function (or serve it with `cargo lambda watch`) and start jobs \
             with `fccl run --launcher lambda --function NAME -n N -- bench ...`"
        ));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(lambda_runtime::run(service_fn(handle))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("the Lambda runtime stopped: {e}")),
    }
}

/// One invocation: one rank of the job in the payload.
async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<RankResult, Diagnostic> {
    let received = SystemTime::now();
    let (request, job, rank) = read_event(&event.payload).map_err(|e| Diagnostic {
        error_type: "FcclInvalidPayload".into(),
        error_message: e.to_string(),
    })?;
    let mut deadline = invocation_deadline(event.context.deadline, received);
    if let Some(limit) = request.time_limit_ms {
        deadline = deadline.min(received + Duration::from_millis(limit));
    }
    fault::before_job(rank).await.map_err(|e| Diagnostic {
        error_type: "FcclFault".into(),
        error_message: e,
    })?;
    let outcome = match time_left(deadline, SystemTime::now()) {
        Ok(left) => {
            let job_run = async {
                fault::in_job(rank).await;
                run_command(&request.command, &job, rank, deadline).await
            };
            tokio::time::timeout(left, job_run)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "rank {rank} stopped {} ms before its invocation's deadline, its job \
                     unfinished",
                        DEADLINE_MARGIN.as_millis()
                    ))
                })
        }
        Err(e) => Err(e.to_string()),
    };
    let failed = outcome.is_err();
    let mut result = RankResult::new(rank, outcome);
    result.timed_out = failed && time_left(deadline, SystemTime::now() + DEADLINE_SLACK).is_err();
    if let Some(e) = &result.error {
        eprintln!("fccl worker: rank {rank}: {e}");
    }
    Ok(result)
}

/// The event in a payload, and its job and rank.
fn read_event(payload: &serde_json::Value) -> fccl::Result<(RankEvent, JobSpec, fccl::Rank)> {
    let request = RankEvent::from_json(payload)?;
    let (job, rank) = request.job()?;
    Ok((request, job, rank))
}

/// Runs the built-in job `command` as `rank` of `job`; its output, or why it failed.
async fn run_command(
    command: &[String],
    job: &JobSpec,
    rank: fccl::Rank,
    deadline: SystemTime,
) -> Result<String, String> {
    let Some(first) = command.first() else {
        return Err("the payload's command is empty: give a built-in job (bench ...)".into());
    };
    if first != "bench" && first != "train" {
        return Err(format!(
            "{first} is not a built-in job a worker runs (bench and train are): a program of \
             your own is a function of your own (see examples/lambda_allreduce.rs)"
        ));
    }
    let cli =
        Cli::try_parse_from(std::iter::once("fccl").chain(command.iter().map(String::as_str)))
            .map_err(|e| format!("command {first}: {}", e.render()))?;
    match cli.command {
        Command::Bench(args) => bench_rank(&args, job, rank, deadline).await,
        Command::Train(args) => {
            let comm = connect_until(job, rank, deadline)
                .await
                .map_err(|e| e.to_string())?;
            let left = time_left(deadline, SystemTime::now()).map_err(|e| e.to_string())?;
            train::train_in_function(&args, comm, left, Captured::default()).await
        }
        _ => Err(format!(
            "{first} is not a built-in job a worker runs (bench and train are)"
        )),
    }
}

/// `fccl bench` as one rank in a function: rank 0's table (or JSON lines, with `--json -`)
/// is the output.
async fn bench_rank(
    args: &bench::BenchArgs,
    job: &JobSpec,
    rank: fccl::Rank,
    deadline: SystemTime,
) -> Result<String, String> {
    let sweep = bench::job_sweep(args, job, false)?;
    let captured = Captured::default();
    let output = if rank == 0 {
        Output::captured(captured.clone(), bench::json_to_stdout(args))
    } else {
        Output::quiet()
    };
    let comm = connect_until(job, rank, deadline)
        .await
        .map_err(|e| e.to_string())?;
    let records = bench::bench_joined(comm, args, &sweep, output).await;
    let text = captured.text();
    match records {
        Ok(records) => verdict(&records).map(|()| text),
        Err(e) => Err(with_output(e, &text)),
    }
}

/// An error for results some of which were wrong.
fn verdict(records: &[BenchRecord]) -> Result<(), String> {
    let wrong: Vec<&BenchRecord> = records.iter().filter(|r| !r.correct).collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(bench::wrong_points(records.len(), &wrong))
    }
}

/// `error`, and what the rank printed before it if anything.
fn with_output(error: String, output: &str) -> String {
    if output.is_empty() {
        error
    } else {
        format!("{error}\noutput before the error:\n{output}")
    }
}
