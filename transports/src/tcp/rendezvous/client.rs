//! The rank's side of the rendezvous (placeholder: being written).

use std::net::SocketAddr;

use fccl_collectives::{Error, ErrorKind, Result};
use tokio::net::TcpSocket;
use tokio::time::Instant;

use super::protocol::{PeerAddrs, Registration};

/// Registers from `socket` (already bound to the rank's port) with the server at `server`
/// and waits until `deadline` for the table of every rank, in rank order. `reg.private` is
/// filled in with the connection's local address.
pub async fn register(
    socket: TcpSocket,
    server: SocketAddr,
    reg: &Registration,
    deadline: Instant,
) -> Result<Vec<PeerAddrs>> {
    let _ = (socket, server, reg, deadline);
    Err(Error::new(
        ErrorKind::Unsupported,
        "rendezvous client: under construction",
    ))
}
