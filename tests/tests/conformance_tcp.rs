//! The conformance suite over the tcp transport, ranks as threads of this process (each
//! with its own endpoint, I/O thread and loopback connections), one test per rank count.

fccl_tests::conformance_tests!("tcp", &fccl_tests::tcp::endpoints);

/// The same suite over encrypted connections (`encrypt=on`), on two rank counts: the
/// records' sealing does not depend on the rank count, and two ranks also exercise the
/// receives that read their socket themselves (on a host with at least two cores).
mod encrypted {
    #[test]
    fn ranks_2() {
        fccl_tests::conformance::run_ranks(
            "tcp encrypted",
            &fccl_tests::tcp::encrypted_endpoints,
            2,
        );
    }

    #[test]
    fn ranks_5() {
        fccl_tests::conformance::run_ranks(
            "tcp encrypted",
            &fccl_tests::tcp::encrypted_endpoints,
            5,
        );
    }
}

/// The same suite with every pair relayed through the fallback transport (the seam that
/// pairs which cannot punch through use).
mod relayed {
    fccl_tests::conformance_tests!("tcp relayed", &fccl_tests::tcp::relayed_endpoints);
}
