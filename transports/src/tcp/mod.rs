//! Direct TCP between ranks, through NAT hole punching.
//!
//! Functions cannot accept inbound connections: each sits behind a NAT that drops
//! unsolicited packets. So every rank binds one local port, registers with a rendezvous
//! server from it (the server sees the rank's public endpoint), and learns every other
//! rank's public and private endpoints. A pair then connects by TCP simultaneous open from
//! that same port, with a listener on it too, private addresses first for peers behind the
//! same NAT; both ends prove that they know the job secret before a byte of data flows.
//!
//! - `spec.rs`: the `tcp://HOST:PORT` spec.
//! - `rendezvous/`: the server (`fccl rendezvous`) and the rank's registration.
//! - `punch.rs`: pairing two ranks — dials, the listener, the pair's state.
//! - `handshake.rs`: both ends prove the job secret; the lower rank keeps one connection.
//! - `wire.rs`, `conn.rs`: the records on a connection; the writer and the reader task.
//! - `seal.rs`: the records' encryption, with `encrypt=on`.
//! - `spin.rs`: a receive polls its peer's socket briefly before it parks.
//! - `io_thread.rs`: the I/O thread of an endpoint that does not run on its caller's runtime.
//! - `transport.rs`: [`TcpTransport`], the [`Transport`](fccl_collectives::Transport).

mod conn;
mod handshake;
pub(crate) mod io_thread;
mod punch;
pub mod rendezvous;
mod seal;
mod spec;
mod spin;
mod transport;
mod wire;

pub use spec::{Congestion, DEFAULT_STALL, Mesh, PREFERRED_CONGESTION, Relay, TOKEN_ENV, TcpSpec};
pub use spin::SPIN_ENV;
pub use transport::TcpTransport;
