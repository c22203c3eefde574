//! What an endpoint of a store or queue transport (redis, memcached, sqs) knows of its
//! job: the mailbox its reader delivers to, which peers left, whether it broke or closed,
//! and the checks every send and receive makes of them.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use fccl_collectives::transport::mailbox::Mailbox;
use fccl_collectives::{Error, ErrorKind, Rank, Result, Tag};

/// One endpoint's view of the ranks of its job.
pub(crate) struct Peers {
    /// This endpoint's rank and the job's size.
    pub(crate) rank: Rank,
    pub(crate) size: usize,
    /// The medium's name, for errors (`redis`, ...).
    medium: &'static str,
    /// Where the reader delivers whole messages, and receives wait.
    pub(crate) mailbox: Mailbox,
    /// Which peers said goodbye (and every message they sent before it came).
    pub(crate) left: Vec<AtomicBool>,
    /// Why the endpoint broke, if it did: the first reason.
    pub(crate) broken: OnceLock<Error>,
    /// Whether this endpoint left.
    pub(crate) closed: AtomicBool,
}

impl Peers {
    /// Rank `rank` of a job of `size` ranks over `medium`, every peer present.
    pub(crate) fn new(rank: Rank, size: usize, medium: &'static str) -> Peers {
        Peers {
            rank,
            size,
            medium,
            mailbox: Mailbox::default(),
            left: (0..size).map(|_| AtomicBool::new(false)).collect(),
            broken: OnceLock::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Refuses a peer outside the job.
    pub(crate) fn check_peer(&self, peer: Rank) -> Result<()> {
        if peer >= self.size {
            return Err(Error::invalid(format!(
                "rank {peer} is outside the job of {} ranks",
                self.size
            )));
        }
        Ok(())
    }

    /// Whether `peer` said goodbye.
    pub(crate) fn has_left(&self, peer: Rank) -> bool {
        self.left[peer].load(Ordering::SeqCst)
    }

    /// Marks `peer` gone and wakes the receives, so that theirs from it fail.
    pub(crate) fn mark_left(&self, peer: Rank) {
        self.left[peer].store(true, Ordering::SeqCst);
        self.mailbox.wake();
    }

    /// Marks the endpoint broken (the first reason wins) and wakes every receive.
    pub(crate) fn fail(&self, e: Error) {
        let _ = self.broken.set(e);
        self.mailbox.wake();
    }

    /// Why nothing more can come from `peer` on `tag`, if so: the endpoint broke, or the
    /// peer left.
    pub(crate) fn gone_error(&self, peer: Rank, tag: Tag) -> Option<Error> {
        if let Some(e) = self.broken.get() {
            return Some(e.clone());
        }
        if peer != self.rank && self.has_left(peer) {
            return Some(Mailbox::left(peer, tag));
        }
        None
    }

    /// The error of an operation on an endpoint that has left.
    pub(crate) fn closed_error(&self) -> Error {
        Error::new(
            ErrorKind::Transport,
            format!("this rank's {} transport is closed", self.medium),
        )
    }

    /// The checks of a send of `msg` to `to` on `tag`: the peer is in the job, this
    /// endpoint is open and whole, the peer has not left. A message to this rank itself is
    /// delivered here (`None`); otherwise the message comes back to be sent.
    pub(crate) fn before_send(&self, to: Rank, tag: Tag, msg: Bytes) -> Result<Option<Bytes>> {
        self.check_peer(to)?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.closed_error());
        }
        if let Some(e) = self.broken.get() {
            return Err(e.clone().with_peer(to));
        }
        if to == self.rank {
            self.mailbox.deliver(to, tag, 0, msg);
            return Ok(None);
        }
        if self.has_left(to) {
            return Err(Error::new(
                ErrorKind::Remote,
                format!("rank {to} left before {tag} was sent to it"),
            )
            .with_peer(to));
        }
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use fccl_collectives::CommId;

    use super::*;

    fn tag(seq: u64) -> Tag {
        Tag {
            comm: CommId::WORLD,
            p2p: true,
            seq,
            step: 0,
            chunk: 0,
        }
    }

    #[test]
    fn sends_are_checked_in_order_and_to_self_delivered_here() {
        let peers = Peers::new(1, 3, "test");
        let msg = Bytes::from_static(b"x");
        let e = peers.before_send(3, tag(0), msg.clone()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(peers.before_send(1, tag(0), msg.clone()).unwrap(), None);
        assert_eq!(peers.mailbox.try_take(1, tag(0)), Some(msg.clone()));
        assert_eq!(
            peers.before_send(2, tag(0), msg.clone()).unwrap(),
            Some(msg.clone())
        );
        peers.mark_left(2);
        let e = peers.before_send(2, tag(1), msg.clone()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        assert!(peers.gone_error(2, tag(1)).is_some());
        assert!(peers.gone_error(0, tag(1)).is_none());
        peers.fail(Error::new(ErrorKind::Transport, "the server went away"));
        let e = peers.before_send(0, tag(1), msg.clone()).unwrap_err();
        assert!(e.to_string().contains("went away"), "{e}");
        peers.closed.store(true, Ordering::SeqCst);
        let e = peers.before_send(0, tag(1), msg).unwrap_err();
        assert!(e.to_string().contains("test transport is closed"), "{e}");
    }
}
