//! The backoff between empty polls.

pub(crate) use crate::consumed::Consumed;

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
}
