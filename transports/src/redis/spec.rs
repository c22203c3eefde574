//! The redis transport spec: `redis://[USER[:PASSWORD]@]HOST:PORT`.
//!
//! A password in the spec is kept for the connection and shown nowhere else: not by
//! `Debug`, not in any error (errors name the server as `HOST:PORT`).

use std::fmt;

use fccl_collectives::{Error, Result};

/// The default size of one part of a message: larger messages travel as several records.
pub const DEFAULT_CHUNK_BYTES: usize = 4 << 20;

/// The smallest part size [`RedisSpec::chunk_bytes`] may be set to.
pub const MIN_CHUNK_BYTES: usize = 1024;

/// The default of [`RedisSpec::window_bytes`].
pub const DEFAULT_WINDOW_BYTES: usize = 64 << 20;

/// A parsed `redis://` spec.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSpec {
    /// The server's host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The user to authenticate as, if any.
    pub username: Option<String>,
    /// The password to authenticate with, if any; never displayed.
    pub password: Option<String>,
    /// The largest payload one record carries; larger messages are split into parts.
    pub chunk_bytes: usize,
    /// How many payload bytes a rank may have sent to one peer that the peer has not let in
    /// yet (see the module docs of `flow.rs`); a sender that is this far ahead waits.
    pub window_bytes: usize,
}

impl fmt::Debug for RedisSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSpec")
            .field("server", &self.server())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("chunk_bytes", &self.chunk_bytes)
            .field("window_bytes", &self.window_bytes)
            .finish()
    }
}

impl RedisSpec {
    /// Parses `spec`, refusing anything but `redis://[USER[:PASSWORD]@]HOST:PORT` with an
    /// [`InvalidArgument`](fccl_collectives::ErrorKind::InvalidArgument) error that does not
    /// repeat the password.
    pub fn parse(spec: &str) -> Result<RedisSpec> {
        let shown = redact(spec);
        let bad = |why: &str| Error::invalid(format!("redis spec {shown:?}: {why}"));
        let rest = spec
            .strip_prefix("redis://")
            .ok_or_else(|| bad("must start with redis://HOST:PORT"))?;
        let (userinfo, server) = match rest.rsplit_once('@') {
            Some((u, s)) => (Some(u), s),
            None => (None, rest),
        };
        if server.contains(['/', '?', '#']) {
            return Err(bad("takes no path or options, only redis://HOST:PORT"));
        }
        let (host, port) = server
            .rsplit_once(':')
            .ok_or_else(|| bad("the server must be HOST:PORT"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6
                .strip_suffix(']')
                .ok_or_else(|| bad("an IPv6 address must be in brackets"))?,
            None if host.contains(':') => return Err(bad("an IPv6 address must be in brackets")),
            None => host,
        };
        if host.is_empty() {
            return Err(bad("the server must be HOST:PORT"));
        }
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (u, None),
                };
                let user = Some(user.to_string()).filter(|s| !s.is_empty());
                let pass = pass.map(str::to_string).filter(|s| !s.is_empty());
                (user, pass)
            }
        };
        Ok(RedisSpec {
            host: host.to_string(),
            port,
            username,
            password,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            window_bytes: DEFAULT_WINDOW_BYTES,
        })
    }

    /// The server as `HOST:PORT` (brackets around an IPv6 address), for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `spec` with any user information replaced by `***`, for error messages.
fn redact(spec: &str) -> String {
    let Some(rest) = spec.strip_prefix("redis://") else {
        // Not a redis spec; still hide anything that looks like credentials.
        return match spec.rsplit_once('@') {
            Some((_, after)) => format!("***@{after}"),
            None => spec.to_string(),
        };
    };
    match rest.rsplit_once('@') {
        Some((_, server)) => format!("redis://***@{server}"),
        None => spec.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use fccl_collectives::ErrorKind;

    use super::*;

    #[test]
    fn parses_servers_and_credentials() {
        let s = RedisSpec::parse("redis://10.0.0.1:6379").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("10.0.0.1", 6379));
        assert_eq!((s.username, s.password), (None, None));
        assert_eq!(s.chunk_bytes, DEFAULT_CHUNK_BYTES);
        let s = RedisSpec::parse("redis://:hunter2@cache.local:7000").unwrap();
        assert_eq!(s.server(), "cache.local:7000");
        assert_eq!((s.username, s.password.as_deref()), (None, Some("hunter2")));
        let s = RedisSpec::parse("redis://fccl:pw@[::1]:6380").unwrap();
        assert_eq!((s.host.as_str(), s.server()), ("::1", "[::1]:6380".into()));
        assert_eq!(s.username.as_deref(), Some("fccl"));
        assert!(!format!("{s:?}").contains("pw\""), "{s:?}");
    }

    #[test]
    fn refuses_bad_specs_without_echoing_a_password() {
        for spec in [
            "redis",
            "redis://",
            "redis://host",
            "redis://:6379",
            "redis://h:0",
            "redis://h:99999",
            "redis://h:6379/0",
            "redis://h:6379?x=1",
            "redis://::1:6379",
            "tcp://h:1",
            "redis://user:s3cret@host",
            "redis://user:s3cret@host:port",
            "rediss://user:s3cret@host:1",
        ] {
            let e = RedisSpec::parse(spec).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{spec}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
    }
}
