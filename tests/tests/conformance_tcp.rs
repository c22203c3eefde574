//! The conformance suite over the tcp transport, ranks as threads of this process (each
//! with its own endpoint, I/O thread and loopback connections), one test per rank count.

fccl_tests::conformance_tests!("tcp", &fccl_tests::tcp::endpoints);
