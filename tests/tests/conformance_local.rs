//! The conformance suite over the in-process transport, one test per rank count.

use std::sync::Arc;

use fccl_collectives::Transport;
use fccl_collectives::transport::local::LocalTransport;

fn local(n: usize) -> Vec<Arc<dyn Transport>> {
    LocalTransport::fabric(n)
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect()
}

fccl_tests::conformance_tests!("local", &local);
