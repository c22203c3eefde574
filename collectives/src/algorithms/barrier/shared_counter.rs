//! Barrier on a store counter.
//!
//! The central-counter barrier (J. M. Mellor-Crummey and M. L. Scott, "Algorithms for
//! scalable synchronization on shared-memory multiprocessors", ACM TOCS 9(1), 1991, §3.1)
//! on a store's atomic counter, as serverless frameworks synchronise through storage
//! (LambdaML, Jiang et al., SIGMOD 2021). Every rank adds 1 to the call's counter and
//! waits until it reaches p (the rank whose add brings it there does not wait). To remove
//! the counter only once nobody needs it any more, every rank then adds 1 again; the rank
//! that brings it to 2·p has seen that all ranks saw p, and removes it. A constant number of
//! rounds, whatever p.
//!
//! Cost (store model): 4·α for p ≥ 2 (add, wait, add, remove); 0 for p = 1.
//!
//! Traffic: p adds, p − 1 waits, p adds and 1 remove: 3·p requests, no payload (none for
//! p = 1).

use super::super::context::OpCtx;
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;

/// 4·α (0 on one rank).
pub(super) fn cost(input: &CostInput) -> f64 {
    if input.ranks <= 1 {
        return 0.0;
    }
    4.0 * input.alpha()
}

/// 3·p requests of no payload (none on one rank).
pub(super) fn traffic(p: usize) -> Traffic {
    let mut t = Traffic::default();
    if p > 1 {
        t.requests(3 * p as u64);
    }
    t
}

pub(super) async fn run(ctx: &OpCtx<'_>) -> Result<()> {
    if ctx.size() == 1 {
        return Ok(());
    }
    let p = i64::try_from(ctx.size()).unwrap_or(i64::MAX);
    if ctx.counter_add(0, 0, 1).await? < p {
        ctx.counter_wait(0, 0, p).await?;
    }
    if ctx.counter_add(0, 0, 1).await? == 2 * p {
        ctx.counter_remove(0, 0).await?;
    }
    Ok(())
}
