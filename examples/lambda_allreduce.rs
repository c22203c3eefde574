//! A distributed AWS Lambda function of your own: copy this file to start one.
//!
//! Every invocation is one rank of a job. `fccl run --launcher lambda --function NAME -n N
//! --transport tcp://HOST:PORT -- ARGS...` invokes the function N times at once, each with
//! a payload `{"job": ..., "rank": r, "command": [ARGS...]}`;
//! [`fccl::lambda::communicator_from_event`] turns that into a communicator over all N
//! ranks, with its deadline a second before the invocation's. Returning a
//! [`RankResult`] lets the launcher report each rank's success, error and output.
//!
//! This one sums `(rank + 1) * i` over the ranks for i = 0..1000 and checks the result
//! against its closed form, `i * N (N + 1) / 2`.
//!
//! Build for Lambda with `cargo lambda build --release --arm64 --example lambda_allreduce`
//! (see docs/lambda.md).

use fccl::ReduceOp;
use fccl::lambda::RankResult;
use fccl::lambda::lambda_runtime::{self, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handler)).await
}

/// One rank: join the job, allreduce, check, leave.
async fn handler(
    event: LambdaEvent<serde_json::Value>,
) -> Result<RankResult, lambda_runtime::Error> {
    // A malformed payload or a job that cannot be joined is this invocation's error.
    let mut comm = fccl::lambda::communicator_from_event(&event).await?;
    let (rank, size) = (comm.rank(), comm.size());
    let mut x: Vec<f64> = (0..1000).map(|i| ((rank + 1) * i) as f64).collect();
    let outcome = match comm.all_reduce(&mut x, ReduceOp::Sum).await {
        Ok(()) => check(&x, size),
        Err(e) => Err(e.to_string()),
    };
    // Leave together, so that no peer is cut off mid-message.
    let _ = comm.close().await;
    Ok(RankResult::new(rank, outcome))
}

/// The rank's output if `x` is the closed form, else what is wrong.
fn check(x: &[f64], size: usize) -> Result<String, String> {
    let ranks = (size * (size + 1) / 2) as f64;
    match x.iter().enumerate().find(|&(i, &v)| v != ranks * i as f64) {
        None => Ok(format!(
            "allreduce of {} elements over {size} ranks: x[999] = {} = 999 * {ranks}",
            x.len(),
            x[999]
        )),
        Some((i, v)) => Err(format!("x[{i}] = {v}, expected {}", ranks * i as f64)),
    }
}
