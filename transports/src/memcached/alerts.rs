//! The alert list of a rank: one item, logical name `alert:{rank}`, that starts with
//! [`HEADER`] and grows by `append`, one frame (a length u32 little-endian, then a sealed
//! record) per abort or goodbye sent to the rank. Its owner reads the whole item on every
//! poll and acts on the frames past those it has seen.

use bytes::{Buf, BufMut, Bytes};

/// What every alert item starts with (memcached items of this crate are never empty).
pub(crate) const HEADER: &[u8] = b"fccl-alerts\n";

/// The frame that carries `record`.
pub(crate) fn frame(record: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + record.len());
    b.put_u32_le(record.len() as u32);
    b.extend_from_slice(record);
    b
}

/// The records of the alert item `item` past byte `seen` (0: none seen yet), and the offset
/// seen after them; `Err` if the item is not an alert list or shorter than what was seen
/// (it was lost and made again). A frame cut short ends the list.
pub(crate) fn parse(item: &Bytes, seen: usize) -> Result<(Vec<Bytes>, usize), ()> {
    if !item.starts_with(HEADER) || item.len() < seen {
        return Err(());
    }
    let mut at = seen.max(HEADER.len());
    let mut records = Vec::new();
    while item.len() >= at + 4 {
        let len = (&item[at..at + 4]).get_u32_le() as usize;
        if item.len() - at - 4 < len {
            break;
        }
        records.push(item.slice(at + 4..at + 4 + len));
        at += 4 + len;
    }
    Ok((records, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_read_once_each() {
        let mut item = HEADER.to_vec();
        let (none, seen) = parse(&Bytes::from(item.clone()), 0).unwrap();
        assert!(none.is_empty());
        item.extend(frame(b"one"));
        item.extend(frame(b""));
        let (got, seen) = parse(&Bytes::from(item.clone()), seen).unwrap();
        assert_eq!(got, [&b"one"[..], b""]);
        item.extend(frame(b"three"));
        item.extend(&frame(b"cut")[..5]);
        let (got, at) = parse(&Bytes::from(item.clone()), seen).unwrap();
        assert_eq!(
            (got, at),
            (vec![Bytes::from_static(b"three")], item.len() - 5)
        );
        assert!(parse(&Bytes::from_static(b"junk"), 0).is_err());
        assert!(parse(&Bytes::from(HEADER.to_vec()), item.len()).is_err());
    }
}
