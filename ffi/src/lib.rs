//! The C API of fccl (`fccl.h`, `libfccl`).
//!
//! The exported functions land with the C API issue; today the crate only fixes the
//! library's name and version so that the build and packaging are in place.

/// The library version as `major * 10000 + minor * 100 + patch`, as in NCCL's version code.
pub const VERSION_CODE: u32 = {
    const fn parse(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut i = 0;
        let mut v = 0;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        v
    }
    parse(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
        + parse(env!("CARGO_PKG_VERSION_MINOR")) * 100
        + parse(env!("CARGO_PKG_VERSION_PATCH"))
};

pub use fccl::Communicator;
