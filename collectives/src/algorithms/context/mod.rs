//! The op context an algorithm runs in: who it is, whom it talks to, and the deadline.
//!
//! Algorithms see communicator ranks `0..size`; the context maps them onto the transport's
//! job ranks, stamps every message with the call's header, and checks every received header
//! against its own, so a disagreement between ranks surfaces as `Mismatch`. Shared objects
//! (see `shared.rs`) get the same framing and checks.

mod shared;

pub use shared::release_requests;

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;

use bytes::Bytes;
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{HEADER_LEN, Header, Tag};
use crate::transport::Transport;
use crate::types::{Element, Rank};

/// Steps of one phase; [`OpCtx::phase`] offsets steps by multiples of this.
const PHASE_STEPS: u32 = 1 << 20;

/// Everything an algorithm needs to exchange messages for one collective call.
#[derive(Clone, Copy)]
pub struct OpCtx<'a> {
    transport: &'a dyn Transport,
    members: &'a [Rank],
    rank: Rank,
    header: Header,
    step_base: u32,
    deadline: Instant,
}

/// A received payload of `T`s, validated against the call.
pub struct Payload<T> {
    bytes: Bytes,
    _t: PhantomData<T>,
}

impl<T: Element> Payload<T> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / size_of::<T>()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The elements, borrowed when the bytes are aligned for `T` (the usual case), copied
    /// otherwise.
    pub fn as_slice(&self) -> Cow<'_, [T]> {
        match bytemuck::try_cast_slice(&self.bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(
                self.bytes
                    .chunks_exact(size_of::<T>())
                    .map(bytemuck::pod_read_unaligned)
                    .collect(),
            ),
        }
    }

    /// Copies the elements into `out`, which must have exactly [`Payload::len`] elements.
    pub fn copy_to(&self, out: &mut [T]) {
        bytemuck::cast_slice_mut::<T, u8>(out).copy_from_slice(&self.bytes);
    }
}

impl<'a> OpCtx<'a> {
    /// A context for one call. `members[i]` is the transport rank of communicator rank `i`;
    /// `header` carries the call's kind, type, op, root, count and tag (comm and seq).
    pub fn new(
        transport: &'a dyn Transport,
        members: &'a [Rank],
        rank: Rank,
        header: Header,
        deadline: Instant,
    ) -> OpCtx<'a> {
        OpCtx {
            transport,
            members,
            rank,
            header,
            step_base: 0,
            deadline,
        }
    }

    /// This rank in the communicator.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// The number of ranks in the communicator.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// When every wait of this call gives up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The transport.
    pub fn transport(&self) -> &'a dyn Transport {
        self.transport
    }

    /// A context whose steps are numbered apart from every other phase's, for algorithms
    /// built from others (Rabenseifner = reduce-scatter phase 1 + allgather phase 2).
    pub fn phase(&self, phase: u32) -> OpCtx<'a> {
        OpCtx {
            step_base: self.step_base + phase * PHASE_STEPS,
            ..*self
        }
    }

    fn tag(&self, step: u32, chunk: u32) -> Tag {
        Tag {
            step: self.step_base + step,
            chunk,
            ..self.header.tag
        }
    }

    /// The transport rank of communicator rank `peer`; an algorithm that `did` something
    /// with a rank outside the communicator is a bug of fccl's.
    fn member(&self, peer: Rank, did: &str) -> Result<Rank> {
        self.members
            .get(peer)
            .copied()
            .ok_or_else(|| Error::new(ErrorKind::Internal, format!("algorithm {did} rank {peer}")))
    }

    fn annotate(&self, e: Error, peer: Rank, step: u32) -> Error {
        e.with_collective(self.header.collective)
            .with_peer(peer)
            .with_step(step)
    }

    /// Sends `data` to `peer` as step `step`. The data is framed before this returns, so the
    /// borrow of `data` ends here and the future can run beside a receive into the same buffer.
    pub fn send<T: Element>(
        &self,
        peer: Rank,
        step: u32,
        data: &[T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        self.send_chunk(peer, step, 0, 1, data)
    }

    /// Sends chunk `chunk` of `chunks` of step `step` to `peer` (see [`OpCtx::send`]).
    pub fn send_chunk<T: Element>(
        &self,
        peer: Rank,
        step: u32,
        chunk: u32,
        chunks: u32,
        data: &[T],
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let header = self.chunk_header(step, chunk, chunks);
        let frame = header.encode(bytemuck::cast_slice(data));
        self.send_parts(peer, step, header.tag, frame, &[])
    }

    /// Sends chunk `chunk` of `chunks` of step `step` to `peer` straight from `data`, which
    /// stays borrowed until the send completes: unlike [`OpCtx::send_chunk`], no framed copy
    /// of the data is made where the transport can write it from where it lies.
    pub fn send_chunk_from<'b, T: Element>(
        &self,
        peer: Rank,
        (step, chunk, chunks): (u32, u32, u32),
        data: &'b [T],
    ) -> impl Future<Output = Result<()>> + Send + 'b
    where
        'a: 'b,
    {
        let header = self.chunk_header(step, chunk, chunks);
        let head = header.encode(&[]);
        self.send_parts(peer, step, header.tag, head, bytemuck::cast_slice(data))
    }

    /// The call's header for chunk `chunk` of `chunks` of step `step`.
    fn chunk_header(&self, step: u32, chunk: u32, chunks: u32) -> Header {
        Header {
            tag: self.tag(step, chunk),
            chunks,
            ..self.header
        }
    }

    /// Sends `head` then `body` to `peer` as step `step`'s message `tag`.
    fn send_parts<'b>(
        &self,
        peer: Rank,
        step: u32,
        tag: Tag,
        head: Bytes,
        body: &'b [u8],
    ) -> impl Future<Output = Result<()>> + Send + 'b
    where
        'a: 'b,
    {
        let this = *self;
        async move {
            let to = this.member(peer, "sent to")?;
            this.transport
                .send_parts(to, tag, head, body)
                .await
                .map_err(|e| this.annotate(e, peer, step))
        }
    }

    /// Receives step `step` from `peer`, which must hold exactly `len` elements.
    pub async fn recv<T: Element>(&self, peer: Rank, step: u32, len: usize) -> Result<Payload<T>> {
        self.recv_chunk(peer, step, 0, 1, len).await
    }

    /// Receives chunk `chunk` of `chunks` of step `step` from `peer`, exactly `len` elements.
    pub async fn recv_chunk<T: Element>(
        &self,
        peer: Rank,
        step: u32,
        chunk: u32,
        chunks: u32,
        len: usize,
    ) -> Result<Payload<T>> {
        let payload = self.recv_frame::<T>(peer, step, chunk, chunks).await?;
        self.check_len(payload, len, peer, step)
    }

    /// Receives chunk `chunk` of `chunks` of step `step` from `peer` into `out`, which must
    /// match its length exactly: straight into `out` where the transport can
    /// ([`Transport::recv_into`]), through a copy otherwise.
    pub async fn recv_chunk_into<T: Element>(
        &self,
        peer: Rank,
        step: u32,
        (chunk, chunks): (u32, u32),
        out: &mut [T],
    ) -> Result<()> {
        let from = self.member(peer, "received from")?;
        let tag = self.tag(step, chunk);
        let mut head = [0; HEADER_LEN];
        let body: &mut [u8] = bytemuck::cast_slice_mut(out);
        let received = self
            .transport
            .recv_into(from, tag, self.deadline, &mut head, body)
            .await
            .map_err(|e| self.annotate(e, peer, step))?;
        match received {
            None => Header::decode_head(&head)
                .and_then(|got| self.check(&got, chunks))
                .map_err(|e| self.annotate(e, peer, step)),
            Some(frame) => {
                let payload = self.open::<T>(&frame, peer, step, chunks)?;
                self.check_len(payload, out.len(), peer, step)?.copy_to(out);
                Ok(())
            }
        }
    }

    fn check_len<T: Element>(
        &self,
        payload: Payload<T>,
        len: usize,
        peer: Rank,
        step: u32,
    ) -> Result<Payload<T>> {
        if payload.len() != len {
            return Err(self.annotate(
                Error::new(
                    ErrorKind::Mismatch,
                    format!(
                        "peer sent {} elements where this rank expects {len}",
                        payload.len()
                    ),
                ),
                peer,
                step,
            ));
        }
        Ok(payload)
    }

    /// Receives step `step` from `peer` into `out`, which must match its length exactly.
    pub async fn recv_into<T: Element>(&self, peer: Rank, step: u32, out: &mut [T]) -> Result<()> {
        self.recv_chunk_into(peer, step, (0, 1), out).await
    }

    /// Receives a message of any length (point-to-point receives check it themselves).
    pub async fn recv_frame<T: Element>(
        &self,
        peer: Rank,
        step: u32,
        chunk: u32,
        chunks: u32,
    ) -> Result<Payload<T>> {
        let from = self.member(peer, "received from")?;
        let tag = self.tag(step, chunk);
        let frame = self
            .transport
            .recv(from, tag, self.deadline)
            .await
            .map_err(|e| self.annotate(e, peer, step))?;
        self.open(&frame, peer, step, chunks)
    }

    /// Decodes a frame from `peer` and checks its header against the call's.
    fn open<T: Element>(
        &self,
        frame: &Bytes,
        peer: Rank,
        step: u32,
        chunks: u32,
    ) -> Result<Payload<T>> {
        let (got, payload) = Header::decode(frame).map_err(|e| self.annotate(e, peer, step))?;
        self.check(&got, chunks)
            .map_err(|e| self.annotate(e, peer, step))?;
        if payload.len() % size_of::<T>() != 0 {
            return Err(self.annotate(
                Error::new(
                    ErrorKind::Transport,
                    "payload is not a whole number of elements",
                ),
                peer,
                step,
            ));
        }
        Ok(Payload {
            bytes: payload,
            _t: PhantomData,
        })
    }

    fn check(&self, got: &Header, chunks: u32) -> Result<()> {
        let mine = &self.header;
        let mismatch = |what: &str, theirs: String, ours: String| {
            Err(Error::new(
                ErrorKind::Mismatch,
                format!("peer called with {what} {theirs}, this rank with {ours}"),
            ))
        };
        if got.collective != mine.collective {
            return mismatch(
                "operation",
                got.collective.to_string(),
                mine.collective.to_string(),
            );
        }
        if got.dtype != mine.dtype {
            return mismatch("data type", got.dtype.to_string(), mine.dtype.to_string());
        }
        if got.op != mine.op {
            return mismatch("reduction code", got.op.to_string(), mine.op.to_string());
        }
        if got.root != mine.root {
            return mismatch("root", got.root.to_string(), mine.root.to_string());
        }
        if got.count != mine.count {
            return mismatch("count", got.count.to_string(), mine.count.to_string());
        }
        if got.chunks != chunks {
            return mismatch("chunking", got.chunks.to_string(), chunks.to_string());
        }
        Ok(())
    }
}

/// The frame overhead per message, for traffic accounting.
pub const FRAME_OVERHEAD: usize = HEADER_LEN;
