//! Integration tests of fccl across crates (in `tests/tests/`) and the transport
//! conformance suite they share ([`conformance`]).

pub mod conformance;
pub mod join;
pub mod netns;
pub mod servers;
pub mod tcp;
