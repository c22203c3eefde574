//! The conformance suite over the in-process transport, one test per rank count. The
//! endpoints share an in-memory store, so the store-native algorithms run too.

use std::sync::Arc;

use fccl_collectives::Transport;
use fccl_collectives::transport::local::LocalTransport;

fn local(n: usize) -> Vec<Arc<dyn Transport>> {
    LocalTransport::fabric_with_store(n)
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect()
}

fccl_tests::conformance_tests!("local", &local);
