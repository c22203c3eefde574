//! Message sizes: parsing `--sizes` and turning a size in bytes into a buffer shape.

use fccl_collectives::{Collective, DataType, Error, Result};

/// Parses one size: a number of bytes with an optional binary suffix `K`, `M` or `G`
/// (as nccl-tests' `-b`/`-e`), optionally followed by `B` or `iB`: `8`, `1K`, `64M`, `2GiB`.
pub fn parse_size(s: &str) -> Result<usize> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 10),
        Some('m') => (&body[..body.len() - 1], 20),
        Some('g') => (&body[..body.len() - 1], 30),
        _ => (body, 0),
    };
    let bad = || {
        Error::invalid(format!(
            "bad size '{s}' (expected bytes like 8, 1K, 64M or 1G)"
        ))
    };
    let n: usize = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// Parses a size list: `MIN:MAX` (MIN, 2·MIN, 4·MIN, ... up to MAX, as nccl-tests with
/// `-f 2`), a comma-separated list `8,1K,1M`, or one size.
pub fn parse_sizes(s: &str) -> Result<Vec<usize>> {
    if let Some((lo, hi)) = s.split_once(':') {
        let (lo, hi) = (parse_size(lo)?, parse_size(hi)?);
        if lo > hi {
            return Err(Error::invalid(format!(
                "bad size range '{s}': the minimum is larger than the maximum"
            )));
        }
        let mut sizes = Vec::new();
        let mut size = lo;
        loop {
            sizes.push(size);
            if size == 0 || size > hi / 2 {
                break;
            }
            size *= 2;
        }
        return Ok(sizes);
    }
    s.split(',').map(parse_size).collect()
}

/// Formats a byte count the way [`parse_size`] reads it, in the largest exact unit.
pub fn format_size(bytes: usize) -> String {
    for (shift, unit) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Whether `collective` splits its vector into one block per rank (so counts are rounded
/// down to a multiple of the rank count, as nccl-tests does).
pub fn has_blocks(collective: Collective) -> bool {
    matches!(
        collective,
        Collective::ReduceScatter
            | Collective::AllGather
            | Collective::AllToAll
            | Collective::AllToAllV
            | Collective::Gather
            | Collective::Scatter
    )
}

/// The buffer of one benchmark point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Elements of the vector the size refers to (see [`Shape::bytes`]).
    pub count: usize,
    /// `count` times the element size: as nccl-tests counts it, the per-rank vector of
    /// allreduce, broadcast, reduce, scan and sendrecv; the whole gathered or reduced vector
    /// of allgather, reduce-scatter, gather and scatter; the per-rank send buffer of
    /// all-to-all(v). Zero for barrier.
    pub bytes: usize,
}

impl Shape {
    /// The shape for a requested size: whole elements, and for collectives with a block
    /// per rank a multiple of `ranks` elements.
    pub fn new(collective: Collective, ranks: usize, dtype: DataType, bytes: usize) -> Shape {
        if collective == Collective::Barrier {
            return Shape { count: 0, bytes: 0 };
        }
        let mut count = bytes / dtype.size();
        if has_blocks(collective) {
            count -= count % ranks.max(1);
        }
        Shape {
            count,
            bytes: count * dtype.size(),
        }
    }

    /// Elements per rank's block (`count / ranks`) for collectives with blocks.
    pub fn block(&self, ranks: usize) -> usize {
        self.count / ranks.max(1)
    }
}

/// The distinct shapes for `sizes`, in order; sizes that round to the same count (tiny
/// sizes of blocked collectives) give one shape. Barrier has a single shape.
pub fn shapes(
    collective: Collective,
    ranks: usize,
    dtype: DataType,
    sizes: &[usize],
) -> Vec<Shape> {
    let mut out: Vec<Shape> = Vec::new();
    for &size in sizes {
        let shape = Shape::new(collective, ranks, dtype, size);
        if !out.contains(&shape) {
            out.push(shape);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_like_nccl_tests() {
        assert_eq!(parse_size("8").unwrap(), 8);
        assert_eq!(parse_size("1K").unwrap(), 1024);
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("3KB").unwrap(), 3072);
        assert!(parse_size("").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("-1").is_err());
        assert_eq!(parse_sizes("8:64").unwrap(), vec![8, 16, 32, 64]);
        assert_eq!(parse_sizes("8:100").unwrap(), vec![8, 16, 32, 64]);
        assert_eq!(parse_sizes("1K:1K").unwrap(), vec![1024]);
        assert_eq!(parse_sizes("0:4").unwrap(), vec![0]);
        assert_eq!(parse_sizes("8,1K,1M").unwrap(), vec![8, 1024, 1 << 20]);
        assert_eq!(parse_sizes("4M").unwrap(), vec![4 << 20]);
        assert!(parse_sizes("64:8").is_err());
        assert_eq!(format_size(64 << 20), "64M");
        assert_eq!(format_size(1536), "1536");
    }

    #[test]
    fn shapes_round_to_elements_and_blocks() {
        let f32 = DataType::Float32;
        let s = Shape::new(Collective::AllReduce, 3, f32, 10);
        assert_eq!((s.count, s.bytes), (2, 8));
        let s = Shape::new(Collective::AllGather, 3, f32, 64);
        assert_eq!((s.count, s.bytes, s.block(3)), (15, 60, 5));
        let s = Shape::new(Collective::Barrier, 3, f32, 64);
        assert_eq!((s.count, s.bytes), (0, 0));
        let all = shapes(Collective::AllGather, 8, f32, &[8, 16, 32, 64]);
        assert_eq!(
            all.iter().map(|s| s.count).collect::<Vec<_>>(),
            vec![0, 8, 16]
        );
    }
}
