//! Messages through a redis server, for functions that can reach a store but not each other.
//!
//! Every rank owns one list on the server, its inbox (logical name `inbox:{rank}`; every key
//! on the server is a keyed hash of its logical name, `keys.rs`); a
//! sender pushes records onto the destination's inbox and a reader task on the receiving
//! rank pops them with `BLPOP`. Every record is sealed with a MAC keyed by the job secret,
//! so a client of the server that lacks the secret cannot inject messages. Messages larger
//! than a part ([`RedisSpec::chunk_bytes`]) travel as several records and are reassembled.
//! Inboxes expire on their own after the job's timeouts, and a rank that leaves deletes
//! its own.
//!
//! - `spec.rs`: the `redis://HOST:PORT` spec.
//! - `keys.rs`: the job's key names, opaque to whoever lists the server's keys.
//! - `record.rs`: the reassembly of the sealed records (`crate::sealed`).
//! - `conn.rs`: connections, and the pool for blocking commands.
//! - `endpoint.rs`: one rank's state, its sends and its leaving.
//! - `reader.rs`: the reader of the inbox, which also notices a server that restarted or
//!   lost this job's keys.
//! - `flow.rs`: back-pressure, a window of bytes per pair of ranks.
//! - `objects.rs`, `counters.rs`: the
//!   [`SharedObjects`](fccl_collectives::SharedObjects) of the job.
//! - `transport.rs`: [`RedisTransport`], the [`Transport`](fccl_collectives::Transport).

mod conn;
mod counters;
mod endpoint;
mod flow;
mod keys;
mod objects;
mod reader;
mod record;
mod spec;
mod transport;

pub use spec::{DEFAULT_CHUNK_BYTES, DEFAULT_WINDOW_BYTES, MIN_CHUNK_BYTES, RedisSpec};
pub use transport::RedisTransport;
