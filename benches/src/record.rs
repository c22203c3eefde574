//! One measured point: what `fccl bench` prints and writes as a JSON line.

use serde::{Deserialize, Serialize};

/// The result of one size point, as one JSON object (DESIGN §5's fields plus
/// `peak_rss_mb`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// The collective's name (`allreduce`, ...).
    pub collective: String,
    /// The transport's name.
    pub transport: String,
    /// The number of ranks.
    pub ranks: usize,
    /// The element type (`f32`, ...).
    pub dtype: String,
    /// The reduction, or `none` for collectives that do not reduce.
    pub op: String,
    /// Bytes as nccl-tests counts them (the whole vector for blocked collectives).
    pub bytes: u64,
    /// Elements in `bytes`.
    pub count: u64,
    /// The algorithm that ran.
    pub algorithm: String,
    /// Timed iterations.
    pub iters: usize,
    /// Median time per iteration in microseconds (the slowest rank's, per iteration).
    pub time_us: f64,
    /// Fastest iteration.
    pub time_us_min: f64,
    /// Slowest iteration.
    pub time_us_max: f64,
    /// `bytes / time_us` in GB/s (10^9 bytes per second).
    pub algbw_gbps: f64,
    /// `algbw_gbps` times nccl-tests' bus factor for the collective.
    pub busbw_gbps: f64,
    /// Whether every rank's result matched the expected values.
    pub correct: bool,
    /// The process's peak resident set size in MiB (`VmHWM`; 0 where unavailable).
    pub peak_rss_mb: f64,
    /// The first wrong index (on any rank), when not correct; not part of the JSON.
    #[serde(skip)]
    pub first_error: Option<u64>,
}

/// `(min, median, max)` of `times` (which must not be empty).
pub fn stats(times: &[f64]) -> (f64, f64, f64) {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let median = if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    };
    (t[0], median, t[n - 1])
}

/// `VmHWM` from `/proc/self/status` in MiB, or 0 where it cannot be read.
pub fn peak_rss_mb() -> f64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
