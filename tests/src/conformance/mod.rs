//! The conformance suite: every collective, every algorithm forced in turn, every element
//! type and op, counts 0, 1, 7, 1000 and counts that do not divide by the rank count, every
//! root, in place and out of place, compared exactly with a sequential reference computed
//! here (never with fccl's kernels). It runs over any transport:
//!
//! ```no_run
//! use std::sync::Arc;
//! use fccl_collectives::Transport;
//! use fccl_collectives::transport::local::LocalTransport;
//!
//! fccl_tests::conformance::run_suite("local", &|n| {
//!     LocalTransport::fabric(n)
//!         .into_iter()
//!         .map(|t| Arc::new(t) as Arc<dyn Transport>)
//!         .collect()
//! });
//! ```
//!
//! For each rank count the suite starts one job and runs every case inside it. Each
//! collective's algorithms run on their own duplicate of the job's communicator (a "lane"),
//! so an algorithm that fails and poisons its communicator cannot hide the results of the
//! others. Failures are collected as text (collective, algorithm, type, op, count, root,
//! rank, first differing index, got, want) and reported together at the end.
//!
//! An algorithm is skipped only where its module's `cost` returns `None` for a
//! non-commutative reduction, or for a store-native algorithm on a transport without shared
//! objects, the documented "cannot run this call" signals; `None` for any other call is a
//! failure, because every algorithm must run every rank count and count.

mod allgather;
mod allreduce;
mod alltoall;
mod barrier;
mod broadcast;
mod cache;
mod gather;
mod p2p;
mod reduce;
mod reduce_scatter;
mod report;
mod scan;
mod scatter;
mod split;
mod values;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use fccl_collectives::{
    Algorithm, Communicator, CostInput, DataType, OpOptions, ReduceOp, Result, Transport, local,
};
use futures_util::FutureExt;

use report::{Case, Suite};

/// The rank counts the suite runs.
pub const RANKS: [usize; 7] = [1, 2, 3, 4, 5, 7, 8];

/// How long a call of the suite may wait for a peer; only a broken algorithm waits this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the job's own communicator waits (it only creates lanes, between families).
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the whole suite on every rank count in [`RANKS`] over the endpoints `make(n)`
/// returns (one per rank, in rank order), and panics listing every failure.
pub fn run_suite(name: &str, make: &dyn Fn(usize) -> Vec<Arc<dyn Transport>>) {
    let failures: Vec<String> = RANKS.iter().flat_map(|&p| check(name, make, p)).collect();
    assert!(failures.is_empty(), "{}", summary(name, &failures));
}

/// Runs the suite on `p` ranks over the endpoints `make(p)` returns, and panics listing
/// every failure.
pub fn run_ranks(name: &str, make: &dyn Fn(usize) -> Vec<Arc<dyn Transport>>, p: usize) {
    let failures = check(name, make, p);
    assert!(failures.is_empty(), "{}", summary(name, &failures));
}

/// Runs the suite on `p` ranks over the endpoints `make(p)` returns; returns the failures.
pub fn check(name: &str, make: &dyn Fn(usize) -> Vec<Arc<dyn Transport>>, p: usize) -> Vec<String> {
    let endpoints = make(p);
    assert_eq!(
        endpoints.len(),
        p,
        "{name}: make({p}) must return {p} endpoints"
    );
    let shared = Shared::default();
    let started = std::time::Instant::now();
    let per_rank = local::run_on(endpoints, |comm| run_rank(comm, &shared));
    let (mut calls, mut declined, mut after) = (0, 0, 0);
    let mut failures = Vec::new();
    for (r, (suite_calls, suite_declined, suite_after, f)) in per_rank.into_iter().enumerate() {
        calls += suite_calls;
        declined += suite_declined;
        after += suite_after;
        failures.extend(
            f.into_iter()
                .map(|f| format!("[{name} p={p} job rank {r}] {f}")),
        );
    }
    println!(
        "conformance {name} p={p}: {calls} calls, {declined} declined (non-commutative, or no shared objects), \
         {after} not made after an earlier failure, {} failures, {:.1?}",
        failures.len(),
        started.elapsed()
    );
    failures
}

/// Generates one `#[test]` per rank count in [`RANKS`] running the suite over `$make`, an
/// expression of type `&dyn Fn(usize) -> Vec<Arc<dyn Transport>>`.
#[macro_export]
macro_rules! conformance_tests {
    ($name:expr, $make:expr) => {
        $crate::conformance_tests!(@each $name, $make,
            ranks_1 1, ranks_2 2, ranks_3 3, ranks_4 4, ranks_5 5, ranks_7 7, ranks_8 8);
    };
    (@each $name:expr, $make:expr, $($test:ident $p:literal),*) => {$(
        #[test]
        fn $test() {
            $crate::conformance::run_ranks($name, $make, $p);
        }
    )*};
}

fn summary(name: &str, failures: &[String]) -> String {
    format!(
        "conformance suite over {name}: {} failures\n{}",
        failures.len(),
        failures.join("\n")
    )
}

/// State the ranks of one job share when they are threads of this process: arrival counters
/// for the barrier checks. A rank that runs alone in its process has its own, and checks
/// only that barriers return.
#[derive(Default)]
struct Shared {
    arrivals: [AtomicUsize; barrier::COUNTERS],
    cache: Arc<cache::Cache>,
    alone: bool,
}

/// Runs the whole suite as one rank of a job whose ranks are separate processes (each calls
/// this with its own communicator), and returns this rank's failures. Barriers are checked
/// for returning only: the ranks share no memory to count arrivals in.
pub async fn run_process_rank(comm: Communicator) -> Vec<String> {
    let shared = Shared {
        alone: true,
        ..Shared::default()
    };
    let rank = comm.rank();
    let (_, _, _, failures) = run_rank(comm, &shared).await;
    failures
        .into_iter()
        .map(|f| format!("[rank {rank}] {f}"))
        .collect()
}

async fn run_rank(mut world: Communicator, shared: &Shared) -> (usize, usize, usize, Vec<String>) {
    world.set_timeout(JOB_TIMEOUT);
    let mut s = Suite::new(Arc::clone(&shared.cache));
    let params = Params::full(world.size());
    // The families in order; each makes its own duplicates of the job's communicator, so
    // only a failure to make those (or of the job's own barrier) stops the rest.
    let families = [
        "barrier",
        "send/recv",
        "broadcast",
        "allreduce",
        "reduce",
        "reduce_scatter",
        "allgather",
        "alltoall",
        "gather",
        "scatter",
        "scan",
        "split",
        "dup",
    ];
    for family in families {
        if let Some(e) = world.poisoned() {
            let case = Case::new(family, world.rank(), world.size());
            s.fail(
                &case,
                format!("not run: the job's communicator failed: {e}"),
            );
            break;
        }
        let w = &mut world;
        match family {
            "barrier" if shared.alone => barrier::check_returns(&mut s, w).await,
            "barrier" => barrier::check(&mut s, w, &shared.arrivals).await,
            "send/recv" => p2p::check(&mut s, w).await,
            "broadcast" => broadcast::check(&mut s, w, &params).await,
            "allreduce" => allreduce::check(&mut s, w, &params).await,
            "reduce" => reduce::check(&mut s, w, &params).await,
            "reduce_scatter" => reduce_scatter::check(&mut s, w, &params).await,
            "allgather" => allgather::check(&mut s, w, &params).await,
            "alltoall" => alltoall::check(&mut s, w, &params).await,
            "gather" => gather::check(&mut s, w, &params).await,
            "scatter" => scatter::check(&mut s, w, &params).await,
            "scan" => scan::check(&mut s, w, &params).await,
            "split" => split::check_split(&mut s, w).await,
            _ => split::check_dup(&mut s, w).await,
        }
    }
    (s.calls, s.declined, s.after_failure, s.finish())
}

/// What the cases range over.
pub(crate) struct Params {
    /// Element types.
    pub(crate) dtypes: Vec<DataType>,
    /// Built-in ops.
    pub(crate) ops: Vec<ReduceOp>,
    /// Whether to run the user-defined reductions too.
    pub(crate) custom: bool,
    /// Vector lengths of allreduce, reduce, broadcast and scan.
    pub(crate) counts: Vec<usize>,
    /// Per-rank block lengths of reduce-scatter, allgather, all-to-all, gather and scatter.
    pub(crate) blocks: Vec<usize>,
}

impl Params {
    /// Everything, for a communicator of `p` ranks.
    pub(crate) fn full(p: usize) -> Params {
        Params {
            dtypes: DataType::ALL.to_vec(),
            ops: ReduceOp::ALL.to_vec(),
            custom: true,
            // 7 and 1003 divide by none of 2, 3, 4, 5, 8 (and 1003 not by 7).
            counts: vec![0, 1, 7, 1000, 1003],
            blocks: vec![0, 1, 7, 1000 / p + 1],
        }
    }

    /// A few cases, for sub-communicators.
    pub(crate) fn small() -> Params {
        Params {
            dtypes: vec![DataType::Int32, DataType::Float16],
            ops: vec![ReduceOp::Sum, ReduceOp::Avg],
            custom: true,
            counts: vec![0, 7, 1003],
            blocks: vec![0, 3],
        }
    }
}

/// Calls `$f::<T>($args)` for the Rust type `T` of `DataType` `$dtype`, and awaits it.
macro_rules! by_dtype {
    ($dtype:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $dtype {
            DataType::Int8 => $f::<i8>($($arg),*).await,
            DataType::Uint8 => $f::<u8>($($arg),*).await,
            DataType::Int32 => $f::<i32>($($arg),*).await,
            DataType::Uint32 => $f::<u32>($($arg),*).await,
            DataType::Int64 => $f::<i64>($($arg),*).await,
            DataType::Uint64 => $f::<u64>($($arg),*).await,
            DataType::Float16 => $f::<half::f16>($($arg),*).await,
            DataType::Float32 => $f::<f32>($($arg),*).await,
            DataType::Float64 => $f::<f64>($($arg),*).await,
            DataType::Bfloat16 => $f::<half::bf16>($($arg),*).await,
        }
    };
}
pub(crate) use by_dtype;

/// The module-level cost function every collective module has.
pub(crate) type CostFn = fn(Algorithm, &CostInput) -> Option<f64>;

/// A duplicate of the communicator under test on which one algorithm (or the selector's
/// choice) is forced for every call.
pub(crate) struct Lane {
    /// The forced algorithm; `None` lets the selector choose.
    pub(crate) alg: Option<Algorithm>,
    comm: Communicator,
    broken: bool,
}

/// One lane per algorithm of a collective, plus one for the selector's choice.
pub(crate) async fn lanes(
    s: &mut Suite,
    parent: &mut Communicator,
    coll: &'static str,
    algorithms: &[Algorithm],
) -> Vec<Lane> {
    let mut lanes = Vec::new();
    for alg in std::iter::once(None).chain(algorithms.iter().copied().map(Some)) {
        match parent.dup().await {
            Ok(mut comm) => {
                comm.set_timeout(CALL_TIMEOUT);
                lanes.push(Lane {
                    alg,
                    comm,
                    broken: false,
                });
            }
            Err(e) => {
                let mut case = Case::new(coll, parent.rank(), parent.size());
                case.alg = alg;
                s.fail(&case, format!("dup() for a lane failed: {e}"));
                return Vec::new();
            }
        }
    }
    lanes
}

impl Lane {
    /// This rank and the size of the communicator under test.
    pub(crate) fn rank_size(&self) -> (usize, usize) {
        (self.comm.rank(), self.comm.size())
    }

    /// `case` with this lane's algorithm.
    pub(crate) fn case(&self, mut case: Case) -> Case {
        case.alg = self.alg;
        case
    }

    /// Whether to run this lane's algorithm on a call of `bytes` (as the collective's module
    /// defines n). `cost` returning `None` declines a non-commutative call, or a
    /// store-native algorithm where the transport has no shared objects; for any other call
    /// it is a failure.
    pub(crate) fn runs(
        &self,
        s: &mut Suite,
        case: &Case,
        cost: CostFn,
        bytes: usize,
        commutative: bool,
    ) -> bool {
        let Some(alg) = self.alg else {
            return true;
        };
        let input = CostInput {
            ranks: self.comm.size(),
            bytes,
            profile: self.comm.profile(),
            commutative,
        };
        if cost(alg, &input).is_some() {
            return true;
        }
        if alg.needs_shared_objects() && !input.profile.shared_objects {
            s.declined += 1;
        } else if commutative {
            s.fail(
                case,
                "cost() is None (cannot run) for a call every algorithm must run \
                 (only non-commutative reductions may be declined)",
            );
        } else {
            s.declined += 1;
        }
        false
    }

    /// Makes one call with the lane's algorithm forced; returns its value, or `None` after
    /// recording the error, the panic, or a different algorithm having run. Makes no call
    /// once the lane's communicator failed.
    pub(crate) async fn call<R>(
        &mut self,
        s: &mut Suite,
        case: &Case,
        f: impl AsyncFnOnce(&mut Communicator) -> Result<R>,
    ) -> Option<R> {
        if self.broken || self.comm.poisoned().is_some() {
            s.after_failure += 1;
            return None;
        }
        s.calls += 1;
        let options = match self.alg {
            Some(a) => OpOptions::new().algorithm(a),
            None => OpOptions::new(),
        };
        let outcome = {
            let mut guarded = self.comm.with_options(options);
            AssertUnwindSafe(f(&mut guarded)).catch_unwind().await
        };
        match outcome {
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                s.fail(case, format!("panicked: {msg}"));
                self.broken = true;
                // The peers may be waiting for this rank: tell them it gave up.
                let t = Arc::clone(self.comm.transport());
                let others: Vec<usize> = (0..t.size()).filter(|&r| r != t.rank()).collect();
                t.abort(self.comm.id(), &others, "a rank panicked").await;
                None
            }
            Ok(Err(e)) => {
                s.fail(case, format!("error {:?}: {e}", e.kind()));
                None
            }
            Ok(Ok(v)) => {
                if let Some(a) = self.alg
                    && self.comm.last_algorithm() != Some(a)
                {
                    s.fail(
                        case,
                        format!("forced {a}, but {:?} ran", self.comm.last_algorithm()),
                    );
                }
                Some(v)
            }
        }
    }
}

/// Which of a family's (type, op) pairs a case is: `(index, number of pairs)`, or `None`
/// for the user-defined reductions, which run every root.
pub(crate) type Turn = Option<(usize, usize)>;

/// The roots a rooted collective runs for pair `turn` and the `k`th count on `p` ranks.
/// Every root runs with every algorithm and count for one pair per count (a different pair
/// for each count); the other pairs run with one root each, in rotation. Roots change the
/// message pattern, types and ops the arithmetic, so this covers every root with every
/// algorithm and count, and every pair, at a fraction of the calls of the full product.
pub(crate) fn roots(p: usize, turn: Turn, k: usize) -> Vec<usize> {
    match turn {
        Some((t, pairs)) if t != (7 * k) % pairs => vec![(t + k) % p],
        _ => (0..p).collect(),
    }
}
