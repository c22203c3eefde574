//! The backoff between empty polls, and the consumed message numbers of one source.

use std::collections::BTreeSet;
use std::time::Duration;

/// How many empty polls in a row are retried at once before the poller sleeps.
pub(crate) const SPINS: u32 = 4;
/// The first sleep after the immediate retries.
pub(crate) const FIRST_SLEEP: Duration = Duration::from_micros(250);
/// The longest sleep between two polls.
pub(crate) const MAX_SLEEP: Duration = Duration::from_millis(2);

/// A bounded exponential backoff: immediate retries, then sleeps that double up to a cap.
#[derive(Default)]
pub(crate) struct Backoff {
    empty: u32,
}

impl Backoff {
    /// Something arrived: the next empty poll starts over.
    pub(crate) fn reset(&mut self) {
        self.empty = 0;
    }

    /// How long to wait after one more empty poll; `None` to retry at once.
    pub(crate) fn next(&mut self) -> Option<Duration> {
        let n = self.empty;
        self.empty = self.empty.saturating_add(1);
        let doublings = n.checked_sub(SPINS)?;
        Some(
            FIRST_SLEEP
                .saturating_mul(1 << doublings.min(16))
                .min(MAX_SLEEP),
        )
    }
}

/// The message numbers of one source that this rank consumed: all below `low`, and those
/// in `above`. Messages are committed out of order when they are sent concurrently.
#[derive(Default)]
pub(crate) struct Consumed {
    low: u64,
    above: BTreeSet<u64>,
}

impl Consumed {
    /// The first `w` message numbers not consumed yet.
    pub(crate) fn next(&self, w: usize) -> impl Iterator<Item = u64> + '_ {
        (self.low..).filter(|s| !self.above.contains(s)).take(w)
    }

    /// Marks `seq` consumed.
    pub(crate) fn mark(&mut self, seq: u64) {
        if seq < self.low {
            return;
        }
        self.above.insert(seq);
        while self.above.remove(&self.low) {
            self.low += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_then_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..10).map(|_| b.next()).collect();
        assert_eq!(&waits[..SPINS as usize], &[None; SPINS as usize][..]);
        assert_eq!(waits[SPINS as usize], Some(FIRST_SLEEP));
        assert_eq!(waits[SPINS as usize + 1], Some(FIRST_SLEEP * 2));
        assert_eq!(waits[9], Some(MAX_SLEEP));
        b.reset();
        assert_eq!(b.next(), waits[0]);
    }

    #[test]
    fn consumed_numbers_advance_past_out_of_order_commits() {
        let mut c = Consumed::default();
        assert_eq!(c.next(3).collect::<Vec<_>>(), [0, 1, 2]);
        c.mark(1);
        c.mark(3);
        assert_eq!(c.next(3).collect::<Vec<_>>(), [0, 2, 4]);
        c.mark(0);
        assert_eq!(c.next(2).collect::<Vec<_>>(), [2, 4]);
        c.mark(2);
        assert_eq!((c.low, c.above.len()), (4, 0));
        c.mark(1);
        assert_eq!(c.next(1).collect::<Vec<_>>(), [4]);
    }
}
