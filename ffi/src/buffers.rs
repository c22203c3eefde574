//! The caller's buffers: checked once when an operation is issued (NULL, size, alignment,
//! overlap), then viewed as slices while the operation runs.

use std::ffi::c_void;

use fccl::DataType;

use crate::error::Fail;

/// A buffer of `len` elements of `size` bytes at `addr`, checked. An address, so that an
/// operation can carry it to the runtime's threads; the caller keeps the memory valid until
/// the operation ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Buf {
    addr: usize,
    len: usize,
    size: usize,
}

impl Buf {
    /// Checks the buffer `ptr` of `count` elements of `dtype`, named `what` in errors: not
    /// NULL unless empty, aligned to its element size, and not larger than the address space.
    pub(crate) fn new(
        ptr: *const c_void,
        count: usize,
        dtype: DataType,
        what: &str,
    ) -> Result<Buf, Fail> {
        let size = dtype.size();
        let bytes = count
            .checked_mul(size)
            .filter(|&b| isize::try_from(b).is_ok())
            .ok_or_else(|| Fail::invalid(format!("{what}: {count} elements are too many")))?;
        let addr = ptr as usize;
        if count > 0 && ptr.is_null() {
            return Err(Fail::invalid(format!("{what} is NULL")));
        }
        if count > 0 && addr % size != 0 {
            return Err(Fail::invalid(format!(
                "{what} is not aligned to its {size}-byte elements"
            )));
        }
        if count > 0 && addr.checked_add(bytes).is_none() {
            return Err(Fail::invalid(format!(
                "{what} wraps around the address space"
            )));
        }
        Ok(Buf {
            addr,
            len: count,
            size,
        })
    }

    /// The address of element `i` (no check).
    pub(crate) fn at(&self, i: usize) -> usize {
        self.addr.wrapping_add(i.wrapping_mul(self.size))
    }

    /// Whether the two buffers share a byte.
    pub(crate) fn overlaps(&self, other: &Buf) -> bool {
        let (a, b) = (self.len * self.size, other.len * other.size);
        a > 0 && b > 0 && self.addr < other.addr + b && other.addr < self.addr + a
    }

    /// Decides between in place and out of place: `true` if `inner` starts at `at` (an
    /// address inside `outer`, NCCL's in-place offset), `false` if the two do not overlap,
    /// an `FCCL_ERR_INVALID_ARGUMENT` for any other overlap.
    pub(crate) fn in_place(inner: &Buf, outer: &Buf, at: usize) -> Result<bool, Fail> {
        if inner.len > 0 && inner.addr == at {
            return Ok(true);
        }
        if inner.overlaps(outer) {
            return Err(Fail::invalid(
                "the send and receive buffers overlap without being in place",
            ));
        }
        Ok(false)
    }

    /// The buffer as a slice.
    ///
    /// # Safety
    /// The memory holds `len` initialised elements of `T` (whose size is the data type's),
    /// stays valid for `'a`, and nothing writes it meanwhile.
    pub(crate) unsafe fn slice<'a, T>(&self) -> &'a [T] {
        debug_assert_eq!(size_of::<T>(), self.size);
        if self.len == 0 {
            return &[];
        }
        // SAFETY: checked non-null and aligned in `new`; valid per the caller.
        unsafe { std::slice::from_raw_parts(self.addr as *const T, self.len) }
    }

    /// The buffer as a mutable slice.
    ///
    /// # Safety
    /// As [`Buf::slice`], and nothing else reads or writes the memory for `'a`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut<'a, T>(&self) -> &'a mut [T] {
        debug_assert_eq!(size_of::<T>(), self.size);
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: checked non-null and aligned in `new`; exclusive per the caller.
        unsafe { std::slice::from_raw_parts_mut(self.addr as *mut T, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(addr: usize, count: usize) -> Result<Buf, Fail> {
        Buf::new(addr as *const c_void, count, DataType::Float32, "buf")
    }

    #[test]
    fn checks_null_alignment_and_size() {
        assert!(buf(0, 0).is_ok());
        assert!(buf(0, 1).is_err());
        assert!(buf(0x1002, 1).is_err());
        assert!(buf(0x1000, usize::MAX / 2).is_err());
        assert!(buf(0x1000, 4).is_ok());
    }

    #[test]
    fn in_place_only_at_the_offset() {
        let outer = buf(0x1000, 8).unwrap();
        let inner = buf(0x1008, 2).unwrap();
        assert!(Buf::in_place(&inner, &outer, outer.at(2)).unwrap());
        assert!(Buf::in_place(&inner, &outer, outer.at(1)).is_err());
        let apart = buf(0x2000, 2).unwrap();
        assert!(!Buf::in_place(&apart, &outer, outer.at(2)).unwrap());
        let empty = buf(0x1008, 0).unwrap();
        assert!(!Buf::in_place(&empty, &outer, outer.at(2)).unwrap());
    }
}
