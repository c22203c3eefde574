//! A simulated transport with virtual time (placeholder until the simulator lands).
