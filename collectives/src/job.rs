//! Jobs: N ranks that run one program, described by one short string.
//!
//! A [`JobSpec`] holds a random 128-bit job id, a random 256-bit secret, the job's size, its
//! transport spec and its timeouts. It serialises to one line (like NCCL's unique id) that
//! travels to every rank in the `FCCL_JOB` environment variable or a Lambda payload:
//!
//! ```text
//! fccl1:<job id, 32 hex>:<secret, 64 hex>:<size>:<timeout ms>:<setup ms>:<transport spec>
//! ```
//!
//! The transport spec comes last and may itself contain `:`. The secret never appears in
//! `Debug` or `Display` output, nor in any error.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::RngCore;

use crate::error::{Error, Result};

/// The prefix and version of a job string.
const PREFIX: &str = "fccl1";

/// The largest job fccl accepts, in ranks.
pub const MAX_RANKS: usize = 1 << 20;

/// A job's random 128-bit identifier. It is not secret, but it reveals nothing either.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub [u8; 16]);

impl JobId {
    /// A fresh random id.
    pub fn random() -> JobId {
        let mut id = [0; 16];
        rand::rng().fill_bytes(&mut id);
        JobId(id)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}

/// A job's random 256-bit secret: ranks prove they know it, and never send it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub [u8; 32]);

impl Secret {
    /// A fresh random secret.
    pub fn random() -> Secret {
        let mut s = [0; 32];
        rand::rng().fill_bytes(&mut s);
        Secret(s)
    }

    /// The secret's bytes, for keyed MACs.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Everything a rank needs to join a job.
#[derive(Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The job's id.
    pub id: JobId,
    /// The job's secret.
    pub secret: Secret,
    /// The number of ranks.
    pub size: usize,
    /// The transport spec (`tcp://HOST:PORT`, `local`, ...).
    pub transport: String,
    /// The default timeout of every collective.
    pub timeout: Duration,
    /// How long joining may take: rendezvous and connection set-up.
    pub setup_timeout: Duration,
}

impl JobSpec {
    /// The default collective timeout.
    pub const DEFAULT_TIMEOUT: Duration = crate::comm::DEFAULT_TIMEOUT;
    /// The default set-up timeout: long enough for functions that start cold.
    pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(60);

    /// A fresh job (new id and secret) of `size` ranks over `transport`, with the default
    /// timeouts.
    pub fn new(size: usize, transport: impl Into<String>) -> Result<JobSpec> {
        let job = JobSpec {
            id: JobId::random(),
            secret: Secret::random(),
            size,
            transport: transport.into(),
            timeout: JobSpec::DEFAULT_TIMEOUT,
            setup_timeout: JobSpec::DEFAULT_SETUP_TIMEOUT,
        };
        job.validate()?;
        Ok(job)
    }

    /// Checks the size, the timeouts and the transport spec's form.
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 || self.size > MAX_RANKS {
            return Err(Error::invalid(format!(
                "a job has 1 to {MAX_RANKS} ranks, not {}",
                self.size
            )));
        }
        if self.timeout.is_zero() || self.setup_timeout.is_zero() {
            return Err(Error::invalid("a job's timeouts must be positive"));
        }
        if self.transport.is_empty() || self.transport.chars().any(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "transport spec {:?} is empty or has white space",
                self.transport
            )));
        }
        Ok(())
    }

    /// Checks that `rank` is a rank of this job.
    pub fn check_rank(&self, rank: usize) -> Result<()> {
        if rank >= self.size {
            return Err(Error::invalid(format!(
                "rank {rank} is out of range for a job of {} ranks",
                self.size
            )));
        }
        Ok(())
    }
}

impl fmt::Display for JobSpec {
    /// The job string, secret included: pass it only to the job's ranks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}:{}:{}:{}:{}:{}:{}",
            self.id,
            hex(&self.secret.0),
            self.size,
            self.timeout.as_millis(),
            self.setup_timeout.as_millis(),
            self.transport
        )
    }
}

impl fmt::Debug for JobSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobSpec")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .field("size", &self.size)
            .field("transport", &self.transport)
            .field("timeout", &self.timeout)
            .field("setup_timeout", &self.setup_timeout)
            .finish()
    }
}

impl FromStr for JobSpec {
    type Err = Error;

    /// Parses a job string; errors say which field is wrong and never echo the secret.
    fn from_str(s: &str) -> Result<JobSpec> {
        let s = s.trim();
        let mut fields = s.splitn(7, ':');
        let mut next = |what: &str| {
            fields
                .next()
                .ok_or_else(|| Error::invalid(format!("job string is cut short before its {what}")))
        };
        let prefix = next("prefix")?;
        if prefix != PREFIX {
            return Err(Error::invalid(format!(
                "not an fccl job string (it must start with `{PREFIX}:`)"
            )));
        }
        let id = JobId(unhex(next("job id")?, "job id")?);
        let secret = Secret(unhex(next("secret")?, "secret")?);
        let number = |field: &str, what: &str| {
            field.parse::<u64>().map_err(|_| {
                Error::invalid(format!("job string: {what} {field:?} is not a number"))
            })
        };
        let size = number(next("size")?, "size")?;
        let timeout = Duration::from_millis(number(next("timeout")?, "timeout")?);
        let setup_timeout =
            Duration::from_millis(number(next("set-up timeout")?, "set-up timeout")?);
        let transport = next("transport spec")?.to_string();
        let job = JobSpec {
            id,
            secret,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            transport,
            timeout,
            setup_timeout,
        };
        job.validate()?;
        Ok(job)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses exactly `N` bytes of lower- or upper-case hex; the error names the field only.
fn unhex<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let bad = || {
        Error::invalid(format!(
            "job string: the {what} must be {} hex digits",
            2 * N
        ))
    };
    if s.len() != 2 * N || !s.is_ascii() {
        return Err(bad());
    }
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn round_trips_through_its_string() {
        let mut job = JobSpec::new(16, "tcp://127.0.0.1:4000?mesh=full").unwrap();
        job.timeout = Duration::from_millis(1500);
        let text = job.to_string();
        assert!(text.starts_with("fccl1:"), "{text}");
        let back: JobSpec = text.parse().unwrap();
        assert_eq!(back, job);
        assert_eq!(back.transport, "tcp://127.0.0.1:4000?mesh=full");
    }

    #[test]
    fn fresh_jobs_differ() {
        let a = JobSpec::new(2, "tcp").unwrap();
        let b = JobSpec::new(2, "tcp").unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret, b.secret);
    }

    #[test]
    fn the_secret_never_prints_outside_the_job_string() {
        let job = JobSpec::new(2, "tcp").unwrap();
        let secret = hex(&job.secret.0);
        assert!(!format!("{job:?}").contains(&secret));
        let mut wrong = job.to_string();
        wrong.push_str(" trailing");
        let e = wrong.parse::<JobSpec>().unwrap_err();
        assert!(!e.to_string().contains(&secret), "{e}");
    }

    #[test]
    fn bad_strings_are_refused_with_the_field_named() {
        let good = JobSpec::new(4, "tcp://h:1").unwrap().to_string();
        let fields: Vec<&str> = good.splitn(7, ':').collect();
        let with = |i: usize, v: &str| {
            let mut f = fields.clone();
            f[i] = v;
            f.join(":")
        };
        for (text, says) in [
            (String::new(), "fccl job string"),
            ("fccl2:".to_string() + &good[6..], "fccl job string"),
            (with(1, "abc"), "job id"),
            (with(2, &"zz".repeat(32)), "secret"),
            (with(3, "x"), "size"),
            (with(3, "0"), "1 to"),
            (with(4, "-1"), "timeout"),
            (with(5, "0"), "positive"),
            (fields[..6].join(":"), "transport"),
            (with(6, ""), "transport spec"),
        ] {
            let e = text.parse::<JobSpec>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.to_string().contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn ranks_are_checked() {
        let job = JobSpec::new(3, "tcp").unwrap();
        assert!(job.check_rank(2).is_ok());
        assert_eq!(
            job.check_rank(3).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}
