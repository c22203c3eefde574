//! What the tcp, redis and memcached endpoints count of their own traffic for
//! [`Transport::usage`](fccl_collectives::Transport::usage): the requests they make of
//! their medium's server and the payload bytes they send. SQS counts more (what its
//! requests are billed as) in `sqs/queues.rs`.
//!
//! Relaxed atomics: a count costs one uncontended add on paths that move whole messages,
//! and readers only need each counter to grow, not an order between them.

use std::sync::atomic::{AtomicU64, Ordering};

use fccl_collectives::Usage;

/// The requests and payload bytes of one endpoint, from its start.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Counters {
    /// Counts `commands` commands sent to the server (a pipeline's or a batch's each).
    pub(crate) fn requests(&self, commands: usize) {
        self.requests.fetch_add(commands as u64, Ordering::Relaxed);
    }

    /// Counts `bytes` bytes of a message's or an object's payload as sent to peers.
    pub(crate) fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counters as a [`Usage`] of a medium billed by the hour or not at all: nothing
    /// billed per request, so no billed requests, no least requests and no dollars.
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            requests: self.requests.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            ..Usage::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_nothing_is_billed() {
        let c = Counters::default();
        c.requests(2);
        c.requests(1);
        c.sent(1000);
        c.sent(24);
        assert_eq!(
            c.usage(),
            Usage {
                requests: 3,
                bytes_sent: 1024,
                ..Usage::default()
            }
        );
    }
}
