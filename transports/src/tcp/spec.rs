//! The tcp transport spec:
//! `tcp://HOST:PORT[?mesh=full|lazy][&relay=on-failure|always][&stall=DURATION][&encrypt=on|off][&cc=NAME|system][&fallback=SPEC]`.
//!
//! `encrypt=on` seals every record between two ranks with AES-256-GCM under per-connection
//! keys derived from the job secret (off by default; every rank of a job must use the same
//! setting, and a pair whose ends differ fails to connect). It keeps payloads from anyone on
//! the path between ranks, who can neither read nor change them unnoticed; what it does not
//! hide is the job id, the ranks and the sizes and timing of records, and the registration
//! with the rendezvous server (addresses, job id and rank, over plain TCP) is not encrypted.
//! Nor does it cover relayed pairs, whose messages go through the fallback transport.
//!
//! `fallback=SPEC` comes last and takes the rest of the spec, options included.
//!
//! `stall=DURATION` (`1500ms`, `2s`; 1 s to 10 min, default [`DEFAULT_STALL`]) is how long a
//! direct connection may make no progress before it counts as broken: data it sent that the
//! peer's kernel has not acknowledged for that long (`TCP_USER_TIMEOUT`), or an idle peer
//! that stops answering keepalive probes. Receives from a broken connection fail at once,
//! whatever their own deadline.
//!
//! `cc=NAME` is the TCP congestion control of the data connections. By default they use
//! `cubic` where the host allows it (Linux's own default), whatever the host's default is:
//! on a host whose default is `bbr`, its pacing left a rank's 1 MiB messages waiting in about
//! half of all runs here (benches/README.md). `cc=system` keeps the host's default; any other
//! name (`bbr`, `reno`, ...) must be one the host allows a process to choose
//! (`/proc/sys/net/ipv4/tcp_allowed_congestion_control`), or connecting fails.
//!
//! `HOST:PORT` is the rendezvous server. The operator token, if the server wants one, comes
//! from the `FCCL_RENDEZVOUS_TOKEN` environment variable rather than the spec, so that it
//! stays out of job strings and process listings.

use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Result};

/// How long a direct connection may make no progress, unless the spec says `stall=`.
pub const DEFAULT_STALL: Duration = Duration::from_secs(10);

/// The shortest and longest `stall=` the spec accepts (keepalive counts whole seconds).
const STALL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
/// Which pairs connect, and when.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mesh {
    /// A pair connects when an algorithm first sends or receives between them.
    #[default]
    Lazy,
    /// Every pair connects while the job starts.
    Full,
}

/// When pairs use the fallback transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Relay {
    /// Only pairs that cannot punch through within their deadline.
    #[default]
    OnFailure,
    /// Every pair: no direct connections at all (where functions cannot punch through,
    /// as on platforms whose functions take no inbound traffic of any kind).
    Always,
}

/// The congestion control of the data connections (`cc=`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Congestion {
    /// [`PREFERRED_CONGESTION`] where the host allows it, else the host's default.
    #[default]
    Preferred,
    /// The host's default (`cc=system`).
    System,
    /// This algorithm, which the host must allow (`cc=NAME`).
    Named(String),
}

/// The congestion control data connections use unless the spec says otherwise.
pub const PREFERRED_CONGESTION: &str = "cubic";

impl Congestion {
    /// The algorithm to ask the kernel for, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Congestion::Preferred => Some(PREFERRED_CONGESTION),
            Congestion::System => None,
            Congestion::Named(name) => Some(name),
        }
    }

    /// Parses `cc=`'s value: `system`, or a kernel algorithm's name (at most 15 lower-case
    /// letters, digits or underscores).
    fn parse(value: &str) -> std::result::Result<Congestion, String> {
        let name_ok = (1..16).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        match value {
            "system" => Ok(Congestion::System),
            _ if name_ok => Ok(Congestion::Named(value.to_string())),
            _ => Err(format!(
                "cc={value} is not `system` or a congestion control name such as cubic or bbr"
            )),
        }
    }
}

/// A parsed `tcp://` spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSpec {
    /// The rendezvous server, `HOST:PORT`.
    pub server: String,
    /// Which pairs connect, and when.
    pub mesh: Mesh,
    /// The transport a pair falls back to when it cannot punch through.
    pub fallback: Option<String>,
    /// When pairs use the fallback.
    pub relay: Relay,
    /// The rendezvous operator token.
    pub token: Option<String>,
    /// How long a direct connection may make no progress before it counts as broken.
    pub stall: Duration,
    /// Whether records between ranks are encrypted (`encrypt=on`).
    pub encrypt: bool,
    /// The congestion control of the data connections (`cc=`).
    pub congestion: Congestion,
}

/// The environment variable that carries the rendezvous operator token.
pub const TOKEN_ENV: &str = "FCCL_RENDEZVOUS_TOKEN";

impl TcpSpec {
    /// Parses `spec`; the token is read from [`TOKEN_ENV`].
    pub fn parse(spec: &str) -> Result<TcpSpec> {
        let bad = |why: String| Error::invalid(format!("tcp spec {spec:?}: {why}"));
        let rest = spec
            .strip_prefix("tcp://")
            .ok_or_else(|| bad("must start with tcp://HOST:PORT".into()))?;
        let (server, query) = match rest.split_once('?') {
            Some((s, q)) => (s, Some(q)),
            None => (rest, None),
        };
        let port_ok = server
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(bad("the rendezvous server must be HOST:PORT".into()));
        }
        let mut parsed = TcpSpec {
            server: server.to_string(),
            mesh: Mesh::Lazy,
            fallback: None,
            relay: Relay::OnFailure,
            token: std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()),
            stall: DEFAULT_STALL,
            encrypt: false,
            congestion: Congestion::Preferred,
        };
        // The fallback spec may have its own `&`-separated options: it takes the rest.
        let mut query = query.unwrap_or("");
        while !query.is_empty() {
            if let Some(fallback) = query.strip_prefix("fallback=") {
                if fallback.is_empty() {
                    return Err(bad("fallback= needs a transport spec".into()));
                }
                parsed.fallback = Some(fallback.to_string());
                break;
            }
            let (option, rest) = query.split_once('&').unwrap_or((query, ""));
            match option {
                "mesh=full" => parsed.mesh = Mesh::Full,
                "mesh=lazy" => parsed.mesh = Mesh::Lazy,
                "relay=always" => parsed.relay = Relay::Always,
                "relay=on-failure" => parsed.relay = Relay::OnFailure,
                other if other.starts_with("stall=") => {
                    parsed.stall = parse_stall(&other["stall=".len()..]).map_err(bad)?;
                }
                "encrypt=on" => parsed.encrypt = true,
                "encrypt=off" => parsed.encrypt = false,
                other if other.starts_with("cc=") => {
                    parsed.congestion = Congestion::parse(&other["cc=".len()..]).map_err(bad)?;
                }
                other => return Err(bad(format!("unknown option {other:?}"))),
            }
            query = rest;
        }
        Ok(parsed)
    }

    /// The error for a pair that could not punch through, naming the pair and saying why.
    pub(crate) fn punch_failed(&self, me: usize, peer: usize, why: &str) -> Error {
        let hint = match &self.fallback {
            Some(f) => format!(" (the fallback {f} was not connected)"),
            None => " (add ?fallback=SPEC to the spec to relay such pairs)".to_string(),
        };
        Error::new(
            ErrorKind::Transport,
            format!("ranks {me} and {peer} could not connect: {why}{hint}"),
        )
        .with_peer(peer)
    }
}

/// Parses `stall=`'s value: a whole number of milliseconds (`1500ms`) or seconds (`2s`),
/// within [`STALL_RANGE`].
fn parse_stall(value: &str) -> std::result::Result<Duration, String> {
    let (number, unit) = match value.strip_suffix("ms") {
        Some(n) => (n, Duration::from_millis(1)),
        None => (
            value.strip_suffix('s').unwrap_or(""),
            Duration::from_secs(1),
        ),
    };
    let stall = number
        .parse::<u32>()
        .map(|n| unit * n)
        .map_err(|_| format!("stall={value} is not a duration such as 1500ms or 2s"))?;
    if stall < STALL_RANGE.0 || stall > STALL_RANGE.1 {
        return Err(format!(
            "stall={value} is outside {:?} to {:?}",
            STALL_RANGE.0, STALL_RANGE.1
        ));
    }
    Ok(stall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_mesh_and_fallback() {
        let s = TcpSpec::parse("tcp://10.0.0.1:7000").unwrap();
        assert_eq!(
            (s.server.as_str(), s.mesh, s.fallback),
            ("10.0.0.1:7000", Mesh::Lazy, None)
        );
        let s = TcpSpec::parse("tcp://h:1?mesh=full&fallback=redis://r:6379?x=1&y=2").unwrap();
        assert_eq!((s.mesh, s.relay), (Mesh::Full, Relay::OnFailure));
        assert_eq!(s.fallback.as_deref(), Some("redis://r:6379?x=1&y=2"));
        assert!(!s.encrypt);
        let s = TcpSpec::parse("tcp://h:1?encrypt=on&mesh=full").unwrap();
        assert!(s.encrypt);
        let s = TcpSpec::parse("tcp://h:1?relay=always&fallback=local").unwrap();
        assert_eq!(
            (s.relay, s.fallback.as_deref()),
            (Relay::Always, Some("local"))
        );
    }

    #[test]
    fn stall_takes_seconds_or_milliseconds() {
        assert_eq!(TcpSpec::parse("tcp://h:1").unwrap().stall, DEFAULT_STALL);
        let s = TcpSpec::parse("tcp://h:1?stall=2s&mesh=full").unwrap();
        assert_eq!((s.stall, s.mesh), (Duration::from_secs(2), Mesh::Full));
        let s = TcpSpec::parse("tcp://h:1?stall=1500ms").unwrap();
        assert_eq!(s.stall, Duration::from_millis(1500));
    }

    #[test]
    fn cc_names_an_algorithm_or_the_system_default() {
        let s = TcpSpec::parse("tcp://h:1").unwrap();
        assert_eq!(s.congestion, Congestion::Preferred);
        assert_eq!(s.congestion.name(), Some(PREFERRED_CONGESTION));
        let s = TcpSpec::parse("tcp://h:1?cc=system&mesh=full").unwrap();
        assert_eq!((s.congestion.name(), s.mesh), (None, Mesh::Full));
        let s = TcpSpec::parse("tcp://h:1?cc=bbr").unwrap();
        assert_eq!(s.congestion, Congestion::Named("bbr".into()));
    }

    #[test]
    fn refuses_bad_specs() {
        for spec in [
            "tcp",
            "tcp://",
            "tcp://host",
            "tcp://:80",
            "tcp://h:99999",
            "redis://h:1",
            "tcp://h:1?mesh=half",
            "tcp://h:1?relay=never",
            "tcp://h:1?encrypt=yes",
            "tcp://h:1?fallback=",
            "tcp://h:1?stall=",
            "tcp://h:1?stall=2",
            "tcp://h:1?stall=-1s",
            "tcp://h:1?stall=500ms",
            "tcp://h:1?stall=1h",
            "tcp://h:1?stall=601s",
            "tcp://h:1?cc=",
            "tcp://h:1?cc=BBR",
            "tcp://h:1?cc=a/b",
            "tcp://h:1?cc=sixteen_letters_",
        ] {
            let e = TcpSpec::parse(spec).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{spec}");
        }
    }
}
