//! `fccl run`: N processes of a program as the ranks of one job, like `mpirun`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;
use fccl::launch::local::{LocalLaunch, StdoutMode};

use super::fail;
use super::run_lambda::{self, LambdaArgs};

/// Where the ranks of `fccl run` run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Launcher {
    /// Processes of PROGRAM on this machine.
    #[default]
    Local,
    /// Invocations of an AWS Lambda function (--function) that runs `fccl worker`; the
    /// command is a built-in job (`bench ...`).
    Lambda,
}

/// Arguments of `fccl run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Number of ranks.
    #[arg(short = 'n', long = "ranks", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    ranks: u32,
    /// Transport spec: `tcp` embeds a rendezvous server on a loopback port for the job
    /// (`tcp?mesh=full` connects every pair up front); tcp://HOST:PORT uses a running
    /// `fccl rendezvous`.
    /// With --launcher lambda, the ranks must reach it: tcp://HOST:PORT, redis://HOST:PORT or
    /// memcached://HOST:PORT.
    #[arg(long, value_name = "SPEC", default_value = "tcp")]
    transport: String,
    #[command(flatten)]
    timeouts: super::JobTimeouts,
    /// Where the ranks run.
    #[arg(long, value_enum, default_value_t = Launcher::Local)]
    launcher: Launcher,
    #[command(flatten)]
    lambda: LambdaArgs,
    /// The program every rank runs, and its arguments (after `--`). Each rank finds the job
    /// in FCCL_JOB, its rank in FCCL_RANK and the job's size in FCCL_SIZE. With --launcher
    /// lambda, the command in every rank's payload: a built-in job for `fccl worker`
    /// (`bench COLLECTIVE ...`), or arguments for a function of your own.
    #[arg(value_name = "PROGRAM", required = true, num_args = 1..,
          trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

impl RunArgs {
    fn launch(&self) -> LocalLaunch {
        let (program, args) = self.command.split_first().expect("clap requires a program");
        let mut launch = LocalLaunch::new(self.ranks as usize, program);
        launch.args = args.to_vec();
        launch.transport = self.transport.clone();
        launch.timeout = Some(self.timeouts.timeout());
        launch.setup_timeout = Some(self.timeouts.setup_timeout());
        launch.stdout = StdoutMode::Prefixed;
        launch.forward_signals = true;
        launch
    }
}

/// Runs `fccl run`: exits 0 if every rank did, else with the first failed rank's exit code
/// (128 + the signal for a rank killed by one), 2 if the job could not start.
pub(super) fn main(args: RunArgs) -> ExitCode {
    if args.launcher == Launcher::Lambda {
        return match run_lambda::launch(
            &args.lambda,
            args.ranks,
            &args.transport,
            &args.timeouts,
            &args.command,
        ) {
            Ok(launch) => run_lambda::main(&launch),
            Err(e) => fail(e),
        };
    }
    if let Some(option) = args.lambda.given() {
        return fail(format!("{option} is an option of --launcher lambda"));
    }
    let outcome = match args.launch().run() {
        Ok(outcome) => outcome,
        Err(e) => return fail(e.message()),
    };
    if let Some(signal) = outcome.interrupted {
        eprintln!("fccl run: interrupted by signal {signal}; the ranks were stopped");
    } else if let Some(failure) = &outcome.failure {
        eprintln!("fccl run: {failure}");
    }
    ExitCode::from(outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fccl::JobSpec;

    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(line: &str) -> Result<RunArgs, clap::Error> {
        let cli = Cli::try_parse_from(line.split_whitespace())?;
        let Command::Run(args) = cli.command else {
            panic!("not fccl run: {line}");
        };
        Ok(args)
    }

    #[test]
    fn the_program_and_its_arguments_follow() {
        let launch = parse("fccl run -n 3 -- prog -x --flag a").unwrap().launch();
        assert_eq!(launch.ranks, 3);
        assert_eq!(launch.program, "prog");
        assert_eq!(launch.args, ["-x", "--flag", "a"]);
        assert_eq!(launch.transport, "tcp");
        assert_eq!(
            (launch.timeout, launch.setup_timeout),
            (
                Some(JobSpec::DEFAULT_TIMEOUT),
                Some(JobSpec::DEFAULT_SETUP_TIMEOUT)
            )
        );
        assert!(launch.forward_signals);
        let launch = parse(
            "fccl run --ranks 2 --transport tcp?mesh=full --timeout-ms 700 \
             --setup-timeout-ms 900 prog -n 5",
        )
        .unwrap()
        .launch();
        assert_eq!(launch.transport, "tcp?mesh=full");
        assert_eq!(launch.timeout, Some(Duration::from_millis(700)));
        assert_eq!(launch.setup_timeout, Some(Duration::from_millis(900)));
        assert_eq!(launch.program, "prog");
        assert_eq!(launch.args, ["-n", "5"]);
    }

    #[test]
    fn the_lambda_launcher_takes_its_options() {
        let args = parse(
            "fccl run --launcher lambda --function f -n 4 --transport tcp://h:1 --region r \
             --endpoint http://e:9 --time-limit-ms 5000 --setup-timeout-ms 900 -- bench \
             allreduce -n 4",
        )
        .unwrap();
        assert_eq!(args.launcher, Launcher::Lambda);
        let launch = run_lambda::launch(
            &args.lambda,
            args.ranks,
            &args.transport,
            &args.timeouts,
            &args.command,
        )
        .unwrap();
        assert_eq!(
            (
                launch.function.as_str(),
                launch.ranks,
                launch.transport.as_str()
            ),
            ("f", 4, "tcp://h:1")
        );
        assert_eq!(launch.region.as_deref(), Some("r"));
        assert_eq!(launch.endpoint.as_deref(), Some("http://e:9"));
        assert_eq!(launch.time_limit, Duration::from_millis(5000));
        assert_eq!(launch.setup_timeout, Some(Duration::from_millis(900)));
        assert_eq!(launch.command, ["bench", "allreduce", "-n", "4"]);
        let args = parse("fccl run --launcher lambda -n 2 -- bench allreduce").unwrap();
        let e = run_lambda::launch(
            &args.lambda,
            args.ranks,
            &args.transport,
            &args.timeouts,
            &args.command,
        )
        .unwrap_err();
        assert!(e.contains("--function"), "{e}");
        assert!(parse("fccl run --launcher cloud -n 2 -- x").is_err());
        let args = parse("fccl run -n 2 --endpoint http://e:9 -- x").unwrap();
        assert_eq!(args.lambda.given(), Some("--endpoint"));
    }

    #[test]
    fn bad_arguments_are_refused() {
        for line in [
            "fccl run -- prog",
            "fccl run -n 2",
            "fccl run -n 2 --",
            "fccl run -n 0 -- prog",
            "fccl run -n 2 --timeout-ms 0 -- prog",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }
}
