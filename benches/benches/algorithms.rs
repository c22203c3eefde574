//! Every algorithm of allreduce, alltoall and broadcast, forced one at a time, on 4 ranks
//! of the in-process transport (ranks as threads of this process, messages through shared
//! memory), for 64 KiB and 4 MiB of f32 per rank.
//!
//! What it measures is the algorithms' own overhead: scheduling of the rounds, copies,
//! reduction and wake-ups, with no network in the way. The ranks and their communicators
//! are made once and live on their threads across all benchmarks; a sample hands every
//! rank the number of calls to make, the ranks meet at a barrier, and the sample's time is
//! the slowest rank's for all its calls. Buffers are allocated outside the timed loop.
//! Throughput is one rank's buffer (alltoall: its whole send buffer) per call, the same
//! `bytes` as `fccl bench`.
//!
//! The transport has an in-memory store, so the store-native algorithms (allreduce's
//! `scatter_reduce`, broadcast's `shared_put`) run too.
//!
//! Run with `cargo bench -p fccl-benches --bench algorithms` (add `-- --quick` for a fast
//! pass, or a filter such as `-- allreduce/ring`).

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fccl_collectives::algorithms::{allreduce, alltoall, broadcast};
use fccl_collectives::transport::local::LocalTransport;
use fccl_collectives::{Algorithm, Collective, Communicator, OpOptions, ReduceOp, Result};

/// Ranks in every benchmark.
const RANKS: usize = 4;

/// Bytes of f32 per rank.
const SIZES: [(&str, usize); 2] = [("64KiB", 64 << 10), ("4MiB", 4 << 20)];

/// What a sample asks every rank to do: `iters` calls of `collective` over `bytes` of f32,
/// with `algorithm` forced.
#[derive(Clone, Copy)]
struct Job {
    collective: Collective,
    algorithm: Algorithm,
    bytes: usize,
    iters: u64,
}

/// The ranks, each a thread with its own runtime and communicator, waiting for jobs.
struct RankPool {
    jobs: Vec<mpsc::Sender<Job>>,
    times: mpsc::Receiver<Result<Duration>>,
    threads: Vec<JoinHandle<()>>,
}

impl RankPool {
    /// Starts `n` ranks on one in-process fabric with a store.
    fn new(n: usize) -> RankPool {
        let (time_tx, times) = mpsc::channel();
        let mut jobs = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for endpoint in LocalTransport::fabric_with_store(n) {
            let (job_tx, job_rx) = mpsc::channel::<Job>();
            let time_tx = time_tx.clone();
            let mut comm = Communicator::new(std::sync::Arc::new(endpoint));
            let thread = std::thread::Builder::new()
                .name(format!("bench-rank-{}", comm.rank()))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime for the rank");
                    // Ends when the pool drops its senders; the communicator goes with it.
                    for job in job_rx {
                        let time = rt.block_on(run_job(&mut comm, job));
                        if time_tx.send(time).is_err() {
                            break;
                        }
                    }
                })
                .expect("a thread for the rank");
            jobs.push(job_tx);
            threads.push(thread);
        }
        RankPool {
            jobs,
            times,
            threads,
        }
    }

    /// Runs `job` on every rank and returns the slowest rank's time.
    fn time(&self, job: Job) -> Duration {
        for tx in &self.jobs {
            tx.send(job).expect("the rank thread is running");
        }
        (0..self.jobs.len())
            .map(|_| {
                let time = self.times.recv().expect("a rank thread to answer");
                time.unwrap_or_else(|e| panic!("{} {}: {e}", job.collective, job.algorithm))
            })
            .max()
            .unwrap_or_default()
    }
}

impl Drop for RankPool {
    fn drop(&mut self) {
        self.jobs.clear();
        for thread in self.threads.drain(..) {
            // A rank that panicked has reported it through its closed channel already.
            let _ = thread.join();
        }
    }
}

/// One rank's part of `job`: buffers made, a barrier, then the timed calls.
async fn run_job(comm: &mut Communicator, job: Job) -> Result<Duration> {
    let count = job.bytes / size_of::<f32>();
    // Zeros stay zeros under a sum, so values (and timing) do not drift across calls.
    let mut buf = vec![0.0f32; count];
    let send = vec![0.0f32; count];
    comm.barrier().await?;
    let mut comm = comm.with_options(OpOptions::new().algorithm(job.algorithm));
    let start = Instant::now();
    for _ in 0..job.iters {
        match job.collective {
            Collective::AllReduce => comm.all_reduce(&mut buf, ReduceOp::Sum).await?,
            Collective::AllToAll => comm.all_to_all(&send, &mut buf).await?,
            Collective::Broadcast => comm.broadcast(&mut buf, 0).await?,
            other => unreachable!("{other} is not benched"),
        }
    }
    Ok(start.elapsed())
}

fn algorithms(c: &mut Criterion) {
    let pool = RankPool::new(RANKS);
    let collectives = [
        (Collective::AllReduce, allreduce::ALGORITHMS),
        (Collective::AllToAll, alltoall::ALGORITHMS),
        (Collective::Broadcast, broadcast::ALGORITHMS),
    ];
    for (collective, offered) in collectives {
        let mut g = c.benchmark_group(format!("{collective}_{RANKS}ranks"));
        g.sample_size(20);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(2));
        for &(size, bytes) in &SIZES {
            g.throughput(Throughput::Bytes(bytes as u64));
            for &algorithm in offered {
                let id = BenchmarkId::new(algorithm.name(), size);
                g.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        pool.time(Job {
                            collective,
                            algorithm,
                            bytes,
                            iters,
                        })
                    });
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, algorithms);
criterion_main!(benches);
