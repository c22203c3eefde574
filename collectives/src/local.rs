//! Runs N ranks as threads of this process on the in-process transport, for tests and
//! examples.

use std::future::Future;
use std::sync::Arc;

use crate::comm::Communicator;
use crate::transport::Transport;
use crate::transport::local::LocalTransport;

/// Runs `f` on `n` ranks, each on its own thread with its own single-threaded tokio runtime,
/// and returns their results in rank order.
///
/// When a rank's future ends or panics its endpoint leaves, so ranks still waiting on it
/// fail with `Remote` instead of hanging. A panic on any rank is re-raised here once every
/// rank has finished.
///
/// ```
/// let ranks = fccl_collectives::local::run(3, |comm| async move { (comm.rank(), comm.size()) });
/// assert_eq!(ranks, vec![(0, 3), (1, 3), (2, 3)]);
/// ```
pub fn run<F, Fut, R>(n: usize, f: F) -> Vec<R>
where
    F: Fn(Communicator) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    assert!(n > 0, "a job needs at least one rank");
    let endpoints = LocalTransport::fabric(n)
        .into_iter()
        .map(|e| Arc::new(e) as Arc<dyn Transport>)
        .collect();
    run_on(endpoints, f)
}

/// Like [`run`], on endpoints that also share an in-memory store
/// ([`LocalTransport::fabric_with_store`]), so the store-native algorithms can run.
pub fn run_with_store<F, Fut, R>(n: usize, f: F) -> Vec<R>
where
    F: Fn(Communicator) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    assert!(n > 0, "a job needs at least one rank");
    let endpoints = LocalTransport::fabric_with_store(n)
        .into_iter()
        .map(|e| Arc::new(e) as Arc<dyn Transport>)
        .collect();
    run_on(endpoints, f)
}

/// Like [`run`], on endpoints of any transport (one per rank, in rank order): how the
/// conformance suite runs the same tests over every transport.
pub fn run_on<F, Fut, R>(endpoints: Vec<Arc<dyn Transport>>, f: F) -> Vec<R>
where
    F: Fn(Communicator) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    run_comms(endpoints.into_iter().map(Communicator::new).collect(), f)
}

/// Like [`run`], on communicators made by the caller (one per rank, in rank order), say
/// over several media ([`Communicator::with_media`]).
pub fn run_comms<F, Fut, R>(comms: Vec<Communicator>, f: F) -> Vec<R>
where
    F: Fn(Communicator) -> Fut + Sync,
    Fut: Future<Output = R>,
    R: Send,
{
    let f = &f;
    let outcomes: Vec<std::thread::Result<R>> = std::thread::scope(|s| {
        let handles: Vec<_> = comms
            .into_iter()
            .map(|comm| {
                std::thread::Builder::new()
                    .name(format!("fccl-rank-{}", comm.rank()))
                    .spawn_scoped(s, move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a tokio runtime for the rank");
                        // The endpoints move into the communicator and are dropped with it
                        // when the rank's future ends, so waiting peers learn that it left.
                        rt.block_on(f(comm))
                    })
                    .expect("a thread for the rank")
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        .collect()
}
