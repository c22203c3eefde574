//! Little-endian reads that fail with a clear error instead of panicking, and LEB128
//! varints.

use crate::error::{MlError, Result};

/// Appends `value` as an unsigned LEB128 varint: 7 bits a byte, low bits first, the high
/// bit set on every byte but the last.
pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A position in an encoded minibatch.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The row being decoded, for errors.
    pub(super) row: Option<u64>,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor {
            bytes,
            at: 0,
            row: None,
        }
    }

    /// The bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// A "corrupt minibatch" error about `what` at the current position.
    pub(super) fn error(&self, what: &str) -> MlError {
        let row = self.row.map(|r| format!(" in row {r}")).unwrap_or_default();
        MlError::invalid(format!(
            "corrupt minibatch: {what} at byte {}{row} (of {})",
            self.at,
            self.bytes.len()
        ))
    }

    /// The next `n` bytes; `what` names them in the error if fewer remain.
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.error(&format!(
                "truncated: {what} needs {n} bytes but {} remain",
                self.remaining()
            )));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A little-endian `u8`.
    pub(super) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A little-endian `u16`.
    pub(super) fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `u32`.
    pub(super) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `u64`.
    pub(super) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A little-endian `f32`.
    pub(super) fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }

    /// An unsigned LEB128 varint that must fit in a `u32`.
    pub(super) fn varint(&mut self, what: &str) -> Result<u32> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.u8(what)?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return u32::try_from(value)
                    .map_err(|_| self.error(&format!("{what} {value} does not fit in 32 bits")));
            }
        }
        Err(self.error(&format!("{what} is a varint longer than 5 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_overlong_ones_are_refused() {
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX - 1, u32::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut c = Cursor::new(&out);
            assert_eq!(c.varint("v").unwrap(), v);
            assert_eq!(c.remaining(), 0);
        }
        let mut buf = Vec::new();
        put_varint(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
        assert!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0x1f])
                .varint("v")
                .is_err()
        );
        assert!(Cursor::new(&[0x80; 6]).varint("v").is_err());
        let e = Cursor::new(&[0x80])
            .varint("an index")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated: an index"), "{e}");
    }
}
