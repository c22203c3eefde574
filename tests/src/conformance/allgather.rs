//! Allgather. Count = the block each rank sends; every rank receives `size × count`.

use fccl_collectives::algorithms::allgather::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{Value, data, garbage, seed};
use super::{Case, Lane, Params, Suite, by_dtype, lanes};

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut lanes = lanes(s, parent, "allgather", ALGORITHMS).await;
    for &dtype in &params.dtypes {
        by_dtype!(dtype, cases(s, &mut lanes, params));
    }
}

async fn cases<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for &count in &params.blocks {
        let seed = seed(&[5, T::DTYPE as u64, count as u64]);
        let want: Vec<T> = (0..p).flat_map(|i| data::<T>(seed, i, count)).collect();
        let mine = data::<T>(seed, r, count);
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new("allgather", r, p).typed::<T>(None, count));
            if !lane.runs(s, &case, cost, p * count * size_of::<T>(), true) {
                continue;
            }
            let send = &mine;
            let mut recv = garbage::<T>(seed, p * count);
            let out = &mut recv;
            if lane
                .call(s, &case, async move |c| c.all_gather(send, out).await)
                .await
                .is_some()
            {
                s.compare(&case, "recv", &recv, &want);
            }
        }
    }
}
