//! The benchmark harness behind `fccl bench`.
//!
//! [`run`] measures one collective over a list of sizes on a [`Communicator`] it is given
//! (it never builds one), nccl-tests style: warm-up, then timed iterations each after a
//! barrier, the slowest rank's time per iteration, min/median/max, the algorithm that ran,
//! algorithm and bus bandwidth, peak memory, and a check of every result against values
//! computed independently in closed form ([`pattern`]).
//!
//! ```
//! use fccl_benches::{BenchSpec, run};
//! use fccl_collectives::{Collective, local};
//!
//! let spec = BenchSpec::new(Collective::Broadcast, vec![1024]);
//! let records = local::run(3, |mut comm| {
//!     let spec = spec.clone();
//!     async move { run(&mut comm, &spec, &mut |_| {}).await.unwrap() }
//! });
//! assert!(records[0][0].correct);
//! assert_eq!(records[0][0].count, 256);
//! ```
//!
//! A [`Sweep`] is the same benchmark over several rank counts, element types and
//! reductions: `fccl bench -n 2,4 --dtype f32,bf16 --op sum,max`.
//!
//! [`Communicator`]: fccl_collectives::Communicator

pub mod bandwidth;
mod cases;
pub mod cost;
pub mod pattern;
pub mod plot;
mod record;
pub mod rss;
mod run;
pub mod sizes;
mod spec;
pub mod stats;
mod sweep;
pub mod table;

pub use record::{BenchRecord, WrongAt};
pub use run::{Event, run};
pub use sizes::Shape;
pub use spec::BenchSpec;
pub use sweep::Sweep;
