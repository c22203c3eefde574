//! Joining every rank of a job as endpoints of this process, whatever the transport.

use std::future::Future;
use std::sync::Arc;

use fccl_collectives::{Rank, Result, Transport};

/// Joins ranks `0..n` concurrently with `connect(rank)` on a runtime of its own and
/// returns their endpoints in rank order; panics if a rank cannot join.
pub fn join_all<T, F, Fut>(n: usize, connect: F) -> Vec<Arc<dyn Transport>>
where
    T: Transport,
    F: Fn(Rank) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime
        .block_on(futures_util::future::join_all((0..n).map(connect)))
        .into_iter()
        .map(|t| Arc::new(t.expect("every rank joins")) as Arc<dyn Transport>)
        .collect()
}
