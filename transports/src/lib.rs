//! Network transports for fccl, one folder per medium.
//!
//! - [`tcp`]: direct TCP between ranks through NAT hole punching, with a rendezvous server
//!   that tells each rank where the others are.
//!
//! The memory stores (memcached, Redis) and queues (SQS) land in later issues; each
//! implements [`fccl_collectives::Transport`].

pub mod tcp;

pub use fccl_collectives::Transport;
