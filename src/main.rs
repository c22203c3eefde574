//! The `fccl` command-line program.

fn main() {}
