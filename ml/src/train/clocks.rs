//! A parameter-server shard's stale-synchronous-parallel bookkeeping (Ho et al., "More
//! Effective Distributed ML via a Stale Synchronous Parallel Parameter Server", NIPS 2013):
//! each worker's clock as this shard knows it, and whether a worker's pull may be answered.
//!
//! A worker's clock is the number of steps it has pushed; the shard counts the pushes it
//! received from the worker (every step pushes to every shard). With a bound `s`, a pull
//! from a worker at clock `c` is answered only once every other worker that is not done has
//! clock `≥ c − s`; a done worker counts as infinitely far ahead. This is protocol logic
//! only: no I/O, so it is tested on hand-made sequences.

use fccl_collectives::Rank;

/// Every worker's clock at one shard and the staleness bound the shard enforces.
#[derive(Clone, Debug)]
pub(crate) struct Clocks {
    /// Pushes received from each worker; `None` once the worker is done.
    clocks: Vec<Option<usize>>,
    /// How many steps a reader may be ahead of the slowest unfinished worker (`None`: any).
    staleness: Option<usize>,
}

impl Clocks {
    /// `workers` workers at clock 0, none done.
    pub(crate) fn new(workers: usize, staleness: Option<usize>) -> Self {
        Self {
            clocks: vec![Some(0); workers],
            staleness,
        }
    }

    /// Counts a push from `worker` (ignored once it is done: it sends nothing after DONE).
    pub(crate) fn pushed(&mut self, worker: Rank) {
        if let Some(clock) = &mut self.clocks[worker] {
            *clock += 1;
        }
    }

    /// Marks `worker` done: it no longer holds anyone back.
    pub(crate) fn done(&mut self, worker: Rank) {
        self.clocks[worker] = None;
    }

    /// Whether `worker` has sent DONE.
    pub(crate) fn is_done(&self, worker: Rank) -> bool {
        self.clocks[worker].is_none()
    }

    /// How many steps `worker` is ahead of the slowest other unfinished worker (0 if none is
    /// behind it, or if `worker` is done).
    pub(crate) fn lead(&self, worker: Rank) -> usize {
        let Some(clock) = self.clocks[worker] else {
            return 0;
        };
        let slowest = (self.clocks.iter().enumerate())
            .filter(|&(v, _)| v != worker)
            .filter_map(|(_, &c)| c)
            .min();
        slowest.map_or(0, |slowest| clock.saturating_sub(slowest))
    }

    /// Whether a pull from `worker`, whose clock this shard knows exactly (its pushes
    /// arrive before its pull, in order), may be answered now.
    pub(crate) fn may_answer(&self, worker: Rank) -> bool {
        self.staleness.is_none_or(|s| self.lead(worker) <= s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_bound_every_pull_is_answered_and_the_lead_is_measured() {
        let mut clocks = Clocks::new(2, None);
        for _ in 0..5 {
            clocks.pushed(0);
        }
        assert!(clocks.may_answer(0));
        assert_eq!(clocks.lead(0), 5);
        assert_eq!(clocks.lead(1), 0);
    }

    #[test]
    fn a_bound_of_zero_is_lockstep() {
        let mut clocks = Clocks::new(2, Some(0));
        assert!(clocks.may_answer(0) && clocks.may_answer(1));
        clocks.pushed(0);
        assert!(!clocks.may_answer(0), "one step ahead of worker 1");
        assert!(clocks.may_answer(1), "the slowest may always read");
        clocks.pushed(1);
        assert!(clocks.may_answer(0) && clocks.may_answer(1));
    }

    #[test]
    fn a_reader_may_be_exactly_the_bound_ahead_and_no_more() {
        let mut clocks = Clocks::new(3, Some(2));
        clocks.pushed(0);
        clocks.pushed(0);
        assert_eq!(clocks.lead(0), 2);
        assert!(clocks.may_answer(0));
        clocks.pushed(0);
        assert_eq!(clocks.lead(0), 3);
        assert!(!clocks.may_answer(0));
    }

    #[test]
    fn a_deferred_pull_becomes_answerable_after_another_workers_push() {
        let mut clocks = Clocks::new(3, Some(1));
        for _ in 0..3 {
            clocks.pushed(0);
        }
        clocks.pushed(1);
        clocks.pushed(1);
        clocks.pushed(2);
        // Worker 0 at clock 3 waits for worker 2 (clock 1), not for worker 1 (clock 2).
        assert!(!clocks.may_answer(0));
        clocks.pushed(2);
        assert!(clocks.may_answer(0));
        assert_eq!(clocks.lead(0), 1);
    }

    #[test]
    fn a_done_worker_holds_nobody_back() {
        let mut clocks = Clocks::new(3, Some(0));
        clocks.pushed(0);
        clocks.pushed(1);
        assert!(!clocks.may_answer(0), "worker 2 is at clock 0");
        clocks.done(2);
        assert!(clocks.may_answer(0) && clocks.may_answer(1));
        clocks.pushed(0);
        clocks.done(1);
        assert_eq!(clocks.lead(0), 0, "the only unfinished worker leads nobody");
        assert!(clocks.may_answer(0));
        clocks.pushed(1);
        assert_eq!(clocks.lead(1), 0, "a done worker's pushes are not counted");
    }
}
