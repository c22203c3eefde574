//! The conformance suite over the SQS transport, ranks as threads of this process (each
//! with its own endpoint and I/O thread), against one `moto_server` per test on a free
//! loopback port. Without `moto_server` on the PATH the tests say so and pass (under CI
//! they fail).

use std::sync::Arc;

use fccl_collectives::{JobSpec, Transport};
use fccl_tests::servers::Moto;
use fccl_transports::sqs::{SqsSpec, SqsTransport, static_config};

/// `n` endpoints of a fresh job over `server`.
fn endpoints(server: &Moto, n: usize) -> Vec<Arc<dyn Transport>> {
    let url = format!("sqs://us-east-1/conformance?endpoint={}", server.endpoint());
    let job = JobSpec::new(n, url).expect("a valid job");
    let spec = SqsSpec::parse(&job.transport).expect("an sqs spec");
    let config = static_config("testing", "testing");
    fccl_tests::join::join_all(n, |rank| {
        SqsTransport::connect_with_config(&job, rank, &spec, &config)
    })
}

/// `fccl_tests::conformance_tests!`, with each test skipped where there is no `moto_server`.
macro_rules! conformance_tests {
    ($($test:ident $p:literal),*) => {$(
        #[test]
        fn $test() {
            if let Some(server) = Moto::start() {
                let make = |n| endpoints(&server, n);
                fccl_tests::conformance::run_ranks("sqs", &make, $p);
            }
        }
    )*};
}

conformance_tests!(ranks_1 1, ranks_2 2, ranks_3 3);
