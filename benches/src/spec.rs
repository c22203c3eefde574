//! What to run: the collective, the sizes, the type and op, and how often.

use fccl_collectives::{Algorithm, Collective, DataType, ReduceOp};

/// A benchmark: one collective over a list of sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchSpec {
    /// The collective (or `sendrecv` for point-to-point).
    pub collective: Collective,
    /// The sizes in bytes, as the user gave them (the harness rounds each down, see
    /// [`Point::new`]).
    pub sizes: Vec<usize>,
    /// The element type.
    pub dtype: DataType,
    /// The reduction (ignored by collectives that do not reduce).
    pub op: ReduceOp,
    /// Timed iterations per size; `None` picks fewer for larger sizes ([`default_iters`]).
    pub iters: Option<usize>,
    /// Untimed warm-up iterations per size; `None` picks a few ([`default_warmup`]).
    pub warmup: Option<usize>,
    /// Force this algorithm instead of the selector's choice.
    pub algorithm: Option<Algorithm>,
    /// The transport's name, for the output only.
    pub transport: String,
}

impl BenchSpec {
    /// A spec with defaults: f32, sum, default iterations, the selector's algorithm.
    pub fn new(collective: Collective, sizes: Vec<usize>) -> BenchSpec {
        BenchSpec {
            collective,
            sizes,
            dtype: DataType::Float32,
            op: ReduceOp::Sum,
            iters: None,
            warmup: None,
            algorithm: None,
            transport: "local".to_string(),
        }
    }

    /// Timed iterations for a point of `bytes`.
    pub fn iters_for(&self, bytes: usize) -> usize {
        self.iters.unwrap_or_else(|| default_iters(bytes)).max(1)
    }

    /// Warm-up iterations for a point of `bytes`.
    pub fn warmup_for(&self, bytes: usize) -> usize {
        self.warmup.unwrap_or_else(|| default_warmup(bytes))
    }
}

/// 20 iterations up to 1 MiB, then fewer so that each point moves about 32 MiB (at least 3).
pub fn default_iters(bytes: usize) -> usize {
    if bytes <= 1 << 20 {
        20
    } else {
        ((32usize << 20) / bytes).clamp(3, 20)
    }
}

/// 5 warm-up iterations up to 1 MiB, then 1.
pub fn default_warmup(bytes: usize) -> usize {
    if bytes <= 1 << 20 { 5 } else { 1 }
}

/// Whether the collective reduces (and so uses the op).
pub fn reduces(c: Collective) -> bool {
    matches!(
        c,
        Collective::AllReduce
            | Collective::Reduce
            | Collective::ReduceScatter
            | Collective::Scan
            | Collective::ExScan
    )
}

/// Whether the collective's buffer is one block per rank (so its count is a multiple of p).
pub fn blocked(c: Collective) -> bool {
    matches!(
        c,
        Collective::ReduceScatter
            | Collective::AllGather
            | Collective::AllToAll
            | Collective::AllToAllV
            | Collective::Gather
            | Collective::Scatter
    )
}

/// nccl-tests' bus-bandwidth factor: busbw = algbw × factor.
pub fn busbw_factor(c: Collective, p: usize) -> f64 {
    let p = p as f64;
    match c {
        Collective::AllReduce => 2.0 * (p - 1.0) / p,
        c if blocked(c) => (p - 1.0) / p,
        Collective::Barrier => 0.0,
        _ => 1.0,
    }
}

/// One size point: the element count and bytes reported, and the per-rank block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// Elements: the whole vector (`p × block` for blocked collectives, as nccl-tests
    /// counts allgather, reduce-scatter, all-to-all, gather and scatter).
    pub count: usize,
    /// `count × element size`.
    pub bytes: usize,
    /// Elements per rank for blocked collectives; `count` otherwise.
    pub block: usize,
}

impl Point {
    /// The point for a requested size: rounded down to whole elements and, for blocked
    /// collectives, to a multiple of `p` elements. A barrier has no data.
    pub fn new(c: Collective, dtype: DataType, p: usize, size: usize) -> Point {
        if c == Collective::Barrier {
            return Point {
                count: 0,
                bytes: 0,
                block: 0,
            };
        }
        let elems = size / dtype.size();
        let (count, block) = if blocked(c) {
            let block = elems / p;
            (block * p, block)
        } else {
            (elems, elems)
        };
        Point {
            count,
            bytes: count * dtype.size(),
            block,
        }
    }
}

/// The alltoallv count from rank `src` to rank `dst` for a nominal block: half, one or
/// one and a half blocks, varying with the pair.
pub fn alltoallv_count(src: usize, dst: usize, block: usize) -> usize {
    block * (1 + (src + 2 * dst) % 3) / 2
}
