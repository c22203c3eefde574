//! The decoders of tcp's wire formats that read bytes from other machines, wrapped with
//! their encoders for the fuzz targets of `fccl-fuzz`: a record head as a connection's
//! reader decodes it, and a rendezvous server's reply as a rank decodes it.
//!
//! **Not a stable API.** It exists only so that `fuzz/` can reach crate-private decoders;
//! it adds no behaviour of its own and may change or go away in any release. It lives
//! under `tcp/`, the one place from which both decoders are visible, and the crate root
//! re-exports it as `fccl_transports::fuzzing`.

use bytes::Bytes;
use fccl_collectives::Result;

use super::super::wire::{HEAD_LEN, Head};
use super::protocol::Reply;

/// A tcp record head, decoded by the reader of every connection between two ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHead(Head);

impl RecordHead {
    /// The length of an encoded head.
    pub const LEN: usize = HEAD_LEN;

    /// Decodes the head at the start of `bytes`, as a connection's reader does.
    pub fn decode(bytes: &[u8]) -> Result<RecordHead> {
        Head::decode(bytes).map(RecordHead)
    }

    /// The head's [`LEN`](Self::LEN) bytes, as a connection's writer sends them.
    pub fn encode(&self) -> Bytes {
        self.0.encode()
    }
}

/// A rendezvous server's reply, decoded by every rank that registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RendezvousReply(Reply);

impl RendezvousReply {
    /// Decodes a reply body (the frame without its length prefix), as a rank does.
    pub fn decode(body: &[u8]) -> Result<RendezvousReply> {
        Reply::decode(body).map(RendezvousReply)
    }

    /// The whole frame, length prefix included, that the server sends for this reply.
    pub fn encode(&self) -> Bytes {
        match &self.0 {
            Reply::Table(table) => Reply::encode_table(table),
            Reply::Refused(kind, message) => Reply::encode_refusal(*kind, message),
        }
    }
}
