//! The message numbers one rank consumed from one source, in bounded memory: the store
//! transports use them to find the next messages to read (memcached) and to refuse a record
//! replayed within the job (redis).

use std::collections::BTreeSet;

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

    /// Whether `seq` was consumed.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        seq < self.low || self.above.contains(&seq)
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
    fn consumed_numbers_advance_past_out_of_order_commits() {
        let mut c = Consumed::default();
        assert_eq!(c.next(3).collect::<Vec<_>>(), [0, 1, 2]);
        c.mark(1);
        c.mark(3);
        assert!(c.contains(1) && c.contains(3) && !c.contains(0) && !c.contains(2));
        assert_eq!(c.next(3).collect::<Vec<_>>(), [0, 2, 4]);
        c.mark(0);
        assert_eq!(c.next(2).collect::<Vec<_>>(), [2, 4]);
        c.mark(2);
        assert_eq!((c.low, c.above.len()), (4, 0));
        assert!(c.contains(0) && c.contains(3) && !c.contains(4));
        c.mark(1);
        assert_eq!(c.next(1).collect::<Vec<_>>(), [4]);
    }
}
