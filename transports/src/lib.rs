//! Network transports for fccl, one folder per medium.
//!
//! The transports themselves (tcp with NAT hole punching, memcached, redis, sqs) land in
//! later issues; each implements [`fccl_collectives::Transport`]. Today the only transports
//! are the in-process and simulated ones in `fccl-collectives`.

pub use fccl_collectives::Transport;
