//! Training loops over a communicator.
//!
//! - [`sync`]: synchronous data-parallel SGD, gradients summed by allreduce in the format
//!   [`exchange`] picks (f32, f16, bf16, top-k);
//! - [`local`]: local SGD, the models averaged every H steps;
//! - [`param_server`]: a Cirrus-style asynchronous parameter server with sparse pulls and
//!   pushes;
//! - [`checkpoint`]: saving and resuming a run.

pub mod checkpoint;
mod clocks;
pub mod exchange;
pub mod local;
pub mod param_server;
pub mod sync;

pub use checkpoint::Checkpoint;
pub use exchange::{Compression, GradientExchange, sum_sparse};
pub use local::{LocalConfig, LocalRound, local_steps_per_epoch, train_local};
pub use param_server::{PsConfig, PsReport, PsStep, train_ps};
pub use sync::{Progress, SyncConfig, SyncStep, train_sync};
