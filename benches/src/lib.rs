//! The benchmark harness behind `fccl bench`: times a collective over a list of sizes on a
//! [`fccl_collectives::Communicator`], checks every result against values computed in closed
//! form, and reports nccl-tests-style records.

mod cases;
pub mod elem;
mod harness;
pub mod pattern;
pub mod record;
pub mod spec;

pub use harness::run_bench;
pub use record::BenchRecord;
pub use spec::{BenchSpec, Point};
