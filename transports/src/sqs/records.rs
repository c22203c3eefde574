//! The message bodies of the SQS transport, and their reassembly at the receiver.
//!
//! A body is one sealed record (`crate::sealed`, with [`CONTEXT`]) in Z85 (ZeroMQ's base-85). A
//! message larger than a record's share of a body travels as several records, each part
//! but the last of the same length. A standard queue delivers at least once and in any
//! order, so the receiver reassembles parts in any order, drops copies of parts it has,
//! and remembers which messages of each source it has finished ([`Done`]) to drop later
//! copies of those too. Message numbers count per destination, from 0 with no gaps, so a
//! low-watermark and a small set above it remember them all.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::{Bytes, BytesMut};
use fccl_collectives::{Rank, Tag};

pub(crate) use crate::sealed::{HEAD_LEN, Head, Sealer};

/// The context of the SQS records' MAC.
pub(crate) const CONTEXT: &[u8] = b"fccl sqs v1";

/// The payload bytes one record carries when its Z85 body may take `max_message` bytes.
pub(crate) fn part_bytes(max_message: usize) -> usize {
    (max_message / 5) * 4 - HEAD_LEN
}

/// One record as a message body, with the id that names it for a FIFO queue's
/// de-duplication: `{source}-{message}-{part}`, unique within the destination's queue.
#[derive(Clone, Debug)]
pub(crate) struct Body {
    pub(crate) text: String,
    pub(crate) id: String,
}

impl Body {
    /// The body of `record` with `head`.
    pub(crate) fn new(head: &Head, record: &[u8]) -> Body {
        Body {
            text: encode(record),
            id: format!("{}-{}-{}", head.source, head.message, head.part),
        }
    }
}

/// The Z85 body of a record: 5 printable characters for every 4 bytes (the last group
/// padded), 4/5 of a body payload where base64 gives 3/4, so about 6% fewer requests and
/// billed 64 KiB units for large messages (`examples/sqs_encoding.rs` measures both).
pub(crate) fn encode(record: &[u8]) -> String {
    z85::encode(record)
}

/// The record in a body, or why it is not one.
pub(crate) fn decode(body: &str) -> Result<Bytes, &'static str> {
    z85::decode(body).map(Bytes::from).map_err(|_| "not Z85")
}

/// The message numbers of one source that this rank finished: all below `low`, and those
/// in `above`.
#[derive(Default)]
pub(crate) struct Done {
    low: u64,
    above: BTreeSet<u64>,
}

impl Done {
    pub(crate) fn contains(&self, n: u64) -> bool {
        n < self.low || self.above.contains(&n)
    }

    pub(crate) fn mark(&mut self, n: u64) {
        if n < self.low {
            return;
        }
        self.above.insert(n);
        while self.above.remove(&self.low) {
            self.low += 1;
        }
    }

    /// Whether every message numbered below `n` is finished.
    pub(crate) fn all_below(&self, n: u64) -> bool {
        self.low >= n
    }
}

/// What became of one record's data part.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The last missing part: the whole message, with its tag and number.
    Whole(Tag, u64, Bytes),
    /// Kept; more parts are to come.
    Kept,
    /// A copy of a part or message this rank has.
    Duplicate,
}

/// The messages whose parts are still arriving, and the finished ones, by source.
pub(crate) struct Reassembly {
    partial: HashMap<(Rank, u64), Partial>,
    done: Vec<Done>,
}

struct Partial {
    tag: Tag,
    parts: u32,
    total: u64,
    got: BTreeMap<u32, Bytes>,
}

impl Reassembly {
    pub(crate) fn new(size: usize) -> Reassembly {
        Reassembly {
            partial: HashMap::new(),
            done: (0..size).map(|_| Done::default()).collect(),
        }
    }

    /// Whether message `message` of `source` was finished (delivered or acted on).
    pub(crate) fn is_done(&self, source: Rank, message: u64) -> bool {
        self.done[source].contains(message)
    }

    /// Marks a message of one record (an abort, a goodbye) finished.
    pub(crate) fn finish(&mut self, source: Rank, message: u64) {
        self.done[source].mark(message);
    }

    /// Whether every message of `source` numbered below `n` is finished.
    pub(crate) fn all_below(&self, source: Rank, n: u64) -> bool {
        self.done[source].all_below(n)
    }

    /// Adds one data part (whose record was opened, so its head is consistent). A part that
    /// does not fit the others of its message is refused, and the message is dropped.
    pub(crate) fn add(&mut self, head: &Head, part: Bytes) -> Result<Added, &'static str> {
        let (source, message) = (head.source, head.message);
        if self.done[source].contains(message) {
            return Ok(Added::Duplicate);
        }
        if head.parts == 1 {
            if part.len() as u64 != head.total {
                return Err("a single part shorter than its message");
            }
            self.done[source].mark(message);
            return Ok(Added::Whole(head.tag, message, part));
        }
        let p = self
            .partial
            .entry((source, message))
            .or_insert_with(|| Partial {
                tag: head.tag,
                parts: head.parts,
                total: head.total,
                got: BTreeMap::new(),
            });
        if p.tag != head.tag || p.parts != head.parts || p.total != head.total {
            self.partial.remove(&(source, message));
            return Err("a part of another message");
        }
        match p.got.entry(head.part) {
            Entry::Occupied(_) => return Ok(Added::Duplicate),
            Entry::Vacant(v) => {
                v.insert(part);
            }
        }
        if p.got.len() < p.parts as usize {
            return Ok(Added::Kept);
        }
        let p = self.partial.remove(&(source, message)).expect("present");
        // Every part but the last has the length of the first.
        let first = p.got[&0].len();
        let last = p.parts - 1;
        let fits = first > 0
            && p.got.iter().all(|(&i, b)| i == last || b.len() == first)
            && p.got.values().map(|b| b.len() as u64).sum::<u64>() == p.total
            && p.got[&last].len() <= first;
        if !fits {
            return Err("parts that do not make up their message");
        }
        let mut buf = BytesMut::with_capacity(p.total as usize);
        for b in p.got.values() {
            buf.extend_from_slice(b);
        }
        self.done[source].mark(message);
        Ok(Added::Whole(p.tag, message, buf.freeze()))
    }

    /// Forgets the unfinished messages of `source` (it left).
    pub(crate) fn forget(&mut self, source: Rank) {
        self.partial.retain(|&(s, _), _| s != source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Kind;
    use crate::sealed::tests::{head, tag};

    #[test]
    fn bodies_fit_their_limit() {
        for max in [1024, 16 << 10, 256 << 10, 1 << 20] {
            let record = vec![7u8; HEAD_LEN + part_bytes(max)];
            let body = encode(&record);
            assert!(body.len() <= max, "{max}");
            assert_eq!(decode(&body).unwrap(), record);
        }
        assert!(decode("not Z85!").is_err());
        assert!(decode("\"\"\"\"\"").is_err());
        for n in 0..9 {
            let record: Vec<u8> = (0..n).collect();
            assert_eq!(decode(&encode(&record)).unwrap(), record, "{n} bytes");
        }
    }

    #[test]
    fn parts_reassemble_in_any_order_once() {
        let mut r = Reassembly::new(3);
        let parts = [&b"abc"[..], b"def", b"g"];
        let got: Vec<Added> = [2u32, 0, 2, 1]
            .iter()
            .map(|&i| {
                let part = Bytes::copy_from_slice(parts[i as usize]);
                r.add(&head(Kind::Data, i, 3, 7), part).unwrap()
            })
            .collect();
        let whole = Added::Whole(tag(), 4, Bytes::from_static(b"abcdefg"));
        assert_eq!(got, [Added::Kept, Added::Kept, Added::Duplicate, whole]);
        assert!(r.partial.is_empty());
        // A late copy of any part of a finished message is a duplicate.
        let h = head(Kind::Data, 0, 3, 7);
        assert_eq!(r.add(&h, Bytes::from_static(b"abc")), Ok(Added::Duplicate));
        assert!(r.is_done(1, 4) && !r.is_done(1, 3));
        // Parts that do not add up are refused.
        let mut r = Reassembly::new(3);
        r.add(&head(Kind::Data, 0, 2, 5), Bytes::from_static(b"ab"))
            .unwrap();
        assert!(
            r.add(&head(Kind::Data, 1, 2, 5), Bytes::from_static(b"cde"))
                .is_err()
        );
    }

    #[test]
    fn done_numbers_advance_past_out_of_order_marks() {
        let mut d = Done::default();
        d.mark(1);
        d.mark(3);
        assert!(!d.all_below(1) && d.contains(1) && !d.contains(2));
        d.mark(0);
        d.mark(2);
        assert!(d.all_below(4) && d.above.is_empty());
    }
}
