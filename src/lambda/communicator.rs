//! From a Lambda invocation to a [`Communicator`].

use std::time::SystemTime;

use fccl_collectives::{Communicator, JobSpec, Rank, Result};
use lambda_runtime::LambdaEvent;

use super::deadline::{clamp_job, invocation_deadline, time_left};
use super::event::RankEvent;

/// Joins the job of a rank's invocation: reads the job and rank from the payload (see
/// [`RankEvent`]), clamps the job's timeouts to the invocation's remaining time, connects,
/// and sets the communicator's deadline a little before the invocation's, so that a
/// collective still running then fails with [`ErrorKind::Timeout`](crate::ErrorKind)
/// instead of being killed with the function.
///
/// Errors are [`ErrorKind::InvalidArgument`](crate::ErrorKind) for a malformed payload
/// and [`ErrorKind::Timeout`](crate::ErrorKind) for an invocation with no time left;
/// otherwise those of [`connect`](crate::connect).
///
/// ```no_run
/// use fccl::lambda::lambda_runtime::{self, LambdaEvent, service_fn};
///
/// async fn handler(event: LambdaEvent<serde_json::Value>) -> Result<f32, lambda_runtime::Error> {
///     let mut comm = fccl::lambda::communicator_from_event(&event).await?;
///     let mut x = vec![comm.rank() as f32; 4];
///     comm.all_reduce(&mut x, fccl::ReduceOp::Sum).await?;
///     comm.close().await?;
///     Ok(x[0])
/// }
/// ```
pub async fn communicator_from_event(
    event: &LambdaEvent<serde_json::Value>,
) -> Result<Communicator> {
    let received = SystemTime::now();
    let (job, rank) = RankEvent::from_json(&event.payload)?.job()?;
    let deadline = invocation_deadline(event.context.deadline, received);
    connect_until(&job, rank, deadline).await
}

/// Joins `job` as `rank` in an invocation that ends at `deadline`: [`connect`](crate::connect)
/// with the job's timeouts clamped to the time left (less
/// [`DEADLINE_MARGIN`](super::DEADLINE_MARGIN)) and the communicator's deadline set there.
pub async fn connect_until(
    job: &JobSpec,
    rank: Rank,
    deadline: SystemTime,
) -> Result<Communicator> {
    let left = time_left(deadline, SystemTime::now())?;
    let ends = tokio::time::Instant::now() + left;
    let mut job = job.clone();
    clamp_job(&mut job, left);
    let mut comm = crate::connect(&job, rank).await?;
    comm.set_deadline(Some(ends));
    Ok(comm)
}
