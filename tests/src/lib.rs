//! Integration tests of fccl across crates; the tests live in `tests/tests/`.
