//! Network transports for fccl, one folder per medium.
//!
//! - [`tcp`]: direct TCP between ranks through NAT hole punching, with a rendezvous server
//!   that tells each rank where the others are.
//! - [`redis`]: messages through a redis server, one inbox list per rank.
//!
//! memcached and the queues (SQS) land in later issues; each
//! implements [`fccl_collectives::Transport`].

mod record;
pub mod redis;
mod sealed;
pub mod tcp;

pub use fccl_collectives::Transport;
