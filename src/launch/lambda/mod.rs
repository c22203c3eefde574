//! The AWS Lambda launcher: the N ranks of a job are N concurrent invocations of one
//! function (`fccl run --launcher lambda --function NAME -n N -- bench ...`).
//!
//! [`LambdaLaunch::run`] mints a job and invokes the function once per rank, all at once,
//! each a synchronous (RequestResponse) invocation whose payload is a
//! [`RankEvent`](crate::lambda::RankEvent): the job string, the rank and the command. It
//! waits for every rank's [`RankResult`](crate::lambda::RankResult) and reports each rank
//! as succeeded, failed (with its error) or timed out, with the tail of its log.
//!
//! **An invocation is never retried**, neither by fccl nor by the SDK (its retries are
//! switched off): a rank that is invoked again joins its job a second time, while the first
//! invocation may still be running, and a job of N ranks cannot tell the two apart. An
//! invocation that fails (throttled, the function missing, the endpoint unreachable) fails
//! the job at once with the reason; the ranks already running find that their peer never
//! comes and end with an error by the job's set-up timeout.
//!
//! The ranks must reach the job's transport from where they run: a rendezvous server with
//! an address they can reach (`tcp://HOST:PORT`, run by `fccl rendezvous`), a store
//! (`redis://`, `memcached://`) or SQS queues (`sqs://REGION/PREFIX`). The rendezvous server that `fccl run` embeds for local
//! ranks listens on this machine's loopback, which functions cannot reach, so the launcher
//! refuses `tcp` without an address.

mod invoke;
mod report;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_lambda::config::Region;
use fccl_collectives::{Error, JobSpec, Result};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

pub use report::{LambdaOutcome, RankReport, RankStatus};

/// Lambda's longest function timeout: 15 minutes.
pub const MAX_FUNCTION_TIME: Duration = Duration::from_secs(15 * 60);

/// How much longer than a rank's time limit the launcher waits for its answer: the rank
/// gives up a second before its limit and needs a moment to report.
pub const ANSWER_GRACE: Duration = Duration::from_secs(10);

/// After one rank could not be invoked, how long the launcher still collects the answers
/// that are already coming (the other ranks refused for the same reason, typically) before
/// it reports the rest as abandoned.
const FAILURE_GRACE: Duration = Duration::from_millis(500);

/// A job whose ranks are invocations of one AWS Lambda function.
///
/// ```no_run
/// use fccl::launch::lambda::LambdaLaunch;
///
/// # async fn launch() -> fccl::Result<()> {
/// let mut launch = LambdaLaunch::new("my-fccl-worker", 8, "tcp://203.0.113.7:7000");
/// launch.command = ["bench", "allreduce", "--sizes", "1M"].map(String::from).to_vec();
/// let outcome = launch.run().await?;
/// for report in &outcome.ranks {
///     eprintln!("{report}");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LambdaLaunch {
    /// The function's name, ARN or partial ARN (with a version or alias, if wanted).
    pub function: String,
    /// The number of ranks.
    pub ranks: usize,
    /// The job's transport spec; it must be reachable from the functions.
    pub transport: String,
    /// The job's collective timeout; the default of [`JobSpec`] if `None`.
    pub timeout: Option<Duration>,
    /// The job's set-up timeout; the default of [`JobSpec`] if `None`.
    pub setup_timeout: Option<Duration>,
    /// The AWS region; from the environment (`AWS_REGION`, the profile) if `None`.
    pub region: Option<String>,
    /// Where to send invocations instead of the region's Lambda endpoint (a local emulator
    /// such as `cargo lambda watch`).
    pub endpoint: Option<String>,
    /// The built-in job every rank runs (`bench allreduce ...`), carried in the payload.
    pub command: Vec<String>,
    /// How long each rank may run: it gives up (and reports) a little before this, or its
    /// function's own timeout if that is shorter; the launcher waits [`ANSWER_GRACE`] more
    /// and then reports it as timed out.
    pub time_limit: Duration,
}

impl LambdaLaunch {
    /// A job of `ranks` invocations of `function` over `transport`, no command, the
    /// default timeouts, a time limit of [`MAX_FUNCTION_TIME`].
    pub fn new(function: impl Into<String>, ranks: usize, transport: impl Into<String>) -> Self {
        LambdaLaunch {
            function: function.into(),
            ranks,
            transport: transport.into(),
            timeout: None,
            setup_timeout: None,
            region: None,
            endpoint: None,
            command: Vec::new(),
            time_limit: MAX_FUNCTION_TIME,
        }
    }

    /// The job this launch runs: a fresh id and secret, the transport and timeouts.
    pub fn job(&self) -> Result<JobSpec> {
        if self.ranks == 0 {
            return Err(Error::invalid("a job needs at least one rank"));
        }
        if self.function.is_empty() {
            return Err(Error::invalid("no function to invoke: give its name"));
        }
        check_transport(&self.transport)?;
        let mut job = JobSpec::new(self.ranks, self.transport.clone())?;
        job.timeout = self.timeout.unwrap_or(job.timeout);
        job.setup_timeout = self.setup_timeout.unwrap_or(job.setup_timeout);
        job.validate()?;
        Ok(job)
    }

    /// Runs a fresh job (see [`LambdaLaunch::job`]) to its end.
    pub async fn run(&self) -> Result<LambdaOutcome> {
        let job = self.job()?;
        self.run_job(&job).await
    }

    /// Invokes the function once per rank of `job`, all at once, and waits for every rank,
    /// or until one could not be invoked.
    ///
    /// Errors are for launches that could not start (no region, a payload too large); how
    /// every rank ended is in the [`LambdaOutcome`].
    pub async fn run_job(&self, job: &JobSpec) -> Result<LambdaOutcome> {
        let client = self.client().await?;
        let limit_ms = u64::try_from(self.time_limit.as_millis()).unwrap_or(u64::MAX);
        let payloads = (0..job.size)
            .map(|rank| {
                let mut event = crate::lambda::RankEvent::new(job, rank, self.command.clone());
                event.time_limit_ms = Some(limit_ms);
                event.to_payload()
            })
            .collect::<Result<Vec<_>>>()?;
        let wait = self.time_limit + ANSWER_GRACE;
        let mut pending: FuturesUnordered<_> = payloads
            .into_iter()
            .enumerate()
            .map(|(rank, payload)| {
                let client = client.clone();
                let function = self.function.clone();
                async move {
                    let answer = tokio::time::timeout(
                        wait,
                        invoke::invoke(&client, &function, rank, payload),
                    )
                    .await;
                    answer.unwrap_or_else(|_| RankReport::timed_out_waiting(rank, wait))
                }
            })
            .collect();
        let mut reports: Vec<Option<RankReport>> = vec![None; job.size];
        let mut stop_at = None;
        loop {
            let next = match stop_at {
                None => pending.next().await,
                Some(at) => match tokio::time::timeout_at(at, pending.next()).await {
                    Ok(next) => next,
                    Err(_) => break,
                },
            };
            let Some(report) = next else { break };
            if matches!(report.status, RankStatus::NotInvoked(_)) && stop_at.is_none() {
                stop_at = Some(tokio::time::Instant::now() + FAILURE_GRACE);
            }
            let rank = report.rank;
            reports[rank] = Some(report);
        }
        let ranks = reports
            .into_iter()
            .enumerate()
            .map(|(rank, r)| r.unwrap_or_else(|| RankReport::abandoned(rank, job.setup_timeout)))
            .collect();
        Ok(LambdaOutcome { ranks })
    }

    /// A Lambda client for this launch: the region and endpoint given, credentials from the
    /// standard chain, and no retries (see the module's documentation).
    async fn client(&self) -> Result<aws_sdk_lambda::Client> {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled());
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(Error::invalid(
                "no AWS region: give --region, or set AWS_REGION (or a region in the AWS \
                 profile)",
            ));
        }
        Ok(aws_sdk_lambda::Client::new(&config))
    }
}

/// Refuses transports that functions cannot join.
fn check_transport(transport: &str) -> Result<()> {
    for medium in crate::media_specs(transport) {
        if medium == "tcp" || medium.starts_with("tcp?") {
            return Err(Error::invalid(format!(
                "transport {medium} has no rendezvous address, and functions cannot reach \
                 the one `fccl run` embeds on this machine's loopback: run `fccl rendezvous \
                 --listen 0.0.0.0:7000` on a host the functions reach and give --transport \
                 tcp://HOST:7000 (or a store, redis://HOST:PORT or memcached://HOST:PORT, or \
                 sqs://REGION/PREFIX)"
            )));
        }
        if medium == "local" {
            return Err(Error::invalid(
                "transport local runs ranks as threads of one process, not as functions: give \
                 tcp://HOST:PORT of a running `fccl rendezvous`, or a store",
            ));
        }
    }
    Ok(())
}
