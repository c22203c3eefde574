//! libFuzzer's entry point for [`fccl_fuzz::job_string`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fccl_fuzz::job_string(data));
