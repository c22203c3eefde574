//! Distributed training on fccl's collectives (Cirrus-style SGD).
//!
//! - [`data`]: datasets (sparse rows, ratings), loaders, the binary minibatch format,
//!   partitioning across ranks and seeded synthetic generators;
//! - [`model`]: sparse logistic regression, biased matrix factorization, softmax regression;
//! - [`optim`]: per-coordinate optimizers;
//! - [`compress`]: f16/bf16 transport and top-k with error feedback;
//! - `train`: synchronous allreduce, the parameter server, local SGD.
//!
//! Everything here takes a [`fccl_collectives::Communicator`] and never builds one from a
//! transport spec.

pub mod compress;
pub mod data;
mod error;
pub mod model;
pub mod optim;
pub mod train;
pub mod trainer;

pub use error::{MlError, Result};
pub use fccl_collectives::Communicator;
pub use model::{Metrics, Model, SparseGradient};
pub use optim::{AnyOptimizer, Optimizer, OptimizerKind};
