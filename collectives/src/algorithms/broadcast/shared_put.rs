//! Broadcast through a store: put once, read many.
//!
//! The root puts its buffer as one shared object, every other rank gets it, and the last
//! reader to release it removes it. This is how serverless training broadcasts the model
//! through storage: J. Jiang, S. Gan, Y. Liu, F. Wang, G. Alonso, A. Klimovic, A. Singla,
//! W. Wu, C. Zhang, "Towards Demystifying Serverless Machine Learning Training", SIGMOD
//! 2021 (LambdaML), and J. Carreira, P. Fonseca, A. Tumanov, A. Zhang, R. Katz, "Cirrus: a
//! Serverless Framework for End-to-end ML Workflows", SoCC 2019. The root never waits for
//! the readers, and each rank makes one or two requests instead of ⌈lg p⌉ rounds; but every
//! byte passes through the store's server, where the p − 1 reads of one object queue up.
//!
//! Cost (store model, [`CostInput::store_round`]), for p ≥ 2:
//! (α + n·β) + (α + (p − 1)·n·β) + r·α = (2 + r)·α + p·n·β, with r = 1 release round for
//! p = 2 and 2 otherwise; 0 for p = 1.
//!
//! Traffic: 1 put of n bytes, p − 1 gets of n bytes, and the release's requests (1 for
//! p = 2, p + 1 otherwise): p·n bytes in 2·p + 1 requests for p > 2.

use super::super::context::{OpCtx, release_requests};
use super::super::cost::{CostInput, Traffic};
use crate::error::Result;
use crate::types::{Element, Rank};

/// (2 + r)·α + p·n·β (see the module docs); 0 on one rank.
pub(super) fn cost(input: &CostInput) -> f64 {
    if input.ranks <= 1 {
        return 0.0;
    }
    let (p, n) = (input.p(), input.n());
    input.store_round(n) + input.store_round((p - 1.0) * n) + input.store_release(input.ranks - 1)
}

/// One put and p − 1 gets of n bytes, and the release's requests.
pub(super) fn traffic(p: usize, bytes: usize) -> Traffic {
    let mut t = Traffic::default();
    if p <= 1 {
        return t;
    }
    for _ in 0..p {
        t.message(bytes);
    }
    t.requests(release_requests(p - 1));
    t
}

pub(super) async fn run<T: Element>(ctx: &OpCtx<'_>, buf: &mut [T], root: Rank) -> Result<()> {
    let p = ctx.size();
    if p == 1 {
        return Ok(());
    }
    if ctx.rank() == root {
        return ctx.put(0, 0, buf).await;
    }
    ctx.get::<T>(root, 0, 0, buf.len()).await?.copy_to(buf);
    ctx.release(root, 0, 0, p - 1).await
}
