//! The simulated network's parameters.

use std::collections::HashMap;
use std::time::Duration;

use crate::types::Rank;

/// The simulated network: link latency and bandwidth (for every link, or per link) and the
/// faults it injects, drawn from a random generator seeded with `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// One-way latency of every link (L).
    pub latency: Duration,
    /// Bytes per second of every link (B).
    pub bandwidth: f64,
    /// Delay each frame by a random extra time, up to its latency plus its transfer time
    /// (at least 1 µs), so frames on one link and across links overtake each other.
    pub reorder: bool,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is never delivered.
    pub drop: f64,
    /// Seed of the random generator behind the faults.
    pub seed: u64,
    /// Latency and bandwidth of particular links `(src, dst)`, overriding the defaults.
    pub links: HashMap<(Rank, Rank), (Duration, f64)>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig::new()
    }
}

impl SimConfig {
    /// A fault-free network of 10 µs, 10 GB/s links.
    pub fn new() -> SimConfig {
        SimConfig {
            latency: Duration::from_micros(10),
            bandwidth: 10e9,
            reorder: false,
            duplicate: 0.0,
            drop: 0.0,
            seed: 0,
            links: HashMap::new(),
        }
    }

    /// Sets the latency of every link.
    pub fn latency(mut self, latency: Duration) -> SimConfig {
        self.latency = latency;
        self
    }

    /// Sets the bandwidth of every link, in bytes per second (positive).
    pub fn bandwidth(mut self, bytes_per_sec: f64) -> SimConfig {
        assert!(bytes_per_sec > 0.0, "bandwidth must be positive");
        self.bandwidth = bytes_per_sec;
        self
    }

    /// Turns random reordering on or off.
    pub fn reorder(mut self, on: bool) -> SimConfig {
        self.reorder = on;
        self
    }

    /// Sets the probability (0 to 1) that a frame is delivered twice.
    pub fn duplicate(mut self, probability: f64) -> SimConfig {
        self.duplicate = probability.clamp(0.0, 1.0);
        self
    }

    /// Sets the probability (0 to 1) that a frame is lost.
    pub fn drop(mut self, probability: f64) -> SimConfig {
        self.drop = probability.clamp(0.0, 1.0);
        self
    }

    /// Seeds the random generator behind the faults.
    pub fn seed(mut self, seed: u64) -> SimConfig {
        self.seed = seed;
        self
    }

    /// Gives the link from `src` to `dst` its own latency and bandwidth.
    pub fn link(
        mut self,
        src: Rank,
        dst: Rank,
        latency: Duration,
        bytes_per_sec: f64,
    ) -> SimConfig {
        assert!(bytes_per_sec > 0.0, "bandwidth must be positive");
        self.links.insert((src, dst), (latency, bytes_per_sec));
        self
    }

    /// Latency and bandwidth of the link from `src` to `dst`.
    pub fn link_params(&self, src: Rank, dst: Rank) -> (Duration, f64) {
        self.links
            .get(&(src, dst))
            .copied()
            .unwrap_or((self.latency, self.bandwidth))
    }
}
