//! libFuzzer's entry point for [`fccl_fuzz::registration`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fccl_fuzz::registration(data));
