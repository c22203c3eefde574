//! Launchers: start the N ranks of a job and watch them.
//!
//! - [`local`]: N processes of one program on this machine (`fccl run`, like `mpirun`).
//! - [`lambda`]: N invocations of an AWS Lambda function (`fccl run --launcher lambda`).
//!
//! The in-process launcher (ranks as threads) is [`crate::local::run`].

pub mod lambda;
pub mod local;
