//! Sealed records, shared by the store transports (redis, memcached): a fixed 71-byte
//! little-endian head, then (a part of) the payload:
//!
//! ```text
//! version u8 | kind u8 | source u32 | comm u64 | p2p u8 | seq u64 | step u32 | chunk u32
//! | message u64 | part u32 | parts u32 | total u64 | mac [16] | payload part
//! ```
//!
//! `message` numbers the sender's messages, so that the parts of two messages sent at once
//! cannot mix; `total` is the whole payload's length. `mac` is the first 16 bytes of
//! `HMAC-SHA256(secret, context | job id | destination u32 | head before the mac | payload
//! part)`, where the context names the transport and the use (`"fccl redis v1"`, ...):
//! anyone who can write to the store but lacks the job secret cannot make a record that a
//! rank accepts, nor move one to another destination. Replays of a record of this job are
//! the transports' to refuse, by `message`: senders number their records per destination,
//! and a receiver takes each number once (redis keeps the numbers it took, memcached reads
//! each number's key once and checks the record's number against its key).

use bytes::{Buf, BufMut, Bytes};
use fccl_collectives::{JobId, Rank, Secret, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::record::{Kind, MAX_REASON, get_tag, put_tag};

/// Length of a record head, the MAC included.
pub(crate) const HEAD_LEN: usize = 71;
/// Length of the head before the MAC.
const MACED_HEAD: usize = HEAD_LEN - MAC_LEN;
const MAC_LEN: usize = 16;
const VERSION: u8 = 1;

/// The largest message a record head may announce.
const MAX_TOTAL: u64 = 1 << 36;
/// A parsed record head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) kind: Kind,
    pub(crate) source: Rank,
    pub(crate) tag: Tag,
    pub(crate) message: u64,
    pub(crate) part: u32,
    pub(crate) parts: u32,
    pub(crate) total: u64,
}

/// Seals and opens the records of one job.
#[derive(Clone)]
pub(crate) struct Sealer {
    /// The HMAC keyed with the job secret, fed with the context and the job id.
    mac: Hmac<Sha256>,
}

impl Sealer {
    /// The sealer of `job`'s records for the use named by `context`.
    pub(crate) fn new(context: &[u8], secret: &Secret, job: JobId) -> Sealer {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(context);
        mac.update(&job.0);
        Sealer { mac }
    }

    fn mac(&self, dest: Rank, head: &[u8], payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(&(dest as u32).to_le_bytes());
        mac.update(head);
        mac.update(payload);
        mac
    }

    /// The record carrying `payload` (one part of a message) with `head`, for `dest`.
    pub(crate) fn seal(&self, head: &Head, dest: Rank, payload: &[u8]) -> Vec<u8> {
        let mut b = self.seal_head(head, dest, payload);
        b.extend_from_slice(payload);
        b
    }

    /// The [`HEAD_LEN`] bytes that go before `payload` in its record ([`Sealer::seal`]
    /// without the payload), so that a store can send the payload from where it lies.
    pub(crate) fn seal_head(&self, head: &Head, dest: Rank, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEAD_LEN + payload.len().min(4096));
        b.put_u8(VERSION);
        b.put_u8(head.kind as u8);
        b.put_u32_le(head.source as u32);
        put_tag(&mut b, &head.tag);
        b.put_u64_le(head.message);
        b.put_u32_le(head.part);
        b.put_u32_le(head.parts);
        b.put_u64_le(head.total);
        debug_assert_eq!(b.len(), MACED_HEAD);
        let mac = self.mac(dest, &b, payload).finalize().into_bytes();
        b.extend_from_slice(&mac[..MAC_LEN]);
        b
    }

    /// Checks and parses a record that arrived in `dest`'s inbox of a job of `size` ranks:
    /// its head and payload part, or why it was refused.
    pub(crate) fn open(
        &self,
        record: &Bytes,
        dest: Rank,
        size: usize,
    ) -> Result<(Head, Bytes), &'static str> {
        if record.len() < HEAD_LEN {
            return Err("shorter than a record head");
        }
        let payload = record.slice(HEAD_LEN..);
        let head = self.open_parts(&record[..HEAD_LEN], &payload, dest, size)?;
        Ok((head, payload))
    }

    /// [`Sealer::open`] of a record read as its [`HEAD_LEN`]-byte head and its payload,
    /// wherever each lies: the head, or why the record was refused.
    pub(crate) fn open_parts(
        &self,
        head: &[u8],
        payload: &[u8],
        dest: Rank,
        size: usize,
    ) -> Result<Head, &'static str> {
        if head.len() != HEAD_LEN {
            return Err("shorter than a record head");
        }
        let mac = self.mac(dest, &head[..MACED_HEAD], payload);
        mac.verify_truncated_left(&head[MACED_HEAD..])
            .map_err(|_| "bad MAC")?;
        let mut b = &head[..MACED_HEAD];
        if b.get_u8() != VERSION {
            return Err("unknown version");
        }
        let kind = Kind::from_code(b.get_u8()).ok_or("unknown kind")?;
        let source = b.get_u32_le() as usize;
        let tag = get_tag(&mut b).ok_or("bad point-to-point flag")?;
        let head = Head {
            kind,
            source,
            tag,
            message: b.get_u64_le(),
            part: b.get_u32_le(),
            parts: b.get_u32_le(),
            total: b.get_u64_le(),
        };
        let single = head.parts == 1 && head.total == payload.len() as u64;
        let ok = source < size
            && head.part < head.parts
            && head.total <= MAX_TOTAL
            && payload.len() as u64 <= head.total
            && match kind {
                Kind::Data => true,
                Kind::Abort => single && payload.len() <= MAX_REASON,
                Kind::Bye => single && payload.is_empty(),
            };
        if !ok {
            return Err("inconsistent head");
        }
        Ok(head)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tag with every field set, for record tests.
    pub(crate) fn tag() -> Tag {
        Tag {
            comm: fccl_collectives::CommId(9),
            p2p: true,
            seq: 77,
            step: 5,
            chunk: 2,
        }
    }

    /// A head of `kind` from rank 1, message 4, with [`tag`].
    pub(crate) fn head(kind: Kind, part: u32, parts: u32, total: u64) -> Head {
        Head {
            kind,
            source: 1,
            tag: tag(),
            message: 4,
            part,
            parts,
            total,
        }
    }

    #[test]
    fn records_round_trip_and_forgeries_are_refused() {
        let job = JobId([7; 16]);
        let sealer = Sealer::new(b"test", &Secret([1; 32]), job);
        let h = head(Kind::Data, 0, 1, 5);
        let record = Bytes::from(sealer.seal(&h, 2, b"hello"));
        let (got, payload) = sealer.open(&record, 2, 3).unwrap();
        assert_eq!((got, &payload[..]), (h, &b"hello"[..]));
        // Another destination, another secret, another job, a flipped bit: refused.
        assert_eq!(sealer.open(&record, 0, 3).unwrap_err(), "bad MAC");
        let other = Sealer::new(b"other use", &Secret([1; 32]), job);
        assert_eq!(other.open(&record, 2, 3).unwrap_err(), "bad MAC");
        let other = Sealer::new(b"test", &Secret([2; 32]), job);
        assert_eq!(other.open(&record, 2, 3).unwrap_err(), "bad MAC");
        let other = Sealer::new(b"test", &Secret([1; 32]), JobId([8; 16]));
        assert_eq!(other.open(&record, 2, 3).unwrap_err(), "bad MAC");
        for i in 0..record.len() {
            let mut b = record.to_vec();
            b[i] ^= 1;
            assert!(sealer.open(&Bytes::from(b), 2, 3).is_err(), "bit {i}");
        }
        for cut in 0..record.len() {
            assert!(sealer.open(&record.slice(..cut), 2, 3).is_err());
        }
        // A source outside the job, even with a good MAC.
        let far = Head { source: 3, ..h };
        let record = Bytes::from(sealer.seal(&far, 2, b"hello"));
        assert!(sealer.open(&record, 2, 3).is_err());
    }
}
