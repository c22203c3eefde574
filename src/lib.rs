#![doc = include_str!("../README.md")]

pub use fccl_collectives::*;
