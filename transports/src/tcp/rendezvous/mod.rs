//! The rendezvous: how the ranks of a job learn each other's addresses.
//!
//! Every rank opens one TCP connection to the rendezvous server, from the same local port it
//! later punches from, and registers: job id, job key, job size, its rank and its private
//! addresses. The server records the public endpoint it observes (the rank's NAT mapping).
//! Once every rank of the job has registered, it sends every rank the whole table and
//! forgets the job. A job that does not fill up before its deadline expires, and its waiting
//! ranks are told so.
//!
//! The job key is `HMAC-SHA256(secret, "fccl rendezvous v1" || job id)`: the first
//! registration of a job fixes it, and later ones must match, so someone who learned a job
//! id (it appears in logs) but not its secret cannot spoil the job. The server never sees
//! the secret.
//!
//! - `protocol.rs`: the messages and their wire format (bounded, checked decoding).
//! - `client.rs`: [`register`], the rank's side.
//! - `server.rs`: [`RendezvousServer`], the tokio server behind `fccl rendezvous`, also
//!   embeddable as a task ([`ServerHandle`]) or on a thread of its own ([`BackgroundServer`]).
//! - `fuzzing.rs`: tcp's decoders of remote bytes for the fuzz targets (hidden, not a
//!   stable API).

mod client;
#[doc(hidden)]
pub mod fuzzing;
mod protocol;
mod server;

pub use client::register;
pub use protocol::{JobKey, PeerAddrs, Registration};
pub use server::{BackgroundServer, RendezvousServer, ServerConfig, ServerHandle};
