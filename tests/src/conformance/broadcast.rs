//! Broadcast from every root. Count = the vector's length.

use fccl_collectives::algorithms::broadcast::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{Value, data, garbage, seed};
use super::{Case, Lane, Params, Suite, by_dtype, lanes, roots};

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut lanes = lanes(s, parent, "broadcast", ALGORITHMS).await;
    for (d, &dtype) in params.dtypes.iter().enumerate() {
        by_dtype!(dtype, cases(s, &mut lanes, params, d));
    }
}

async fn cases<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params, d: usize) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for (k, &count) in params.counts.iter().enumerate() {
        for root in roots(p, Some((d, params.dtypes.len())), k) {
            let seed = seed(&[3, T::DTYPE as u64, count as u64, root as u64]);
            let want = data::<T>(seed, root, count);
            for lane in lanes.iter_mut() {
                let mut case = lane.case(Case::new("broadcast", r, p).typed::<T>(None, count));
                case.root = Some(root);
                if !lane.runs(s, &case, cost, count * size_of::<T>(), true) {
                    continue;
                }
                let mut buf = if r == root {
                    want.clone()
                } else {
                    garbage::<T>(seed, count)
                };
                let b = &mut buf;
                if lane
                    .call(s, &case, async move |c| c.broadcast(b, root).await)
                    .await
                    .is_some()
                {
                    s.compare(&case, "buf", &buf, &want);
                }
            }
        }
    }
}
