//! The measurement loop: warm-up, timed iterations, agreement across ranks, checking.

use std::time::Instant;

use fccl_collectives::{Collective, Communicator, DataType, Element, ReduceOp, Result, Usage};
use half::{bf16, f16};

use crate::bandwidth::bandwidths;
use crate::cases::Case;
use crate::record::{BenchRecord, WrongAt};
use crate::rss;
use crate::sizes::{Shape, shapes};
use crate::spec::BenchSpec;
use crate::stats::Summary;

/// What the harness reports while it runs, for progress displays and streaming output.
#[derive(Debug)]
pub enum Event<'a> {
    /// Point `index` of `total` starts.
    Started {
        /// Zero-based index of the point.
        index: usize,
        /// Number of points.
        total: usize,
        /// The point's shape.
        shape: Shape,
    },
    /// A point finished; every rank sees the same record.
    Finished(&'a BenchRecord),
}

/// Runs `spec` on `comm` (every rank of the communicator must call it with the same spec)
/// and returns one record per size. `observe` sees each point start and finish.
///
/// Each iteration starts after a barrier; its time is the slowest rank's, so every rank
/// reports the same numbers. The first and the last call of every point are checked on
/// every rank against the expected values in closed form; a point is correct only if every
/// rank's checks passed. An error from a collective ends the run.
pub async fn run(
    comm: &mut Communicator,
    spec: &BenchSpec,
    observe: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<BenchRecord>> {
    spec.validate(comm.size())?;
    match spec.dtype {
        DataType::Int8 => run_typed::<i8>(comm, spec, observe).await,
        DataType::Uint8 => run_typed::<u8>(comm, spec, observe).await,
        DataType::Int32 => run_typed::<i32>(comm, spec, observe).await,
        DataType::Uint32 => run_typed::<u32>(comm, spec, observe).await,
        DataType::Int64 => run_typed::<i64>(comm, spec, observe).await,
        DataType::Uint64 => run_typed::<u64>(comm, spec, observe).await,
        DataType::Float16 => run_typed::<f16>(comm, spec, observe).await,
        DataType::Float32 => run_typed::<f32>(comm, spec, observe).await,
        DataType::Float64 => run_typed::<f64>(comm, spec, observe).await,
        DataType::Bfloat16 => run_typed::<bf16>(comm, spec, observe).await,
    }
}

async fn run_typed<T: Element>(
    comm: &mut Communicator,
    spec: &BenchSpec,
    observe: &mut (dyn FnMut(Event<'_>) + Send),
) -> Result<Vec<BenchRecord>> {
    let points = shapes(spec.collective, comm.size(), spec.dtype, &spec.sizes);
    let mut records = Vec::with_capacity(points.len());
    for (index, &shape) in points.iter().enumerate() {
        observe(Event::Started {
            index,
            total: points.len(),
            shape,
        });
        let record = run_point::<T>(comm, spec, shape).await?;
        observe(Event::Finished(&record));
        records.push(record);
    }
    Ok(records)
}

async fn run_point<T: Element>(
    comm: &mut Communicator,
    spec: &BenchSpec,
    shape: Shape,
) -> Result<BenchRecord> {
    let (rank, ranks) = (comm.rank(), comm.size());
    let mut case = Case::<T>::new(spec, shape, rank, ranks);
    let fault_rank = Case::<T>::fault_rank(spec.collective, ranks, spec.root);
    // Every rank resets after allocating its buffers, so the peak covers all of them.
    rss::reset_peak();
    let calls = spec.warmup + spec.iters;
    let mut times_us = Vec::with_capacity(spec.iters + 2);
    let mut first_wrong: Option<usize> = None;
    let mut algorithm = String::new();
    let mut medium = String::new();
    let mut used: Option<Usage> = None;
    for call in 0..calls {
        let checked = call == 0 || call == calls - 1;
        case.prepare(checked);
        comm.barrier().await?;
        let before = comm.usage();
        let start = Instant::now();
        case.run(comm, spec.algorithm).await?;
        let elapsed = start.elapsed();
        if call >= spec.warmup {
            times_us.push(elapsed.as_secs_f64() * 1e6);
            if let (Some(before), Some(after)) = (before, comm.usage()) {
                let op = after.since(&before);
                used = Some(used.map_or(op, |u| u.plus(&op)));
            }
        }
        if call == 0 {
            algorithm = algorithm_name(comm, spec.collective);
            medium = comm
                .last_medium()
                .unwrap_or_else(|| comm.transport().name())
                .to_string();
        }
        if checked {
            if spec.inject_fault && call == calls - 1 && rank == fault_rank {
                case.corrupt();
            }
            first_wrong = first_wrong.or(case.check());
        }
    }
    drop(case);
    // Every rank agrees on the slowest rank's time of each iteration and the largest peak
    // memory, and on the first wrong element (smallest index, then rank) if any rank saw one.
    times_us.push(rss::peak_rss_mb());
    comm.all_reduce(&mut times_us, ReduceOp::Max).await?;
    let peak_rss_mb = times_us.pop().unwrap_or(0.0);
    let mut wrong = [first_wrong.map_or(u64::MAX, |i| (i * ranks + rank) as u64)];
    comm.all_reduce(&mut wrong, ReduceOp::Min).await?;
    let first_wrong = (wrong[0] != u64::MAX).then(|| WrongAt {
        rank: wrong[0] as usize % ranks,
        index: wrong[0] as usize / ranks,
    });
    let usage = per_operation(comm, used, spec.iters).await?;
    let time = Summary::of(&times_us);
    let (algbw_gbps, busbw_gbps) = bandwidths(spec.collective, ranks, shape.bytes, time.median);
    let billed = usage.map_or(0.0, |u| u[1]);
    let cost = spec.cost.map(|m| m.operation(ranks, time.median, billed));
    Ok(BenchRecord {
        collective: spec.collective.name().to_string(),
        transport: spec.transport.clone(),
        ranks,
        dtype: spec.dtype.name().to_string(),
        op: spec.op_name().to_string(),
        bytes: shape.bytes,
        count: shape.count,
        algorithm,
        medium,
        iters: spec.iters,
        time_us: time.median,
        time_us_min: time.min,
        time_us_max: time.max,
        algbw_gbps,
        busbw_gbps,
        correct: first_wrong.is_none(),
        peak_rss_mb,
        requests: usage.map(|u| u[0]),
        billed_requests: usage.map(|u| u[1]),
        least_requests: usage.map(|u| u[2]),
        bytes_sent: usage.map(|u| u[3]),
        usd_requests: usage.map(|u| u[4]),
        usd_per_op: cost.map(|c| c.total()),
        usd_lambda: cost.map(|c| c.lambda),
        usd_queue: cost.map(|c| c.queue),
        usd_instance: cost.map(|c| c.instance),
        first_wrong,
    })
}

/// The media usage of one operation, all ranks together: requests, billed requests, the
/// fewest requests, bytes sent and dollars, each the sum over the ranks of their timed
/// calls' usage (`used`, between each call's start and end, so that the barriers between
/// calls are left out) over `iters`. `None` where the media count nothing (the same on
/// every rank, since every rank has the same media).
async fn per_operation(
    comm: &mut Communicator,
    used: Option<Usage>,
    iters: usize,
) -> Result<Option<[f64; 5]>> {
    if comm.usage().is_none() {
        return Ok(None);
    }
    let u = used.unwrap_or_default();
    let mut sums = [
        u.requests as f64,
        u.billed_requests as f64,
        u.least_requests,
        u.bytes_sent as f64,
        u.usd,
    ];
    comm.all_reduce(&mut sums, ReduceOp::Sum).await?;
    Ok(Some(sums.map(|x| x / iters as f64)))
}

/// The name of the algorithm the last call ran; `p2p` for sendrecv.
fn algorithm_name(comm: &Communicator, collective: Collective) -> String {
    if collective == Collective::SendRecv {
        return "p2p".to_string();
    }
    comm.last_algorithm()
        .map_or_else(|| "-".to_string(), |a| a.name().to_string())
}
