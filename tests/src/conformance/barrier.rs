//! Barrier: no rank may leave before every rank has arrived. The ranks of a job are threads
//! of this process whatever the transport, so they count their arrivals in shared counters
//! and check the count on the way out; they arrive at staggered times.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fccl_collectives::Communicator;
use fccl_collectives::algorithms::barrier::{ALGORITHMS, cost};

use super::{Case, Suite, lanes};

/// Barriers per lane.
const ROUNDS: usize = 3;

/// Counters the job needs: one per barrier.
pub(super) const COUNTERS: usize = (1 + ALGORITHMS.len()) * ROUNDS;

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, arrivals: &[AtomicUsize]) {
    let mut lanes = lanes(s, parent, "barrier", ALGORITHMS).await;
    let mut counters = arrivals.iter();
    for lane in &mut lanes {
        let (r, p) = lane.rank_size();
        let case = lane.case(Case::new("barrier", r, p));
        let runs = lane.runs(s, &case, cost, 0, true);
        for round in 0..ROUNDS {
            let counter = counters.next().expect("a counter per barrier");
            if !runs {
                continue;
            }
            tokio::time::sleep(Duration::from_millis(((r + round) % 3) as u64)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            if lane
                .call(s, &case, async |c| c.barrier().await)
                .await
                .is_some()
            {
                let arrived = counter.load(Ordering::SeqCst);
                if arrived < p {
                    s.fail(
                        &case,
                        format!("left barrier {round} when {arrived} of {p} ranks had arrived"),
                    );
                }
            }
        }
    }
}

/// Checks that barriers on every lane return (for sub-communicators, whose ranks have no
/// shared counters).
pub(super) async fn check_returns(s: &mut Suite, parent: &mut Communicator) {
    let mut lanes = lanes(s, parent, "barrier", ALGORITHMS).await;
    for lane in &mut lanes {
        let (r, p) = lane.rank_size();
        let case = lane.case(Case::new("barrier", r, p));
        if lane.runs(s, &case, cost, 0, true) {
            for _ in 0..ROUNDS {
                lane.call(s, &case, async |c| c.barrier().await).await;
            }
        }
    }
}
