//! The library's version, as macros in the header and as a call.

use std::ffi::c_int;

use crate::error::{FCCL_ERR_INVALID_ARGUMENT, FCCL_SUCCESS, fccl_result};

/// The major version of the header (and of the library it came with).
pub const FCCL_MAJOR: c_int = 0;
/// The minor version of the header.
pub const FCCL_MINOR: c_int = 1;
/// The patch version of the header.
pub const FCCL_PATCH: c_int = 0;
/// The header's version as `FCCL_VERSION(FCCL_MAJOR, FCCL_MINOR, FCCL_PATCH)`, the value
/// `fccl_get_version` gives for the library built with it.
pub const FCCL_VERSION_CODE: c_int = 100;

/// Writes the library's version code, `major * 10000 + minor * 100 + patch` (as
/// `FCCL_VERSION(X, Y, Z)` computes it), to `*version`. Compare it with
/// `FCCL_VERSION_CODE` to check that the header and the library match. Thread-safe.
///
/// Returns `FCCL_ERR_INVALID_ARGUMENT` if `version` is NULL.
///
/// # Safety
/// `version` must be NULL or point to writable memory for an `int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fccl_get_version(version: *mut c_int) -> fccl_result {
    if version.is_null() {
        return FCCL_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: non-null, and the caller promises it is writable.
    unsafe { version.write(FCCL_VERSION_CODE) };
    FCCL_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_match_the_crate_version() {
        let v = |s: &str| s.parse::<c_int>().unwrap();
        assert_eq!(FCCL_MAJOR, v(env!("CARGO_PKG_VERSION_MAJOR")));
        assert_eq!(FCCL_MINOR, v(env!("CARGO_PKG_VERSION_MINOR")));
        assert_eq!(FCCL_PATCH, v(env!("CARGO_PKG_VERSION_PATCH")));
        assert_eq!(
            FCCL_VERSION_CODE,
            FCCL_MAJOR * 10000 + FCCL_MINOR * 100 + FCCL_PATCH
        );
        let mut got = 0;
        assert_eq!(unsafe { fccl_get_version(&mut got) }, FCCL_SUCCESS);
        assert_eq!(got, FCCL_VERSION_CODE);
    }
}
