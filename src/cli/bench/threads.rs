//! `fccl bench --transport local`: every rank a thread of this process, a set of threads
//! per rank count of the sweep.

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use fccl_benches::plot::PlotFormat;
use fccl_benches::{BenchRecord, BenchSpec, Event, run, table};
use fccl_collectives::{Error, ErrorKind, local};

use super::{BenchArgs, plot_then_verdict};
use crate::cli::fail;
use crate::cli::output::{JsonFile, Output, Progress};

/// Runs every rank as a thread of this process, a set of threads per rank count.
pub(super) fn bench_threads(args: &BenchArgs) -> ExitCode {
    let mut sweep = args.sweep(args.rank_counts());
    sweep.base.cost = match args.cost_model(&args.transport) {
        Ok(cost) => cost,
        Err(e) => return fail(e),
    };
    if let Err(e) = sweep.validate() {
        return fail(e);
    }
    if let Some(Err(e)) = args.plot.as_deref().map(PlotFormat::of) {
        return fail(e);
    }
    let progress = Progress::whole(sweep.points());
    let mut output = match Output::open(args.json.as_deref(), JsonFile::Create, progress) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let specs = sweep.specs();
    let mut records = Vec::new();
    for &ranks in &sweep.ranks {
        match bench_local(&specs, ranks, timeout, &mut output) {
            Ok(more) => records.extend(more),
            Err(e) => {
                let _ = output.finish();
                return fail(e);
            }
        }
    }
    if let Err(e) = output.finish() {
        return fail(format!("cannot write the results: {e}"));
    }
    plot_then_verdict(args, &records)
}

/// Runs `specs` one after another on `ranks` in-process ranks, a block of the table each;
/// rank 0 streams its records to `output`.
pub(super) fn bench_local(
    specs: &[BenchSpec],
    ranks: usize,
    timeout: Option<Duration>,
    output: &mut Output,
) -> Result<Vec<BenchRecord>, String> {
    let mut records = Vec::new();
    for spec in specs {
        output.block_header(&table::header(spec, ranks, false));
        let shared = Mutex::new(&mut *output);
        let results = local::run(ranks, |mut comm| {
            let output = &shared;
            async move {
                if let Some(t) = timeout {
                    comm.set_timeout(t);
                }
                let lead = comm.rank() == 0;
                let mut observe = |event: Event<'_>| {
                    if lead {
                        let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
                        output.event(&event);
                    }
                };
                run(&mut comm, spec, &mut observe).await
            }
        });
        records.extend(first_cause(results).map_err(|e| e.to_string())?);
    }
    Ok(records)
}

/// Rank 0's records, or the error that most likely caused the failure: the first that is
/// not a reaction to another rank's failure.
fn first_cause(results: Vec<Result<Vec<BenchRecord>, Error>>) -> Result<Vec<BenchRecord>, Error> {
    let errors: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(e) = errors
        .iter()
        .find(|e| e.kind() != ErrorKind::Remote)
        .or(errors.first())
    {
        return Err((*e).clone());
    }
    results.into_iter().next().expect("at least one rank")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_remote_error_is_the_cause() {
        let remote = Error::new(ErrorKind::Remote, "rank 1 failed");
        let timeout = Error::new(ErrorKind::Timeout, "waited");
        let e = first_cause(vec![Err(remote.clone()), Err(timeout), Ok(vec![])]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = first_cause(vec![Ok(vec![]), Err(remote)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        assert_eq!(first_cause(vec![Ok(vec![]), Ok(vec![])]).unwrap(), vec![]);
    }
}
