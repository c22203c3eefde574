//! fccl, the FaaS Collective Communication Library: MPI/NCCL-style collectives for
//! serverless functions.
//!
//! This facade re-exports the public API of the workspace's crates.

pub use fccl_collectives::*;
