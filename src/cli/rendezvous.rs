//! `fccl rendezvous`: the rendezvous server, in the foreground.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::Args;
use fccl_transports::tcp::TOKEN_ENV;
use fccl_transports::tcp::rendezvous::{RendezvousServer, ServerConfig};
use tokio::signal::unix::{SignalKind, signal};

use super::fail;

/// Arguments of `fccl rendezvous`.
#[derive(Debug, Args)]
pub(crate) struct RendezvousArgs {
    /// The address to listen on, HOST:PORT (port 0 picks a free one; the line
    /// `listening on ADDR` on standard output says which). Ranks register with it through
    /// the transport spec tcp://HOST:PORT. When FCCL_RENDEZVOUS_TOKEN is set, only ranks
    /// that have the same token may register.
    #[arg(long, value_name = "ADDR")]
    listen: String,
}

impl RendezvousArgs {
    fn config(&self, token: Option<String>) -> ServerConfig {
        ServerConfig {
            token: token.filter(|t| !t.is_empty()),
            ..ServerConfig::default()
        }
    }
}

/// Runs `fccl rendezvous` until SIGINT or SIGTERM.
pub(super) fn main(args: RendezvousArgs) -> ExitCode {
    let config = args.config(std::env::var(TOKEN_ENV).ok());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(serve(&args.listen, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Serves on `listen` until a signal comes or the server fails.
async fn serve(listen: &str, config: ServerConfig) -> Result<(), String> {
    // Handlers first, so a signal right after the address is printed stops cleanly.
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch for SIGINT: {e}"))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    let addr = resolve(listen)?;
    raise_open_file_limit();
    let server = RendezvousServer::bind(addr, config).map_err(|e| e.to_string())?;
    let addr = server.local_addr();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to standard output: {e}"))?;
    drop(stdout);
    tokio::select! {
        served = server.run() => served.map_err(|e| format!("rendezvous server: {e}")),
        _ = interrupt.recv() => Ok(()),
        _ = terminate.recv() => Ok(()),
    }
}

/// The first address `listen` (HOST:PORT, the host a name or an IP address) stands for.
fn resolve(listen: &str) -> Result<SocketAddr, String> {
    let mut addrs = listen
        .to_socket_addrs()
        .map_err(|e| format!("cannot listen on {listen:?}: {e} (give HOST:PORT)"))?;
    addrs
        .next()
        .ok_or_else(|| format!("cannot listen on {listen:?}: the host has no address"))
}

/// Raises the soft limit on open files to the hard limit: every rank that waits for its job
/// holds one connection, and the usual soft limit of 1024 would cap a server at about that
/// many waiting ranks.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(line: &str) -> Result<RendezvousArgs, clap::Error> {
        let cli = Cli::try_parse_from(line.split_whitespace())?;
        let Command::Rendezvous(args) = cli.command else {
            panic!("not fccl rendezvous: {line}");
        };
        Ok(args)
    }

    #[test]
    fn listens_where_told_with_the_token_given() {
        let args = parse("fccl rendezvous --listen 0.0.0.0:7000").unwrap();
        assert_eq!(args.listen, "0.0.0.0:7000");
        assert_eq!(
            args.config(Some("s3cret".into())).token.as_deref(),
            Some("s3cret")
        );
        assert_eq!(args.config(Some(String::new())).token, None);
        assert_eq!(args.config(None).token, None);
        assert!(parse("fccl rendezvous").is_err());
        assert!(parse("fccl rendezvous --listen").is_err());
        assert_eq!(resolve("127.0.0.1:0").unwrap().to_string(), "127.0.0.1:0");
        assert_eq!(resolve("localhost:7").unwrap().port(), 7);
        for bad in ["127.0.0.1", "nohost:x", ":80"] {
            let e = resolve(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
