//! The algorithms, one file each under `<collective>/`, and the selector that picks one.
//!
//! Every collective module offers the same three things: `ALGORITHMS` (what it can run),
//! `cost(algorithm, input)` (the α-β-γ estimate, `None` where the algorithm cannot run the
//! call) and `run(algorithm, ctx, ...)`. Each algorithm file opens with what it is, who
//! published it and its cost, and has a `traffic` function giving the exact messages and
//! bytes it sends.

pub mod blocks;
pub mod context;
pub mod cost;
#[cfg(test)]
pub(crate) mod counting;
pub(crate) mod fold;
pub(crate) mod pipeline;
pub mod selector;
#[cfg(test)]
mod store_tests;

pub mod allgather;
pub mod allreduce;
pub mod alltoall;
pub mod alltoallv;
pub mod barrier;
pub mod broadcast;
pub mod gather;
pub mod reduce;
pub mod reduce_scatter;
pub mod scan;
pub mod scatter;

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// An algorithm, named as in `FCCL_ALGO_<COLLECTIVE>=<name>` and in bench output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Exchange with partners at distance 1, 2, 4, ... (lg p rounds).
    RecursiveDoubling,
    /// Exchange with partners at distance p/2, p/4, ..., halving the data each round.
    RecursiveHalving,
    /// Pass blocks around a ring (p - 1 rounds per phase); bandwidth-optimal.
    Ring,
    /// Reduce-scatter by recursive halving, then allgather by recursive doubling.
    Rabenseifner,
    /// Bruck's log-round algorithm (allgather, alltoall).
    Bruck,
    /// p - 1 rounds of pairwise exchange.
    Pairwise,
    /// A binomial tree rooted at the root.
    Binomial,
    /// Scatter, then ring allgather (large broadcasts).
    ScatterAllgather,
    /// Reduce-scatter, then gather to the root (large reduces).
    ReduceScatterGather,
    /// A chain through the ranks in order (non-commutative scans).
    Linear,
    /// The dissemination barrier.
    Dissemination,
    /// Each block put once in a store and read by the ranks that need it (broadcast,
    /// allgather); needs shared objects.
    SharedPut,
    /// A barrier on a store counter; needs shared objects.
    SharedCounter,
    /// LambdaML's ScatterReduce through a store (allreduce, reduce-scatter); needs shared
    /// objects.
    ScatterReduce,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 14] = [
        Algorithm::RecursiveDoubling,
        Algorithm::RecursiveHalving,
        Algorithm::Ring,
        Algorithm::Rabenseifner,
        Algorithm::Bruck,
        Algorithm::Pairwise,
        Algorithm::Binomial,
        Algorithm::ScatterAllgather,
        Algorithm::ReduceScatterGather,
        Algorithm::Linear,
        Algorithm::Dissemination,
        Algorithm::SharedPut,
        Algorithm::SharedCounter,
        Algorithm::ScatterReduce,
    ];

    /// The name used in `FCCL_ALGO_*`, on the command line and in bench output.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::RecursiveDoubling => "recursive_doubling",
            Algorithm::RecursiveHalving => "recursive_halving",
            Algorithm::Ring => "ring",
            Algorithm::Rabenseifner => "rabenseifner",
            Algorithm::Bruck => "bruck",
            Algorithm::Pairwise => "pairwise",
            Algorithm::Binomial => "binomial",
            Algorithm::ScatterAllgather => "scatter_allgather",
            Algorithm::ReduceScatterGather => "reduce_scatter_gather",
            Algorithm::Linear => "linear",
            Algorithm::Dissemination => "dissemination",
            Algorithm::SharedPut => "shared_put",
            Algorithm::SharedCounter => "shared_counter",
            Algorithm::ScatterReduce => "scatter_reduce",
        }
    }

    /// Whether the algorithm works through shared objects ([`crate::SharedObjects`]), so
    /// that it runs only where the transport's profile says it has them (its `cost` is
    /// `None` elsewhere).
    pub const fn needs_shared_objects(self) -> bool {
        matches!(
            self,
            Algorithm::SharedPut | Algorithm::SharedCounter | Algorithm::ScatterReduce
        )
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    /// Parses a name, ignoring case and `-` versus `_`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let norm = s.to_ascii_lowercase().replace('-', "_");
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == norm)
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                Error::invalid(format!(
                    "unknown algorithm '{s}' (known: {})",
                    names.join(", ")
                ))
            })
    }
}

/// The error an algorithm returns when `run` is handed an algorithm its collective does
/// not offer (the selector never does this).
pub(crate) fn not_offered(collective: crate::Collective, alg: Algorithm) -> Error {
    Error::new(
        crate::ErrorKind::Internal,
        format!("{alg} is not a {collective} algorithm"),
    )
}
