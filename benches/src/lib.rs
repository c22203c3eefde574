//! The benchmark harness behind `fccl bench`.
