//! The conformance suite over the tcp transport, ranks as threads of this process (each
//! with its own endpoint, I/O thread and loopback connections), one test per rank count.

fccl_tests::conformance_tests!("tcp", &fccl_tests::tcp::endpoints);

/// The same suite with every pair relayed through the fallback transport (the seam that
/// pairs which cannot punch through use).
mod relayed {
    fccl_tests::conformance_tests!("tcp relayed", &fccl_tests::tcp::relayed_endpoints);
}
