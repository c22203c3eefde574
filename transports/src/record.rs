//! What the records of every network transport are, whatever their wire format: a message,
//! an abort, or a goodbye.

use bytes::{Buf, BufMut};
use fccl_collectives::{CommId, Tag};

/// Appends `tag`: communicator u64, point-to-point flag u8, sequence u64, step u32, chunk
/// u32, little-endian.
pub(crate) fn put_tag(b: &mut impl BufMut, tag: &Tag) {
    b.put_u64_le(tag.comm.0);
    b.put_u8(u8::from(tag.p2p));
    b.put_u64_le(tag.seq);
    b.put_u32_le(tag.step);
    b.put_u32_le(tag.chunk);
}

/// Reads a tag written by [`put_tag`] (the caller checked that its 25 bytes are there);
/// `None` if its point-to-point flag is neither 0 nor 1.
pub(crate) fn get_tag(b: &mut impl Buf) -> Option<Tag> {
    let comm = CommId(b.get_u64_le());
    let p2p = match b.get_u8() {
        0 => false,
        1 => true,
        _ => return None,
    };
    Some(Tag {
        comm,
        p2p,
        seq: b.get_u64_le(),
        step: b.get_u32_le(),
        chunk: b.get_u32_le(),
    })
}

/// The largest abort reason a record carries, in bytes.
pub(crate) const MAX_REASON: usize = 4096;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// (A part of) a message of the transport: `(tag, payload)`.
    Data = 0,
    /// The sender aborted communicator `tag.comm`; the payload is the reason.
    Abort = 1,
    /// The sender leaves the job; no more records follow.
    Bye = 2,
}

impl Kind {
    /// The kind with wire code `code`, if there is one.
    pub(crate) fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Data),
            1 => Some(Kind::Abort),
            2 => Some(Kind::Bye),
            _ => None,
        }
    }
}

/// The abort reason, shortened to [`MAX_REASON`] on a character boundary.
pub(crate) fn reason_bytes(reason: &str) -> &[u8] {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason.as_bytes()[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_reasons_are_cut_on_a_character_boundary() {
        for kind in [Kind::Data, Kind::Abort, Kind::Bye] {
            assert_eq!(Kind::from_code(kind as u8), Some(kind));
        }
        assert_eq!(Kind::from_code(3), None);
        let long = "é".repeat(3000);
        let b = reason_bytes(&long);
        assert!(b.len() <= MAX_REASON);
        assert!(std::str::from_utf8(b).is_ok());
    }
}
