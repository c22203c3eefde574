//! `fccl bench` over processes: a job of N processes of this program per rank count of
//! `-n`, started one after another by the local launcher.
//!
//! Every job's processes run this same command line, each as one rank of the job (the
//! [`super::bench_rank`] path). [`SWEEP_ENV`] in their environment says the job is one part
//! of a sweep: the job's size (`FCCL_JOB`, `FCCL_SIZE`) is the rank count the job runs, one
//! of `-n`'s list; rank 0 appends to `--json FILE`, which this process created, and takes the
//! progress bar on from where the job before left it. With `--plot`, rank 0 also adds its
//! records to the file named in [`RECORDS_ENV`], from which this process draws the sweep.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use fccl::launch::local::{Exit, LocalLaunch, StdoutMode};
use fccl_benches::BenchRecord;
use fccl_benches::plot::{PlotFormat, write_plot};

use super::BenchArgs;
use crate::cli::fail;
use crate::cli::output::{JsonFile, Progress, open_json};
use crate::cli::plot::read_records;

/// How long the other ranks of a multi-process run may take to see that one failed and say
/// so themselves, before the launcher kills them.
const FAILURE_GRACE: Duration = Duration::from_secs(3);

/// Set (to `DONE/TOTAL`: the points of the sweep run before the job's, and all of them) in
/// the environment of the ranks of a job that is one rank count of a sweep.
pub(super) const SWEEP_ENV: &str = "FCCL_BENCH_SWEEP";

/// The file rank 0 of a job of a sweep appends its records to, as JSON lines.
pub(super) const RECORDS_ENV: &str = "FCCL_BENCH_RECORDS";

/// One job's part of a sweep, as the launcher tells its ranks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SweepPart {
    /// Where the job's points stand among the sweep's.
    pub(super) progress: Progress,
    /// Where rank 0 adds its records (for the launcher's plot), if anywhere.
    pub(super) records: Option<PathBuf>,
}

impl SweepPart {
    /// The part this process's job plays, if the launcher of a sweep started it.
    pub(super) fn from_env() -> Result<Option<SweepPart>, String> {
        let Some(value) = std::env::var_os(SWEEP_ENV) else {
            return Ok(None);
        };
        let progress = value
            .to_str()
            .and_then(parse_progress)
            .ok_or_else(|| format!("{SWEEP_ENV}={value:?} is not DONE/TOTAL"))?;
        Ok(Some(SweepPart {
            progress,
            records: std::env::var_os(RECORDS_ENV).map(PathBuf::from),
        }))
    }

    /// The environment that tells a job's ranks this part.
    fn env(&self) -> Vec<(OsString, OsString)> {
        let Progress { done, total } = self.progress;
        let mut env = vec![(SWEEP_ENV.into(), format!("{done}/{total}").into())];
        if let Some(path) = &self.records {
            env.push((RECORDS_ENV.into(), path.into()));
        }
        env
    }

    /// Adds rank 0's `records` to the records file, if there is one.
    pub(super) fn keep(&self, records: &[BenchRecord]) -> Result<(), String> {
        let Some(path) = &self.records else {
            return Ok(());
        };
        let failed = |e: std::io::Error| format!("cannot add to {}: {e}", path.display());
        let mut file = OpenOptions::new().append(true).open(path).map_err(failed)?;
        let lines: String = records.iter().map(|r| r.to_json() + "\n").collect();
        file.write_all(lines.as_bytes()).map_err(failed)
    }
}

/// `DONE/TOTAL` with `DONE <= TOTAL`.
fn parse_progress(text: &str) -> Option<Progress> {
    let (done, total) = text.split_once('/')?;
    let progress = Progress {
        done: done.parse().ok()?,
        total: total.parse().ok()?,
    };
    (progress.done <= progress.total).then_some(progress)
}

/// A file of records in the temporary directory, removed when dropped.
struct RecordsFile(PathBuf);

impl RecordsFile {
    fn create() -> Result<RecordsFile, String> {
        let name = format!("fccl-bench-{}-records.jsonl", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::File::create(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(RecordsFile(path))
    }
}

impl Drop for RecordsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// How one job of the sweep ended.
enum JobEnd {
    /// Every point was correct.
    Correct,
    /// Some point was wrong (rank 0 has said which).
    Wrong,
    /// An error or a signal ended it: the sweep stops with this code.
    Stop(ExitCode),
}

/// Runs every rank count of `args` as a job of processes of this program with the same
/// arguments (`bench_args`), one job after another; exits 1 if a point of any was wrong, 2
/// at the first job that failed otherwise. Rank 0's standard output is this process's; the
/// other ranks' is dropped; every rank's standard error is passed through with its rank.
pub(super) fn bench_processes(args: &BenchArgs, bench_args: Vec<OsString>) -> ExitCode {
    match prepare(args) {
        Ok((sweep, records)) => run_jobs(args, bench_args, &sweep, records),
        Err(e) => fail(e),
    }
}

/// Checks everything that can be checked before the first job starts, and creates
/// `--json FILE` (the jobs append to it) and the records file for `--plot`.
fn prepare(args: &BenchArgs) -> Result<(fccl_benches::Sweep, Option<RecordsFile>), String> {
    let sweep = args.sweep(args.rank_counts());
    sweep.validate().map_err(|e| e.to_string())?;
    args.cost_model(&args.transport)?;
    let records = match args.plot.as_deref() {
        Some(path) => {
            PlotFormat::of(path)?;
            Some(RecordsFile::create()?)
        }
        None => None,
    };
    if let Some(path) = args.json.as_deref().filter(|p| *p != Path::new("-")) {
        open_json(path, JsonFile::Create).map_err(|e| e.to_string())?;
    }
    Ok((sweep, records))
}

/// Runs the jobs of `sweep`, then draws the plot from `records` if asked.
fn run_jobs(
    args: &BenchArgs,
    bench_args: Vec<OsString>,
    sweep: &fccl_benches::Sweep,
    records: Option<RecordsFile>,
) -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot find this program to start the ranks: {e}")),
    };
    let mut launch = LocalLaunch::new(1, program);
    launch.args = bench_args;
    launch.transport = args.transport.clone();
    launch.timeout = args.timeout_ms.map(Duration::from_millis);
    launch.stdout = StdoutMode::LeadOnly;
    launch.grace = FAILURE_GRACE;
    launch.forward_signals = true;
    let total = sweep.points();
    let (mut done, mut wrong) = (0, false);
    for &ranks in &sweep.ranks {
        let part = SweepPart {
            progress: Progress { done, total },
            records: records.as_ref().map(|r| r.0.clone()),
        };
        launch.ranks = ranks;
        launch.env = part.env();
        match run_job(&launch) {
            JobEnd::Correct => {}
            JobEnd::Wrong => wrong = true,
            JobEnd::Stop(code) => return code,
        }
        done += sweep.points_on(ranks);
    }
    if let (Some(path), Some(records)) = (&args.plot, &records) {
        if let Err(e) = read_records(&records.0).and_then(|r| write_plot(&r, path)) {
            return fail(e);
        }
    }
    if wrong {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one job of the sweep.
fn run_job(launch: &LocalLaunch) -> JobEnd {
    let outcome = match launch.run() {
        Ok(outcome) => outcome,
        Err(e) => return JobEnd::Stop(fail(e)),
    };
    if outcome.interrupted.is_some() {
        return JobEnd::Stop(ExitCode::from(outcome.exit_code()));
    }
    match outcome.failure {
        None => JobEnd::Correct,
        // Wrong results: rank 0 has said which points.
        Some(f) if f.how == Exit::Code(1) => JobEnd::Wrong,
        Some(f) => JobEnd::Stop(fail(format!("fccl bench: {} ranks: {f}", launch.ranks))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_of_a_sweep_goes_through_the_environment_and_back() {
        let part = SweepPart {
            progress: Progress {
                done: 12,
                total: 40,
            },
            records: Some(PathBuf::from("/tmp/r.jsonl")),
        };
        let env = part.env();
        assert_eq!(env[0], (SWEEP_ENV.into(), "12/40".into()));
        assert_eq!(env[1], (RECORDS_ENV.into(), "/tmp/r.jsonl".into()));
        assert_eq!(parse_progress("12/40"), Some(part.progress));
        for bad in ["", "12", "12/", "/40", "41/40", "a/b", "-1/4"] {
            assert_eq!(parse_progress(bad), None, "{bad}");
        }
    }
}
