//! Half the round trip of a small message between two tcp ranks on loopback, each a thread
//! with its own current-thread runtime, as ranks run in `fccl bench`.
//!
//! ```text
//! cargo run --release -p fccl-transports --example pingpong -- 20000 8
//! FCCL_SPIN_US=0 cargo run --release -p fccl-transports --example pingpong
//! ```
//! prints the median and the 10th and 90th percentiles of round trip / 2.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fccl_collectives::{CommId, JobSpec, Tag, Transport};
use fccl_transports::tcp::rendezvous::{RendezvousServer, ServerConfig};
use fccl_transports::tcp::{TcpSpec, TcpTransport};

fn tag(seq: u64) -> Tag {
    Tag {
        comm: CommId::WORLD,
        p2p: true,
        seq,
        step: 0,
        chunk: 0,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args.next().map_or(20_000, |a| a.parse().expect("a count"));
    let bytes: usize = args.next().map_or(8, |a| a.parse().expect("a size"));
    let server = RendezvousServer::start_background(
        "127.0.0.1:0".parse().expect("an address"),
        ServerConfig::default(),
    )
    .expect("a rendezvous server");
    let job = JobSpec::new(2, format!("tcp://{}?mesh=full", server.addr())).expect("a job");
    let spec = TcpSpec::parse(&job.transport).expect("a spec");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let ranks: Vec<Arc<TcpTransport>> = runtime
        .block_on(futures_util::future::join_all(
            (0..2).map(|r| TcpTransport::connect(&job, r, &spec)),
        ))
        .into_iter()
        .map(|t| Arc::new(t.expect("joins")))
        .collect();
    let payload = Bytes::from(vec![7u8; bytes]);
    let threads: Vec<_> = ranks
        .into_iter()
        .enumerate()
        .map(|(r, t)| {
            let payload = payload.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async {
                    let far = || tokio::time::Instant::now() + Duration::from_secs(10);
                    let mut times = Vec::with_capacity(rounds as usize);
                    for k in 0..rounds {
                        let start = Instant::now();
                        if r == 0 {
                            t.send(1, tag(k), payload.clone()).await.expect("send");
                            t.recv(1, tag(k), far()).await.expect("recv");
                        } else {
                            t.recv(0, tag(k), far()).await.expect("recv");
                            t.send(0, tag(k), payload.clone()).await.expect("send");
                        }
                        times.push(start.elapsed());
                    }
                    times
                })
            })
        })
        .collect();
    let mut times = threads
        .into_iter()
        .next()
        .expect("rank 0")
        .join()
        .expect("rank 0 ran");
    times.sort();
    let half_us = |d: Duration| d.as_secs_f64() * 1e6 / 2.0;
    let at = |q: f64| half_us(times[((times.len() - 1) as f64 * q) as usize]);
    println!(
        "{bytes} B one way (round trip / 2) over {rounds} rounds: median {:.1} us (p10 {:.1}, p90 {:.1})",
        at(0.5),
        at(0.1),
        at(0.9)
    );
}
