//! Barrier: no rank leaves before every rank has arrived. n = 0.
//!
//! Dissemination takes ⌈lg p⌉ rounds of messages; the shared counter (only where the
//! transport has shared objects) a constant four store requests, which wins for many ranks.

mod dissemination;
mod shared_counter;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;

/// The barrier algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Dissemination, Algorithm::SharedCounter];

/// The estimated time of `alg`, or `None` where it cannot run the call (the shared
/// counter on a transport without shared objects).
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Dissemination => Some(dissemination::cost(input)),
        Algorithm::SharedCounter if input.has_shared_objects() => Some(shared_counter::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends on `p` ranks.
pub fn traffic(alg: Algorithm, p: usize) -> Traffic {
    match alg {
        Algorithm::Dissemination => dissemination::traffic(p),
        Algorithm::SharedCounter => shared_counter::traffic(p),
        _ => Traffic::default(),
    }
}

/// Runs `alg`.
pub async fn run(alg: Algorithm, ctx: &OpCtx<'_>) -> Result<()> {
    match alg {
        Algorithm::Dissemination => dissemination::run(ctx).await,
        Algorithm::SharedCounter => shared_counter::run(ctx).await,
        _ => Err(not_offered(Collective::Barrier, alg)),
    }
}
