//! The α-β-γ cost model the selector evaluates, and the traffic each algorithm states.
//!
//! α is the time of one message, β the time per byte on a link, γ the time per byte of
//! reduction (Hockney's model as used by Thakur, Rabenseifner and Gropp, "Optimization of
//! Collective Communication Operations in MPICH", IJHPCA 2005). Every algorithm file states
//! its cost in these terms and a `traffic` function with the exact number of messages and
//! payload bytes it sends, which the simulated-transport tests check.

use crate::transport::LinkProfile;

/// Reduction throughput assumed by the model (bytes per second, one core, vectorised).
pub const REDUCE_BYTES_PER_SEC: f64 = 4e9;

/// What the selector knows about a call.
#[derive(Clone, Copy, Debug)]
pub struct CostInput {
    /// Ranks in the communicator (p).
    pub ranks: usize,
    /// Message size in bytes (n), as each collective defines it in its module docs.
    pub bytes: usize,
    /// The transport's link profile.
    pub profile: LinkProfile,
    /// Whether the reduction (if any) is commutative.
    pub commutative: bool,
}

impl CostInput {
    /// α: seconds per message.
    pub fn alpha(&self) -> f64 {
        self.profile.latency.as_secs_f64()
    }

    /// β: seconds per byte sent.
    pub fn beta(&self) -> f64 {
        1.0 / self.profile.bandwidth
    }

    /// γ: seconds per byte reduced.
    pub fn gamma(&self) -> f64 {
        1.0 / REDUCE_BYTES_PER_SEC
    }

    /// p as a float.
    #[allow(clippy::cast_precision_loss)]
    pub fn p(&self) -> f64 {
        self.ranks as f64
    }

    /// n as a float.
    #[allow(clippy::cast_precision_loss)]
    pub fn n(&self) -> f64 {
        self.bytes as f64
    }

    /// ⌈lg p⌉.
    pub fn lg_p(&self) -> f64 {
        f64::from(ceil_log2(self.ranks))
    }

    /// Whether p is a power of two.
    pub fn is_pow2(&self) -> bool {
        self.ranks.is_power_of_two()
    }
}

/// ⌈log2 p⌉ (0 for p ≤ 1).
pub fn ceil_log2(p: usize) -> u32 {
    if p <= 1 {
        0
    } else {
        usize::BITS - (p - 1).leading_zeros()
    }
}

/// The largest power of two not above `p` (p ≥ 1).
pub fn pow2_floor(p: usize) -> usize {
    1 << (usize::BITS - 1 - p.leading_zeros())
}

/// Messages and payload bytes sent by all ranks together during one call (headers excluded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages sent.
    pub messages: u64,
    /// Payload bytes sent.
    pub bytes: u64,
}

impl Traffic {
    /// Adds one message of `bytes` payload bytes.
    pub fn message(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }
}

impl std::ops::Add for Traffic {
    type Output = Traffic;
    fn add(self, o: Traffic) -> Traffic {
        Traffic {
            messages: self.messages + o.messages,
            bytes: self.bytes + o.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs() {
        let lg: Vec<u32> = [1, 2, 3, 4, 5, 8, 9]
            .iter()
            .map(|&p| ceil_log2(p))
            .collect();
        assert_eq!(lg, [0, 1, 2, 2, 3, 3, 4]);
        let f: Vec<usize> = [1, 2, 3, 7, 8, 9].iter().map(|&p| pow2_floor(p)).collect();
        assert_eq!(f, [1, 2, 2, 4, 8, 8]);
    }
}
