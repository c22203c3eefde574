//! Joining a job: from a [`JobSpec`] and a rank to a [`Communicator`].
//!
//! A launcher (`fccl run`, the Lambda launcher, or a script that ran `fccl job new`) hands
//! every rank the job string in `FCCL_JOB` and its rank in `FCCL_RANK`; the rank calls
//! [`init_from_env`] and gets a communicator over every rank of the job.

use std::ffi::OsString;
use std::sync::Arc;

use fccl_collectives::{Communicator, Error, ErrorKind, JobSpec, Rank, Result, Transport};
use fccl_transports::memcached::{MemcachedSpec, MemcachedTransport};
use fccl_transports::redis::{RedisSpec, RedisTransport};
use fccl_transports::sqs::{SqsSpec, SqsTransport};
use fccl_transports::tcp::{TcpSpec, TcpTransport};

/// The environment variable that carries the job string.
pub const JOB_ENV: &str = "FCCL_JOB";
/// The environment variable that carries this process's rank (decimal).
pub const RANK_ENV: &str = "FCCL_RANK";
/// The environment variable in which `fccl run` also passes the job's size, for programs
/// that want it without parsing the job string. [`init_from_env`] does not read it.
pub const SIZE_ENV: &str = "FCCL_SIZE";

/// Joins `job` as `rank` over the job's transport and returns the communicator over every
/// rank of the job, with the job's collective timeout.
///
/// Transport specs:
/// - `tcp://HOST:PORT[?mesh=full|lazy][&relay=always][&stall=2s][&encrypt=on][&fallback=STORE]`: direct
///   TCP through the rendezvous server at `HOST:PORT`, whose operator token (if it wants
///   one) comes from `FCCL_RENDEZVOUS_TOKEN`; pairs that cannot punch through (or all
///   pairs, with `relay=always`) go through the fallback store (`redis://` or
///   `memcached://`); a connection that makes no progress for `stall` (10 s unless set)
///   breaks, failing the receives that wait on it; `encrypt=on` seals every record between
///   ranks with AES-256-GCM.
/// - `redis://HOST:PORT`: every message through a Redis server (one inbox list per rank).
/// - `memcached://HOST:PORT[,HOST:PORT...]`: every message through memcached servers
///   (keys spread over them by hash; the receivers poll).
/// - `sqs://REGION/PREFIX[?endpoint=URL][&max_message=BYTES][&fifo=true]`: every message
///   through Amazon SQS, one queue per rank, with credentials from the standard AWS chain
///   (environment, profile, the Lambda or instance role).
/// - Several media joined by `+` (`tcp://HOST:PORT+sqs://...`): each collective runs over
///   the one the cost model favours ([`Communicator::set_hint`]).
/// - `local` is refused: local ranks are threads of one process, started by
///   [`local::run`](crate::local::run), not processes that join a job.
/// - `tcp` without an address is what `fccl run` replaces with its embedded server's
///   address; a rank never sees it from `fccl run`, so it is refused too.
///
/// Other schemes are refused as [`ErrorKind::Unsupported`] in this build.
///
/// ```no_run
/// # async fn rank() -> fccl::Result<()> {
/// let job: fccl::JobSpec = std::env::var("MY_JOB").unwrap().parse()?;
/// let mut comm = fccl::connect(&job, 2).await?;
/// let mut x = vec![1.0f32; 8];
/// comm.all_reduce(&mut x, fccl::ReduceOp::Sum).await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(job: &JobSpec, rank: Rank) -> Result<Communicator> {
    job.validate()?;
    job.check_rank(rank)?;
    let specs = media_specs(&job.transport);
    let joins = specs.iter().map(|spec| connect_medium(job, rank, spec));
    let media = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let mut comm = Communicator::with_media(media)?;
    comm.set_timeout(job.timeout);
    Ok(comm)
}

/// Joins one medium of `job` (one part of its spec) as `rank`.
async fn connect_medium(job: &JobSpec, rank: Rank, spec: &str) -> Result<Arc<dyn Transport>> {
    let transport: Arc<dyn Transport> = match Scheme::of(spec) {
        Scheme::Tcp => {
            let spec = TcpSpec::parse(spec)?;
            match &spec.fallback {
                None => Arc::new(TcpTransport::connect_here(job, rank, &spec).await?),
                Some(fallback) => {
                    let relay = match Scheme::of(fallback) {
                        Scheme::Redis | Scheme::Memcached | Scheme::Sqs => {
                            connect_store(job, rank, fallback).await?
                        }
                        _ => {
                            return Err(Error::new(
                                ErrorKind::Unsupported,
                                format!(
                                    "fallback transport {} is not available in this build \
                                     (redis://, memcached:// and sqs:// are)",
                                    transport_name(fallback)
                                ),
                            ));
                        }
                    };
                    Arc::new(TcpTransport::connect_with_fallback(job, rank, &spec, relay).await?)
                }
            }
        }
        Scheme::Redis | Scheme::Memcached | Scheme::Sqs => connect_store(job, rank, spec).await?,
        Scheme::TcpEmbedded => {
            return Err(Error::invalid(
                "transport `tcp` has no rendezvous address: `fccl run` replaces it with its \
                 embedded server's tcp://HOST:PORT; ranks started any other way need \
                 tcp://HOST:PORT of a running `fccl rendezvous`",
            ));
        }
        Scheme::Local => {
            return Err(Error::invalid(
                "transport `local` cannot be joined: local ranks are threads of one process; \
                 run them with fccl::local::run, or use tcp to join ranks in processes",
            ));
        }
        Scheme::Other(scheme) => {
            // Only the scheme: the rest of a store's URL may hold a password.
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "transport {scheme} is not available in this build (tcp://, redis://, \
                     memcached:// and sqs:// are)"
                ),
            ));
        }
    };
    Ok(transport)
}

/// Joins a medium that needs no rendezvous (`redis://`, `memcached://` or `sqs://`) of
/// `job` as `rank`.
async fn connect_store(job: &JobSpec, rank: Rank, spec: &str) -> Result<Arc<dyn Transport>> {
    if spec.starts_with("sqs://") {
        let spec = SqsSpec::parse(spec)?;
        Ok(Arc::new(SqsTransport::connect(job, rank, &spec).await?))
    } else if spec.starts_with("memcached://") {
        let spec = MemcachedSpec::parse(spec)?;
        Ok(Arc::new(
            MemcachedTransport::connect(job, rank, &spec).await?,
        ))
    } else {
        let spec = RedisSpec::parse(spec)?;
        Ok(Arc::new(RedisTransport::connect(job, rank, &spec).await?))
    }
}

/// Joins the job this process was started for: reads the job string from `FCCL_JOB` and
/// the rank from `FCCL_RANK`, then [`connect`]s.
///
/// Errors are [`ErrorKind::InvalidArgument`] when a variable is missing or malformed; they
/// never repeat the job string, which holds the job's secret.
///
/// ```no_run
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> fccl::Result<()> {
///     // Started by `fccl run -n 4 -- ./my-program`.
///     let mut comm = fccl::init_from_env().await?;
///     let mut grads = vec![comm.rank() as f32; 1000];
///     comm.all_reduce(&mut grads, fccl::ReduceOp::Sum).await?;
///     println!("rank {} of {}: {}", comm.rank(), comm.size(), grads[0]);
///     Ok(())
/// }
/// ```
pub async fn init_from_env() -> Result<Communicator> {
    match job_from_env()? {
        Some((job, rank)) => connect(&job, rank).await,
        None => Err(Error::invalid(format!(
            "{JOB_ENV} and {RANK_ENV} are not set: start the ranks with `fccl run -n N -- \
             PROGRAM`, or set {JOB_ENV} to a job string from `fccl job new` and {RANK_ENV} to \
             each process's rank"
        ))),
    }
}

/// The job and rank this process was started for: `None` if neither `FCCL_JOB` nor
/// `FCCL_RANK` is set, an error if only one is set or either is malformed (the rank out of
/// range included).
///
/// ```
/// # fn main() -> fccl::Result<()> {
/// match fccl::job_from_env()? {
///     Some((job, rank)) => println!("rank {rank} of a job of {} ranks", job.size),
///     None => println!("not started by a launcher"),
/// }
/// # Ok(())
/// # }
/// ```
pub fn job_from_env() -> Result<Option<(JobSpec, Rank)>> {
    job_from_vars(std::env::var_os(JOB_ENV), std::env::var_os(RANK_ENV))
}

/// [`job_from_env`] on given values of `FCCL_JOB` and `FCCL_RANK`.
fn job_from_vars(job: Option<OsString>, rank: Option<OsString>) -> Result<Option<(JobSpec, Rank)>> {
    let (job, rank) = match (job, rank) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(Error::invalid(format!(
                "{JOB_ENV} is set but {RANK_ENV} is not: set {RANK_ENV} to this process's rank"
            )));
        }
        (None, Some(_)) => {
            return Err(Error::invalid(format!(
                "{RANK_ENV} is set but {JOB_ENV} is not: set {JOB_ENV} to the job string \
                 (from `fccl job new`)"
            )));
        }
        (Some(job), Some(rank)) => (job, rank),
    };
    let job: JobSpec = job
        .to_str()
        .ok_or_else(|| Error::invalid(format!("{JOB_ENV} is not valid UTF-8")))?
        .parse()
        .map_err(|e: Error| Error::invalid(format!("{JOB_ENV}: {}", e.message())))?;
    let rank_text = rank.to_string_lossy();
    let rank: Rank = rank_text
        .trim()
        .parse()
        .ok()
        .filter(|_| !rank_text.trim().starts_with('+'))
        .ok_or_else(|| {
            Error::invalid(format!(
                "{RANK_ENV}={rank_text:?} is not a rank (a decimal number from 0)"
            ))
        })?;
    job.check_rank(rank)
        .map_err(|e| Error::invalid(format!("{RANK_ENV}: {}", e.message())))?;
    Ok(Some((job, rank)))
}

/// The kinds of transport spec [`connect`] tells apart.
#[derive(Debug, PartialEq, Eq)]
enum Scheme<'a> {
    /// `tcp://HOST:PORT...`
    Tcp,
    /// `tcp` or `tcp?options`: the embedded rendezvous of `fccl run`.
    TcpEmbedded,
    /// `local`
    Local,
    /// `redis://HOST:PORT`
    Redis,
    /// `memcached://HOST:PORT[,HOST:PORT...]`
    Memcached,
    /// `sqs://REGION/PREFIX...`
    Sqs,
    /// Anything else, by its scheme (`redis://`, say).
    Other(&'a str),
}

impl<'a> Scheme<'a> {
    fn of(spec: &'a str) -> Scheme<'a> {
        if spec.starts_with("tcp://") {
            Scheme::Tcp
        } else if spec == "tcp" || spec.starts_with("tcp?") {
            Scheme::TcpEmbedded
        } else if spec == "local" {
            Scheme::Local
        } else if spec.starts_with("redis://") {
            Scheme::Redis
        } else if spec.starts_with("memcached://") {
            Scheme::Memcached
        } else if spec.starts_with("sqs://") {
            Scheme::Sqs
        } else {
            Scheme::Other(scheme(spec))
        }
    }
}

/// The name of a transport spec for reports: its scheme, without address or options (the
/// schemes of every medium, joined by `+`, for a spec of several).
///
/// ```
/// assert_eq!(fccl::transport_name("tcp://127.0.0.1:4000?mesh=full"), "tcp");
/// assert_eq!(fccl::transport_name("tcp?mesh=full"), "tcp");
/// assert_eq!(fccl::transport_name("local"), "local");
/// assert_eq!(fccl::transport_name("tcp://h:1+redis://h:2"), "tcp+redis");
/// ```
pub fn transport_name(spec: &str) -> String {
    media_specs(spec)
        .into_iter()
        .map(scheme)
        .collect::<Vec<_>>()
        .join("+")
}

/// The scheme of one medium's spec: what comes before `://` or `?`.
fn scheme(medium: &str) -> &str {
    let end = medium
        .find("://")
        .or_else(|| medium.find('?'))
        .unwrap_or(medium.len());
    &medium[..end]
}

/// The schemes a medium of a spec of several may start with, after its `+`.
const MEDIUM_STARTS: [&str; 6] = [
    "tcp://",
    "tcp?",
    "redis://",
    "memcached://",
    "sqs://",
    "local",
];

/// The media of a transport spec: `A+B+...` split before every `+` that starts another
/// medium (`+tcp`, `+tcp://`, `+redis://`, `+memcached://`, `+sqs://`, `+local`), so a `+`
/// inside one medium's spec (a password, say) stays where it is.
///
/// ```
/// assert_eq!(fccl::media_specs("tcp://h:1"), ["tcp://h:1"]);
/// assert_eq!(fccl::media_specs("tcp+redis://u:a+b@h:2"), ["tcp", "redis://u:a+b@h:2"]);
/// ```
pub fn media_specs(spec: &str) -> Vec<&str> {
    let mut media = Vec::new();
    let mut start = 0;
    for (i, _) in spec.match_indices('+') {
        let rest = &spec[i + 1..];
        let is_tcp = rest == "tcp" || rest.starts_with("tcp+");
        if is_tcp || MEDIUM_STARTS.iter().any(|m| rest.starts_with(m)) {
            media.push(&spec[start..i]);
            start = i + 1;
        }
    }
    media.push(&spec[start..]);
    media
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(job: Option<&str>, rank: Option<&str>) -> Result<Option<(JobSpec, Rank)>> {
        job_from_vars(job.map(OsString::from), rank.map(OsString::from))
    }

    #[test]
    fn the_environment_names_the_job_and_rank() {
        let job = JobSpec::new(3, "tcp://127.0.0.1:9").unwrap();
        let text = job.to_string();
        assert_eq!(vars(None, None).unwrap(), None);
        assert_eq!(
            vars(Some(&text), Some("2")).unwrap(),
            Some((job.clone(), 2))
        );
        assert_eq!(vars(Some(&text), Some(" 0\n")).unwrap(), Some((job, 0)));
    }

    #[test]
    fn missing_or_malformed_variables_are_refused_without_the_secret() {
        let job = JobSpec::new(3, "tcp://127.0.0.1:9").unwrap();
        let text = job.to_string();
        let secret: String = job.secret.0.iter().map(|b| format!("{b:02x}")).collect();
        let broken = text.replace(":3:", ":x:");
        for (j, r, says) in [
            (Some(text.as_str()), None, "FCCL_RANK is not"),
            (None, Some("1"), "FCCL_JOB is not"),
            (Some(text.as_str()), Some("one"), "\"one\" is not a rank"),
            (Some(text.as_str()), Some("-1"), "not a rank"),
            (Some(text.as_str()), Some("+1"), "not a rank"),
            (Some(text.as_str()), Some("3"), "out of range"),
            (
                Some(broken.as_str()),
                Some("0"),
                "FCCL_JOB: job string: size",
            ),
            (Some("fccl1:nope"), Some("0"), "FCCL_JOB"),
        ] {
            let e = vars(j, r).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            let message = e.to_string();
            assert!(message.contains(says), "{message}");
            assert!(!message.contains(&secret), "{message}");
        }
    }

    fn connect_error(transport: &str) -> Error {
        let job = JobSpec::new(2, transport).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(connect(&job, 0)).unwrap_err()
    }

    #[test]
    fn transports_that_cannot_be_joined_are_refused_clearly() {
        let e = connect_error("local");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("threads of one process"), "{e}");
        assert!(e.to_string().contains("local::run"), "{e}");
        let e = connect_error("tcp?mesh=full");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("fccl run"), "{e}");
        let e = connect_error("sqs://user:hunter2@us-east-1/p");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.to_string().contains("sqs spec"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = connect_error("tcp://127.0.0.1:9?fallback=sqs://user:hunter2@us-east-1/p");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = connect_error("nats://user:hunter2@h:1");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("transport nats"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = connect_error("tcp://127.0.0.1:9?fallback=nats://user:hunter2@h:1");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("fallback transport nats"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = connect_error("memcached://h:1?colour=blue");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = connect_error("tcp://nowhere");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let job = JobSpec::new(2, "tcp://127.0.0.1:9").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt.block_on(connect(&job, 2)).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn schemes_name_transports_without_addresses() {
        assert_eq!(transport_name("tcp://127.0.0.1:4000?mesh=full"), "tcp");
        assert_eq!(transport_name("tcp?mesh=full"), "tcp");
        assert_eq!(transport_name("tcp"), "tcp");
        assert_eq!(transport_name("local"), "local");
        assert_eq!(transport_name("sqs://us-east-1/p?endpoint=http://x"), "sqs");
        assert_eq!(Scheme::of("redis://h:1"), Scheme::Redis);
        assert_eq!(Scheme::of("memcached://h:1"), Scheme::Memcached);
        assert_eq!(Scheme::of("sqs://r/p"), Scheme::Sqs);
        assert_eq!(Scheme::of("nats://h:1"), Scheme::Other("nats"));
    }
}
