//! libFuzzer's entry point for [`fccl_fuzz::rendezvous_reply`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fccl_fuzz::rendezvous_reply(data));
