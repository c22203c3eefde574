//! A synchronous wrapper of [`Communicator`](crate::Communicator) (placeholder).
