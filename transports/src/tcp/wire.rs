//! The records a tcp connection carries after its handshake.
//!
//! Every record is a fixed 48-byte little-endian head — kind (u8), tag (communicator u64,
//! point-to-point flag u8, sequence u64, step u32, chunk u32), payload length (u64), then
//! zeros — followed by the payload and zeros up to a multiple of [`ALIGN`] bytes. The tag
//! travels beside the message rather than inside it, so the reader demultiplexes without
//! looking into the payload; for data records the payload is the frame with DESIGN.md's
//! header, which the op context checks on arrival.
//!
//! The padding keeps every record, and so every payload, 16-byte aligned in the reader's
//! buffer: the elements of a received frame are then used in place, never copied one by one
//! to align them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use fccl_collectives::{CommId, Error, ErrorKind, Result, Tag};

pub(crate) use crate::record::Kind;
use crate::record::{MAX_REASON, get_tag, put_tag};

/// Length of a record head.
pub(crate) const HEAD_LEN: usize = 48;

/// Records start and end on multiples of this many bytes.
pub(crate) const ALIGN: usize = 16;

/// Zeros for the padding of a record.
pub(crate) static PADDING: [u8; ALIGN] = [0; ALIGN];

/// The padding after a payload of `len` bytes.
pub(crate) fn padding(len: usize) -> usize {
    len.next_multiple_of(ALIGN) - len
}

/// The largest data payload a peer may announce: larger claims are refused before anything
/// is allocated, and the payload of an accepted claim is allocated as its bytes arrive.
pub(crate) const MAX_PAYLOAD: u64 = 1 << 36;

/// A parsed record head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) kind: Kind,
    pub(crate) tag: Tag,
    pub(crate) len: u64,
}

impl Head {
    /// The head of a record of `kind` with `tag` and `len` payload bytes.
    pub(crate) fn new(kind: Kind, tag: Tag, len: usize) -> Head {
        Head {
            kind,
            tag,
            len: len as u64,
        }
    }

    /// The 34 bytes of the head.
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(HEAD_LEN);
        b.put_u8(self.kind as u8);
        put_tag(&mut b, &self.tag);
        b.put_u64_le(self.len);
        b.put_bytes(0, HEAD_LEN - b.len());
        b.freeze()
    }

    /// Parses a head from the first [`HEAD_LEN`] bytes of `b`, refusing unknown kinds and
    /// oversized lengths.
    pub(crate) fn decode(mut b: &[u8]) -> Result<Head> {
        let bad = |what: String| {
            Error::new(
                ErrorKind::Transport,
                format!("malformed record from peer: {what}"),
            )
        };
        if b.len() < HEAD_LEN {
            return Err(bad(format!(
                "{} bytes, shorter than a record head",
                b.len()
            )));
        }
        let code = b.get_u8();
        let kind =
            Kind::from_code(code).ok_or_else(|| bad(format!("unknown record kind {code}")))?;
        let tag = get_tag(&mut b).ok_or_else(|| bad("bad point-to-point flag".into()))?;
        let len = b.get_u64_le();
        let limit = match kind {
            Kind::Data => MAX_PAYLOAD,
            Kind::Abort => MAX_REASON as u64,
            Kind::Bye => 0,
        };
        if len > limit {
            return Err(bad(format!(
                "{kind:?} record claims {len} bytes, over the limit of {limit}"
            )));
        }
        Ok(Head { kind, tag, len })
    }
}

/// A tag for records that carry none (abort of a communicator, bye).
pub(crate) fn control_tag(comm: CommId) -> Tag {
    Tag {
        comm,
        p2p: false,
        seq: 0,
        step: 0,
        chunk: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> Tag {
        Tag {
            comm: CommId(0xabcdef),
            p2p: true,
            seq: 77,
            step: 5,
            chunk: 9,
        }
    }

    #[test]
    fn heads_round_trip() {
        for kind in [Kind::Data, Kind::Abort, Kind::Bye] {
            let len = if kind == Kind::Bye { 0 } else { 100 };
            let head = Head::new(kind, tag(), len);
            let bytes = head.encode();
            assert_eq!(bytes.len(), HEAD_LEN);
            assert_eq!(Head::decode(&bytes).unwrap(), head);
        }
    }

    #[test]
    fn bad_heads_are_refused() {
        let good = Head::new(Kind::Data, tag(), 8).encode();
        for cut in 0..HEAD_LEN {
            assert!(Head::decode(&good[..cut]).is_err());
        }
        let mut b = good.to_vec();
        b[0] = 7;
        assert!(Head::decode(&b).is_err());
        let mut b = good.to_vec();
        b[9] = 2;
        assert!(Head::decode(&b).is_err());
        let huge = Head::new(Kind::Data, tag(), usize::MAX).encode();
        let e = Head::decode(&huge).unwrap_err();
        assert!(e.to_string().contains("over the limit"), "{e}");
        let long_abort = Head::new(Kind::Abort, tag(), 5000).encode();
        assert!(Head::decode(&long_abort).is_err());
        let bye_with_body = Head::new(Kind::Bye, tag(), 1).encode();
        assert!(Head::decode(&bye_with_body).is_err());
    }
}
