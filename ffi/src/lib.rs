//! The C API of fccl: `libfccl.so` / `libfccl.a` and `include/fccl.h`.
//!
//! The header is generated from this crate by cbindgen (pinned in `Cargo.toml`, run by
//! `build.rs`), committed, and checked by the test `header_is_fresh`. Every export checks
//! its pointers, catches panics (`FCCL_ERR_PANIC`, the communicator poisoned) and writes
//! its outputs only on success; failures leave a message for `fccl_get_last_error`, which
//! is thread-local.
//!
//! Every communicator lives in a task on one multi-thread tokio runtime shared by the
//! process (see [`runtime`]); blocking calls queue an operation and wait for it,
//! non-blocking ones hand back an [`fccl_request`](request::fccl_request).

pub mod blocking;
pub(crate) mod buffers;
pub(crate) mod collectives;
pub mod comm;
pub(crate) mod displacements;
pub mod error;
pub mod job;
pub mod nonblocking;
pub mod request;
pub(crate) mod runtime;
pub mod types;
pub mod version;
pub(crate) mod worker;
