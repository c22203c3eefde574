//! A simulated transport with virtual time, for tests.
//!
//! What it models: `n` ranks joined by one link per ordered pair `(src, dst)`. A link has a
//! latency `L` and a bandwidth `B` and carries one frame at a time, so a frame of `b` bytes
//! sent at virtual time `t` arrives at `max(t, link free) + b/B + L`. On top of that the
//! network can misbehave, driven by a seeded random generator so that every run is
//! repeatable: it can delay frames at random (reordering them), deliver a second copy of a
//! frame (the receiver drops copies it has seen, by a per-link sequence number) or lose a
//! frame altogether (the receiver then times out).
//!
//! Why: the algorithms state their exact traffic and their α-β cost, and the tests check both
//! here, by counting what is sent and by measuring the virtual time a collective takes. The
//! ranks run as tasks of one current-thread tokio runtime whose clock is paused: the clock
//! jumps to the next timer whenever every task waits, so a simulated second costs nothing,
//! a lost message times out at once in real time, and runs are deterministic. The model is
//! the virtual-time test pairs of quinn-proto (`quinn-proto/src/tests/util.rs`), which step
//! two endpoints over a simulated network with a controllable clock instead of real sockets.
//!
//! ```
//! use std::time::Duration;
//! use fccl_collectives::transport::sim::{self, SimConfig};
//!
//! let config = SimConfig::new()
//!     .latency(Duration::from_millis(1))
//!     .bandwidth(1e9);
//! let report = sim::run(4, config, |mut comm| async move {
//!     let mut v = vec![comm.rank() as i64; 10];
//!     comm.broadcast(&mut v, 2).await.unwrap();
//!     v[0]
//! });
//! assert_eq!(report.results, vec![2; 4]);
//! // Binomial broadcast: 3 messages of 80 bytes, 2 rounds of 1 ms (plus transfer time).
//! assert_eq!((report.messages, report.bytes), (3, 240));
//! assert!(report.elapsed >= Duration::from_millis(2));
//! ```

mod config;
mod network;
mod runner;

pub use config::SimConfig;
pub use network::{SimCounters, SimTransport};
pub use runner::{SimReport, run};
