//! Generates `fccl.h` from the crate's exports with cbindgen into `OUT_DIR`; the test
//! `header_is_fresh` compares it with the committed `include/fccl.h`.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml"))
        .expect("ffi/cbindgen.toml is readable");
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates fccl.h")
        .write_to_file(format!("{out}/fccl.h"));
}
