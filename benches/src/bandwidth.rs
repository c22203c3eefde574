//! Algorithm and bus bandwidth, as nccl-tests defines them.
//!
//! The algorithm bandwidth is the point's bytes over the time. The bus bandwidth scales it by
//! the fraction of the data that must cross links in an optimal algorithm, so that it can be
//! compared with the hardware's peak whatever the rank count (nccl-tests' PERFORMANCE.md).

use fccl_collectives::Collective;

/// The factor from algorithm to bus bandwidth for `collective` on `ranks` ranks; `None` for
/// barrier, which moves no data.
pub fn bus_factor(collective: Collective, ranks: usize) -> Option<f64> {
    let n = ranks.max(1) as f64;
    let factor = match collective {
        Collective::Barrier => return None,
        Collective::AllReduce => 2.0 * (n - 1.0) / n,
        Collective::ReduceScatter
        | Collective::AllGather
        | Collective::AllToAll
        | Collective::AllToAllV
        | Collective::Gather
        | Collective::Scatter => (n - 1.0) / n,
        Collective::Broadcast
        | Collective::Reduce
        | Collective::Scan
        | Collective::ExScan
        | Collective::SendRecv
        | Collective::Split => 1.0,
    };
    Some(factor)
}

/// Bytes per microsecond in GB/s (10^9 bytes per second); 0 for a zero time.
pub fn gbps(bytes: usize, time_us: f64) -> f64 {
    if time_us > 0.0 {
        bytes as f64 / time_us / 1e3
    } else {
        0.0
    }
}

/// `(algbw, busbw)` in GB/s for `bytes` moved by `collective` in `time_us`; `None` for
/// barrier.
pub fn bandwidths(
    collective: Collective,
    ranks: usize,
    bytes: usize,
    time_us: f64,
) -> (Option<f64>, Option<f64>) {
    match bus_factor(collective, ranks) {
        None => (None, None),
        Some(factor) => {
            let alg = gbps(bytes, time_us);
            (Some(alg), Some(alg * factor))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_follow_nccl_tests() {
        assert_eq!(bus_factor(Collective::AllReduce, 4), Some(1.5));
        assert_eq!(bus_factor(Collective::AllGather, 4), Some(0.75));
        assert_eq!(bus_factor(Collective::ReduceScatter, 8), Some(0.875));
        assert_eq!(bus_factor(Collective::AllToAll, 2), Some(0.5));
        assert_eq!(bus_factor(Collective::Broadcast, 8), Some(1.0));
        assert_eq!(bus_factor(Collective::Reduce, 8), Some(1.0));
        assert_eq!(bus_factor(Collective::Barrier, 8), None);
        assert_eq!(bus_factor(Collective::AllReduce, 1), Some(0.0));
    }

    #[test]
    fn bandwidth_is_bytes_over_time() {
        // 1 MB in 1000 us is 1 GB/s.
        assert_eq!(gbps(1_000_000, 1000.0), 1.0);
        assert_eq!(gbps(10, 0.0), 0.0);
        let (alg, bus) = bandwidths(Collective::AllReduce, 4, 2_000_000, 1000.0);
        assert_eq!((alg, bus), (Some(2.0), Some(3.0)));
    }
}
