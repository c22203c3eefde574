//! The core of fccl, the FaaS Collective Communication Library.
//!
//! A [`Communicator`] runs MPI/NCCL-style collectives (allreduce, broadcast, reduce-scatter,
//! allgather, all-to-all, gather, scatter, scan, barrier) and tagged point-to-point messages
//! over a [`Transport`]. Each collective picks an algorithm by a cost model over the
//! transport's [`LinkProfile`], the message size and the rank count.
//!
//! ```
//! use fccl_collectives::{local, ReduceOp};
//!
//! let results = local::run(4, |mut comm| async move {
//!     let mut grads = vec![comm.rank() as f32; 1000];
//!     comm.all_reduce(&mut grads, ReduceOp::Avg).await.unwrap();
//!     grads[0]
//! });
//! assert_eq!(results, vec![1.5; 4]);
//! ```

pub mod algorithms;
pub mod blocking;
mod collective;
mod comm;
mod error;
pub mod frame;
pub mod job;
pub mod kernels;
pub mod local;
mod op;
pub mod transport;
mod types;

pub use algorithms::Algorithm;
pub use algorithms::context::Payload;
pub use algorithms::cost::{CostInput, Traffic};
pub use collective::Collective;
pub use comm::{
    Communicator, DEFAULT_TIMEOUT, Hint, OpOptions, Plan, PostedRecv, PostedSend,
    USD_PER_RANK_SECOND, WithOptions,
};
pub use error::{Error, ErrorKind, Result};
pub use frame::{CommId, Tag};
pub use job::{JobId, JobSpec, Secret};
pub use op::{CombineFn, ReduceOp, Reduction};
pub use transport::{BoxFuture, LinkProfile, SharedObjects, Transport, Usage};
pub use types::{DataType, Element, Rank};
