//! Connections to the server: opening one within a deadline, the pipelined connection that
//! senders share (replaced after a failure), and a small pool of connections for blocking
//! commands.
//!
//! A blocking command (`BLPOP`, `BLMOVE`) holds its connection until it returns, and on a
//! multiplexed connection every command queued behind it waits too; so each waiting `get`,
//! `wait_for` or stalled sender leases a connection of its own. Connections are opened on
//! the endpoint's I/O runtime, so that they outlive the caller's runtime. A lease whose
//! wait was cut short (an abort, a departure) is dropped with its connection, which may still
//! be blocked on the server; a lease whose command returned goes back to the pool, which
//! keeps at most [`IDLE`] idle connections.

use std::sync::Mutex;
use std::time::Duration;

use fccl_collectives::{Error, ErrorKind, Result};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::runtime::Handle;
use tokio::time::Instant;

/// How many idle blocking connections the pool keeps.
const IDLE: usize = 4;

/// A transport error that names the server (never the password) and what failed.
pub(crate) fn redis_error(server: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!("redis server {server}: {what}: {e}"),
    )
}

/// Opens a connection whose every command ends within `response`.
pub(crate) async fn open(
    client: &redis::Client,
    server: &str,
    deadline: Instant,
    response: Duration,
) -> Result<MultiplexedConnection> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(left)
        .set_response_timeout(response);
    let connect = client.get_multiplexed_async_connection_with_config(&config);
    match tokio::time::timeout_at(deadline, connect).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(redis_error(server, "cannot connect", e)),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("redis server {server}: no connection within the set-up timeout"),
        )),
    }
}

/// The pipelined connection that commands which do not block share; the reader replaces it
/// once it has reconnected to the same server after a failure.
pub(crate) struct SharedConn(Mutex<MultiplexedConnection>);

impl SharedConn {
    pub(crate) fn new(conn: MultiplexedConnection) -> SharedConn {
        SharedConn(Mutex::new(conn))
    }

    /// A handle on the current connection (cheap: it pipelines through one socket).
    pub(crate) fn get(&self) -> MultiplexedConnection {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn replace(&self, conn: MultiplexedConnection) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = conn;
    }
}

/// Connections for blocking commands, one per waiting command.
pub(crate) struct BlockingPool {
    client: redis::Client,
    server: String,
    /// The response timeout of a pooled connection: longer than any block it is used for.
    response: Duration,
    io: Handle,
    idle: Mutex<Vec<MultiplexedConnection>>,
}

impl BlockingPool {
    pub(crate) fn new(
        client: redis::Client,
        server: String,
        response: Duration,
        io: Handle,
    ) -> BlockingPool {
        BlockingPool {
            client,
            server,
            response,
            io,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one opened (on the I/O runtime) by `deadline`.
    pub(crate) async fn lease(&self, deadline: Instant) -> Result<Lease<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let (client, server, response) =
                    (self.client.clone(), self.server.clone(), self.response);
                self.io
                    .spawn(async move { open(&client, &server, deadline, response).await })
                    .await
                    .map_err(|e| Error::new(ErrorKind::Internal, format!("redis I/O: {e}")))??
            }
        };
        Ok(Lease { pool: self, conn })
    }

    /// Drops every idle connection (after the server failed, they may be dead).
    pub(crate) fn clear(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// One leased blocking connection; dropped unless [`Lease::keep`] returns it to the pool.
pub(crate) struct Lease<'a> {
    pool: &'a BlockingPool,
    pub(crate) conn: MultiplexedConnection,
}

impl Lease<'_> {
    /// Returns the connection to the pool: its last command returned, so it is free.
    pub(crate) fn keep(self) {
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE {
            idle.push(self.conn);
        }
    }
}
