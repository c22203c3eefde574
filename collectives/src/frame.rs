//! Message tags and the frame header every message starts with.
//!
//! A frame is a 48-byte little-endian header followed by the payload's raw elements. The
//! receiver checks the header against what it expects, so ranks that disagree on a
//! collective's kind, type, op, root or count get [`ErrorKind::Mismatch`] instead of garbage.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::collective::Collective;
use crate::error::{Error, ErrorKind, Result};
use crate::types::DataType;

/// Identifies a communicator; sub-communicators derive theirs from the parent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommId(pub u64);

impl CommId {
    /// The communicator over all ranks of a job.
    pub const WORLD: CommId = CommId(1);

    /// The id of a child communicator, the same on every rank that derives it from the same
    /// parent, operation number and discriminator (split colour, or `u64::MAX` for `dup`).
    pub fn child(self, seq: u64, discriminator: u64) -> CommId {
        // splitmix64 over the three words: stable across platforms and builds.
        let mut z = self.0;
        for w in [seq, discriminator] {
            z = (z ^ w).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
        }
        CommId(z)
    }
}

impl fmt::Display for CommId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The key of a message between two ranks: which communicator, which operation, which step
/// and chunk. Every message of a job has a distinct `(source, destination, tag)`, which is
/// what lets stores use it as a key and queues de-duplicate by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    /// The communicator.
    pub comm: CommId,
    /// Collective traffic (`seq` is the op number) or point-to-point (`seq` counts messages
    /// per peer and user tag, `step` is the user tag).
    pub p2p: bool,
    /// Operation sequence number.
    pub seq: u64,
    /// Algorithm step (or user tag for point-to-point).
    pub step: u32,
    /// Chunk of a step's message.
    pub chunk: u32,
}

impl fmt::Display for Tag {
    /// `comm/c|p/seq/step/chunk`: structured, with separators, so no two tags print alike.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channel = if self.p2p { 'p' } else { 'c' };
        write!(
            f,
            "{}/{channel}/{}/{}/{}",
            self.comm, self.seq, self.step, self.chunk
        )
    }
}

/// Frame magic, "FCCL" in little-endian order.
pub const MAGIC: u32 = u32::from_le_bytes(*b"FCCL");
/// Wire format version.
pub const VERSION: u8 = 1;
/// Header length in bytes; a multiple of 16 so that payloads stay aligned.
pub const HEADER_LEN: usize = 48;

/// The header of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The operation.
    pub collective: Collective,
    /// Element type of the payload.
    pub dtype: DataType,
    /// Reduction code ([`crate::Reduction::wire_code`]); 0 where nothing reduces.
    pub op: u8,
    /// The message's tag.
    pub tag: Tag,
    /// How many chunks the step's message has.
    pub chunks: u32,
    /// Root rank of rooted collectives; 0 otherwise.
    pub root: u32,
    /// The call's element count as the sender sees it (per-collective meaning).
    pub count: u64,
}

impl Header {
    /// Serialises the header followed by `payload` into one frame.
    pub fn encode(&self, payload: &[u8]) -> Bytes {
        let mut b = BytesMut::with_capacity(HEADER_LEN + payload.len());
        b.put_u32_le(MAGIC);
        b.put_u8(VERSION);
        b.put_u8(self.collective as u8);
        b.put_u8(self.dtype as u8);
        b.put_u8(self.op);
        b.put_u64_le(self.tag.comm.0);
        b.put_u64_le(self.tag.seq);
        b.put_u32_le(self.tag.step);
        b.put_u32_le(self.tag.chunk);
        b.put_u32_le(self.chunks);
        b.put_u32_le(self.root);
        b.put_u64_le(self.count);
        debug_assert_eq!(b.len(), HEADER_LEN);
        b.put_slice(payload);
        b.freeze()
    }

    /// Parses a frame into its header and payload; a short or malformed frame is a
    /// [`ErrorKind::Transport`] error (it cannot come from a correct peer).
    pub fn decode(frame: &Bytes) -> Result<(Header, Bytes)> {
        let header = Header::decode_head(frame)?;
        Ok((header, frame.slice(HEADER_LEN..)))
    }

    /// Parses the header at the start of `head` (the frame's first bytes, or all of them).
    pub fn decode_head(head: &[u8]) -> Result<Header> {
        let bad = |what: &str| Error::new(ErrorKind::Transport, format!("malformed frame: {what}"));
        if head.len() < HEADER_LEN {
            return Err(bad(&format!(
                "{} bytes, shorter than the header",
                head.len()
            )));
        }
        let mut h = &head[..HEADER_LEN];
        if h.get_u32_le() != MAGIC {
            return Err(bad("bad magic"));
        }
        let version = h.get_u8();
        if version != VERSION {
            return Err(bad(&format!("version {version}, expected {VERSION}")));
        }
        let collective = Collective::from_code(h.get_u8()).ok_or_else(|| bad("unknown kind"))?;
        let dtype = DataType::from_code(h.get_u8()).ok_or_else(|| bad("unknown data type"))?;
        let op = h.get_u8();
        let comm = CommId(h.get_u64_le());
        let seq = h.get_u64_le();
        let step = h.get_u32_le();
        let chunk = h.get_u32_le();
        let chunks = h.get_u32_le();
        let root = h.get_u32_le();
        let count = h.get_u64_le();
        let header = Header {
            collective,
            dtype,
            op,
            tag: Tag {
                comm,
                p2p: collective == Collective::SendRecv,
                seq,
                step,
                chunk,
            },
            chunks,
            root,
            count,
        };
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            collective: Collective::AllReduce,
            dtype: DataType::Float32,
            op: 0,
            tag: Tag {
                comm: CommId::WORLD,
                p2p: false,
                seq: 7,
                step: 3,
                chunk: 1,
            },
            chunks: 2,
            root: 0,
            count: 1000,
        }
    }

    #[test]
    fn roundtrip() {
        let h = header();
        let frame = h.encode(&[1, 2, 3, 4]);
        let (back, payload) = Header::decode(&frame).unwrap();
        assert_eq!(back, h);
        assert_eq!(&payload[..], &[1, 2, 3, 4]);
    }

    #[test]
    fn rejects_short_and_corrupt_frames() {
        let frame = header().encode(&[]);
        for cut in [0, 1, HEADER_LEN - 1] {
            let e = Header::decode(&frame.slice(..cut)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Transport);
        }
        let mut bad = frame.to_vec();
        bad[0] ^= 1;
        assert!(Header::decode(&Bytes::from(bad)).is_err());
        let mut bad = frame.to_vec();
        bad[6] = 200; // data type
        assert!(Header::decode(&Bytes::from(bad)).is_err());
    }

    #[test]
    fn child_ids_differ_by_every_input() {
        let a = CommId::WORLD.child(1, 0);
        assert_ne!(a, CommId::WORLD.child(2, 0));
        assert_ne!(a, CommId::WORLD.child(1, 1));
        assert_ne!(a, CommId(2).child(1, 0));
        assert_eq!(a, CommId::WORLD.child(1, 0));
    }
}
