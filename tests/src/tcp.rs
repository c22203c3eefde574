//! Ranks over the tcp transport as threads of this process: one rendezvous server per test
//! process on loopback, and helpers that join N endpoints to a fresh job.

use std::sync::{Arc, OnceLock};

use fccl_collectives::transport::local::LocalTransport;
use fccl_collectives::{JobSpec, Result, Transport};
use fccl_transports::tcp::rendezvous::{BackgroundServer, RendezvousServer, ServerConfig};
use fccl_transports::tcp::{TcpSpec, TcpTransport};

/// The rendezvous server of this test process, started on first use on 127.0.0.1.
pub fn server() -> &'static BackgroundServer {
    static SERVER: OnceLock<BackgroundServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        RendezvousServer::start_background(
            "127.0.0.1:0".parse().expect("an address"),
            ServerConfig::default(),
        )
        .expect("a rendezvous server on loopback")
    })
}

/// A fresh job of `n` ranks over this process's rendezvous server; `options` is appended to
/// the spec (`?mesh=full`, say).
pub fn job(n: usize, options: &str) -> JobSpec {
    JobSpec::new(n, format!("tcp://{}{options}", server().addr())).expect("a valid job")
}

/// Joins every rank of `job` concurrently and returns the endpoints in rank order.
pub fn join(job: &JobSpec) -> Vec<Result<TcpTransport>> {
    let spec = TcpSpec::parse(&job.transport).expect("a tcp spec");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(futures_util::future::join_all(
        (0..job.size).map(|rank| TcpTransport::connect(job, rank, &spec)),
    ))
}

/// `n` endpoints of a fresh job, for the conformance suite.
pub fn endpoints(n: usize) -> Vec<Arc<dyn Transport>> {
    join(&job(n, ""))
        .into_iter()
        .map(|t| Arc::new(t.expect("every rank joins")) as Arc<dyn Transport>)
        .collect()
}

/// `n` endpoints of a fresh job whose records are encrypted (`encrypt=on`), for the
/// conformance suite.
pub fn encrypted_endpoints(n: usize) -> Vec<Arc<dyn Transport>> {
    join(&job(n, "?encrypt=on"))
        .into_iter()
        .map(|t| Arc::new(t.expect("every rank joins")) as Arc<dyn Transport>)
        .collect()
}

/// `n` endpoints of a fresh job whose every pair is relayed (`relay=always`) through an
/// in-process fallback: the conformance suite over the fallback seam.
pub fn relayed_endpoints(n: usize) -> Vec<Arc<dyn Transport>> {
    join_relayed(&job(n, "?relay=always&fallback=local"))
        .into_iter()
        .map(|t| Arc::new(t) as Arc<dyn Transport>)
        .collect()
}

/// Joins every rank of `job` with an in-process fallback transport for its relayed pairs.
pub fn join_relayed(job: &JobSpec) -> Vec<TcpTransport> {
    let spec = TcpSpec::parse(&job.transport).expect("a tcp spec");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let joins = LocalTransport::fabric(job.size)
        .into_iter()
        .enumerate()
        .map(|(rank, fallback)| {
            TcpTransport::connect_with_fallback(job, rank, &spec, Arc::new(fallback))
        });
    runtime
        .block_on(futures_util::future::join_all(joins))
        .into_iter()
        .map(|t| t.expect("every rank joins"))
        .collect()
}
