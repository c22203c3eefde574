//! Times how long N ranks take to join a tcp job on loopback: the rendezvous alone (lazy
//! mesh), and the rendezvous plus every pair connected (full mesh). Ranks are endpoints of
//! this process, each with its own port and I/O thread, all joining at once.
//!
//! ```text
//! cargo run --release -p fccl-transports --example mesh_setup -- 64 5
//! ```
//! prints the median and the range over the runs (the second argument, default 5).

use std::time::{Duration, Instant};

use fccl_collectives::JobSpec;
use fccl_transports::tcp::rendezvous::{RendezvousServer, ServerConfig};
use fccl_transports::tcp::{TcpSpec, TcpTransport};

fn main() {
    let mut args = std::env::args().skip(1);
    let ranks: usize = args.next().map_or(64, |a| a.parse().expect("a rank count"));
    let runs: usize = args.next().map_or(5, |a| a.parse().expect("a run count"));
    let server = RendezvousServer::start_background(
        "127.0.0.1:0".parse().expect("an address"),
        ServerConfig::default(),
    )
    .expect("a rendezvous server");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for mesh in ["lazy", "full"] {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let spec = format!("tcp://{}?mesh={mesh}", server.addr());
                let job = JobSpec::new(ranks, spec).expect("a job");
                let tcp = TcpSpec::parse(&job.transport).expect("a tcp spec");
                let start = Instant::now();
                let joined = runtime.block_on(futures_util::future::join_all(
                    (0..ranks).map(|r| TcpTransport::connect(&job, r, &tcp)),
                ));
                let took = start.elapsed();
                for t in &joined {
                    if let Err(e) = t {
                        panic!("a rank failed to join: {e}");
                    }
                }
                took
            })
            .collect();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{ranks} ranks, mesh={mesh}: median {:.1} ms (min {:.1}, max {:.1}) over {runs} runs{}",
            ms(times[runs / 2]),
            ms(times[0]),
            ms(times[runs - 1]),
            if mesh == "full" {
                format!(", {} connections", ranks * (ranks - 1) / 2)
            } else {
                String::new()
            }
        );
    }
}
