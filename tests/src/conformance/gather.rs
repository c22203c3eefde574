//! Gather to every root. Count = the block each rank sends. Ranks other than the root pass
//! no receive buffer (even ranks) or one that must stay untouched (odd ranks).

use fccl_collectives::algorithms::gather::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{Value, data, garbage, seed};
use super::{Case, Lane, Params, Suite, by_dtype, lanes, roots};

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut lanes = lanes(s, parent, "gather", ALGORITHMS).await;
    for (d, &dtype) in params.dtypes.iter().enumerate() {
        by_dtype!(dtype, cases(s, &mut lanes, params, d));
    }
}

async fn cases<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params, d: usize) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for (k, &count) in params.blocks.iter().enumerate() {
        let seed = seed(&[8, T::DTYPE as u64, count as u64]);
        let want: Vec<T> = (0..p).flat_map(|i| data::<T>(seed, i, count)).collect();
        let mine = data::<T>(seed, r, count);
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new("gather", r, p).typed::<T>(None, count));
            if !lane.runs(s, &case, cost, p * count * size_of::<T>(), true) {
                continue;
            }
            for root in roots(p, Some((d, params.dtypes.len())), k) {
                let mut case = case.clone();
                case.root = Some(root);
                let send = &mine;
                let mut recv = garbage::<T>(seed, if r == root { p * count } else { 5 });
                let before = recv.clone();
                let out = (r == root || r % 2 == 1).then_some(&mut recv[..]);
                if lane
                    .call(s, &case, async move |c| c.gather(send, out, root).await)
                    .await
                    .is_some()
                {
                    if r == root {
                        s.compare(&case, "recv at the root", &recv, &want);
                    } else {
                        let what = "recv off the root (must be untouched)";
                        s.compare(&case, what, &recv, &before);
                    }
                }
            }
        }
    }
}
