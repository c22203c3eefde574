//! `fccl job new`: a fresh job string for ranks started elsewhere.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use fccl::JobSpec;
use fccl_transports::memcached::MemcachedSpec;
use fccl_transports::redis::RedisSpec;
use fccl_transports::sqs::SqsSpec;
use fccl_transports::tcp::TcpSpec;

use super::fail;

/// Arguments of `fccl job`.
#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    #[command(subcommand)]
    command: JobCommand,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Print a fresh job string (new id and secret) on one line, for ranks started
    /// elsewhere: give every rank it in FCCL_JOB and its rank in FCCL_RANK. The string holds
    /// the job's secret: pass it only to the job's ranks.
    New(NewArgs),
}

/// Arguments of `fccl job new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Number of ranks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    size: u32,
    /// Transport spec: tcp://HOST:PORT (a running `fccl rendezvous`), with ?mesh=full to
    /// connect every pair up front.
    #[arg(long, value_name = "SPEC")]
    transport: String,
    #[command(flatten)]
    timeouts: super::JobTimeouts,
}

/// Runs `fccl job`.
pub(super) fn main(args: JobArgs) -> ExitCode {
    match args.command {
        JobCommand::New(args) => match new_job(&args) {
            Ok(job) => {
                println!("{job}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}

/// The job `fccl job new` prints, or why it refuses.
fn new_job(args: &NewArgs) -> Result<JobSpec, String> {
    check_transport(&args.transport)?;
    let mut job =
        JobSpec::new(args.size as usize, args.transport.clone()).map_err(|e| e.to_string())?;
    job.timeout = args.timeouts.timeout();
    job.setup_timeout = args.timeouts.setup_timeout();
    job.validate().map_err(|e| e.to_string())?;
    Ok(job)
}

/// Refuses specs that ranks started elsewhere cannot join, and checks tcp specs' form.
/// Specs of other schemes go into the job as they are (for transports of later builds).
fn check_transport(spec: &str) -> Result<(), String> {
    for transport in fccl::media_specs(spec) {
        check_medium(transport)?;
    }
    Ok(())
}

/// Refuses one medium of a job's spec that a job string cannot carry or that is malformed.
fn check_medium(transport: &str) -> Result<(), String> {
    if transport == "tcp" || transport.starts_with("tcp?") {
        return Err(format!(
            "transport {transport} has no rendezvous address: give tcp://HOST:PORT of a \
             running `fccl rendezvous`, or start the ranks with `fccl run`, which embeds a \
             rendezvous server and makes the job itself"
        ));
    }
    if transport == "local" {
        return Err(
            "transport local runs ranks as threads of one process, which cannot join a job \
             string: give tcp://HOST:PORT of a running `fccl rendezvous`"
                .to_string(),
        );
    }
    let checked = if transport.starts_with("tcp://") {
        TcpSpec::parse(transport).map(drop)
    } else if transport.starts_with("redis://") {
        RedisSpec::parse(transport).map(drop)
    } else if transport.starts_with("memcached://") {
        MemcachedSpec::parse(transport).map(drop)
    } else if transport.starts_with("sqs://") {
        SqsSpec::parse(transport).map(drop)
    } else {
        Ok(())
    };
    checked.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(line: &str) -> Result<NewArgs, clap::Error> {
        let cli = Cli::try_parse_from(line.split_whitespace())?;
        let Command::Job(JobArgs {
            command: JobCommand::New(args),
        }) = cli.command
        else {
            panic!("not fccl job new: {line}");
        };
        Ok(args)
    }

    #[test]
    fn a_new_job_carries_its_arguments() {
        let args = parse(
            "fccl job new --size 8 --transport tcp://10.1.2.3:7000?mesh=full --timeout-ms 1500 \
             --setup-timeout-ms 9000",
        )
        .unwrap();
        let job = new_job(&args).unwrap();
        assert_eq!(job.size, 8);
        assert_eq!(job.transport, "tcp://10.1.2.3:7000?mesh=full");
        assert_eq!(job.timeout, Duration::from_millis(1500));
        assert_eq!(job.setup_timeout, Duration::from_millis(9000));
        let back: JobSpec = job.to_string().parse().unwrap();
        assert_eq!(back, job);
        let again = new_job(&args).unwrap();
        assert_ne!(again.id, job.id);
        let job = new_job(&parse("fccl job new --size 2 --transport tcp://h:1").unwrap()).unwrap();
        assert_eq!(job.timeout, JobSpec::DEFAULT_TIMEOUT);
        assert_eq!(job.setup_timeout, JobSpec::DEFAULT_SETUP_TIMEOUT);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for line in [
            "fccl job new --transport tcp://h:1",
            "fccl job new --size 2",
            "fccl job new --size 0 --transport tcp://h:1",
            "fccl job new --size x --transport tcp://h:1",
            "fccl job new --size 2 --transport tcp://h:1 --timeout-ms 0",
            "fccl job new --size 2 --transport tcp://h:1 --setup-timeout-ms 0",
            "fccl job",
            "fccl job old --size 2 --transport tcp://h:1",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn transports_ranks_cannot_join_are_refused() {
        for (transport, says) in [
            ("tcp", "fccl run"),
            ("tcp?mesh=full", "tcp://HOST:PORT"),
            ("local", "threads of one process"),
            ("tcp://nohost", "HOST:PORT"),
            ("tcp://h:1?mesh=half", "mesh=half"),
            ("redis://h:1+tcp", "fccl run"),
            ("redis://nohost", "HOST:PORT"),
            ("memcached://h:1,h2", "h2"),
            ("sqs://us-east-1/p?fifo=maybe", "fifo must be true or false"),
            ("sqs://us-east-1", "sqs://REGION/PREFIX"),
        ] {
            let args = parse(&format!("fccl job new --size 2 --transport {transport}")).unwrap();
            let e = new_job(&args).unwrap_err();
            assert!(e.contains(says), "{transport}: {e}");
        }
        for transport in [
            "redis://r:6379",
            "memcached://m:1,m:2",
            "tcp://h:1+redis://r:6379",
            "sqs://eu-west-1/jobs?fifo=true",
            "tcp://h:1+sqs://us-east-1/jobs?endpoint=http://127.0.0.1:5000",
        ] {
            let line = format!("fccl job new --size 2 --transport {transport}");
            let args = parse(&line).unwrap();
            assert_eq!(new_job(&args).unwrap().transport, transport);
        }
    }
}
