//! The committed `include/fccl.h` is what the pinned cbindgen makes of the sources now.
//! `FCCL_BLESS=1 cargo nextest run -p fccl-ffi header` rewrites it.

#[test]
fn header_is_fresh() {
    let generated = concat!(env!("OUT_DIR"), "/fccl.h");
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/include/fccl.h");
    let new = std::fs::read_to_string(generated).expect("build.rs generated fccl.h");
    if std::env::var_os("FCCL_BLESS").is_some() {
        std::fs::write(committed, &new).expect("include/fccl.h is writable");
        return;
    }
    let old = std::fs::read_to_string(committed).unwrap_or_default();
    assert!(
        old == new,
        "ffi/include/fccl.h is stale: regenerate it with \
         `FCCL_BLESS=1 cargo nextest run -p fccl-ffi header` and commit it"
    );
}
