//! The timing loop: warm-up, barrier-separated timed iterations, slowest-rank times.

use std::time::Instant;

use fccl_collectives::{Communicator, OpOptions, Result};

use crate::cases::Case;
use crate::elem::BenchElem;
use crate::record::{BenchRecord, peak_rss_mb, stats};
use crate::spec::{BenchSpec, Point, busbw_factor, reduces};
use crate::with_dtype;

/// Runs every size point of `spec` on this rank of `comm` and returns one record per point
/// (the same on every rank: times are the slowest rank's and `correct` is every rank's).
/// `on_point` sees each record as it is made (for progress output).
///
/// All ranks of `comm` must call this with the same spec.
pub async fn run_bench(
    comm: &mut Communicator,
    spec: &BenchSpec,
    on_point: &mut dyn FnMut(&BenchRecord),
) -> Result<Vec<BenchRecord>> {
    let mut sizes = spec.sizes.clone();
    if spec.collective == fccl_collectives::Collective::Barrier {
        sizes.truncate(1);
        if sizes.is_empty() {
            sizes.push(0);
        }
    }
    let mut records = Vec::with_capacity(sizes.len());
    for size in sizes {
        let point = Point::new(spec.collective, spec.dtype, comm.size(), size);
        let record = with_dtype!(spec.dtype, T => run_point::<T>(comm, spec, point).await)?;
        on_point(&record);
        records.push(record);
    }
    Ok(records)
}

/// Runs one size point in element type `T`.
async fn run_point<T: BenchElem>(
    comm: &mut Communicator,
    spec: &BenchSpec,
    point: Point,
) -> Result<BenchRecord> {
    let (rank, p) = (comm.rank(), comm.size());
    let iters = spec.iters_for(point.bytes);
    let warmup = spec.warmup_for(point.bytes);
    let options = spec
        .algorithm
        .map_or(OpOptions::new(), |a| OpOptions::new().algorithm(a));
    let mut case = Case::<T>::new(spec.collective, spec.op, rank, p, point);
    for _ in 0..warmup {
        case.reset(false);
        case.call(&mut comm.with_options(options)).await?;
    }
    let mut times = Vec::with_capacity(iters);
    let mut first_error: Option<usize> = None;
    let mut algorithm = None;
    for it in 0..iters {
        let checked = it == 0 || it + 1 == iters;
        case.reset(checked);
        comm.barrier().await?;
        let start = Instant::now();
        case.call(&mut comm.with_options(options)).await?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
        algorithm = algorithm.or(comm.last_algorithm());
        if checked && first_error.is_none() {
            first_error = case.check();
        }
    }
    // Every rank agrees: the slowest rank's time per iteration and the first wrong index.
    // (Gathered rather than all-reduced, so the harness leans only on allgather.)
    let mut all_times = vec![0.0f64; p * iters];
    comm.all_gather(&times, &mut all_times).await?;
    for (i, t) in times.iter_mut().enumerate() {
        *t = all_times
            .iter()
            .skip(i)
            .step_by(iters)
            .fold(0.0, |a, b| a.max(*b));
    }
    let mut bad = vec![0u64; p];
    let mine = [first_error.map_or(u64::MAX, |i| i as u64)];
    comm.all_gather(&mine, &mut bad).await?;
    let first_error = bad.iter().copied().filter(|b| *b != u64::MAX).min();
    let (min, median, max) = stats(&times);
    let algbw = if median > 0.0 {
        point.bytes as f64 / median / 1e3
    } else {
        0.0
    };
    Ok(BenchRecord {
        collective: spec.collective.name().to_string(),
        transport: spec.transport.clone(),
        ranks: p,
        dtype: spec.dtype.name().to_string(),
        op: if reduces(spec.collective) {
            spec.op.name().to_string()
        } else {
            "none".to_string()
        },
        bytes: point.bytes as u64,
        count: point.count as u64,
        // Point-to-point messages have no algorithm (the communicator's last one is the barrier's).
        algorithm: match algorithm {
            _ if spec.collective == fccl_collectives::Collective::SendRecv => "direct".to_string(),
            Some(a) => a.name().to_string(),
            None => "-".to_string(),
        },
        iters,
        time_us: median,
        time_us_min: min,
        time_us_max: max,
        algbw_gbps: algbw,
        busbw_gbps: algbw * busbw_factor(spec.collective, p),
        correct: first_error.is_none(),
        peak_rss_mb: peak_rss_mb(),
        first_error,
    })
}
