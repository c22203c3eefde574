//! Tagged point-to-point messages.
//!
//! Each `(peer, user tag)` pair numbers its messages on both sides, so every message has a
//! distinct key (what stores and queues need) and messages with the same tag arrive in the
//! order they were sent, as in MPI.

use super::posted::copy_message;
use super::{Call, Communicator};
use crate::collective::Collective;
use crate::error::Result;
use crate::frame::{Header, Tag};
use crate::types::{Element, Rank};

impl Communicator {
    /// The call for the next message to (`sending`) or from `peer` with `tag`: each
    /// direction of each `(peer, tag)` pair numbers its messages from 0.
    pub(super) fn p2p_call<T: Element>(&mut self, peer: Rank, tag: u32, sending: bool) -> Call {
        let counters = if sending {
            &mut self.p2p_sent
        } else {
            &mut self.p2p_received
        };
        let counter = counters.entry((peer, tag)).or_insert(0);
        let seq = *counter;
        *counter += 1;
        Call {
            header: Header {
                collective: Collective::SendRecv,
                dtype: T::DTYPE,
                op: 0,
                tag: Tag {
                    comm: self.id,
                    p2p: true,
                    seq,
                    step: 0,
                    chunk: 0,
                },
                chunks: 1,
                root: 0,
                count: 0,
            },
            deadline: self.deadline(),
            medium: 0,
        }
    }

    /// Sends `data` to `peer` with a user `tag`.
    pub async fn send<T: Element>(&mut self, data: &[T], peer: Rank, tag: u32) -> Result<()> {
        let c = Collective::SendRecv;
        self.check_usable(c)?;
        self.check_rank("peer", peer)?;
        let call = self.p2p_call::<T>(peer, tag, true);
        let result = self.ctx(&call).send(peer, tag, data).await;
        self.end(c, result).await
    }

    /// Receives the next message with `tag` from `peer` into the front of `buf`; returns
    /// how many elements it had. A message longer than `buf` is an error.
    pub async fn recv<T: Element>(&mut self, buf: &mut [T], peer: Rank, tag: u32) -> Result<usize> {
        let c = Collective::SendRecv;
        self.check_usable(c)?;
        self.check_rank("peer", peer)?;
        let call = self.p2p_call::<T>(peer, tag, false);
        let result = async {
            let payload = self.ctx(&call).recv_frame::<T>(peer, tag, 0, 1).await?;
            copy_message(&payload, buf, peer)
        }
        .await;
        self.end(c, result).await
    }
}
