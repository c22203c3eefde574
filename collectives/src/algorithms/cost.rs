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

    /// Whether the transport has shared objects, which store-native algorithms need.
    pub fn has_shared_objects(&self) -> bool {
        self.profile.shared_objects
    }

    /// One round of store requests that move `bytes` bytes in all, to or from the store.
    ///
    /// The store model of the store-native algorithms: a request costs α plus its bytes·β,
    /// the requests of one round (one rank's, and every rank's) are in flight together, and
    /// every byte passes through the one server, so a round costs α + (all its bytes)·β:
    /// p − 1 ranks reading the same n-byte object cost α + (p − 1)·n·β, not α + n·β.
    pub fn store_round(&self, bytes: f64) -> f64 {
        self.alpha() + bytes * self.beta()
    }

    /// The rounds of releasing an object that `readers` ranks read: none for no reader, one
    /// remove for one, else an add and then the last reader's removes.
    pub fn store_release(&self, readers: usize) -> f64 {
        self.alpha() * f64::from(u8::from(readers >= 1) + u8::from(readers >= 2))
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
/// For a store-native algorithm: requests to the store, and payload bytes moved to and from
/// it (a put's bytes and a get's).
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

    /// Adds `n` store requests that move no payload (adds, waits, removes).
    pub fn requests(&mut self, n: u64) {
        self.messages += n;
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
