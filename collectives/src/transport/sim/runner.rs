//! Runs the ranks of a job on a simulated network in virtual time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::config::SimConfig;
use super::network::{Network, SimTransport};
use crate::algorithms::cost::Traffic;
use crate::comm::Communicator;
use crate::transport::Transport;

/// What a simulated run returned and what it cost.
#[derive(Clone, Debug)]
pub struct SimReport<R> {
    /// Each rank's result, in rank order.
    pub results: Vec<R>,
    /// Messages sent by all ranks together (duplicates the network made are not counted).
    pub messages: u64,
    /// Payload bytes (frame length minus the header) sent by all ranks together.
    pub bytes: u64,
    /// Messages and payload bytes sent by each rank.
    pub per_rank: Vec<Traffic>,
    /// Second copies of frames the network delivered.
    pub duplicates_injected: u64,
    /// Copies receivers recognised and threw away.
    pub duplicates_discarded: u64,
    /// Frames the network lost.
    pub dropped: u64,
    /// Virtual time from the start until the last rank finished.
    pub elapsed: Duration,
}

impl<R> SimReport<R> {
    /// Messages and payload bytes sent by all ranks together.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            messages: self.messages,
            bytes: self.bytes,
        }
    }
}

/// Runs `f` on `n` ranks over a simulated network configured by `config` and reports the
/// results, the traffic and the virtual time taken.
///
/// All ranks are futures of one current-thread tokio runtime with a paused clock, so the
/// run is deterministic and waiting costs no real time (a lost message times out at once).
/// The futures need not be `Send`. When a rank's future ends its endpoint leaves, so ranks
/// still waiting on it fail with `Remote`; a panic on any rank propagates.
///
/// ```
/// use fccl_collectives::transport::sim::{self, SimConfig};
///
/// let report = sim::run(3, SimConfig::new(), |comm| async move { comm.rank() * 10 });
/// assert_eq!(report.results, vec![0, 10, 20]);
/// assert_eq!(report.messages, 0);
/// ```
pub fn run<F, Fut, R>(n: usize, config: SimConfig, f: F) -> SimReport<R>
where
    F: Fn(Communicator) -> Fut,
    Fut: Future<Output = R>,
{
    assert!(n > 0, "a job needs at least one rank");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime for the simulation");
    let net = Arc::new(Network::new(n, config));
    let (results, elapsed) = rt.block_on(async {
        let start = Instant::now();
        // Each endpoint moves into its communicator and is dropped with the rank's future
        // as soon as that future completes (join_all drops finished futures).
        let ranks = SimTransport::endpoints(&net)
            .into_iter()
            .map(|endpoint| f(Communicator::new(Arc::new(endpoint) as Arc<dyn Transport>)));
        let results = join_all(ranks).await;
        (results, start.elapsed())
    });
    let counters = net.counters();
    let total = counters.total();
    SimReport {
        results,
        messages: total.messages,
        bytes: total.bytes,
        per_rank: counters.per_rank,
        duplicates_injected: counters.duplicates_injected,
        duplicates_discarded: counters.duplicates_discarded,
        dropped: counters.dropped,
        elapsed,
    }
}
