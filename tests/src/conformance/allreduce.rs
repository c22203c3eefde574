//! Allreduce, in place (`all_reduce`) and out of place (`all_reduce_into`). Count = the
//! vector's length.

use fccl_collectives::algorithms::allreduce::{ALGORITHMS, cost};
use fccl_collectives::{Communicator, DataType};

use super::values::{
    Affine, Builtin, RefOp, Value, WrappingAdd, garbage, reduce_ranks, rows, seed,
};
use super::{Case, Lane, Params, Suite, by_dtype, lanes};

/// Checks both forms on every lane.
pub(super) async fn check(s: &mut Suite, parent: &mut Communicator, params: &Params) {
    for into in [false, true] {
        let coll = if into { "allreduce_into" } else { "allreduce" };
        let mut lanes = lanes(s, parent, coll, ALGORITHMS).await;
        for &dtype in &params.dtypes {
            by_dtype!(dtype, builtins(s, &mut lanes, params, into));
        }
        if params.custom {
            cases(s, &mut lanes, params, into, &Affine).await;
            cases(s, &mut lanes, params, into, &WrappingAdd).await;
        }
    }
}

async fn builtins<T: Value>(s: &mut Suite, lanes: &mut [Lane], params: &Params, into: bool) {
    for &op in &params.ops {
        cases::<T, _>(s, lanes, params, into, &Builtin(op)).await;
    }
}

async fn cases<T: Value, R: RefOp<T>>(
    s: &mut Suite,
    lanes: &mut [Lane],
    params: &Params,
    into: bool,
    rop: &R,
) {
    let Some((r, p)) = lanes.first().map(Lane::rank_size) else {
        return;
    };
    let coll = if into { "allreduce_into" } else { "allreduce" };
    for &count in &params.counts {
        // Both forms use the same inputs, so they share the cached reference.
        let seed = seed(&[1, T::DTYPE as u64, rop.code(), count as u64]);
        let table = s.cache.get(seed, p, || {
            let xs = rows(rop, seed, p, count);
            let want = reduce_ranks(rop, &xs, 0, p);
            (xs, want)
        });
        let (xs, want) = &*table;
        for lane in lanes.iter_mut() {
            let case = lane.case(Case::new(coll, r, p).typed::<T>(Some(rop.name()), count));
            let bytes = count * size_of::<T>();
            if !lane.runs(s, &case, cost, bytes, rop.commutative()) {
                continue;
            }
            let op = rop.reduction();
            if into {
                let send = &xs[r];
                let mut recv = garbage::<T>(seed, count);
                let out = &mut recv;
                if lane
                    .call(s, &case, async move |c| {
                        c.all_reduce_into(send, out, op).await
                    })
                    .await
                    .is_some()
                {
                    s.compare(&case, "recv", &recv, want);
                }
            } else {
                let mut buf = xs[r].clone();
                let b = &mut buf;
                if lane
                    .call(s, &case, async move |c| c.all_reduce(b, op).await)
                    .await
                    .is_some()
                {
                    s.compare(&case, "buf", &buf, want);
                }
            }
        }
    }
}
