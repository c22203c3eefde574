//! Ranks as AWS Lambda invocations: the payload a rank receives, its deadline, and the way
//! from an invocation to a [`Communicator`](crate::Communicator).
//!
//! The Lambda launcher (`fccl run --launcher lambda`, [`crate::launch::lambda`]) invokes a
//! function once per rank with a [`RankEvent`] as the payload; a function built on
//! `lambda_runtime` turns its event into a communicator with [`communicator_from_event`]
//! and returns what it likes (the built-in worker, `fccl worker`, returns a [`RankResult`]).
//! `examples/lambda_allreduce.rs` is a function to copy.

mod communicator;
mod deadline;
mod event;

pub use communicator::{communicator_from_event, connect_until};
pub use deadline::{DEADLINE_MARGIN, clamp_job, invocation_deadline, time_left};
pub use event::{MAX_PAYLOAD, OUTPUT_TAIL, RankEvent, RankResult, tail};
/// The Lambda runtime fccl's functions are built on, re-exported so that a function uses
/// the same version.
pub use lambda_runtime;
