//! The result of one benchmark point, as printed and written as a JSON line.

use serde::{Deserialize, Serialize};

/// One benchmark point: what ran and how fast. Serialised as one JSON object per line by
/// `fccl bench --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// The collective (`allreduce`, `reduce_scatter`, ...).
    pub collective: String,
    /// The transport, as named on the command line (`local`, `tcp://...`).
    pub transport: String,
    /// The number of ranks.
    pub ranks: usize,
    /// The element type (`f32`, `bf16`, ...).
    pub dtype: String,
    /// The reduction (`sum`, ...), or `none` for collectives that do not reduce.
    pub op: String,
    /// The size in bytes as nccl-tests counts it (see [`crate::Shape::bytes`]).
    pub bytes: usize,
    /// Elements in `bytes`.
    pub count: usize,
    /// The algorithm that ran (`ring`, `binomial`, ..., `p2p` for sendrecv).
    pub algorithm: String,
    /// The medium the algorithm ran over (`tcp`, `redis`, ...): one of the transport's
    /// media when it has several.
    #[serde(default)]
    pub medium: String,
    /// Timed iterations.
    pub iters: usize,
    /// Median time of an iteration in microseconds; each iteration's time is the slowest
    /// rank's.
    pub time_us: f64,
    /// Fastest iteration in microseconds.
    pub time_us_min: f64,
    /// Slowest iteration in microseconds.
    pub time_us_max: f64,
    /// `bytes` over the median time, in GB/s; `null` for barrier.
    pub algbw_gbps: Option<f64>,
    /// The algorithm bandwidth times nccl-tests' bus factor, in GB/s; `null` for barrier.
    pub busbw_gbps: Option<f64>,
    /// Whether every rank's result matched the expected values in every checked iteration.
    pub correct: bool,
    /// The largest peak resident memory of the ranks' processes while the point ran, in MiB.
    pub peak_rss_mb: f64,
    /// Requests to the media's servers per operation, all ranks together (their polls
    /// included): SQS API calls, store commands; 0 over tcp, whose direct pairs need no
    /// server. Absent where the media count nothing (`local`). See
    /// [`Usage`](fccl_collectives::Usage) for what each medium counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<f64>,
    /// The requests as billed (SQS bills each 64 KiB of a request's payload as one; 0 for
    /// stores and tcp, billed by the hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_requests: Option<f64>,
    /// The fewest requests the operation's messages need at the medium's limits (SQS; 0
    /// for media not billed per request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub least_requests: Option<f64>,
    /// Payload bytes sent through the media per operation, all ranks together: the frames
    /// of the messages (each with its 48-byte header) and, for stores, shared objects;
    /// without the media's own framing or messages a rank sends itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<f64>,
    /// What the billed requests of one operation cost at list prices, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_requests: Option<f64>,
    /// The estimated dollars of one operation (`--cost`): the ranks' function time, the
    /// queue requests and the servers' time together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_op: Option<f64>,
    /// Of [`BenchRecord::usd_per_op`], the ranks' function time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_lambda: Option<f64>,
    /// Of [`BenchRecord::usd_per_op`], the queue requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_queue: Option<f64>,
    /// Of [`BenchRecord::usd_per_op`], the servers' time (a store, a rendezvous host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_instance: Option<f64>,
    /// Where the first wrong element was, when not correct (for the error message; not
    /// part of the JSON).
    #[serde(skip)]
    pub first_wrong: Option<WrongAt>,
}

/// The first wrong element of a point: the lowest index of any rank's output, and the lowest
/// rank with a wrong element there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongAt {
    /// The rank whose output was wrong.
    pub rank: usize,
    /// The index in that rank's output buffer.
    pub index: usize,
}

impl BenchRecord {
    /// The record as one line of JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a BenchRecord always serialises")
    }
}
