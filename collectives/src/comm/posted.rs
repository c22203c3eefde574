//! Point-to-point messages posted ahead, like `MPI_Irecv` and `MPI_Isend`.
//!
//! [`Communicator::post_recv`] and [`Communicator::post_send`] take the message's place in
//! its `(peer, tag)` order at once and return a future that owns what it needs. The future
//! can be awaited later, beside other calls on the same communicator or on another task, so
//! a receive posted before the matching send on every rank does not deadlock, and a rank
//! can wait on receives from several peers at once (a parameter server's loop).
//!
//! A posted message that fails does not poison the communicator: its error goes to whoever
//! awaits it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::Communicator;
use crate::algorithms::context::{OpCtx, Payload};
use crate::collective::Collective;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::BoxFuture;
use crate::types::{Element, Rank};

/// A receive posted with [`Communicator::post_recv`]: a future of the message.
#[must_use = "a posted receive does nothing unless awaited"]
pub struct PostedRecv<T> {
    peer: Rank,
    future: BoxFuture<'static, Result<Payload<T>>>,
}

/// A send posted with [`Communicator::post_send`]: a future that ends when the transport
/// has taken the message.
#[must_use = "a posted send does nothing unless awaited"]
pub struct PostedSend {
    future: BoxFuture<'static, Result<()>>,
}

impl<T: Element> PostedRecv<T> {
    /// The rank the message comes from.
    pub fn peer(&self) -> Rank {
        self.peer
    }

    /// Waits for the message and copies it into the front of `buf`; returns how many
    /// elements it had. A message longer than `buf` is an error.
    pub async fn recv_into(self, buf: &mut [T]) -> Result<usize> {
        let peer = self.peer;
        let payload = self.await?;
        copy_message(&payload, buf, peer)
    }
}

/// Copies a received `payload` into the front of `buf`; a payload longer than `buf` is a
/// [`ErrorKind::Mismatch`].
pub(super) fn copy_message<T: Element>(
    payload: &Payload<T>,
    buf: &mut [T],
    peer: Rank,
) -> Result<usize> {
    if payload.len() > buf.len() {
        return Err(Error::new(
            ErrorKind::Mismatch,
            format!(
                "the message has {} elements but the receive buffer only {}",
                payload.len(),
                buf.len()
            ),
        )
        .with_peer(peer)
        .with_collective(Collective::SendRecv));
    }
    payload.copy_to(&mut buf[..payload.len()]);
    Ok(payload.len())
}

impl<T: Element> Future for PostedRecv<T> {
    type Output = Result<Payload<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl Future for PostedSend {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl Communicator {
    /// Posts a receive of the next message with `tag` from `peer`: its place among that
    /// pair's messages is fixed now, and the message arrives when the returned future is
    /// awaited (before the communicator's timeout from now). Receives posted for the same
    /// `(peer, tag)` get the messages in the order they were posted.
    pub fn post_recv<T: Element>(&mut self, peer: Rank, tag: u32) -> Result<PostedRecv<T>> {
        self.check_usable(Collective::SendRecv)?;
        self.check_rank("peer", peer)?;
        let call = self.p2p_call::<T>(peer, tag, false);
        let (media, members, rank) = (
            Arc::clone(&self.media),
            Arc::clone(&self.members),
            self.rank,
        );
        let future = Box::pin(async move {
            let ctx = OpCtx::new(
                media[0].as_ref(),
                &members,
                rank,
                call.header,
                call.deadline,
            );
            let payload = ctx.recv_frame::<T>(peer, tag, 0, 1).await;
            payload.map_err(|e| e.with_collective(Collective::SendRecv))
        });
        Ok(PostedRecv { peer, future })
    }

    /// Posts a send of `data` to `peer` with `tag`: the data is copied and the message's
    /// place among that pair's messages fixed now; it goes out when the returned future is
    /// awaited.
    pub fn post_send<T: Element>(
        &mut self,
        data: &[T],
        peer: Rank,
        tag: u32,
    ) -> Result<PostedSend> {
        self.check_usable(Collective::SendRecv)?;
        self.check_rank("peer", peer)?;
        let call = self.p2p_call::<T>(peer, tag, true);
        let data: Vec<T> = data.to_vec();
        let (media, members, rank) = (
            Arc::clone(&self.media),
            Arc::clone(&self.members),
            self.rank,
        );
        let future = Box::pin(async move {
            let ctx = OpCtx::new(
                media[0].as_ref(),
                &members,
                rank,
                call.header,
                call.deadline,
            );
            let sent = ctx.send(peer, tag, &data).await;
            sent.map_err(|e| e.with_collective(Collective::SendRecv))
        });
        Ok(PostedSend { future })
    }
}
