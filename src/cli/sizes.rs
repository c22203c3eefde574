//! Parsing `--sizes`: `MIN:MAX` (doubling), a list `8,1K,1M`, or one size.

/// Parses one size: digits with an optional `K`, `M` or `G` (powers of 1024), optionally
/// followed by `B` or `iB` (`64M`, `1KiB`, `4096`).
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 10),
        Some('M') => (&stripped[..stripped.len() - 1], 20),
        Some('G') => (&stripped[..stripped.len() - 1], 30),
        _ => (stripped, 0),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("bad size '{s}' (expected e.g. 8, 4K, 64M or 1G)"))?;
    n.checked_mul(1usize << shift)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

/// Parses `--sizes`: `MIN:MAX` gives MIN, 2 MIN, 4 MIN, ... up to MAX (and MAX itself); a
/// comma-separated list gives those sizes; a single size gives one.
pub(crate) fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    if let Some((lo, hi)) = s.split_once(':') {
        let (lo, hi) = (parse_size(lo)?, parse_size(hi)?);
        if lo == 0 || lo > hi {
            return Err(format!(
                "bad size range '{s}' (need 0 < MIN <= MAX, as in 8:64M)"
            ));
        }
        let mut sizes = Vec::new();
        let mut v = lo;
        while v < hi {
            sizes.push(v);
            v = v.saturating_mul(2);
        }
        sizes.push(hi);
        return Ok(sizes);
    }
    s.split(',').map(parse_size).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8"), Ok(8));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("3MB"), Ok(3 << 20));
        assert!(parse_size("1T").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert_eq!(parse_sizes("8:64"), Ok(vec![8, 16, 32, 64]));
        assert_eq!(parse_sizes("8:100"), Ok(vec![8, 16, 32, 64, 100]));
        assert_eq!(parse_sizes("1K:1K"), Ok(vec![1024]));
        assert_eq!(parse_sizes("8,1K,1M"), Ok(vec![8, 1024, 1 << 20]));
        assert_eq!(parse_sizes("1M"), Ok(vec![1 << 20]));
        assert!(parse_sizes("64:8").is_err());
        assert!(parse_sizes("0:8").is_err());
        assert!(parse_sizes("8,x").is_err());
    }
}
