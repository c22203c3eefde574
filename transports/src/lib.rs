//! Network transports for fccl, one folder per medium.
//!
//! - [`tcp`]: direct TCP between ranks through NAT hole punching, with a rendezvous server
//!   that tells each rank where the others are.
//! - [`memcached`]: messages through memcached servers, polled by the receiver.
//! - [`redis`]: messages through a redis server, one inbox list per rank.
//! - [`sqs`]: messages through Amazon SQS, one standard queue per rank.
//!
//! Each transport implements [`fccl_collectives::Transport`].

mod consumed;
pub mod memcached;
mod names;
mod peers;
mod recent;
mod record;
pub mod redis;
mod sealed;
pub mod sqs;
pub mod tcp;
mod usage;

pub use fccl_collectives::Transport;

/// Decoders of bytes from other machines, wrapped for the fuzz targets of `fccl-fuzz`.
/// Not a stable API: it may change or go away in any release.
#[doc(hidden)]
pub use tcp::rendezvous::fuzzing;
