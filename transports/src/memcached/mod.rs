//! Messages through memcached servers, for functions that can reach a cache but not each
//! other: `memcached://HOST:PORT[,HOST:PORT...][?item=BYTES]`.
//!
//! memcached has no lists and no blocking reads, so a message is a set of items and the
//! receiver polls. The sender numbers its messages per destination (0, 1, 2, ...) and
//! stores message `seq` to `to` as sealed parts of at most an item each, under
//! the key of logical name `msg:{from}:{to}:{seq}:{part}` (`keys.rs`: what the server sees
//! is a keyed hash of it under the job secret): parts 1.. first, then part 0 (whose head
//! carries the part count and length) as the commit. The receiving rank's poller reads,
//! for every source a receive waits on, the next few expected part-0 keys in one
//! multi-get, with a bounded exponential backoff between empty polls; it reads the other
//! parts of a message it found, checks every record's MAC (keyed by the job secret) and
//! head against its key, delivers the message to the rank's mailbox and deletes its keys.
//!
//! Aborts and goodbyes are appended to the destination's alert item, which every poll
//! reads too. Each rank also puts a sentinel on every server at connect: a sentinel or
//! alert item gone means a server restarted, was flushed or evicted the job, and every
//! wait fails at once with an error that says so. Items expire on their own after the
//! job's timeouts; a rank that leaves deletes what it made that nobody still needs.
//! Several servers share the keys by hashing (`store.rs`). The servers' smallest
//! `item_size_max` (or `?item=`, if smaller) sets the part size.
//!
//! - `spec.rs`: the spec.
//! - `keys.rs`: the job's key names.
//! - `store.rs`: the servers, routing and batches (the `memcache` crate's meta client).
//! - `lanes.rs`: the parts of large messages, over several connections at once.
//! - `alerts.rs`: the alert item's frames.
//! - `poll.rs`: the backoff and the consumed message numbers.
//! - `poller.rs`: the poller.
//! - `transport.rs`: [`MemcachedTransport`], the [`Transport`](fccl_collectives::Transport).
//! - `objects.rs`: its [`SharedObjects`](fccl_collectives::SharedObjects).

mod alerts;
mod keys;
mod lanes;
mod objects;
mod poll;
mod poller;
mod spec;
mod store;
mod transport;

pub use objects::ZERO as COUNTER_ZERO;
pub use spec::{MIN_ITEM_BYTES, MemcachedSpec};
pub use transport::MemcachedTransport;
