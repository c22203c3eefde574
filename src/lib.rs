#![doc = include_str!("../README.md")]

mod connect;
pub mod lambda;
pub mod launch;

pub use connect::{
    JOB_ENV, RANK_ENV, SIZE_ENV, connect, init_from_env, job_from_env, media_specs, transport_name,
};
pub use fccl_collectives::*;
