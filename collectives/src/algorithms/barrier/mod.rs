//! Barrier: no rank leaves before every rank has arrived. n = 0.

mod dissemination;

use super::context::OpCtx;
use super::cost::{CostInput, Traffic};
use super::{Algorithm, not_offered};
use crate::collective::Collective;
use crate::error::Result;

/// The barrier algorithms.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::Dissemination];

/// The estimated time of `alg`, or `None` where it cannot run the call.
pub fn cost(alg: Algorithm, input: &CostInput) -> Option<f64> {
    match alg {
        Algorithm::Dissemination => Some(dissemination::cost(input)),
        _ => None,
    }
}

/// The messages and bytes `alg` sends on `p` ranks.
pub fn traffic(alg: Algorithm, p: usize) -> Traffic {
    match alg {
        Algorithm::Dissemination => dissemination::traffic(p),
        _ => Traffic::default(),
    }
}

/// Runs `alg`.
pub async fn run(alg: Algorithm, ctx: &OpCtx<'_>) -> Result<()> {
    match alg {
        Algorithm::Dissemination => dissemination::run(ctx).await,
        _ => Err(not_offered(Collective::Barrier, alg)),
    }
}
