//! Launchers: start the N ranks of a job and watch them.
//!
//! - [`local`]: N processes of one program on this machine (`fccl run`, like `mpirun`).
//!
//! The in-process launcher (ranks as threads) is [`crate::local::run`]; the AWS Lambda
//! launcher comes in a later issue.

pub mod local;
