//! Training loops over a communicator.
//!
//! - [`sync`]: synchronous data-parallel SGD, gradients summed by allreduce.
//!
//! The parameter server and local SGD are still to come.

pub mod sync;

pub use sync::{SyncConfig, SyncStep, train_sync};
