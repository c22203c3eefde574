//! What to benchmark.

use fccl_collectives::{Algorithm, Collective, DataType, Error, Rank, ReduceOp, Result};

/// A benchmark: one collective over a list of sizes, with one data type and op.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchSpec {
    /// The collective to measure. [`Collective::Split`] cannot be benchmarked.
    pub collective: Collective,
    /// Requested sizes in bytes; each becomes a [`crate::Shape`]. Ignored for barrier.
    pub sizes: Vec<usize>,
    /// Element type.
    pub dtype: DataType,
    /// Reduction of the reducing collectives; ignored by the others.
    pub op: ReduceOp,
    /// Timed iterations per size (at least 1).
    pub iters: usize,
    /// Untimed iterations before the timed ones.
    pub warmup: usize,
    /// Run this algorithm instead of the selector's choice.
    pub algorithm: Option<Algorithm>,
    /// Root of the rooted collectives (reduce, broadcast, gather, scatter).
    pub root: Rank,
    /// The transport's name for the report; the harness never builds a transport.
    pub transport: String,
    /// Estimate each point's dollars at these rates (`fccl bench --cost aws`).
    pub cost: Option<crate::cost::CostModel>,
    /// For testing the checker: corrupts one element of the last rank's output in the last
    /// iteration, which must then be reported as not correct.
    pub inject_fault: bool,
}

impl BenchSpec {
    /// A spec with nccl-tests' defaults: f32 sum, 20 iterations after 5 warm-up ones,
    /// root 0, the selector's algorithm, transport `local`.
    pub fn new(collective: Collective, sizes: Vec<usize>) -> BenchSpec {
        BenchSpec {
            collective,
            sizes,
            dtype: DataType::Float32,
            op: ReduceOp::Sum,
            iters: 20,
            warmup: 5,
            algorithm: None,
            root: 0,
            transport: "local".to_string(),
            cost: None,
            inject_fault: false,
        }
    }

    /// Whether the collective reduces (and so uses `op`).
    pub fn reduces(&self) -> bool {
        matches!(
            self.collective,
            Collective::AllReduce
                | Collective::Reduce
                | Collective::ReduceScatter
                | Collective::Scan
                | Collective::ExScan
        )
    }

    /// The op's name in reports: the op for reducing collectives, else `none`.
    pub fn op_name(&self) -> &'static str {
        if self.reduces() {
            self.op.name()
        } else {
            "none"
        }
    }

    /// Checks the spec against a communicator of `ranks` ranks.
    pub fn validate(&self, ranks: usize) -> Result<()> {
        if self.collective == Collective::Split {
            return Err(Error::invalid(
                "split is not a collective fccl bench can measure",
            ));
        }
        if self.iters == 0 {
            return Err(Error::invalid(
                "the number of iterations must be at least 1",
            ));
        }
        if self.sizes.is_empty() && self.collective != Collective::Barrier {
            return Err(Error::invalid("no sizes to measure"));
        }
        if self.root >= ranks {
            return Err(Error::invalid(format!(
                "root {} is out of range for {ranks} ranks",
                self.root
            )));
        }
        if self.collective == Collective::SendRecv && self.algorithm.is_some() {
            return Err(Error::invalid(
                "sendrecv is point-to-point and has no algorithms to choose from",
            ));
        }
        Ok(())
    }
}
