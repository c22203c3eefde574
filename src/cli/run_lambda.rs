//! `fccl run --launcher lambda`: the ranks of a built-in job as invocations of an AWS
//! Lambda function that runs `fccl worker`.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser};
use fccl::launch::lambda::{LambdaLaunch, LambdaOutcome, MAX_FUNCTION_TIME, RankStatus};

use super::{Cli, Command, bench, fail, millis};

/// The options of `fccl run` for `--launcher lambda`.
#[derive(Debug, Default, Args)]
pub(crate) struct LambdaArgs {
    /// With --launcher lambda: the function to invoke (name, ARN, or name:alias); it runs
    /// `fccl worker`.
    #[arg(long, value_name = "NAME")]
    function: Option<String>,
    /// With --launcher lambda: the AWS region [default: from AWS_REGION or the profile].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// With --launcher lambda: send invocations to this URL instead of the region's Lambda
    /// endpoint (a local emulator, `cargo lambda watch`).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// With --launcher lambda: how long each rank may run, in milliseconds; a rank gives
    /// up and reports a second before this (or before its function's timeout, if shorter).
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = millis(MAX_FUNCTION_TIME))]
    time_limit_ms: u64,
}

impl LambdaArgs {
    /// The first option given that only --launcher lambda takes.
    pub(super) fn given(&self) -> Option<&'static str> {
        if self.function.is_some() {
            Some("--function")
        } else if self.region.is_some() {
            Some("--region")
        } else if self.endpoint.is_some() {
            Some("--endpoint")
        } else {
            (self.time_limit_ms != millis(MAX_FUNCTION_TIME)).then_some("--time-limit-ms")
        }
    }
}

/// The launch of `fccl run --launcher lambda`, or why it cannot be.
pub(super) fn launch(
    args: &LambdaArgs,
    ranks: u32,
    transport: &str,
    timeouts: &super::JobTimeouts,
    command: &[OsString],
) -> Result<LambdaLaunch, String> {
    let Some(function) = &args.function else {
        return Err(
            "--launcher lambda needs --function NAME: the function that runs \
                    `fccl worker`"
                .into(),
        );
    };
    let command = command
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| format!("argument {a:?} is not valid UTF-8"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut launch = LambdaLaunch::new(function.clone(), ranks as usize, transport);
    launch.command = command;
    launch.timeout = Some(timeouts.timeout());
    launch.setup_timeout = Some(timeouts.setup_timeout());
    launch.region = args.region.clone();
    launch.endpoint = args.endpoint.clone();
    launch.time_limit = Duration::from_millis(args.time_limit_ms);
    Ok(launch)
}

/// Checks a built-in job (`bench ...`, `train ...`) that every rank will run against the job, here
/// rather than in N functions. Other commands go to the function as they are: a function
/// of your own reads them from its payload (`fccl worker` refuses them).
fn check_command(launch: &LambdaLaunch, job: &fccl::JobSpec) -> Result<(), String> {
    let first = launch
        .command
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    if first != "bench" && first != "train" {
        return Ok(());
    }
    let argv = std::iter::once("fccl").chain(launch.command.iter().map(String::as_str));
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        let rendered = e.render().to_string();
        format!(
            "the ranks' command `{}`: {}",
            launch.command.join(" "),
            rendered.trim_end()
        )
    })?;
    match cli.command {
        Command::Bench(args) => bench::job_sweep(&args, job, false).map(drop).map_err(|e| {
            let e = e.replace(" in FCCL_JOB", "");
            format!("the ranks' command `{}`: {e}", launch.command.join(" "))
        }),
        Command::Train(args) => args
            .spec()
            .map(drop)
            .map_err(|e| format!("the ranks' command `{}`: {e}", launch.command.join(" "))),
        _ => Ok(()),
    }
}

/// Runs `fccl run --launcher lambda`: exits 0 if every rank succeeded, 1 if one failed or
/// timed out, 2 if the job could not start (a rank could not be invoked, bad arguments).
pub(super) fn main(launch: &LambdaLaunch) -> ExitCode {
    let job = match launch.job() {
        Ok(job) => job,
        Err(e) => return fail(e.message()),
    };
    if let Err(e) = check_command(launch, &job) {
        return fail(e);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(launch.run_job(&job)) {
        Ok(outcome) => {
            report(&outcome);
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => fail(e.message()),
    }
}

/// Prints every rank's output (`[R] ` before each line) and, on standard error, how each
/// rank ended, with the log tails of those that did not succeed.
fn report(outcome: &LambdaOutcome) {
    for rank in &outcome.ranks {
        for line in rank.output.lines() {
            println!("[{}] {line}", rank.rank);
        }
    }
    for rank in &outcome.ranks {
        eprintln!("fccl run: {}", indent(&rank.to_string()));
        let shows_log = !matches!(
            rank.status,
            RankStatus::Succeeded | RankStatus::Abandoned(_)
        );
        if let Some(log) = rank.log_tail.as_deref().filter(|_| shows_log) {
            for line in log.lines() {
                eprintln!("[{} log] {line}", rank.rank);
            }
        }
    }
    eprintln!("fccl run: {}", outcome.summary());
}

/// `text` with every line after the first indented, so that a report stays readable.
fn indent(text: &str) -> String {
    text.trim_end().replace('\n', "\n    ")
}
