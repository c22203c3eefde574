//! Reduce-scatter. Count = the block each rank receives; every rank sends `size × count`.

use fccl_collectives::algorithms::reduce_scatter::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{
    Affine, Builtin, RefOp, Value, WrappingAdd, garbage, reduce_ranks, rows, seed,
};
use super::{Case, Lane, Params, Suite, by_dtype, lanes};

/// Checks every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    let mut lanes = lanes(s, parent, "reduce_scatter", ALGORITHMS).await;
    for &dtype in &params.dtypes {
        by_dtype!(dtype, builtins(s, &mut lanes, params));
    }
    if params.custom {
        cases(s, &mut lanes, params, &Affine).await;
        cases(s, &mut lanes, params, &WrappingAdd).await;
    }
}

async fn builtins<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params) {
    for &op in &params.ops {
        cases::<T, _>(s, lanes, params, &Builtin(op)).await;
    }
}

async fn cases<T: Value, R: RefOp<T>>(s: &mut Suite, lanes: &mut [Lane], params: &Params, rop: &R) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    for &count in &params.blocks {
        let seed = seed(&[4, T::DTYPE as u64, rop.code(), count as u64]);
        let table = s.cache.get(seed, p, || {
            let xs = rows(rop, seed, p, p * count);
            let all = reduce_ranks(rop, &xs, 0, p);
            (xs, all)
        });
        let (xs, all) = &*table;
        let want = &all[r * count..(r + 1) * count];
        for lane in lanes.iter_mut() {
            let case =
                lane.case(Case::new("reduce_scatter", r, p).typed::<T>(Some(rop.name()), count));
            if !lane.runs(
                s,
                &case,
                cost,
                p * count * size_of::<T>(),
                rop.commutative(),
            ) {
                continue;
            }
            let send = &xs[r];
            let mut recv = garbage::<T>(seed, count);
            let out = &mut recv;
            let op = rop.reduction();
            if lane
                .call(s, &case, async move |c| {
                    c.reduce_scatter(send, out, op).await
                })
                .await
                .is_some()
            {
                s.compare(&case, "recv", &recv, want);
            }
        }
    }
}
