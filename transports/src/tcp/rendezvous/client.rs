//! The rank's side of the rendezvous: one connection, one `Register`, one `Reply`.

use std::io;
use std::net::SocketAddr;

use fccl_collectives::{Error, ErrorKind, JobId, Result};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::time::{Instant, timeout_at};

use super::protocol::{FrameError, PeerAddrs, REPLY_LIMIT, Registration, Reply, read_frame};

/// Registers from `socket` (already bound to the rank's port) with the server at `server`
/// and waits until `deadline` for the table of every rank, in rank order.
///
/// `reg.private` is ignored: the rank reports the local address of its connection to the
/// server, which is the address its peers behind the same NAT can reach. The connection is
/// closed on return, so the port is free for punching. Errors name the server, the rank and
/// the job, never the token or the key: a refusal carries the server's kind and message,
/// the deadline gives [`ErrorKind::Timeout`] naming the phase, a failed connection
/// [`ErrorKind::Transport`].
pub async fn register(
    socket: TcpSocket,
    server: SocketAddr,
    reg: &Registration,
    deadline: Instant,
) -> Result<Vec<PeerAddrs>> {
    reg.validate()?;
    let me = Me {
        server,
        rank: reg.rank,
        job: reg.job,
    };
    let mut stream = timeout_at(deadline, socket.connect(server))
        .await
        .map_err(|_| me.timed_out("connecting to"))?
        .map_err(|e| me.io_failed("could not connect to", e))?;
    // Best effort: the registration is one write, so Nagle would not delay it anyway.
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map_err(|e| me.io_failed("could not read its address towards", e))?;
    let frame = Registration {
        private: vec![local],
        ..reg.clone()
    }
    .encode()?;
    timeout_at(deadline, stream.write_all(&frame))
        .await
        .map_err(|_| me.timed_out("sending its registration to"))?
        .map_err(|e| me.io_failed("could not send its registration to", e))?;
    let body = timeout_at(deadline, read_frame(&mut stream, REPLY_LIMIT))
        .await
        .map_err(|_| me.timed_out("waiting for the other ranks at"))?
        .map_err(|e| me.frame_failed(e))?;
    let reply = Reply::decode(&body).map_err(|e| me.says(e.kind(), e.message()))?;
    match reply {
        Reply::Table(table) if table.len() == reg.size as usize => Ok(table),
        Reply::Table(table) => Err(me.says(
            ErrorKind::Rendezvous,
            &format!("a table of {} ranks, not {}", table.len(), reg.size),
        )),
        Reply::Refused(kind, message) => Err(me.refused(kind, &message)),
    }
}

/// Who is registering where, for error messages.
struct Me {
    server: SocketAddr,
    rank: u32,
    job: JobId,
}

impl Me {
    fn timed_out(&self, phase: &str) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "rank {} of job {} timed out {phase} rendezvous server {}",
                self.rank, self.job, self.server
            ),
        )
    }

    fn io_failed(&self, what: &str, e: io::Error) -> Error {
        Error::new(
            ErrorKind::Transport,
            format!(
                "rank {} of job {} {what} rendezvous server {}: {e}",
                self.rank, self.job, self.server
            ),
        )
        .with_source(e)
    }

    fn frame_failed(&self, e: FrameError) -> Error {
        match e {
            FrameError::Closed { got: 0 } => self.says(
                ErrorKind::Rendezvous,
                "it closed the connection without replying (overloaded, or too slow to register?)",
            ),
            FrameError::Closed { got } => self.says(
                ErrorKind::Rendezvous,
                &format!("its reply was cut short after {got} bytes"),
            ),
            FrameError::TooLong { len, limit } => self.says(
                ErrorKind::Rendezvous,
                &format!("a reply of {len} bytes, more than the {limit} accepted"),
            ),
            FrameError::Io(e) => self.io_failed("lost its connection to", e),
        }
    }

    /// A problem with what the server sent.
    fn says(&self, kind: ErrorKind, what: &str) -> Error {
        Error::new(
            kind,
            format!(
                "rendezvous server {} answered rank {} of job {}: {what}",
                self.server, self.rank, self.job
            ),
        )
    }

    /// The server's refusal, with its kind and message.
    fn refused(&self, kind: ErrorKind, message: &str) -> Error {
        let verb = if kind == ErrorKind::Timeout {
            "gave up on"
        } else {
            "refused"
        };
        Error::new(
            kind,
            format!(
                "rendezvous server {} {verb} rank {} of job {}: {message}",
                self.server, self.rank, self.job
            ),
        )
    }
}
