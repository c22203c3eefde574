//! Tests of the `fccl` program as a user runs it: every test starts the built binary,
//! bounds its run time, and leaves no process behind.

mod bench;
mod job;
mod rendezvous;
mod run;
mod secrets;
mod support;
mod train;
