//! A compact binary minibatch format, for streaming training data from object stores the
//! way Cirrus keeps minibatches in S3 objects (research/ml.md §1.6), but versioned and
//! little-endian, with varint-compressed indices.
//!
//! Every object starts with an 8-byte header: the magic `FCMB`, a `u16` version (1), a
//! `u8` kind (1 = sparse rows, 2 = ratings) and a reserved zero byte. Then:
//!
//! - sparse rows: `u64 rows, u64 features, u64 nonzeros`, then per row an `f32` label, the
//!   row's nonzero count as a LEB128 varint, its indices as LEB128 varints of the gaps
//!   (the first index itself, then each index minus the previous one, so never 0), and its
//!   `f32` values;
//! - ratings: `u64 count, u64 users, u64 items`, then per rating `u32 user, u32 item,
//!   f32 rating`.
//!
//! All integers and floats are little-endian. Decoding checks every length, index and id
//! and refuses trailing bytes, so a truncated or corrupt object is an error, never a panic.

mod cursor;
mod files;

pub use files::{MinibatchFiles, read_minibatches, write_minibatches};

use std::ops::Range;

use self::cursor::{Cursor, put_varint};
use super::{Ratings, SparseDataset};
use crate::error::{MlError, Result};

/// The first four bytes of every encoded minibatch.
pub const MAGIC: [u8; 4] = *b"FCMB";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// The kind byte of sparse rows.
const KIND_SPARSE: u8 = 1;
/// The kind byte of ratings.
const KIND_RATINGS: u8 = 2;
/// The smallest encoding of a sparse row: a label and a zero count.
const MIN_SPARSE_ROW: usize = 5;
/// The encoding of one rating.
const RATING_BYTES: usize = 12;

/// A dataset type with a binary minibatch encoding.
pub trait Minibatch: Sized {
    /// Encodes the whole dataset as one minibatch object.
    fn encode(&self) -> Vec<u8>;
    /// Decodes one minibatch object; a truncated or corrupt one is an [`MlError::Invalid`].
    fn decode(bytes: &[u8]) -> Result<Self>;
    /// The number of rows (or ratings).
    fn rows(&self) -> usize;
    /// The rows (or ratings) in `range`, as a dataset of their own.
    fn slice(&self, range: Range<usize>) -> Self;
}

/// Encodes `data` as one sparse minibatch object.
pub fn encode(data: &SparseDataset) -> Vec<u8> {
    data.encode()
}

/// Decodes one sparse minibatch object.
pub fn decode(bytes: &[u8]) -> Result<SparseDataset> {
    SparseDataset::decode(bytes)
}

/// Appends the header of a `kind` object.
fn put_header(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[kind, 0]);
}

/// Reads and checks the header of a `kind` object.
fn read_header(c: &mut Cursor<'_>, kind: u8) -> Result<()> {
    if c.take(4, "the magic")? != MAGIC {
        return Err(MlError::invalid(
            "not a minibatch: the magic bytes are not FCMB",
        ));
    }
    let version = c.u16("the version")?;
    if version != VERSION {
        return Err(MlError::invalid(format!(
            "minibatch version {version} is not supported (only {VERSION})"
        )));
    }
    let got = c.u8("the kind")?;
    if got != kind {
        let name = |k| match k {
            KIND_SPARSE => "sparse rows".to_string(),
            KIND_RATINGS => "ratings".to_string(),
            other => format!("unknown kind {other}"),
        };
        return Err(MlError::invalid(format!(
            "the minibatch holds {}, not {}",
            name(got),
            name(kind)
        )));
    }
    if c.u8("the reserved byte")? != 0 {
        return Err(c.error("the reserved header byte is not 0"));
    }
    Ok(())
}

/// Reads a `u64` count that must fit in a `usize` and at most `remaining / unit` items.
fn read_count(c: &mut Cursor<'_>, what: &str, unit: usize) -> Result<usize> {
    let n = c.u64(what)?;
    match usize::try_from(n) {
        Ok(n) if n <= c.remaining() / unit => Ok(n),
        _ => Err(c.error(&format!(
            "{what} {n} needs more than the {} bytes left",
            c.remaining()
        ))),
    }
}

/// Refuses bytes after the end of the object.
fn expect_end(c: &Cursor<'_>) -> Result<()> {
    match c.remaining() {
        0 => Ok(()),
        n => Err(c.error(&format!("{n} bytes after the end"))),
    }
}

impl Minibatch for SparseDataset {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.len() * 6 + self.nonzeros() * 6);
        put_header(&mut out, KIND_SPARSE);
        for n in [self.len(), self.features(), self.nonzeros()] {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        for row in self.rows() {
            out.extend_from_slice(&row.label.to_le_bytes());
            put_varint(&mut out, row.indices.len() as u32);
            let mut previous = 0;
            for &index in row.indices {
                put_varint(&mut out, index - previous);
                previous = index;
            }
            for value in row.values {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<SparseDataset> {
        let mut c = Cursor::new(bytes);
        read_header(&mut c, KIND_SPARSE)?;
        let rows = c.u64("the row count")?;
        let features = c.u64("the feature count")?;
        let nonzeros = read_count(&mut c, "the nonzero count", 5)?;
        if features > u64::from(u32::MAX) + 1 {
            return Err(c.error(&format!("{features} features do not fit 32-bit indices")));
        }
        if rows > (c.remaining() / MIN_SPARSE_ROW) as u64 {
            return Err(c.error(&format!(
                "{rows} rows need more than the {} bytes left",
                c.remaining()
            )));
        }
        let mut data = SparseDataset::new(features as usize);
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        let mut seen = 0usize;
        for r in 0..rows {
            c.row = Some(r);
            let label = c.f32("a label")?;
            let nnz = c.varint("a nonzero count")? as usize;
            if nnz > c.remaining() / 5 {
                return Err(c.error(&format!(
                    "{nnz} nonzeros need more than the {} bytes left",
                    c.remaining()
                )));
            }
            indices.clear();
            values.clear();
            let mut index = 0u32;
            for k in 0..nnz {
                let gap = c.varint("an index gap")?;
                if k > 0 && gap == 0 {
                    return Err(c.error("a repeated index (gap 0)"));
                }
                index = index
                    .checked_add(gap)
                    .filter(|&i| u64::from(i) < features)
                    .ok_or_else(|| c.error(&format!("an index beyond the {features} features")))?;
                indices.push(index);
            }
            for _ in 0..nnz {
                values.push(c.f32("a value")?);
            }
            seen += nnz;
            data.push(label, &indices, &values)
                .map_err(|e| c.error(&e.to_string()))?;
        }
        c.row = None;
        if seen != nonzeros {
            return Err(c.error(&format!(
                "the header says {nonzeros} nonzeros but the rows hold {seen}"
            )));
        }
        expect_end(&c)?;
        Ok(data)
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn slice(&self, range: Range<usize>) -> SparseDataset {
        self.select(range)
    }
}

impl Minibatch for Ratings {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.len() * RATING_BYTES);
        put_header(&mut out, KIND_RATINGS);
        for n in [self.len(), self.users, self.items] {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        for ((user, item), rating) in self.user.iter().zip(&self.item).zip(&self.rating) {
            out.extend_from_slice(&user.to_le_bytes());
            out.extend_from_slice(&item.to_le_bytes());
            out.extend_from_slice(&rating.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Ratings> {
        let mut c = Cursor::new(bytes);
        read_header(&mut c, KIND_RATINGS)?;
        let count = c.u64("the rating count")?;
        let users = c.u64("the user count")?;
        let items = c.u64("the item count")?;
        if count.checked_mul(RATING_BYTES as u64) != Some(c.remaining() as u64) {
            return Err(c.error(&format!(
                "{count} ratings need {} bytes but {} remain",
                u128::from(count) * RATING_BYTES as u128,
                c.remaining()
            )));
        }
        let dimension = |n: u64, what| {
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= u32::MAX as usize + 1)
                .ok_or_else(|| MlError::invalid(format!("corrupt minibatch: {n} {what}")))
        };
        let mut out = Ratings {
            users: dimension(users, "users")?,
            items: dimension(items, "items")?,
            ..Ratings::default()
        };
        for r in 0..count {
            c.row = Some(r);
            let user = c.u32("a user")?;
            let item = c.u32("an item")?;
            if u64::from(user) >= users || u64::from(item) >= items {
                return Err(c.error(&format!(
                    "user {user} or item {item} is beyond {users} users and {items} items"
                )));
            }
            out.user.push(user);
            out.item.push(item);
            out.rating.push(c.f32("a rating")?);
        }
        Ok(out)
    }

    fn rows(&self) -> usize {
        self.len()
    }

    fn slice(&self, range: Range<usize>) -> Ratings {
        self.select(range)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sample() -> SparseDataset {
        let mut d = SparseDataset::new(1 << 20);
        d.push(1.0, &[0, 5, 200, 1 << 19], &[1.0, -2.5, 0.125, 3.0])
            .unwrap();
        d.push(-1.0, &[], &[]).unwrap();
        d.push(0.0, &[(1 << 20) - 1], &[f32::MIN_POSITIVE]).unwrap();
        d
    }

    fn sparse_strategy() -> impl Strategy<Value = SparseDataset> {
        let row = (
            -2.0f32..2.0,
            prop::collection::btree_map(0u32..5000, -1e3f32..1e3, 0..20),
        );
        (1usize..8, prop::collection::vec(row, 0..30)).prop_map(|(extra, rows)| {
            let mut d = SparseDataset::new(5000 + extra);
            for (label, row) in rows {
                let (idx, val): (Vec<u32>, Vec<f32>) = row.into_iter().unzip();
                d.push(label, &idx, &val).unwrap();
            }
            d
        })
    }

    proptest! {
        #[test]
        fn sparse_round_trips(d in sparse_strategy()) {
            let bytes = encode(&d);
            prop_assert_eq!(decode(&bytes).unwrap(), d);
        }

        #[test]
        fn ratings_round_trip(triples in prop::collection::vec((0u32..50, 0u32..70, 0.5f32..5.0), 0..100)) {
            let r = Ratings {
                user: triples.iter().map(|t| t.0).collect(),
                item: triples.iter().map(|t| t.1).collect(),
                rating: triples.iter().map(|t| t.2).collect(),
                users: 50,
                items: 70,
            };
            prop_assert_eq!(Ratings::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn corrupt_bytes_never_panic(d in sparse_strategy(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = encode(&d);
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = decode(&bytes);
            let _ = decode(&bytes[..i]);
            let _ = Ratings::decode(&bytes);
        }
    }

    #[test]
    fn the_layout_is_as_documented() {
        let mut d = SparseDataset::new(300);
        d.push(-1.0, &[2, 130], &[0.5, 1.0]).unwrap();
        let bytes = encode(&d);
        let mut want = b"FCMB\x01\x00\x01\x00".to_vec();
        for n in [1u64, 300, 2] {
            want.extend_from_slice(&n.to_le_bytes());
        }
        want.extend_from_slice(&(-1.0f32).to_le_bytes());
        want.extend_from_slice(&[2, 2, 128, 1]); // nnz 2, index 2, gap 128 as a 2-byte varint
        want.extend_from_slice(&0.5f32.to_le_bytes());
        want.extend_from_slice(&1.0f32.to_le_bytes());
        assert_eq!(bytes, want);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes).unwrap(), sample());
        for n in 0..bytes.len() {
            assert!(
                decode(&bytes[..n]).is_err(),
                "a prefix of {n} bytes decoded"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        let e = decode(&long).unwrap_err().to_string();
        assert!(e.contains("1 bytes after the end"), "{e}");
        let e = decode(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("row 2"), "{e}");
    }

    #[test]
    fn corrupt_headers_and_rows_say_what_is_wrong() {
        let bytes = encode(&sample());
        let with = |at: usize, new: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + new.len()].copy_from_slice(new);
            decode(&b).unwrap_err().to_string()
        };
        assert!(with(0, b"XXXX").contains("magic"));
        assert!(with(4, &[9, 0]).contains("version 9"));
        assert!(with(6, &[2]).contains("holds ratings, not sparse rows"));
        assert!(with(7, &[1]).contains("reserved"));
        assert!(with(8, &u64::MAX.to_le_bytes()).contains("rows need more"));
        assert!(with(16, &4u64.to_le_bytes()).contains("beyond the 4 features"));
        assert!(with(24, &3u64.to_le_bytes()).contains("header says 3 nonzeros"));
        // Row 0 starts at byte 32 (label, count, first index); its second gap (5) becomes 0.
        assert!(with(38, &[0]).contains("repeated index"));
        let ratings = Ratings {
            user: vec![1],
            item: vec![2],
            rating: vec![4.0],
            users: 2,
            items: 3,
        };
        let mut b = ratings.encode();
        assert_eq!(Ratings::decode(&b).unwrap(), ratings);
        assert!(
            decode(&b)
                .unwrap_err()
                .to_string()
                .contains("holds ratings")
        );
        b[32] = 7;
        let e = Ratings::decode(&b).unwrap_err().to_string();
        assert!(e.contains("user 7 or item 2 is beyond"), "{e}");
        let e = Ratings::decode(&b[..b.len() - 1]).unwrap_err().to_string();
        assert!(e.contains("1 ratings need 12 bytes but 11 remain"), "{e}");
    }
}
