//! The conformance suite over the memcached transport, ranks as threads of this process
//! (each with its own endpoint and I/O thread), against one `memcached` per test on a free
//! loopback port. Without `memcached` on the PATH the tests say so and pass (under CI they
//! fail).

use std::sync::Arc;

use fccl_collectives::{JobSpec, Transport};
use fccl_tests::servers::Memcached;
use fccl_transports::memcached::{MemcachedSpec, MemcachedTransport};

/// `n` endpoints of a fresh job over `server`.
fn endpoints(server: &Memcached, n: usize) -> Vec<Arc<dyn Transport>> {
    let job = JobSpec::new(n, format!("memcached://{}", server.addr())).expect("a valid job");
    let spec = MemcachedSpec::parse(&job.transport).expect("a memcached spec");
    fccl_tests::join::join_all(n, |rank| MemcachedTransport::connect(&job, rank, &spec))
}

/// `fccl_tests::conformance_tests!`, with each test skipped where there is no `memcached`.
macro_rules! conformance_tests {
    ($($test:ident $p:literal),*) => {$(
        #[test]
        fn $test() {
            if let Some(server) = Memcached::start(&["-m", "1024"]) {
                let make = |n| endpoints(&server, n);
                fccl_tests::conformance::run_ranks("memcached", &make, $p);
            }
        }
    )*};
}

conformance_tests!(ranks_1 1, ranks_2 2, ranks_3 3, ranks_4 4, ranks_5 5, ranks_7 7, ranks_8 8);
