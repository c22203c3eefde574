//! Scatter from every root. Count = the block each rank receives. Ranks other than the root
//! pass no send buffer (even ranks) or one that must be ignored (odd ranks).

use fccl_collectives::algorithms::scatter::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{Value, data, garbage, seed};
use super::{Case, Lane, Params, Suite, by_dtype, lanes, roots};

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut lanes = lanes(s, parent, "scatter", ALGORITHMS).await;
    for (d, &dtype) in params.dtypes.iter().enumerate() {
        by_dtype!(dtype, cases(s, &mut lanes, params, d));
    }
}

async fn cases<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params, d: usize) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for (k, &count) in params.blocks.iter().enumerate() {
        for root in roots(p, Some((d, params.dtypes.len())), k) {
            let seed = seed(&[9, T::DTYPE as u64, count as u64, root as u64]);
            let all = data::<T>(seed, root, p * count);
            let want = all[r * count..(r + 1) * count].to_vec();
            // What an odd rank off the root passes: it must be ignored.
            let decoy = garbage::<T>(seed ^ 1, p * count);
            for lane in lanes.iter_mut() {
                let mut case = lane.case(Case::new("scatter", r, p).typed::<T>(None, count));
                case.root = Some(root);
                if !lane.runs(s, &case, cost, p * count * size_of::<T>(), true) {
                    continue;
                }
                let send = if r == root {
                    Some(&all[..])
                } else {
                    (r % 2 == 1).then_some(&decoy[..])
                };
                let mut recv = garbage::<T>(seed, count);
                let out = &mut recv;
                if lane
                    .call(s, &case, async move |c| c.scatter(send, out, root).await)
                    .await
                    .is_some()
                {
                    s.compare(&case, "recv", &recv, &want);
                }
            }
        }
    }
}
