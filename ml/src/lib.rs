//! Distributed training on fccl's collectives (Cirrus-style SGD).
//!
//! Datasets, models, optimizers and training loops land with the ML issue. Everything here
//! takes a [`fccl_collectives::Communicator`] and never builds one from a transport spec.

pub use fccl_collectives::Communicator;
