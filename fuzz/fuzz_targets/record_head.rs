//! libFuzzer's entry point for [`fccl_fuzz::record_head`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fccl_fuzz::record_head(data));
