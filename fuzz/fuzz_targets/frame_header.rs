//! libFuzzer's entry point for [`fccl_fuzz::frame_header`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fccl_fuzz::frame_header(data));
