//! The reassembly of the records a rank pops from its inbox list (the records themselves
//! are in `crate::sealed`; the redis ones are sealed with [`CONTEXT`]).

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use fccl_collectives::{Rank, Tag};

pub(crate) use crate::sealed::{Head, Sealer};

/// The context of the redis records' MAC.
pub(crate) const CONTEXT: &[u8] = b"fccl redis v1";

/// The context of shared objects' parts, so that no inbox record passes for one.
pub(crate) const OBJECT_CONTEXT: &[u8] = b"fccl redis object v1";

/// The messages whose parts are still arriving, by source and message number.
#[derive(Default)]
pub(crate) struct Reassembly {
    partial: HashMap<(Rank, u64), Partial>,
}

struct Partial {
    tag: Tag,
    parts: u32,
    next: u32,
    total: u64,
    buf: BytesMut,
}

impl Reassembly {
    /// Adds one data part; returns the whole message once its last part came. Parts of a
    /// message come in order (one sender pushes them in order onto one list); a part that
    /// does not fit what came before drops the message and is refused.
    pub(crate) fn add(&mut self, head: &Head, part: Bytes) -> Result<Option<Bytes>, &'static str> {
        if head.parts == 1 {
            if part.len() as u64 != head.total {
                return Err("a single part shorter than its message");
            }
            return Ok(Some(part));
        }
        let key = (head.source, head.message);
        if head.part == 0 {
            if self.partial.contains_key(&key) {
                self.partial.remove(&key);
                return Err("a message started twice");
            }
            // The buffer grows as parts arrive, so a large claim costs memory only once
            // its bytes really come.
            self.partial.insert(
                key,
                Partial {
                    tag: head.tag,
                    parts: head.parts,
                    next: 0,
                    total: head.total,
                    buf: BytesMut::new(),
                },
            );
        }
        let Some(p) = self.partial.get_mut(&key) else {
            return Err("a part of a message whose start never came");
        };
        let fits = p.tag == head.tag
            && p.parts == head.parts
            && p.total == head.total
            && p.next == head.part
            && (p.buf.len() + part.len()) as u64 <= p.total;
        if !fits {
            self.partial.remove(&key);
            return Err("a part out of order or of another message");
        }
        p.buf.extend_from_slice(&part);
        p.next += 1;
        if p.next < p.parts {
            return Ok(None);
        }
        let p = self.partial.remove(&key).expect("present");
        if p.buf.len() as u64 != p.total {
            return Err("a message shorter than announced");
        }
        Ok(Some(p.buf.freeze()))
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
    use crate::sealed::tests::head;

    #[test]
    fn parts_reassemble_in_order_only() {
        let mut r = Reassembly::default();
        let parts = [&b"abc"[..], b"def", b"g"];
        for (i, p) in parts.iter().enumerate() {
            let got = r.add(&head(Kind::Data, i as u32, 3, 7), Bytes::copy_from_slice(p));
            let want = (i == 2).then(|| Bytes::from_static(b"abcdefg"));
            assert_eq!(got.unwrap(), want);
        }
        assert!(r.add(&head(Kind::Data, 1, 3, 7), Bytes::new()).is_err());
        r.add(&head(Kind::Data, 0, 3, 7), Bytes::from_static(b"abc"))
            .unwrap();
        assert!(
            r.add(&head(Kind::Data, 2, 3, 7), Bytes::from_static(b"g"))
                .is_err()
        );
        assert!(r.partial.is_empty());
    }
}
